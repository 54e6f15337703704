"""Property test of the ingest path: random valid statements extend the chain; random
corruptions of them never cause a 5xx, always name a known error code, and change nothing."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import errors as backend_errors
from protocol import errors as protocol_errors
from tests.backend import support
from tests.backend.conftest import Fleet


def _error_codes() -> set[str]:
    """Every code an error class declares: ProtocolError's whole subclass tree (wherever in
    protocol/ a class lives) and the backend's API errors."""
    codes: set[str] = set()
    todo: list[type] = [protocol_errors.ProtocolError, backend_errors.ApiError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)  # type: ignore[attr-defined]
        todo.extend(cls.__subclasses__())
    return codes


KNOWN_CODES = _error_codes()
DAY = 86400
CORRUPTIONS = ("none", "flip", "truncate", "append", "insert", "total", "seq", "prev_hash")


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_statements_and_corruptions(fleet: Fleet, data: st.DataObject) -> None:
    env = fleet.env
    head = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}/chain", headers=env.op).json()
    start = head["last_period_end"] or support.NOV_2026
    prices = tuple(data.draw(st.lists(st.integers(0, 2**32 - 1), max_size=4), label="prices"))
    corruption = data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    seq = head["next_seq"] + (data.draw(st.sampled_from([-1, 1, 2])) if corruption == "seq" else 0)
    prev = bytes.fromhex(head["prev_hash"])
    if corruption == "prev_hash":
        prev = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != prev))
    built = support.build_statement(
        fleet.signer,
        fleet.obu_id,
        seq=max(seq, 0),
        prev_hash=prev,
        period=(start, start + DAY),
        prices=prices,
        policy_ids=[support.POLICY_ID] if prices else [],
        total_delta=data.draw(st.integers(1, 2**20)) if corruption == "total" else 0,
        seed=data.draw(st.binary(max_size=8), label="seed"),
    )
    blob = bytearray(built.envelope)
    # Positions are drawn independently of the envelope's length (which depends on the
    # database's chain head): hypothesis requires the same draws to have the same bounds
    # whenever it replays a prefix, else it reports FlakyStrategyDefinition.
    position = data.draw(st.integers(0, 2**20), label="position")
    if corruption == "flip":
        blob[position % len(blob)] ^= 1 << data.draw(st.integers(0, 7))
    elif corruption == "truncate":
        del blob[position % len(blob) :]
    elif corruption == "append":
        blob += data.draw(st.binary(min_size=1, max_size=8))
    elif corruption == "insert":
        i = position % (len(blob) + 1)
        blob[i:i] = data.draw(st.binary(min_size=1, max_size=4))

    before = env.snapshot()
    r = env.submit(bytes(blob))
    assert r.status_code < 500, r.text
    if corruption == "none":
        assert r.status_code == 201, r.text
        after = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}/chain", headers=env.op).json()
        assert after["next_seq"] == head["next_seq"] + 1
        assert after["prev_hash"] == built.hash.hex()
    elif r.status_code >= 400:
        body = json.loads(r.content)
        assert body["error"] in KNOWN_CODES, body
        assert env.snapshot() == before
    else:
        # A "corruption" that happened to leave a valid, chain-extending statement (for
        # example a seq of head+0 via max()). It must then be a real acceptance.
        assert r.status_code == 201

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

KNOWN_CODES = {
    cls.code
    for mod in (protocol_errors, backend_errors)
    for cls in vars(mod).values()
    if isinstance(cls, type) and hasattr(cls, "code")
}
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
    if corruption == "flip":
        i = data.draw(st.integers(0, len(blob) - 1), label="flip at")
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif corruption == "truncate":
        del blob[data.draw(st.integers(0, len(blob) - 1), label="cut at") :]
    elif corruption == "append":
        blob += data.draw(st.binary(min_size=1, max_size=8))
    elif corruption == "insert":
        i = data.draw(st.integers(0, len(blob)), label="insert at")
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

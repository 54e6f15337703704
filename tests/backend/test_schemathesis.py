"""Schema-driven fuzzing of the whole OpenAPI surface: generated requests, valid and invalid
against the schema, must never produce a 5xx. Each operation runs with a token of a role it
admits (operator by default; auditor, driver or DPO for the spot-check, dispute and log
endpoints) so requests get past authentication, and once without, for the auth layer. The
OBU endpoints need signed requests, which a schema cannot produce: a second property test
signs random and mutated bodies for them. Bounded: a few examples per operation and
generation mode, derandomized so CI runs are reproducible."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from backend import errors as backend_errors
from protocol import cbor
from protocol import errors as protocol_errors
from tests.backend import spotcheck as sc
from tests.backend.conftest import Fleet

EXAMPLES = 6

# COSE bodies are opaque bytes to the schema: fuzz them like application/octet-stream.
schemathesis.serializer.alias("application/cose", "application/octet-stream")
schemathesis.serializer.alias("application/cbor", "application/octet-stream")


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    calls = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without parameters or body.
        assert mode is GenerationMode.NEGATIVE
    return calls


def role_for(method: str, path: str) -> str:
    """A role the operation admits, so fuzzed requests reach its validation and logic."""
    if path == "/api/v1/disputes" and method == "POST":
        return "alice"
    if path == "/api/v1/log/mine":
        return "alice"
    if path.startswith("/api/v1/log/"):
        return "dpo"
    if path == "/api/v1/jobs/purge":
        return "operator"
    for prefix in (
        "/api/v1/sightings",
        "/api/v1/challenges",
        "/api/v1/audits",
        "/api/v1/jobs",
        "/api/v1/disputes",
    ):
        if path.startswith(prefix):
            return "auditor"
    return "operator"


def test_openapi_fuzz_finds_no_server_errors(fleet: Fleet) -> None:
    env = fleet.env
    # Some state for the spot-check endpoints to work on: a statement, an answered
    # challenge, an open dispute.
    p = sc.submitted(fleet)
    t, lat, lon = sc.on_trace(p, 1)
    sc.sighting(env, t, lat, lon)
    [ch] = sc.poll(env, fleet.signer)
    sc.answer(env, fleet.signer, p.sign(p.opening(ch, empty=True)))
    env.client.post(
        "/api/v1/disputes",
        json={"statement_hash": p.hash.hex(), "reason": "x", "consent_to_open_period": True},
        headers=env.auth("alice"),
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app)
    results = list(schema.get_all_operations())
    operations = [r.ok() for r in results if isinstance(r, Ok)]
    assert len(operations) == len(results), "the OpenAPI schema has invalid operations"
    assert len(operations) >= 50
    calls = 0
    for operation in operations:
        headers = env.auth(role_for(operation.method.upper(), operation.path))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _fuzz(operation, mode, headers)
        calls += _fuzz(operation, GenerationMode.POSITIVE, {})
    assert calls > 3 * len(operations)


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


KNOWN_CODES = _error_codes() | {"validation_error"}


def _mutated(data: st.DataObject, blob: bytes) -> bytes:
    b = bytearray(blob)
    how = data.draw(st.sampled_from(["flip", "truncate", "append", "none"]))
    if how == "flip" and b:
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= 1 << data.draw(st.integers(0, 7))
    elif how == "truncate" and b:
        del b[data.draw(st.integers(0, len(b) - 1)) :]
    elif how == "append":
        b += data.draw(st.binary(min_size=1, max_size=8))
    return bytes(b)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_obu_endpoints_survive_random_signed_bodies(fleet: Fleet, data: st.DataObject) -> None:
    env = fleet.env
    state = _obu_world(fleet)
    p, ch, did = state["period"], state["challenge"], state["dispute"]
    target = data.draw(st.sampled_from(["opening", "dispute", "poll"]))
    valid = p.sign(p.opening(ch)) if target == "opening" else p.sign(p.opening(did, 0))
    body = data.draw(
        st.one_of(
            st.binary(max_size=64),
            st.just(valid).map(lambda b: _mutated(data, b)),
            st.lists(st.binary(max_size=16), max_size=3).map(cbor.encode),
        )
    )
    if target == "opening":
        r = sc.answer(env, fleet.signer, body)
    elif target == "dispute":
        wrapped = data.draw(st.booleans())
        r = sc.obu_request(
            env,
            fleet.signer,
            "POST",
            f"/api/v1/obu/disputes/{did.hex()}/openings",
            cbor.encode([body]) if wrapped else body,
            "application/cbor",
        )
    else:
        path = data.draw(st.sampled_from(["/api/v1/obu/challenges", "/api/v1/obu/disputes"]))
        r = sc.obu_request(env, fleet.signer, "GET", path)
        assert r.status_code == 200
        return
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["error"] in KNOWN_CODES, r.text


_WORLDS: dict[int, dict[str, Any]] = {}


def _obu_world(fleet: Fleet) -> dict[str, Any]:
    """One statement, one open sighting challenge and one open dispute, built once per
    fleet (hypothesis reuses the function-scoped fixture across examples)."""
    key = id(fleet)
    if key not in _WORLDS:
        env = fleet.env
        p = sc.submitted(fleet)
        t, lat, lon = sc.on_trace(p, 1)
        sc.sighting(env, t, lat, lon)
        [ch] = sc.poll(env, fleet.signer)
        r = env.client.post(
            "/api/v1/disputes",
            json={"statement_hash": p.hash.hex(), "reason": "x", "consent_to_open_period": True},
            headers=env.auth("alice"),
        )
        _WORLDS.clear()
        _WORLDS[key] = {
            "period": p,
            "challenge": ch,
            "dispute": bytes.fromhex(r.json()["dispute_id"]),
        }
    return _WORLDS[key]

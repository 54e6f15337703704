"""Signed OBU requests: signature, binding to method/path/body, freshness, replay."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY

from backend.services.signed_request import HEADER, SignedRequest
from protocol import cose, labels
from tests.backend import support
from tests.backend.conftest import Fleet

PATH = "/api/v1/obu/chain"


def call(fleet: Fleet, headers: dict[str, str], path: str = PATH) -> tuple[int, dict[str, object]]:
    r = fleet.env.client.get(path, headers=headers)
    return r.status_code, r.json()


def header(fleet: Fleet, signer: object = None, **kw: object) -> dict[str, str]:
    args: dict[str, object] = {
        "method": "GET",
        "path": PATH,
        "body": b"",
        "timestamp": fleet.env.clock.now,
        "nonce": os.urandom(16),
    }
    args.update(kw)
    return support.signed_header(signer or fleet.signer, **args)  # type: ignore[arg-type]


def test_signed_request_returns_the_chain_head(fleet: Fleet) -> None:
    s0 = support.build_statement(fleet.signer, fleet.obu_id)
    fleet.env.submit(s0.envelope)
    status, body = call(fleet, header(fleet))
    assert status == 200
    assert body == {
        "obu_id": fleet.obu_id,
        "next_seq": 1,
        "prev_hash": s0.hash.hex(),
        "last_period_end": support.DEC_2026,
    }


def test_replayed_request_is_refused(fleet: Fleet) -> None:
    h = header(fleet)
    assert call(fleet, h)[0] == 200
    status, body = call(fleet, h)
    assert (status, body["error"]) == (401, "replayed_request")
    sample = REGISTRY.get_sample_value(
        "quietmile_signed_request_failures_total", {"reason": "replayed_request"}
    )
    assert sample is not None and sample >= 1


def test_timestamps_outside_the_window_are_refused(fleet: Fleet) -> None:
    window = fleet.env.app.state.quietmile.settings.request_window_s
    now = fleet.env.clock.now
    for ts in (now - window - 1, now + window + 1):
        status, body = call(fleet, header(fleet, timestamp=ts))
        assert (status, body["error"]) == (401, "request_expired")
    for ts in (now - window, now + window):
        assert call(fleet, header(fleet, timestamp=ts))[0] == 200


def test_request_is_bound_to_method_path_and_body(fleet: Fleet) -> None:
    for kw in (
        {"path": "/api/v1/obu/other"},
        {"method": "POST"},
        {"body": b"x"},
        {"path": PATH + "?a=1"},
    ):
        status, body = call(fleet, header(fleet, **kw))
        assert (status, body["error"]) == (401, "request_mismatch"), kw
    # The query string is part of the signed path.
    assert call(fleet, header(fleet, path=PATH + "?a=1"), path=PATH + "?a=1")[0] == 200


def test_unknown_revoked_and_malformed_signers(fleet: Fleet) -> None:
    env = fleet.env
    status, body = call(fleet, header(fleet, signer=support.obu_signer("stranger")))
    assert (status, body["error"]) == (401, "unknown_key_id")
    status, body = call(fleet, {})
    assert (status, body["error"]) == (401, "unauthenticated")
    status, body = call(fleet, {HEADER: "!!not base64!!"})
    assert (status, body["error"]) == (400, "invalid_message")
    status, body = call(fleet, {HEADER: "AAAA"})
    assert status == 400
    # A statement envelope is not a request, even from the right key.
    stmt = support.build_statement(fleet.signer, fleet.obu_id).envelope
    import base64

    status, body = call(fleet, {HEADER: base64.urlsafe_b64encode(stmt).decode()})
    assert (status, body["error"]) == (400, "invalid_message")
    # Flipped signature bit.
    req = SignedRequest("GET", PATH, support.sha256(b""), env.clock.now, os.urandom(16))
    raw = bytearray(cose.sign1(req.encode(), fleet.signer, labels.CTY_REQUEST))
    raw[-1] ^= 1
    status, body = call(fleet, {HEADER: base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")})
    assert (status, body["error"]) == (401, "invalid_signature")
    env.client.post(f"/api/v1/obus/{fleet.obu_id}/revoke", json={"reason": "lost"}, headers=env.op)
    status, body = call(fleet, header(fleet))
    assert (status, body["error"]) == (403, "key_revoked")


def test_nonces_expire_after_the_window(fleet: Fleet) -> None:
    from sqlalchemy import func, select

    from backend.db.models import RequestNonce

    env = fleet.env
    for _ in range(3):
        assert call(fleet, header(fleet))[0] == 200
    env.clock.now += 2 * env.app.state.quietmile.settings.request_window_s + 1
    assert call(fleet, header(fleet))[0] == 200
    with env.app.state.quietmile.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RequestNonce)) == 1

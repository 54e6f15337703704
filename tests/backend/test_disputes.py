"""Disputes end to end: the driver consents to open a period, the OBU uploads every segment,
the auditor re-verifies all of them and the sum, and resolves; each step is logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.db.models import LogEntry
from backend.services.disputes import CTY_DISPUTE_REQUEST
from protocol import cbor, cose
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Env, Fleet


def dispute(env: Env, who: str = "alice", **body: Any) -> Any:
    body.setdefault("reason", "I was abroad that week")
    body.setdefault("consent_to_open_period", True)
    return env.client.post("/api/v1/disputes", json=body, headers=env.auth(who))


def requests_for(fleet: Fleet) -> list[dict[int, Any]]:
    """The signed dispute requests the OBU sees, verified under the authority key."""
    env = fleet.env
    r = sc.obu_request(env, fleet.signer, "GET", "/api/v1/obu/disputes")
    assert r.status_code == 200 and r.headers["content-type"] == "application/cbor"
    out = []
    for raw in cbor.decode(r.content):
        s1 = cose.verify_sign1(
            raw,
            lambda kid: env.authority.public_key() if kid == env.authority.kid else None,
            CTY_DISPUTE_REQUEST,
        )
        out.append(cbor.decode(s1.payload))
    return out


def upload(fleet: Fleet, dispute_id: str, envelopes_: list[bytes], signer: Any = None) -> Any:
    return sc.obu_request(
        fleet.env,
        signer or fleet.signer,
        "POST",
        f"/api/v1/obu/disputes/{dispute_id}/openings",
        cbor.encode(envelopes_),
        "application/cbor",
    )


def openings(p: sc.Period, dispute_id: str, indices: range | list[int]) -> list[bytes]:
    did = bytes.fromhex(dispute_id)
    return [p.sign(p.opening(did, i)) for i in indices]


def log_kinds(env: Env) -> list[str]:
    with env.app.state.quietmile.session_factory() as s:
        return list(s.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))


def test_dispute_end_to_end(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    r = dispute(env, statement_hash=p.hash.hex())
    assert r.status_code == 201, r.text
    d = r.json()
    did = d["dispute_id"]
    assert (d["status"], d["segment_count"], d["openings_received"]) == ("open", 3, 0)
    assert d["consent_at"] == env.clock.now
    [req] = requests_for(fleet)
    assert req == {
        1: bytes.fromhex(did),
        2: fleet.obu_id,
        3: 0,
        4: 3,
        5: env.clock.now,
    }
    # Two batches; the second repeats one segment byte for byte (a resend): harmless.
    r = upload(fleet, did, openings(p, did, [0, 1]))
    assert r.status_code == 200, r.text
    assert r.json() | {"dispute_id": ""} == {
        "dispute_id": "",
        "received": 2,
        "repeated": 0,
        "failed": 0,
        "openings_received": 2,
        "segment_count": 3,
        "complete": False,
    }
    r = upload(fleet, did, openings(p, did, [1, 2]))
    assert (r.json()["received"], r.json()["repeated"], r.json()["complete"]) == (1, 1, True)
    assert requests_for(fleet) == []  # nothing more to upload
    r = env.client.post(f"/api/v1/disputes/{did}/verify", headers=env.auth("auditor"))
    assert r.status_code == 200, r.text
    report = r.json()["report"]
    assert report["all_verified"] and report["sum_matches"]
    assert report["opened_total_micro"] == p.statement.total_price_micro
    assert (report["failure_count"], report["missing_count"]) == (0, 0)
    r = env.client.post(
        f"/api/v1/disputes/{did}/resolve",
        json={"resolution": "rejected", "reasons": "every segment verifies; the bill stands"},
        headers=env.auth("auditor"),
    )
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["resolution"] == "rejected"
    assert log_kinds(env) == [
        "dispute_opened",
        "dispute_openings_received",
        "dispute_openings_received",
        "opened_data_accessed",
        "dispute_verified",
        "dispute_resolved",
    ]
    # The driver sees the outcome; after resolution the period cannot be reopened by uploads.
    mine = env.client.get(f"/api/v1/disputes/{did}", headers=env.auth("alice")).json()
    assert mine["resolution"] == "rejected" and mine["report"]["all_verified"]
    r = upload(fleet, did, openings(p, did, [0]))
    assert (r.status_code, r.json()["error"]) == (409, "dispute_closed")
    r = env.client.post(f"/api/v1/disputes/{did}/verify", headers=env.auth("auditor"))
    assert (r.status_code, r.json()["error"]) == (409, "dispute_closed")


def test_dispute_verification_finds_what_does_not_hold(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet, cheats=sc.Cheats(price={2: 5}))
    did = dispute(env, statement_hash=p.hash.hex()).json()["dispute_id"]
    r = upload(fleet, did, openings(p, did, [0, 2]))
    assert r.json()["failed"] == 1  # stored as evidence, reported at once
    report = env.client.post(f"/api/v1/disputes/{did}/verify", headers=env.auth("auditor")).json()[
        "report"
    ]
    assert report["missing"] == [1] and report["missing_count"] == 1
    assert report["failures"] == [{"index": 2, "reason": "price_mismatch"}]
    assert not report["sum_matches"] and not report["all_verified"]


def test_upholding_a_dispute_about_a_failed_challenge_overturns_it(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    t, lat, lon = sc.on_trace(p, 1)
    sc.sighting(env, t, lat, lon)
    [ch] = sc.poll(env, fleet.signer)
    sc.answer(env, fleet.signer, p.sign(p.opening(ch, empty=True)))  # fails: no_segment
    cid = ch.challenge_id.hex()
    r = dispute(env, challenge_id=cid, reason="the camera misread my plate")
    assert r.status_code == 201, r.text
    did = r.json()["dispute_id"]
    assert r.json()["challenge_id"] == cid
    upload(fleet, did, openings(p, did, range(3)))
    env.client.post(f"/api/v1/disputes/{did}/verify", headers=env.auth("auditor"))
    r = env.client.post(
        f"/api/v1/disputes/{did}/resolve",
        json={"resolution": "upheld", "reasons": "the period verifies; plate misread"},
        headers=env.auth("auditor"),
    )
    assert r.json()["resolution"] == "upheld"
    view = sc.challenge(env, cid, "alice")
    assert (view["outcome"], view["reason"], view["initial_reason"]) == (
        "pass",
        "dispute_upheld",
        "no_segment",
    )
    entry = env.client.get(
        f"/api/v1/log/entries?start={len(log_kinds(env)) - 1}&end={len(log_kinds(env))}",
        headers=env.auth("dpo"),
    ).json()[0]
    assert entry["kind"] == "dispute_resolved"
    assert entry["details"]["challenge_overturned"] is True


def test_dispute_access_by_role(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    h = p.hash.hex()
    for who, status in (("bob", 404), ("auditor", 403), ("operator", 403), ("dpo", 403)):
        r = dispute(env, who, statement_hash=h)
        assert r.status_code == status, (who, r.text)
    did = dispute(env, statement_hash=h).json()["dispute_id"]
    for who, status in (("alice", 200), ("auditor", 200), ("bob", 404), ("dpo", 403)):
        r = env.client.get(f"/api/v1/disputes/{did}", headers=env.auth(who))
        assert r.status_code == status, who
    assert len(env.client.get("/api/v1/disputes", headers=env.auth("alice")).json()) == 1
    assert env.client.get("/api/v1/disputes", headers=env.auth("bob")).json() == []
    for action in ("verify", "resolve"):
        for who in ("alice", "operator", "dpo"):
            r = env.client.post(
                f"/api/v1/disputes/{did}/{action}",
                json={"resolution": "upheld", "reasons": "x"},
                headers=env.auth(who),
            )
            assert r.status_code == 403, (action, who)


def test_dispute_requests_are_validated(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    h = p.hash.hex()
    before = env.snapshot()
    for body in (
        {"statement_hash": h, "consent_to_open_period": False},
        {"statement_hash": h, "consent_to_open_period": None},
        {"statement_hash": h, "challenge_id": "00" * 16},
        {},
        {"statement_hash": "x" * 64},
    ):
        r = dispute(env, **body)
        assert r.status_code == 422, (body, r.text)
    r = env.client.post(
        "/api/v1/disputes", json={"statement_hash": h, "reason": "x"}, headers=env.auth("alice")
    )
    assert r.status_code == 422  # no consent: no dispute
    assert dispute(env, statement_hash="ab" * 32).status_code == 404
    assert dispute(env, challenge_id="ab" * 16).status_code == 404
    assert env.snapshot() == before
    assert dispute(env, statement_hash=h).status_code == 201
    r = dispute(env, statement_hash=h)
    assert (r.status_code, r.json()["error"]) == (409, "dispute_exists")


def test_uploads_that_do_not_belong_to_the_dispute_are_refused(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    did = dispute(env, statement_hash=p.hash.hex()).json()["dispute_id"]
    good = openings(p, did, [0])
    upload(fleet, did, good)
    before = env.snapshot()
    # Names another challenge id, opens nothing, or names another statement.
    cases = [
        [p.sign(p.opening(b"\x01" * 16, 1))],
        [p.sign(p.opening(bytes.fromhex(did), empty=True))],
        [p.sign(p.opening(bytes.fromhex(did), 1, seq=7))],
        [*openings(p, did, [1]), b"\xa0"],  # all or nothing: one bad envelope refuses all
    ]
    for batch in cases:
        r = upload(fleet, did, batch)
        assert r.status_code in (400, 422), r.text
    # Different contents for an uploaded segment.
    r = upload(fleet, did, [p.sign(p.opening(bytes.fromhex(did), 0, blind=7))])
    assert (r.status_code, r.json()["error"]) == (409, "duplicate_segment")
    # Another OBU: alice's dispute does not exist for it, whatever it sends.
    other = support.obu_signer("bob-unit")
    vid = env.vehicle("BOB-1", driver="bob")
    env.obu("OBU-bob", vid, other)
    r = upload(fleet, did, openings(p, did, [1]), signer=other)
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = upload(
        fleet,
        did,
        [p.sign(p.opening(bytes.fromhex(did), 1, obu_id="OBU-bob"), other)],
        signer=other,
    )
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    # Not CBOR / wrong media type / empty.
    path = f"/api/v1/obu/disputes/{did}/openings"
    r = sc.obu_request(env, fleet.signer, "POST", path, b"\xff", "application/cbor")
    assert r.status_code == 400
    r = sc.obu_request(env, fleet.signer, "POST", path, cbor.encode(good), "application/cose")
    assert r.status_code == 415
    r = sc.obu_request(env, fleet.signer, "POST", path, cbor.encode([]), "application/cbor")
    assert r.status_code == 400
    assert env.snapshot() | {"request_nonces": [], "obus": [], "vehicles": []} == before | {
        "request_nonces": [],
        "obus": [],
        "vehicles": [],
    }

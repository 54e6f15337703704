"""Sightings → challenges → openings: every outcome, every way an answer can be wrong, who
may read the opened record, and that the camera's position never reaches the OBU."""

from __future__ import annotations

import os
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from backend.db.models import Challenge, LogEntry, OpenedSegment, Sighting
from backend.services.tolerance import ToleranceModel, check_sighting
from protocol import cbor, cose, envelopes, labels, messages
from protocol.errors import NotOnTrace
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Env, Fleet


def metric(name: str, **labels_: str) -> float:
    return REGISTRY.get_sample_value(name, labels_) or 0.0


def log_kinds(env: Env) -> list[str]:
    with env.app.state.quietmile.session_factory() as s:
        return list(s.scalars(select(LogEntry.kind).order_by(LogEntry.idx)))


def challenged(fleet: Fleet, p: sc.Period, index: int = 1, **kw: Any) -> messages.Challenge:
    """Post a sighting on segment ``index``'s trace; return the challenge the OBU receives."""
    t, lat, lon = sc.on_trace(p, index)
    r = sc.sighting(fleet.env, t, lat + 30, lon - 20, **kw)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "challenged"
    [ch] = sc.poll(fleet.env, fleet.signer)
    assert ch.challenge_id.hex() == r.json()["challenge_id"]
    return ch


def judged(fleet: Fleet, envelope: bytes, status: int = 201) -> dict[str, Any]:
    r = sc.answer(fleet.env, fleet.signer, envelope)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


# --- the honest path -------------------------------------------------------------------------


def test_honest_opening_of_a_sighting_passes(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    passed_before = metric("quietmile_challenge_outcomes_total", outcome="pass")
    ch = challenged(fleet, p)
    assert ch.kind == messages.CHALLENGE_SIGHTING
    assert ch.obu_id == fleet.obu_id and ch.statement_seq == 0
    assert ch.deadline == env.clock.now + env.app.state.quietmile.settings.challenge_deadline_s
    out = judged(fleet, p.sign(p.opening(ch)))
    assert out == {"challenge_id": ch.challenge_id.hex(), "outcome": "pass", "reason": None}
    view = sc.challenge(env, ch.challenge_id.hex())
    assert view["outcome"] == "pass" and view["answered"] and view["opened_record_available"]
    assert view["closed_at"] == env.clock.now
    assert sc.poll(env, fleet.signer) == []  # answered: no longer handed out
    assert metric("quietmile_challenge_outcomes_total", outcome="pass") == passed_before + 1
    assert log_kinds(env) == ["challenge_issued", "opening_received"]


def test_sighting_before_its_statement_waits_for_the_job(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.build_period(fleet.signer, fleet.obu_id)
    t, lat, lon = sc.on_trace(p, 0)
    r = sc.sighting(env, t, lat, lon)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert r.json()["challenge_id"] is None
    sid = r.json()["id"]
    job = env.client.post("/api/v1/jobs/process-sightings", headers=env.auth("auditor"))
    assert job.json() == {"challenged": 0, "unanswerable": 0, "pending": 1}
    assert env.submit(p.envelope).status_code == 201
    job = env.client.post("/api/v1/jobs/process-sightings", headers=env.auth("auditor"))
    assert job.json() == {"challenged": 1, "unanswerable": 0, "pending": 0}
    view = env.client.get(f"/api/v1/sightings/{sid}", headers=env.auth("auditor")).json()
    assert view["status"] == "challenged"
    [ch] = sc.poll(env, fleet.signer)
    assert ch.at_time == t
    assert judged(fleet, p.sign(p.opening(ch)))["outcome"] == "pass"


def test_the_camera_position_never_reaches_the_obu(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    t, lat, lon = sc.on_trace(p, 1)
    sc.sighting(env, t, lat + 1234, lon - 4321)
    r = sc.obu_request(env, fleet.signer, "GET", "/api/v1/obu/challenges")
    [raw] = cbor.decode(r.content)
    payload = cbor.decode(cose.decode_sign1(raw).payload)
    assert set(payload) == {1, 2, 3, 4, 5, 7}  # no position field exists
    for v in (lat + 1234, lon - 4321):
        assert cbor.encode(v) not in r.content
    view = env.client.get("/api/v1/sightings/1", headers=env.auth("auditor")).json()
    assert set(view) == {"id", "status", "seen_at", "created_at", "challenge_id"}


def test_noisy_gnss_and_camera_within_the_tolerance_pass(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    # 25 m off the trace with a 5 m camera: within k·σ (model defaults).
    t, lat, lon = sc.on_trace(p, 2)
    r = sc.sighting(fleet.env, t + 3, lat + 150, lon + 250, accuracy_mm=5000)
    assert r.json()["status"] == "challenged"
    [ch] = sc.poll(fleet.env, fleet.signer)
    assert judged(fleet, p.sign(p.opening(ch)))["outcome"] == "pass"


def test_unknown_plate_and_future_sightings_are_refused_and_store_nothing(fleet: Fleet) -> None:
    env = fleet.env
    sc.submitted(fleet)
    before = env.snapshot()
    r = sc.sighting(env, support.NOV_2026 + 10, 508400000, 43400000, plate="NOBODY-1")
    assert (r.status_code, r.json()["error"]) == (422, "unknown_plate")
    r = sc.sighting(env, env.clock.now + 3600, 508400000, 43400000)
    assert (r.status_code, r.json()["error"]) == (422, "sighting_in_future")
    r = sc.sighting(env, support.NOV_2026, 950000000, 43400000)
    assert r.status_code == 422
    assert env.snapshot() == before


def test_a_sighting_of_a_revoked_units_statement_is_unanswerable(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    env.client.post(
        f"/api/v1/obus/{fleet.obu_id}/revoke", json={"reason": "stolen"}, headers=env.op
    )
    t, lat, lon = sc.on_trace(p, 0)
    r = sc.sighting(env, t, lat, lon)
    assert r.json()["status"] == "unanswerable" and r.json()["challenge_id"] is None


# --- wrong answers ---------------------------------------------------------------------------


def test_opening_another_segment_fails_with_challenge_mismatch(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    out = judged(fleet, p.sign(p.opening(ch, index=0)))
    assert (out["outcome"], out["reason"]) == ("fail", "challenge_mismatch")


def test_an_altered_record_fails_with_opening_mismatch(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    honest = p.segments[1].record
    altered = sc.with_fields(honest, dist_m=honest.dist_m - 100)
    out = judged(fleet, p.sign(p.opening(ch, record=altered)))
    assert (out["outcome"], out["reason"]) == ("fail", "opening_mismatch")
    # One challenge takes one answer: the honest opening now comes too late.
    r = sc.answer(fleet.env, fleet.signer, p.sign(p.opening(ch)))
    assert (r.status_code, r.json()["error"]) == (409, "challenge_closed")


def test_a_wrong_blinding_factor_fails_with_opening_mismatch(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    out = judged(fleet, p.sign(p.opening(ch, blind=12345)))
    assert (out["outcome"], out["reason"]) == ("fail", "opening_mismatch")


def test_an_under_priced_record_fails_with_price_mismatch(fleet: Fleet) -> None:
    p = sc.submitted(fleet, cheats=sc.Cheats(price={1: 1000}))
    ch = challenged(fleet, p, 1)
    before = metric("quietmile_opening_failures_total", reason="price_mismatch")
    out = judged(fleet, p.sign(p.opening(ch)))
    assert (out["outcome"], out["reason"]) == ("fail", "price_mismatch")
    assert metric("quietmile_opening_failures_total", reason="price_mismatch") == before + 1


def test_a_fake_trace_off_the_camera_fails_with_not_on_trace(fleet: Fleet) -> None:
    env = fleet.env
    # The car drove into the congestion zone; the unit claims a parallel route 0.01° (~700 m)
    # further west that never leaves the cheaper city zone, consistently priced.
    true_trip = sc.TRIPS[0]
    claimed = [(t, lat, lon - 100000) for t, lat, lon in true_trip]
    p = sc.submitted(fleet, trips=[claimed, sc.TRIPS[1]])
    assert all(s.record.zone_id != 2 for s in p.segments)
    t, lat, lon = true_trip[40]
    r = sc.sighting(env, t, lat, lon)
    assert r.json()["status"] == "challenged"
    [ch] = sc.poll(env, fleet.signer)
    out = judged(fleet, p.sign(p.opening(ch)))
    assert (out["outcome"], out["reason"]) == ("fail", "not_on_trace")
    assert sc.challenge(env, ch.challenge_id.hex())["explainable"] is False


def test_an_empty_opening_fails_unless_an_explanation_is_accepted(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    out = judged(fleet, p.sign(p.opening(ch, empty=True)))
    assert (out["outcome"], out["reason"]) == ("fail", "no_segment")
    cid = ch.challenge_id.hex()
    assert sc.challenge(env, cid)["explainable"] is True
    path = f"/api/v1/challenges/{cid}/explanation"
    r = env.client.post(path, json={"accepted": False, "note": "no"}, headers=env.auth("alice"))
    assert r.status_code == 403
    r = env.client.post(
        path, json={"accepted": False, "note": "no evidence"}, headers=env.auth("auditor")
    )
    assert r.status_code == 200 and r.json()["outcome"] == "fail"
    r = env.client.post(
        path, json={"accepted": True, "note": "unit repair record"}, headers=env.auth("auditor")
    )
    view = r.json()
    assert (view["outcome"], view["reason"], view["initial_reason"]) == (
        "pass",
        "explanation_accepted",
        "no_segment",
    )
    r = env.client.post(path, json={"accepted": True, "note": "again"}, headers=env.auth("auditor"))
    assert (r.status_code, r.json()["error"]) == (409, "not_explainable")
    assert log_kinds(env)[-2:] == ["explanation_judged", "explanation_judged"]


def test_a_committed_gap_event_at_the_sighting_fails_as_explainable(fleet: Fleet) -> None:
    env = fleet.env
    t0 = sc.TRIPS[1][-1][0] + 3600
    gap = sc.gap_event(t0, t0 + 1800, (508500000, 43500000), (508700000, 43900000))
    p = sc.submitted(fleet, extra_records=[gap])
    r = sc.sighting(env, t0 + 900, 508600000, 43700000)
    assert r.json()["status"] == "challenged"
    [ch] = sc.poll(env, fleet.signer)
    assert p.covering(ch.at_time) == 3
    out = judged(fleet, p.sign(p.opening(ch)))
    assert (out["outcome"], out["reason"]) == ("fail", "gap_event")
    assert sc.challenge(env, ch.challenge_id.hex())["explainable"] is True


def test_no_answer_by_the_deadline(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 0)
    env.clock.now = ch.deadline + 1
    assert sc.poll(env, fleet.signer) == []  # past its deadline: not handed out
    r = sc.answer(env, fleet.signer, p.sign(p.opening(ch)))
    assert (r.status_code, r.json()["error"]) == (409, "challenge_expired")
    assert sc.challenge(env, ch.challenge_id.hex())["outcome"] == "open"
    before = metric("quietmile_challenge_outcomes_total", outcome="no_answer")
    job = env.client.post("/api/v1/jobs/expire-challenges", headers=env.auth("auditor"))
    assert job.json() == {"expired": 1}
    view = sc.challenge(env, ch.challenge_id.hex())
    assert (view["outcome"], view["reason"], view["answered"]) == ("no_answer", "no_answer", False)
    assert metric("quietmile_challenge_outcomes_total", outcome="no_answer") == before + 1
    r = sc.answer(env, fleet.signer, p.sign(p.opening(ch)))
    assert (r.status_code, r.json()["error"]) == (409, "challenge_expired")
    assert log_kinds(env)[-1] == "challenge_expired"


# --- replays and impostors -------------------------------------------------------------------


def test_a_replayed_opening_changes_nothing(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    first = p.sign(p.opening(ch))
    assert judged(fleet, first)["outcome"] == "pass"
    # The same envelope again (the unit lost our answer): the stored verdict, 200.
    assert judged(fleet, first, status=200)["outcome"] == "pass"
    # A new challenge on the same segment: replaying the old opening does not answer it.
    ch2 = challenged(fleet, p, 1)
    assert judged(fleet, first, status=200)["challenge_id"] == ch.challenge_id.hex()
    assert [c.challenge_id for c in sc.poll(env, fleet.signer)] == [ch2.challenge_id]
    # Nor does re-signing the old answer with the new id but another segment.
    out = judged(fleet, p.sign(p.opening(ch2, index=0)))
    assert (out["outcome"], out["reason"]) == ("fail", "challenge_mismatch")
    # A replayed HTTP request (the same signed header) is refused before anything else.
    body = p.sign(p.opening(ch2))
    headers = support.signed_header(
        fleet.signer, "POST", "/api/v1/obu/openings", body, env.clock.now, os.urandom(16)
    )
    headers["content-type"] = "application/cose"
    r = env.client.post("/api/v1/obu/openings", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (409, "challenge_closed")
    r = env.client.post("/api/v1/obu/openings", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (401, "replayed_request")


def test_an_opening_from_another_obu_is_refused_and_changes_nothing(env: Env) -> None:
    env.publish_policy()
    units = {}
    for who in ("alice", "bob"):
        vid = env.vehicle(f"{who.upper()}-1", driver=who)
        signer = support.obu_signer(who)
        env.obu(f"OBU-{who}", vid, signer)
        p = sc.build_period(signer, f"OBU-{who}")
        assert env.submit(p.envelope).status_code == 201
        units[who] = (signer, p)
    a_signer, a_period = units["alice"]
    b_signer, b_period = units["bob"]
    t, lat, lon = sc.on_trace(a_period, 1)
    sc.sighting(env, t, lat, lon, plate="ALICE-1")
    [ch] = sc.poll(env, a_signer)
    assert sc.poll(env, b_signer) == []
    before = env.snapshot()
    # Bob's unit answers alice's challenge in alice's name: its key is not OBU-alice's.
    r = sc.answer(env, b_signer, b_period.sign(a_period.opening(ch), b_signer))
    assert (r.status_code, r.json()["error"]) == (403, "obu_mismatch")
    # ... in its own name: alice's challenge does not exist for bob's unit.
    r = sc.answer(env, b_signer, b_period.sign(a_period.opening(ch, obu_id="OBU-bob")))
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    # ... relaying alice's own signed opening under bob's signed request.
    r = sc.answer(env, b_signer, a_period.sign(a_period.opening(ch)))
    assert (r.status_code, r.json()["error"]) == (403, "obu_mismatch")
    # An unregistered key.
    stranger = support.obu_signer("stranger")
    r = sc.answer(env, stranger, a_period.sign(a_period.opening(ch), stranger))
    assert (r.status_code, r.json()["error"]) == (401, "unknown_key_id")
    assert env.snapshot() | {"request_nonces": []} == before | {"request_nonces": []}
    assert [c.challenge_id for c in sc.poll(env, a_signer)] == [ch.challenge_id]


def test_malformed_opening_uploads_are_refused(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    good = p.sign(p.opening(ch))
    r = sc.obu_request(env, fleet.signer, "POST", "/api/v1/obu/openings", good, "text/plain")
    assert (r.status_code, r.json()["error"]) == (415, "unsupported_media_type")
    r = sc.answer(env, fleet.signer, b"\xa0garbage")
    assert r.status_code == 400
    # A statement envelope is not an opening, even from the right key.
    r = sc.answer(env, fleet.signer, p.envelope)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_message")
    # An opening whose record carries a price >= 2^32 cannot even be decoded.
    m = p.opening(ch).to_map()
    m[5][9] = 2**32
    r = sc.answer(env, fleet.signer, cose.sign1(cbor.encode(m), fleet.signer, labels.CTY_OPENING))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_message")
    r = env.client.post(
        "/api/v1/obu/openings", content=good, headers={"content-type": "application/cose"}
    )
    assert r.status_code == 401
    big = sc.obu_request(
        env, fleet.signer, "POST", "/api/v1/obu/openings", b"\x00" * 70000, "application/cose"
    )
    assert (big.status_code, big.json()["error"]) == (413, "too_large")
    assert sc.challenge(env, ch.challenge_id.hex())["outcome"] == "open"
    assert judged(fleet, good)["outcome"] == "pass"


# --- the opened record -----------------------------------------------------------------------


def test_opened_record_access_is_logged_before_it_is_returned(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    judged(fleet, p.sign(p.opening(ch)))
    cid = ch.challenge_id.hex()
    factory = env.app.state.quietmile.session_factory
    sealer = env.app.state.quietmile.checks.sealer
    seen: list[list[str]] = []
    real_open = sealer.open

    def spying_open(sealed: bytes, aad: bytes) -> bytes:
        with factory() as s:  # another connection: sees only committed rows
            seen.append(list(s.scalars(select(LogEntry.kind).order_by(LogEntry.idx))))
        return real_open(sealed, aad)

    object.__setattr__(sealer, "open", spying_open)
    try:
        r = env.client.get(f"/api/v1/challenges/{cid}/opening", headers=env.auth("auditor"))
    finally:
        object.__delattr__(sealer, "open")
    assert r.status_code == 200, r.text
    assert seen == [["challenge_issued", "opening_received", "opened_data_accessed"]]
    rec = r.json()["record"]
    honest = p.segments[1].record
    assert rec["trace"] == [list(pt) for pt in honest.trace]
    assert rec["price_micro"] == honest.price_micro
    entry = env.client.get("/api/v1/log/entries?start=2&end=3", headers=env.auth("dpo")).json()[0]
    assert entry["kind"] == "opened_data_accessed" and entry["actor_role"] == "auditor"
    assert entry["details"] == {"challenge_id": cid, "purpose": "review"}


def test_opened_record_is_not_returned_when_the_log_cannot_be_written(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.services import challenges as svc

    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    judged(fleet, p.sign(p.opening(ch)))

    def broken(*_a: object, **_k: object) -> int:
        raise RuntimeError("log storage unavailable")

    monkeypatch.setattr(svc.tlog, "append", broken)
    client = env.client.__class__(env.app, raise_server_exceptions=False)
    r = client.get(
        f"/api/v1/challenges/{ch.challenge_id.hex()}/opening", headers=env.auth("auditor")
    )
    assert r.status_code == 500
    assert str(p.segments[1].record.trace[0][1]) not in r.text


def test_who_may_read_an_opened_record(env: Env) -> None:
    env.publish_policy()
    vid = env.vehicle("ALICE-1", driver="alice")
    signer = support.obu_signer("alice")
    env.obu("OBU-alice", vid, signer)
    p = sc.build_period(signer, "OBU-alice")
    env.submit(p.envelope)
    t, lat, lon = sc.on_trace(p, 0)
    sc.sighting(env, t, lat, lon, plate="ALICE-1")
    [ch] = sc.poll(env, signer)
    sc.answer(env, signer, p.sign(p.opening(ch)))
    cid = ch.challenge_id.hex()
    expected = {
        "auditor": 200,
        "alice": 200,  # her own data
        "bob": 404,  # someone else's: indistinguishable from nothing
        "dpo": 403,  # transparency log and aggregates only
        "operator": 403,
        "anonymous": 401,
    }
    for who, status in expected.items():
        for path in (f"/api/v1/challenges/{cid}", f"/api/v1/challenges/{cid}/opening"):
            r = env.client.get(path, headers=env.auth(who))
            assert r.status_code == status, (who, path, r.text)
    with env.app.state.quietmile.session_factory() as s:
        accesses = s.scalars(select(LogEntry).where(LogEntry.kind == "opened_data_accessed"))
        # One per read of the opening (the auditor's and alice's). Reading the challenge
        # itself is no access to opened data, and refused callers leave no entry.
        assert len(accesses.all()) == 2


def test_the_opened_record_is_stored_sealed(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 1)
    judged(fleet, p.sign(p.opening(ch)))
    record_bytes = p.segments[1].record.encode()
    with env.app.state.quietmile.session_factory() as s:
        row = s.scalars(select(OpenedSegment)).one()
        assert row.sealed is not None and record_bytes not in row.sealed
    dump = repr(env.snapshot()).encode()
    # No trace coordinate of the opened segment appears anywhere in the database.
    for _dt, lat, lon in p.segments[1].record.trace:
        assert str(lat).encode() not in dump and str(lon).encode() not in dump


def test_challenge_lists_are_scoped(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    challenged(fleet, p, 1)
    assert len(env.client.get("/api/v1/challenges", headers=env.auth("auditor")).json()) == 1
    assert len(env.client.get("/api/v1/challenges", headers=env.auth("alice")).json()) == 1
    assert env.client.get("/api/v1/challenges", headers=env.auth("bob")).json() == []
    assert env.client.get("/api/v1/challenges", headers=env.auth("dpo")).status_code == 403
    r = env.client.get("/api/v1/challenges?outcome=pass", headers=env.auth("auditor"))
    assert r.json() == []


# --- the tolerance model (pure) ----------------------------------------------------------------


def _record(trace: list[tuple[int, int, int]], t0: int = 1_000_000) -> messages.SegmentRecord:
    return messages.SegmentRecord(
        0, t0, t0 + trace[-1][0], 1, 0, 1, 1000, 1, 1, bytes(16), 0, trace
    )


def test_tolerance_covers_a_bend_between_sparse_samples() -> None:
    model = ToleranceModel(gnss_sigma_mm=5000, multipath_mm=0)
    # A right-angle turn: 10 s samples at the two ends of an L of 2 × 90 m. At the corner
    # the car is ~64 m from the chord, more than the measurement term alone (30.6 m).
    lat_90m = 8090  # ~90 m north
    lon_90m = 12790  # ~90 m east at 51°N
    rec = _record([(0, 510000000, 40000000), (10, 510000000 + lat_90m, 40000000 + lon_90m)])
    corner = (510000000 + lat_90m, 40000000)
    assert check_sighting(rec, rec.t_start + 5, *corner, 1000, model) > model.measurement_mm(1000)
    # The same corner without the path term is an accusation: the term is what saves it.
    strict = ToleranceModel(gnss_sigma_mm=5000, multipath_mm=0, path_speed_mm_per_s=0)
    with pytest.raises(NotOnTrace):
        check_sighting(rec, rec.t_start + 5, *corner, 1000, strict)


def test_tolerance_is_capped_for_sparsely_sampled_traces() -> None:
    model = ToleranceModel()
    # Two samples 15 minutes apart: the ellipse would be kilometres wide; the cap holds.
    rec = _record([(0, 510000000, 40000000), (900, 510000000, 40100000)])
    off = (510000000 + 45000, 40050000)  # ~500 m north of the chord's middle
    with pytest.raises(NotOnTrace):
        check_sighting(rec, rec.t_start + 450, *off, 1000, model)
    assert model.path_slack_mm(0, (0, 0, 0), (900, 0, 1)) == model.path_slack_max_mm


def test_tolerance_allows_camera_clock_skew() -> None:
    model = ToleranceModel(path_speed_mm_per_s=0, clock_skew_s=2, multipath_mm=0)
    # Straight drive at 30 m/s, samples every second; the camera's clock is 2 s late.
    trace = [(i, 510000000 + 2700 * i, 40000000) for i in range(20)]
    rec = _record(trace)
    t_true = rec.t_start + 10
    lat, lon = trace[10][1], trace[10][2]
    assert check_sighting(rec, t_true + 2, lat, lon, 1000, model) == 0
    with pytest.raises(NotOnTrace):
        check_sighting(rec, t_true + 5, lat, lon, 1000, model)


# An honest unit with a poor antenna, from the simulator's long run (seed 2032, vehicle 43,
# trip com-2032/43/20533-0, camera F006, accuracy 1.5 m): the receiver's fixes around the
# sighting, one per second, in an 81 m multipath excursion while the car passed 2 m from the
# camera. The 25 m-floor model of the first campaign accused it (not_on_trace).
_EXCURSION = [
    (0, 509992693, 49963247), (1, 509992241, 49967091), (2, 509985306, 49971920),
    (3, 509986628, 49973179), (4, 509985085, 49973255), (5, 509983129, 49972975),
    (6, 509982463, 49974921), (7, 509982716, 49973875), (8, 509981147, 49973215),
    (9, 509981622, 49973695), (10, 509984723, 49963941), (11, 509983476, 49966239),
    (12, 509983667, 49963616),
]  # fmt: skip
_CAMERA_F006 = (509988738, 49964649)


def test_a_multipath_excursion_at_the_camera_is_not_an_accusation() -> None:
    rec = _record(_EXCURSION)
    at = rec.t_start + 6
    d = check_sighting(rec, at, *_CAMERA_F006, 1500, ToleranceModel())
    assert 60_000 < d < ToleranceModel().multipath_mm  # ~73 m at the best instant of ±2 s
    # Without the multipath term (the first campaign's model) the honest unit is accused.
    old = ToleranceModel(gnss_sigma_mm=5000, multipath_mm=0)
    with pytest.raises(NotOnTrace):
        check_sighting(rec, at, *_CAMERA_F006, 1500, old)


def test_envelopes_verify_as_authority_challenges(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    ch = challenged(fleet, p, 0)
    with fleet.env.app.state.quietmile.session_factory() as s:
        row = s.scalars(select(Challenge)).one()
        stored = row.envelope
        assert s.scalars(select(Sighting)).one().status == "challenged"
    again, kid = envelopes.open_message(
        stored, messages.Challenge, sc._authority(fleet.env), labels.CTY_CHALLENGE
    )
    assert again == ch and kid == fleet.env.authority.kid

"""Random-index audits (kind 1): requested by an auditor or scheduled at a rate; they catch
forged, under-priced and negative-price segments that no camera saw."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select

from backend.db.models import Challenge
from backend.services import audits
from protocol import messages
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Env, Fleet


def audit(env: Env, hashes: list[bytes], n: int = 1, who: str = "auditor") -> Any:
    return env.client.post(
        "/api/v1/audits",
        json={"statement_hashes": [h.hex() for h in hashes], "segments_per_statement": n},
        headers=env.auth(who),
    )


def answer_all(fleet: Fleet, p: sc.Period) -> dict[int, dict[str, Any]]:
    """The OBU answers every open challenge honestly from what it committed; by index."""
    out = {}
    for ch in sc.poll(fleet.env, fleet.signer):
        assert ch.kind == messages.CHALLENGE_INDEX and ch.at_time is None
        r = sc.answer(fleet.env, fleet.signer, p.sign(p.opening(ch)))
        assert r.status_code == 201, r.text
        out[ch.segment_index] = r.json()
    return out


def test_random_index_audit_of_an_honest_statement_passes(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    r = audit(fleet.env, [p.hash], n=2)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["statements"] == 1 and body["skipped"] == []
    indices = sorted(c["segment_index"] for c in body["challenges"])
    assert len(set(indices)) == 2 and all(0 <= i < 3 for i in indices)
    assert all(c["kind"] == "index" and c["origin"] == "audit" for c in body["challenges"])
    results = answer_all(fleet, p)
    assert sorted(results) == indices
    assert all(v["outcome"] == "pass" for v in results.values())


def test_audit_catches_a_forged_segment(fleet: Fleet) -> None:
    # Segment 2's record claims zone 0 (cheapest) while its trace lies in the city: the
    # unit priced it as zone 0 and committed to that record.
    def forged(rec: messages.SegmentRecord) -> messages.SegmentRecord:
        rate = support.POLICY.rate(0, rec.band_id, 1)
        from protocol import tariff

        return sc.with_fields(
            rec, zone_id=0, rate_micro_per_km=rate, price_micro=tariff.price_micro(rec.dist_m, rate)
        )

    p = sc.submitted(fleet, cheats=sc.Cheats(record={2: forged}))
    audit(fleet.env, [p.hash], n=3)  # every segment
    results = answer_all(fleet, p)
    assert [results[i]["outcome"] for i in (0, 1)] == ["pass", "pass"]
    assert (results[2]["outcome"], results[2]["reason"]) == ("fail", "cell_mismatch")


def test_audit_catches_an_under_priced_segment(fleet: Fleet) -> None:
    p = sc.submitted(fleet, cheats=sc.Cheats(price={0: 1}))
    audit(fleet.env, [p.hash], n=3)
    results = answer_all(fleet, p)
    assert (results[0]["outcome"], results[0]["reason"]) == ("fail", "price_mismatch")


def test_a_negative_price_segment_passes_ingest_but_cannot_be_opened(fleet: Fleet) -> None:
    env = fleet.env
    x = 200_000
    honest = sc.build_period(fleet.signer, fleet.obu_id)
    p = sc.submitted(fleet, cheats=sc.Cheats(negative={1: x}))
    # The homomorphic sum holds: the total is smaller by the segment's price and by x.
    honest_total = honest.statement.total_price_micro
    assert p.statement.total_price_micro == honest_total - p.segments[1].record.price_micro - x
    audit(env, [p.hash], n=3)
    by_index = {c.segment_index: c for c in sc.poll(env, fleet.signer)}
    # The best the unit can do is open it with the record's price: it does not match ℓ − x.
    r = sc.answer(env, fleet.signer, p.sign(p.opening(by_index[1])))
    assert (r.json()["outcome"], r.json()["reason"]) == ("fail", "opening_mismatch")
    for i in (0, 2):
        ok = sc.answer(env, fleet.signer, p.sign(p.opening(by_index[i])))
        assert ok.json()["outcome"] == "pass"


def test_an_empty_answer_to_an_index_challenge_fails_and_is_not_explainable(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    audit(env, [p.hash])
    [ch] = sc.poll(env, fleet.signer)
    r = sc.answer(env, fleet.signer, p.sign(p.opening(ch, empty=True)))
    assert (r.json()["outcome"], r.json()["reason"]) == ("fail", "no_segment")
    cid = ch.challenge_id.hex()
    assert sc.challenge(env, cid)["explainable"] is False
    r = env.client.post(
        f"/api/v1/challenges/{cid}/explanation",
        json={"accepted": True, "note": "x"},
        headers=env.auth("auditor"),
    )
    assert (r.status_code, r.json()["error"]) == (409, "not_explainable")


def test_an_index_beyond_the_statement_is_a_mismatch(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    audit(env, [p.hash])
    [ch] = sc.poll(env, fleet.signer)
    other = (ch.segment_index + 1) % 3
    r = sc.answer(env, fleet.signer, p.sign(p.opening(ch, index=other)))
    assert (r.json()["outcome"], r.json()["reason"]) == ("fail", "challenge_mismatch")


def test_audit_request_is_all_or_nothing_and_skips_what_cannot_be_audited(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    empty = sc.build_period(
        fleet.signer,
        fleet.obu_id,
        trips=[],
        seq=1,
        prev_hash=p.hash,
        period=(support.DEC_2026, support.JAN_2027),
    )
    assert env.submit(empty.envelope).status_code == 201
    before = env.snapshot()
    r = audit(env, [p.hash, bytes(32)])
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert env.snapshot() == before
    r = audit(env, [p.hash, empty.hash, p.hash], n=16)
    body = r.json()
    assert body["statements"] == 2
    assert len(body["challenges"]) == 3  # capped at the statement's 3 segments
    assert body["skipped"] == [{"statement_hash": empty.hash.hex(), "reason": "no_segments"}]


def test_only_auditors_request_audits(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    for who, status in (("operator", 403), ("dpo", 403), ("alice", 403), ("anonymous", 401)):
        assert audit(env, [p.hash], who=who).status_code == status
    bad_bodies: list[dict[str, Any]] = [{"statement_hashes": []}, {"statement_hashes": ["zz"]}]
    for bad in [*bad_bodies, {"x": 1}]:
        r = env.client.post("/api/v1/audits", json=bad, headers=env.auth("auditor"))
        assert r.status_code == 422


def _count(env: Env) -> int:
    with env.app.state.quietmile.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(Challenge)) or 0)


def test_scheduled_audits_consider_each_statement_once_at_the_rate(fleet: Fleet) -> None:
    env = fleet.env
    state = env.app.state.quietmile
    p = sc.submitted(fleet)
    everything = replace(
        state.checks,
        settings=state.settings.model_copy(
            update={"audit_rate_permille": 1000, "audit_segments_per_statement": 2}
        ),
    )
    with state.session_factory() as s:
        first = audits.run_scheduled(s, everything, env.clock.now, rng=random.Random(1))
    assert (first.considered, len(first.challenges)) == (1, 2)
    with state.session_factory() as s:
        again = audits.run_scheduled(s, everything, env.clock.now, rng=random.Random(2))
    assert (again.considered, len(again.challenges)) == (0, 0)  # already considered
    assert {c.origin for c in first.challenges} == {"scheduled"}
    p2 = sc.build_period(
        fleet.signer,
        fleet.obu_id,
        seq=1,
        prev_hash=p.hash,
        period=(support.DEC_2026, support.JAN_2027),
        trips=[[(t + 30 * 86400, lat, lon) for t, lat, lon in sc.TRIPS[1]]],
    )
    assert env.submit(p2.envelope).status_code == 201
    never = replace(
        state.checks, settings=state.settings.model_copy(update={"audit_rate_permille": 0})
    )
    with state.session_factory() as s:
        skipped = audits.run_scheduled(s, never, env.clock.now, rng=random.Random(3))
    assert (skipped.considered, len(skipped.challenges)) == (1, 0)
    assert _count(env) == 2
    # The job over HTTP uses the configured rate (default 1 %): nothing new to consider.
    r = env.client.post("/api/v1/jobs/scheduled-audits", headers=env.auth("auditor"))
    assert r.json() == {"statements_considered": 0, "challenges": 0}
    results = answer_all(fleet, p)
    assert all(v["outcome"] == "pass" for v in results.values())

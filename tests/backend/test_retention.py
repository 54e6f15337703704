"""Retention with a fake clock: opened records and sightings go after their windows, the
verdicts stay, open challenges and open disputes keep what they need, and every purge is in
the transparency log. Also the CLI command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from backend.db.models import Challenge, OpenedSegment, Sighting
from protocol import cbor
from tests.backend import spotcheck as sc
from tests.backend.conftest import Database, Env, Fleet, make_env, make_fleet

DAY = 86400


def purge(env: Env) -> dict[str, Any]:
    r = env.client.post("/api/v1/jobs/purge", headers=env.op)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def counts(env: Env) -> tuple[int, int]:
    with env.app.state.quietmile.session_factory() as s:
        sealed = s.scalar(
            select(func.count()).select_from(OpenedSegment).where(OpenedSegment.sealed.is_not(None))
        )
        sightings = s.scalar(select(func.count()).select_from(Sighting))
    return int(sealed or 0), int(sightings or 0)


def answered_challenge(fleet: Fleet, p: sc.Period, index: int) -> str:
    t, lat, lon = sc.on_trace(p, index)
    sc.sighting(fleet.env, t, lat, lon)
    [ch] = sc.poll(fleet.env, fleet.signer)
    assert sc.answer(fleet.env, fleet.signer, p.sign(p.opening(ch))).status_code == 201
    return ch.challenge_id.hex()


def test_opened_records_and_sightings_are_purged_after_their_windows(fleet: Fleet) -> None:
    env = fleet.env
    settings = env.app.state.quietmile.settings
    p = sc.submitted(fleet)
    cid = answered_challenge(fleet, p, 1)
    start = env.clock.now
    assert counts(env) == (1, 1)
    # Just inside both windows: nothing goes.
    env.clock.now = start + settings.sighting_retention_s - 1
    assert purge(env) == {"opened_records": 0, "sightings": 0}
    # The sighting window (30 days) ends first.
    env.clock.now = start + settings.sighting_retention_s
    assert purge(env) == {"opened_records": 0, "sightings": 1}
    assert counts(env) == (1, 0)
    view = sc.challenge(env, cid)
    assert view["outcome"] == "pass" and view["opened_record_available"]
    # Then the opened record (90 days): gone, the verdict stays.
    env.clock.now = start + settings.opened_record_retention_s
    assert purge(env) == {"opened_records": 1, "sightings": 0}
    assert counts(env) == (0, 0)
    view = sc.challenge(env, cid)
    assert (view["outcome"], view["answered"], view["opened_record_available"]) == (
        "pass",
        True,
        False,
    )
    r = env.client.get(f"/api/v1/challenges/{cid}/opening", headers=env.auth("auditor"))
    assert (r.status_code, r.json()["error"]) == (410, "opened_record_purged")
    assert purge(env) == {"opened_records": 0, "sightings": 0}
    # Logged: alice sees her record's purge; the DPO sees both summaries.
    mine = env.client.get("/api/v1/log/mine", headers=env.auth("alice")).json()["entries"]
    assert [e["details"] for e in mine if e["kind"] == "retention_purge"] == [{"opened_records": 1}]
    entries = env.client.get("/api/v1/log/entries?start=0&end=100", headers=env.auth("dpo"))
    summaries = [
        e["details"]
        for e in entries.json()
        if e["kind"] == "retention_purge" and e["subject_ref"] is None
    ]
    assert summaries == [
        {"opened_records": 0, "sightings": 1},
        {"opened_records": 1, "sightings": 0},
    ]
    # A purge that deletes nothing leaves no trace (and no noise in the log).
    assert sum(e["kind"] == "retention_purge" for e in entries.json()) == 3


@pytest.fixture
def slow_fleet(database: Database, authority: Any, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet whose challenges may stay open longer than sightings are kept."""
    env = make_env(database, authority, tmp_path, challenge_deadline_s=60 * DAY)
    yield make_fleet(env)
    env.client.close()
    env.app.state.quietmile.engine.dispose()


def test_a_sighting_of_an_open_challenge_is_kept_until_it_closes(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    env = fleet.env
    settings = env.app.state.quietmile.settings
    p = sc.submitted(fleet)
    t, lat, lon = sc.on_trace(p, 0)
    sc.sighting(env, t, lat, lon)
    [ch] = sc.poll(env, fleet.signer)
    env.clock.now += settings.sighting_retention_s + DAY
    assert purge(env)["sightings"] == 0  # still needed to judge the answer
    r = sc.answer(env, fleet.signer, p.sign(p.opening(ch)))
    assert r.json()["outcome"] == "pass"  # judged against the kept position
    assert purge(env)["sightings"] == 1
    with env.app.state.quietmile.session_factory() as s:
        assert s.scalars(select(Challenge)).one().sighting_id is None


def test_a_pending_sighting_is_dropped_unchecked_after_its_window(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.build_period(fleet.signer, fleet.obu_id)  # never submitted
    t, lat, lon = sc.on_trace(p, 0)
    assert sc.sighting(env, t, lat, lon).json()["status"] == "pending"
    env.clock.now += env.app.state.quietmile.settings.sighting_retention_s
    assert purge(env)["sightings"] == 1
    assert env.client.get("/api/v1/sightings/1", headers=env.auth("auditor")).status_code == 404


def test_openings_of_an_open_dispute_are_kept_until_it_is_resolved(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    r = env.client.post(
        "/api/v1/disputes",
        json={"statement_hash": p.hash.hex(), "reason": "x", "consent_to_open_period": True},
        headers=env.auth("alice"),
    )
    did = r.json()["dispute_id"]
    body = cbor.encode([p.sign(p.opening(bytes.fromhex(did), i)) for i in range(3)])
    sc.obu_request(
        env, fleet.signer, "POST", f"/api/v1/obu/disputes/{did}/openings", body, "application/cbor"
    )
    env.clock.now += env.app.state.quietmile.settings.opened_record_retention_s + DAY
    assert purge(env)["opened_records"] == 0
    env.client.post(
        f"/api/v1/disputes/{did}/resolve",
        json={"resolution": "rejected", "reasons": "no response from the driver"},
        headers=env.auth("auditor"),
    )
    assert purge(env)["opened_records"] == 3
    r = env.client.post(f"/api/v1/disputes/{did}/verify", headers=env.auth("auditor"))
    assert r.status_code == 409


def test_only_the_operator_runs_the_purge_job(fleet: Fleet) -> None:
    env = fleet.env
    for who, status in (("auditor", 403), ("dpo", 403), ("alice", 403), ("anonymous", 401)):
        r = env.client.post("/api/v1/jobs/purge", headers=env.auth(who))
        assert r.status_code == status, who


def test_cli_purge_and_jobs(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend import cli
    from backend.core.config import get_settings

    env = fleet.env
    p = sc.submitted(fleet)
    answered_challenge(fleet, p, 1)
    state = env.app.state.quietmile
    monkeypatch.setenv("QUIETMILE_DATABASE_URL", env.db.url)
    monkeypatch.setenv("QUIETMILE_KEY_DIR", str(state.settings.key_dir))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        later = env.clock.now + state.settings.opened_record_retention_s
        r = runner.invoke(cli.app, ["purge", "--now", str(later)])
        assert r.exit_code == 0, r.output
        assert "opened_records=1 sightings=1" in r.output
        r = runner.invoke(cli.app, ["jobs", "--now", str(later)])
        assert r.exit_code == 0, r.output
        assert "challenges expired=0" in r.output
    finally:
        get_settings.cache_clear()
    assert counts(env) == (0, 0)

"""A short fleet end to end over HTTP (default suite): the real backend on SQLite, six OBUs
(one under MicroPython) replaying three days of commuting, cameras, two cheaters."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from simulator import cheats, presets
from simulator.fleet import FleetConfig, RunResult, make_vehicles, run_fleet
from simulator.metrics import summarize
from simulator.report import write_report


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_fleet(presets.short(), tmp_path_factory.mktemp("fleet") / "run")


def test_every_unit_reports_every_period_over_http(short_run: RunResult) -> None:
    cfg = short_run.config_obj
    specs = short_run.specs
    assert {s.mode for s in specs} == {"inprocess", "micropython"}
    per_vehicle = Counter(st["vehicle"] for st in short_run.backend_statements)
    for spec in specs:
        # daily periods, all sealed by the wind-down; a unit that lost power may have a
        # period without driving, which it still seals (the chain has no holes)
        assert per_vehicle[spec.index] == cfg.days, spec.group
    # what each unit sealed is what the backend holds, receipt for receipt
    held = {st["statement_hash"] for st in short_run.backend_statements}
    assert {s.statement_hash for s in short_run.statements if s.receipt} == held
    assert all(s.receipt for s in short_run.statements)


def test_cameras_challenge_and_units_answer(short_run: RunResult) -> None:
    sightings = short_run.sightings
    assert len(sightings) >= 20
    assert all(s.challenge_id is not None for s in sightings), "every sighting challenged"
    answered = [c for c in short_run.challenges if c["answered"]]
    assert len(answered) == len(short_run.challenges), "no challenge left unanswered"
    mp = {s.index for s in short_run.specs if s.mode == "micropython"}
    assert any(c["vehicle"] in mp and c["outcome"] == "pass" for c in short_run.challenges)


def test_cheaters_are_caught_by_their_openings(short_run: RunResult) -> None:
    specs = short_run.specs
    reasons: dict[str, set[str]] = {}
    for c in short_run.challenges:
        spec = specs[c["vehicle"]]
        if not spec.cheat.honest and c["outcome"] == "fail":
            reasons.setdefault(spec.cheat.strategy, set()).add(c["reason"])
    assert "price_mismatch" in reasons[cheats.WRONG_RATE]
    assert "no_segment" in reasons[cheats.SWITCH_OFF]


def test_no_honest_vehicle_is_accused(short_run: RunResult) -> None:
    s = summarize(short_run)
    assert s.fairness.spot_checks >= 30
    assert s.fairness.false_accusations == 0, s.fairness.examples
    assert s.fairness.uncovered_sightings == 0


def test_honest_charges_stay_in_the_budget(short_run: RunResult) -> None:
    acc = summarize(short_run).accuracy["all honest"]
    assert acc.dist_vs_visible.over_half_pct == 0
    assert -0.01 <= acc.dist_vs_visible.min and acc.dist_vs_visible.max <= 0.005
    assert acc.total_dist_vs_true < acc.total_dist_vs_visible  # garages are invisible


def test_report_is_written_from_saved_results(short_run: RunResult, tmp_path: Path) -> None:
    short_run.save(tmp_path / "results.json")
    again = RunResult.load(tmp_path / "results.json")
    paths = write_report(again, tmp_path / "report")
    md = paths.markdown.read_text()
    for section in ("Accuracy", "Detection", "Fairness", "Location data", "Backend load"):
        assert section in md
    assert paths.html.read_text().startswith("<!doctype html>")
    assert all(p.stat().st_size > 1000 for p in paths.plots)
    assert "folium" in paths.map.read_text() or "leaflet" in paths.map.read_text()


def test_fleet_mix_is_a_function_of_the_seed() -> None:
    cfg = presets.long()
    a, b = make_vehicles(cfg), make_vehicles(cfg)
    assert a == b
    assert make_vehicles(dataclasses.replace(cfg, seed=cfg.seed + 1)) != a
    groups = Counter(s.cheat.strategy for s in a)
    assert set(groups) == set(cheats.STRATEGIES)
    levels = Counter((s.cheat.strategy, s.density) for s in a if not s.cheat.honest)
    assert min(levels.values()) >= 5, "each strategy at each density level"
    assert sum(s.mode == "micropython" for s in a) == 2


def test_tiny_runs_are_reproducible(tmp_path: Path) -> None:
    cfg = FleetConfig(
        seed=3,
        start=(2026, 3, 2),
        days=2,
        period=86400,
        vehicles=3,
        cheater_share=0.0,
        audit_share=0.0,
        cameras=presets.CAMERAS,
    )
    r1 = run_fleet(cfg, tmp_path / "one")
    r2 = run_fleet(cfg, tmp_path / "two")
    assert [dataclasses.astuple(t) for t in r1.trips] == [dataclasses.astuple(t) for t in r2.trips]
    key = ("vehicle", "camera_id", "seen_at", "lat_e7", "lon_e7")
    assert [[getattr(s, k) for k in key] for s in r1.sightings] == [
        [getattr(s, k) for k in key] for s in r2.sightings
    ]
    assert [s.statement_hash for s in r1.statements] == [s.statement_hash for s in r2.statements]

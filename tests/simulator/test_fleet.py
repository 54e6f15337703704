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


def test_the_run_books_its_speed(short_run: RunResult) -> None:
    t = short_run.timing
    assert set(t.hours) == {"inprocess", "micropython"}
    assert all(t.gen_s[m] > 0 and t.firmware_s[m] > 0 for m in t.hours)
    # the shards worked for part of the event loop and waited for the coordinator the rest
    assert 0 < t.busy_s < t.capacity_s
    assert 0 < summarize(short_run).shard_busy < 1


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


def test_shard_processes_drive_ahead_without_changing_the_run(tmp_path: Path) -> None:
    """Two shard processes feed trips ahead of their slices; trips, sightings, statements and
    what the backend decided are those of the same run in one process."""
    cfg = FleetConfig(
        seed=5,
        start=(2026, 3, 2),
        days=3,
        period=86400,
        vehicles=4,
        cheater_share=0.5,
        strategies=(cheats.SWITCH_OFF, cheats.NEGATIVE_SEGMENT),  # cheat_rng at UART and ledger
        cheat_shares=(1.0,),
        cheater_density=3,
        audit_share=0.0,
        sync_every_s=3 * 3600,
        cameras=presets.CAMERAS,
    )
    one = run_fleet(cfg, tmp_path / "one")
    two = run_fleet(dataclasses.replace(cfg, workers=2), tmp_path / "two")
    assert one.timing.ahead == 0
    assert two.timing.ahead > len(two.trips) // 4

    def rows(r: RunResult) -> list[tuple[object, ...]]:  # shards report in their own order
        return sorted((dataclasses.astuple(t) for t in r.trips), key=lambda row: row[:2])

    assert rows(one) == rows(two)
    key = ("vehicle", "camera_id", "seen_at", "lat_e7", "lon_e7", "covered")
    assert sorted(tuple(getattr(s, k) for k in key) for s in one.sightings) == sorted(
        tuple(getattr(s, k) for k in key) for s in two.sightings
    )
    assert sorted(s.statement_hash for s in one.statements) == sorted(
        s.statement_hash for s in two.statements
    )

    def decided(r: RunResult) -> Counter[tuple[int, str, str, str | None]]:
        return Counter((c["vehicle"], c["kind"], c["outcome"], c["reason"]) for c in r.challenges)

    assert decided(one) == decided(two)


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

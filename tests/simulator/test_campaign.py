"""A campaign in chunks (simulator.campaign): the union of two small runs reports the same
figures as computed by hand from each run."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import cheats, presets
from simulator.campaign import ChunkError, load_union, union
from simulator.cli import app
from simulator.fleet import FleetConfig, RunResult, TripRow, run_fleet
from simulator.metrics import Summary, accuracy_of, summarize

SEEDS = (21, 22)


def _config(seed: int) -> FleetConfig:
    return FleetConfig(
        seed=seed,
        start=(2026, 3, 2),
        days=2,
        period=86400,
        vehicles=4,
        cheater_share=0.5,
        strategies=(cheats.WRONG_RATE, cheats.SWITCH_OFF),
        cheat_shares=(1.0,),
        cheater_density=3,
        audit_share=0.5,
        audit_segments=2,
        cameras=presets.CAMERAS,
    )


@pytest.fixture(scope="module")
def chunks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two runs of the same configuration with different seeds, saved as a chunk each."""
    out = []
    for seed in SEEDS:
        d = tmp_path_factory.mktemp(f"chunk-{seed}")
        run_fleet(_config(seed), d / "run").save(d / "results.json")
        out.append(d / "results.json")
    return out


@pytest.fixture(scope="module")
def runs(chunks: list[Path]) -> list[RunResult]:
    return [RunResult.load(p) for p in chunks]


@pytest.fixture(scope="module")
def both(runs: list[RunResult]) -> RunResult:
    return union(runs)


@pytest.fixture(scope="module")
def sums(runs: list[RunResult], both: RunResult) -> tuple[Summary, Summary, Summary]:
    a, b = runs
    return summarize(a), summarize(b), summarize(both)


def test_vehicles_are_renumbered_after_the_previous_chunks(
    runs: list[RunResult], both: RunResult
) -> None:
    a, b = runs
    n = a.config["vehicles"]
    assert both.config["vehicles"] == n + b.config["vehicles"]
    assert [v["index"] for v in both.vehicles] == list(range(both.config["vehicles"]))
    assert [v["plate"] for v in both.vehicles] == [v["plate"] for v in a.vehicles + b.vehicles]
    # every row of the second chunk moved by the first chunk's fleet size, and only that
    for name in ("trips", "sightings", "syncs", "openings", "statements", "totals"):
        mine, theirs = getattr(both, name), getattr(a, name) + getattr(b, name)
        assert [r.vehicle for r in mine] == [r.vehicle for r in getattr(a, name)] + [
            r.vehicle + n for r in getattr(b, name)
        ], name
        assert len(mine) == len(theirs), name
    assert [t.trip_id for t in both.trips] == [t.trip_id for t in a.trips + b.trips]
    assert [c["vehicle"] for c in both.challenges] == [c["vehicle"] for c in a.challenges] + [
        c["vehicle"] + n for c in b.challenges
    ]
    assert sorted(map(int, both.tracks)) == sorted(
        [int(k) for k in a.tracks] + [int(k) + n for k in b.tracks]
    )
    assert [c["first_vehicle"] for c in both.chunks] == [0, n]
    assert [c["seed"] for c in both.chunks] == list(SEEDS)


def test_every_identifier_stays_distinct_and_linked(both: RunResult) -> None:
    for key in ("plate", "obu_id", "seed"):
        assert len({v[key] for v in both.vehicles}) == len(both.vehicles), key
    assert len(set(both.backend_ids.values())) == len(both.backend_ids)
    ids = [c["challenge_id"] for c in both.challenges]
    assert len(set(ids)) == len(ids)
    assert {c["camera_id"] for c in both.cameras} >= {s.camera_id for s in both.sightings}
    assert len({c["camera_id"] for c in both.cameras}) == len(both.cameras)
    sighting_ids = [s.sighting_id for s in both.sightings if s.sighting_id is not None]
    assert len(set(sighting_ids)) == len(sighting_ids)
    # what refers to a challenge or a vehicle still finds it, in its own chunk
    by_id = {c["challenge_id"]: c for c in both.challenges}
    for s in both.sightings:
        if s.challenge_id is not None:
            assert by_id[s.challenge_id]["vehicle"] == s.vehicle
    for o in both.openings:
        assert by_id[o.challenge_id]["vehicle"] == o.vehicle
    vid = {int(k): v for k, v in both.backend_ids.items()}
    assert all(vid[c["vehicle"]] == c["vehicle_id"] for c in both.challenges)
    assert all(vid[st["vehicle"]] == st["vehicle_id"] for st in both.backend_statements)
    for chunk in both.chunks:
        seed = f"{chunk['seed']}:"
        first, n = chunk["first_vehicle"], chunk["vehicles"]
        assert all(
            c["challenge_id"].startswith(seed) == (first <= c["vehicle"] < first + n)
            for c in both.challenges
        )


def test_counts_add_up(sums: tuple[Summary, Summary, Summary]) -> None:
    a, b, u = sums
    assert u.vehicles == a.vehicles + b.vehicles
    assert u.vehicle_months == pytest.approx(a.vehicle_months + b.vehicle_months)
    assert u.trips == a.trips + b.trips
    assert u.driving_hours == pytest.approx(a.driving_hours + b.driving_hours)
    fa, fb, fu = a.fairness, b.fairness, u.fairness
    for name in ("spot_checks", "sighting_checks", "audit_checks", "false_accusations"):
        assert getattr(fu, name) == getattr(fa, name) + getattr(fb, name), name
    assert Counter(fu.outcomes) == Counter(fa.outcomes) + Counter(fb.outcomes)
    assert Counter(fu.by_reason) == Counter(fa.by_reason) + Counter(fb.by_reason)
    assert fu.spot_checks > 0
    pa, pb, pu = a.privacy, b.privacy, u.privacy
    assert pu.openings == pa.openings + pb.openings
    assert pu.openings_with_location == pa.openings_with_location + pb.openings_with_location
    assert pu.per_vehicle_month == pa.per_vehicle_month + pb.per_vehicle_month
    assert pu.openings_per_vm == pytest.approx(
        (pa.openings_with_location + pb.openings_with_location) / u.vehicle_months
    )
    assert u.load.statements == a.load.statements + b.load.statements
    assert u.load.challenges == a.load.challenges + b.load.challenges
    assert Counter(u.load.calls) == Counter(a.load.calls) + Counter(b.load.calls)
    assert Counter(u.missing_statements) == Counter(a.missing_statements) + Counter(
        b.missing_statements
    )


def test_detection_pools_periods_per_strategy_and_level(
    sums: tuple[Summary, Summary, Summary],
) -> None:
    a, b, u = sums
    assert len(u.vehicle_periods) == len(a.vehicle_periods) + len(b.vehicle_periods)

    def tally(s: Summary) -> Counter[tuple[str, int, str]]:
        out: Counter[tuple[str, int, str]] = Counter()
        for r in s.detection:
            out[(r.strategy, r.density, "n")] += r.n
            out[(r.strategy, r.density, "hits")] += round(r.measured * r.n)
            out[(r.strategy, r.density, "k")] += round(r.mean_k * r.n)
        return out

    assert tally(u) == tally(a) + tally(b)
    assert {r.strategy for r in u.detection} == {cheats.WRONG_RATE, cheats.SWITCH_OFF}

    def bins(s: Summary) -> Counter[tuple[int, str]]:
        out: Counter[tuple[int, str]] = Counter()
        for r in s.detection_k:
            out[(r["k_lo"], "n")] += r["n"]
            out[(r["k_lo"], "hits")] += round(r["measured"] * r["n"])
        return out

    assert bins(u) == bins(a) + bins(b)
    for r in u.detection:
        mine = [
            vp
            for s in (a, b)
            for vp in s.vehicle_periods
            if vp.group == r.strategy and vp.density == r.density
        ]
        assert r.analytic == pytest.approx(sum(vp.analytic_sighting for vp in mine) / len(mine))


def test_pooled_accuracy_is_the_accuracy_of_the_concatenated_trips(
    runs: list[RunResult], sums: tuple[Summary, Summary, Summary]
) -> None:
    u = sums[2]
    by_group: dict[str, list[TripRow]] = {}
    for r in runs:
        specs = {s.index: s for s in r.specs}
        for t in r.trips:
            if specs[t.vehicle].cheat.honest:
                by_group.setdefault(specs[t.vehicle].group, []).append(t)
                by_group.setdefault("all honest", []).append(t)
    assert set(u.accuracy) == set(by_group)
    for name, trips in by_group.items():
        assert dataclasses.asdict(u.accuracy[name]) == dataclasses.asdict(accuracy_of(trips))
    assert u.accuracy["all honest"].trips == sum(1 for _ in by_group["all honest"])


def test_the_union_saves_and_loads_like_a_run(both: RunResult, tmp_path: Path) -> None:
    both.save(tmp_path / "union.json")
    again = RunResult.load(tmp_path / "union.json")
    assert again.chunks == json.loads(json.dumps(both.chunks))
    assert summarize(again).fairness == summarize(both).fairness
    with pytest.raises(ChunkError, match="already a union"):
        union([again, again])


def test_runs_that_are_not_chunks_of_one_campaign_are_refused(runs: list[RunResult]) -> None:
    a, b = runs
    with pytest.raises(ChunkError, match="seed 21 twice"):
        union([a, a])
    longer = dataclasses.replace(b, config=dict(b.config, days=3))
    with pytest.raises(ChunkError, match="'days'"):
        union([a, longer])
    # seeds equal modulo 10,000 give the same plates ("QM 0021-00000")
    clash = dataclasses.replace(
        b, vehicles=[dict(v, plate=w["plate"]) for v, w in zip(b.vehicles, a.vehicles, strict=True)]
    )
    with pytest.raises(ChunkError, match="plate"):
        union([a, clash])
    with pytest.raises(ChunkError):
        union([])


def test_report_command_writes_one_report_over_several_runs(
    chunks: list[Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "report"
    r = runner.invoke(app, ["report", *map(str, chunks), "--out", str(out)])
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    assert "2 runs (seeds 21, 22" in md
    assert "Per run" in md
    summary = json.loads((out / "summary.json").read_text())
    assert [c["seed"] for c in summary["runs"]] == list(SEEDS)
    assert summary["vehicles"] == 8
    assert load_union(chunks).config["vehicles"] == 8
    # several runs need an explicit --out; one run keeps its default
    assert runner.invoke(app, ["report", *map(str, chunks)]).exit_code != 0

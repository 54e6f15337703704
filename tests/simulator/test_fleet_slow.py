"""The long fleet run (`make test-slow`): ≥ 1,000 vehicle-months through the real firmware and
backend, with cheaters of every strategy and honest vehicles with good and bad receivers.

QUIETMILE_SIM_OUT keeps the run's JSON and report (default: pytest's tmp_path);
QUIETMILE_SIM_RESULTS checks saved runs instead of running one (two hours and more on two
cores): one results.json, or several separated by os.pathsep (":") — the chunks of a campaign
run one seed at a time, checked as their union (simulator.campaign; README, "Simulator")::

    QUIETMILE_SIM_RESULTS=$(ls var/long/chunk-*/results.json | paste -sd:) \
        .venv/bin/pytest -m slow tests/simulator/test_fleet_slow.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator import cheats, presets
from simulator.campaign import load_union
from simulator.fleet import run_fleet
from simulator.metrics import SIGHTING_STRATEGIES, Summary, summarize
from simulator.report import write_report

# The first test to use the fixture runs the fleet (an hour or more on two cores).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(6 * 3600)]


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Summary:
    saved = [p for p in os.environ.get("QUIETMILE_SIM_RESULTS", "").split(os.pathsep) if p]
    if saved:
        return summarize(load_union(Path(p) for p in saved))
    out = Path(os.environ.get("QUIETMILE_SIM_OUT", str(tmp_path_factory.mktemp("long"))))
    out.mkdir(parents=True, exist_ok=True)
    result = run_fleet(presets.long(), out / "run")
    result.save(out / "long.json")  # before any assertion: the figures are the point
    write_report(result, out / "report")
    return summarize(result)


def test_scale(long_run: Summary) -> None:
    assert long_run.vehicle_months >= 1000
    assert long_run.fairness.spot_checks >= 10_000


def test_accuracy_budget(long_run: Summary) -> None:
    """DESIGN §8 ("within ±1 % of ground truth on realistic noisy trips; never more than
    +0.5 % over"), against the distance a receiver can see (garage driveways excluded): every
    trip of ≥ 1 km of a unit with a realistic receiver within −1 %…+0.5 %. Units with a poor
    receiver (the simulator's stress case: urban multipath, frequent outages) keep their total
    within −1 %…+0.5 %, no trip over +1 % and at most 1 % of trips over +0.5 %. Their slow town
    trips are charged up to 1.25 % less (25 m on 2 km: crawling under 0.5 m/s counts as
    standing, and the Doppler de-bias takes out a poor receiver's town noise even where it is
    lower), the safe side for the driver; the check bounds that at −1.5 % per trip."""
    honest = long_run.accuracy["honest"]
    assert -0.01 <= honest.total_dist_vs_visible <= 0.005
    assert honest.dist_vs_visible_1km.over_half_pct == 0
    assert honest.dist_vs_visible_1km.min >= -0.01
    bad = long_run.accuracy["honest, bad GNSS"]
    assert -0.01 <= bad.total_dist_vs_visible <= 0.005
    assert -0.015 <= bad.dist_vs_visible_1km.min and bad.dist_vs_visible_1km.max <= 0.01
    assert bad.dist_vs_visible_1km.over_half_pct <= 0.01 * bad.dist_vs_visible_1km.n


def test_every_cheat_is_caught_where_its_mechanism_looks(long_run: Summary) -> None:
    # at the densest camera network each strategy's cheaters were placed in (a campaign of
    # 50-vehicle chunks has cheaters at levels 0–2 only)
    top: dict[str, int] = {}
    for r in long_run.detection:
        top[r.strategy] = max(top.get(r.strategy, 0), r.density)
    best = {r.strategy: r for r in long_run.detection if r.density == top[r.strategy]}
    for strategy in (cheats.WRONG_RATE, cheats.DROP_SEGMENTS, cheats.SWITCH_OFF):
        assert best[strategy].measured > 0.5, strategy
    assert all(
        r.measured == 1.0 for r in long_run.detection if r.strategy == cheats.ALTER_STATEMENT
    )
    # A replayed statement is signed with the unit's key and its sum holds: only an opening
    # shows that its commitments are another period's. Every forged period that had a spot
    # check (its analytic share) must be caught; a period nobody checked cannot be.
    replays = [r for r in long_run.detection if r.strategy == cheats.REPLAY_STATEMENT]
    assert replays
    assert all(r.measured >= r.analytic for r in replays)
    assert sum(r.analytic * r.n for r in replays) > 0


def test_detection_follows_the_analytic_curve(long_run: Summary) -> None:
    """Pooled over the sighting-caught strategies, detection per k-bin agrees with the mean
    of 1 − (1 − f)^k (f: the share of camera passes in uncovered time) within its 99 %
    binomial interval (approximated by ±2.6 σ of the analytic mean)."""
    bins = [b for b in long_run.detection_k if b["n"] >= 30]
    assert bins
    for b in bins:
        p = b["analytic_camera"]
        sigma = (max(p * (1 - p), 0.01) / b["n"]) ** 0.5
        assert abs(b["measured"] - p) <= 2.6 * sigma + 0.02, b
    assert {r.strategy for r in long_run.detection} >= set(SIGHTING_STRATEGIES)


def test_no_honest_vehicle_fails_a_sighting_check(long_run: Summary) -> None:
    """The sighting tolerance model and the firmware's coverage: zero false accusations."""
    f = long_run.fairness
    assert f.sighting_checks >= 10_000
    assert f.tolerance_failures == 0, f.by_reason
    assert f.uncovered_sightings == 0


def test_zero_false_accusations(long_run: Summary) -> None:
    """DESIGN §8: 0 false accusations over ≥ 10,000 spot checks, audits included."""
    assert long_run.fairness.false_accusations == 0, long_run.fairness.by_reason

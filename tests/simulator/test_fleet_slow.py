"""The long fleet run (`make test-slow`): ≥ 1,000 vehicle-months through the real firmware and
backend, with cheaters of every strategy and honest vehicles with good and bad receivers.

Set QUIETMILE_SIM_OUT to keep the run's JSON and report (default: pytest's tmp_path).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator import cheats, presets
from simulator.fleet import run_fleet
from simulator.metrics import summarize
from simulator.report import write_report


@pytest.mark.slow
@pytest.mark.timeout(6 * 3600)
def test_long_fleet_run_meets_the_budgets(tmp_path: Path) -> None:
    out = Path(os.environ.get("QUIETMILE_SIM_OUT", str(tmp_path)))
    out.mkdir(parents=True, exist_ok=True)
    result = run_fleet(presets.long(), out / "run")
    result.save(out / "long.json")  # before any assertion: the figures are the point
    write_report(result, out / "report")
    s = summarize(result)

    assert s.vehicle_months >= 1000
    assert s.fairness.spot_checks >= 10_000
    # Accuracy (DESIGN §8), against the distance a receiver can see (garages excluded).
    for name in ("honest", "honest, bad GNSS"):
        acc = s.accuracy[name]
        assert -0.01 <= acc.total_dist_vs_visible <= 0.005, name
        assert acc.dist_vs_visible_1km.over_half_pct == 0, name
    # Every strategy that a mechanism targets is caught, at the highest density at least.
    best = {r.strategy: r for r in s.detection if r.density == 3}
    for strategy in (cheats.WRONG_RATE, cheats.DROP_SEGMENTS, cheats.SWITCH_OFF):
        assert best[strategy].measured > 0.5, strategy
    assert all(r.measured == 1.0 for r in s.detection if r.strategy == cheats.ALTER_STATEMENT)
    # Fairness (DESIGN §8): zero false accusations over ≥ 10,000 spot checks.
    assert s.fairness.false_accusations == 0, s.fairness.by_reason

"""The backend in the loop on PostgreSQL (``FleetConfig.database_url``, as ``DATABASE_URL`` or
``simulate fleet --database-url`` give it): a short fleet over HTTP into a schema of its own on
the server at 127.0.0.1:5432, migrated by the backend at start. Skipped, with the reason, when
the server is unreachable."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from pathlib import Path

import pytest

from simulator import cheats, presets
from simulator.fleet import run_fleet
from simulator.metrics import summarize
from tests.backend import conftest


@pytest.mark.postgres
def test_a_short_fleet_runs_against_postgresql(tmp_path: Path) -> None:
    reason = conftest._pg_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    schema = f"qm_sim_{uuid.uuid4().hex[:12]}"
    conftest.create_pg_schema(schema)
    try:
        cfg = dataclasses.replace(
            presets.short(), days=2, micropython=0, database_url=conftest.pg_schema_url(schema)
        )
        result = run_fleet(cfg, tmp_path / "run")
    finally:
        conftest.drop_pg_schema(schema)

    assert result.backend["database"] == "postgresql"
    assert not (tmp_path / "run" / "backend" / "backend.db").exists()
    per_vehicle = Counter(st["vehicle"] for st in result.backend_statements)
    assert all(per_vehicle[s.index] == cfg.days for s in result.specs)
    assert all(s.receipt for s in result.statements)
    assert result.challenges and all(c["answered"] for c in result.challenges)
    failed = {
        result.specs[c["vehicle"]].cheat.strategy
        for c in result.challenges
        if c["outcome"] == "fail"
    }
    # only cheaters fail (both are at full camera density), and at least one of them does
    assert failed and failed <= {cheats.WRONG_RATE, cheats.SWITCH_OFF}
    assert summarize(result).fairness.false_accusations == 0

"""``python -m simulator`` (the ``simulate`` command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from simulator.cli import app
from tests.conftest import REPO

runner = CliRunner()


def test_trip_runs_one_drive_through_the_firmware() -> None:
    r = runner.invoke(app, ["trip", "--from", "home-south", "--to", "station", "--seed", "3"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # rich wraps at the terminal width
    assert "charged" in text and "of visible" in text


def test_trip_with_a_cheat_shows_what_it_did() -> None:
    r = runner.invoke(app, ["trip", "--cheat", "wrong_rate", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "wrong_rate" in r.output


def test_trip_lists_places_and_rejects_bad_input() -> None:
    r = runner.invoke(app, ["trip", "--places"])
    assert r.exit_code == 0 and "office-garage" in r.output
    assert runner.invoke(app, ["trip", "--mode", "fpga"]).exit_code != 0
    assert runner.invoke(app, ["trip", "--depart", "tomorrow"]).exit_code != 0


def test_module_entry_point_has_the_three_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0
    for cmd in ("trip", "fleet", "report"):
        assert cmd in out.stdout


def test_fleet_and_report_commands(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    r = runner.invoke(
        app,
        [
            "fleet",
            "--out",
            str(out),
            "--vehicles",
            "2",
            "--days",
            "1",
            "--period",
            "day",
            "--cheaters",
            "0",
            "--seed",
            "4",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (out / "results.json").exists() and (out / "report" / "report.html").exists()
    assert "false accusations" in " ".join(r.output.split())
    again = runner.invoke(app, ["report", str(out / "results.json"), "--out", str(tmp_path / "r")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "r" / "report.md").exists()

"""DESIGN §8 budgets of the accounting core, measured under the real MicroPython binary.

- CPU per segment (a timing, so it is a benchmark, not a test): bench/firmware_bench.py.
- Flash: ledger bytes per km on a 4-hour city drive: 3,000 km must fit in 1 MB. A pessimistic
  layout (tariff cells of ~1 km, a new segment every ~700 m) is printed beside it.

Figures print with ``pytest -s``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from tests.conftest import REPO

CHILD = REPO / "tests" / "host" / "firmware_child.py"
MB = 1 << 20


def _bench(micropython: str, folder: str, minutes: int, cell_e7: int = 0) -> dict[str, int]:
    root = tempfile.mkdtemp(prefix="qm-bench-", dir=folder)
    args = [micropython, str(CHILD), "bench", root, str(minutes)]
    if cell_e7:
        args.append(str(cell_e7))
    try:
        proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {k: int(v) for k, v in (ln.split("=", 1) for ln in proc.stdout.split() if "=" in ln)}


def _fast_folder() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else "/tmp"


def test_a_month_of_3000_km_fits_one_megabyte_of_ledger(micropython: str) -> None:
    r = _bench(micropython, _fast_folder(), 240)
    km = r["km_x1000"] / 1000
    per_km = r["ledger_bytes"] / km
    grid = _bench(micropython, _fast_folder(), 240, 90000)
    grid_km = grid["km_x1000"] / 1000
    grid_per_km = grid["ledger_bytes"] / grid_km
    print(
        f"\nledger: city drive {km:.0f} km, {r['segments']} segments: "
        f"{r['ledger_bytes'] / r['segments']:.0f} B/segment, {per_km:.0f} B/km → 3,000 km "
        f"{3000 * per_km / MB:.2f} MB; 1 km tariff cells {grid_km:.0f} km, {grid['segments']} "
        f"segments: {grid['ledger_bytes'] / grid['segments']:.0f} B/segment, "
        f"{grid_per_km:.0f} B/km → 3,000 km {3000 * grid_per_km / MB:.2f} MB"
    )
    assert r["segments"] >= 10 and km > 100
    assert 3000 * per_km <= MB

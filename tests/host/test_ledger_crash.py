"""Kill the real MicroPython ledger writer at random instants; no acknowledged record may be lost.

tests/host/ledger_crash_child.py appends numbered records and acknowledges each on a pipe
after ``append`` returned. We SIGKILL it at random delays (sometimes before its boot-time
repair finished, mostly while appending), restart it, and check after every restart and at the
end that the ledger holds records 0, 1, 2, ... exactly once, in order, uncorrupted, covering
every acknowledged record plus at most the one that was in progress. Half of the runs write
each frame in three pieces with pauses, so kills tear frames and repair is exercised for real.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from firmware.ledger import Ledger, Store
from tests.host.crash_harness import kill_loop
from tests.host.ledger_crash_child import PER_PERIOD, payload

CHILD = "tests/host/ledger_crash_child.py"


class Tally:
    """What the acknowledgements say must be in the ledger."""

    def __init__(self) -> None:
        self.last_ack = -1  # every record up to this index was acknowledged
        self.next = 0  # index the running child will append next
        self.starts = 0
        self.repairs = 0
        self.in_flight_kept = 0
        self.acks = 0

    def feed(self, line: str) -> None:
        if line.startswith("open "):
            _, stored, repaired = line.split()
            n = int(stored)
            # Everything acknowledged is there; beyond it at most the record in progress.
            assert self.last_ack + 1 <= n <= self.last_ack + 2, (line, self.last_ack)
            self.in_flight_kept += n == self.last_ack + 2
            self.last_ack = n - 1  # records found at boot count as stored from now on
            self.next = n
            self.starts += 1
            self.repairs += int(repaired) > 0
        else:
            i = int(line)
            assert i == self.next, (i, self.next)  # no duplicate, no gap
            self.last_ack = i
            self.next = i + 1
            self.acks += 1


def verify(root: Path, tally: Tally) -> int:
    """Read everything back under CPython; return the number of records stored."""
    store = Store(str(root))
    periods = store.periods()
    assert periods == list(range(len(periods)))
    total = 0
    for p in periods:
        lg = Ledger(store.dir, p, store.keys)
        if p != periods[-1]:
            assert lg.count == PER_PERIOD
        for j, rec in enumerate(lg):
            assert rec == payload(p * PER_PERIOD + j), (p, j)
        total += lg.count
    assert tally.last_ack + 1 <= total <= tally.last_ack + 2, (total, tally.last_ack)
    return total


def run_crash_test(micropython: str, root: Path, kills: int, seed: int) -> Tally:
    tally = Tally()
    kill_loop(
        micropython,
        CHILD,
        root,
        kills,
        seed,
        tally.feed,
        modes=("whole", "split"),
        anywhere_p=0.25,  # anywhere: import, repair, appends
        anywhere_s=0.12,
        boot_timeout_s=10,
        after_boot_s=0.03,
        check=lambda: verify(root, tally),
    )
    return tally


def _report(tally: Tally, kills: int, total: int, seconds: float) -> str:
    return (
        f"{kills} kills, {tally.starts} restarts reached the open, {tally.acks} acknowledged "
        f"appends, {total} records stored, {tally.repairs} torn tails repaired, "
        f"{tally.in_flight_kept} in-flight records kept, 0 lost, {seconds:.1f} s"
    )


def _run(micropython: str, tmp_path: Path, kills: int) -> None:
    seed = int(os.environ.get("LEDGER_CRASH_SEED", "0")) or int.from_bytes(os.urandom(4), "big")
    t0 = time.monotonic()
    tally = run_crash_test(micropython, tmp_path / "obu", kills, seed)
    total = verify(tmp_path / "obu", tally)
    print(_report(tally, kills, total, time.monotonic() - t0), f"(seed {seed})", file=sys.stderr)
    assert tally.starts > kills // 2, f"too few runs got past the boot repair (seed {seed})"
    assert tally.repairs > 0, f"no kill tore a frame: repair not exercised (seed {seed})"
    assert total > PER_PERIOD, f"the run never crossed into a second period (seed {seed})"


def test_killed_writer_loses_no_acknowledged_record(micropython: str, tmp_path: Path) -> None:
    _run(micropython, tmp_path, 300)


@pytest.mark.slow
def test_killed_writer_loses_no_acknowledged_record_soak(micropython: str, tmp_path: Path) -> None:
    _run(micropython, tmp_path, 1200)

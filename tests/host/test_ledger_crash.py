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
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from firmware.ledger import Ledger, Store
from tests.conftest import REPO
from tests.host.ledger_crash_child import PER_PERIOD, payload

CHILD = "tests/host/ledger_crash_child.py"


class AckReader:
    """Lines from the acknowledgement pipe, read without blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        os.set_blocking(fd, False)

    def lines(self, timeout: float = 0.0) -> list[str]:
        if timeout and not select.select([self.fd], [], [], timeout)[0]:
            return []
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        return [line.decode() for line in done]


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
    rnd = random.Random(seed)
    r, w = os.pipe()
    reader = AckReader(r)
    tally = Tally()
    errlog = root.parent / "child.stderr"
    root.mkdir()
    try:
        for k in range(kills):
            mode = "split" if k % 2 else "whole"
            with errlog.open("wb") as err:
                proc = subprocess.Popen(
                    [micropython, CHILD, str(root), str(w), mode],
                    cwd=REPO,
                    pass_fds=(w,),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
                if rnd.random() < 0.25:
                    time.sleep(rnd.uniform(0.0, 0.12))  # anywhere: import, repair, appends
                else:
                    deadline = time.monotonic() + 10
                    opened = False
                    while not opened and time.monotonic() < deadline:
                        for line in reader.lines(timeout=0.05):
                            tally.feed(line)
                            opened = opened or line.startswith("open ")
                        assert proc.poll() is None, errlog.read_text()
                    assert opened, "child did not open its ledger within 10 s"
                    time.sleep(rnd.uniform(0.0, 0.03))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            assert proc.returncode == -signal.SIGKILL, errlog.read_text()
            for line in reader.lines():
                tally.feed(line)
            if k % 50 == 49:
                verify(root, tally)
        verify(root, tally)
    finally:
        os.close(r)
        os.close(w)
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

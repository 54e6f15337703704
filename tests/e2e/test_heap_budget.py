"""Heap budget (DESIGN §8, issue 3): a full day of driving, sealing, uploading and answering
challenges under ``micropython -X heapsize=…`` with the firmware precompiled to .mpy.

The firmware runs from a folder of .mpy files built with mpy-cross (tests/e2e/heap_support.py),
replays ≥ 6 h / ≥ 300 km of realistic 1 Hz NMEA, seals an hourly statement chain, uploads it to
a backend stand-in on 127.0.0.1 that issues a challenge per statement, and answers every one.
The statements are then verified on CPython with the backend's verifier and every opening is
checked against its challenge, its statement, the tariff and the true position of the car.

Budget: issue 3 asks for 96 KB (target 64 KB) on the 64-bit unix port. With the code in place,
as the ESP32's ROMFS partition holds it, the loop completes at 96 KB (``HEAP_GOAL``; the
smallest heap it needs is measured by bench/heap_bench.py, and its pass rates near the edge
are in firmware/README.md "Memory"). ``HEAP_NOW`` is the same loop with the .mpy on a
filesystem, their bytecode on the heap.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from protocol import cose, messages, verify
from simulator.network import default_policy
from tests.e2e import heap_support as hs
from tests.e2e.test_obu_replay import check_chain, obu_key, sealed_statements

HEAP_NOW = "176K"  # bench/heap_bench.py: the whole loop needs 156 KB today
HEAP_GOAL = "96K"  # issue 3 (target 64K), with the code in place from ROMFS
# The 32-bit port's live heap after every step, from ROMFS: within the budget with the headroom
# that the 64-bit loop needs over its largest live heap for garbage and fragmentation (96 KB
# for ~82 KB, ~17 %; 33 % allowed), 96 KB / 1.33 ≈ 72 KB (bench/heap_bench.py: ~51 KB today).
LIVE_32_ROMFS = 72 * 1024
SIGHTING_TOLERANCE_MM = 30000  # GNSS error of the trace plus the camera's


@pytest.fixture(scope="module")
def tree(mpy_cross: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hs.build_tree(mpy_cross, tmp_path_factory.mktemp("device"))


@pytest.fixture(scope="module")
def rom(mpy_cross: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hs.build_romfs(mpy_cross, tmp_path_factory.mktemp("rom") / "firmware.romfs")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    return hs.day_drive(tmp_path_factory.mktemp("drive"), hours=6.0)


def _truth_at(trips: list, t: int) -> tuple[int, int]:
    for trip in trips:
        if trip.samples[0].t <= t <= trip.samples[-1].t:
            s = min(trip.samples, key=lambda s: abs(s.t - t))
            return s.lat_e7, s.lon_e7
    raise AssertionError(f"the car was not driving at {t}")


def test_the_day_drive_is_a_full_day(day: tuple[Path, list]) -> None:
    nmea, trips = day
    hours = (trips[-1].samples[-1].t - trips[0].samples[0].t) / 3600
    km = sum(t.true_dist_um() for t in trips) / 1e9
    assert hours >= 6 and km >= 300, (hours, km)
    assert nmea.stat().st_size > 4_000_000  # 1 Hz RMC + GGA + GSA


def test_a_day_of_driving_sealing_upload_and_challenges_within_the_heap(
    micropython: str, tree: Path, day: tuple[Path, list], tmp_path: Path
) -> None:
    nmea, trips = day
    be = hs.backend(sighting_at=lambda st: (st.period_start + st.period_end) // 2)
    proc = hs.run_loop(micropython, tree, nmea, HEAP_NOW, tmp_path / "unit", be)
    assert hs.loop_ok(proc, be), proc.stdout + proc.stderr[-3000:]
    root = tmp_path / "unit" / "obu"

    # Every hour of the day sealed into one unbroken chain, verified with the backend's code.
    statements = check_chain(sealed_statements(root), obu_key(root))
    assert len(statements) >= 6
    assert [st.seq for st in statements] == sorted(be.statements)
    assert sum(st.segment_count for st in statements) >= 40

    # Every challenge answered with an opening of exactly the right segment, which opens its
    # commitments, is priced by the tariff and passes where the car really was.
    policy = default_policy()
    pid = messages.policy_id(policy)
    kinds = set()
    for ch in be.issued:
        opening = messages.Opening.decode(cose.decode_sign1(be.openings[ch.challenge_id]).payload)
        st = be.statements[ch.statement_seq]
        verify.check_opening_answers(opening, ch, st)
        assert not opening.is_empty, "the car was driving all day: a segment covers each"
        verify.check_commitments(opening, st)
        verify.check_record(opening.record, policy, pid, 1, st)
        kinds.add(ch.kind)
        if ch.kind == messages.CHALLENGE_SIGHTING:
            assert opening.record.covers(ch.at_time)
            lat, lon = _truth_at(trips, ch.at_time)
            verify.check_sighting(opening.record, ch.at_time, lat, lon, SIGHTING_TOLERANCE_MM)
        else:
            assert opening.segment_index == ch.segment_index
    assert kinds == {messages.CHALLENGE_SIGHTING, messages.CHALLENGE_INDEX}


def test_the_day_within_the_issue_budget_with_the_code_in_place(
    micropython: str, tree: Path, rom: Path, day: tuple[Path, list], tmp_path: Path
) -> None:
    """Issue 3's budget, 96 KB, with the code in place as the ESP32 runs it from its ROMFS
    partition (hardware/FLASHING.md, B), emulated: the same .mpy files in a ROMFS image
    outside the heap (rom_main.py). The whole day — driving, hourly seals, uploads,
    challenges answered — completes; from the filesystem, where the bytecode takes ~60 KB
    of heap more, it does not. 96 KB is within ~1 KB of the edge: the runs differ in their
    keys, nonces and timings, and so in where the heap's holes fall, and 2 runs in 150
    failed late in the day (firmware/README.md "Memory"); a day that fails is run once
    more, and a change that costs the loop a few hundred bytes fails both."""
    for i in range(2):
        be = hs.backend()
        proc = hs.run_loop(micropython, tree, day[0], HEAP_GOAL, tmp_path / f"u{i}", be, rom=rom)
        if hs.loop_ok(proc, be):
            break
    assert hs.loop_ok(proc, be), proc.stdout + proc.stderr[-3000:]
    # The code really came from the image.
    assert "code from /rom/firmware/host_main.mpy" in proc.stdout
    # And the image is what made it fit: from the filesystem the same heap is too small.
    be2 = hs.backend()
    proc2 = hs.run_loop(micropython, tree, day[0], HEAP_GOAL, tmp_path / "unit2", be2)
    assert not hs.loop_ok(proc2, be2)
    assert "MemoryError" in proc2.stderr


def test_the_tables_leave_with_their_code_only_when_their_data_is_in_flash(
    micropython: str, tree: Path, rom: Path, tmp_path: Path
) -> None:
    """firmware.app.keep_tables_if_on_heap: with the code in place from ROMFS, the P-256
    table's module holds a few hundred bytes and the tables go with the code that uses them;
    with the same .mpy on a filesystem it holds its 4 KB byte string too, and the tables stay
    loaded (the module is imported again at once)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    for name in ("tables_probe.py", "rom_mount.py"):
        shutil.copy(hs.REPO / "tests" / "e2e" / name, probe / name)
    env, room = hs.rom_env(rom)
    args = [micropython, "-X", "heapsize=400K", str(probe / "tables_probe.py")]
    out = subprocess.run(
        [*args, str(rom), str(room)], cwd=probe, env=env, capture_output=True, text=True
    )
    held, loaded = out.stdout.split()
    assert int(held) < 1024 and loaded == "False", out.stdout + out.stderr
    out = subprocess.run(args, cwd=tree, capture_output=True, text=True)
    held, loaded = out.stdout.split()
    assert int(held) > 4096 and loaded == "True", out.stdout + out.stderr


def test_the_day_on_the_32_bit_port_with_the_code_in_place(
    micropython: str, tree: Path, rom: Path, day: tuple[Path, list], tmp_path: Path
) -> None:
    """The ESP32's word size: the same day, step by step, on MicroPython's 32-bit WebAssembly
    port (tests/e2e/wasm_heap.mjs) with the code in place from the same ROMFS image, beside the
    64-bit unix port running the same steps. Everything is sealed, uploaded and answered on
    both; the live heap after each step is smaller at 32 bits (pointers, object headers and GC
    blocks are half the size) and leaves the 64-bit loop's headroom within the issue's 96 KB.
    This port collects only between top-level calls, so it shows live heaps, not the smallest
    heap that works (bench/heap_bench.py estimates that)."""
    why = hs.wasm_available()
    if why is not None:
        pytest.skip(f"the 32-bit WebAssembly port cannot run: {why}")
    nmea, trips = day
    end_t = trips[-1].samples[-1].t
    live = {}
    for port in ("unix", "wasm"):
        run = hs.day_in_steps(port, tree, nmea, end_t, tmp_path / port, rom, micropython)
        be, report = run.backend, run.report
        sealed, uploaded, answered, errors, segments = map(int, report.split())
        assert sealed == uploaded == len(be.statements) >= 6, (port, report)
        assert answered == len(be.issued) == len(be.openings) > 0, (port, report)
        assert errors == 0 and segments >= 40, (port, report)
        check_chain(sealed_statements(run.root), obu_key(run.root))
        live[port] = run.live
    assert list(live["unix"]) == list(live["wasm"])
    for step, b64 in live["unix"].items():
        if step == "start":
            continue
        b32 = live["wasm"][step]
        assert 0.4 * b64 < b32 < 0.75 * b64, (step, b32, b64)
        assert b32 <= LIVE_32_ROMFS, (step, b32)

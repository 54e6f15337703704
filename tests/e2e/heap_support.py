"""The OBU's heap budget (DESIGN §8, issue 3) measured under the real MicroPython unix port.

Shared by tests/e2e/test_heap_budget.py and bench/heap_bench.py:

- :func:`build_tree`: protocol/ and firmware/ compiled with mpy-cross into a folder with the
  same package layout (what goes on the device), plus the phase driver heap_child.py;
- :func:`day_drive`: a full day on the road as NMEA (obu_setup.day_nmea), cached on disk;
- :func:`new_unit`: an OBU folder (signed policy installed, key, config with hourly periods
  pointing at a backend port);
- :func:`run_loop`: the whole loop — firmware/host_main.py replays the drive, syncing every
  300 s of GNSS time (sealing, uploading to a ReplayBackend, answering its challenges) — under
  ``-X heapsize``; :func:`run_phase`: one phase (heap_child.py);
- :func:`smallest_heap`: bisection over heap sizes in 4 KB steps;
- :func:`build_romfs`: the same modules as a ROMFS image, for :func:`run_loop` ``rom=``:
  the code executing in place as from an ESP32's ROMFS partition (rom_main.py says how the
  unix port is made to hold it outside its heap);
- :func:`day_in_steps`: the day in steps (heap_steps.py) with the live heap after each, on the
  64-bit unix port or on the 32-bit WebAssembly port (:data:`WASM_PACKAGE`, under node): the
  same objects measured at both word sizes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from protocol import p256
from tests.conftest import REPO
from tests.e2e import obu_setup
from tests.host.fake_backend import ReplayBackend
from tools import mpy_build

OBU_KEY = 0x0B0E2E
CHILD = "heap_child.py"
STEP_SCRIPTS = ("heap_steps.py", "heap_steps_unix.py", "rom_main.py", "rom_mount.py")
WASM_HARNESS = REPO / "tests" / "e2e" / "wasm_heap.mjs"
# MicroPython's WebAssembly port (32-bit), fetched from the npm registry by `make setup`
# (Makefile: WASM_MP); node runs it.
WASM_PACKAGE = REPO / ".venv" / "wasm" / "package"
NODE = shutil.which("node")
ROM_MAIN = REPO / "tests" / "e2e" / "rom_main.py"
ROM_PAD = 120_000  # one padding environment string (Linux's limit for one is 128 KiB)
PERIOD_S = 3600


def build_tree(
    mpy_cross: str, dest: Path, renamed: bool = True, root: str = "", drivers: bool = True
) -> Path:
    """protocol/ and firmware/ as .mpy under ``dest`` (same layout) and, with ``drivers``, the
    phase drivers; ``renamed``: compiled as the device bundle is (tools/mpy_build.py: names
    shortened and shared between modules; ``root`` where the packages will lie on the
    import path), else plain mpy-cross."""
    work = dest.parent / (dest.name + ".src")
    for pkg in ("protocol", "firmware"):
        for src in sorted((REPO / pkg).rglob("*.py")):
            rel = src.relative_to(REPO)
            out = dest / rel.with_suffix(".mpy")
            if renamed:
                mpy_build.compile_module(mpy_cross, rel.as_posix(), out, work, root)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([mpy_cross, "-o", str(out), str(rel)], cwd=REPO, check=True)
    shutil.rmtree(work, ignore_errors=True)
    for name in (CHILD, *STEP_SCRIPTS) if drivers else ():
        shutil.copy(REPO / "tests" / "e2e" / name, dest / name)
    return dest


def build_romfs(mpy_cross: str, dest: Path, renamed: bool = True) -> Path:
    """protocol/ and firmware/ compiled for a ROMFS partition (``build_tree`` with the
    modules' ``__file__`` under /rom) as one ROMFS image at ``dest`` (``mpremote romfs
    build``, the tool that deploys it to a device)."""
    src = dest.parent / (dest.name + ".src")
    build_tree(mpy_cross, src, renamed, root="/rom/", drivers=False)
    args = [sys.executable, "-m", "mpremote", "romfs", "--no-mpy", "-o", str(dest), "build"]
    subprocess.run([*args, str(src)], check=True, capture_output=True)
    shutil.rmtree(src)
    return dest


def rom_env(image: Path) -> tuple[dict[str, str], int]:
    """(environment, room): padding strings QMROM0… after the usual environment, enough to hold
    ``image``; room is the contiguous span from QMROM0's value to the last pad's end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QMROM")}
    need = image.stat().st_size
    room, i = 0, 0
    while room < need:
        env[f"QMROM{i}"] = "x" * ROM_PAD
        room += ROM_PAD if i == 0 else len(f"QMROM{i}=") + 1 + ROM_PAD
        i += 1
    return env, room


def day_drive(folder: Path, hours: float = 6.0) -> tuple[Path, list]:
    """(NMEA file, trips) of ``hours`` of driving; the file is written once per folder."""
    path = folder / f"day-{hours:g}h.nmea"
    trips = obu_setup.day_trips(hours)
    if not path.exists():
        data, _ = obu_setup.day_nmea(hours)
        path.write_bytes(data)
    return path, trips


def new_unit(work: Path, port: int, template: Path | None = None) -> tuple[Path, Path]:
    """(config, root) of a fresh OBU in ``work`` talking to 127.0.0.1:``port``; the root is a
    copy of ``template`` (a unit's state from an earlier phase) when given."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    root = work / "obu"
    if template is not None:
        shutil.copytree(template, root)
    else:
        root.mkdir()
        obu_setup.install_policy(root)
        (root / "obu.key").write_bytes(OBU_KEY.to_bytes(32, "big"))
    cfg = obu_setup.write_config(work, period_s=PERIOD_S, backend_url=f"http://127.0.0.1:{port}")
    return cfg, root


def backend(**kw: object) -> ReplayBackend:
    return ReplayBackend(obu_setup.AUTHORITY, p256.SoftwareSigner(OBU_KEY), **kw)  # type: ignore[arg-type]


def _run(
    args: list[str], cwd: Path, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_loop(
    micropython: str,
    tree: Path,
    nmea: Path,
    heap: str,
    work: Path,
    be: ReplayBackend,
    sync_every: int = 300,
    rom: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The whole loop under ``-X heapsize=heap`` against ``be`` (already serving is not needed:
    this serves it for the run); with ``rom`` (build_romfs) the code runs in place from it,
    in the unit's working folder, the unit's root given as ``obu`` — short, like the
    ESP32's ``/qm``: the firmware builds its file names from the root, and a temporary
    folder's 60 characters in each of them would be measured as the firmware's heap."""
    with be.serve() as port:
        cfg, root = new_unit(work, port)
        env = None
        if rom is None:
            args = [micropython, "-X", "heapsize=" + heap, "-m", "firmware.host_main"]
            where = [str(cfg), str(root)]
        else:
            env, room = rom_env(rom)
            args = [micropython, "-X", "heapsize=" + heap, str(ROM_MAIN), str(rom), str(room)]
            where = [cfg.name, root.name]  # short, as on the device (/qm): see UNIT_ROOT
        args += ["--config", where[0], "--root", where[1], "--nmea", str(nmea), "--quiet"]
        args += ["--net", "--sync-every", str(sync_every)]
        # With rom, the working folder holds no firmware/: everything comes from /rom.
        return _run(args, tree if rom is None else work, env=env)


def loop_ok(proc: subprocess.CompletedProcess[str], be: ReplayBackend) -> bool:
    """The loop ran to its end, sealed and uploaded statements, and every challenge the
    backend issued got an opening that the backend verified."""
    return (
        proc.returncode == 0
        and "errors=0" in proc.stdout
        and bool(be.statements)
        and len(be.issued) > 0
        and not be.challenges
        and len(be.openings) == len(be.issued)
    )


def run_phase(
    micropython: str,
    tree: Path,
    phase: str,
    cfg: Path,
    root: Path,
    arg: str,
    heap: str,
    rom: Path | None = None,
) -> dict | None:
    """One phase (heap_child.py) under ``-X heapsize=heap``; its JSON report, None if it
    failed (MemoryError or anything else). With ``rom`` (build_romfs) the code runs in place
    from it."""
    args = [micropython, "-X", "heapsize=" + heap, CHILD, phase, str(cfg), str(root), arg]
    env = None
    cwd = tree
    if rom is not None:
        env, room = rom_env(rom)
        args[5:7] = [cfg.name, root.name]  # short, as on the device: see run_loop
        args.append(f"{rom}:{room}")
        cwd = root.parent  # no firmware/ here: the code comes from /rom
        for name in (CHILD, "rom_mount.py"):
            shutil.copy(tree / name, cwd / name)
    proc = _run(args, cwd, env=env)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def smallest_heap(works: Callable[[int], bool], lo_k: int = 16, hi_k: int = 512) -> int | None:
    """Smallest heap in KB (a multiple of 4) for which ``works(kb)`` holds, by bisection;
    None if even ``hi_k`` fails. Heap fragmentation makes success not strictly monotonic in
    the size, so the answer is where the bisection lands, not a proof for every larger size."""
    if not works(hi_k):
        return None
    lo, hi = lo_k, hi_k  # lo fails (or is unknown), hi works
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        if mid <= lo:
            mid = lo + 4
        if works(mid):
            hi = mid
        else:
            lo = mid
    return hi


def wasm_available() -> str | None:
    """None when the WebAssembly port can run here, else why not."""
    if NODE is None:
        return "node is not installed"
    if not (WASM_PACKAGE / "micropython.mjs").exists():
        return f"{WASM_PACKAGE} is missing (make setup fetches it)"
    return None


@dataclass
class StepsRun:
    """One day in steps: live heap after each step, the run's report (sealed uploaded
    answered errors segments), the backend stand-in it talked to and the unit's folder."""

    live: dict[str, int]
    report: str
    backend: ReplayBackend
    root: Path


def day_in_steps(
    port: str,
    tree: Path,
    nmea: Path,
    end_t: int,
    work: Path,
    rom: Path | None = None,
    micropython: str | None = None,
) -> StepsRun:
    """The day in steps (heap_steps.py) on ``port`` ("unix": ``micropython``, 64-bit, at a
    roomy heap; "wasm": the 32-bit WebAssembly port under node), the code from ``tree`` or in
    place from ``rom``, a fresh unit in ``work`` talking to a fresh backend stand-in."""
    be = backend()
    with be.serve() as p:
        cfg, root = new_unit(work, p)
        if port == "wasm":
            args = [str(NODE), str(WASM_HARNESS), str(WASM_PACKAGE), "-" if rom else str(tree)]
            args += [str(rom) if rom else "-", str(cfg), str(root), str(nmea), str(end_t)]
            proc = _run(args, tree)
        else:
            assert micropython is not None
            env = None
            cwd = tree
            rom_arg = "-"
            if rom is not None:
                env, room = rom_env(rom)
                rom_arg = f"{rom}:{room}"
                cwd = work / "steps"  # no firmware/ here: the code comes from /rom
                cwd.mkdir()
                for name in STEP_SCRIPTS:
                    shutil.copy(tree / name, cwd / name)
            args = [micropython, "-X", "heapsize=2M", "heap_steps_unix.py", rom_arg]
            args += [str(cfg), str(root), str(nmea), str(end_t)]
            proc = _run(args, cwd, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{port} steps failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    run = StepsRun({}, "", be, root)
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if "report" in row:
                run.report = row["report"]
            else:
                run.live[row["step"]] = row["live"]
    return run

"""OBU heap budget (DESIGN §8, issue 3): the smallest MicroPython heap for each phase of a day
and for the whole loop, with the firmware precompiled to .mpy (tools/mpy_build.py, as the
device bundle), on the 64-bit unix port.

Phases (tests/e2e/heap_child.py; each starts from a fresh boot, as after a reset):

- boot:      config, key, policy verification, the App's objects;
- drive:     6 h / ~440 km of realistic 1 Hz NMEA (tests/e2e/obu_setup.day_nmea) replayed:
             parsing, odometry, segmentation, a Pedersen commitment and a ledger entry per
             segment — nothing sealed or sent;
- seal:      the day's six ended hourly periods sealed into signed statements;
- upload:    the six statements posted to a backend stand-in on 127.0.0.1, receipts verified;
- challenge: the backend's six challenges (sightings and random audits) answered;
- loop:      all of it in one process as firmware/host_main.py runs it: the drive replayed,
             syncing every 300 s of GNSS time (seal, upload, challenges) — the budget's figure;
- loop, ROMFS: the same with protocol/ and firmware/ executing in place from a ROMFS image
             (tests/e2e/rom_main.py emulates the ESP32's memory-mapped ROMFS partition on the
             unix port), so only run-time objects and qstrs take heap;
- plain:     both loops again with plain mpy-cross, beside the firmware as the device bundle
             compiles it (tools/mpy_build.py: names shortened and shared between modules);
- word size: the same day in steps (tests/e2e/heap_steps.py) on the 64-bit unix port and on
             MicroPython's 32-bit WebAssembly port (the ESP32's word size; npm package fetched
             by `make setup`, run under node), code from the filesystem and from ROMFS: the live
             heap after each step at both word sizes, their ratio, and the loop's smallest heap
             scaled by it — an estimate, because that port collects garbage only between
             top-level calls and so cannot be bisected.

Each smallest heap is found by bisection in 4 KB steps ("-X heapsize=NK"); the live heap after
each phase (gc.mem_alloc after a collection, at a roomy heap) is printed beside it.

Run: .venv/bin/python bench/heap_bench.py [--hours H] [--steps-only]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import MICROPYTHON, MPY_CROSS  # noqa: E402
from tests.e2e import heap_support as hs  # noqa: E402

ROOMY = "2M"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=float, default=6.0, help="length of the drive (default 6)")
    ap.add_argument("--max-kb", type=int, default=512, help="upper end of the bisection")
    ap.add_argument("--steps-only", action="store_true", help="only the word-size comparison")
    args = ap.parse_args()
    if MICROPYTHON is None or MPY_CROSS is None:
        raise SystemExit("needs the micropython and mpy-cross binaries (make setup)")
    mp = MICROPYTHON
    tmp = Path(tempfile.mkdtemp(prefix="qm-heap-"))
    try:
        tree = hs.build_tree(MPY_CROSS, tmp / "device")
        nmea, trips = hs.day_drive(tmp, args.hours)
        end_t = trips[-1].samples[-1].t
        km = sum(t.true_dist_um() for t in trips) / 1e9
        hours = (end_t - trips[0].samples[0].t) / 3600
        print(f"== OBU heap, 64-bit unix port, .mpy from {tree.name}/ ==")
        print(f"  drive: {len(trips)} trips back to back, {hours:.1f} h, {km:.0f} km, 1 Hz NMEA")

        if args.steps_only:
            rom = hs.build_romfs(MPY_CROSS, tmp / "firmware.romfs")
            word_size(mp, tree, rom, nmea, end_t, tmp, {})
            return 0
        # States after each phase, made once at a roomy heap: each phase starts from them.
        be = hs.backend()
        states: dict[str, Path] = {}
        live: dict[str, int] = {}
        with be.serve() as port:
            prev = None
            for phase, arg in (
                ("boot", "-"),
                ("drive", str(nmea)),
                ("seal", str(end_t)),
                ("upload", str(end_t)),
                ("challenge", str(end_t)),
            ):
                cfg, root = hs.new_unit(tmp / f"make-{phase}", port, prev)
                out = hs.run_phase(mp, tree, phase, cfg, root, arg, ROOMY)
                if out is None:
                    raise SystemExit(f"{phase} fails even at {ROOMY}")
                live[phase] = out["alloc"]
                states[phase] = root
                prev = root
        counts = f"{len(be.statements)} statements, {len(be.openings)} openings"

        def phase_works(phase: str, arg: str, template: Path | None) -> object:
            def works(kb: int) -> bool:
                b = hs.backend()
                with b.serve() as port:
                    if phase == "challenge":  # the backend learns the statements first
                        cfg, root = hs.new_unit(tmp / "try", port, states["seal"])
                        if hs.run_phase(mp, tree, "upload", cfg, root, arg, ROOMY) is None:
                            return False
                        template_root = root
                        cfg, root = hs.new_unit(tmp / "try2", port, template_root)
                    else:
                        cfg, root = hs.new_unit(tmp / "try", port, template)
                    out = hs.run_phase(mp, tree, phase, cfg, root, arg, f"{kb}K")
                if out is None or out["errors"]:
                    return False
                if phase == "upload":
                    return out["uploaded"] == len(b.statements) > 0
                if phase == "challenge":
                    return out["answered"] == len(b.issued) == len(b.openings) > 0
                return True

            return works

        print(f"  {'phase':<10} {'smallest heap':>14} {'live at end':>12}")
        plan = (
            ("boot", "-", None),
            ("drive", str(nmea), None),
            ("seal", str(end_t), states["drive"]),
            ("upload", str(end_t), states["seal"]),
            ("challenge", str(end_t), None),
        )
        for phase, arg, template in plan:
            kb = hs.smallest_heap(phase_works(phase, arg, template), hi_k=args.max_kb)  # type: ignore[arg-type]
            shown = f"{kb} KB" if kb else f"> {args.max_kb} KB"
            print(f"  {phase:<10} {shown:>14} {live[phase] / 1024:>10.1f} KB")

        def loop_works(code: Path, image: Path | None = None) -> Callable[[int], bool]:
            """Does the whole loop work at kb KB, code from ``code`` or in place from
            ``image``?"""

            def works(kb: int) -> bool:
                b = hs.backend()
                proc = hs.run_loop(mp, code, nmea, f"{kb}K", tmp / "loop", b, rom=image)
                return hs.loop_ok(proc, b)

            return works

        kb = hs.smallest_heap(loop_works(tree), hi_k=args.max_kb)
        shown = f"{kb} KB" if kb else f"> {args.max_kb} KB"
        print(f"  {'loop':<10} {shown:>14}   (sync every 300 s: {counts} per day)")

        # The same loop with the code executing in place from a ROMFS image (the ESP32's
        # deployment B, hardware/FLASHING.md): what is left is run-time objects and qstrs.
        rom = hs.build_romfs(MPY_CROSS, tmp / "firmware.romfs")

        rom_kb = hs.smallest_heap(loop_works(tree, rom), hi_k=args.max_kb)
        rom_shown = f"{rom_kb} KB" if rom_kb else f"> {args.max_kb} KB"
        image_b = rom.stat().st_size
        print(f"  {'loop, ROMFS':<10} {rom_shown:>14}   (code in place, image {image_b} B)")
        if kb and rom_kb:
            saved = kb - rom_kb
            print(f"  code in place saves {saved} KB ({saved / kb:.0%} of the loop's heap)")
        # Boot, and a day's driving with no sync, alone from a fresh boot with the code in place:
        # what the loop needs beyond them is the network phase's.
        for phase, arg in (("boot", "-"), ("drive", str(nmea))):

            def alone(kb: int, phase: str = phase, arg: str = arg) -> bool:
                cfg, root = hs.new_unit(tmp / "alone", 9)  # (no network: the port is unused)
                out = hs.run_phase(mp, tree, phase, cfg, root, arg, f"{kb}K", rom=rom)
                return out is not None and not out["errors"]

            a_kb = hs.smallest_heap(alone, hi_k=args.max_kb)
            a_shown = f"{a_kb} KB" if a_kb else f"> {args.max_kb} KB"
            print(f"  {phase + ', ROMFS':<10} {a_shown:>14}   (alone, from a fresh boot)")
        # The same two loops with plain mpy-cross (every name its own qstr): what
        # tools/mpy_build.py's shared names save, measured in this run.
        plain = hs.build_tree(MPY_CROSS, tmp / "plain", renamed=False)
        plain_rom = hs.build_romfs(MPY_CROSS, tmp / "plain.romfs", renamed=False)

        for label, image, ours in (("loop", None, kb), ("loop, ROMFS", plain_rom, rom_kb)):
            p_kb = hs.smallest_heap(loop_works(plain, image), hi_k=args.max_kb)
            line = f"  {label + ', plain':<10} {p_kb} KB" if p_kb else f"  {label}: > max"
            if p_kb and ours:
                line += f"   (plain mpy-cross: names cost {p_kb - ours} KB more)"
            print(line)
        print("  issue 3 budget: 96 KB (target 64 KB)")
        word_size(mp, tree, rom, nmea, end_t, tmp, {"filesystem": kb, "ROMFS": rom_kb})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def word_size(
    mp: str, tree: Path, rom: Path, nmea: Path, end_t: int, tmp: Path, loop_kb: dict
) -> None:
    """The same day in steps on the 64-bit unix port and the 32-bit WebAssembly port (the
    ESP32's word size), live heap after each step; the 32-bit smallest heap of the loop is
    estimated as the 64-bit one times the ratio of the two ports' largest live heaps."""
    why = hs.wasm_available()
    if why is not None:
        print(f"  32-bit WebAssembly port skipped: {why}")
        return
    print("\n== live heap after each step, 64-bit unix port vs 32-bit WebAssembly port ==")
    for label, image in (("filesystem", None), ("ROMFS", rom)):
        live: dict[str, dict[str, int]] = {}
        for port in ("unix", "wasm"):
            work = tmp / f"steps-{label}-{port}"
            run = hs.day_in_steps(port, tree, nmea, end_t, work, image, mp)
            live[port] = run.live
        report = run.report
        print(f"  code from the {label}  (sealed uploaded answered errors segments: {report})")
        print(f"    {'step':<22} {'64-bit':>9} {'32-bit':>9} {'ratio':>6}")
        for step, b64 in live["unix"].items():
            b32 = live["wasm"][step]
            print(f"    {step:<22} {b64 / 1024:>6.1f} KB {b32 / 1024:>6.1f} KB {b32 / b64:>6.2f}")
        top64 = max(live["unix"].values())
        top32 = max(live["wasm"].values())
        ratio = top32 / top64
        line = f"    largest: {top64 / 1024:.1f} KB vs {top32 / 1024:.1f} KB, ratio {ratio:.2f}"
        kb = loop_kb.get(label)
        if kb:
            line += f"; the loop's {kb} KB at 64 bits ≈ {kb * ratio:.0f} KB at 32 bits"
        print(line)


if __name__ == "__main__":
    sys.exit(main())

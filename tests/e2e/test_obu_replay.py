"""The real firmware under the real MicroPython binary replays simulated drives and real
receiver captures; its statements verify on the backend's verifier and add up to the fee."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from backend.crypto import ecdsa
from backend.crypto.group import SodiumGroup
from protocol import envelopes, verify
from protocol.errors import UnknownKeyId
from tests.conftest import REPO, SHARED
from tests.e2e import obu_setup


def run_obu(micropython: str, cfg: Path, root: Path, nmea: Path, *extra: str) -> str:
    proc = subprocess.run(
        [micropython, "-m", "firmware.host_main", "--config", str(cfg), "--root", str(root),
         "--nmea", str(nmea), "--quiet", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def sealed_statements(root: Path) -> list[bytes]:
    files = sorted((root / "outbox").glob("*.cose"), key=lambda p: int(p.stem))
    return [p.read_bytes() for p in files]


def obu_key(root: Path) -> bytes:
    from protocol import p256

    return p256.SoftwareSigner(int.from_bytes((root / "obu.key").read_bytes(), "big")).public_key()


def check_chain(envs: list[bytes], pub: bytes):
    def resolve(kid: bytes) -> bytes:
        if kid != __import__("protocol.p256", fromlist=["key_id"]).key_id(pub):
            raise UnknownKeyId(kid.hex())
        return pub

    prev_hash, prev_seq, prev_end = None, None, None
    out = []
    for env in envs:
        st, _ = verify.verify_statement(env, resolve, group=SodiumGroup(), verify=ecdsa.verify)
        verify.check_chain(st, prev_hash, prev_seq)
        if prev_end is not None:
            assert st.period_start == prev_end, "the chain has no holes"
        prev_hash, prev_seq, prev_end = envelopes.statement_hash(env), st.seq, st.period_end
        out.append(st)
    return out


def test_simulated_drives_become_a_verified_statement_chain(micropython: str, tmp_path: Path):
    root = tmp_path / "obu"
    root.mkdir()
    cfg = obu_setup.write_config(tmp_path, period_s=3600)
    policy, _ = obu_setup.install_policy(root)
    data, trips = obu_setup.drive_nmea(6, seed=11)
    nmea = tmp_path / "drive.nmea"
    nmea.write_bytes(data)
    out = run_obu(micropython, cfg, root, nmea)
    assert "errors=0" in out
    statements = check_chain(sealed_statements(root), obu_key(root))
    assert len(statements) >= 2
    sealed_until = statements[-1].period_end
    done = [t for t in trips if t.samples[-1].t < sealed_until]
    assert len(done) >= 3, "the last period is still open; earlier trips are all sealed"
    charged = sum(st.total_price_micro for st in statements)
    true_fee = sum(t.true_fee(policy).total_micro for t in done)
    # Garage driveways are invisible to any receiver (simulator/network.py); the rest of the
    # fee follows the ±1 % distance budget. So: never over, at most a few per cent under.
    assert true_fee * 0.95 <= charged <= true_fee * 1.005, (charged, true_fee)


def test_replay_is_resumable_after_a_restart(micropython: str, tmp_path: Path):
    """Feeding the drive in two runs (a reboot in between) gives one continuous chain."""
    root = tmp_path / "obu"
    root.mkdir()
    cfg = obu_setup.write_config(tmp_path, period_s=3600)
    obu_setup.install_policy(root)
    data, _ = obu_setup.drive_nmea(4, seed=12)
    cut = data.index(b"$", len(data) // 2)
    (tmp_path / "a.nmea").write_bytes(data[:cut])
    (tmp_path / "b.nmea").write_bytes(data[cut:])
    run_obu(micropython, cfg, root, tmp_path / "a.nmea")
    run_obu(micropython, cfg, root, tmp_path / "b.nmea")
    statements = check_chain(sealed_statements(root), obu_key(root))
    assert [st.seq for st in statements] == list(range(len(statements)))


@pytest.mark.parametrize("capture", ["nl2008u.log", "bt451.log", "rst39.log", "ublox-8.log"])
def test_real_receiver_captures_replay_without_error(micropython: str, tmp_path: Path, capture):
    root = tmp_path / "obu"
    root.mkdir()
    cfg = obu_setup.write_config(tmp_path, period_s=None)
    out = run_obu(micropython, cfg, root, SHARED / "nmea" / capture)
    assert out.startswith("summary") or "summary" in out

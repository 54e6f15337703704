"""Firmware in the loop: the in-process and MicroPython modes seal identical statements, the
unit's randomness comes from its seed only, and what the driver reports matches the flash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from protocol import envelopes, p256, verify
from simulator import gnss, nmea_out, trips
from simulator.network import default_policy
from simulator.obu import (
    ObuIdentity,
    Record,
    open_obu,
    prepare_root,
    sealed_statements,
    statement_of,
)
from simulator.obu_driver import DetRng
from tests.conftest import REPO

AUTHORITY = p256.SoftwareSigner(0x5EED0A11)
POLICY = default_policy()


def _drive(seed: int, n: int) -> list[bytes]:
    """NMEA of a commuter's first ``n`` trips, one chunk per trip."""
    ts = trips.commute_trips(seed, days=3)[:n]
    return [
        nmea_out.to_bytes(gnss.epochs(t, gnss.GnssConfig.good(), f"{seed}/{i}"))
        for i, t in enumerate(ts)
    ]


def _run(
    mode: str, tmp: Path, ident: ObuIdentity, drive: list[bytes], period: str | int = 3600
) -> tuple[list[bytes], list[Record]]:
    root = tmp / mode / ident.obu_id
    cfg = prepare_root(
        root,
        ident,
        authority_public_key=AUTHORITY.public_key(),
        policy_envelope=envelopes.sign_policy(POLICY, AUTHORITY),
        install_at=POLICY.valid_from,
        period=period,
    )
    obu = open_obu(mode, ident, root, cfg)  # type: ignore[arg-type]
    records: list[Record] = []
    try:
        for data in drive:
            records += obu.feed(data).records
            obu.sync()  # no network: seals the hours that ended
    finally:
        obu.close()
    return sealed_statements(root), records


def test_det_rng_is_a_sha256_counter_stream() -> None:
    a, b = DetRng(b"s"), DetRng(b"s")
    assert a(10) + a(40) == b(10) + b(40)
    assert DetRng(b"t")(16) != DetRng(b"s")(16)
    assert a.counter == 3  # whole blocks: a request's unused tail is never reused


def test_identity_is_a_function_of_the_seed() -> None:
    a = ObuIdentity("OBU-A", "QM A", 1, "seed/1")
    assert a.public_key() == ObuIdentity("OBU-B", "QM B", 2, "seed/1").public_key()
    assert a.public_key() != ObuIdentity("OBU-A", "QM A", 1, "seed/2").public_key()
    assert a.rng_seed() != ObuIdentity("OBU-A", "QM A", 1, "seed/2").rng_seed()


def test_in_process_and_micropython_seal_identical_statements(
    micropython: str, tmp_path: Path
) -> None:
    ident = ObuIdentity("OBU-MODES", "QM MODES", 1, "modes/1")
    drive = _drive(31, 5)
    cpy, rec_c = _run("inprocess", tmp_path, ident, drive)
    mpy, rec_m = _run("micropython", tmp_path, ident, drive)
    assert len(cpy) >= 3, "hourly periods: several statements"
    assert cpy == mpy, "same seed and NMEA: byte-identical statements"
    assert rec_c == rec_m
    pub = ident.public_key()
    prev = None
    for env in cpy:
        st, _ = verify.verify_statement(env, lambda kid: pub)
        verify.check_chain(st, prev[0] if prev else None, prev[1] if prev else None)
        prev = (envelopes.statement_hash(env), st.seq)
    sealed_until = statement_of(cpy[-1]).period_end
    charged = sum(r.price for r in rec_c if r.t_end < sealed_until)
    assert sum(statement_of(e).total_price_micro for e in cpy) == charged


def test_another_seed_gives_other_commitments(tmp_path: Path) -> None:
    drive = _drive(31, 2)
    a, _ = _run("inprocess", tmp_path / "a", ObuIdentity("OBU-X", "QM X", 1, "x/1"), drive)
    b, _ = _run("inprocess", tmp_path / "b", ObuIdentity("OBU-X", "QM X", 1, "x/2"), drive)
    sa, sb = statement_of(a[0]), statement_of(b[0])
    assert sa.total_price_micro == sb.total_price_micro  # the same driving, priced alike
    assert sa.commitments != sb.commitments  # hidden by other blinds


@pytest.mark.parametrize("mode", ["inprocess", "micropython"])
def test_a_power_cut_loses_at_most_the_open_segment(
    mode: str, micropython: str, tmp_path: Path
) -> None:
    ident = ObuIdentity("OBU-CUT", "QM CUT", 1, "cut/1")
    [data] = _drive(32, 1)
    root = tmp_path / ident.obu_id
    cfg = prepare_root(
        root,
        ident,
        authority_public_key=AUTHORITY.public_key(),
        policy_envelope=envelopes.sign_policy(POLICY, AUTHORITY),
        install_at=POLICY.valid_from,
    )
    obu = open_obu(mode, ident, root, cfg)  # type: ignore[arg-type]
    try:
        half = data.index(b"$GPRMC", len(data) // 2)
        first = obu.feed(data[:half], end=False)
        obu.reboot()
        second = obu.feed(data[half:])
    finally:
        obu.close()
    whole = _run("inprocess", tmp_path / "ref", ident, [data], period="month")[1]
    assert len(first.records) + len(second.records) < len(whole) + 2
    assert sum(r.dist_m for r in first.records + second.records) < sum(r.dist_m for r in whole)


def test_a_big_sync_result_is_written_in_small_pieces(micropython: str) -> None:
    """The driver's answer to ``sync`` carries every opening body of the sync (hex): 200
    openings are ~250 KB of JSON, which must not need one string that size in the unit's heap
    (a 63-day campaign chunk died on a 68 KB line) — under the real MicroPython binary, with
    the line still one JSON document the host parses."""
    script = """
import json, sys
sys.path.insert(0, ".")
from simulator.obu_driver import _write_result
class Out:
    def __init__(self):
        self.parts = []
    def write(self, s):
        self.parts.append(s)
reqs = [["POST", "/api/v1/obu/openings", 900, 300, bytes(range(256)) * 3] for _ in range(200)]
reqs.append(["GET", "/api/v1/obu/challenges?limit=8", 300, 40, None])
out = Out()
_write_result(out, {"sealed": 2, "errors": ["OSError(110)"], "requests": reqs, "rng": 7})
line = "".join(out.parts)
back = json.loads(line)
assert line.endswith("\\n") and line.count("\\n") == 1
assert back["sealed"] == 2 and back["rng"] == 7 and back["errors"] == ["OSError(110)"]
assert len(back["requests"]) == 201 and back["requests"][-1][4] is None
assert back["requests"][0][4] == (bytes(range(256)) * 3).hex()
print(len(line), max(len(p) for p in out.parts))
"""
    proc = subprocess.run(
        [micropython, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    total, biggest = (int(x) for x in proc.stdout.split())
    assert total > 250_000 and biggest < 2_000, (total, biggest)

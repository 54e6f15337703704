"""Privacy invariant (DESIGN §2.1): while no challenge is pending, nothing the OBU sends holds
a coordinate or a time of its trace. The real firmware under the real MicroPython binary
replays a simulated drive and uploads its statements to a backend stand-in that captures every
byte; the test then searches the capture for every trace value the unit recorded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from protocol import cbor, messages, p256
from tests.conftest import REPO
from tests.e2e import obu_setup
from tests.host.fake_backend import FakeBackend


def _needles(v: int) -> list[bytes]:
    # A value as a CBOR integer (5 or 9 bytes here), as decimal text, and as 8-byte binary.
    # Bare 4-byte binary is left out: among the statements' random commitment bytes a given
    # 4-byte pattern turns up by chance often enough to make the test flaky.
    out = [cbor.encode(v), str(v).encode()]
    if v >= 0:
        out += [v.to_bytes(8, "big"), v.to_bytes(8, "little")]
    return out


def _searchable(request: bytes) -> bytes:
    """The request with its signed-request header decoded, so CBOR inside base64 is searched
    too. The header's timestamp (key 4) is the sending time, which the server sees anyway when
    the request arrives; it is taken out (and checked to be the only time there)."""
    import base64

    from protocol import cose

    out = []
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"qm-signed-request:"):
            v = line.split(b":", 1)[1].strip().decode()
            env = base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
            payload = cbor.decode(cose.decode_sign1(env).payload)
            assert set(payload) == {1, 2, 3, 4, 5}
            del payload[4]
            out.append(cbor.encode(payload))
        else:
            out.append(line)
    return b"\n".join(out)


def _trace_values(root: Path) -> tuple[set[int], set[int]]:
    """(coordinates, times) of every recorded segment, read from the unit's own ledger."""
    from firmware.accounting import split_entry
    from firmware.ledger import Store

    store = Store(str(root))
    coords: set[int] = set()
    times: set[int] = set()
    for pid in store.periods():
        for payload in store.open(pid).records():
            rec = messages.SegmentRecord.decode(split_entry(payload)[0])
            times |= {rec.t_start, rec.t_end}
            for dt, lat, lon in rec.trace:
                coords |= {lat, lon}
                times.add(rec.t_start + dt)
    return coords, times


def test_uploads_without_challenge_reveal_no_trace_coordinate_or_time(
    micropython: str, tmp_path: Path
):
    root = tmp_path / "obu"
    root.mkdir()
    data, trips = obu_setup.drive_nmea(5, seed=21)
    end_t = trips[-1].samples[-1].t
    obu_setup.install_policy(root)
    # the unit's key is created by the firmware on first run; pre-create it to know it
    obu_signer = p256.SoftwareSigner(0x0B0E2E)
    (root / "obu.key").write_bytes((0x0B0E2E).to_bytes(32, "big"))
    backend = FakeBackend(obu_setup.AUTHORITY, obu_signer, now=end_t)
    with backend.serve() as port:
        cfg = obu_setup.write_config(
            tmp_path, period_s=3600, backend_url=f"http://127.0.0.1:{port}"
        )
        d = json.loads(cfg.read_text())
        cfg.write_text(json.dumps(d))
        (tmp_path / "drive.nmea").write_bytes(data)
        # network kind "none" keeps Wi-Fi off; the host connector still reaches 127.0.0.1
        proc = subprocess.run(
            [micropython, "-m", "firmware.host_main", "--config", str(cfg), "--root",
             str(root), "--nmea", str(tmp_path / "drive.nmea"), "--quiet", "--net"],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert backend.statements, "statements were uploaded: " + proc.stdout
    wire = b"".join(_searchable(r) for r in backend.requests)
    coords, times = _trace_values(root)
    assert len(coords) > 50 and len(times) > 50
    leaked = [v for v in coords | times for n in _needles(v) if n in wire]
    assert not leaked, f"trace values on the wire: {sorted(set(leaked))[:10]}"

"""A dispute end to end: the real backend on loopback, the real firmware under the real
MicroPython binary, and every byte the unit sends captured on the way.

The unit replays a day of commuting and uploads its hourly statements; its driver disputes the
busiest one through the backend's API (consenting there to open the period); the unit fetches
the authority's signed dispute request and waits for the driver's confirmation on the unit —
nothing of the period leaves it meanwhile; the driver confirms (``yes <id>`` in the host
board's confirm file); the unit streams every opening in batches; the auditor re-verifies the
period and resolves the dispute.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from backend.db.session import session_scope
from backend.services.tokens import create_token
from protocol import cose, envelopes, messages
from simulator import gnss, nmea_out, trips
from simulator.backend import BackendClient, BackendServer, SimClock
from simulator.network import default_policy
from simulator.obu import ObuIdentity, prepare_root
from tests.conftest import REPO
from tests.e2e import obu_setup
from tests.e2e.test_obu_privacy import _needles, _searchable


class CapturingProxy:
    """127.0.0.1 TCP relay to ``port`` that keeps every byte the client sent, per connection."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.sent: list[bytearray] = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self._stop = False

    def take(self) -> list[bytes]:
        """The requests captured since the last take."""
        with self.lock:
            out = [bytes(b) for b in self.sent]
            self.sent.clear()
        return out

    def _pump(self, src: socket.socket, dst: socket.socket, keep: bytearray | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if keep is not None:
                    with self.lock:
                        keep.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            keep = bytearray()
            with self.lock:
                self.sent.append(keep)
            threading.Thread(target=self._pump, args=(client, upstream, keep), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @contextmanager
    def running(self) -> Iterator[CapturingProxy]:
        t = threading.Thread(target=self._serve, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop = True
            self.sock.close()
            t.join(5)


def _nmea(trip: trips.Trip, seed: int, first: int = 0, last: int | None = None) -> bytes:
    eps = list(gnss.epochs(trip, gnss.GnssConfig.good(), seed))[first:last]
    return nmea_out.to_bytes(eps)


def _run(micropython: str, cfg: Path, root: Path, nmea: bytes, tmp: Path) -> str:
    path = tmp / "in.nmea"
    path.write_bytes(nmea)
    proc = subprocess.run(
        [micropython, "-m", "firmware.host_main", "--config", str(cfg), "--root", str(root),
         "--nmea", str(path), "--quiet", "--net", "--sync-every", "1000000000"],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _period_values(root: Path, period_start: int) -> set[int]:
    """Every coordinate and time of the period's segments, from the unit's own ledger."""
    from firmware.accounting import split_entry
    from firmware.ledger import Store

    out: set[int] = set()
    for payload in Store(str(root)).open(period_start).records():
        rec = messages.SegmentRecord.decode(split_entry(payload)[0])
        out |= {rec.t_start, rec.t_end}
        for dt, lat, lon in rec.trace:
            out |= {lat, lon, rec.t_start + dt}
    return out


def test_a_disputed_period_is_opened_only_after_the_driver_confirms_on_the_unit(
    micropython: str, tmp_path: Path
) -> None:
    day = obu_setup.day_trips(1.5, seed=41)  # back-to-back loops: busy hourly periods
    morning = obu_setup.day_trips(0.05, seed=42, t0=day[-1].end_t + 6 * 3600)[0]
    clock = SimClock(day[0].start_t - 86400)
    server = BackendServer(tmp_path / "backend", clock)
    with server, CapturingProxy(server.port).running() as proxy:
        client = BackendClient(server.url, server.token("operator"), server.token("auditor"))
        policy = default_policy()
        client.publish_policy(policy)
        driver_id = client.create_driver("the disputing driver")
        vehicle_id = client.create_vehicle("DSP-001", 1, driver_id)
        unit = ObuIdentity("OBU-DSP-1", "DSP-001", 1, "e2e-disputes")
        prov = client.register_obu(unit.obu_id, unit.public_key(), vehicle_id)
        root = tmp_path / "obu"
        cfg = prepare_root(
            root,
            unit,
            authority_public_key=bytes.fromhex(prov["authority_public_key"]),
            policy_envelope=client.policy_envelope(day[0].start_t),
            install_at=day[0].start_t - 3600,
            backend_url=f"http://127.0.0.1:{proxy.port}",
            period=3600,
            chain=(prov["chain"]["next_seq"], bytes.fromhex(prov["chain"]["prev_hash"])),
        )
        conf = json.loads(cfg.read_text())
        conf["disputes"] = {"batch_bytes": 4096, "batches_per_sync": 50}  # several batches
        cfg.write_text(json.dumps(conf))
        with session_scope(server.app.state.quietmile.session_factory) as s:
            _row, driver_token = create_token(s, "driver", int(clock()), driver_id, "e2e")
        as_driver = {"Authorization": f"Bearer {driver_token}"}
        auditor = client._aud

        # 1. An hour and a half of driving, uploaded at the end.
        clock.set(day[-1].end_t + 30)
        drive = b"".join(_nmea(t, 1 + i) for i, t in enumerate(day))
        out = _run(micropython, cfg, root, drive, tmp_path)
        assert "errors=0" in out, out
        proxy.take()
        sealed = sorted((root / "outbox").glob("*.cose"), key=lambda p: int(p.stem))
        by_count = []
        for p in sealed:
            env = p.read_bytes()
            st = messages.Statement.decode(cose.decode_sign1(env).payload)
            by_count.append((st.segment_count, st.seq, st, envelopes.statement_hash(env)))
        n, seq, statement, st_hash = max(by_count, key=lambda x: x[:2])
        assert n >= 4, by_count

        # 2. The driver disputes it at the backend, consenting to open the period.
        r = httpx.post(
            f"{server.url}/api/v1/disputes",
            json={
                "statement_hash": st_hash.hex(),
                "reason": "I was not driving that much",
                "consent_to_open_period": True,
            },
            headers=as_driver,
        )
        assert r.status_code == 201, r.text
        did = r.json()["dispute_id"]

        # 3. The unit syncs (the next drive's first minute): it verifies the request and
        #    asks; nothing of the period leaves it.
        clock.set(morning.start_t + 60)
        out = _run(micropython, cfg, root, _nmea(morning, 3, 0, 60), tmp_path)
        assert f"[dispute] {did} waits for confirmation" in out, out
        assert f"dispute {did} waiting 0/{n}" in out, out
        wire = b"".join(_searchable(req) for req in proxy.take())
        assert b"/openings" not in wire
        secret = _period_values(root, statement.period_start)
        assert len(secret) > 50
        leaked = [v for v in secret for needle in _needles(v) if needle in wire]
        assert not leaked, f"period values on the wire before confirmation: {sorted(leaked)[:10]}"
        d = httpx.get(f"{server.url}/api/v1/disputes/{did}", headers=as_driver).json()
        assert d["openings_received"] == 0

        # 4. The driver confirms on the unit; the next sync uploads the whole period.
        (root / "confirm").write_text(f"yes {did[:8]}\n")
        clock.set(morning.start_t + 130)
        out = _run(micropython, cfg, root, _nmea(morning, 3, 60, 120), tmp_path)
        assert f"dispute {did} opened {n}/{n}" in out, out
        assert not (root / "confirm").exists()
        wire = b"".join(_searchable(req) for req in proxy.take())
        posts = wire.count(f"POST /api/v1/obu/disputes/{did}/openings".encode())
        assert posts >= 2, "the period went up in several batches"
        shown = [v for v in secret if any(needle in wire for needle in _needles(v))]
        assert len(shown) > len(secret) // 2, "now the period is on the wire: step 3 can fail"
        # The driver's record on the unit: the request as received and what became of it.
        from firmware.disputes import OPENED, records

        [rec] = [x for x in records(str(root)) if x.id_hex == did]
        assert (rec.state, rec.statement_seq, rec.next_index) == (OPENED, seq, n)
        assert rec.answered_at is not None and rec.done_at is not None
        assert (root / "disputes" / f"{did}.req").exists()

        # 5. The backend has every segment; the auditor re-verifies and resolves.
        d = httpx.get(f"{server.url}/api/v1/disputes/{did}", headers=as_driver).json()
        assert (d["openings_received"], d["segment_count"]) == (n, n)
        r = httpx.post(f"{server.url}/api/v1/disputes/{did}/verify", headers=auditor)
        assert r.status_code == 200, r.text
        report = r.json()["report"]
        assert report["all_verified"] and report["sum_matches"], report
        assert report["opened_total_micro"] == statement.total_price_micro
        r = httpx.post(
            f"{server.url}/api/v1/disputes/{did}/resolve",
            json={"resolution": "rejected", "reasons": "every segment verifies; the bill stands"},
            headers=auditor,
        )
        assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
        client.close()

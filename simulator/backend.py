"""The real backend in the loop: served on loopback by uvicorn in a thread, on a simulated clock.

:class:`BackendServer` builds ``backend.main.create_app`` with its own settings (SQLite in a
work directory by default; ``DATABASE_URL`` / ``QUIETMILE_DATABASE_URL`` are honoured), binds
127.0.0.1 on a free port and serves it from a daemon thread. Its clock is a :class:`SimClock`
the simulator moves forward: the trips are simulated days and months, and everything that
compares times — signed OBU requests (±300 s of GNSS time), sightings not in the future,
challenge deadlines — must see simulated time, not the wall clock.

Tokens for the operator and the auditor are created through the service layer
(backend.services.tokens), as ``python -m backend.cli create-token`` does; everything else —
drivers, vehicles, OBU provisioning, the tariff policy, sightings, audits, jobs, reading
outcomes — goes over HTTP through :class:`BackendClient`, which also times every call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from backend.core.config import Settings
from backend.db.session import session_scope
from backend.main import create_app
from backend.services.policies import form_from_policy
from backend.services.tokens import create_token
from protocol import tariff


class BackendError(RuntimeError):
    """The backend refused a simulator call, or did not come up."""

    def __init__(self, what: str, status: int, body: str) -> None:
        super().__init__(f"{what}: HTTP {status} {body[:500]}")
        self.status = status
        self.body = body


class SimClock:
    """The backend's clock: simulated Unix time, moved by the simulator (thread-safe)."""

    def __init__(self, t: float) -> None:
        self._t = float(t)
        self._lock = threading.Lock()

    def set(self, t: float) -> None:
        with self._lock:
            self._t = float(t)

    def __call__(self) -> float:
        with self._lock:
            return self._t


def database_url_from_env() -> str | None:
    """``QUIETMILE_DATABASE_URL`` (wins) or ``DATABASE_URL``, as the backend reads them."""
    return os.environ.get("QUIETMILE_DATABASE_URL") or os.environ.get("DATABASE_URL") or None


class BackendServer:
    """The backend on 127.0.0.1:<free port>, served from a thread (see the module docstring).

    ``settings`` overrides (e.g. ``challenge_deadline_s``) go to backend.core.config.Settings.
    Scheduled audits are off by default (``audit_rate_permille=0``): the simulator requests
    audits itself through the API, so which statements get audited follows its seed.
    """

    def __init__(
        self,
        workdir: Path,
        clock: SimClock,
        *,
        database_url: str | None = None,
        **settings: Any,
    ) -> None:
        self.workdir = workdir
        self.clock = clock
        url = database_url or database_url_from_env() or f"sqlite:///{workdir / 'backend.db'}"
        self.database_url = url
        opts: dict[str, Any] = {
            "database_url": url,
            "key_dir": workdir / "keys",
            "audit_rate_permille": 0,
            "log_level": "WARNING",
            "log_json": True,
        }
        opts.update(settings)
        self.settings = Settings(**opts)
        # The backend logs every request at INFO: far too much for a fleet run.
        logging.getLogger("quietmile").setLevel(logging.WARNING)
        self.app = create_app(self.settings, clock=clock)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it (Linux): without it, keep-alive responses written
        # in two parts wait for the client's delayed ACK, 40 ms per simulator call.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="backend", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        return (
            Path(self.database_url[len(prefix) :]) if self.database_url.startswith(prefix) else None
        )

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout_s: float = 30.0) -> BackendServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BackendError("backend did not start", 0, "")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._sock.close()
        self.app.state.quietmile.engine.dispose()

    def __enter__(self) -> BackendServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def token(self, role: str, label: str = "simulator") -> str:
        """A new API token for ``role`` (operator, auditor, dpo), via the service layer."""
        factory = self.app.state.quietmile.session_factory
        with session_scope(factory) as session:
            _row, secret = create_token(session, role, int(self.clock()), None, label)
        return secret

    def authority_public_key(self) -> bytes:
        return bytes(self.app.state.quietmile.signer.public_key())


@dataclass
class CallStats:
    """Calls the simulator made, by kind: count and wall seconds (backend load)."""

    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, kind: str, dt: float) -> None:
        self.count[kind] += 1
        self.seconds[kind] += dt


def post_statement(url: str, envelope: bytes, timeout_s: float = 60.0) -> tuple[int, str]:
    """POST a statement envelope as an OBU would (a cheating unit's own uplink);
    (HTTP status, the backend's error code or "")."""
    r = httpx.post(
        url + "/api/v1/statements",
        content=envelope,
        headers={"content-type": "application/cose"},
        timeout=timeout_s,
    )
    code = ""
    if r.status_code >= 400:
        try:
            code = str(r.json().get("error", ""))
        except ValueError:
            code = f"http_{r.status_code}"
    return r.status_code, code


class BackendClient:
    """The simulator's operator and auditor, over HTTP."""

    def __init__(self, url: str, operator_token: str, auditor_token: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120.0)
        self._op = {"Authorization": f"Bearer {operator_token}"}
        self._aud = {"Authorization": f"Bearer {auditor_token}"}
        self.stats = CallStats()

    def close(self) -> None:
        self.http.close()

    def _call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201),
        **kw: Any,
    ) -> httpx.Response:
        t0 = time.perf_counter()
        r = self.http.request(method, path, **kw)
        self.stats.add(kind, time.perf_counter() - t0)
        if r.status_code not in ok:
            raise BackendError(f"{method} {path}", r.status_code, r.text)
        return r

    # --- operator: registry and policy ----------------------------------------------------------
    def create_driver(self, name: str) -> int:
        r = self._call("registry", "POST", "/api/v1/drivers", json={"name": name}, headers=self._op)
        return int(r.json()["id"])

    def create_vehicle(self, plate: str, vehicle_class: int, driver_id: int) -> int:
        body = {"plate": plate, "vehicle_class": vehicle_class, "driver_id": driver_id}
        r = self._call("registry", "POST", "/api/v1/vehicles", json=body, headers=self._op)
        return int(r.json()["id"])

    def register_obu(self, obu_id: str, public_key: bytes, vehicle_id: int) -> dict[str, Any]:
        body = {"obu_id": obu_id, "public_key": public_key.hex(), "vehicle_id": vehicle_id}
        r = self._call("registry", "POST", "/api/v1/obus", json=body, headers=self._op)
        out: dict[str, Any] = r.json()
        return out

    def publish_policy(self, policy: tariff.TariffPolicy) -> str:
        form = form_from_policy(policy).model_dump()
        r = self._call("policy", "POST", "/api/v1/policies", json=form, headers=self._op)
        pid = str(r.json()["policy_id"])
        self._call("policy", "POST", f"/api/v1/policies/{pid}/publish", headers=self._op)
        return pid

    def policy_envelope(self, at: int) -> bytes:
        r = self._call("policy", "GET", "/api/v1/policies/current", params={"at": at})
        return r.content

    def vehicle_statements(self, vehicle_id: int) -> list[dict[str, Any]]:
        r = self._call("read", "GET", f"/api/v1/vehicles/{vehicle_id}/statements", headers=self._op)
        out: list[dict[str, Any]] = r.json()
        return out

    def aggregates(self) -> dict[str, Any]:
        r = self._call("read", "GET", "/api/v1/aggregates", headers=self._op)
        out: dict[str, Any] = r.json()
        return out

    # --- auditor ---------------------------------------------------------------------------------
    def post_sighting(
        self, camera_id: str, plate: str, lat_e7: int, lon_e7: int, seen_at: int, accuracy_mm: int
    ) -> dict[str, Any]:
        body = {
            "camera_id": camera_id,
            "plate": plate,
            "lat_e7": lat_e7,
            "lon_e7": lon_e7,
            "seen_at": seen_at,
            "accuracy_mm": accuracy_mm,
        }
        r = self._call("sighting", "POST", "/api/v1/sightings", json=body, headers=self._aud)
        out: dict[str, Any] = r.json()
        return out

    def sighting(self, sighting_id: int) -> dict[str, Any]:
        r = self._call("read", "GET", f"/api/v1/sightings/{sighting_id}", headers=self._aud)
        out: dict[str, Any] = r.json()
        return out

    def audit(self, statement_hashes: list[str], segments: int) -> dict[str, Any]:
        body = {"statement_hashes": statement_hashes, "segments_per_statement": segments}
        r = self._call("audit", "POST", "/api/v1/audits", json=body, headers=self._aud)
        out: dict[str, Any] = r.json()
        return out

    def process_sightings(self) -> dict[str, Any]:
        r = self._call("job", "POST", "/api/v1/jobs/process-sightings", headers=self._aud)
        out: dict[str, Any] = r.json()
        return out

    def expire_challenges(self) -> int:
        r = self._call("job", "POST", "/api/v1/jobs/expire-challenges", headers=self._aud)
        return int(r.json()["expired"])

    def challenges(self, vehicle_id: int | None = None) -> list[dict[str, Any]]:
        """Every challenge (of one vehicle), paging through the list endpoint."""
        out: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": 1000, "offset": len(out)}
            if vehicle_id is not None:
                params["vehicle_id"] = vehicle_id
            r = self._call("read", "GET", "/api/v1/challenges", params=params, headers=self._aud)
            page = r.json()
            out.extend(page)
            if len(page) < 1000:
                return out

    def metrics_text(self) -> str:
        return self._call("read", "GET", "/metrics").text

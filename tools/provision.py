"""Provision an OBU: its key made on the unit, registered with the backend, and the certificate,
config and tariff policy installed on it — ``python -m tools.provision --help``.

The steps (hardware/PROVISIONING.md has the procedure around them):

1. check the backend answers and the token is an operator's;
2. read the unit's status (firmware/provision.py on the unit); a unit already provisioned as
   this OBU id stops here ("already provisioned"; a newer tariff policy is installed if any);
3. make the key on the unit (ATECC608 GenKey, or a key file from the board's RNG) unless it
   has one — ``--rekey`` makes a new one — read the public key, and have the unit sign a
   random challenge that is verified here (the key the backend registers is the one it signs
   with);
4. find the vehicle by plate (or register it with ``--driver-id``), then register the OBU —
   or, with ``--rekey`` / ``--replaces OLD``, replace OLD so the new unit continues the
   vehicle's statement chain — and receive the authority-signed certificate;
5. install on the unit: the config (the template's settings plus the OBU id, class, authority
   key and chain start), the certificate, the signed tariff policies valid now and next;
6. read the status back and check it names this OBU and key.

Every step can be re-run: an interrupted run resumes (an OBU registered with this unit's key is
fetched again with ``GET /api/v1/obus/{id}/provisioning``), and a new key is never made
without ``--rekey``.

Transports: :class:`MpremoteTransport` (a board on a serial port; ``mpremote`` is in the dev
extras) runs ``mpremote connect PORT fs cp … + exec …``; :class:`HostTransport` runs the same
code under the unix ``micropython`` binary against a folder that stands for the unit's flash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
PREFIX = "QMPROV "  # firmware/provision.py's result line
PERIODS = {"month": "month", "week": 7 * 86400, "day": 86400}  # backend period_length → config


# --- errors ----------------------------------------------------------------------------------


class ProvisionError(Exception):
    """Provisioning stopped; the message says why and what to do. ``exit_code`` per kind."""

    exit_code = 1
    kind = "provisioning failed"


class BackendUnreachable(ProvisionError):
    exit_code = 3
    kind = "backend unreachable"


class TokenRefused(ProvisionError):
    exit_code = 4
    kind = "token refused"


class DeviceNotAnswering(ProvisionError):
    exit_code = 5
    kind = "device not answering"


class DeviceRefused(ProvisionError):
    """The unit refused a step (firmware/provision.py's error code)."""

    exit_code = 6
    kind = "device refused"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class DuplicateObuId(ProvisionError):
    exit_code = 7
    kind = "duplicate OBU id"


class BackendRefused(ProvisionError):
    exit_code = 8
    kind = "backend refused"

    def __init__(self, what: str, status: int, code: str, detail: Any) -> None:
        super().__init__(f"{what}: HTTP {status} {code}: {detail}")
        self.status = status
        self.code = code


class Mismatch(ProvisionError):
    """The unit, the request and the backend disagree (another identity, class, authority)."""

    exit_code = 9
    kind = "mismatch"


# --- transports ------------------------------------------------------------------------------


class Transport(ABC):
    """How the tool reaches a unit: copy files to it and run Python on it."""

    root: str  # the unit's data folder (device path)
    config_path: str  # the unit's config file (device path)

    @abstractmethod
    def stage_path(self, name: str) -> str:
        """Device path where an input file for a command is copied."""

    @abstractmethod
    def run(self, code: str, files: Mapping[str, bytes]) -> str:
        """Copy ``files`` (device path → bytes), run ``code`` on the unit; its output."""

    @abstractmethod
    def describe(self) -> str: ...


def _venv_tool(name: str) -> str | None:
    cand = Path(sys.executable).parent / name
    return str(cand) if cand.exists() else shutil.which(name)


def _run_process(cmd: list[str], what: str, timeout_s: float, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=cwd)
    except FileNotFoundError:
        raise DeviceNotAnswering(f"{cmd[0]} not found (`make setup` installs it)") from None
    except subprocess.TimeoutExpired:
        raise DeviceNotAnswering(f"{what}: no answer within {timeout_s:.0f} s") from None
    if proc.returncode != 0 and PREFIX not in proc.stdout:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise DeviceNotAnswering(f"{what}: exit {proc.returncode}{_hint(tail)}: {tail}")
    return proc.stdout


def _hint(output: str) -> str:
    if "no module named 'firmware" in output.lower():
        return " (the firmware is not on the unit: copy the device bundle first)"
    return ""


@dataclass
class MpremoteTransport(Transport):
    """A board on a serial port, through ``mpremote`` (the unit's main.py is interrupted)."""

    port: str
    mpremote: str = field(default_factory=lambda: _venv_tool("mpremote") or "mpremote")
    root: str = "/qm"
    config_path: str = "/config.json"
    stage_dir: str = ""  # the device's root folder
    timeout_s: float = 120.0

    def stage_path(self, name: str) -> str:
        return f"{self.stage_dir}/qmprov-{name}"

    def command(self, code: str, local_files: Mapping[str, Path]) -> list[str]:
        """The mpremote command line: one connection, copies chained with ``+``, then exec."""
        cmd = [self.mpremote, "connect", self.port]
        for remote, local in local_files.items():
            cmd += ["fs", "cp", str(local), ":" + remote, "+"]
        return [*cmd, "exec", code]

    def run(self, code: str, files: Mapping[str, bytes]) -> str:
        with tempfile.TemporaryDirectory(prefix="qm-provision-") as tmp:
            local = {}
            for i, (remote, data) in enumerate(files.items()):
                p = Path(tmp) / f"{i}-{Path(remote).name}"
                p.write_bytes(data)
                local[remote] = p
            return _run_process(
                self.command(code, local), f"mpremote on {self.port}", self.timeout_s
            )

    def describe(self) -> str:
        return f"board on {self.port} (mpremote)"


@dataclass
class HostTransport(Transport):
    """firmware/provision.py under the unix ``micropython`` binary, with ``device_dir``
    standing for the unit's flash: ``<device_dir>/config.json`` and ``<device_dir>/qm``
    (run the unit afterwards with ``micropython -m firmware.host_main --config
    <device_dir>/config.json --root <device_dir>/qm``). ``code_dir`` holds the firmware
    (the repository, or an unpacked device bundle)."""

    device_dir: Path
    micropython: str = field(default_factory=lambda: _venv_tool("micropython") or "micropython")
    code_dir: Path = REPO
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        self.device_dir = Path(self.device_dir).resolve()
        self.root = str(self.device_dir / "qm")
        self.config_path = str(self.device_dir / "config.json")

    def stage_path(self, name: str) -> str:
        return str(self.device_dir / f"qmprov-{name}")

    def run(self, code: str, files: Mapping[str, bytes]) -> str:
        self.device_dir.mkdir(parents=True, exist_ok=True)
        for remote, data in files.items():
            Path(remote).write_bytes(data)
        return _run_process(
            [self.micropython, "-c", code], "micropython", self.timeout_s, cwd=self.code_dir
        )

    def describe(self) -> str:
        return f"host unit in {self.device_dir} (micropython)"


def device_call(
    transport: Transport, *args: str, files: Mapping[str, bytes] | None = None
) -> dict[str, Any]:
    """Run one firmware/provision.py command on the unit; its result, or DeviceRefused."""
    argv = [*args, "--root", transport.root, "--config", transport.config_path]
    code = f"from firmware import provision; provision.main({json.dumps(argv)})"
    out = transport.run(code, files or {})
    lines = [ln for ln in out.splitlines() if ln.startswith(PREFIX)]
    if not lines:
        raise DeviceNotAnswering(
            f"{transport.describe()}: no result from `{args[0]}`{_hint(out)}: {out.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(PREFIX) :])
    if not result.get("ok"):
        raise DeviceRefused(str(result.get("error")), str(result.get("detail")))
    return result


def device_install(
    transport: Transport, command: str, name: str, data: bytes, *extra: str
) -> dict[str, Any]:
    path = transport.stage_path(name)
    return device_call(transport, command, path, *extra, files={path: data})


# --- backend ---------------------------------------------------------------------------------


class Backend:
    """The backend's registry API as an operator sees it."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.TransportError as e:
            raise BackendUnreachable(f"{self.url}: {type(e).__name__}: {e}") from None
        if r.status_code in ok:
            return r
        try:
            body = r.json()
            code, detail = str(body.get("error", "")), body.get("detail", "")
        except ValueError:
            code, detail = f"http_{r.status_code}", r.text[:300]
        if r.status_code in (401, 403):
            raise TokenRefused(f"{method} {path}: HTTP {r.status_code} {code}: {detail}")
        raise BackendRefused(f"{method} {path}", r.status_code, code, detail)

    def check(self) -> str:
        """The backend is up and the token is an operator's; returns the authority kid."""
        health = self.call("GET", "/health", ok=(200, 503)).json()
        if health.get("status") != "ok":
            raise BackendRefused("GET /health", 503, str(health.get("status")), health)
        me = self.call("GET", "/api/v1/tokens/me").json()
        if me.get("role") != "operator":
            raise TokenRefused(
                f"the token is a {me.get('role')}'s; provisioning needs an operator's"
            )
        return str(health.get("authority_kid", ""))

    def vehicle_by_plate(self, plate: str) -> dict[str, Any] | None:
        want = plate.strip().upper()
        for v in self.call("GET", "/api/v1/vehicles").json():
            if v["plate"] == want:
                return dict(v)
        return None

    def create_vehicle(self, plate: str, vehicle_class: int, driver_id: int) -> dict[str, Any]:
        body = {"plate": plate, "vehicle_class": vehicle_class, "driver_id": driver_id}
        return dict(self.call("POST", "/api/v1/vehicles", json=body).json())

    def obu(self, obu_id: str) -> dict[str, Any] | None:
        r = self.call("GET", f"/api/v1/obus/{obu_id}", ok=(200, 404))
        return None if r.status_code == 404 else dict(r.json())

    def register(self, obu_id: str, public_key: str, vehicle_id: int) -> dict[str, Any]:
        body = {"obu_id": obu_id, "public_key": public_key, "vehicle_id": vehicle_id}
        return dict(self.call("POST", "/api/v1/obus", json=body).json())

    def replace(self, old: str, new: str, public_key: str, reason: str) -> dict[str, Any]:
        body = {"obu_id": new, "public_key": public_key, "reason": reason}
        return dict(self.call("POST", f"/api/v1/obus/{old}/replace", json=body).json())

    def provisioning(self, obu_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/obus/{obu_id}/provisioning").json())

    def policies_for(self, now: int) -> list[tuple[dict[str, Any], bytes]]:
        """The published policies a unit should hold at ``now``: the one in force (newest)
        and the next announced one, each with its signed envelope."""
        rows = self.call("GET", "/api/v1/policies").json()
        current = [p for p in rows if p["valid_from"] <= now < p["valid_until"]]
        later = [p for p in rows if p["valid_from"] > now]
        pick = []
        if current:
            pick.append(max(current, key=lambda p: p["version"]))
        if later:
            pick.append(min(later, key=lambda p: p["valid_from"]))
        out = []
        for p in pick:
            env = self.call("GET", f"/api/v1/policies/{p['policy_id']}/envelope").content
            out.append((p, env))
        return out


# --- the flow --------------------------------------------------------------------------------


@dataclass
class Request:
    """What to provision. ``template``: config settings for the unit (network, gnss, status,
    period, retention_days, backend_url); the identity fields come from the registration."""

    obu_id: str
    plate: str
    vehicle_class: int | None = None
    driver_id: int | None = None
    template: dict[str, Any] = field(default_factory=dict)
    device_backend_url: str | None = None
    authority_key: str | None = None  # pinned authority public key (hex), checked if given
    rekey: bool = False
    require_chip: bool = False  # refuse a unit whose ATECC608 does not answer
    replaces: str | None = None
    reason: str = "replaced at provisioning"
    now: int | None = None


@dataclass
class Outcome:
    action: str  # "provisioned", "replaced", "resumed" or "already provisioned"
    obu_id: str
    signer: str
    public_key: str
    kid: str
    vehicle_id: int
    policies: list[int]
    status: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _kid(public_key_hex: str) -> str:
    from protocol import p256

    try:
        return str(p256.key_id(bytes.fromhex(public_key_hex)).hex())
    except ValueError:
        raise ProvisionError("--authority-key: not a hex public key") from None


def check_signature(public_key_hex: str, sign: Callable[[bytes], str]) -> None:
    """The unit signs SHA-256 of a random challenge; verify it here with OpenSSL."""
    from backend.crypto import ecdsa

    challenge = b"quietmile/provision/check/" + os.urandom(16)
    sig = bytes.fromhex(sign(hashlib.sha256(challenge).digest()))
    if not ecdsa.verify(bytes.fromhex(public_key_hex), challenge, sig):
        raise DeviceRefused("bad_signature", "the unit's signature does not verify under its key")


def check_certificate(cert: bytes, authority_key: bytes, public_key: str, obu_id: str) -> int:
    """Verify the certificate the backend issued before it goes to the unit; its class."""
    from backend.crypto import ecdsa
    from protocol import envelopes, labels, messages, p256

    kid = p256.key_id(authority_key)
    try:
        c, _ = envelopes.open_message(
            cert,
            messages.ObuCertificate,
            lambda k: authority_key if k == kid else None,
            labels.CTY_OBU_CERTIFICATE,
            verify=ecdsa.verify,
        )
    except ValueError as e:
        raise Mismatch(f"the backend's certificate does not verify: {e}") from None
    if c.public_key.hex() != public_key or c.obu_id != obu_id:
        raise Mismatch("the backend's certificate names another key or OBU id")
    return int(c.vehicle_class)


def build_config(
    req: Request, backend_url: str, prov: dict[str, Any], vehicle_class: int
) -> dict[str, Any]:
    """The unit's config: the template, then what the registration fixed (the class is the
    certificate's)."""
    from firmware import config

    cfg = dict(req.template)
    cfg.setdefault("period", PERIODS.get(prov["period_length"], "month"))
    cfg.setdefault("network", {"kind": "none"})
    if req.device_backend_url:
        cfg["backend_url"] = req.device_backend_url
    cfg.setdefault("backend_url", backend_url)
    cfg.update(
        obu_id=prov["obu_id"],
        vehicle_class=vehicle_class,
        authority_public_key=prov["authority_public_key"],
        chain={"next_seq": prov["chain"]["next_seq"], "prev_hash": prov["chain"]["prev_hash"]},
    )
    try:
        config.Config(cfg)
    except config.ConfigError as e:
        raise ProvisionError(f"the unit's config would be invalid: {e}") from None
    return cfg


def install_policies(
    transport: Transport,
    backend: Backend,
    now: int,
    say: Callable[[str], None],
    held: dict[str, Any] | None = None,
) -> list[int]:
    """Install the policies the backend has for ``now``; the versions the unit holds after."""
    have = {(p or {}).get("policy_id") for p in (held or {}).values()}
    versions = []
    for p, env in backend.policies_for(now):
        versions.append(int(p["version"]))
        if p["policy_id"] in have:
            say(f"tariff policy v{p['version']} already held")
            continue
        device_install(transport, "install-policy", "policy.cose", env, "--now", str(now))
        say(f"tariff policy v{p['version']} installed ({p['policy_id'][:16]}…)")
    return versions


def provision(
    transport: Transport,
    backend: Backend,
    req: Request,
    say: Callable[[str], None] = lambda s: None,
) -> Outcome:
    """The whole flow (module docstring). Raises a ProvisionError subclass on any refusal."""
    now = int(time.time()) if req.now is None else req.now
    authority_kid = backend.check()
    say(f"backend {backend.url}: up, operator token accepted")
    if req.authority_key is not None and _kid(req.authority_key) != authority_kid:
        raise Mismatch(f"the backend signs with kid {authority_kid}, not the pinned key's")

    st = device_call(transport, "status", "--now", str(now))
    say(f"{transport.describe()}: answering, {'with' if st.get('chip') else 'no'} ATECC608")
    if req.require_chip and not st.get("chip"):
        raise DeviceRefused("no_chip", "the ATECC608 does not answer on the I2C bus")
    if req.require_chip and st.get("signer") == "software":
        raise DeviceRefused("software_key", "the chip answers but the unit signs with a key file")
    current_id = (st.get("config") or {}).get("obu_id")
    replaces = req.replaces
    if req.rekey:
        replaces = replaces or current_id
        if replaces is None:
            raise ProvisionError("--rekey replaces the unit's OBU id, and it has none: --replaces")
    if replaces is not None and replaces == req.obu_id:
        raise ProvisionError("a replacement needs a new OBU id: the backend never reuses one")

    if st.get("provisioned") and not req.rekey:
        if current_id == req.obu_id:
            return _already(transport, backend, req, st, now, say)
        raise Mismatch(
            f"the unit is provisioned as {current_id}: give it the identity {req.obu_id} "
            "with --rekey (its key stays registered to the old id otherwise)"
        )

    # Before anything changes on the unit: is the id free (or ours, from an interrupted run)?
    existing = backend.obu(req.obu_id)
    if existing is not None and existing["public_key"] == st.get("public_key") and req.rekey:
        raise ProvisionError(
            f"OBU {req.obu_id} is registered with this unit's current key: an earlier --rekey "
            "run was interrupted; run again without --rekey to finish it"
        )
    if existing is not None and existing["public_key"] != st.get("public_key"):
        raise DuplicateObuId(
            f"OBU {req.obu_id} is already registered with another key (kid {existing['kid']})"
        )
    old = None
    if replaces is not None and existing is None:
        old = backend.obu(replaces)
        if old is None:
            raise BackendRefused(f"GET /api/v1/obus/{replaces}", 404, "not_found", "no such OBU")
        if old["replaced_by"] is not None:
            raise Mismatch(f"OBU {replaces} was already replaced by {old['replaced_by']}")

    vehicle = backend.vehicle_by_plate(req.plate)
    if vehicle is None:
        if req.driver_id is None or req.vehicle_class is None:
            raise Mismatch(
                f"no vehicle with plate {req.plate}: pass --driver-id and --vehicle-class to "
                "register it"
            )
        vehicle = backend.create_vehicle(req.plate, req.vehicle_class, req.driver_id)
        say(f"vehicle {vehicle['plate']} registered (id {vehicle['id']})")
    if req.vehicle_class is not None and vehicle["vehicle_class"] != req.vehicle_class:
        raise Mismatch(
            f"vehicle {vehicle['plate']} is class {vehicle['vehicle_class']}, "
            f"not {req.vehicle_class}"
        )
    if old is not None and old["vehicle_id"] != vehicle["id"]:
        raise Mismatch(f"OBU {replaces} belongs to another vehicle than {vehicle['plate']}")

    key = device_call(transport, "key", *(["--rekey"] if req.rekey else []))
    pub = str(key["public_key"])
    made = "made" if key["created"] else "already there"
    say(f"key ({key['signer']}): {made}, kid {key['kid']}")
    check_signature(pub, lambda d: str(device_call(transport, "sign", d.hex())["signature"]))
    say("the unit signs with that key (signature verified here)")

    if existing is not None:
        if existing["vehicle_id"] != vehicle["id"] or existing["status"] != "active":
            raise Mismatch(
                f"OBU {req.obu_id} is registered with this unit's key, but "
                f"{existing['status']} and for vehicle {existing['vehicle_id']}"
            )
        prov, action = backend.provisioning(req.obu_id), "resumed"
        say(f"OBU {req.obu_id} was registered with this key already: resuming")
    else:
        try:
            if replaces is not None:
                prov = backend.replace(replaces, req.obu_id, pub, req.reason)
            else:
                prov = backend.register(req.obu_id, pub, int(vehicle["id"]))
        except BackendRefused as e:
            raise _registration_error(e, req.obu_id, vehicle) from None
        action = "provisioned" if replaces is None else "replaced"
        say(
            f"OBU {req.obu_id} registered, certificate issued"
            + (f"; {replaces} revoked and replaced" if replaces is not None else "")
        )

    if req.authority_key is not None and prov["authority_public_key"] != req.authority_key.lower():
        raise Mismatch("the backend's authority key is not the pinned --authority-key")
    cert = base64.b64decode(prov["certificate_b64"])
    vclass = check_certificate(cert, bytes.fromhex(prov["authority_public_key"]), pub, req.obu_id)
    cfg = build_config(req, backend.url, prov, vclass)
    device_install(transport, "install-config", "config.json", json.dumps(cfg).encode())
    say(f"config installed (backend {cfg['backend_url']}, period {cfg['period']})")
    device_install(transport, "install-cert", "certificate.cose", cert, "--now", str(now))
    say("certificate installed (verified on the unit)")
    versions = install_policies(transport, backend, now, say)
    notes = [] if versions else ["no published tariff policy at this time: the unit fetches it"]
    final = device_call(transport, "status", "--now", str(now))
    _check_final(final, req.obu_id, pub)
    say("status read back: provisioned")
    return Outcome(action, req.obu_id, str(key["signer"]), pub, str(key["kid"]),
                   int(vehicle["id"]), versions, final, notes)  # fmt: skip


def _registration_error(e: BackendRefused, obu_id: str, vehicle: dict[str, Any]) -> Exception:
    if e.code == "obu_exists":
        return DuplicateObuId(f"OBU {obu_id} is already registered")
    if e.code == "key_in_use":
        return Mismatch(
            "this unit's key is registered to another OBU id: --rekey gives the unit a new key "
            "and identity"
        )
    if e.code == "vehicle_has_active_obu":
        active = vehicle["active_obu_id"]
        return Mismatch(
            f"vehicle {vehicle['plate']} already has the active OBU {active}: provision with "
            f"--replaces {active}"
        )
    return e


def _check_final(st: dict[str, Any], obu_id: str, pub: str) -> None:
    if not st.get("provisioned") or st.get("public_key") != pub:
        raise DeviceRefused("not_provisioned", f"status after install: {st}")
    if (st.get("certificate") or {}).get("obu_id") != obu_id:
        raise DeviceRefused("not_provisioned", f"the unit's certificate is not {obu_id}'s")


def _already(
    transport: Transport,
    backend: Backend,
    req: Request,
    st: dict[str, Any],
    now: int,
    say: Callable[[str], None],
) -> Outcome:
    obu = backend.obu(req.obu_id)
    if obu is None or obu["public_key"] != st["public_key"]:
        raise Mismatch(
            f"the unit holds a certificate for {req.obu_id} that this backend did not register "
            "with its key (another backend?)"
        )
    if obu["status"] != "active":
        raise Mismatch(f"OBU {req.obu_id} is revoked: give the unit a new identity with --rekey")
    say(f"already provisioned as {req.obu_id} (kid {st['kid']}); no new key made")
    held = {"current": st.get("policy"), "next": st.get("next_policy")}
    versions = install_policies(transport, backend, now, say, held)
    final = device_call(transport, "status", "--now", str(now))
    _check_final(final, req.obu_id, st["public_key"])
    return Outcome("already provisioned", req.obu_id, str(st["signer"]), str(st["public_key"]),
                   str(st["kid"]), int(obu["vehicle_id"]), versions, final)  # fmt: skip


# --- command line ----------------------------------------------------------------------------

app = typer.Typer(help="Provision quietmile OBUs (hardware/PROVISIONING.md)", no_args_is_help=True)
console = Console(stderr=True)

PortOpt = Annotated[
    str | None, typer.Option("--port", help="the board's serial port (mpremote), e.g. /dev/ttyUSB0")
]
HostOpt = Annotated[
    Path | None,
    typer.Option("--host-dir", help="a folder standing for the unit's flash (unix micropython)"),
]


def _transport(port: str | None, host_dir: Path | None) -> Transport:
    if port is not None and host_dir is None:
        return MpremoteTransport(port)
    if host_dir is not None and port is None:
        return HostTransport(host_dir)
    raise typer.BadParameter("give exactly one of --port or --host-dir")


def _fail(e: ProvisionError) -> typer.Exit:
    console.print(f"[red]error[/red] ({e.kind}): {e}")
    return typer.Exit(e.exit_code)


def _date(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _status_table(st: dict[str, Any]) -> Table:
    t = Table(title="unit status", show_header=False)
    cfg = st.get("config") or {}
    cert = st.get("certificate") or {}
    pol = st.get("policy") or {}
    cert_error = str(st.get("certificate_error"))
    rows = [
        ("provisioned", "yes" if st.get("provisioned") else "no"),
        ("ATECC608", "answers" if st.get("chip") else "not found"),
        ("signer", str(st.get("signer"))),
        ("kid", str(st.get("kid"))),
        ("obu id", str(cfg.get("obu_id", st.get("config_error")))),
        ("vehicle class", str(cfg.get("vehicle_class", "—"))),
        ("backend", str(cfg.get("backend_url", "—"))),
        ("certificate", f"valid until {_date(cert['valid_until'])}" if cert else cert_error),
        ("tariff policy", f"v{pol['version']}, until {_date(pol['valid_until'])}" if pol else "—"),
        ("unsent statements", str(st.get("unsent"))),
    ]  # fmt: skip
    for k, v in rows:
        t.add_row(k, v)
    return t


@app.command("run")
def run_cmd(
    obu_id: Annotated[str, typer.Option(help="the unit's OBU id, e.g. OBU-0001")],
    plate: Annotated[str, typer.Option(help="the vehicle's plate")],
    backend: Annotated[str, typer.Option(help="the backend's URL as this machine reaches it")],
    token: Annotated[str, typer.Option(envvar="QUIETMILE_TOKEN", help="an operator token")],
    port: PortOpt = None,
    host_dir: HostOpt = None,
    vehicle_class: Annotated[int | None, typer.Option(help="checked; needed to register")] = None,
    driver_id: Annotated[
        int | None, typer.Option(help="owner's driver id, to register the vehicle")
    ] = None,
    template: Annotated[
        Path | None, typer.Option(help="JSON with the unit's network/gnss/period settings")
    ] = None,
    device_backend_url: Annotated[
        str | None, typer.Option(help="the backend's URL as the unit reaches it")
    ] = None,
    authority_key: Annotated[
        str | None, typer.Option(help="pin the authority's public key (backend.cli show-key)")
    ] = None,
    rekey: Annotated[
        bool, typer.Option("--rekey", help="make a new key; replaces the unit's OBU id")
    ] = False,
    replaces: Annotated[str | None, typer.Option(help="this unit replaces that OBU")] = None,
    reason: Annotated[str, typer.Option(help="why, for the registry")] = "replaced at provisioning",
    now: Annotated[int | None, typer.Option(help="Unix time for validity checks")] = None,
    require_chip: Annotated[
        bool, typer.Option("--require-chip", help="refuse a unit without a working ATECC608")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False,
) -> None:
    """Provision one unit (idempotent: re-run it after any interruption)."""
    transport = _transport(port, host_dir)
    req = Request(
        obu_id=obu_id,
        plate=plate,
        vehicle_class=vehicle_class,
        driver_id=driver_id,
        template=json.loads(template.read_text()) if template is not None else {},
        device_backend_url=device_backend_url,
        authority_key=authority_key,
        rekey=rekey,
        require_chip=require_chip,
        replaces=replaces,
        reason=reason,
        now=now,
    )
    client = Backend(backend, token)
    try:
        out = provision(
            transport, client, req, say=lambda s: console.print(f"  [green]✓[/green] {s}")
        )
    except ProvisionError as e:
        raise _fail(e) from None
    finally:
        client.close()
    for n in out.notes:
        console.print(f"  [yellow]![/yellow] {n}")
    console.print(_status_table(out.status))
    console.print(f"[bold]{out.action}[/bold]: {out.obu_id} (kid {out.kid}, {out.signer} key)")
    if json_out:
        typer.echo(json.dumps(out.__dict__))


@app.command("status")
def status_cmd(
    port: PortOpt = None,
    host_dir: HostOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Show what the unit holds (key, config, certificate, policy) without changing it."""
    try:
        st = device_call(_transport(port, host_dir), "status", "--now", str(int(time.time())))
    except ProvisionError as e:
        raise _fail(e) from None
    console.print(_status_table(st))
    if json_out:
        typer.echo(json.dumps(st))


if __name__ == "__main__":
    app()

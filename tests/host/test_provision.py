"""Provisioning end to end: tools/provision.py against the real backend on loopback and the
unit's firmware/provision.py under the real micropython binary (HostTransport), then the
provisioned unit drives and the backend accepts its statement. Plus every way it must stop."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware import provision as fw
from firmware.board.atecc608 import Atecc608
from protocol import envelopes, labels, messages, p256
from simulator.backend import BackendClient, BackendServer, SimClock, post_statement
from simulator.network import default_policy
from tests.conftest import REPO
from tests.e2e import obu_setup
from tests.firmware.atecc608_fake import FakeAtecc608
from tools import provision as tp

NOW = obu_setup.DAY_T0 - 3600  # provisioning on the bench, an hour before the first drive
TEMPLATE = {"period": 3600, "network": {"kind": "none"}, "gnss": {"min_unix": 1704067200}}


@dataclass
class World:
    server: BackendServer
    client: BackendClient
    operator: str
    driver_id: int

    def backend(self, token: str | None = None) -> tp.Backend:
        return tp.Backend(self.server.url, token or self.operator)

    def request(self, obu_id: str, plate: str, **kw) -> tp.Request:
        opts = {"vehicle_class": 1, "driver_id": self.driver_id, "template": TEMPLATE, "now": NOW}
        opts.update(kw)
        return tp.Request(obu_id=obu_id, plate=plate, **opts)

    def provision(self, transport: tp.Transport, req: tp.Request) -> tp.Outcome:
        backend = self.backend()
        try:
            return tp.provision(transport, backend, req)
        finally:
            backend.close()

    def obu(self, obu_id: str) -> dict:
        backend = self.backend()
        try:
            found = backend.obu(obu_id)
        finally:
            backend.close()
        assert found is not None
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = BackendServer(tmp_path_factory.mktemp("backend"), SimClock(NOW)).start()
    operator = server.token("operator")
    client = BackendClient(server.url, operator, server.token("auditor"))
    client.publish_policy(default_policy())
    try:
        yield World(server, client, operator, client.create_driver("Provisioned Driver"))
    finally:
        client.close()
        server.stop()


@pytest.fixture
def unit(micropython: str, tmp_path: Path) -> tp.HostTransport:
    return tp.HostTransport(tmp_path / "unit", micropython=micropython)


def key_bytes(t: tp.HostTransport) -> bytes:
    return (Path(t.root) / "obu.key").read_bytes()


# --- the flow --------------------------------------------------------------------------------


def test_provisioned_unit_drives_and_the_backend_accepts_its_statement(
    world: World, unit: tp.HostTransport, micropython: str, tmp_path: Path
) -> None:
    out = world.provision(unit, world.request("OBU-PROV-1", "PROV-1"))
    assert out.action == "provisioned" and out.signer == "software"
    assert out.status["provisioned"] and out.status["policy"]["version"] == 1
    registered = world.obu("OBU-PROV-1")
    assert registered["public_key"] == out.public_key and registered["status"] == "active"
    cfg = json.loads(Path(unit.config_path).read_text())
    assert cfg["obu_id"] == "OBU-PROV-1" and cfg["backend_url"] == world.server.url
    assert cfg["authority_public_key"] == world.server.authority_public_key().hex()

    data, _ = obu_setup.day_nmea(1.2)
    nmea = tmp_path / "day.nmea"
    nmea.write_bytes(data)
    proc = subprocess.run(
        [micropython, "-m", "firmware.host_main", "--config", unit.config_path,
         "--root", unit.root, "--nmea", str(nmea), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0 and "errors=0" in proc.stdout, proc.stdout + proc.stderr
    sealed = sorted((Path(unit.root) / "outbox").glob("*.cose"))
    assert sealed, proc.stdout
    for env in sealed:
        assert post_statement(world.server.url, env.read_bytes()) == (201, "")
    rows = world.client.vehicle_statements(registered["vehicle_id"])
    assert [(r["obu_id"], r["seq"]) for r in rows] == [
        ("OBU-PROV-1", i) for i in range(len(sealed))
    ]


def test_rerun_on_a_provisioned_unit_says_so_and_keeps_its_key(
    world: World, unit: tp.HostTransport
) -> None:
    first = world.provision(unit, world.request("OBU-PROV-2", "PROV-2"))
    key = key_bytes(unit)
    again = world.provision(unit, world.request("OBU-PROV-2", "PROV-2"))
    assert again.action == "already provisioned"
    assert again.public_key == first.public_key and key_bytes(unit) == key
    assert again.status["provisioned"]


class FailOnce(tp.Transport):
    """A transport that loses the connection on the first ``command`` (a pulled cable)."""

    def __init__(self, inner: tp.HostTransport, command: str) -> None:
        self.inner = inner
        self.root = inner.root
        self.config_path = inner.config_path
        self.command = command
        self.failed = False

    def stage_path(self, name: str) -> str:
        return self.inner.stage_path(name)

    def run(self, code: str, files: Mapping[str, bytes]) -> str:
        if not self.failed and f'["{self.command}"' in code:
            self.failed = True
            raise tp.DeviceNotAnswering("cable pulled")
        return self.inner.run(code, files)

    def describe(self) -> str:
        return self.inner.describe()


def test_an_interrupted_run_resumes_with_the_same_key(world: World, unit: tp.HostTransport):
    flaky = FailOnce(unit, "install-cert")
    with pytest.raises(tp.DeviceNotAnswering):
        world.provision(flaky, world.request("OBU-PROV-3", "PROV-3"))
    key = key_bytes(unit)
    out = world.provision(flaky, world.request("OBU-PROV-3", "PROV-3"))
    assert out.action == "resumed" and out.status["provisioned"]
    assert key_bytes(unit) == key and world.obu("OBU-PROV-3")["public_key"] == out.public_key


def test_rekey_makes_a_new_key_and_replaces_the_registration(world: World, unit):
    first = world.provision(unit, world.request("OBU-PROV-4", "PROV-4"))
    with pytest.raises(tp.ProvisionError, match="new OBU id"):
        world.provision(unit, world.request("OBU-PROV-4", "PROV-4", rekey=True))
    out = world.provision(unit, world.request("OBU-PROV-4B", "PROV-4", rekey=True))
    assert out.action == "replaced" and out.public_key != first.public_key
    old = world.obu("OBU-PROV-4")
    assert old["status"] == "revoked" and old["replaced_by"] == "OBU-PROV-4B"
    assert out.status["config"]["obu_id"] == "OBU-PROV-4B" and out.status["provisioned"]


def test_rekey_is_refused_while_sealed_statements_are_unsent(world: World, unit):
    world.provision(unit, world.request("OBU-PROV-5", "PROV-5"))
    key = key_bytes(unit)
    (Path(unit.root) / "outbox").mkdir()
    (Path(unit.root) / "outbox" / "0.cose").write_bytes(b"sealed, not yet uploaded")
    with pytest.raises(tp.DeviceRefused) as e:
        world.provision(unit, world.request("OBU-PROV-5B", "PROV-5", rekey=True))
    assert e.value.code == "unsent_statements"
    assert key_bytes(unit) == key and world.obu("OBU-PROV-5")["status"] == "active"


def test_a_unit_provisioned_as_another_id_needs_rekey(world: World, unit):
    world.provision(unit, world.request("OBU-PROV-6", "PROV-6"))
    with pytest.raises(tp.Mismatch, match="--rekey"):
        world.provision(unit, world.request("OBU-PROV-6B", "PROV-6"))


def test_a_second_unit_for_a_vehicle_replaces_the_first_only_when_asked(
    world: World, micropython: str, tmp_path: Path
) -> None:
    a = tp.HostTransport(tmp_path / "a", micropython=micropython)
    b = tp.HostTransport(tmp_path / "b", micropython=micropython)
    world.provision(a, world.request("OBU-PROV-7", "PROV-7"))
    with pytest.raises(tp.Mismatch, match="--replaces OBU-PROV-7"):
        world.provision(b, world.request("OBU-PROV-7B", "PROV-7"))
    out = world.provision(b, world.request("OBU-PROV-7B", "PROV-7", replaces="OBU-PROV-7"))
    assert out.action == "replaced" and world.obu("OBU-PROV-7")["status"] == "revoked"


# --- errors that stop the flow before the unit changes ---------------------------------------


def test_unreachable_backend_is_named_and_the_unit_is_untouched(world: World, unit):
    backend = tp.Backend("http://127.0.0.1:9", world.operator, timeout_s=5)
    with pytest.raises(tp.BackendUnreachable, match=r"127\.0\.0\.1:9"):
        tp.provision(unit, backend, world.request("OBU-PROV-8", "PROV-8"))
    assert not Path(unit.root).exists()


@pytest.mark.parametrize("role", ["bogus", "auditor"])
def test_refused_token_is_named(world: World, unit, role: str):
    token = world.server.token(role) if role != "bogus" else "qm_not-a-token"
    backend = world.backend(token)
    with pytest.raises(tp.TokenRefused):
        tp.provision(unit, backend, world.request("OBU-PROV-9", "PROV-9"))
    assert not Path(unit.root).exists()


def test_duplicate_obu_id_is_refused_before_a_key_is_made(world: World, unit):
    other = p256.SoftwareSigner(0xD0B1E)
    vid = world.client.create_vehicle("PROV-10X", 1, world.driver_id)
    world.client.register_obu("OBU-PROV-10", other.public_key(), vid)
    with pytest.raises(tp.DuplicateObuId, match="OBU-PROV-10"):
        world.provision(unit, world.request("OBU-PROV-10", "PROV-10"))
    assert not (Path(unit.root) / "obu.key").exists()


def test_device_not_answering_is_named(world: World, tmp_path: Path):
    gone = tp.HostTransport(tmp_path / "u", micropython=str(tmp_path / "no-such-micropython"))
    with pytest.raises(tp.DeviceNotAnswering, match="not found"):
        world.provision(gone, world.request("OBU-PROV-11", "PROV-11"))
    fake = fake_mpremote(tmp_path, fail="failed to access /dev/ttyUSB9 (it may be in use)")
    board = tp.MpremoteTransport("/dev/ttyUSB9", mpremote=str(fake))
    with pytest.raises(tp.DeviceNotAnswering, match="failed to access /dev/ttyUSB9"):
        world.provision(board, world.request("OBU-PROV-11", "PROV-11"))


def test_a_unit_without_the_firmware_is_named(world: World, micropython: str, tmp_path: Path):
    bare = tp.HostTransport(tmp_path / "u", micropython=micropython, code_dir=tmp_path)
    with pytest.raises(tp.DeviceNotAnswering, match="copy the device bundle"):
        world.provision(bare, world.request("OBU-PROV-20", "PROV-20"))


def test_pinned_authority_key_must_match(world: World, unit):
    wrong = p256.SoftwareSigner(0xBAD).public_key().hex()
    with pytest.raises(tp.Mismatch, match="pinned"):
        world.provision(unit, world.request("OBU-PROV-12", "PROV-12", authority_key=wrong))
    assert not Path(unit.root).exists()


def test_require_chip_refuses_a_unit_without_one(world: World, unit):
    with pytest.raises(tp.DeviceRefused) as e:
        world.provision(unit, world.request("OBU-PROV-19", "PROV-19", require_chip=True))
    assert e.value.code == "no_chip" and not Path(unit.root).exists()


def test_unknown_plate_without_driver_is_refused(world: World, unit):
    with pytest.raises(tp.Mismatch, match="--driver-id"):
        world.provision(unit, world.request("OBU-PROV-13", "NOPE-13", driver_id=None))


# --- the mpremote transport, with a stand-in for mpremote ------------------------------------

FAKE_MPREMOTE = """\
import shutil, subprocess, sys
args = sys.argv[1:]
if {fail!r}:
    sys.stderr.write({fail!r} + "\\n")
    sys.exit(1)
assert args[:2] == ["connect", "/dev/ttyUSB9"], args
args = args[2:]
while args[:2] == ["fs", "cp"]:
    src, dst = args[2], args[3]
    assert dst.startswith(":") and args[4] == "+", args
    shutil.copyfile(src, dst[1:])
    print("cp " + src + " " + dst)
    args = args[5:]
assert args[0] == "exec" and len(args) == 2, args
sys.exit(subprocess.run([{micropython!r}, "-c", args[1]], cwd={repo!r}).returncode)
"""


def fake_mpremote(tmp_path: Path, micropython: str = "", fail: str = "") -> Path:
    """An ``mpremote`` that accepts exactly the command lines MpremoteTransport builds and
    runs them against the unix port (the board's filesystem root is a tmp folder)."""
    path = tmp_path / "mpremote"
    body = FAKE_MPREMOTE.format(fail=fail, micropython=micropython, repo=str(REPO))
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return path


def test_mpremote_transport_provisions_a_board(world: World, micropython: str, tmp_path: Path):
    flash = tmp_path / "flash"
    flash.mkdir()
    board = tp.MpremoteTransport(
        "/dev/ttyUSB9",
        mpremote=str(fake_mpremote(tmp_path, micropython)),
        root=str(flash / "qm"),
        config_path=str(flash / "config.json"),
        stage_dir=str(flash),
    )
    out = world.provision(board, world.request("OBU-PROV-14", "PROV-14"))
    assert out.action == "provisioned" and out.status["provisioned"]
    assert sorted(p.name for p in flash.iterdir()) == ["config.json", "qm"]  # staging removed


def test_command_line_runs_and_reports_errors_with_their_exit_code(world: World, tmp_path):
    runner = CliRunner()
    args = ["run", "--host-dir", str(tmp_path / "u"), "--obu-id", "OBU-PROV-15",
            "--plate", "PROV-15", "--vehicle-class", "1", "--driver-id", str(world.driver_id),
            "--now", str(NOW), "--json"]  # fmt: skip
    template = tmp_path / "template.json"
    template.write_text(json.dumps(TEMPLATE))
    ok = runner.invoke(
        tp.app,
        [
            *args,
            "--backend",
            world.server.url,
            "--token",
            world.operator,
            "--template",
            str(template),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.strip().splitlines()[-1])["action"] == "provisioned"
    down = runner.invoke(tp.app, [*args, "--backend", "http://127.0.0.1:9", "--token", "x"])
    assert down.exit_code == tp.BackendUnreachable.exit_code
    status = runner.invoke(tp.app, ["status", "--host-dir", str(tmp_path / "u"), "--json"])
    assert status.exit_code == 0 and json.loads(status.stdout.splitlines()[-1])["provisioned"]


# --- what the unit itself refuses (firmware/provision.py under micropython) -----------------


def staged(t: tp.HostTransport, command: str, data: bytes, *extra: str) -> dict:
    return tp.device_install(t, command, "input", data, *extra)


def test_unit_refuses_a_certificate_for_another_key_or_authority(world: World, unit):
    world.provision(unit, world.request("OBU-PROV-16", "PROV-16"))
    cert_path = Path(unit.root) / "certificate.cose"
    good = cert_path.read_bytes()
    authority = p256.SoftwareSigner(0xA0)  # not the unit's authority
    pub = bytes.fromhex(world.obu("OBU-PROV-16")["public_key"])
    stranger = p256.SoftwareSigner(0x5EC0).public_key()
    cases = {
        "cert_key_mismatch": (world.server.app.state.quietmile.signer, stranger, "OBU-PROV-16"),
        "cert_obu_mismatch": (world.server.app.state.quietmile.signer, pub, "OBU-OTHER"),
        "unknown_key_id": (authority, pub, "OBU-PROV-16"),
    }
    for code, (signer, key, obu_id) in cases.items():
        cert = messages.ObuCertificate(obu_id, key, 1, NOW, NOW + 86400)
        env = envelopes.sign_message(cert, signer, labels.CTY_OBU_CERTIFICATE)
        with pytest.raises(tp.DeviceRefused) as e:
            staged(unit, "install-cert", env, "--now", str(NOW))
        assert e.value.code == code
        assert cert_path.read_bytes() == good
    with pytest.raises(tp.DeviceRefused) as e:
        staged(unit, "install-cert", good, "--now", str(NOW + 100 * 365 * 86400))
    assert e.value.code == "cert_expired"


def test_unit_refuses_an_invalid_config_and_keeps_the_installed_one(world: World, unit):
    world.provision(unit, world.request("OBU-PROV-17", "PROV-17"))
    before = Path(unit.config_path).read_bytes()
    bad = dict(json.loads(before), vehicle_class=0)
    for data in (json.dumps(bad).encode(), b"{not json"):
        with pytest.raises(tp.DeviceRefused) as e:
            staged(unit, "install-config", data)
        assert e.value.code == "config_error"
        assert Path(unit.config_path).read_bytes() == before
    assert not list(Path(unit.device_dir).glob("qmprov-*"))


def test_unit_refuses_a_policy_not_signed_by_its_authority(world: World, unit):
    world.provision(unit, world.request("OBU-PROV-18", "PROV-18"))
    forged = envelopes.sign_policy(default_policy(), p256.SoftwareSigner(0xF0E))
    with pytest.raises(tp.DeviceRefused) as e:
        staged(unit, "install-policy", forged, "--now", str(NOW))
    assert e.value.code == "unknown_key_id"
    with pytest.raises(tp.DeviceRefused) as e:
        staged(unit, "install-policy", forged)
    assert e.value.code == "no_time"


def test_unit_commands_before_a_key_exists(unit):
    with pytest.raises(tp.DeviceRefused) as e:
        tp.device_call(unit, "pubkey")
    assert e.value.code == "no_key"
    st = tp.device_call(unit, "status")
    assert st["signer"] is None and not st["provisioned"]


# --- the secure element path (CPython, the framing-exact fake chip) --------------------------


def test_key_is_made_in_the_secure_element_when_the_chip_answers(tmp_path: Path):
    fake = FakeAtecc608()
    chip = Atecc608(fake, fake.sleep_ms)
    root = str(tmp_path / "qm")
    assert fw.run(["status", "--root", root], chip=chip)["chip"]
    made = fw.run(["key", "--root", root], chip=chip)
    assert made["signer"] == "atecc608" and made["created"]
    assert bytes.fromhex(made["public_key"]) == p256.public_key(fake.keys[0])
    assert not (tmp_path / "qm" / "obu.key").exists()  # no key file on a unit with the chip
    again = fw.run(["key", "--root", root], chip=chip)
    assert again["public_key"] == made["public_key"] and not again["created"]
    digest = bytes(range(32))
    sig = bytes.fromhex(fw.run(["sign", digest.hex(), "--root", root], chip=chip)["signature"])
    assert p256.verify_digest(bytes.fromhex(made["public_key"]), digest, sig)
    new = fw.run(["key", "--rekey", "--root", root], chip=chip)
    assert new["created"] and new["public_key"] != made["public_key"]


class LockedSlotChip(FakeAtecc608):
    """The fake chip after slot 0 was locked (hardware/SECURE_ELEMENT.md step 6)."""

    locked = False

    def _genkey(self, p1, p2, data):
        if self.locked and p1 == 0x04:
            return 0x0F  # execution error: GenKey on a locked slot
        return super()._genkey(p1, p2, data)


def test_a_locked_slot_refuses_rekey_and_keeps_its_key(tmp_path: Path):
    fake = LockedSlotChip()
    chip = Atecc608(fake, fake.sleep_ms)
    root = str(tmp_path / "qm")
    made = fw.run(["key", "--root", root], chip=chip)
    fake.locked = True
    out = fw.main(["key", "--rekey", "--root", root], chip=chip)
    assert not out["ok"] and out["error"] == "key_locked"
    assert fw.run(["pubkey", "--root", root], chip=chip)["public_key"] == made["public_key"]


def test_a_chip_that_stops_answering_never_gets_a_new_key(tmp_path: Path):
    fake = FakeAtecc608()
    chip = Atecc608(fake, fake.sleep_ms)
    root = str(tmp_path / "qm")
    made = fw.run(["key", "--root", root], chip=chip)
    fake.fail_wake = True
    out = fw.main(["key", "--root", root], chip=chip)
    assert not out["ok"] and out["error"] == "secure_element"
    fake.fail_wake = False
    assert fw.run(["pubkey", "--root", root], chip=chip)["public_key"] == made["public_key"]

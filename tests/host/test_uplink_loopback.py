"""The firmware uplink under the real ``micropython`` binary, over real sockets, against a local
HTTP server (tests/host/fake_backend.py) that verifies what it receives with the protocol code.

Scenarios: a statement whose answer is lost and the retry that gets the same receipt; a
duplicate resubmission; a receipt signed by the wrong key, refused; a 4xx recorded; a
challenge polled and answered with an opening the server verifies; every captured byte free of
trace coordinates and times; and the heap a 3,000-segment statement needs with .mpy modules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware.uplink.sealed import StatementFiles
from protocol import messages
from tests.conftest import REPO
from tests.firmware import uplink_fixtures as fx
from tests.host.fake_backend import FakeBackend

NOW = fx.DEC_2026 + 300
DRIVER = "tests/host/uplink_driver.py"
# Standalone, modules as .mpy loaded into RAM on the 64-bit unix port, every heap from 158K
# (submit a 3,000-segment statement) and 188K (answer a sighting from that period) up works;
# ~142K/147K of it are the imported modules (protocol, ledger, uplink). A 3-segment statement
# needs the same. Below those sizes results are erratic (heap fragmentation), hence the margin.
HEAP = "200K"


def _hex_key(d: int) -> str:
    return d.to_bytes(32, "big").hex()


def drive(
    micropython: str,
    root: Path,
    port: int,
    cmd: str,
    now: int | None = NOW,
    heap: str | None = None,
    cwd: Path = REPO,
    authority: int = fx.AUTHORITY_KEY,
    host: str = "127.0.0.1",
    ca: Path | None = None,
    authority_pub: str | None = None,
) -> dict:
    args = [micropython]
    if heap:
        args += ["-X", "heapsize=" + heap]
    auth_pub = authority_pub or fx._signer("a%x" % authority, authority).public_key().hex()
    args += [
        DRIVER,
        str(root),
        host,
        str(port),
        "-" if now is None else str(now),
        _hex_key(fx.OBU_KEY),
        auth_pub,
        cmd,
    ]
    if ca is not None:
        args.append(str(ca))
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(fx.authority_signer(), fx.obu_signer(), NOW)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "obu"


def _two(root: Path) -> tuple[fx.Built, fx.Built]:
    root.mkdir(exist_ok=True)
    b0 = fx.build_statement(str(root), 0)
    b1 = fx.build_statement(str(root), 1, b0.hash, [])  # a month without driving
    return b0, b1


def _assert_private(backend: FakeBackend, records: list[messages.SegmentRecord]) -> None:
    wire = b"".join(backend.requests)
    assert wire
    for needle in fx.trace_secrets(records):
        assert needle not in wire, needle


def test_dropped_answer_then_retry_gets_the_same_receipt(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    b0, b1 = _two(root)
    backend.drop_statements = 1
    with backend.serve() as port:
        out = drive(micropython, root, port, "submit")
        assert out["done"] == 0 and out["error"] == "connection_closed"
        assert out["failures"] == 1 and out["pending"] == [0, 1]
        assert NOW + 15 <= out["next_at"] < NOW + 45
        # Before the backoff ends, nothing is sent.
        out = drive(micropython, root, port, "submit", now=out["next_at"] - 1)
        assert out["done"] == 0 and out["sent_bytes"] == 0
        out = drive(micropython, root, port, "submit", now=out["next_at"])
        assert out["done"] == 2 and out["error"] is None and out["pending"] == []
    statuses = [s for m, p, s in backend.log if p == "/api/v1/statements"]
    assert statuses == [0, 200, 201]  # stored, lost; then the same receipt again; then seq 1
    files = StatementFiles(str(root))
    assert files.receipt(0) == backend.receipts[b0.hash]
    assert files.receipt(1) == backend.receipts[b1.hash]
    _assert_private(backend, b0.records)


def test_duplicate_resubmission_is_harmless(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    b0, _ = _two(root)
    with backend.serve() as port:
        assert drive(micropython, root, port, "submit")["done"] == 2
        first = StatementFiles(str(root)).receipt(0)
        os.remove(StatementFiles(str(root)).receipt_path(0))  # as if the receipt was lost
        out = drive(micropython, root, port, "submit")
        assert out["done"] == 1
    assert StatementFiles(str(root)).receipt(0) == first
    assert [s for _, _, s in backend.log] == [201, 201, 200]


def test_receipt_signed_by_a_wrong_key_is_refused(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    _two(root)
    backend.receipt_signer = fx.other_signer()
    with backend.serve() as port:
        out = drive(micropython, root, port, "submit")
        assert out["done"] == 0 and out["error"] == "receipt_invalid" and out["failures"] == 1
        assert not StatementFiles(str(root)).has_receipt(0)
        # Control: a unit that trusted that key would take the very same answers.
        out = drive(micropython, root, port, "submit", now=out["next_at"], authority=fx.OTHER_KEY)
        assert out["done"] == 2 and out["error"] is None


def test_a_refused_statement_is_recorded_with_the_backend_code(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    _two(root)
    backend.reject = (409, "chain_broken")
    with backend.serve() as port:
        out = drive(micropython, root, port, "submit")
        assert out["rejected"] == [0, 409, "chain_broken"] and out["error"] == "chain_broken"
        out = drive(micropython, root, port, "submit")
        assert out["sent_bytes"] == 0  # blocked until the operator clears it


def test_challenge_poll_then_a_verified_opening(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    b0, _ = _two(root)
    cid = bytes(range(16))
    with backend.serve() as port:
        assert drive(micropython, root, port, "submit")["done"] == 2
        at = fx.DRIVE_T0 + 600 + 42
        backend.add_challenge(messages.Challenge(cid, fx.OBU_ID, 0, 0, at, None, NOW + 7 * 86400))
        out = drive(micropython, root, port, "challenges")
        assert out["results"] == [[cid.hex(), "answered"]] and out["error"] is None
        opening = messages.Opening.decode(
            __import__("protocol.cose", fromlist=["x"]).decode_sign1(backend.openings[cid]).payload
        )
        assert opening.segment_index == 1 and opening.record == b0.records[1]
        out = drive(micropython, root, port, "challenges")
        assert out["results"] == []  # answered: the backend holds nothing more
        # Without GNSS time the unit does not poll at all (the timestamp would be a guess).
        out = drive(micropython, root, port, "challenges", now=None)
        assert out["error"] == "clock_unknown" and out["sent_bytes"] == 0
    posts = [p for m, p, s in backend.log if m == "POST" and p == "/api/v1/obu/openings"]
    assert len(posts) == 1


def test_a_long_challenge_list_is_answered_page_by_page(
    micropython: str, mpy_cross: str, backend: FakeBackend, root: Path, tmp_path: Path
) -> None:
    """The unit fetches its challenges in pages of 8 (firmware/challenges.py), answering each
    page before asking for the next, in the heap that answering one sighting needs (modules
    as .mpy, as on the device)."""
    tree = _mpy_tree(mpy_cross, tmp_path / "device")
    b0, _ = _two(root)
    n = 20
    with backend.serve() as port:
        assert drive(micropython, root, port, "submit")["done"] == 2
        ids = []
        for k in range(n):
            cid = bytes([k]) * 16
            deadline = NOW + 7 * 86400 + k // 4  # some share a deadline: ties go by id
            if k % 2:
                ch = messages.Challenge(cid, fx.OBU_ID, 0, 1, None, k % 4, deadline)
            else:
                at = fx.DRIVE_T0 + (k % 4) * 600 + 30
                ch = messages.Challenge(cid, fx.OBU_ID, 0, 0, at, None, deadline)
            backend.add_challenge(ch)
            ids.append(cid.hex())
        out = drive(micropython, root, port, "challenges", heap=HEAP, cwd=tree)
        assert out["error"] is None, out
        assert out["results"] == [[c, "answered"] for c in ids]  # nearest deadline first
        assert backend.challenges == {} and backend.pages == 3
    polls = [p for m, p, _ in backend.log if m == "GET"]
    assert polls[0] == "/api/v1/obu/challenges?limit=8"
    assert all(p.startswith("/api/v1/obu/challenges?limit=8&cursor=") for p in polls[1:])
    kinds = "".join("G" if m == "GET" else "P" for m, p, _ in backend.log if "/obu/" in p)
    assert kinds == "G" + "P" * 8 + "G" + "P" * 8 + "G" + "P" * 4


def test_signed_request_header_decodes_with_the_backends_own_parser(
    micropython: str, backend: FakeBackend, root: Path
) -> None:
    sr = pytest.importorskip("backend.services.signed_request")
    _two(root)
    with backend.serve() as port:
        drive(micropython, root, port, "challenges")
    raw = backend.requests[-1].decode("latin-1")
    header = next(
        line.split(":", 1)[1].strip()
        for line in raw.split("\r\n")
        if line.lower().startswith("qm-signed-request:")
    )
    from protocol import cose

    req = sr.SignedRequest.decode(cose.decode_sign1(sr._b64url(header)).payload)
    assert (req.method, req.path, req.timestamp) == ("GET", "/api/v1/obu/challenges?limit=8", NOW)


# --- the real backend -----------------------------------------------------------------------
def test_statement_and_audit_answer_with_the_real_backend(micropython: str, tmp_path: Path) -> None:
    """The FastAPI backend (backend/) on a real port: ingest and receipt, idempotent
    resubmission, then an auditor's random-index audit answered through its OBU endpoints."""
    uvicorn = pytest.importorskip("uvicorn")
    import threading
    import time

    from cryptography.hazmat.primitives.asymmetric import ec
    from fastapi.testclient import TestClient

    from backend.core.config import Settings
    from backend.crypto.signer import CryptographySigner
    from backend.db import migrate
    from backend.db.session import make_engine, session_scope
    from backend.main import create_app
    from backend.services.policies import form_from_policy
    from backend.services.tokens import create_token
    from tools.scenario import example_policy

    url = f"sqlite:///{tmp_path / 'qm.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    authority = CryptographySigner(ec.generate_private_key(ec.SECP256R1()))
    settings = Settings(database_url=url, key_dir=tmp_path / "keys", auto_migrate=False)
    app = create_app(settings, signer=authority, clock=lambda: float(NOW))
    with session_scope(app.state.quietmile.session_factory) as s:
        op = {"Authorization": "Bearer " + create_token(s, "operator", NOW)[1]}
        auditor = {"Authorization": "Bearer " + create_token(s, "auditor", NOW)[1]}
    setup = TestClient(app)
    policy = example_policy()
    r = setup.post("/api/v1/policies", json=form_from_policy(policy).model_dump(), headers=op)
    assert r.status_code == 201, r.text
    assert setup.post(f"/api/v1/policies/{r.json()['policy_id']}/publish", headers=op).is_success
    driver = setup.post("/api/v1/drivers", json={"name": "alice"}, headers=op).json()["id"]
    r = setup.post(
        "/api/v1/vehicles",
        json={"plate": "B-QM-1", "vehicle_class": 1, "driver_id": driver},
        headers=op,
    )
    assert r.status_code == 201, r.text
    r = setup.post(
        "/api/v1/obus",
        json={
            "obu_id": fx.OBU_ID,
            "public_key": fx.obu_signer().public_key().hex(),
            "vehicle_id": r.json()["id"],
        },
        headers=op,
    )
    assert r.status_code == 201, r.text
    authority_pub = r.json()["authority_public_key"]

    # Honest segments under the example policy: outside its zones, Tuesday 08:00 local (peak).
    pid = messages.policy_id(policy)
    records = []
    for i in range(3):
        t0 = fx.DRIVE_T0 + 600 * i
        probe = fx.segment_record(i, t0, policy_id=pid)
        lat, lon = probe.trace[0][1:]
        zone, band = policy.zone_at(lat, lon), policy.band_at(t0)
        rate = policy.rate(zone, band, 1)
        records.append(fx.segment_record(i, t0, policy_id=pid, zone=zone, band=band, rate=rate))
    root = tmp_path / "obu"
    root.mkdir()
    b0 = fx.build_statement(str(root), 0, records=records)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        out = drive(micropython, root, port, "submit", authority_pub=authority_pub)
        assert out["done"] == 1 and out["error"] is None, out
        files = StatementFiles(str(root))
        first = files.receipt(0)
        os.remove(files.receipt_path(0))  # the answer "was lost": send the same envelope again
        out = drive(micropython, root, port, "submit", authority_pub=authority_pub)
        assert out["done"] == 1 and files.receipt(0) == first

        r = setup.post(
            "/api/v1/audits",
            json={"statement_hashes": [b0.hash.hex()], "segments_per_statement": 1},
            headers=auditor,
        )
        assert r.status_code == 201, r.text
        (ch,) = r.json()["challenges"]
        out = drive(micropython, root, port, "challenges", authority_pub=authority_pub)
        assert out["results"] == [[ch["challenge_id"], "answered"]], out
        out = drive(micropython, root, port, "challenges", authority_pub=authority_pub)
        assert out["results"] == [] and out["error"] is None  # answered: no longer open
        judged = setup.get(f"/api/v1/challenges/{ch['challenge_id']}", headers=auditor).json()
        assert judged["answered"] and judged["outcome"] == "pass", judged
    finally:
        server.should_exit = True
        thread.join(10)
        setup.close()
        app.state.quietmile.engine.dispose()
    from protocol import cose

    receipt = messages.Receipt.decode(cose.decode_sign1(first).payload)
    assert (receipt.seq, receipt.statement_hash, receipt.segment_count) == (0, b0.hash, 3)


# --- TLS ---------------------------------------------------------------------------------------
def _ca_and_server_cert(d: Path, name: str) -> tuple[Path, tuple[str, str]]:
    """A fresh CA (DER) and a server certificate for localhost signed by it (PEM files)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.der").write_bytes(ca.public_bytes(serialization.Encoding.DER))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return d / "ca.der", (str(d / "cert.pem"), str(d / "key.pem"))


def test_over_tls_only_the_pinned_ca_is_trusted(
    micropython: str, backend: FakeBackend, root: Path, tmp_path: Path
) -> None:
    ca, server_cert = _ca_and_server_cert(tmp_path / "pki", "quietmile test CA")
    stranger, _ = _ca_and_server_cert(tmp_path / "other", "someone else")
    b0, _ = _two(root)
    with backend.serve(tls=server_cert) as port:
        out = drive(micropython, root, port, "submit", host="localhost", ca=stranger)
        assert out["error"] == "tls_failed" and out["sent_bytes"] == 0
        out = drive(micropython, root, port, "submit", now=out["next_at"], host="localhost", ca=ca)
        assert out["done"] == 2 and out["error"] is None
    assert StatementFiles(str(root)).receipt(0) == backend.receipts[b0.hash]


# --- measured figures ------------------------------------------------------------------------
def _mpy_tree(mpy_cross: str, dest: Path) -> Path:
    """protocol/ and firmware/ as .mpy (what goes on the device) plus the driver script."""
    for pkg in ("protocol", "firmware"):
        for src in (REPO / pkg).rglob("*.py"):
            rel = src.relative_to(REPO)
            out = dest / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([mpy_cross, "-o", str(out), str(rel)], cwd=REPO, check=True)
    (dest / "tests/host").mkdir(parents=True)
    shutil.copy(REPO / DRIVER, dest / DRIVER)
    return dest


def _big_statement(root: Path, n: int) -> fx.Built:
    root.mkdir(exist_ok=True)
    records = [fx.segment_record(i, fx.DRIVE_T0 + 600 * i, points=30) for i in range(n)]
    return fx.build_statement(str(root), 0, records=records)


def test_a_3000_segment_statement_posts_within_a_small_heap(
    micropython: str, mpy_cross: str, backend: FakeBackend, tmp_path: Path
) -> None:
    tree = _mpy_tree(mpy_cross, tmp_path / "device")
    root = tmp_path / "obu"
    big = _big_statement(root, 3000)
    with backend.serve() as port:
        out = drive(micropython, root, port, "submit", heap=HEAP, cwd=tree)
        assert out["done"] == 1, out
        # Uplink: the HTTP head plus the envelope; 69 bytes per segment (DESIGN §8: <= 70).
        head = len(backend.requests[0]) - len(big.envelope)
        assert out["sent_bytes"] == head + len(big.envelope)
        assert len(big.envelope) - 69 * 3000 < 400
        # A sighting answered from the 3,000-segment period, streamed, in the same heap.
        cid = bytes(range(16, 32))
        backend.add_challenge(
            messages.Challenge(cid, fx.OBU_ID, 0, 0, fx.DRIVE_T0 + 600 * 2999 + 1, None, NOW + 1)
        )
        out = drive(micropython, root, port, "challenges", heap=HEAP, cwd=tree)
        assert out["results"] == [[cid.hex(), "answered"]], out

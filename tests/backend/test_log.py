"""The transparency log: what is appended, signed tree heads, inclusion and consistency
proofs checked by the client helper end to end, a driver's own entries, tamper detection,
roles, restart and concurrent appends."""

from __future__ import annotations

import base64
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from backend.core.config import Settings
from backend.db.models import LogEntry, LogTreeHead
from backend.main import create_app
from backend.services import transparency_log as tlog
from backend.transparency import merkle
from backend.transparency.client import (
    LogClient,
    LogVerificationError,
    public_key_from_hex,
    verify_mine,
    verify_tree_head_json,
)
from backend.transparency.entries import KINDS, decode_entry
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Env


def log_client(env: Env, who: str) -> LogClient:
    key = env.client.get("/api/v1/log/public-key", headers=env.auth(who)).json()
    return LogClient(env.client, public_key_from_hex(key["public_key"]), env.auth(who))


def busy_world(env: Env) -> dict[str, Any]:
    """Alice and bob each drive a month; alice is challenged twice and audited once, bob
    once; the auditor reads alice's opened record; alice disputes her statement."""
    if not env.client.get("/api/v1/policies").json():
        env.publish_policy()
    out: dict[str, Any] = {}
    for who in ("alice", "bob"):
        vid = env.vehicle(f"{who.upper()}-1", driver=who)
        signer = support.obu_signer(who)
        env.obu(f"OBU-{who}", vid, signer)
        p = sc.build_period(signer, f"OBU-{who}")
        assert env.submit(p.envelope).status_code == 201
        out[who] = (vid, signer, p)
    _, a_signer, a_p = out["alice"]
    _, b_signer, b_p = out["bob"]
    for i in (0, 1):
        t, lat, lon = sc.on_trace(a_p, i)
        sc.sighting(env, t, lat, lon, plate="ALICE-1")
    t, lat, lon = sc.on_trace(b_p, 2)
    sc.sighting(env, t, lat, lon, plate="BOB-1")
    env.client.post(
        "/api/v1/audits",
        json={"statement_hashes": [a_p.hash.hex()]},
        headers=env.auth("auditor"),
    )
    for signer, p in ((a_signer, a_p), (b_signer, b_p)):
        for ch in sc.poll(env, signer):
            assert sc.answer(env, signer, p.sign(p.opening(ch))).status_code == 201
    cid = env.client.get("/api/v1/challenges", headers=env.auth("alice")).json()[0]
    r = env.client.get(
        f"/api/v1/challenges/{cid['challenge_id']}/opening", headers=env.auth("auditor")
    )
    assert r.status_code == 200
    r = env.client.post(
        "/api/v1/disputes",
        json={"statement_hash": a_p.hash.hex(), "reason": "check", "consent_to_open_period": True},
        headers=env.auth("alice"),
    )
    assert r.status_code == 201
    return out


def test_every_action_is_logged_without_location_data(env: Env) -> None:
    world = busy_world(env)
    entries = env.client.get("/api/v1/log/entries?start=0&end=1000", headers=env.auth("dpo"))
    kinds = [e["kind"] for e in entries.json()]
    assert kinds.count("challenge_issued") == 4  # 3 sightings + 1 audit
    assert kinds.count("opening_received") == 4
    assert kinds.count("audit_requested") == 1
    assert kinds.count("opened_data_accessed") == 1
    assert kinds.count("dispute_opened") == 1
    assert set(kinds) <= set(KINDS)
    # Staff act under their token id; a driver's id would link their vehicles: left out.
    by_role = {e["actor_role"]: e["actor_ref"] for e in entries.json()}
    assert by_role["driver"] is None and by_role["obu"] is None
    assert isinstance(by_role["auditor"], int)
    coordinates = set()
    for _vid, _signer, p in world.values():
        for s in p.segments:
            coordinates |= {v for _dt, lat, lon in s.record.trace for v in (lat, lon)}
            coordinates |= {s.record.t_start, s.record.t_end}
    for e in entries.json():
        data = decode_entry(base64.b64decode(e["entry_b64"]))
        assert data.subject is None or len(data.subject) == 16
        # No coordinate, no driving time, no plate, no vehicle id in any entry.
        assert not coordinates & {v for v in data.details.values() if isinstance(v, int)}
        assert b"ALICE" not in base64.b64decode(e["entry_b64"])
        assert set(data.details) <= {
            "challenge_id",
            "kind",
            "origin",
            "statement_seq",
            "deadline",
            "segment_opened",
            "outcome",
            "reason",
            "purpose",
            "segments",
            "dispute_id",
            "segment_count",
            "consent",
        }


def test_tree_head_is_signed_by_the_log_key_not_the_authority_key(env: Env) -> None:
    busy_world(env)
    key = env.client.get("/api/v1/log/public-key", headers=env.auth("dpo")).json()
    assert key["public_key"] != env.authority.public_key().hex()
    r = env.client.get("/api/v1/log/tree-head", headers=env.auth("dpo"))
    head = verify_tree_head_json(r.json(), public_key_from_hex(key["public_key"]))
    assert head.size == len(
        env.client.get("/api/v1/log/entries?start=0&end=100", headers=env.auth("dpo")).json()
    )
    assert r.json()["kid"] == key["kid"]
    from cryptography.hazmat.primitives.asymmetric import ec

    wrong = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), env.authority.public_key())
    with pytest.raises(LogVerificationError):
        verify_tree_head_json(r.json(), wrong)
    # The same size gives the same stored head (not a new signature per request).
    assert env.client.get("/api/v1/log/tree-head", headers=env.auth("alice")).json() == r.json()


def test_inclusion_and_consistency_proofs_verify(env: Env) -> None:
    env.publish_policy()
    client = log_client(env, "dpo")
    empty = client.tree_head()
    assert (empty.size, empty.root_hash) == (0, merkle.EMPTY_ROOT_HASH)
    busy_world(env)
    head1 = client.tree_head(previous=empty)
    for i in range(head1.size):
        assert client.entry(i, head1).index == i
    # More activity; the new head must extend the old one.
    p = sc.build_period(support.obu_signer("alice"), "OBU-alice")
    env.client.post(
        "/api/v1/audits", json={"statement_hashes": [p.hash.hex()]}, headers=env.auth("auditor")
    )
    head2 = client.tree_head(previous=head1)
    assert head2.size == head1.size + 2
    client.check_extends(head1, head2)
    assert len(client.audit_all(head2)) == head2.size
    # A proof for the wrong sizes does not verify.
    bad = env.client.get(
        f"/api/v1/log/proof/consistency?first={head1.size - 1}&second={head2.size}",
        headers=env.auth("dpo"),
    ).json()["proof"]
    from backend.transparency.client import verify_consistency

    with pytest.raises(LogVerificationError):
        verify_consistency(head1, head2, [bytes.fromhex(h) for h in bad])


def test_a_driver_fetches_and_verifies_exactly_their_entries(env: Env) -> None:
    world = busy_world(env)
    alice = log_client(env, "alice")
    mine = alice.mine()
    assert set(mine.subjects) == {world["alice"][0]}
    kinds = [e.data.kind for e in mine.entries]
    assert kinds.count("challenge_issued") == 3
    assert "opened_data_accessed" in kinds and "dispute_opened" in kinds
    # Completeness: scanning the whole log for alice's reference finds nothing more.
    every = alice.audit_all(mine.head, mine.subjects.values())
    assert [e.index for e in every] == [e.index for e in mine.entries]
    bob = log_client(env, "bob").mine(previous=mine.head)
    assert {e.index for e in bob.entries}.isdisjoint({e.index for e in mine.entries})
    assert [e.data.kind for e in bob.entries] == ["challenge_issued", "opening_received"]
    # A driver without vehicles sees nothing, and nobody but drivers has a /mine.
    for who, status in (("operator", 403), ("auditor", 403), ("dpo", 403), ("anonymous", 401)):
        assert env.client.get("/api/v1/log/mine", headers=env.auth(who)).status_code == status


def test_a_changed_entry_breaks_its_inclusion(env: Env) -> None:
    busy_world(env)
    alice = log_client(env, "alice")
    mine = alice.mine()
    victim = mine.entries[1].index
    # Someone with database access rewrites an entry (hiding an access, say).
    with env.app.state.quietmile.session_factory() as s:
        row = s.get(LogEntry, victim)
        assert row is not None
        forged = bytearray(row.entry)
        forged[-1] ^= 1
        s.execute(update(LogEntry).where(LogEntry.idx == victim).values(entry=bytes(forged)))
        s.commit()
    raw = env.client.get("/api/v1/log/mine", headers=env.auth("alice")).json()
    with pytest.raises(LogVerificationError, match=f"entry {victim}"):
        verify_mine(raw, alice.key)
    with pytest.raises(LogVerificationError):
        alice.entry(victim, mine.head)
    with pytest.raises(LogVerificationError):
        alice.audit_all(mine.head)
    # The untouched entries still verify.
    assert alice.entry(victim - 1, mine.head).index == victim - 1


def restarted(env: Env) -> TestClient:
    """A second server process on the same database and keys."""
    state = env.app.state.quietmile
    cfg = Settings(database_url=env.db.url, key_dir=state.settings.key_dir, auto_migrate=False)
    return TestClient(create_app(cfg, signer=env.authority, clock=env.clock))


def test_a_rewritten_log_is_detected_by_the_server_and_by_old_heads(env: Env) -> None:
    busy_world(env)
    client = log_client(env, "dpo")
    old = client.tree_head()
    # Rewrite entry 0 *and* its stored leaf hash (a consistent forgery), then restart.
    with env.app.state.quietmile.session_factory() as s:
        row = s.get(LogEntry, 0)
        assert row is not None
        forged = bytes(row.entry[:-1]) + bytes([row.entry[-1] ^ 1])
        s.execute(
            update(LogEntry)
            .where(LogEntry.idx == 0)
            .values(entry=forged, leaf_hash=merkle.leaf_hash(forged))
        )
        s.commit()
    with restarted(env) as c:
        health = c.get("/health")
        assert (health.status_code, health.json()["status"]) == (503, "log_inconsistent")
        r = c.get("/api/v1/log/tree-head", headers=env.auth("dpo"))
        assert (r.status_code, r.json()["error"]) == (503, "log_inconsistent")
        c.app.state.quietmile.engine.dispose()  # type: ignore[attr-defined]
    # A monitor holding the old signed head would not accept the rewritten log either.
    index = tlog.LogIndex()
    with env.app.state.quietmile.session_factory() as s:
        index.sync(s)
    assert index.root(old.size) != old.root_hash


def test_a_deleted_entry_stops_the_log(env: Env) -> None:
    busy_world(env)
    assert env.client.get("/api/v1/log/tree-head", headers=env.auth("dpo")).status_code == 200
    with env.app.state.quietmile.session_factory() as s:
        last = s.scalar(select(LogEntry.idx).order_by(LogEntry.idx.desc()).limit(1))
        s.execute(delete(LogEntry).where(LogEntry.idx == last))
        s.commit()
    r = env.client.get("/api/v1/log/tree-head", headers=env.auth("dpo"))
    assert (r.status_code, r.json()["error"]) == (503, "log_inconsistent")
    assert env.client.get("/health").json()["status"] == "log_inconsistent"


def test_restart_rebuilds_the_same_tree(env: Env) -> None:
    busy_world(env)
    before = env.client.get("/api/v1/log/tree-head", headers=env.auth("dpo")).json()
    with restarted(env) as c:
        assert c.get("/api/v1/log/tree-head", headers=env.auth("dpo")).json() == before
        assert c.get("/health").json()["log_size"] == before["size"]
        c.app.state.quietmile.engine.dispose()  # type: ignore[attr-defined]
    state = env.app.state.quietmile
    fresh = tlog.LogIndex()
    with state.session_factory() as s:
        assert fresh.sync(s) == before["size"]
        tlog.check_signed_heads(s, fresh, all_heads=True)
        assert tlog.verify_stored_entries(s) == before["size"]
    assert fresh.root(before["size"]).hex() == before["root_hash"]


def test_bad_proof_requests_are_400(env: Env) -> None:
    busy_world(env)
    h = env.auth("dpo")
    size = env.client.get("/api/v1/log/tree-head", headers=h).json()["size"]
    for path in (
        f"/api/v1/log/proof/inclusion?index={size}&size={size}",
        f"/api/v1/log/proof/inclusion?index=0&size={size + 1}",
        f"/api/v1/log/proof/consistency?first={size}&second={size + 1}",
        f"/api/v1/log/proof/consistency?first={size}&second=1",
        f"/api/v1/log/entries?start={size + 1}&end={size + 2}",
        "/api/v1/log/entries?start=5&end=2",
        "/api/v1/log/entries?start=0&end=2000",
    ):
        r = env.client.get(path, headers=h)
        assert (r.status_code, r.json()["error"]) == (400, "invalid_proof_request"), path
    assert (
        env.client.get("/api/v1/log/proof/inclusion?index=-1&size=1", headers=h).status_code == 422
    )


def test_log_access_by_role_and_the_dpo_sees_no_opened_data(env: Env) -> None:
    busy_world(env)
    cid = env.client.get("/api/v1/challenges", headers=env.auth("auditor")).json()[0]
    did = env.client.get("/api/v1/disputes", headers=env.auth("auditor")).json()[0]
    for path in (
        "/api/v1/log/public-key",
        "/api/v1/log/tree-head",
        "/api/v1/log/entries?start=0&end=3",
        "/api/v1/log/proof/inclusion?index=0&size=3",
        "/api/v1/log/proof/consistency?first=1&second=3",
    ):
        for who in ("operator", "auditor", "dpo", "alice", "bob"):
            assert env.client.get(path, headers=env.auth(who)).status_code == 200, (path, who)
        assert env.client.get(path).status_code == 401
    # The DPO: log and aggregates only.
    dpo = env.auth("dpo")
    for path in (
        "/api/v1/challenges",
        f"/api/v1/challenges/{cid['challenge_id']}",
        f"/api/v1/challenges/{cid['challenge_id']}/opening",
        "/api/v1/disputes",
        f"/api/v1/disputes/{did['dispute_id']}",
        "/api/v1/sightings/1",
        "/api/v1/vehicles",
        f"/api/v1/statements/{did['statement_hash']}",
    ):
        assert env.client.get(path, headers=dpo).status_code == 403, path
    agg = env.client.get("/api/v1/aggregates", headers=dpo).json()
    assert agg["challenges_by_outcome"] == {"pass": 4}
    assert agg["disputes_by_state"] == {"open": 1}
    assert agg["log_entries"] > 0


def test_concurrent_appends_keep_the_log_contiguous(env: Env) -> None:
    busy_world(env)
    cid = env.client.get("/api/v1/challenges", headers=env.auth("alice")).json()[0]["challenge_id"]
    path = f"/api/v1/challenges/{cid}/opening"
    errors: list[Any] = []

    def reader() -> None:
        for _ in range(4):
            r = env.client.get(path, headers=env.auth("auditor"))
            if r.status_code != 200:
                errors.append(r.text)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = log_client(env, "dpo")
    head = client.tree_head()
    accesses = [e for e in client.audit_all(head) if e.data.kind == "opened_data_accessed"]
    assert len(accesses) == 1 + 24
    with env.app.state.quietmile.session_factory() as s:
        idx = list(s.scalars(select(LogEntry.idx).order_by(LogEntry.idx)))
    assert idx == list(range(len(idx)))


def test_cli_verify_log(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend import cli
    from backend.core.config import get_settings

    busy_world(env)
    monkeypatch.setenv("QUIETMILE_DATABASE_URL", env.db.url)
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(cli.app, ["verify-log"])
        assert r.exit_code == 0, r.output
        assert "consistent" in r.output
        with env.app.state.quietmile.session_factory() as s:
            s.execute(update(LogEntry).where(LogEntry.idx == 1).values(entry=b"\xa0"))
            s.execute(update(LogTreeHead).values(timestamp=0))
            s.commit()
        r = CliRunner().invoke(cli.app, ["verify-log"])
        assert r.exit_code == 1 and "entry 1" in r.output, r.output
    finally:
        get_settings.cache_clear()

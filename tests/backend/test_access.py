"""Every endpoint's allowed roles, and drivers confined to their own vehicles.

Callers: anonymous, operator, auditor, dpo, and two drivers (alice owns the resources under
test, bob owns others). A caller outside the allowed set gets 401 (no token), 403 (wrong
role) or 404 (a driver asking for someone else's thing: its existence is not revealed).
Refused calls must not change the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from backend.db.session import session_scope
from backend.services.tokens import create_token
from protocol import envelopes, labels, messages
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Env
from tests.backend.test_policies import YEAR, form

CALLERS = ("anonymous", "operator", "auditor", "dpo", "alice", "bob")


@dataclass
class World:
    env: Env
    ids: dict[str, Any]


def build_world(env: Env, spot_checks: bool = True) -> World:
    env.publish_policy()
    ids: dict[str, Any] = {"alice": env.driver_ids["alice"], "bob": env.driver_ids["bob"]}
    for who in ("alice", "bob"):
        vid = env.vehicle(f"{who.upper()}-1", driver=who)
        signer = support.obu_signer(who)
        env.obu(f"OBU-{who}", vid, signer)
        b = support.build_statement(signer, f"OBU-{who}")
        assert env.submit(b.envelope).status_code == 201
        ids[f"{who}_vehicle"] = vid
        ids[f"{who}_hash"] = b.hash.hex()
    spare = env.vehicle("ALICE-2", driver="alice")
    env.obu("OBU-revoke-me", spare, support.obu_signer("spare-1"))
    spare2 = env.vehicle("ALICE-3", driver="alice")
    env.obu("OBU-replace-me", spare2, support.obu_signer("spare-2"))
    ids["free_vehicle"] = env.vehicle("ALICE-4", driver="alice")
    draft = env.client.post(
        "/api/v1/policies", json=form(7, support.JAN_2027, support.JAN_2027 + YEAR), headers=env.op
    )
    ids["draft"] = draft.json()["policy_id"]
    with session_scope(env.app.state.quietmile.session_factory) as s:
        ids["spare_token"] = create_token(s, "driver", 0, env.driver_ids["bob"])[0].id
    if spot_checks:
        _spot_checks(env, ids)
    return World(env, ids)


def _spot_checks(env: Env, ids: dict[str, Any]) -> None:
    """A second statement of alice's, a sighting challenge she answered with no segment
    (explainable), and an open dispute about her first statement."""
    signer = support.obu_signer("alice")
    b = support.build_statement(
        signer,
        "OBU-alice",
        seq=1,
        prev_hash=bytes.fromhex(ids["alice_hash"]),
        period=(support.DEC_2026, support.JAN_2027),
    )
    assert env.submit(b.envelope).status_code == 201
    ids["alice_hash2"] = b.hash.hex()
    r = sc.sighting(env, support.NOV_2026 + 3600, 508400000, 43400000, plate="ALICE-1")
    ids["sighting"] = r.json()["id"]
    [ch] = sc.poll(env, signer)
    empty = messages.Opening(ch.challenge_id, "OBU-alice", 0, None, None, None, None)
    sc.answer(env, signer, envelopes.sign_message(empty, signer, labels.CTY_OPENING))
    ids["challenge"] = ch.challenge_id.hex()
    r = env.client.post(
        "/api/v1/disputes",
        json={"statement_hash": ids["alice_hash"], "reason": "x", "consent_to_open_period": True},
        headers=env.auth("alice"),
    )
    ids["dispute"] = r.json()["dispute_id"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with World.ids
    allowed: frozenset[str]
    body: Callable[[dict[str, Any]], Any] | None = None
    # Drivers outside the owner get 404 here (resource-scoped); else 403 if not allowed.
    owner: str | None = None


def E(method: str, path: str, allowed: str, body: Any = None, owner: str | None = None) -> Endpoint:
    return Endpoint(method, path, frozenset(allowed.split()), body, owner)


PUBLIC = " ".join(CALLERS)
ANY_ROLE = "operator auditor dpo alice bob"
ENDPOINTS = [
    E("GET", "/health", PUBLIC),
    E("GET", "/metrics", PUBLIC),
    E("GET", "/api/v1/policies", PUBLIC),
    E("GET", "/api/v1/policies/current", PUBLIC),
    E("GET", "/api/v1/policies/current/json", PUBLIC),
    E("GET", f"/api/v1/policies/{support.POLICY_ID.hex()}", PUBLIC),
    E("GET", f"/api/v1/policies/{support.POLICY_ID.hex()}/envelope", PUBLIC),
    E("GET", "/api/v1/tokens/me", ANY_ROLE),
    E("POST", "/api/v1/tokens", "operator", lambda i: {"driver_id": i["alice"]}),
    E("DELETE", "/api/v1/tokens/{spare_token}", "operator"),
    E("POST", "/api/v1/drivers", "operator", lambda i: {"name": "carol"}),
    E("GET", "/api/v1/drivers", "operator"),
    E("GET", "/api/v1/drivers/{alice}", "operator alice", owner="alice"),
    E(
        "POST",
        "/api/v1/vehicles",
        "operator",
        lambda i: {"plate": "NEW-1", "vehicle_class": 1, "driver_id": i["alice"]},
    ),
    E("GET", "/api/v1/vehicles", "operator alice bob"),
    E("GET", "/api/v1/vehicles/{alice_vehicle}", "operator alice", owner="alice"),
    E("GET", "/api/v1/vehicles/{alice_vehicle}/chain", "operator alice", owner="alice"),
    E(
        "GET",
        "/api/v1/vehicles/{alice_vehicle}/statements",
        "operator auditor alice",
        owner="alice",
    ),
    E(
        "POST",
        "/api/v1/obus",
        "operator",
        lambda i: {
            "obu_id": "OBU-new",
            "public_key": support.obu_signer("new").public_key().hex(),
            "vehicle_id": i["free_vehicle"],
        },
    ),
    E("GET", "/api/v1/obus/OBU-alice", "operator alice", owner="alice"),
    E("GET", "/api/v1/obus/OBU-alice/certificate", "operator alice", owner="alice"),
    E("GET", "/api/v1/obus/OBU-alice/provisioning", "operator"),
    E("POST", "/api/v1/obus/OBU-revoke-me/revoke", "operator", lambda i: {"reason": "lost"}),
    E(
        "POST",
        "/api/v1/obus/OBU-replace-me/replace",
        "operator",
        lambda i: {
            "obu_id": "OBU-replacement",
            "public_key": support.obu_signer("replacement").public_key().hex(),
            "reason": "broken",
        },
    ),
    E(
        "POST",
        "/api/v1/policies",
        "operator",
        lambda i: form(9, support.JAN_2027 + 3 * YEAR, support.JAN_2027 + 4 * YEAR),
    ),
    E("GET", "/api/v1/policies/drafts", "operator"),
    E("POST", "/api/v1/policies/{draft}/publish", "operator"),
    E("DELETE", "/api/v1/policies/{draft}", "operator"),
    E("GET", "/api/v1/statements/{alice_hash}", "operator auditor alice", owner="alice"),
    E("GET", "/api/v1/statements/{alice_hash}/receipt", "operator auditor alice", owner="alice"),
    E("GET", "/api/v1/statements/{alice_hash}/envelope", "operator auditor alice", owner="alice"),
    E("GET", "/api/v1/aggregates", "dpo operator"),
]
# Spot checks, audits, disputes, the transparency log, jobs (their world is bigger).
SPOT_ENDPOINTS = [
    E(
        "POST",
        "/api/v1/sightings",
        "auditor",
        lambda i: {
            "camera_id": "CAM-9",
            "plate": "ALICE-1",
            "lat_e7": 508400000,
            "lon_e7": 43400000,
            "seen_at": support.NOV_2026 + 7200,
            "accuracy_mm": 1000,
        },
    ),
    E("GET", "/api/v1/sightings/{sighting}", "auditor"),
    E("GET", "/api/v1/challenges", "auditor alice bob"),
    E("GET", "/api/v1/challenges/{challenge}", "auditor alice", owner="alice"),
    E("GET", "/api/v1/challenges/{challenge}/opening", "auditor alice", owner="alice"),
    E(
        "POST",
        "/api/v1/challenges/{challenge}/explanation",
        "auditor",
        lambda i: {"accepted": False, "note": "not convincing"},
    ),
    E("POST", "/api/v1/audits", "auditor", lambda i: {"statement_hashes": [i["alice_hash"]]}),
    E(
        "POST",
        "/api/v1/disputes",
        "alice",
        lambda i: {
            "statement_hash": i["alice_hash2"],
            "reason": "wrong total",
            "consent_to_open_period": True,
        },
        owner="alice",
    ),
    E("GET", "/api/v1/disputes", "auditor alice bob"),
    E("GET", "/api/v1/disputes/{dispute}", "auditor alice", owner="alice"),
    E("POST", "/api/v1/disputes/{dispute}/verify", "auditor"),
    E(
        "POST",
        "/api/v1/disputes/{dispute}/resolve",
        "auditor",
        lambda i: {"resolution": "rejected", "reasons": "no openings uploaded"},
    ),
    E("GET", "/api/v1/log/public-key", ANY_ROLE),
    E("GET", "/api/v1/log/tree-head", ANY_ROLE),
    E("GET", "/api/v1/log/entries?start=0&end=2", ANY_ROLE),
    E("GET", "/api/v1/log/proof/inclusion?index=0&size=2", ANY_ROLE),
    E("GET", "/api/v1/log/proof/consistency?first=1&second=2", ANY_ROLE),
    E("GET", "/api/v1/log/mine", "alice bob"),
    E("POST", "/api/v1/jobs/process-sightings", "auditor"),
    E("POST", "/api/v1/jobs/expire-challenges", "auditor"),
    E("POST", "/api/v1/jobs/scheduled-audits", "auditor"),
    E("POST", "/api/v1/jobs/purge", "operator"),
]


def expected_refusal(ep: Endpoint, caller: str) -> int:
    if caller == "anonymous":
        return 401
    if (
        caller in ("alice", "bob")
        and ep.owner is not None
        and ("alice" in ep.allowed or "bob" in ep.allowed)
    ):
        return 404
    return 403


def check_roles(env: Env, world: World, ep: Endpoint) -> None:
    path = ep.path.format(**world.ids)
    body = ep.body(world.ids) if ep.body else None
    # Refused callers first: they must not change anything.
    for caller in [c for c in CALLERS if c not in ep.allowed]:
        before = env.snapshot()
        r = env.client.request(ep.method, path, json=body, headers=env.auth(caller))
        want = expected_refusal(ep, caller)
        assert r.status_code == want, f"{ep.path} {caller}: {r.status_code} {r.text}"
        assert (
            r.json()["error"] in {401: "unauthenticated", 403: "forbidden", 404: "not_found"}[want]
        )
        assert env.snapshot() == before, caller
    # Then the admitted ones (a mutating endpoint is admitted for one role only).
    for caller in [c for c in CALLERS if c in ep.allowed]:
        r = env.client.request(ep.method, path, json=body, headers=env.auth(caller))
        assert 200 <= r.status_code < 300, f"{ep.path} {caller}: {r.status_code} {r.text}"


# Each mutating endpoint gets a fresh world; the spot-check reads share one (they change
# nothing but the log, which each check's own before/after snapshot takes into account).
SPOT_READS = [e for e in SPOT_ENDPOINTS if e.method == "GET"]
ISOLATED = ENDPOINTS + [e for e in SPOT_ENDPOINTS if e.method != "GET"]


@pytest.mark.parametrize("ep", ISOLATED, ids=[f"{e.method} {e.path}" for e in ISOLATED])
def test_endpoint_admits_exactly_its_roles(env: Env, ep: Endpoint) -> None:
    check_roles(env, build_world(env, spot_checks=ep in SPOT_ENDPOINTS), ep)


def test_spot_check_reads_admit_exactly_their_roles(env: Env) -> None:
    world = build_world(env)
    for ep in SPOT_READS:
        check_roles(env, world, ep)


def test_drivers_list_only_their_own_vehicles(env: Env) -> None:
    world = build_world(env, spot_checks=False)
    alice = {v["id"] for v in env.client.get("/api/v1/vehicles", headers=env.auth("alice")).json()}
    bob = {v["id"] for v in env.client.get("/api/v1/vehicles", headers=env.auth("bob")).json()}
    everything = {v["id"] for v in env.client.get("/api/v1/vehicles", headers=env.op).json()}
    assert world.ids["alice_vehicle"] in alice and world.ids["bob_vehicle"] in bob
    assert not alice & bob
    assert alice | bob == everything


def test_cross_driver_attempts_on_every_kind_of_resource(env: Env) -> None:
    ids = build_world(env).ids
    templates = (
        "/api/v1/challenges/{challenge}",
        "/api/v1/challenges/{challenge}/opening",
        "/api/v1/disputes/{dispute}",
        "/api/v1/drivers/{driver}",
        "/api/v1/vehicles/{vehicle}",
        "/api/v1/vehicles/{vehicle}/chain",
        "/api/v1/vehicles/{vehicle}/statements",
        "/api/v1/obus/OBU-{who}",
        "/api/v1/obus/OBU-{who}/certificate",
        "/api/v1/statements/{hash}",
        "/api/v1/statements/{hash}/receipt",
        "/api/v1/statements/{hash}/envelope",
    )

    # bob gets the same spot-check objects of his own.
    bob_signer = support.obu_signer("bob")
    r = sc.sighting(env, support.NOV_2026 + 3600, 508400000, 43400000, plate="BOB-1")
    [ch] = sc.poll(env, bob_signer)
    empty = messages.Opening(ch.challenge_id, "OBU-bob", 0, None, None, None, None)
    sc.answer(env, bob_signer, envelopes.sign_message(empty, bob_signer, labels.CTY_OPENING))
    ids["bob_challenge"] = ch.challenge_id.hex()
    ids["alice_challenge"] = ids["challenge"]
    r = env.client.post(
        "/api/v1/disputes",
        json={"statement_hash": ids["bob_hash"], "reason": "x", "consent_to_open_period": True},
        headers=env.auth("bob"),
    )
    ids["bob_dispute"] = r.json()["dispute_id"]
    ids["alice_dispute"] = ids["dispute"]

    def path(t: str, who: str) -> str:
        return t.format(
            who=who,
            driver=ids[who],
            vehicle=ids[f"{who}_vehicle"],
            hash=ids[f"{who}_hash"],
            challenge=ids[f"{who}_challenge"],
            dispute=ids[f"{who}_dispute"],
        )

    for t in templates:
        assert env.client.get(path(t, "alice"), headers=env.auth("alice")).status_code == 200, t
        theirs = env.client.get(path(t, "bob"), headers=env.auth("alice"))
        # Indistinguishable from a resource that does not exist.
        assert (theirs.status_code, theirs.json()["error"]) == (404, "not_found"), t


def test_revoked_and_malformed_tokens_are_401(env: Env) -> None:
    r = env.client.post(
        "/api/v1/tokens", json={"driver_id": env.driver_ids["alice"]}, headers=env.op
    )
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    me = env.client.get("/api/v1/tokens/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "driver" and me.json()["driver_id"] == env.driver_ids["alice"]
    assert env.client.delete(f"/api/v1/tokens/{token_id}", headers=env.op).status_code == 204
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Basic {token}"},
    ):
        r = env.client.get("/api/v1/tokens/me", headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
        assert r.headers["www-authenticate"] == "Bearer"


def test_operator_cannot_mint_privileged_tokens_over_the_api(env: Env) -> None:
    for role in ("operator", "auditor", "dpo"):
        r = env.client.post("/api/v1/tokens", json={"role": role, "driver_id": 1}, headers=env.op)
        assert r.status_code == 422, role
    r = env.client.post("/api/v1/tokens", json={"driver_id": 99999}, headers=env.op)
    assert r.status_code == 404


def test_tokens_are_stored_hashed(env: Env) -> None:
    from sqlalchemy import select

    from backend.db.models import ApiToken
    from backend.security import hash_token

    with env.app.state.quietmile.session_factory() as s:
        stored = set(s.scalars(select(ApiToken.token_hash)))
    for secret in env.tokens.values():
        assert hash_token(secret) in stored
        assert secret.encode() not in stored

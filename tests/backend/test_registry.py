"""Registry and provisioning: vehicles, OBUs, certificates, revocation and replacement
without losing the vehicle's statement chain."""

from __future__ import annotations

import base64

from protocol import envelopes, labels, messages
from tests.backend import support
from tests.backend.conftest import Env, Fleet


def test_provisioning_issues_a_certificate_signed_by_the_authority(fleet: Fleet) -> None:
    env = fleet.env
    prov = fleet.provisioned
    auth = env.authority
    cert, kid = envelopes.open_message(
        base64.b64decode(prov["certificate_b64"]),
        messages.ObuCertificate,
        lambda k: auth.public_key() if k == auth.kid else None,
        labels.CTY_OBU_CERTIFICATE,
    )
    assert kid == auth.kid
    assert cert.obu_id == fleet.obu_id
    assert cert.public_key == fleet.signer.public_key()
    assert cert.vehicle_class == 1
    assert cert.issued_at == env.clock.now < cert.valid_until
    assert prov["chain"] == {"next_seq": 0, "prev_hash": "00" * 32}
    assert prov["kid"] == fleet.signer.kid.hex()
    assert prov["authority_kid"] == auth.kid.hex()
    raw = env.client.get(f"/api/v1/obus/{fleet.obu_id}/certificate", headers=env.op)
    assert raw.content == base64.b64decode(prov["certificate_b64"])


def test_plate_is_normalised_and_unique(env: Env) -> None:
    vid = env.vehicle(" b-qm 7 ")
    assert env.client.get(f"/api/v1/vehicles/{vid}", headers=env.op).json()["plate"] == "B-QM 7"
    r = env.client.post(
        "/api/v1/vehicles",
        json={"plate": "B-QM 7", "vehicle_class": 2, "driver_id": env.driver_ids["bob"]},
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (409, "plate_exists")


def test_vehicle_for_unknown_driver_is_404(env: Env) -> None:
    r = env.client.post(
        "/api/v1/vehicles",
        json={"plate": "X1", "vehicle_class": 1, "driver_id": 999999},
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_registration_conflicts(fleet: Fleet) -> None:
    env = fleet.env
    other_vehicle = env.vehicle("B-QM-9")
    cases = [
        # second active unit on one vehicle
        (
            {"obu_id": "OBU-A2", "vehicle_id": fleet.vehicle_id},
            support.obu_signer("a2"),
            "vehicle_has_active_obu",
        ),
        # same obu_id again
        (
            {"obu_id": fleet.obu_id, "vehicle_id": other_vehicle},
            support.obu_signer("a3"),
            "obu_exists",
        ),
        # the same key for another unit
        ({"obu_id": "OBU-A4", "vehicle_id": other_vehicle}, fleet.signer, "key_in_use"),
    ]
    for body, signer, code in cases:
        before = env.snapshot()
        r = env.client.post(
            "/api/v1/obus", json={**body, "public_key": signer.public_key().hex()}, headers=env.op
        )
        assert (r.status_code, r.json()["error"]) == (409, code)
        assert env.snapshot() == before


def test_public_key_off_the_curve_is_invalid_key(env: Env) -> None:
    vid = env.vehicle("B-QM-3")
    bad = "04" + "11" * 64
    r = env.client.post(
        "/api/v1/obus",
        json={"obu_id": "OBU-X", "public_key": bad, "vehicle_id": vid},
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (400, "invalid_key")
    r = env.client.post(
        "/api/v1/obus",
        json={"obu_id": "OBU-X", "public_key": "02" + "11" * 32, "vehicle_id": vid},
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (422, "validation_error")


def test_revoked_unit_is_refused_with_key_revoked(fleet: Fleet) -> None:
    env = fleet.env
    r = env.client.post(
        f"/api/v1/obus/{fleet.obu_id}/revoke", json={"reason": "stolen"}, headers=env.op
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    before = env.snapshot()
    r = env.submit(support.build_statement(fleet.signer, fleet.obu_id).envelope)
    assert (r.status_code, r.json()["error"]) == (403, "key_revoked")
    assert env.snapshot() == before
    again = env.client.post(
        f"/api/v1/obus/{fleet.obu_id}/revoke", json={"reason": "x"}, headers=env.op
    )
    assert (again.status_code, again.json()["error"]) == (409, "already_revoked")


def test_replacement_unit_continues_the_vehicle_chain(fleet: Fleet) -> None:
    env = fleet.env
    s0 = support.build_statement(fleet.signer, fleet.obu_id)
    assert env.submit(s0.envelope).status_code == 201

    new_signer = support.obu_signer("alice-2")
    r = env.client.post(
        f"/api/v1/obus/{fleet.obu_id}/replace",
        json={"obu_id": "OBU-A2", "public_key": new_signer.public_key().hex(), "reason": "broken"},
        headers=env.op,
    )
    assert r.status_code == 201, r.text
    prov = r.json()
    assert prov["chain"] == {"next_seq": 1, "prev_hash": s0.hash.hex()}
    assert prov["vehicle_id"] == fleet.vehicle_id
    old = env.client.get(f"/api/v1/obus/{fleet.obu_id}", headers=env.op).json()
    assert old["status"] == "revoked" and old["replaced_by"] == "OBU-A2"
    assert old["revoked_reason"] == "broken"

    # The broken unit's key is refused, even for a statement that would fit the chain.
    stale = support.build_statement(fleet.signer, fleet.obu_id, seq=1, prev_hash=s0.hash)
    assert env.submit(stale.envelope).json()["error"] == "key_revoked"
    # The new unit continues from the handed-out chain position.
    s1 = support.build_statement(
        new_signer,
        "OBU-A2",
        seq=prov["chain"]["next_seq"],
        prev_hash=bytes.fromhex(prov["chain"]["prev_hash"]),
        period=(support.DEC_2026, support.DEC_2026 + 86400),
    )
    env.clock.now = support.DEC_2026 + 2 * 86400
    r = env.submit(s1.envelope)
    assert r.status_code == 201, r.text
    rows = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}/statements", headers=env.op).json()
    assert [(x["obu_id"], x["seq"], x["continuity"]) for x in rows] == [
        ("OBU-A1", 0, "first"),
        ("OBU-A2", 1, "contiguous"),
    ]
    # A new unit starting over at seq 0 would fork the chain.
    fork = support.build_statement(new_signer, "OBU-A2", seed=b"fork")
    assert env.submit(fork.envelope).json()["error"] == "chain_broken"
    # A unit is replaced once.
    r = env.client.post(
        f"/api/v1/obus/{fleet.obu_id}/replace",
        json={
            "obu_id": "OBU-A3",
            "public_key": support.obu_signer("a3").public_key().hex(),
            "reason": "x",
        },
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (409, "already_replaced")


def test_replacing_an_unknown_unit_is_404(env: Env) -> None:
    r = env.client.post(
        "/api/v1/obus/NOPE/replace",
        json={
            "obu_id": "OBU-N",
            "public_key": support.obu_signer("n").public_key().hex(),
            "reason": "x",
        },
        headers=env.op,
    )
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_vehicle_view_names_its_active_unit(fleet: Fleet) -> None:
    env = fleet.env
    v = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}", headers=env.op).json()
    assert v["active_obu_id"] == fleet.obu_id

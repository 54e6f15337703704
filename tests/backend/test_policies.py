"""Tariff policies: create, sign, publish, list by validity, current for the OBU, refusals."""

from __future__ import annotations

import base64
from typing import Any

from backend.services.policies import form_from_policy
from protocol import envelopes
from tests.backend import support
from tests.backend.conftest import Env

YEAR = 365 * 86400


def form(
    version: int = 1, valid_from: int | None = None, valid_until: int | None = None
) -> dict[str, Any]:
    f = form_from_policy(support.POLICY).model_dump()
    f["version"] = version
    if valid_from is not None:
        f["valid_from"] = valid_from
        f["utc_offsets"] = [{"from_t": valid_from, "offset_s": 3600}]
    if valid_until is not None:
        f["valid_until"] = valid_until
    return f


def test_created_policy_is_a_signed_draft_until_published(env: Env) -> None:
    r = env.client.post("/api/v1/policies", json=form(), headers=env.op)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "draft"
    assert body["policy_id"] == support.POLICY_ID.hex()
    policy, pid = envelopes.open_policy(
        base64.b64decode(body["envelope_b64"]),
        lambda k: env.authority.public_key() if k == env.authority.kid else None,
    )
    assert pid == support.POLICY_ID
    assert bytes.fromhex(body["envelope_hex"]) == base64.b64decode(body["envelope_b64"])
    # Drafts are not public.
    assert env.client.get(f"/api/v1/policies/{pid.hex()}").status_code == 404
    assert env.client.get("/api/v1/policies").json() == []
    assert [
        p["policy_id"] for p in env.client.get("/api/v1/policies/drafts", headers=env.op).json()
    ] == [pid.hex()]
    assert (
        env.client.post(f"/api/v1/policies/{pid.hex()}/publish", headers=env.op).status_code == 200
    )
    listed = env.client.get("/api/v1/policies").json()
    assert [p["policy_id"] for p in listed] == [pid.hex()]
    again = env.client.post(f"/api/v1/policies/{pid.hex()}/publish", headers=env.op)
    assert (again.status_code, again.json()["error"]) == (409, "already_published")


def test_current_policy_raw_and_json(env: Env) -> None:
    pid = env.publish_policy()
    raw = env.client.get("/api/v1/policies/current")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/cose"
    assert raw.headers["qm-policy-id"] == pid
    policy, got = envelopes.open_policy(
        raw.content, lambda k: env.authority.public_key() if k == env.authority.kid else None
    )
    assert got.hex() == pid
    view = env.client.get("/api/v1/policies/current/json").json()
    assert base64.b64decode(view["envelope_b64"]) == raw.content
    assert view["body"] == form()
    assert env.client.get(f"/api/v1/policies/{pid}/envelope").content == raw.content
    # No policy is valid outside its interval.
    r = env.client.get(f"/api/v1/policies/current?at={support.JAN_2027}")
    assert (r.status_code, r.json()["error"]) == (404, "no_current_policy")


def test_list_by_validity(env: Env) -> None:
    first = env.publish_policy()
    r = env.client.post(
        "/api/v1/policies", json=form(2, support.JAN_2027, support.JAN_2027 + YEAR), headers=env.op
    )
    second = r.json()["policy_id"]
    env.client.post(f"/api/v1/policies/{second}/publish", headers=env.op)

    def at(t: int) -> list[str]:
        return [p["policy_id"] for p in env.client.get(f"/api/v1/policies?valid_at={t}").json()]

    assert at(support.NOV_2026) == [first]
    assert at(support.JAN_2027) == [second]
    assert at(support.JAN_2027 + 2 * YEAR) == []
    assert len(env.client.get("/api/v1/policies").json()) == 2


def test_overlapping_policy_is_refused(env: Env) -> None:
    env.publish_policy()
    before = env.snapshot()
    overlap = form(2, support.DEC_2026, support.JAN_2027 + YEAR)
    r = env.client.post("/api/v1/policies", json=overlap, headers=env.op)
    assert (r.status_code, r.json()["error"]) == (409, "policy_overlap")
    assert env.snapshot() == before


def test_overlap_is_checked_again_at_publication(env: Env) -> None:
    a = env.client.post("/api/v1/policies", json=form(1), headers=env.op).json()["policy_id"]
    b = env.client.post(
        "/api/v1/policies", json=form(2, support.DEC_2026, support.JAN_2027 + YEAR), headers=env.op
    ).json()["policy_id"]
    assert env.client.post(f"/api/v1/policies/{a}/publish", headers=env.op).status_code == 200
    r = env.client.post(f"/api/v1/policies/{b}/publish", headers=env.op)
    assert (r.status_code, r.json()["error"]) == (409, "policy_overlap")


def test_versions_must_be_new_and_increasing(env: Env) -> None:
    later = env.client.post(
        "/api/v1/policies", json=form(5, support.JAN_2027, support.JAN_2027 + YEAR), headers=env.op
    ).json()["policy_id"]
    env.client.post(f"/api/v1/policies/{later}/publish", headers=env.op)
    r = env.client.post("/api/v1/policies", json=form(5), headers=env.op)
    assert (r.status_code, r.json()["error"]) == (409, "policy_version_conflict")
    older = env.client.post("/api/v1/policies", json=form(3), headers=env.op).json()["policy_id"]
    r = env.client.post(f"/api/v1/policies/{older}/publish", headers=env.op)
    assert (r.status_code, r.json()["error"]) == (409, "policy_version_conflict")


def test_malformed_policies_are_refused_precisely(env: Env) -> None:
    incomplete = form()
    incomplete["rates"] = incomplete["rates"][1:]  # one (zone, band, class) cell unpriced
    unknown_zone = form()
    unknown_zone["rates"][0]["zone_id"] = 77
    backwards = form(valid_until=support.POLICY.valid_from)
    late_offsets = form()
    late_offsets["utc_offsets"] = [{"from_t": support.POLICY.valid_from + 1, "offset_s": 3600}]
    not_minutes = form()
    not_minutes["utc_offsets"][0]["offset_s"] = 3601
    for name, body in {
        "incomplete rates": incomplete,
        "rate for unknown zone": unknown_zone,
        "empty validity": backwards,
        "offsets start late": late_offsets,
        "offset not whole minutes": not_minutes,
    }.items():
        r = env.client.post("/api/v1/policies", json=body, headers=env.op)
        assert (r.status_code, r.json()["error"]) == (422, "policy_error"), name
        assert r.json()["detail"], name
    schema_errors = {
        "float rate": {**form(), "rates": [{**form()["rates"][0], "rate_micro_per_km": 1.5}]},
        "two-vertex ring": {
            **form(),
            "zones": [{"zone_id": 1, "name": "z", "polygons": [[[[0, 0], [1, 1]]]]}],
        },
        "unknown field": {**form(), "colour": "red"},
        "lower-case currency": {**form(), "currency": "eur"},
    }
    for name, body in schema_errors.items():
        r = env.client.post("/api/v1/policies", json=body, headers=env.op)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), name
    assert env.client.get("/api/v1/policies/drafts", headers=env.op).json() == []


def test_drafts_can_be_deleted_published_policies_cannot(env: Env) -> None:
    pid = env.publish_policy()
    r = env.client.delete(f"/api/v1/policies/{pid}", headers=env.op)
    assert (r.status_code, r.json()["error"]) == (409, "already_published")
    draft = env.client.post(
        "/api/v1/policies", json=form(2, support.JAN_2027, support.JAN_2027 + YEAR), headers=env.op
    ).json()["policy_id"]
    assert env.client.delete(f"/api/v1/policies/{draft}", headers=env.op).status_code == 204
    assert env.client.get("/api/v1/policies/drafts", headers=env.op).json() == []


def test_bad_policy_ids_are_404(env: Env) -> None:
    for pid in ("xyz", "00" * 16, "AB" * 16):
        assert env.client.get(f"/api/v1/policies/{pid}").status_code == 404

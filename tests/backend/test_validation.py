"""Hostile JSON input is a 422, never a database error: ids beyond INTEGER, NUL and control
characters in stored text (PostgreSQL text cannot hold NUL), malformed OBU ids in paths."""

from __future__ import annotations

import pytest

from tests.backend import support
from tests.backend.conftest import Env

HUGE = (2**31, 2**63, 10**30, 0, -1)


@pytest.mark.parametrize("big", HUGE)
def test_out_of_range_ids_are_422(env: Env, big: int) -> None:
    key = support.obu_signer("v").public_key().hex()
    calls = [
        ("GET", f"/api/v1/drivers/{big}", None),
        ("GET", f"/api/v1/vehicles/{big}", None),
        ("GET", f"/api/v1/vehicles/{big}/chain", None),
        ("GET", f"/api/v1/vehicles/{big}/statements", None),
        ("DELETE", f"/api/v1/tokens/{big}", None),
        ("POST", "/api/v1/vehicles", {"plate": "X", "vehicle_class": 1, "driver_id": big}),
        ("POST", "/api/v1/tokens", {"driver_id": big}),
        ("POST", "/api/v1/obus", {"obu_id": "A", "public_key": key, "vehicle_id": big}),
    ]
    before = env.snapshot()
    for method, path, body in calls:
        r = env.client.request(method, path, json=body, headers=env.op)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), (method, path)
    assert env.snapshot() == before


@pytest.mark.parametrize("text", ["a\x00b", "line\nbreak", "\x7f"])
def test_control_characters_in_stored_text_are_422(env: Env, text: str) -> None:
    vid = env.vehicle("V-1")
    env.obu("OBU-V", vid, support.obu_signer("v"))
    calls = [
        ("/api/v1/drivers", {"name": text}),
        ("/api/v1/tokens", {"driver_id": env.driver_ids["alice"], "label": text}),
        ("/api/v1/obus/OBU-V/revoke", {"reason": text}),
        (
            "/api/v1/vehicles",
            {"plate": text, "vehicle_class": 1, "driver_id": env.driver_ids["alice"]},
        ),
    ]
    before = env.snapshot()
    for path, body in calls:
        r = env.client.post(path, json=body, headers=env.op)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), path
    assert env.snapshot() == before


def test_malformed_obu_ids_in_paths_are_422(env: Env) -> None:
    for obu in ("OBU%00X", "x" * 65, "a%20b"):
        r = env.client.get(f"/api/v1/obus/{obu}", headers=env.op)
        assert (r.status_code, r.json()["error"]) == (422, "validation_error"), obu

"""Fixtures: the same suite runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL: ``postgresql+psycopg://postgres@127.0.0.1:5432/test`` (override with
QUIETMILE_TEST_PG_URL). Each test session works in a schema of its own, created here and
dropped at the end, so parallel runs and other suites sharing the database don't collide.
When the server is unreachable the PostgreSQL half is skipped with the reason.

The schema is created through the Alembic migrations (never metadata.create_all), once per
database and session; tests start from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.core.config import Settings
from backend.crypto.signer import CryptographySigner
from backend.db import migrate
from backend.db.session import make_engine, session_scope
from backend.main import create_app
from backend.services.policies import form_from_policy
from backend.services.tokens import create_token
from tests.backend import support

PG_URL = os.environ.get(
    "QUIETMILE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# 2026-12-01 00:05 UTC: just after the November period the tests submit.
T0 = support.DEC_2026 + 300


def _pg_unreachable_reason() -> str | None:
    import psycopg

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(plain, connect_timeout=3):
            return None
    except psycopg.Error as e:
        return f"PostgreSQL not reachable at {PG_URL}: {str(e).strip().splitlines()[0]}"


def pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def create_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')


def drop_pg_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@dataclass
class Database:
    kind: str
    url: str
    engine: Engine


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'quietmile.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        yield Database("sqlite", url, engine)
        engine.dispose()
        return
    reason = _pg_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    schema = f"qm_test_{uuid.uuid4().hex[:12]}"
    create_pg_schema(schema)
    url = pg_schema_url(schema)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        yield Database("postgres", url, engine)
    finally:
        engine.dispose()
        drop_pg_schema(schema)


@pytest.fixture(scope="session")
def authority() -> CryptographySigner:
    return CryptographySigner(ec.generate_private_key(ec.SECP256R1()))


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@dataclass
class Env:
    """A running app on an empty database, with one token per role and two drivers."""

    db: Database
    client: TestClient
    app: Any
    clock: Clock
    authority: CryptographySigner
    tokens: dict[str, str] = field(default_factory=dict)
    driver_ids: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}

    @property
    def op(self) -> dict[str, str]:
        return self.auth("operator")

    def submit(self, envelope: bytes, content_type: str = "application/cose") -> Any:
        return self.client.post(
            "/api/v1/statements", content=envelope, headers={"content-type": content_type}
        )

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return support.snapshot(self.db.engine)

    # --- registry shortcuts ------------------------------------------------------------
    def vehicle(self, plate: str, driver: str = "alice", vehicle_class: int = 1) -> int:
        r = self.client.post(
            "/api/v1/vehicles",
            json={
                "plate": plate,
                "vehicle_class": vehicle_class,
                "driver_id": self.driver_ids[driver],
            },
            headers=self.op,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def obu(self, obu_id: str, vehicle_id: int, signer: Any) -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/obus",
            json={
                "obu_id": obu_id,
                "public_key": signer.public_key().hex(),
                "vehicle_id": vehicle_id,
            },
            headers=self.op,
        )
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    def publish_policy(self, policy: Any = None) -> str:
        form = form_from_policy(policy or support.POLICY)
        r = self.client.post("/api/v1/policies", json=form.model_dump(), headers=self.op)
        assert r.status_code == 201, r.text
        pid = str(r.json()["policy_id"])
        r = self.client.post(f"/api/v1/policies/{pid}/publish", headers=self.op)
        assert r.status_code == 200, r.text
        return pid


def make_env(db: Database, authority: CryptographySigner, tmp_path: Path, **settings: Any) -> Env:
    support.wipe(db.engine)
    cfg = Settings(database_url=db.url, key_dir=tmp_path / "keys", auto_migrate=False, **settings)
    clock = Clock(T0)
    app = create_app(cfg, signer=authority, clock=clock)
    env = Env(db, TestClient(app), app, clock, authority)
    factory = app.state.quietmile.session_factory
    with session_scope(factory) as s:
        for role in ("operator", "auditor", "dpo"):
            env.tokens[role] = create_token(s, role, T0)[1]
    for name in ("alice", "bob"):
        r = env.client.post("/api/v1/drivers", json={"name": name}, headers=env.op)
        env.driver_ids[name] = r.json()["id"]
        with session_scope(factory) as s:
            env.tokens[name] = create_token(s, "driver", T0, env.driver_ids[name])[1]
    return env


@pytest.fixture
def env(database: Database, authority: CryptographySigner, tmp_path: Path) -> Iterator[Env]:
    e = make_env(database, authority, tmp_path)
    yield e
    e.client.close()
    e.app.state.quietmile.engine.dispose()


@dataclass
class Fleet:
    """env + one published policy + alice's vehicle with an active OBU."""

    env: Env
    vehicle_id: int
    obu_id: str
    signer: Any
    provisioned: dict[str, Any]


def make_fleet(env: Env) -> Fleet:
    env.publish_policy()
    vid = env.vehicle("B-QM-1")
    signer = support.obu_signer("alice-1")
    prov = env.obu("OBU-A1", vid, signer)
    return Fleet(env, vid, "OBU-A1", signer, prov)


@pytest.fixture
def fleet(env: Env) -> Fleet:
    return make_fleet(env)

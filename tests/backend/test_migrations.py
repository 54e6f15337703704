"""The schema is made by the Alembic migrations, and they match the ORM models exactly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from backend.db import migrate
from backend.db.base import Base
from backend.db.session import make_engine
from tests.backend import conftest
from tests.backend.conftest import Database


@pytest.fixture
def empty_engine(database: Database, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, empty database of the same kind as ``database``."""
    if database.kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"qm_mig_{uuid.uuid4().hex[:12]}"
    conftest.create_pg_schema(schema)
    engine = make_engine(conftest.pg_schema_url(schema))
    try:
        yield engine
    finally:
        engine.dispose()
        conftest.drop_pg_schema(schema)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_table_and_matches_the_models(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.is_up_to_date(empty_engine)
    assert tables(empty_engine) == set(Base.metadata.tables)
    with empty_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff


def test_downgrade_and_upgrade_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert tables(empty_engine) == set()
    migrate.upgrade(empty_engine)
    assert tables(empty_engine) == set(Base.metadata.tables)


def test_the_suite_database_is_at_head(database: Database) -> None:
    assert migrate.is_up_to_date(database.engine)

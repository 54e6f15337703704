"""Engine and session factory for SQLite (embedded default) and PostgreSQL (psycopg 3).

SQLite: foreign keys on, WAL journal, a busy timeout, and transactions begun explicitly so
that writers can ask for ``BEGIN IMMEDIATE`` (see ``begin_write``): a deferred transaction
that reads and then writes fails at once with SQLITE_BUSY when another writer committed in
between, which the busy timeout does not cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_WRITE_OPTION = "quietmile_write"


def normalise_url(url: str) -> str:
    """Map bare ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, connect_args: dict[str, Any] | None = None) -> Engine:
    """An Engine for ``url`` with the per-dialect settings described above."""
    url = normalise_url(url)
    parsed = make_url(url)
    args: dict[str, Any] = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        args.setdefault("check_same_thread", False)
        args.setdefault("timeout", 30)
        engine = create_engine(url, connect_args=args)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, connect_args=args, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN
        # cannot be made IMMEDIATE per transaction).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: services end a read transaction early (commit) and keep using
    # the rows they loaded while doing slow crypto outside any transaction.
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def begin_write(session: Session) -> None:
    """Start the session's next transaction as a write transaction.

    Must be called when the session has no transaction in progress (fresh, or right after
    commit/rollback). On SQLite it takes the write lock up front (BEGIN IMMEDIATE); on
    PostgreSQL the option is ignored and unique constraints arbitrate races.
    """
    session.connection(execution_options={_WRITE_OPTION: True})


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that is committed on success and rolled back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

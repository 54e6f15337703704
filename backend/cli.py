"""Command line: ``python -m backend.cli init-keys | migrate | serve | create-token | jobs |
purge | verify-log``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console

from backend.core.config import get_settings
from backend.core.logging import configure_logging
from backend.db import migrate as db_migrate
from backend.db.models import ROLES
from backend.db.session import make_engine, make_session_factory, session_scope
from backend.keys import (
    key_path,
    load_authority_key,
    load_or_create_authority_key,
    load_or_create_log_key,
    load_or_create_opened_data_key,
)

app = typer.Typer(help="quietmile backend administration", no_args_is_help=True)
console = Console(stderr=True)


@app.command("init-keys")
def init_keys() -> None:
    """Create the authority signing key in the key directory (or show the existing one)."""
    settings = get_settings()
    existed = key_path(settings.key_dir).exists()
    signer = load_or_create_authority_key(settings.key_dir)
    console.print(
        f"{'existing' if existed else 'created'} authority key {key_path(settings.key_dir)}"
    )
    typer.echo(f"kid={signer.kid.hex()}")
    typer.echo(f"public_key={signer.public_key().hex()}")
    log_signer = load_or_create_log_key(settings.key_dir)
    load_or_create_opened_data_key(settings.key_dir)
    typer.echo(f"log_kid={log_signer.kid.hex()}")
    typer.echo(f"log_public_key={log_signer.public_key().hex()}")


@app.command()
def migrate(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the Alembic migrations to the configured database."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    db_migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {db_migrate.current_revision(engine)}")
    engine.dispose()


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option()] = 1,
) -> None:
    """Migrate, then serve the API with uvicorn."""
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url)
    db_migrate.upgrade(engine)
    engine.dispose()
    load_or_create_authority_key(settings.key_dir)
    uvicorn.run(
        "backend.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


@app.command("create-token")
def create_token(
    role: Annotated[str, typer.Option(help="one of: " + ", ".join(ROLES))],
    driver_id: Annotated[int | None, typer.Option(help="required for role driver")] = None,
    label: Annotated[str, typer.Option()] = "",
) -> None:
    """Create an API token; prints the secret once (only its hash is stored)."""
    from backend.errors import ApiError
    from backend.services.tokens import create_token as _create

    settings = get_settings()
    engine = make_engine(settings.database_url)
    db_migrate.upgrade(engine)
    try:
        with session_scope(make_session_factory(engine)) as session:
            row, secret = _create(session, role, int(time.time()), driver_id, label)
            token_id = row.id
    except ApiError as e:
        console.print(f"[red]{e.code}[/red]: {e.detail}")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(f"token {token_id} for role {role} (shown once):")
    typer.echo(secret)


@app.command("show-key")
def show_key() -> None:
    """Print the authority key id and public key."""
    signer = load_authority_key(get_settings().key_dir)
    typer.echo(f"kid={signer.kid.hex()}")
    typer.echo(f"public_key={signer.public_key().hex()}")


NowOption = Annotated[
    int | None,
    typer.Option(help="act as of this Unix time (default: now); for back-fills and tests"),
]


def _check_context() -> tuple[Any, Any]:
    """An engine (migrated) and the CheckContext the jobs need, from the settings."""
    from backend.crypto.group import SodiumGroup
    from backend.crypto.sealing import Sealer
    from backend.services.context import CheckContext

    settings = get_settings()
    engine = make_engine(settings.database_url)
    db_migrate.upgrade(engine)
    ctx = CheckContext.build(
        settings,
        load_or_create_authority_key(settings.key_dir),
        SodiumGroup(),
        Sealer(load_or_create_opened_data_key(settings.key_dir)),
    )
    return engine, ctx


@app.command()
def jobs(now: NowOption = None) -> None:
    """Run the periodic jobs once: challenge pending sightings, expire unanswered
    challenges, scheduled random audits. Run it from cron (e.g. every 5 minutes)."""
    from backend.services import audits, challenges, sightings

    engine, ctx = _check_context()
    t = int(time.time()) if now is None else now
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            r = sightings.process_pending(s, ctx, t)
        with factory() as s:
            expired = challenges.expire_challenges(s, t)
        with factory() as s:
            a = audits.run_scheduled(s, ctx, t)
    finally:
        engine.dispose()
    typer.echo(
        f"sightings challenged={r.challenged} unanswerable={r.unanswerable} "
        f"pending={r.pending}; challenges expired={expired}; "
        f"audits statements={a.considered} challenges={len(a.challenges)}"
    )


@app.command()
def purge(now: NowOption = None) -> None:
    """Delete opened records and sightings past their retention windows (logged)."""
    from backend.services import retention

    settings = get_settings()
    engine = make_engine(settings.database_url)
    db_migrate.upgrade(engine)
    t = int(time.time()) if now is None else now
    try:
        with make_session_factory(engine)() as s:
            r = retention.purge(s, settings, t)
    finally:
        engine.dispose()
    typer.echo(f"purged opened_records={r.opened_records} sightings={r.sightings}")


@app.command("verify-log")
def verify_log() -> None:
    """Check the whole transparency log: every leaf hash against its entry, contiguous
    indices, and every signed tree head's root. Exit 1 if anything is off."""
    from backend.services import transparency_log as tlog

    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as s:
            count = tlog.verify_stored_entries(s)
            index = tlog.LogIndex()
            index.sync(s)
            tlog.check_signed_heads(s, index, all_heads=True)
    except tlog.LogCorrupt as e:
        console.print(f"[red]log inconsistent[/red]: {e}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"log consistent: {count} entries, every signed tree head matches")


if __name__ == "__main__":
    app()

"""Command line: ``python -m backend.cli init-keys | migrate | serve | create-token``."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console

from backend.core.config import get_settings
from backend.core.logging import configure_logging
from backend.db import migrate as db_migrate
from backend.db.models import ROLES
from backend.db.session import make_engine, make_session_factory, session_scope
from backend.keys import key_path, load_authority_key, load_or_create_authority_key

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


if __name__ == "__main__":
    app()

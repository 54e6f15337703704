"""The FastAPI application factory.

``create_app()`` reads the settings, opens the database (migrating it if configured), loads
or creates the authority key and wires the routers. Tests pass their own settings, signer
and clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from backend.api import errors
from backend.api.deps import AppState
from backend.api.routes import (
    aggregates,
    drivers,
    health,
    obus,
    policies,
    statements,
    tokens,
    vehicles,
)
from backend.core.config import Settings, get_settings
from backend.core.logging import configure_logging
from backend.crypto.signer import Signer
from backend.db import migrate
from backend.db.session import make_engine, make_session_factory
from backend.keys import load_or_create_authority_key
from backend.services.ingest import Group

log = logging.getLogger("quietmile.http")

DESCRIPTION = """\
The tax authority's backend of **quietmile**, privacy-preserving road-usage charging.

On-board units price their own driving and send only signed, Pedersen-committed statements;
this service verifies them (protocol/SPEC.md §6), keeps the vehicle/OBU registry and the
signed tariff policies, and answers with signed receipts.

Authentication: JSON endpoints take `Authorization: Bearer <token>` (roles operator, auditor,
driver, dpo). Statements authenticate themselves (COSE_Sign1 with the OBU key); other OBU
requests carry a signed `QM-Signed-Request` header. Errors are
`{"error": <stable code>, "detail": ...}`.
"""


def _default_group() -> Group:
    from backend.crypto.group import SodiumGroup

    group: Group = SodiumGroup()
    return group


def create_app(
    settings: Settings | None = None,
    *,
    signer: Signer | None = None,
    clock: Callable[[], float] | None = None,
    group: Group | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    if settings.auto_migrate:
        migrate.upgrade(engine)
    state = AppState(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        signer=signer or load_or_create_authority_key(settings.key_dir),
        group=group or _default_group(),
        clock=clock or time.time,
    )

    app = FastAPI(
        title="quietmile backend",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
    )
    app.state.quietmile = state
    errors.install(app)
    for module in (health, tokens, drivers, vehicles, obus, policies, statements, aggregates):
        app.include_router(module.router)
    app.include_router(obus.obu_router)

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - t0) * 1000, 1),
            },
        )
        return response

    return app


def app_from_env() -> FastAPI:
    """Entry point for `uvicorn --factory backend.main:app_from_env`."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)

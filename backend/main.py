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
    audits,
    challenges,
    disputes,
    drivers,
    health,
    jobs,
    obu_checks,
    obus,
    policies,
    sightings,
    statements,
    tokens,
    transparency,
    vehicles,
)
from backend.core.config import Settings, get_settings
from backend.core.logging import configure_logging
from backend.crypto.sealing import Sealer
from backend.crypto.signer import Signer
from backend.db import migrate
from backend.db.session import make_engine, make_session_factory
from backend.keys import (
    load_or_create_authority_key,
    load_or_create_log_key,
    load_or_create_opened_data_key,
)
from backend.services import transparency_log
from backend.services.context import CheckContext
from backend.services.ingest import Group
from backend.services.transparency_log import LogIndex

log = logging.getLogger("quietmile.http")

DESCRIPTION = """\
The tax authority's backend of **quietmile**, privacy-preserving road-usage charging.

On-board units price their own driving and send only signed, Pedersen-committed statements;
this service verifies them (protocol/SPEC.md §6), keeps the vehicle/OBU registry and the
signed tariff policies, and answers with signed receipts. Auditors turn camera sightings and
random audits into challenges whose Openings are verified here; drivers dispute statements;
every challenge, opening and access to opened data is recorded in a verifiable transparency
log (RFC 9162 Merkle tree, signed tree heads, inclusion and consistency proofs).

Authentication: JSON endpoints take `Authorization: Bearer <token>` (roles operator, auditor,
driver, dpo). Statements authenticate themselves (COSE_Sign1 with the OBU key); other OBU
requests carry a signed `QM-Signed-Request` header. Errors are
`{"error": <stable code>, "detail": ...}`.
"""


def _default_group() -> Group:
    from backend.crypto.group import SodiumGroup

    group: Group = SodiumGroup()
    return group


def _rebuild_log(state: AppState) -> None:
    """Rebuild the log's Merkle tree from the database and check it still has the root of the
    last signed tree head. A mismatch means the stored log was altered: the app still starts
    (so the evidence can be inspected) but /health reports it and the log API refuses."""
    if not migrate.is_up_to_date(state.engine):
        return  # not migrated yet: the tree is built on first use
    with state.session_factory() as session:
        try:
            size = state.log_index.sync(session)
            transparency_log.check_signed_heads(session, state.log_index)
        except transparency_log.LogCorrupt as e:
            state.log_index.corrupt = str(e)
            transparency_log.log.critical(
                "transparency log inconsistent", extra={"problem": str(e)}
            )
            return
    transparency_log.log.info("transparency log loaded", extra={"entries": size})


def create_app(
    settings: Settings | None = None,
    *,
    signer: Signer | None = None,
    clock: Callable[[], float] | None = None,
    group: Group | None = None,
    log_signer: Signer | None = None,
    sealer: Sealer | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    if settings.auto_migrate:
        migrate.upgrade(engine)
    signer = signer or load_or_create_authority_key(settings.key_dir)
    group = group or _default_group()
    sealer = sealer or Sealer(load_or_create_opened_data_key(settings.key_dir))
    state = AppState(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        signer=signer,
        group=group,
        clock=clock or time.time,
        checks=CheckContext.build(settings, signer, group, sealer),
        log_index=LogIndex(),
        log_signer=log_signer or load_or_create_log_key(settings.key_dir),
    )
    _rebuild_log(state)

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
    for module in (
        health,
        tokens,
        drivers,
        vehicles,
        obus,
        policies,
        statements,
        sightings,
        challenges,
        audits,
        disputes,
        transparency,
        jobs,
        aggregates,
    ):
        app.include_router(module.router)
    app.include_router(obus.obu_router)
    app.include_router(obu_checks.router)

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

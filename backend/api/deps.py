"""Typed FastAPI dependencies: application state, database session, clock, the caller.

Authentication looks tokens up in a session of its own, so the request's ``SessionDep``
session has no transaction in progress when a route starts and can begin a write
transaction (backend.db.session.begin_write) as its first act.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend import metrics
from backend.core.config import Settings
from backend.crypto.signer import Signer
from backend.errors import Forbidden, NotFound, RequestTooLarge, Unauthenticated
from backend.services import signed_request
from backend.services.context import CheckContext
from backend.services.ingest import Group
from backend.services.tokens import Actor, authenticate
from backend.services.transparency_log import LogIndex
from protocol.errors import ProtocolError


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    signer: Signer
    group: Group
    clock: Callable[[], float]
    checks: CheckContext  # spot checks, audits, disputes (authority signer, sealer, tolerance)
    log_index: LogIndex  # the transparency log's Merkle tree, shared by this process
    log_signer: Signer  # signs tree heads only (backend/keys.py)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.quietmile
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    session = state.session_factory()
    try:
        yield session
    finally:
        # Routes commit what they mean to keep; anything else is rolled back here.
        session.rollback()
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_now(state: StateDep) -> int:
    return int(state.clock())


Now = Annotated[int, Depends(get_now)]

_bearer = HTTPBearer(auto_error=False, description="API token (operator, auditor, driver, dpo)")


def get_actor(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("an API token is required (Authorization: Bearer <token>)")
    with state.session_factory() as session:
        actor = authenticate(session, credentials.credentials)
    if actor is None:
        raise Unauthenticated("unknown or revoked API token")
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require_roles(*roles: str) -> Callable[[Actor], Actor]:
    """A dependency that admits only callers with one of ``roles``."""

    def dependency(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"role {actor.role} may not do this")
        return actor

    return dependency


Operator = Annotated[Actor, Depends(require_roles("operator"))]
OperatorOrDriver = Annotated[Actor, Depends(require_roles("operator", "driver"))]
RegistryReader = Annotated[Actor, Depends(require_roles("operator", "auditor", "driver"))]
AggregateReader = Annotated[Actor, Depends(require_roles("dpo", "operator"))]
Auditor = Annotated[Actor, Depends(require_roles("auditor"))]
AuditorOrDriver = Annotated[Actor, Depends(require_roles("auditor", "driver"))]
Driver = Annotated[Actor, Depends(require_roles("driver"))]
# The transparency log is readable by every role (entries carry no personal data).
LogReader = Annotated[Actor, Depends(require_roles("operator", "auditor", "driver", "dpo"))]


def ensure_driver_owns(actor: Actor, driver_id: int) -> None:
    """Drivers see only their own things; others' look nonexistent (no enumeration)."""
    if actor.role == "driver" and actor.driver_id != driver_id:
        raise NotFound("not found")


# --- OBU signed requests -------------------------------------------------------------------

_signed_header = APIKeyHeader(
    name=signed_request.HEADER,
    auto_error=False,
    description="base64url COSE_Sign1 over {method, path, body_sha256, timestamp, nonce}, "
    "signed with the OBU key",
)


async def _request_body(request: Request) -> bytes:
    return await request.body()


def body_limit(limit: Callable[[Settings], int]) -> Callable[[Request, StateDep], None]:
    """A dependency refusing (413) a declared body over ``limit(settings)`` bytes before the
    body is read; declare it before SignedObu, which reads the body."""

    def dependency(request: Request, state: StateDep) -> None:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit(state.settings):
            raise RequestTooLarge("body of %s bytes exceeds %d" % (declared, limit(state.settings)))

    return dependency


RequestBody = Annotated[bytes, Depends(_request_body)]


def get_signed_obu(
    request: Request,
    state: StateDep,
    header: Annotated[str | None, Depends(_signed_header)],
    body: Annotated[bytes, Depends(_request_body)],
) -> signed_request.ObuPrincipal:
    if not header:
        raise Unauthenticated(f"a signed request is required ({signed_request.HEADER} header)")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")

    with state.session_factory() as session:
        try:
            return signed_request.verify_request(
                session,
                header,
                method=request.method,
                path=path,
                body=body,
                now=int(state.clock()),
                window_s=state.settings.request_window_s,
            )
        except ProtocolError as e:
            metrics.SIGNED_REQUEST_FAILURES.labels(reason=e.code).inc()
            raise


SignedObu = Annotated[signed_request.ObuPrincipal, Depends(get_signed_obu)]

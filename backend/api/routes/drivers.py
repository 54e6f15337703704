"""Driver accounts (vehicle owners)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from backend.api.deps import Now, Operator, OperatorOrDriver, SessionDep, ensure_driver_owns
from backend.api.errors import error_responses
from backend.db.models import Driver
from backend.db.session import begin_write
from backend.errors import NotFound
from backend.schemas.common import PathId
from backend.schemas.registry import DriverCreate, DriverOut
from backend.services import registry

router = APIRouter(prefix="/api/v1/drivers", tags=["registry"])


def _out(row: Driver) -> DriverOut:
    return DriverOut(id=row.id, name=row.name, created_at=row.created_at)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a driver account (operator)",
    responses=error_responses(401, 403, 422),
)
def create_driver(body: DriverCreate, actor: Operator, session: SessionDep, now: Now) -> DriverOut:
    begin_write(session)
    row = registry.create_driver(session, body.name, now)
    session.commit()
    return _out(row)


@router.get("", summary="List drivers (operator)", responses=error_responses(401, 403))
def list_drivers(actor: Operator, session: SessionDep) -> list[DriverOut]:
    return [_out(r) for r in session.scalars(select(Driver).order_by(Driver.id))]


@router.get(
    "/{driver_id}",
    summary="One driver (operator; a driver: only themselves)",
    responses=error_responses(401, 403, 404),
)
def get_driver(driver_id: PathId, actor: OperatorOrDriver, session: SessionDep) -> DriverOut:
    ensure_driver_owns(actor, driver_id)
    row = session.get(Driver, driver_id)
    if row is None:
        raise NotFound("no such driver")
    return _out(row)

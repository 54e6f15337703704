"""Vehicles: the only place a plate is stored. Drivers see their own vehicles only."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from backend.api.deps import (
    Now,
    Operator,
    OperatorOrDriver,
    RegistryReader,
    SessionDep,
    ensure_driver_owns,
)
from backend.api.errors import error_responses
from backend.api.routes.statements import statement_out
from backend.db.models import Statement, Vehicle
from backend.db.session import begin_write
from backend.errors import NotFound
from backend.schemas.common import PathId
from backend.schemas.registry import ChainHeadOut, VehicleCreate, VehicleOut
from backend.schemas.statements import StatementOut
from backend.services import registry
from backend.services.tokens import Actor

router = APIRouter(prefix="/api/v1/vehicles", tags=["registry"])


def vehicle_out(session: SessionDep, row: Vehicle) -> VehicleOut:
    active = registry.active_obu(session, row.id)
    return VehicleOut(
        id=row.id,
        plate=row.plate,
        vehicle_class=row.vehicle_class,
        driver_id=row.driver_id,
        created_at=row.created_at,
        active_obu_id=active.obu_id if active is not None else None,
    )


def visible_vehicle(session: SessionDep, actor: Actor, vehicle_id: int) -> Vehicle:
    row = session.get(Vehicle, vehicle_id)
    if row is None:
        raise NotFound("no such vehicle")
    ensure_driver_owns(actor, row.driver_id)
    return row


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a vehicle (operator)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def create_vehicle(
    body: VehicleCreate, actor: Operator, session: SessionDep, now: Now
) -> VehicleOut:
    begin_write(session)
    row = registry.create_vehicle(session, body.plate, body.vehicle_class, body.driver_id, now)
    session.commit()
    return vehicle_out(session, row)


@router.get(
    "",
    summary="List vehicles (operator: all; driver: their own)",
    responses=error_responses(401, 403),
)
def list_vehicles(actor: OperatorOrDriver, session: SessionDep) -> list[VehicleOut]:
    q = select(Vehicle).order_by(Vehicle.id)
    if actor.role == "driver":
        q = q.where(Vehicle.driver_id == actor.driver_id)
    return [vehicle_out(session, r) for r in session.scalars(q)]


@router.get(
    "/{vehicle_id}",
    summary="One vehicle (operator; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_vehicle(vehicle_id: PathId, actor: OperatorOrDriver, session: SessionDep) -> VehicleOut:
    return vehicle_out(session, visible_vehicle(session, actor, vehicle_id))


@router.get(
    "/{vehicle_id}/chain",
    summary="The vehicle's statement chain head (operator; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_chain(vehicle_id: PathId, actor: OperatorOrDriver, session: SessionDep) -> ChainHeadOut:
    visible_vehicle(session, actor, vehicle_id)
    head = registry.chain_head(session, vehicle_id)
    return ChainHeadOut(
        vehicle_id=vehicle_id,
        next_seq=head.next_seq,
        prev_hash=head.prev_hash.hex(),
        last_period_end=head.last_period_end,
        statements=head.statements,
    )


@router.get(
    "/{vehicle_id}/statements",
    summary="The vehicle's statements (operator, auditor; driver: own)",
    responses=error_responses(401, 403, 404),
)
def list_statements(
    vehicle_id: PathId,
    actor: RegistryReader,
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**31),
) -> list[StatementOut]:
    if actor.role == "auditor":
        # Auditors work on statements, not on the registry: existence is all they learn here.
        if session.get(Vehicle, vehicle_id) is None:
            raise NotFound("no such vehicle")
    else:
        visible_vehicle(session, actor, vehicle_id)
    rows = session.scalars(
        select(Statement)
        .where(Statement.vehicle_id == vehicle_id)
        .order_by(Statement.seq)
        .limit(limit)
        .offset(offset)
    )
    return [statement_out(r) for r in rows]

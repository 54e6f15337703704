"""Vehicle and OBU registry, provisioning, revocation and replacement.

The statement chain belongs to the vehicle, not to the unit: a replacement OBU (new key, new
obu_id) continues from the vehicle's chain head, which provisioning hands out so the new
unit's configuration can carry it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crypto.signer import Signer
from backend.db.models import Driver, Obu, Statement, Vehicle
from backend.errors import Conflict, NotFound
from protocol import envelopes, labels, messages, p256
from protocol.verify import ZERO_HASH


@dataclass(frozen=True)
class ChainHead:
    vehicle_id: int
    next_seq: int
    prev_hash: bytes
    last_period_end: int | None
    statements: int


def create_driver(session: Session, name: str, now: int) -> Driver:
    row = Driver(name=name, created_at=now)
    session.add(row)
    session.flush()
    return row


def create_vehicle(
    session: Session, plate: str, vehicle_class: int, driver_id: int, now: int
) -> Vehicle:
    if session.get(Driver, driver_id) is None:
        raise NotFound("no such driver")
    if session.scalar(select(Vehicle.id).where(Vehicle.plate == plate)) is not None:
        raise Conflict(f"plate {plate} is already registered", code="plate_exists")
    row = Vehicle(plate=plate, vehicle_class=vehicle_class, driver_id=driver_id, created_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"plate {plate} is already registered", code="plate_exists") from None
    return row


def last_statement(session: Session, vehicle_id: int) -> Statement | None:
    return session.scalar(
        select(Statement)
        .where(Statement.vehicle_id == vehicle_id)
        .order_by(Statement.seq.desc())
        .limit(1)
    )


def chain_head(session: Session, vehicle_id: int) -> ChainHead:
    last = last_statement(session, vehicle_id)
    count = session.scalar(
        select(func.count()).select_from(Statement).where(Statement.vehicle_id == vehicle_id)
    )
    if last is None:
        return ChainHead(vehicle_id, 0, ZERO_HASH, None, 0)
    return ChainHead(
        vehicle_id, last.seq + 1, last.statement_hash, last.period_end, int(count or 0)
    )


def active_obu(session: Session, vehicle_id: int) -> Obu | None:
    return session.scalar(select(Obu).where(Obu.vehicle_id == vehicle_id, Obu.revoked_at.is_(None)))


def get_obu(session: Session, obu_id: str) -> Obu:
    row = session.scalar(select(Obu).where(Obu.obu_id == obu_id))
    if row is None:
        raise NotFound(f"no OBU {obu_id}")
    return row


def register_obu(
    session: Session,
    signer: Signer,
    *,
    obu_id: str,
    public_key: bytes,
    vehicle_id: int,
    now: int,
    certificate_validity_s: int,
) -> Obu:
    """Register a unit for a vehicle that has no active unit and issue its certificate."""
    p256.decode_public_key(public_key)  # InvalidKey unless a point on the curve
    kid = p256.key_id(public_key)
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound("no such vehicle")
    if active_obu(session, vehicle_id) is not None:
        raise Conflict(
            "the vehicle already has an active OBU: revoke or replace it first",
            code="vehicle_has_active_obu",
        )
    if session.scalar(select(Obu.id).where(Obu.obu_id == obu_id)) is not None:
        raise Conflict(f"OBU {obu_id} is already registered", code="obu_exists")
    if session.scalar(select(Obu.id).where(Obu.kid == kid)) is not None:
        # A key is never reused, even by a revoked unit: its statements would be ambiguous.
        raise Conflict("this public key is already registered", code="key_in_use")
    head = chain_head(session, vehicle_id)
    valid_until = now + certificate_validity_s
    cert = messages.ObuCertificate(obu_id, public_key, vehicle.vehicle_class, now, valid_until)
    row = Obu(
        obu_id=obu_id,
        kid=kid,
        public_key=public_key,
        vehicle_id=vehicle_id,
        certificate=envelopes.sign_message(cert, signer, labels.CTY_OBU_CERTIFICATE),
        certificate_valid_until=valid_until,
        chain_start_seq=head.next_seq,
        chain_start_prev_hash=head.prev_hash,
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Lost a race with a concurrent registration of the same id, key or vehicle.
        raise Conflict("concurrent registration conflict", code="obu_exists") from None
    return row


def revoke_obu(session: Session, obu_id: str, reason: str, now: int) -> Obu:
    row = get_obu(session, obu_id)
    if row.revoked_at is not None:
        raise Conflict(f"OBU {obu_id} is already revoked", code="already_revoked")
    row.revoked_at = now
    row.revoked_reason = reason
    session.flush()
    return row


def replace_obu(
    session: Session,
    signer: Signer,
    *,
    old_obu_id: str,
    new_obu_id: str,
    public_key: bytes,
    reason: str,
    now: int,
    certificate_validity_s: int,
) -> tuple[Obu, Obu]:
    """Revoke ``old_obu_id`` (if it is not already) and register its successor, atomically."""
    old = get_obu(session, old_obu_id)
    if old.replaced_by_id is not None:
        raise Conflict(f"OBU {old_obu_id} was already replaced", code="already_replaced")
    if old.revoked_at is None:
        old.revoked_at = now
        old.revoked_reason = reason
        session.flush()
    new = register_obu(
        session,
        signer,
        obu_id=new_obu_id,
        public_key=public_key,
        vehicle_id=old.vehicle_id,
        now=now,
        certificate_validity_s=certificate_validity_s,
    )
    old.replaced_by_id = new.id
    session.flush()
    return old, new

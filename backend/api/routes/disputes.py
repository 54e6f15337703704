"""Disputes: drivers open them (own statements, consenting to open the period); auditors
re-verify the uploaded period and resolve them. Every step is in the transparency log."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import select

from backend.api.deps import Auditor, AuditorOrDriver, Driver, Now, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import Challenge, Dispute, Statement
from backend.schemas.checks import DisputeCreate, DisputeOut, DisputeReport, DisputeResolve
from backend.services import disputes as svc

router = APIRouter(prefix="/api/v1/disputes", tags=["disputes"])

DisputeIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


def dispute_out(session: SessionDep, d: Dispute) -> DisputeOut:
    st = session.get(Statement, d.statement_id)
    assert st is not None  # foreign key
    ch = session.get(Challenge, d.challenge_ref) if d.challenge_ref is not None else None
    return DisputeOut(
        dispute_id=d.dispute_id.hex(),
        status=d.status,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        vehicle_id=d.vehicle_id,
        statement_hash=st.statement_hash.hex(),
        statement_seq=st.seq,
        segment_count=st.segment_count,
        challenge_id=ch.challenge_id.hex() if ch is not None else None,
        reason=d.reason,
        consent_at=d.consent_at,
        openings_received=d.openings_received,
        verified_at=d.verified_at,
        report=DisputeReport(**json.loads(d.report)) if d.report else None,
        resolution=d.resolution,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        resolution_reasons=d.resolution_reasons,
        resolved_at=d.resolved_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Dispute an own statement or challenge outcome, consenting to open the period (driver)",
    description="The statement's OBU is then asked (signed dispute request, "
    "`GET /api/v1/obu/disputes`) to upload an Opening of every segment of the period.",
    responses=error_responses(401, 403, 404, 409, 422),
)
def open_dispute(
    body: DisputeCreate, actor: Driver, session: SessionDep, state: StateDep, now: Now
) -> DisputeOut:
    d = svc.open_dispute(
        session,
        state.checks,
        actor,
        statement_hash=bytes.fromhex(body.statement_hash) if body.statement_hash else None,
        challenge_id=bytes.fromhex(body.challenge_id) if body.challenge_id else None,
        reason=body.reason,
        now=now,
    )
    return dispute_out(session, d)


@router.get(
    "",
    summary="List disputes (auditor: all; driver: their own)",
    responses=error_responses(401, 403),
)
def list_disputes(
    actor: AuditorOrDriver,
    session: SessionDep,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**31),
) -> list[DisputeOut]:
    q = select(Dispute).order_by(Dispute.id)
    if actor.role == "driver":
        q = q.where(Dispute.driver_id == actor.driver_id)
    return [dispute_out(session, d) for d in session.scalars(q.limit(limit).offset(offset))]


@router.get(
    "/{dispute_id}",
    summary="One dispute with its verification report (auditor; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_dispute(
    dispute_id: DisputeIdPath, actor: AuditorOrDriver, session: SessionDep
) -> DisputeOut:
    return dispute_out(session, svc.get_dispute(session, bytes.fromhex(dispute_id), actor))


@router.post(
    "/{dispute_id}/verify",
    summary="Re-verify every uploaded segment and the sum (auditor; logged as an access)",
    description="Decrypts the period's openings — an access to opened data, logged and "
    "committed first — and re-checks each signature, commitment opening and record, then "
    "the sum of the opened prices against the statement's total. The report is stored.",
    responses=error_responses(401, 403, 404, 409),
)
def verify_dispute(
    dispute_id: DisputeIdPath, actor: Auditor, session: SessionDep, state: StateDep, now: Now
) -> DisputeOut:
    did = bytes.fromhex(dispute_id)
    svc.verify_dispute(session, state.checks, did, now=now, actor=actor)
    return dispute_out(session, svc.get_dispute(session, did, actor))


@router.post(
    "/{dispute_id}/resolve",
    summary="Record the resolution: upheld or rejected, with reasons (auditor)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def resolve_dispute(
    dispute_id: DisputeIdPath,
    body: DisputeResolve,
    actor: Auditor,
    session: SessionDep,
    now: Now,
) -> DisputeOut:
    d = svc.resolve_dispute(
        session,
        bytes.fromhex(dispute_id),
        resolution=body.resolution,
        reasons=body.reasons,
        now=now,
        actor=actor,
    )
    return dispute_out(session, d)

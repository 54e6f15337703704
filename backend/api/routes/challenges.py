"""Challenges: outcomes for auditors (all) and drivers (their own vehicles), the opened
record behind an answer (logged before it is returned), and explanations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from backend.api.deps import Auditor, AuditorOrDriver, Now, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import Challenge, OpenedSegment, Statement, Vehicle
from backend.schemas.checks import (
    ChallengeOut,
    ExplanationIn,
    OpenedRecordOut,
    SegmentRecordOut,
)
from backend.services import challenges as svc
from backend.services.tokens import Actor
from backend.services.transparency_log import LogActor
from backend.services.verdicts import EXPLAINABLE
from protocol import messages

router = APIRouter(prefix="/api/v1/challenges", tags=["challenges"])

ChallengeIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


def challenge_out(session: SessionDep, row: Challenge) -> ChallengeOut:
    st = session.get(Statement, row.statement_id)
    assert st is not None  # foreign key
    opened = session.scalar(select(OpenedSegment).where(OpenedSegment.challenge_ref == row.id))
    return ChallengeOut(
        challenge_id=row.challenge_id.hex(),
        kind="sighting" if row.kind == messages.CHALLENGE_SIGHTING else "index",
        origin=row.origin,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        vehicle_id=row.vehicle_id,
        obu_id=st.obu_id,
        statement_hash=st.statement_hash.hex(),
        statement_seq=row.statement_seq,
        at_time=row.at_time,
        segment_index=row.segment_index,
        issued_at=row.issued_at,
        deadline=row.deadline,
        outcome=row.outcome,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        reason=row.reason,
        initial_reason=row.initial_reason,
        closed_at=row.closed_at,
        explainable=(
            row.kind == messages.CHALLENGE_SIGHTING
            and row.outcome == "fail"
            and row.reason in EXPLAINABLE
        ),
        answered=opened is not None,
        opened_record_available=opened is not None and opened.sealed is not None,
    )


def _driver_scope(actor: Actor) -> int | None:
    return actor.driver_id if actor.role == "driver" else None


@router.get(
    "",
    summary="List challenges (auditor: all; driver: their own vehicles')",
    responses=error_responses(401, 403),
)
def list_challenges(
    actor: AuditorOrDriver,
    session: SessionDep,
    outcome: Literal["open", "pass", "fail", "no_answer"] | None = None,
    vehicle_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**31),
) -> list[ChallengeOut]:
    q = select(Challenge).order_by(Challenge.id)
    if actor.role == "driver":
        q = q.join(Vehicle, Vehicle.id == Challenge.vehicle_id).where(
            Vehicle.driver_id == actor.driver_id
        )
    if outcome is not None:
        q = q.where(Challenge.outcome == outcome)
    if vehicle_id is not None:
        q = q.where(Challenge.vehicle_id == vehicle_id)
    return [challenge_out(session, r) for r in session.scalars(q.limit(limit).offset(offset))]


@router.get(
    "/{challenge_id}",
    summary="One challenge and its outcome, no location data (auditor; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_challenge(
    challenge_id: ChallengeIdPath, actor: AuditorOrDriver, session: SessionDep
) -> ChallengeOut:
    row = svc.visible_challenge(session, bytes.fromhex(challenge_id), _driver_scope(actor))
    return challenge_out(session, row)


@router.get(
    "/{challenge_id}/opening",
    summary="The opened segment record — location data; the access is logged first "
    "(auditor; driver: own)",
    description="Appends an `opened_data_accessed` entry to the transparency log and commits "
    "it before the sealed record is decrypted: if the log cannot be written, nothing is "
    "returned. 410 once retention deleted the record.",
    responses=error_responses(401, 403, 404, 410),
)
def get_opening(
    challenge_id: ChallengeIdPath,
    actor: AuditorOrDriver,
    session: SessionDep,
    state: StateDep,
    now: Now,
) -> OpenedRecordOut:
    opened = svc.read_opened_record(
        session,
        state.checks,
        bytes.fromhex(challenge_id),
        actor=LogActor.of(actor),
        driver_id=_driver_scope(actor),
        now=now,
    )
    rec = opened.opening.record
    return OpenedRecordOut(
        challenge_id=challenge_id,
        result=opened.opened.result,  # type: ignore[arg-type]  # CHECK-constrained
        reason=opened.opened.reason,
        received_at=opened.opened.received_at,
        segment_index=opened.opening.segment_index,
        record=None
        if rec is None
        else SegmentRecordOut(
            index=rec.index,
            t_start=rec.t_start,
            t_end=rec.t_end,
            zone_id=rec.zone_id,
            band_id=rec.band_id,
            vehicle_class=rec.vehicle_class,
            dist_m=rec.dist_m,
            rate_micro_per_km=rec.rate_micro_per_km,
            price_micro=rec.price_micro,
            policy_id=rec.policy_id.hex(),
            flags=rec.flags,
            trace=[(dt, lat, lon) for dt, lat, lon in rec.trace],
        ),
    )


@router.post(
    "/{challenge_id}/explanation",
    summary="Accept or reject an explanation of a no-segment / gap-event fail (auditor)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def explain(
    challenge_id: ChallengeIdPath,
    body: ExplanationIn,
    actor: Auditor,
    session: SessionDep,
    now: Now,
) -> ChallengeOut:
    row = svc.judge_explanation(
        session,
        bytes.fromhex(challenge_id),
        accepted=body.accepted,
        note=body.note,
        now=now,
        actor=LogActor.of(actor),
    )
    return challenge_out(session, row)

"""Periodic jobs over HTTP, for deployments (and the simulator) that drive them remotely.

The same functions run from `python -m backend.cli jobs` and `python -m backend.cli purge`.
"""

from __future__ import annotations

from fastapi import APIRouter

from backend.api.deps import Auditor, Now, Operator, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.schemas.checks import (
    ExpireOut,
    ProcessSightingsOut,
    PurgeOut,
    ScheduledAuditOut,
)
from backend.services import audits, challenges, retention, sightings
from backend.services.transparency_log import LogActor

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.post(
    "/process-sightings",
    summary="Challenge pending sightings whose statement has arrived (auditor)",
    responses=error_responses(401, 403),
)
def process_sightings(
    actor: Auditor, session: SessionDep, state: StateDep, now: Now
) -> ProcessSightingsOut:
    r = sightings.process_pending(session, state.checks, now, LogActor.of(actor))
    return ProcessSightingsOut(
        challenged=r.challenged, unanswerable=r.unanswerable, pending=r.pending
    )


@router.post(
    "/expire-challenges",
    summary="Close open challenges past their deadline as no_answer (auditor)",
    responses=error_responses(401, 403),
)
def expire_challenges(actor: Auditor, session: SessionDep, now: Now) -> ExpireOut:
    return ExpireOut(expired=challenges.expire_challenges(session, now, LogActor.of(actor)))


@router.post(
    "/scheduled-audits",
    summary="Audit new statements at the configured rate (auditor)",
    responses=error_responses(401, 403),
)
def scheduled_audits(
    actor: Auditor, session: SessionDep, state: StateDep, now: Now
) -> ScheduledAuditOut:
    r = audits.run_scheduled(session, state.checks, now, actor=LogActor.of(actor))
    return ScheduledAuditOut(statements_considered=r.considered, challenges=len(r.challenges))


@router.post(
    "/purge",
    summary="Delete opened records and sightings past their retention windows (operator)",
    responses=error_responses(401, 403),
)
def purge(actor: Operator, session: SessionDep, state: StateDep, now: Now) -> PurgeOut:
    r = retention.purge(session, state.settings, now, LogActor.of(actor))
    return PurgeOut(opened_records=r.opened_records, sightings=r.sightings)

"""Random-index audits requested by an auditor (the scheduled ones run as a job)."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.api.deps import Auditor, Now, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.api.routes.challenges import challenge_out
from backend.schemas.checks import AuditCreate, AuditOut, AuditSkip
from backend.services import audits as svc
from backend.services.transparency_log import LogActor

router = APIRouter(prefix="/api/v1/audits", tags=["challenges"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Challenge random segment indices of chosen statements (auditor)",
    description="For each statement, `segments_per_statement` distinct indices are drawn "
    "from the OS CSPRNG and an index challenge (kind 1) is issued for each. Statements "
    "without segments, or whose OBU was revoked, are skipped. An unknown statement hash "
    "refuses the whole request (404).",
    responses=error_responses(401, 403, 404, 422),
)
def request_audit(
    body: AuditCreate, actor: Auditor, session: SessionDep, state: StateDep, now: Now
) -> AuditOut:
    result = svc.request_audit(
        session,
        state.checks,
        [bytes.fromhex(h) for h in body.statement_hashes],
        body.segments_per_statement,
        now=now,
        actor=LogActor.of(actor),
    )
    return AuditOut(
        statements=result.considered,
        challenges=[challenge_out(session, c) for c in result.challenges],
        skipped=[
            AuditSkip(statement_hash=h.hex(), reason=r)  # type: ignore[arg-type]
            for h, r in result.skipped
        ],
    )

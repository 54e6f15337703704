"""Aggregate figures for the DPO / regulator: counts only, small cells suppressed."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from backend.api.deps import AggregateReader, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import Challenge, Dispute, LogEntry, Obu, Statement, Vehicle
from backend.schemas.statements import AggregatesOut, PeriodAggregate

router = APIRouter(prefix="/api/v1/aggregates", tags=["transparency"])


@router.get(
    "",
    summary="Registry and statement counts by period (dpo, operator)",
    responses=error_responses(401, 403),
)
def aggregates(actor: AggregateReader, session: SessionDep, state: StateDep) -> AggregatesOut:
    k = state.settings.aggregate_min_count

    def count(q: object) -> int:
        return int(session.scalar(q) or 0)  # type: ignore[call-overload]

    rows = session.execute(
        select(
            Statement.period_start,
            func.count(),
            func.coalesce(func.sum(Statement.segment_count), 0),
            func.coalesce(func.sum(Statement.total_price_micro), 0),
        )
        .group_by(Statement.period_start)
        .order_by(Statement.period_start)
    ).all()
    periods = [
        PeriodAggregate(
            period_start=int(p), statements=int(n), segments=int(s), total_price_micro=int(t)
        )
        for p, n, s, t in rows
        if n >= k
    ]
    return AggregatesOut(
        vehicles=count(select(func.count()).select_from(Vehicle)),
        obus_active=count(select(func.count()).select_from(Obu).where(Obu.revoked_at.is_(None))),
        obus_revoked=count(
            select(func.count()).select_from(Obu).where(Obu.revoked_at.is_not(None))
        ),
        statements=count(select(func.count()).select_from(Statement)),
        statements_flagged=count(
            select(func.count())
            .select_from(Statement)
            .where(Statement.continuity.in_(("gap", "overlap")))
        ),
        min_cell_size=k,
        periods=periods,
        suppressed_periods=len(rows) - len(periods),
        challenges_by_outcome={
            str(o): int(n)
            for o, n in session.execute(
                select(Challenge.outcome, func.count()).group_by(Challenge.outcome)
            ).all()
        },
        challenge_failures_by_reason={
            str(r): int(n)
            for r, n in session.execute(
                select(Challenge.initial_reason, func.count())
                .where(Challenge.initial_reason.is_not(None))
                .group_by(Challenge.initial_reason)
            ).all()
        },
        disputes_by_state={
            str(r or s): int(n)
            for s, r, n in session.execute(
                select(Dispute.status, Dispute.resolution, func.count()).group_by(
                    Dispute.status, Dispute.resolution
                )
            ).all()
        },
        log_entries=count(select(func.count()).select_from(LogEntry)),
    )

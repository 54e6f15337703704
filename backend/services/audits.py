"""Random-index audits (kind 1 challenges): open random segments of chosen statements, or of
a random share of all statements on a schedule.

They catch what cameras cannot: a segment committed to an out-of-range ("negative") price
cannot be opened at all (price_micro < 2^32 in any record), a forged or under-priced segment
fails its price or trace check, wherever the car drove. The indices come from the operating
system's CSPRNG, so a unit cannot predict which of its segments will be asked for.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Challenge as ChallengeRow
from backend.db.models import JobMark, Statement
from backend.errors import NotFound
from backend.services import challenges
from backend.services import transparency_log as tlog
from backend.services.context import CheckContext
from backend.services.transparency_log import LogActor
from protocol import messages

SCHEDULED_MARK = "scheduled_audits"
_SYSTEM_RANDOM = secrets.SystemRandom()


@dataclass
class AuditResult:
    challenges: list[ChallengeRow] = field(default_factory=list)
    skipped: list[tuple[bytes, str]] = field(default_factory=list)  # (statement hash, reason)
    considered: int = 0


def _audit_statement(
    session: Session,
    ctx: CheckContext,
    st: Statement,
    segments: int,
    *,
    origin: str,
    now: int,
    actor: LogActor,
    rng: random.Random,
    out: AuditResult,
) -> None:
    if st.segment_count == 0:
        out.skipped.append((st.statement_hash, "no_segments"))
        return
    if not challenges.obu_can_answer(session, st):
        out.skipped.append((st.statement_hash, "obu_revoked"))
        return
    indices = sorted(rng.sample(range(st.segment_count), min(segments, st.segment_count)))
    tlog.append(
        session,
        "audit_requested",
        now=now,
        actor=actor,
        vehicle_id=st.vehicle_id,
        details={"statement_seq": st.seq, "segments": len(indices), "origin": origin},
    )
    for i in indices:
        out.challenges.append(
            challenges.issue_challenge(
                session,
                ctx,
                st,
                kind=messages.CHALLENGE_INDEX,
                origin=origin,
                now=now,
                actor=actor,
                segment_index=i,
            )
        )


def request_audit(
    session: Session,
    ctx: CheckContext,
    statement_hashes: list[bytes],
    segments_per_statement: int,
    *,
    now: int,
    actor: LogActor,
    rng: random.Random = _SYSTEM_RANDOM,
) -> AuditResult:
    """Challenge ``segments_per_statement`` random segments of each named statement.

    All or nothing: an unknown statement hash refuses the whole request (404).
    """
    tlog.begin_log_write(session)
    out = AuditResult()
    for h in dict.fromkeys(statement_hashes):
        st = session.scalar(select(Statement).where(Statement.statement_hash == h))
        if st is None:
            raise NotFound("no statement %s" % h.hex())
        out.considered += 1
        _audit_statement(
            session,
            ctx,
            st,
            segments_per_statement,
            origin="audit",
            now=now,
            actor=actor,
            rng=rng,
            out=out,
        )
    tlog.commit(session)
    return out


def run_scheduled(
    session: Session,
    ctx: CheckContext,
    now: int,
    *,
    actor: LogActor = tlog.SYSTEM,
    rng: random.Random = _SYSTEM_RANDOM,
    batch: int = 10_000,
) -> AuditResult:
    """Consider every statement received since the last run once: audit it with probability
    ``audit_rate_permille`` / 1000 (``audit_segments_per_statement`` random segments)."""
    tlog.begin_log_write(session)
    mark = session.get(JobMark, SCHEDULED_MARK)
    if mark is None:
        mark = JobMark(name=SCHEDULED_MARK, value=0)
        session.add(mark)
    rows = session.scalars(
        select(Statement).where(Statement.id > mark.value).order_by(Statement.id).limit(batch)
    ).all()
    out = AuditResult()
    rate = ctx.settings.audit_rate_permille
    for st in rows:
        out.considered += 1
        if rng.randrange(1000) < rate:
            _audit_statement(
                session,
                ctx,
                st,
                ctx.settings.audit_segments_per_statement,
                origin="scheduled",
                now=now,
                actor=actor,
                rng=rng,
                out=out,
            )
    if rows:
        mark.value = rows[-1].id
    tlog.commit(session)
    return out

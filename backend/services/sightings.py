"""Camera sightings: resolve the plate (the only place that happens), keep the fix, and turn
it into a challenge once the statement covering its instant is in.

The plate is not stored with the sighting — only the vehicle it belongs to — and the position
is used only to judge the opening; retention deletes it (backend/services/retention.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Challenge as ChallengeRow
from backend.db.models import Sighting, Vehicle
from backend.errors import SightingInFuture, UnknownPlate
from backend.services import challenges
from backend.services import transparency_log as tlog
from backend.services.context import CheckContext
from backend.services.transparency_log import LogActor
from protocol import messages


@dataclass(frozen=True)
class SightingResult:
    sighting: Sighting
    challenge: ChallengeRow | None


def _try_challenge(
    session: Session, ctx: CheckContext, s: Sighting, now: int, actor: LogActor
) -> ChallengeRow | None:
    statement = challenges.covering_statement(session, s.vehicle_id, s.seen_at)
    if statement is None:
        return None  # stays pending until the period's statement arrives
    if not challenges.obu_can_answer(session, statement):
        s.status = "unanswerable"
        return None
    ch = challenges.issue_challenge(
        session,
        ctx,
        statement,
        kind=messages.CHALLENGE_SIGHTING,
        origin="sighting",
        now=now,
        actor=actor,
        at_time=s.seen_at,
        sighting_id=s.id,
    )
    s.status = "challenged"
    return ch


def record_sighting(
    session: Session,
    ctx: CheckContext,
    *,
    camera_id: str,
    plate: str,
    lat_e7: int,
    lon_e7: int,
    seen_at: int,
    accuracy_mm: int,
    now: int,
    actor: LogActor,
) -> SightingResult:
    """Store a sighting of a registered plate; challenge at once if its statement is in."""
    if seen_at > now + ctx.settings.sighting_clock_skew_s:
        raise SightingInFuture("seen_at %d is after the server's clock %d" % (seen_at, now))
    tlog.begin_log_write(session)
    vehicle_id = session.scalar(select(Vehicle.id).where(Vehicle.plate == plate))
    if vehicle_id is None:
        raise UnknownPlate("the plate is not registered")
    s = Sighting(
        camera_id=camera_id,
        vehicle_id=vehicle_id,
        lat_e7=lat_e7,
        lon_e7=lon_e7,
        seen_at=seen_at,
        accuracy_mm=accuracy_mm,
        status="pending",
        created_at=now,
    )
    session.add(s)
    session.flush()
    ch = _try_challenge(session, ctx, s, now, actor)
    tlog.commit(session)
    return SightingResult(s, ch)


@dataclass(frozen=True)
class ProcessResult:
    challenged: int
    unanswerable: int
    pending: int


def process_pending(
    session: Session,
    ctx: CheckContext,
    now: int,
    actor: LogActor = tlog.SYSTEM,
    limit: int = 10_000,
) -> ProcessResult:
    """Challenge every pending sighting whose statement has arrived since (a periodic job)."""
    tlog.begin_log_write(session)
    rows = session.scalars(
        select(Sighting).where(Sighting.status == "pending").order_by(Sighting.id).limit(limit)
    ).all()
    challenged = unanswerable = 0
    for s in rows:
        if _try_challenge(session, ctx, s, now, actor) is not None:
            challenged += 1
        elif s.status == "unanswerable":
            unanswerable += 1
    tlog.commit(session)
    return ProcessResult(challenged, unanswerable, len(rows) - challenged - unanswerable)

"""Retention (DESIGN §2.4–2.5): delete opened records and camera sightings after their
windows, and say so in the transparency log.

- An opened record (the sealed Opening envelope) is cleared ``opened_record_retention_s``
  after it was received; the verdict row stays (outcome and reason are not location data).
  Openings of a dispute that is still open are kept until it is resolved.
- A sighting is deleted ``sighting_retention_s`` after it was received, unless its challenge
  is still open (it is needed to judge the answer); a sighting whose statement never arrived
  within the window is dropped unchecked.

Each vehicle whose opened records were cleared gets a ``retention_purge`` entry (so the
driver sees their data go), and every run that deleted anything adds one summary entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from backend.core.config import Settings
from backend.db.models import Challenge, Dispute, OpenedSegment, Sighting
from backend.services import transparency_log as tlog
from backend.services.transparency_log import LogActor

_CHUNK = 1000  # ids per statement: keeps parameter lists within every driver's limits


@dataclass(frozen=True)
class PurgeResult:
    opened_records: int
    sightings: int


def purge(
    session: Session, settings: Settings, now: int, actor: LogActor = tlog.SYSTEM
) -> PurgeResult:
    tlog.begin_log_write(session)
    record_cutoff = now - settings.opened_record_retention_s
    open_disputes = select(Dispute.id).where(Dispute.status == "open")
    rows = session.execute(
        select(OpenedSegment, Challenge.vehicle_id, Dispute.vehicle_id)
        .outerjoin(Challenge, Challenge.id == OpenedSegment.challenge_ref)
        .outerjoin(Dispute, Dispute.id == OpenedSegment.dispute_ref)
        .where(
            OpenedSegment.sealed.is_not(None),
            OpenedSegment.received_at <= record_cutoff,
            (OpenedSegment.dispute_ref.is_(None))
            | (OpenedSegment.dispute_ref.not_in(open_disputes)),
        )
    ).all()
    per_vehicle: Counter[int] = Counter()
    for opened, ch_vehicle, d_vehicle in rows:
        opened.sealed = None
        opened.purged_at = now
        per_vehicle[ch_vehicle if ch_vehicle is not None else d_vehicle] += 1

    sighting_cutoff = now - settings.sighting_retention_s
    still_needed = select(Challenge.sighting_id).where(
        Challenge.outcome == "open", Challenge.sighting_id.is_not(None)
    )
    expired = list(
        session.scalars(
            select(Sighting.id).where(
                Sighting.created_at <= sighting_cutoff, Sighting.id.not_in(still_needed)
            )
        )
    )
    for i in range(0, len(expired), _CHUNK):
        chunk = expired[i : i + _CHUNK]
        # The challenge keeps its verdict; only the link to the deleted fix goes.
        session.execute(
            update(Challenge).where(Challenge.sighting_id.in_(chunk)).values(sighting_id=None)
        )
        session.execute(delete(Sighting).where(Sighting.id.in_(chunk)))

    for vehicle_id, n in sorted(per_vehicle.items()):
        tlog.append(
            session,
            "retention_purge",
            now=now,
            actor=actor,
            vehicle_id=vehicle_id,
            details={"opened_records": n},
        )
    if rows or expired:
        tlog.append(
            session,
            "retention_purge",
            now=now,
            actor=actor,
            vehicle_id=None,
            details={"opened_records": len(rows), "sightings": len(expired)},
        )
    tlog.commit(session)
    return PurgeResult(len(rows), len(expired))

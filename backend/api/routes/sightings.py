"""Camera sightings (auditor). The plate is resolved to a vehicle here and nowhere else; the
answer carries the sighting's state, never its position or plate again."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from backend.api.deps import Auditor, Now, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import Challenge, Sighting
from backend.errors import NotFound
from backend.schemas.checks import SightingCreate, SightingOut
from backend.schemas.common import PathId
from backend.services import sightings as svc
from backend.services.transparency_log import LogActor

router = APIRouter(prefix="/api/v1/sightings", tags=["challenges"])


def sighting_out(session: SessionDep, row: Sighting) -> SightingOut:
    cid = session.scalar(select(Challenge.challenge_id).where(Challenge.sighting_id == row.id))
    return SightingOut(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        seen_at=row.seen_at,
        created_at=row.created_at,
        challenge_id=cid.hex() if cid is not None else None,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record a camera sighting; challenges the OBU once the covering statement is in "
    "(auditor)",
    description="Unknown plates are refused (422 `unknown_plate`) and nothing is stored. "
    "If the vehicle's statement for the sighting's period has arrived, a sighting challenge "
    "is issued at once (status `challenged`); otherwise the sighting waits (`pending`) for "
    "the job `POST /api/v1/jobs/process-sightings`.",
    responses=error_responses(401, 403, 422),
)
def create_sighting(
    body: SightingCreate, actor: Auditor, session: SessionDep, state: StateDep, now: Now
) -> SightingOut:
    result = svc.record_sighting(
        session,
        state.checks,
        camera_id=body.camera_id,
        plate=body.plate,
        lat_e7=body.lat_e7,
        lon_e7=body.lon_e7,
        seen_at=body.seen_at,
        accuracy_mm=body.accuracy_mm,
        now=now,
        actor=LogActor.of(actor),
    )
    return sighting_out(session, result.sighting)


@router.get(
    "/{sighting_id}",
    summary="A sighting's state and challenge (auditor)",
    responses=error_responses(401, 403, 404),
)
def get_sighting(sighting_id: PathId, actor: Auditor, session: SessionDep) -> SightingOut:
    row = session.get(Sighting, sighting_id)
    if row is None:
        raise NotFound("no such sighting (or deleted by retention)")
    return sighting_out(session, row)

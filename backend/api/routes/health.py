"""Liveness/readiness and Prometheus metrics (unauthenticated: no personal data in either)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from backend.api.deps import StateDep
from backend.db.migrate import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Health: database reachable and schema up to date")
def health(state: StateDep) -> JSONResponse:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(state.engine)
    except Exception as e:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse(
            status_code=503, content={"status": "unavailable", "database": type(e).__name__}
        )
    up_to_date = revision == head_revision()
    log_problem = state.log_index.corrupt
    status = "ok" if up_to_date else "migrations_pending"
    if log_problem is not None:
        status = "log_inconsistent"
    return JSONResponse(
        status_code=200 if status == "ok" else 503,
        content={
            "status": status,
            "schema_revision": revision,
            "authority_kid": state.signer.kid.hex(),
            "log_kid": state.log_signer.kid.hex(),
            "log_size": state.log_index.size,
            **({"log_problem": log_problem} if log_problem is not None else {}),
        },
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(content=generate_latest(), media_type=CONTENT_TYPE_LATEST)

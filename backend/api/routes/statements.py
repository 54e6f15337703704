"""Statement ingest (OBU; self-authenticating COSE envelopes) and statement reads."""

from __future__ import annotations

import base64
import re

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from backend.api.deps import RegistryReader, SessionDep, StateDep, ensure_driver_owns
from backend.api.errors import error_responses
from backend.db.models import Statement, Vehicle
from backend.errors import NotFound, StatementTooLarge, UnsupportedMediaType
from backend.schemas.statements import StatementOut
from backend.services.ingest import ingest_statement
from backend.services.tokens import Actor

router = APIRouter(prefix="/api/v1/statements", tags=["statements"])

COSE_MEDIA_TYPE = "application/cose"
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_COSE_BODY = {
    "content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    "required": True,
}


def statement_out(row: Statement) -> StatementOut:
    return StatementOut(
        statement_hash=row.statement_hash.hex(),
        obu_id=row.obu_id,
        vehicle_id=row.vehicle_id,
        seq=row.seq,
        prev_hash=row.prev_hash.hex(),
        period_start=row.period_start,
        period_end=row.period_end,
        policy_ids=sorted(p.policy_id.hex() for p in row.policies),
        total_price_micro=row.total_price_micro,
        segment_count=row.segment_count,
        continuity=row.continuity,  # type: ignore[arg-type]  # CHECK-constrained in the DB
        received_at=row.received_at,
        receipt_b64=base64.b64encode(row.receipt).decode("ascii"),
    )


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it exceeds ``limit`` — before buffering it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise StatementTooLarge("body of %s bytes exceeds %d" % (declared, limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StatementTooLarge("body exceeds %d bytes" % limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_media_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != COSE_MEDIA_TYPE:
        raise UnsupportedMediaType(f"send the COSE_Sign1 envelope as {COSE_MEDIA_TYPE}")


@router.post(
    "",
    summary="Submit a signed statement (OBU); answers with the signed Receipt",
    description="The body is the statement's COSE_Sign1 envelope. It is verified in SPEC §6 "
    "order; any failure is a 4xx with the protocol error code and changes nothing. "
    "Re-submitting the same envelope returns the same receipt bytes (200 instead of 201).",
    response_class=Response,
    openapi_extra={"requestBody": _COSE_BODY},
    responses={
        201: {
            "description": "accepted: the Receipt (COSE_Sign1)",
            "content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        200: {
            "description": "already accepted: the original Receipt",
            "content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(400, 401, 403, 409, 413, 415, 422),
    },
    status_code=201,
)
async def submit_statement(request: Request, state: StateDep) -> Response:
    _check_media_type(request)
    envelope = await _read_limited(request, state.settings.max_statement_bytes)

    def work() -> Response:
        with state.session_factory() as session:
            result = ingest_statement(
                session,
                envelope,
                signer=state.signer,
                group=state.group,
                now=int(state.clock()),
                max_bytes=state.settings.max_statement_bytes,
            )
        return Response(
            result.receipt,
            status_code=201 if result.created else 200,
            media_type=COSE_MEDIA_TYPE,
            headers={"QM-Statement-Hash": result.statement_hash.hex()},
        )

    # Verification is CPU-bound and the database is synchronous: keep the event loop free.
    return await run_in_threadpool(work)


def _visible_statement(session: SessionDep, actor: Actor, statement_hash: str) -> Statement:
    if not _HASH_RE.match(statement_hash):
        raise NotFound("statement hashes are 64 lowercase hex digits")
    row = session.scalar(
        select(Statement).where(Statement.statement_hash == bytes.fromhex(statement_hash))
    )
    if row is None:
        raise NotFound("no such statement")
    if actor.role == "driver":
        vehicle = session.get(Vehicle, row.vehicle_id)
        ensure_driver_owns(actor, vehicle.driver_id if vehicle is not None else -1)
    return row


@router.get(
    "/{statement_hash}",
    summary="One statement's summary (operator, auditor; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_statement(statement_hash: str, actor: RegistryReader, session: SessionDep) -> StatementOut:
    return statement_out(_visible_statement(session, actor, statement_hash))


@router.get(
    "/{statement_hash}/receipt",
    summary="The signed Receipt, COSE_Sign1 (operator, auditor; driver: own)",
    response_class=Response,
    responses={
        200: {"content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404),
    },
)
def get_receipt(statement_hash: str, actor: RegistryReader, session: SessionDep) -> Response:
    row = _visible_statement(session, actor, statement_hash)
    return Response(row.receipt, media_type=COSE_MEDIA_TYPE)


@router.get(
    "/{statement_hash}/envelope",
    summary="The statement exactly as received, COSE_Sign1 (operator, auditor; driver: own)",
    response_class=Response,
    responses={
        200: {"content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404),
    },
)
def get_envelope(statement_hash: str, actor: RegistryReader, session: SessionDep) -> Response:
    row = _visible_statement(session, actor, statement_hash)
    return Response(row.envelope, media_type=COSE_MEDIA_TYPE)

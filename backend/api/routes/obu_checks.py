"""The OBU's side of spot checks and disputes (signed requests, SPEC §4.8).

- ``GET /api/v1/obu/challenges[?limit&cursor]``: one page of the unit's open challenges, a
  CBOR array of Challenge COSE_Sign1 envelopes (byte strings), ``application/cbor``, nearest
  deadline first; an empty array when none. When more remain, the ``QM-Next-Cursor`` header
  carries the cursor of the next page (SPEC §4.9).
- ``POST /api/v1/obu/openings``: one Opening envelope (``application/cose``); 201 with the
  verdict, 200 with the stored verdict when the same envelope comes again.
- ``GET /api/v1/obu/disputes``: signed dispute requests still waiting for segments.
- ``POST /api/v1/obu/disputes/{dispute_id}/openings``: a CBOR array of Opening envelopes
  (``application/cbor``), any number of batches until every segment is in.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from backend.api.deps import (
    Now,
    RequestBody,
    SessionDep,
    SignedObu,
    StateDep,
    body_limit,
)
from backend.api.errors import error_responses
from backend.errors import RequestTooLarge, UnsupportedMediaType
from backend.schemas.checks import DisputeUploadOut, OpeningJudged
from backend.services import challenges, disputes
from protocol import cbor
from protocol.errors import InvalidMessage

router = APIRouter(prefix="/api/v1/obu", tags=["obu"])

MEDIA_COSE = "application/cose"
MEDIA_CBOR = "application/cbor"
NEXT_CURSOR_HEADER = "QM-Next-Cursor"
_BINARY = {"schema": {"type": "string", "format": "binary"}}

DisputeIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@router.get(
    "/challenges",
    summary="One page of the calling OBU's open challenges: CBOR array of signed Challenges "
    "(signed request)",
    description="Nearest deadline first (ties by challenge id). `limit` (1..%d, default %d) "
    "bounds the page; when more challenges remain the `%s` header holds an opaque cursor: "
    "ask again with `cursor=<it>` (the query is part of the signed path) for the next page. "
    "No header: this is the last page. A limit or cursor this endpoint cannot use is refused "
    "with 400 `invalid_limit` / `invalid_cursor` (SPEC §4.9)."
    % (challenges.PAGE_LIMIT_MAX, challenges.PAGE_LIMIT_DEFAULT, NEXT_CURSOR_HEADER),
    response_class=Response,
    responses={
        200: {
            "content": {MEDIA_CBOR: _BINARY},
            "headers": {
                NEXT_CURSOR_HEADER: {
                    "description": "present when more challenges remain: the next page's cursor",
                    "schema": {"type": "string"},
                }
            },
        },
        **error_responses(400, 401, 403),
    },
    # Read from the query string by hand: a bad value must be refused with its own code (400
    # invalid_limit / invalid_cursor), not FastAPI's generic 422.
    openapi_extra={
        "parameters": [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": challenges.PAGE_LIMIT_MAX,
                    "default": challenges.PAGE_LIMIT_DEFAULT,
                },
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": 64},
                "description": f"the previous page's {NEXT_CURSOR_HEADER}",
            },
        ]
    },
)
def my_challenges(request: Request, obu: SignedObu, session: SessionDep, now: Now) -> Response:
    query = request.query_params
    limit = challenges.page_limit(query.getlist("limit"))
    after = challenges.decode_cursor(query.getlist("cursor"))
    page = challenges.open_challenge_page(session, obu.obu_ref, now, limit=limit, after=after)
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor is not None else None
    return Response(cbor.encode(page.envelopes), media_type=MEDIA_CBOR, headers=headers)


@router.post(
    "/openings",
    summary="Answer a challenge with a signed Opening (signed request)",
    description="The body is the Opening's COSE_Sign1 envelope, signed with the same key as "
    "the request. A validly signed Opening of an open challenge is judged (SPEC §6.6) and "
    "stored: 201 with the outcome. The same envelope again: 200 with the stored outcome. "
    "Refused without change: another unit's challenge (404), an answered or expired "
    "challenge (409 `challenge_closed` / `challenge_expired`), a bad envelope (4xx).",
    dependencies=[Depends(body_limit(lambda s: s.max_opening_bytes))],
    openapi_extra={"requestBody": {"content": {MEDIA_COSE: _BINARY}, "required": True}},
    status_code=201,
    responses={
        200: {"model": OpeningJudged, "description": "the same envelope was judged before"},
        **error_responses(400, 401, 403, 404, 409, 413, 415, 422),
    },
)
def submit_opening(
    request: Request,
    obu: SignedObu,
    body: RequestBody,
    response: Response,
    session: SessionDep,
    state: StateDep,
    now: Now,
) -> OpeningJudged:
    if _media_type(request) != MEDIA_COSE:
        raise UnsupportedMediaType(f"send the Opening's COSE_Sign1 envelope as {MEDIA_COSE}")
    if len(body) > state.settings.max_opening_bytes:
        raise RequestTooLarge("an Opening is at most %d bytes" % state.settings.max_opening_bytes)
    result = challenges.submit_opening(session, state.checks, body, obu, now)
    if not result.created:
        response.status_code = 200
    return OpeningJudged(
        challenge_id=result.challenge_id.hex(),
        outcome=result.outcome,  # type: ignore[arg-type]  # "pass" or "fail"
        reason=result.reason,
    )


@router.get(
    "/disputes",
    summary="Signed dispute requests waiting for this OBU's openings (signed request)",
    description="CBOR array of COSE_Sign1 envelopes (content type "
    "`application/quietmile.dispute-request+cbor`, authority key) over "
    "`{1: dispute_id, 2: obu_id, 3: statement_seq, 4: segment_count, 5: consent_at}`.",
    response_class=Response,
    responses={200: {"content": {MEDIA_CBOR: _BINARY}}, **error_responses(400, 401, 403)},
)
def my_disputes(obu: SignedObu, session: SessionDep) -> Response:
    return Response(
        cbor.encode(disputes.open_dispute_envelopes(session, obu.obu_ref)), media_type=MEDIA_CBOR
    )


@router.post(
    "/disputes/{dispute_id}/openings",
    summary="Upload Openings of a disputed period: CBOR array of envelopes (signed request)",
    description="Each Opening carries the dispute id as its challenge_id and opens one "
    "segment. A batch is all or nothing: one envelope that is not a signed Opening of this "
    "dispute refuses it. Valid openings that fail verification are stored as evidence. "
    "Identical re-sends are counted as `repeated`; different contents for an uploaded "
    "segment are refused (409 `duplicate_segment`).",
    dependencies=[Depends(body_limit(lambda s: s.max_upload_bytes))],
    openapi_extra={"requestBody": {"content": {MEDIA_CBOR: _BINARY}, "required": True}},
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422),
)
def upload_dispute_openings(
    dispute_id: DisputeIdPath,
    request: Request,
    obu: SignedObu,
    body: RequestBody,
    session: SessionDep,
    state: StateDep,
    now: Now,
) -> DisputeUploadOut:
    if _media_type(request) != MEDIA_CBOR:
        raise UnsupportedMediaType(f"send a CBOR array of Opening envelopes as {MEDIA_CBOR}")
    if len(body) > state.settings.max_upload_bytes:
        raise RequestTooLarge("an upload is at most %d bytes" % state.settings.max_upload_bytes)
    items = cbor.decode(body)
    if not isinstance(items, list) or not items or not all(isinstance(e, bytes) for e in items):
        raise InvalidMessage("the body is a non-empty CBOR array of Opening envelopes (bstr)")
    if len(items) > state.settings.dispute_batch_max:
        raise RequestTooLarge("at most %d openings per upload" % state.settings.dispute_batch_max)
    r = disputes.upload_openings(session, state.checks, bytes.fromhex(dispute_id), items, obu, now)
    return DisputeUploadOut(
        dispute_id=dispute_id,
        received=r.received,
        repeated=r.repeated,
        failed=r.failed,
        openings_received=r.openings_received,
        segment_count=r.segment_count,
        complete=r.openings_received >= r.segment_count,
    )

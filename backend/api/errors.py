"""Every failure becomes ``{"error": <stable code>, "detail": ...}`` with a precise status.

Statuses by error class (the most specific class in the MRO wins):
- 400: undecodable or malformed input (CBOR, message fields, algorithm, public key);
- 401: the signer could not be authenticated (unknown key id, bad signature, signed-request
  binding/freshness/replay) and missing or invalid API tokens;
- 403: authenticated but not allowed (revoked key, a statement naming another OBU, role);
- 409: conflicts with stored state (chain position taken or not next, overlapping policy);
- 410: opened data deleted by retention; 413: request body over the limit; 415: wrong
  media type;
- 422: well-formed but false (commitment encodings, scalars, sums, policies, an Opening
  that does not answer its dispute);
- 503: the transparency log is inconsistent with what it signed (it refuses to serve).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import errors as be
from backend.schemas.common import ErrorOut
from protocol import errors as pe

log = logging.getLogger("quietmile.api")

STATUS_BY_CLASS: dict[type[Exception], int] = {
    # A body over the size limit is 413; a CBOR length beyond the input (protocol TooLarge,
    # same code) is malformed input, 400.
    be.StatementTooLarge: 413,
    pe.DecodeError: 400,
    pe.InvalidMessage: 400,
    pe.UnsupportedAlgorithm: 400,
    pe.InvalidKey: 400,
    be.KeyRevoked: 403,
    pe.UnknownKeyId: 401,
    pe.InvalidSignature: 401,
    pe.ObuMismatch: 403,
    pe.InvalidScalar: 422,
    pe.InvalidEncoding: 422,
    pe.SumMismatch: 422,
    pe.OpeningMismatch: 422,
    pe.ChainBroken: 409,
    be.PolicyOverlap: 409,
    be.PolicyVersionConflict: 409,
    pe.PolicyError: 422,
    pe.ChallengeMismatch: 422,
    pe.PriceMismatch: 422,
    pe.CellMismatch: 422,
    pe.ImplausibleTrace: 422,
    pe.DistanceMismatch: 422,
    pe.NotOnTrace: 422,
    pe.ProtocolError: 400,
}


def status_for(exc: pe.ProtocolError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return 400


def error_response(
    status: int, code: str, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": code, "detail": jsonable_encoder(detail)},
        headers=headers,
    )


def _auth_header(status: int) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None


async def _protocol_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, pe.ProtocolError)
    return error_response(status_for(exc), exc.code, str(exc))


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, be.ApiError)
    return error_response(exc.status_code, exc.code, exc.detail, _auth_header(exc.status_code))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Input values are echoed by pydantic; drop them (they may be large or binary).
    details = [
        {k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()
    ]
    return error_response(422, "validation_error", details)


_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    return error_response(exc.status_code, code, exc.detail, headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not a client error: log it with the route, answer in the usual shape without
    # internals. (Starlette re-raises it afterwards, so servers and tests still see it.)
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return error_response(500, "internal_error", "internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(pe.ProtocolError, _protocol_error)
    app.add_exception_handler(be.ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


# OpenAPI: the error shape endpoints answer with, for the docs and for schema-driven tests.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS.get(s, "error")} for s in statuses}


_DESCRIPTIONS = {
    400: "malformed input",
    401: "not authenticated",
    403: "not allowed",
    404: "not found (or not yours)",
    409: "conflict with stored state",
    413: "too large",
    410: "deleted by retention",
    415: "wrong media type",
    422: "well-formed but invalid",
    503: "temporarily unable to serve (e.g. an inconsistent transparency log)",
}

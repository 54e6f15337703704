"""Shared field types: protocol integers with their wire bounds, hex byte strings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

U32_MAX = 0xFFFFFFFF
TIME_MAX = 0xFFFFFFFFFF  # protocol.messages.MAX_TIME

# Row ids are INTEGER columns on both databases: bound them so that an out-of-range id is a
# validation error, not a database overflow.
ID_MAX = 2**31 - 1
DbId = Annotated[int, Field(strict=True, ge=1, le=ID_MAX)]
UnixTime = Annotated[int, Field(strict=True, ge=0, le=TIME_MAX, description="Unix seconds, UTC")]
U32 = Annotated[int, Field(strict=True, ge=0, le=U32_MAX)]
VehicleClass = Annotated[int, Field(strict=True, ge=0, le=255)]
ObuIdStr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"),
]
# Free text that is stored (names, labels, reasons): no control characters. PostgreSQL text
# cannot hold NUL at all, and the others have no business in an audit trail.
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
SafeText = Annotated[str, StringConstraints(pattern=_NO_CONTROL)]
Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]*$")]


class Strict(BaseModel):
    """Request bodies: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str = Field(description="stable error code (protocol/errors.py, backend/errors.py)")
    detail: str | list[object] | None = None


# Path parameter form of DbId (FastAPI needs Path() for path-specific validation).
PathId = Annotated[int, Path(ge=1, le=ID_MAX)]
ObuIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]

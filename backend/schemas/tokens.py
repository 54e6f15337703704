from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from backend.schemas.common import DbId, SafeText, Strict


class TokenCreate(Strict):
    # Over the API an operator mints driver tokens only; operator, auditor and DPO tokens
    # are created by an administrator on the host (`python -m backend.cli create-token`).
    role: Literal["driver"] = "driver"
    driver_id: DbId
    label: Annotated[SafeText, Field(max_length=200)] = ""


class TokenInfo(BaseModel):
    id: int
    role: str
    driver_id: int | None
    label: str
    created_at: int


class TokenCreated(TokenInfo):
    token: str = Field(description="the secret; shown once, only its SHA-256 is stored")

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from backend.schemas.common import DbId, Hex, ObuIdStr, SafeText, Strict, VehicleClass

Plate = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$",
    ),
]
PublicKeyHex = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^04[0-9a-f]{128}$",
    ),
    Field(description="SEC1 uncompressed P-256 public key, 65 bytes as hex"),
]
Reason = Annotated[SafeText, Field(min_length=1, max_length=200)]


class DriverCreate(Strict):
    name: Annotated[SafeText, Field(min_length=1, max_length=200)]


class DriverOut(BaseModel):
    id: int
    name: str
    created_at: int


class VehicleCreate(Strict):
    plate: Plate
    vehicle_class: VehicleClass
    driver_id: DbId


class VehicleOut(BaseModel):
    id: int
    plate: str
    vehicle_class: int
    driver_id: int
    created_at: int
    active_obu_id: str | None


class ChainHeadOut(BaseModel):
    """Where the vehicle's statement chain stands: what its next statement must carry."""

    vehicle_id: int
    next_seq: int
    prev_hash: Hex = Field(description="statement hash of the last accepted statement, or 0^32")
    last_period_end: int | None
    statements: int


class ObuCreate(Strict):
    obu_id: ObuIdStr
    public_key: PublicKeyHex
    vehicle_id: DbId


class ObuRevoke(Strict):
    reason: Reason


class ObuReplace(Strict):
    """A replacement unit for the same vehicle; it continues the vehicle's chain."""

    obu_id: ObuIdStr
    public_key: PublicKeyHex
    reason: Reason


class ObuOut(BaseModel):
    obu_id: str
    kid: Hex
    public_key: Hex
    vehicle_id: int
    status: Literal["active", "revoked"]
    created_at: int
    certificate_valid_until: int
    revoked_at: int | None
    revoked_reason: str | None
    replaced_by: str | None


class ChainStart(BaseModel):
    next_seq: int
    prev_hash: Hex


class ObuProvisioned(ObuOut):
    """Everything the unit's configuration needs at provisioning."""

    certificate_b64: str = Field(description="authority-signed ObuCertificate (COSE_Sign1)")
    chain: ChainStart
    period_length: str
    authority_public_key: Hex
    authority_kid: Hex

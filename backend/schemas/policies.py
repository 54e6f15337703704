"""The JSON form of a TariffPolicy (SPEC §4.1), with the wire format's bounds.

The form is converted to protocol.tariff objects and checked by ``validate()`` and by the
wire decoder, so anything the API accepts is a policy every OBU will accept too.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from backend.schemas.common import U32, Hex, Strict, UnixTime, VehicleClass

LatE7 = Annotated[int, Field(strict=True, ge=-900000000, le=900000000)]
LonE7 = Annotated[int, Field(strict=True, ge=-1800000000, le=1800000000)]
Vertex = Annotated[list[Annotated[int, Field(strict=True)]], Field(min_length=2, max_length=2)]
Ring = Annotated[list[Vertex], Field(min_length=3, max_length=4096)]
Polygon = Annotated[list[Ring], Field(min_length=1, max_length=64)]


class UtcOffset(Strict):
    from_t: UnixTime
    offset_s: Annotated[int, Field(strict=True, ge=-86400, le=86400)]


class ZoneForm(Strict):
    zone_id: Annotated[int, Field(strict=True, ge=1, le=0xFFFFFFFF)]
    name: Annotated[str, Field(max_length=64)]
    polygons: Annotated[
        list[Polygon],
        Field(
            min_length=1,
            max_length=64,
            description="polygons; each a list of rings (first outer, others holes); "
            "a ring is >= 3 [lat_e7, lon_e7] vertices, implicitly closed",
        ),
    ]


class BandForm(Strict):
    band_id: Annotated[int, Field(strict=True, ge=1, le=0xFFFFFFFF)]
    days_mask: Annotated[int, Field(strict=True, ge=0, le=127, description="bit 0 = Monday")]
    start_min: Annotated[int, Field(strict=True, ge=0, le=1440)]
    end_min: Annotated[int, Field(strict=True, ge=0, le=1440)]


class RateForm(Strict):
    zone_id: U32
    band_id: U32
    vehicle_class: VehicleClass
    rate_micro_per_km: U32


class PolicyForm(Strict):
    version: U32
    valid_from: UnixTime
    valid_until: UnixTime
    currency: Annotated[str, Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")] = "EUR"
    utc_offsets: Annotated[list[UtcOffset], Field(min_length=1, max_length=512)]
    zones: Annotated[list[ZoneForm], Field(max_length=256)]
    bands: Annotated[list[BandForm], Field(max_length=256)]
    rates: Annotated[list[RateForm], Field(min_length=1, max_length=65536)]


class PolicyOut(BaseModel):
    policy_id: Hex
    status: Literal["draft", "published"]
    version: int
    valid_from: int
    valid_until: int
    currency: str
    created_at: int
    published_at: int | None


class PolicyDetail(PolicyOut):
    """A policy with its signed envelope (base64 and hex) and its decoded body."""

    envelope_b64: str
    envelope_hex: Hex
    body: PolicyForm

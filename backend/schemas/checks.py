"""Sightings, challenges, audits, disputes and jobs: request and response schemas.

Responses never carry a sighting's position or a plate; only the opened-record endpoint
returns location data, and it logs the access first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from backend.schemas.common import Hex, SafeText, Strict, UnixTime
from backend.schemas.policies import LatE7, LonE7
from backend.schemas.registry import Plate

CameraId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
StatementHashHex = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{64}$"), Field(description="64 hex digits")
]
ChallengeIdHex = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{32}$"), Field(description="32 hex digits")
]


class SightingCreate(Strict):
    camera_id: CameraId
    plate: Plate
    lat_e7: LatE7
    lon_e7: LonE7
    seen_at: UnixTime
    accuracy_mm: Annotated[
        int,
        Field(strict=True, ge=0, le=1_000_000, description="the camera fix's 1-σ error, mm"),
    ]


class SightingOut(BaseModel):
    """A stored sighting's state; its position and plate are not repeated."""

    id: int
    status: Literal["pending", "challenged", "unanswerable"]
    seen_at: int
    created_at: int
    challenge_id: Hex | None


class ChallengeOut(BaseModel):
    challenge_id: Hex
    kind: Literal["sighting", "index"]
    origin: Literal["sighting", "audit", "scheduled"]
    vehicle_id: int
    obu_id: str
    statement_hash: Hex
    statement_seq: int
    at_time: int | None
    segment_index: int | None
    issued_at: int
    deadline: int
    outcome: Literal["open", "pass", "fail", "no_answer"]
    reason: str | None = Field(description="error code of a fail, or why a fail became a pass")
    initial_reason: str | None = Field(description="what verification found, if overturned")
    closed_at: int | None
    explainable: bool = Field(description="a fail an auditor may still accept an explanation for")
    answered: bool
    opened_record_available: bool


class SegmentRecordOut(BaseModel):
    """An opened SegmentRecord (SPEC §4.2): location data."""

    index: int
    t_start: int
    t_end: int
    zone_id: int
    band_id: int
    vehicle_class: int
    dist_m: int
    rate_micro_per_km: int
    price_micro: int
    policy_id: Hex
    flags: int
    trace: list[tuple[int, int, int]] = Field(description="[dt_s, lat_e7, lon_e7] per sample")


class OpenedRecordOut(BaseModel):
    challenge_id: Hex
    result: Literal["pass", "fail"]
    reason: str | None
    received_at: int
    segment_index: int | None
    record: SegmentRecordOut | None = Field(description="null for an empty opening")


class OpeningJudged(BaseModel):
    """The answer to an OBU's Opening."""

    challenge_id: Hex
    outcome: Literal["pass", "fail"]
    reason: str | None


class ExplanationIn(Strict):
    accepted: Annotated[bool, Field(strict=True)]
    note: Annotated[SafeText, Field(min_length=1, max_length=500)]


class AuditCreate(Strict):
    statement_hashes: Annotated[list[StatementHashHex], Field(min_length=1, max_length=100)]
    segments_per_statement: Annotated[int, Field(strict=True, ge=1, le=16)] = 1


class AuditSkip(BaseModel):
    statement_hash: Hex
    reason: Literal["no_segments", "obu_revoked"]


class AuditOut(BaseModel):
    statements: int
    challenges: list[ChallengeOut]
    skipped: list[AuditSkip]


class DisputeCreate(Strict):
    """Exactly one of ``statement_hash`` and ``challenge_id``."""

    statement_hash: StatementHashHex | None = None
    challenge_id: ChallengeIdHex | None = None
    reason: Annotated[SafeText, Field(min_length=1, max_length=1000)]
    consent_to_open_period: Annotated[
        Literal[True],
        Field(
            description="the driver consents to the OBU uploading every segment of the "
            "statement's period for the auditor to verify"
        ),
    ]

    @model_validator(mode="after")
    def _one_subject(self) -> DisputeCreate:
        if (self.statement_hash is None) == (self.challenge_id is None):
            raise ValueError("give exactly one of statement_hash and challenge_id")
        return self


class DisputeReport(BaseModel):
    segment_count: int
    received: int
    purged: int
    missing_count: int
    missing: list[int]
    failure_count: int
    failures: list[dict[str, int | str | None]]
    opened_total_micro: int
    statement_total_micro: int
    sum_matches: bool
    all_verified: bool


class DisputeOut(BaseModel):
    dispute_id: Hex
    status: Literal["open", "resolved"]
    vehicle_id: int
    statement_hash: Hex
    statement_seq: int
    segment_count: int
    challenge_id: Hex | None
    reason: str
    consent_at: int
    openings_received: int
    verified_at: int | None
    report: DisputeReport | None
    resolution: Literal["upheld", "rejected"] | None
    resolution_reasons: str | None
    resolved_at: int | None


class DisputeResolve(Strict):
    resolution: Literal["upheld", "rejected"]
    reasons: Annotated[SafeText, Field(min_length=1, max_length=2000)]


class DisputeUploadOut(BaseModel):
    dispute_id: Hex
    received: int
    repeated: int
    failed: int
    openings_received: int
    segment_count: int
    complete: bool


class ProcessSightingsOut(BaseModel):
    challenged: int
    unanswerable: int
    pending: int


class ExpireOut(BaseModel):
    expired: int


class ScheduledAuditOut(BaseModel):
    statements_considered: int
    challenges: int


class PurgeOut(BaseModel):
    opened_records: int
    sightings: int

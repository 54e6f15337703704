from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from backend.schemas.common import Hex


class StatementOut(BaseModel):
    """What the authority holds about one statement: no more than the statement reveals."""

    statement_hash: Hex
    obu_id: str
    vehicle_id: int
    seq: int
    prev_hash: Hex
    period_start: int
    period_end: int
    policy_ids: list[Hex]
    total_price_micro: int
    segment_count: int
    continuity: Literal["first", "contiguous", "gap", "overlap"]
    received_at: int
    receipt_b64: str


class PeriodAggregate(BaseModel):
    period_start: int
    statements: int
    segments: int
    total_price_micro: int


class AggregatesOut(BaseModel):
    """Counts for the DPO / regulator; periods with fewer statements than the threshold are
    suppressed so that a small cell cannot single out a vehicle."""

    vehicles: int
    obus_active: int
    obus_revoked: int
    statements: int
    statements_flagged: int
    min_cell_size: int
    periods: list[PeriodAggregate]
    suppressed_periods: int
    # Spot checks and disputes over all vehicles (global counts: no cell to suppress).
    challenges_by_outcome: dict[str, int]
    challenge_failures_by_reason: dict[str, int]
    disputes_by_state: dict[str, int]
    log_entries: int


class ObuChainOut(BaseModel):
    obu_id: str
    next_seq: int
    prev_hash: Hex
    last_period_end: int | None

"""ORM models. Times are Unix seconds (integers), as everywhere in the protocol.

The plate ↔ OBU mapping exists only in ``vehicles`` ⋈ ``obus``; statements reference the
vehicle (the hash chain is per vehicle, so a replacement OBU continues it) and the OBU that
signed them, never the plate.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.base import Base

ROLES = ("operator", "auditor", "driver", "dpo")
CONTINUITY = ("first", "contiguous", "gap", "overlap")


class Driver(Base):
    """A vehicle owner's account; driver tokens are bound to one."""

    __tablename__ = "drivers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int]

    vehicles: Mapped[list[Vehicle]] = relationship(back_populates="driver")


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored: the secret is shown once at creation."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "role IN ('operator', 'auditor', 'driver', 'dpo')",
            name="role",
        ),
        # A driver token must name its driver; other roles must not (least privilege).
        CheckConstraint(
            "(role = 'driver' AND driver_id IS NOT NULL)"
            " OR (role <> 'driver' AND driver_id IS NULL)",
            name="driver_binding",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    driver_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("drivers.id"), nullable=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[int]
    revoked_at: Mapped[int | None] = mapped_column(nullable=True)


class Vehicle(Base):
    __tablename__ = "vehicles"
    __table_args__ = (
        CheckConstraint("vehicle_class >= 0 AND vehicle_class <= 255", name="vehicle_class"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate: Mapped[str] = mapped_column(String(32), unique=True)
    vehicle_class: Mapped[int] = mapped_column(Integer)
    driver_id: Mapped[int] = mapped_column(Integer, ForeignKey("drivers.id"), index=True)
    created_at: Mapped[int]

    driver: Mapped[Driver] = relationship(back_populates="vehicles")
    obus: Mapped[list[Obu]] = relationship(
        back_populates="vehicle", foreign_keys="Obu.vehicle_id", order_by="Obu.id"
    )


class Obu(Base):
    """An on-board unit: its key, the vehicle it is fitted to, its certificate, its status."""

    __tablename__ = "obus"
    __table_args__ = (
        # At most one active (unrevoked) unit per vehicle: two would fork the vehicle's chain.
        Index(
            "uq_obus_active_vehicle",
            "vehicle_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    obu_id: Mapped[str] = mapped_column(String(64), unique=True)
    kid: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    vehicle_id: Mapped[int] = mapped_column(Integer, ForeignKey("vehicles.id"), index=True)
    certificate: Mapped[bytes]
    certificate_valid_until: Mapped[int]
    # Where this unit's first statement must continue the vehicle's chain.
    chain_start_seq: Mapped[int]
    chain_start_prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[int]
    revoked_at: Mapped[int | None] = mapped_column(nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    replaced_by_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("obus.id"), nullable=True
    )

    vehicle: Mapped[Vehicle] = relationship(back_populates="obus", foreign_keys=[vehicle_id])


class TariffPolicy(Base):
    """A signed tariff policy; the envelope is the authority's COSE_Sign1 over its body."""

    __tablename__ = "tariff_policies"
    __table_args__ = (CheckConstraint("valid_from < valid_until", name="validity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    version: Mapped[int] = mapped_column(unique=True)
    valid_from: Mapped[int] = mapped_column(index=True)
    valid_until: Mapped[int]
    currency: Mapped[str] = mapped_column(String(8))
    envelope: Mapped[bytes]
    created_at: Mapped[int]
    published_at: Mapped[int | None] = mapped_column(nullable=True)


statement_policies = Table(
    "statement_policies",
    Base.metadata,
    Column("statement_id", Integer, ForeignKey("statements.id"), primary_key=True),
    Column("policy_ref", Integer, ForeignKey("tariff_policies.id"), primary_key=True),
)


class Statement(Base):
    """An accepted statement with the exact envelope received and the receipt returned."""

    __tablename__ = "statements"
    __table_args__ = (
        # One statement per chain position: concurrent different statements with the same
        # seq collide here (-> chain_broken), concurrent duplicates on statement_hash.
        UniqueConstraint("vehicle_id", "seq"),
        CheckConstraint(
            "continuity IN ('first', 'contiguous', 'gap', 'overlap')", name="continuity"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    vehicle_id: Mapped[int] = mapped_column(Integer, ForeignKey("vehicles.id"))
    obu_ref: Mapped[int] = mapped_column(Integer, ForeignKey("obus.id"), index=True)
    obu_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    period_start: Mapped[int]
    period_end: Mapped[int]
    total_price_micro: Mapped[int]
    segment_count: Mapped[int] = mapped_column(Integer)
    # How period_start relates to the previous statement's period_end: a gap or overlap is
    # flagged for audit, not refused (SPEC §6.4 step 13).
    continuity: Mapped[str] = mapped_column(String(10))
    envelope: Mapped[bytes]
    receipt: Mapped[bytes]
    received_at: Mapped[int]

    policies: Mapped[list[TariffPolicy]] = relationship(secondary=statement_policies)


class RequestNonce(Base):
    """Nonces of signed OBU requests seen within the replay window."""

    __tablename__ = "request_nonces"

    kid: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    expires_at: Mapped[int] = mapped_column(index=True)


# --- spot checks, audits, disputes (revision 0002) -------------------------------------------

SIGHTING_STATUS = ("pending", "challenged", "unanswerable")
CHALLENGE_ORIGINS = ("sighting", "audit", "scheduled")
OUTCOMES = ("open", "pass", "fail", "no_answer")


class Sighting(Base):
    """A camera saw a registered vehicle. The plate is resolved to the vehicle on receipt and
    not stored again; the position never leaves the backend (the OBU learns only the time)."""

    __tablename__ = "sightings"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'challenged', 'unanswerable')", name="status"),
        Index("ix_sightings_status_vehicle", "status", "vehicle_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    vehicle_id: Mapped[int] = mapped_column(Integer, ForeignKey("vehicles.id"))
    lat_e7: Mapped[int]
    lon_e7: Mapped[int]
    seen_at: Mapped[int]
    accuracy_mm: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(index=True)


class Challenge(Base):
    """A signed Challenge (SPEC §4.5) for the OBU that signed one statement, and its outcome.

    ``outcome`` is open until an Opening is judged (pass / fail with ``reason``) or the
    deadline passes (no_answer). An accepted explanation or an upheld dispute turns a fail
    into a pass; ``initial_reason`` keeps what the verification found.
    """

    __tablename__ = "challenges"
    __table_args__ = (
        CheckConstraint("kind IN (0, 1)", name="kind"),
        CheckConstraint("origin IN ('sighting', 'audit', 'scheduled')", name="origin"),
        CheckConstraint("outcome IN ('open', 'pass', 'fail', 'no_answer')", name="outcome"),
        # Kind 0 names an instant, kind 1 a segment (SPEC §4.5).
        CheckConstraint(
            "(kind = 0 AND at_time IS NOT NULL AND segment_index IS NULL)"
            " OR (kind = 1 AND at_time IS NULL AND segment_index IS NOT NULL)",
            name="target",
        ),
        Index("ix_challenges_obu_ref_outcome", "obu_ref", "outcome"),
        Index("ix_challenges_outcome_deadline", "outcome", "deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    kind: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(String(16))
    statement_id: Mapped[int] = mapped_column(Integer, ForeignKey("statements.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(Integer, ForeignKey("vehicles.id"), index=True)
    obu_ref: Mapped[int] = mapped_column(Integer, ForeignKey("obus.id"))
    statement_seq: Mapped[int]
    at_time: Mapped[int | None] = mapped_column(nullable=True)
    segment_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sighting_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("sightings.id"), nullable=True, index=True
    )
    envelope: Mapped[bytes]
    issued_at: Mapped[int]
    deadline: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    initial_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    closed_at: Mapped[int | None] = mapped_column(nullable=True)
    explanation_note: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Dispute(Base):
    """A driver disputes a statement (or a challenge outcome about it) and consents to open
    the whole period; the statement's OBU uploads every segment's Opening."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(
            "resolution IS NULL OR resolution IN ('upheld', 'rejected')", name="resolution"
        ),
        # One open dispute per statement: a second would ask the OBU for the same period.
        Index(
            "uq_disputes_open_statement",
            "statement_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Random; the period's Openings carry it as their challenge_id.
    dispute_id: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    vehicle_id: Mapped[int] = mapped_column(Integer, ForeignKey("vehicles.id"), index=True)
    statement_id: Mapped[int] = mapped_column(Integer, ForeignKey("statements.id"))
    obu_ref: Mapped[int] = mapped_column(Integer, ForeignKey("obus.id"), index=True)
    challenge_ref: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("challenges.id"), nullable=True
    )
    driver_id: Mapped[int] = mapped_column(Integer, ForeignKey("drivers.id"))
    reason: Mapped[str] = mapped_column(String(1000))
    envelope: Mapped[bytes]
    consent_at: Mapped[int]
    status: Mapped[str] = mapped_column(String(10))
    openings_received: Mapped[int] = mapped_column(Integer)
    verified_at: Mapped[int | None] = mapped_column(nullable=True)
    # JSON verification report: counts, failing indices and codes, sums (no location data).
    report: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(10), nullable=True)
    resolution_reasons: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    resolved_at: Mapped[int | None] = mapped_column(nullable=True)


class OpenedSegment(Base):
    """One Opening received for a challenge or a dispute: the verdict in the clear, the
    signed envelope (with the segment's record: location data) only sealed with AES-GCM
    (backend/crypto/sealing.py). Retention clears ``sealed`` and sets ``purged_at``."""

    __tablename__ = "opened_segments"
    __table_args__ = (
        CheckConstraint("(challenge_ref IS NULL) <> (dispute_ref IS NULL)", name="one_context"),
        CheckConstraint("result IN ('pass', 'fail')", name="result"),
        UniqueConstraint("dispute_ref", "segment_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One answer per challenge: the unique constraint arbitrates concurrent answers.
    challenge_ref: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("challenges.id"), nullable=True, unique=True
    )
    dispute_ref: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("disputes.id"), nullable=True
    )
    segment_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    envelope_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed: Mapped[bytes | None] = mapped_column(nullable=True)
    result: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    received_at: Mapped[int] = mapped_column(index=True)
    purged_at: Mapped[int | None] = mapped_column(nullable=True)


# --- transparency log ------------------------------------------------------------------------


class LogSubject(Base):
    """A vehicle's opaque reference in the public log: random, so the log alone does not
    say which vehicle an entry is about; the driver learns their own references."""

    __tablename__ = "log_subjects"

    vehicle_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("vehicles.id"), primary_key=True, autoincrement=False
    )
    subject_ref: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)


class LogEntry(Base):
    """Leaf ``idx`` of the transparency log: the canonical CBOR entry and its RFC 9162 leaf
    hash. Indices are contiguous from 0 (appends are serialised)."""

    __tablename__ = "log_entries"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    subject_ref: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True, index=True)
    created_at: Mapped[int]
    entry: Mapped[bytes]
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogTreeHead(Base):
    """Signed tree heads handed out, so a restarted server can prove it still extends them."""

    __tablename__ = "log_tree_heads"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[int]
    envelope: Mapped[bytes]


class JobMark(Base):
    """High-water marks of incremental jobs (e.g. the last statement considered for audit)."""

    __tablename__ = "job_marks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int]

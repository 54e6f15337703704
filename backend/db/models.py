"""ORM models. Times are Unix seconds (integers), as everywhere in the protocol.

The plate ↔ OBU mapping exists only in ``vehicles`` ⋈ ``obus``; statements reference the
vehicle (the hash chain is per vehicle, so a replacement OBU continues it) and the OBU that
signed them, never the plate.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
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

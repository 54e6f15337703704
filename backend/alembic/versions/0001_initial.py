"""initial schema: registry, tokens, policies, statements, nonces

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drivers")),
    )
    op.create_table(
        "request_nonces",
        sa.Column("kid", sa.LargeBinary(length=16), nullable=False),
        sa.Column("nonce", sa.LargeBinary(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kid", "nonce", name=op.f("pk_request_nonces")),
    )
    op.create_index(
        op.f("ix_request_nonces_expires_at"), "request_nonces", ["expires_at"], unique=False
    )

    op.create_table(
        "tariff_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("valid_from < valid_until", name=op.f("ck_tariff_policies_validity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_policies")),
        sa.UniqueConstraint("policy_id", name=op.f("uq_tariff_policies_policy_id")),
        sa.UniqueConstraint("version", name=op.f("uq_tariff_policies_version")),
    )
    op.create_index(
        op.f("ix_tariff_policies_valid_from"), "tariff_policies", ["valid_from"], unique=False
    )

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "(role = 'driver' AND driver_id IS NOT NULL)"
            " OR (role <> 'driver' AND driver_id IS NULL)",
            name=op.f("ck_api_tokens_driver_binding"),
        ),
        sa.CheckConstraint(
            "role IN ('operator', 'auditor', 'driver', 'dpo')", name=op.f("ck_api_tokens_role")
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_api_tokens_driver_id_drivers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plate", sa.String(length=32), nullable=False),
        sa.Column("vehicle_class", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "vehicle_class >= 0 AND vehicle_class <= 255", name=op.f("ck_vehicles_vehicle_class")
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_vehicles_driver_id_drivers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("plate", name=op.f("uq_vehicles_plate")),
    )
    op.create_index(op.f("ix_vehicles_driver_id"), "vehicles", ["driver_id"], unique=False)

    op.create_table(
        "obus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("obu_id", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.LargeBinary(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=65), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_valid_until", sa.BigInteger(), nullable=False),
        sa.Column("chain_start_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_start_prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["replaced_by_id"], ["obus.id"], name=op.f("fk_obus_replaced_by_id_obus")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_obus_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obus")),
        sa.UniqueConstraint("kid", name=op.f("uq_obus_kid")),
        sa.UniqueConstraint("obu_id", name=op.f("uq_obus_obu_id")),
    )
    op.create_index(op.f("ix_obus_vehicle_id"), "obus", ["vehicle_id"], unique=False)
    op.create_index(
        "uq_obus_active_vehicle",
        "obus",
        ["vehicle_id"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )

    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("obu_ref", sa.Integer(), nullable=False),
        sa.Column("obu_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("total_price_micro", sa.BigInteger(), nullable=False),
        sa.Column("segment_count", sa.Integer(), nullable=False),
        sa.Column("continuity", sa.String(length=10), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("receipt", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "continuity IN ('first', 'contiguous', 'gap', 'overlap')",
            name=op.f("ck_statements_continuity"),
        ),
        sa.ForeignKeyConstraint(["obu_ref"], ["obus.id"], name=op.f("fk_statements_obu_ref_obus")),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_statements_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("statement_hash", name=op.f("uq_statements_statement_hash")),
        sa.UniqueConstraint("vehicle_id", "seq", name=op.f("uq_statements_vehicle_id_seq")),
    )
    op.create_index(op.f("ix_statements_obu_ref"), "statements", ["obu_ref"], unique=False)

    op.create_table(
        "statement_policies",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("policy_ref", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_ref"],
            ["tariff_policies.id"],
            name=op.f("fk_statement_policies_policy_ref_tariff_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_statement_policies_statement_id_statements"),
        ),
        sa.PrimaryKeyConstraint("statement_id", "policy_ref", name=op.f("pk_statement_policies")),
    )


def downgrade() -> None:
    op.drop_table("statement_policies")
    op.drop_index(op.f("ix_statements_obu_ref"), table_name="statements")

    op.drop_table("statements")
    op.drop_index("uq_obus_active_vehicle", table_name="obus")
    op.drop_index(op.f("ix_obus_vehicle_id"), table_name="obus")

    op.drop_table("obus")
    op.drop_index(op.f("ix_vehicles_driver_id"), table_name="vehicles")

    op.drop_table("vehicles")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_tariff_policies_valid_from"), table_name="tariff_policies")

    op.drop_table("tariff_policies")
    op.drop_index(op.f("ix_request_nonces_expires_at"), table_name="request_nonces")

    op.drop_table("request_nonces")
    op.drop_table("drivers")

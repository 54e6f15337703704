"""spot checks: sightings, challenges, opened segments, disputes, transparency log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_marks")),
    )

    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_ref", sa.LargeBinary(length=16), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_log_entries")),
    )
    op.create_index(
        op.f("ix_log_entries_subject_ref"), "log_entries", ["subject_ref"], unique=False
    )
    op.create_table(
        "log_tree_heads",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_log_tree_heads")),
    )
    op.create_table(
        "log_subjects",
        sa.Column("vehicle_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("subject_ref", sa.LargeBinary(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_log_subjects_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("vehicle_id", name=op.f("pk_log_subjects")),
        sa.UniqueConstraint("subject_ref", name=op.f("uq_log_subjects_subject_ref")),
    )

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("lat_e7", sa.BigInteger(), nullable=False),
        sa.Column("lon_e7", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("accuracy_mm", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'challenged', 'unanswerable')",
            name=op.f("ck_sightings_status"),
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_sightings_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
    )
    op.create_index(op.f("ix_sightings_created_at"), "sightings", ["created_at"], unique=False)
    op.create_index(
        "ix_sightings_status_vehicle", "sightings", ["status", "vehicle_id"], unique=False
    )

    op.create_table(
        "challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("obu_ref", sa.Integer(), nullable=False),
        sa.Column("statement_seq", sa.BigInteger(), nullable=False),
        sa.Column("at_time", sa.BigInteger(), nullable=True),
        sa.Column("segment_index", sa.Integer(), nullable=True),
        sa.Column("sighting_id", sa.Integer(), nullable=True),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("initial_reason", sa.String(length=40), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("explanation_note", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "origin IN ('sighting', 'audit', 'scheduled')", name=op.f("ck_challenges_origin")
        ),
        sa.CheckConstraint(
            "outcome IN ('open', 'pass', 'fail', 'no_answer')",
            name=op.f("ck_challenges_outcome"),
        ),
        sa.CheckConstraint(
            "(kind = 0 AND at_time IS NOT NULL AND segment_index IS NULL)"
            " OR (kind = 1 AND at_time IS NULL AND segment_index IS NOT NULL)",
            name=op.f("ck_challenges_target"),
        ),
        sa.CheckConstraint("kind IN (0, 1)", name=op.f("ck_challenges_kind")),
        sa.ForeignKeyConstraint(["obu_ref"], ["obus.id"], name=op.f("fk_challenges_obu_ref_obus")),
        sa.ForeignKeyConstraint(
            ["sighting_id"], ["sightings.id"], name=op.f("fk_challenges_sighting_id_sightings")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_challenges_statement_id_statements"),
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_challenges_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
        sa.UniqueConstraint("challenge_id", name=op.f("uq_challenges_challenge_id")),
    )
    op.create_index(
        "ix_challenges_obu_ref_outcome", "challenges", ["obu_ref", "outcome"], unique=False
    )
    op.create_index(
        "ix_challenges_outcome_deadline", "challenges", ["outcome", "deadline"], unique=False
    )
    op.create_index(op.f("ix_challenges_sighting_id"), "challenges", ["sighting_id"], unique=False)
    op.create_index(
        op.f("ix_challenges_statement_id"), "challenges", ["statement_id"], unique=False
    )
    op.create_index(op.f("ix_challenges_vehicle_id"), "challenges", ["vehicle_id"], unique=False)

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.LargeBinary(length=16), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("obu_ref", sa.Integer(), nullable=False),
        sa.Column("challenge_ref", sa.Integer(), nullable=True),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("consent_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("openings_received", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.BigInteger(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("resolution", sa.String(length=10), nullable=True),
        sa.Column("resolution_reasons", sa.String(length=2000), nullable=True),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('upheld', 'rejected')",
            name=op.f("ck_disputes_resolution"),
        ),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_disputes_status")),
        sa.ForeignKeyConstraint(
            ["challenge_ref"], ["challenges.id"], name=op.f("fk_disputes_challenge_ref_challenges")
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_disputes_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(["obu_ref"], ["obus.id"], name=op.f("fk_disputes_obu_ref_obus")),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statements.id"], name=op.f("fk_disputes_statement_id_statements")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_disputes_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("dispute_id", name=op.f("uq_disputes_dispute_id")),
    )
    op.create_index(op.f("ix_disputes_obu_ref"), "disputes", ["obu_ref"], unique=False)
    op.create_index(op.f("ix_disputes_vehicle_id"), "disputes", ["vehicle_id"], unique=False)
    op.create_index(
        "uq_disputes_open_statement",
        "disputes",
        ["statement_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "opened_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_ref", sa.Integer(), nullable=True),
        sa.Column("dispute_ref", sa.Integer(), nullable=True),
        sa.Column("segment_index", sa.Integer(), nullable=True),
        sa.Column("envelope_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("result IN ('pass', 'fail')", name=op.f("ck_opened_segments_result")),
        sa.CheckConstraint(
            "(challenge_ref IS NULL) <> (dispute_ref IS NULL)",
            name=op.f("ck_opened_segments_one_context"),
        ),
        sa.ForeignKeyConstraint(
            ["challenge_ref"],
            ["challenges.id"],
            name=op.f("fk_opened_segments_challenge_ref_challenges"),
        ),
        sa.ForeignKeyConstraint(
            ["dispute_ref"], ["disputes.id"], name=op.f("fk_opened_segments_dispute_ref_disputes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opened_segments")),
        sa.UniqueConstraint("challenge_ref", name=op.f("uq_opened_segments_challenge_ref")),
        sa.UniqueConstraint(
            "dispute_ref",
            "segment_index",
            name=op.f("uq_opened_segments_dispute_ref_segment_index"),
        ),
    )
    op.create_index(
        op.f("ix_opened_segments_received_at"), "opened_segments", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_opened_segments_received_at"), table_name="opened_segments")
    op.drop_table("opened_segments")

    op.drop_index("uq_disputes_open_statement", table_name="disputes")
    op.drop_index(op.f("ix_disputes_vehicle_id"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_obu_ref"), table_name="disputes")
    op.drop_table("disputes")

    op.drop_index(op.f("ix_challenges_vehicle_id"), table_name="challenges")
    op.drop_index(op.f("ix_challenges_statement_id"), table_name="challenges")
    op.drop_index(op.f("ix_challenges_sighting_id"), table_name="challenges")
    op.drop_index("ix_challenges_outcome_deadline", table_name="challenges")
    op.drop_index("ix_challenges_obu_ref_outcome", table_name="challenges")
    op.drop_table("challenges")

    op.drop_index("ix_sightings_status_vehicle", table_name="sightings")
    op.drop_index(op.f("ix_sightings_created_at"), table_name="sightings")
    op.drop_table("sightings")

    op.drop_table("log_subjects")
    op.drop_table("log_tree_heads")
    op.drop_index(op.f("ix_log_entries_subject_ref"), table_name="log_entries")
    op.drop_table("log_entries")
    op.drop_table("job_marks")

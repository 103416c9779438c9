"""initial store: raw records, cases, history, quarantine, cursors

Revision ID: 0001
Revises:
Create Date: 2026-11-26 04:35:14.238825
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("started_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batches")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_channel"), ["channel"], unique=False)

    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("raw_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("source_updated_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_history")),
    )
    with op.batch_alter_table("case_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_history_case_id"), ["case_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_status", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("nature", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=6), nullable=False),
        sa.Column("source_category", sa.String(length=32), nullable=False),
        sa.Column("health_related", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=True),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("source_crs", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=True),
        sa.Column("assigned_unit", sa.String(length=200), nullable=True),
        sa.Column("time_limit_days", sa.Integer(), nullable=True),
        sa.Column("deadline_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("satisfaction", sa.String(length=24), nullable=True),
        sa.Column("supervision", sa.JSON(), nullable=False),
        sa.Column("duplicate_of", sa.String(length=36), nullable=True),
        sa.Column("cluster_id", sa.String(length=36), nullable=True),
        sa.Column("reported_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("received_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("pii_key_id", sa.String(length=32), nullable=False),
        sa.Column("reporter_name", sa.LargeBinary(), nullable=True),
        sa.Column("reporter_phone", sa.LargeBinary(), nullable=True),
        sa.Column("reporter_id_number", sa.LargeBinary(), nullable=True),
        sa.Column("reporter_phone_index", sa.String(length=64), nullable=True),
        sa.Column("reporter_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("raw_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_cases")),
        sa.UniqueConstraint("channel", "source_id", name="uq_cases_channel_source_id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_district_category", ["district_code", "category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases_reporter_phone_index"), ["reporter_phone_index"], unique=False
        )
        batch_op.create_index("ix_cases_status", ["status"], unique=False)

    op.create_table(
        "raw_records",
        sa.Column("raw_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("raw_id", name=op.f("pk_raw_records")),
        sa.UniqueConstraint("channel", "content_hash", name="uq_raw_records_channel_content_hash"),
    )
    with op.batch_alter_table("raw_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raw_records_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_raw_records_channel_source", ["channel", "source_id"], unique=False)
        batch_op.create_index("ix_raw_records_outcome", ["outcome"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("position", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("raw_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("source_updated_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("quarantined_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["raw_id"], ["raw_records.raw_id"], name=op.f("fk_quarantine_raw_id_raw_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("raw_id", name=op.f("uq_quarantine_raw_id")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_state_channel", ["state", "channel"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_state_channel")

    op.drop_table("quarantine")
    op.drop_table("sync_cursors")
    with op.batch_alter_table("raw_records", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_records_outcome")
        batch_op.drop_index("ix_raw_records_channel_source")
        batch_op.drop_index(batch_op.f("ix_raw_records_batch_id"))

    op.drop_table("raw_records")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_status")
        batch_op.drop_index(batch_op.f("ix_cases_reporter_phone_index"))
        batch_op.drop_index("ix_cases_district_category")

    op.drop_table("cases")
    with op.batch_alter_table("case_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_history_case_id"))

    op.drop_table("case_history")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_channel"))

    op.drop_table("batches")

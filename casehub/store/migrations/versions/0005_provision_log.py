"""provision log: every batch pushed to a recipient, and history indexed by when it was recorded

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 11:00:00

A push selects the cases changed in its window by `case_history.recorded_at`, hence the index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provision_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("batch_number", sa.Integer(), nullable=False),
        sa.Column("window_start", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("window_end", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("pushed_at", casehub.store.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("receipt", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_log")),
        sa.UniqueConstraint("recipient", "batch_id", name="uq_provision_log_recipient_batch_id"),
    )
    op.create_index(
        "ix_provision_log_recipient_window", "provision_log", ["recipient", "window_end", "batch_number"]
    )
    op.create_index(op.f("ix_case_history_recorded_at"), "case_history", ["recorded_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_history_recorded_at"), table_name="case_history")
    op.drop_index("ix_provision_log_recipient_window", table_name="provision_log")
    op.drop_table("provision_log")

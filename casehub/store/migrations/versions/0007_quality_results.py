"""validation results and the daily quality trend; a quarantine entry's history

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "quality_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("validation_id", sa.String(length=36), nullable=False),
        sa.Column("suite", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("unexpected", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("validated_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_results")),
    )
    op.create_index("ix_quality_results_channel_validated", "quality_results", ["channel", "validated_at"])
    op.create_index("ix_quality_results_validation", "quality_results", ["validation_id"])
    op.create_table(
        "quality_trend",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("suite", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("unexpected", sa.Integer(), nullable=False),
        sa.Column("pass_rate", sa.Float(), nullable=False),
        sa.Column("validated_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "rule", name=op.f("pk_quality_trend")),
    )
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("history", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("history")
    op.drop_table("quality_trend")
    op.drop_index("ix_quality_results_validation", table_name="quality_results")
    op.drop_index("ix_quality_results_channel_validated", table_name="quality_results")
    op.drop_table("quality_results")

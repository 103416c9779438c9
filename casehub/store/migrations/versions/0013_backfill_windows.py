"""backfill windows: where each window of a backfill has got to

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "backfill_windows",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("window_start", Time(timezone=True), nullable=False),
        sa.Column("window_end", Time(timezone=True), nullable=False),
        sa.Column("position", Time(timezone=True), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", Time(timezone=True), nullable=False),
        sa.Column("updated_at", Time(timezone=True), nullable=False),
        sa.Column("finished_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", "window_start", "window_end", name=op.f("pk_backfill_windows")),
    )


def downgrade() -> None:
    op.drop_table("backfill_windows")

"""deadline supervision: the supervision rules fired on each case

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "supervision_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("deadline_at", Time(timezone=True), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("unit_to", sa.String(length=200), nullable=True),
        sa.Column("noticed_at", Time(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_notices")),
        sa.UniqueConstraint("case_id", "rule_id", "deadline_at", name="uq_supervision_notices_case_id"),
    )
    op.create_index("ix_supervision_notices_noticed_at", "supervision_notices", ["noticed_at"])


def downgrade() -> None:
    op.drop_index("ix_supervision_notices_noticed_at", table_name="supervision_notices")
    op.drop_table("supervision_notices")

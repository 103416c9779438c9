"""hotspots: the terms residents wrote about per district (and the city), day and week

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "hotspots",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=6), nullable=False),
        sa.Column("term", sa.String(length=32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("rising_rank", sa.Integer(), nullable=True),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("previous_cases", sa.Integer(), nullable=False),
        sa.Column("tfidf", sa.Float(), nullable=False),
        sa.Column("textrank", sa.Float(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("rise", sa.Float(), nullable=False),
        sa.Column("scope_cases", sa.Integer(), nullable=False),
        sa.Column("previous_scope_cases", sa.Integer(), nullable=False),
        sa.Column("computed_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "period", "scope", "term", name=op.f("pk_hotspots")),
    )


def downgrade() -> None:
    op.drop_table("hotspots")

"""duplicate detection: a case's duplicate score and signals, the block index, cluster splits

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("duplicate_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("duplicate_signals", sa.JSON(), nullable=True))
    op.create_index(
        "ix_cases_dedup_block",
        "cases",
        ["district_code", "reported_at"],
        postgresql_include=["community_code", "category", "lng", "lat", "reporter_phone_index"],
    )
    op.create_index("ix_cases_duplicate_of", "cases", ["duplicate_of"])
    op.create_index("ix_cases_cluster_id", "cases", ["cluster_id"])
    op.create_table(
        "cluster_splits",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("other_case_id", sa.String(length=36), nullable=False),
        sa.Column("cluster_id", sa.String(length=36), nullable=False),
        sa.Column("split_by", sa.String(length=64), nullable=False),
        sa.Column("split_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "other_case_id", name=op.f("pk_cluster_splits")),
    )


def downgrade() -> None:
    op.drop_table("cluster_splits")
    op.drop_index("ix_cases_cluster_id", table_name="cases")
    op.drop_index("ix_cases_duplicate_of", table_name="cases")
    op.drop_index("ix_cases_dedup_block", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("duplicate_signals")
        batch.drop_column("duplicate_score")

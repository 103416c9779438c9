"""open311: the Open311 clients' API keys and the updates they post

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "open311_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("revoked_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_open311_keys")),
    )
    op.create_table(
        "open311_updates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("update_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("updated_at", Time(timezone=True), nullable=False),
        sa.Column("received_at", Time(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("media_url", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_updates")),
        sa.UniqueConstraint("key_id", "update_id", name="uq_open311_updates_key_id"),
    )
    op.create_index("ix_open311_updates_case_id", "open311_updates", ["case_id"])
    op.create_index("ix_open311_updates_received_at", "open311_updates", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_open311_updates_received_at", table_name="open311_updates")
    op.drop_index("ix_open311_updates_case_id", table_name="open311_updates")
    op.drop_table("open311_updates")
    op.drop_table("open311_keys")

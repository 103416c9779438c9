"""key rotation: the blind-index key of each case's digests, and retired keys

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00

Every case written before this revision was indexed under the ring's single blind-index key,
which a ring of that time names `index`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("reporter_index_key_id", sa.String(length=32), nullable=True))
    op.execute("UPDATE cases SET reporter_index_key_id = 'index'")
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("reporter_index_key_id", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("key_fingerprints") as batch:
        batch.add_column(
            sa.Column("retired_at", casehub.store.models.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("key_fingerprints") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("reporter_index_key_id")

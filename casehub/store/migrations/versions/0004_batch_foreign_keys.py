"""batch foreign keys and history events

Every raw record, history row and quarantine entry points at a recorded batch, and a history
row carries the enrichment events of its version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00

Replays used to write history rows under a batch id that had no batch row. Those batches are
recorded first, from their history rows (as run `replay`), so the keys can be created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("raw_records", "case_history", "quarantine")


def upgrade() -> None:
    with op.batch_alter_table("case_history") as batch_op:
        batch_op.add_column(sa.Column("events", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.execute(
        sa.text(
            """
            insert into batches (batch_id, channel, run_id, started_at, finished_at, received,
                                 duplicates, accepted, quarantined, superseded, warnings)
            select h.batch_id, min(c.channel), 'replay', min(h.recorded_at), max(h.recorded_at),
                   count(*), 0, count(*), 0, 0, '[]'
            from case_history h join cases c on c.case_id = h.case_id
            where not exists (select 1 from batches b where b.batch_id = h.batch_id)
            group by h.batch_id
            """
        )
    )
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_batch_id_batches"), "batches", ["batch_id"], ["batch_id"]
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_batch_id_batches"), type_="foreignkey")
    with op.batch_alter_table("case_history") as batch_op:
        batch_op.drop_column("events")

"""the outbox, the district standard interface's credentials, operations and nonces

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import casehub.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Time = casehub.store.models.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("partner", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("case_version", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=48), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("next_attempt_at", Time(timezone=True), nullable=False),
        sa.Column("last_attempt_at", Time(timezone=True), nullable=True),
        sa.Column("delivered_at", Time(timezone=True), nullable=True),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index("ix_outbox_partner_state_due", "outbox", ["partner", "state", "next_attempt_at"])
    op.create_index("ix_outbox_case_partner", "outbox", ["case_id", "partner", "id"])
    op.create_table(
        "workflow_operations",
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("recorded_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor", "operation_id", name=op.f("pk_workflow_operations")),
    )
    op.create_index(op.f("ix_workflow_operations_case_id"), "workflow_operations", ["case_id"])
    op.create_table(
        "district_credentials",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("seal_key_id", sa.String(length=32), nullable=True),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.Column("revoked_at", Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_district_credentials")),
    )
    op.create_index(
        op.f("ix_district_credentials_district_code"), "district_credentials", ["district_code"]
    )
    op.create_table(
        "soap_nonces",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("created_at", Time(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", "nonce", name=op.f("pk_soap_nonces")),
    )
    op.create_index(op.f("ix_soap_nonces_created_at"), "soap_nonces", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_soap_nonces_created_at"), table_name="soap_nonces")
    op.drop_table("soap_nonces")
    op.drop_index(op.f("ix_district_credentials_district_code"), table_name="district_credentials")
    op.drop_table("district_credentials")
    op.drop_index(op.f("ix_workflow_operations_case_id"), table_name="workflow_operations")
    op.drop_table("workflow_operations")
    op.drop_index("ix_outbox_case_partner", table_name="outbox")
    op.drop_index("ix_outbox_partner_state_due", table_name="outbox")
    op.drop_table("outbox")

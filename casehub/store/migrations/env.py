"""Alembic environment: runs against the connection `casehub.store.migrate` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from casehub.store.models import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run(context.config.attributes["connection"])

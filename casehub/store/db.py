"""Engine and schema migrations for the hub's store.

SQLite at `var/casehub.db` is the embedded default; `CASEHUB_DB_URL` points the hub at
PostgreSQL (`postgresql+psycopg://…`). The schema is owned by Alembic (`casehub/store/migrations`):
`migrate()` brings any database to head, and is what the demo, the DAGs and the tests call.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from casehub.paths import var_dir

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url() -> str:
    return os.environ.get("CASEHUB_DB_URL") or f"sqlite:///{var_dir() / 'casehub.db'}"


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets the Airflow UI and the CLI read while a DAG writes; the busy timeout waits out a writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def connect(url: str | None = None) -> Engine:
    """The engine for `url`, or for the configured store; one engine per URL per process."""
    return _engine(url or database_url())


@cache
def _engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

"""Engine and schema migrations for the hub's store.

SQLite at `var/casehub.db` is the embedded default; `CASEHUB_DB_URL` points the hub at
PostgreSQL (`postgresql+psycopg://…`). The schema is owned by Alembic (`casehub/store/migrations`):
`migrate()` brings any database to head, and is what the demo, the DAGs and the tests call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc

from casehub.errors import StoreError, StoreUnavailable
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


_TERSE_ERRORS = """
DO $$ BEGIN SET log_error_verbosity = terse;
EXCEPTION WHEN insufficient_privilege THEN NULL; END $$
"""


def _postgres_session(dbapi_connection: object, _record: object) -> None:
    """Keep row values out of the server's log where the hub's role may: an error's CONTEXT
    line quotes the row (`COPY …, column address: "…"`). A role without the privilege leaves
    the server's setting alone; docs/operations.md says how a DBA grants it."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(_TERSE_ERRORS)
    cursor.close()
    dbapi_connection.commit()  # type: ignore[attr-defined]


def prepare(engine: Engine) -> Engine:
    """Set up each new connection of `engine` as the hub needs it, per backend."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgres_session)
    return engine


def connect(url: str | None = None) -> Engine:
    """The engine for `url`, or for the configured store; one engine per URL per process."""
    return _engine(url or database_url())


@cache
def _engine(url: str) -> Engine:
    return prepare(create_engine(url, pool_pre_ping=True))


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class StoreRejected(StoreError):
    """The store refused a value: a data exception (SQLSTATE class 22), or a row that the bulk
    writer's own check finds too long or holding NUL for its column. Only this kind of refusal
    can be pinned on a record; the pipeline then looks for the record that caused it."""


_UNAVAILABLE_STATES = ("08", "53", "57P")
"""SQLSTATE classes of a lost or refused connection, or a server out of resources or shutting
down: asking again later may pass."""


def store_error(error: BaseException) -> StoreError:
    """The error tree's form of a database failure, with none of the driver's text.

    Drivers quote the failing row in their messages (`CONTEXT: COPY …, column address: "…"`),
    and rows hold personal data, so only the SQLSTATE and the kind of failure are kept.
    """
    original = getattr(error, "orig", None) or error
    sqlstate = getattr(original, "sqlstate", None)
    kind = type(original).__name__
    where = f"SQLSTATE {sqlstate}" if sqlstate else kind
    unavailable = (
        isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError)
        or (isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated)
        or (sqlstate is not None and sqlstate.startswith(_UNAVAILABLE_STATES))
    )
    if unavailable:
        return StoreUnavailable(f"the store cannot be reached ({where})", sqlstate=sqlstate)
    if isinstance(error, sa_exc.DataError) or (sqlstate is not None and sqlstate.startswith("22")):
        return StoreRejected(f"the store refused a value ({where})", sqlstate=sqlstate)
    return StoreError(f"the store refused a statement ({where})", sqlstate=sqlstate)


@contextmanager
def store_errors() -> Iterator[None]:
    """Re-raise any database failure inside the block as a `StoreError`, its text dropped."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        raise store_error(error) from None
    except Exception as error:
        # COPY runs on the driver's own cursor, whose errors SQLAlchemy does not wrap.
        if not _is_driver_error(error):
            raise
        raise store_error(error) from None


def _is_driver_error(error: BaseException) -> bool:
    """A DB-API (PEP 249) error of whichever driver is in use: psycopg's, sqlite3's."""
    return any(cls.__name__ in ("DatabaseError", "InterfaceError") for cls in type(error).__mro__)

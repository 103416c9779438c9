"""Fixtures shared by the whole suite: keys, stores (SQLite and PostgreSQL), simulators.

PostgreSQL tests use a fresh database on the server at 127.0.0.1:5432 (trust auth; override the
admin URL with CASEHUB_TEST_PG_ADMIN_URL). Without a server they skip with the reason — unless
CASEHUB_REQUIRE_POSTGRES=1 (CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from casehub.crypto import KeyRing
from casehub.store import migrate
from casehub.store.db import prepare

PG_ADMIN_URL = os.environ.get(
    "CASEHUB_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("CASEHUB_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = prepare(create_engine(f"sqlite:///{tmp_path / 'casehub.db'}"))
    migrate(engine)
    yield engine
    engine.dispose()


def _postgres_admin() -> Engine:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no server"
        admin.dispose()
        message = f"no PostgreSQL at {PG_ADMIN_URL.split('@')[-1]} ({type(exc).__name__})"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and CASEHUB_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    return admin


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The server's admin URL, once it answers; skips (fails under CASEHUB_REQUIRE_POSTGRES=1) if not."""
    _postgres_admin().dispose()
    return PG_ADMIN_URL


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    admin = _postgres_admin()
    name = f"casehub_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    engine = prepare(create_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request) -> Engine:
    """The store on each supported backend."""
    return request.getfixturevalue(f"{request.param}_engine")

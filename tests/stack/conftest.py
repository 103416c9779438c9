"""The production stack (`casehub stack`) brought up once for the tests of this folder.

They run with `make test-stack` (CASEHUB_TEST_STACK=1), not in `make test`: the stack is a whole
Airflow with Celery workers. It has its own state directory (var/stack-test), ports
(CASEHUB_TEST_STACK_PORT_OFFSET, 2000 unless set), databases and Redis database, all fresh at
each run, so a `make stack` on the same machine is left alone; it is stopped at the end, failed
or not. Without Redis or PostgreSQL the tests skip — unless CASEHUB_REQUIRE_POSTGRES=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from casehub.paths import ROOT
from casehub.stack import Stack, StackConfig, drop_database
from tests.stack.figures import FIGURES

RUN = os.environ.get("CASEHUB_TEST_STACK") == "1"
REQUIRED = os.environ.get("CASEHUB_REQUIRE_POSTGRES") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if RUN:
        return
    skip = pytest.mark.skip(reason="the stack test runs with `make test-stack`")
    for item in items:
        if item.path.is_relative_to(ROOT / "tests" / "stack"):
            item.add_marker(skip)


def stack_config() -> StackConfig:
    return StackConfig(
        state_dir=ROOT / "var" / "stack-test",
        port_offset=int(os.environ.get("CASEHUB_TEST_STACK_PORT_OFFSET", "2000")),
        airflow_database="casehub_stack_test_airflow",
        store_database="casehub_stack_test_store",
        broker_url="redis://127.0.0.1:6379/6",
        # A worker that dies is noticed within seconds, and its task retried at once.
        heartbeat_timeout=15,
        retry_delay=3,
        # Nothing runs on its own: the tests trigger each run of the cycle.
        schedules=False,
        # The last pushes run seconds after the results went out, and must include those cases.
        settle_seconds=3,
        # Each DAG file is parsed once, at the start: a parse holds its DAGs' rows, which makes the
        # scheduler pass over their runs; on a loaded machine a parse every 30 s can stall a run.
        parse_interval=600,
    )


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable(port)]
    if missing:
        message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
        if REQUIRED:
            pytest.fail(f"{message} and CASEHUB_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    config = stack_config()
    Stack(config, say=lambda _: None).down()  # what a run cut short left behind
    shutil.rmtree(config.state_dir, ignore_errors=True)
    for database in (config.airflow_database, config.store_database):
        drop_database(config.postgres_url, database)
    redis.Redis.from_url(config.broker_url).flushdb()
    running = Stack(config)
    try:
        started = time.monotonic()
        running.up(timeout=240)
        FIGURES["make stack start (fresh databases)"] = f"{time.monotonic() - started:.0f} s"
        yield running
    finally:
        stopped = time.monotonic()
        running.down()
        FIGURES["stack down"] = f"{time.monotonic() - stopped:.0f} s"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("the stack's figures")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")

"""`casehub backfill` as an operator runs it, on SQLite and PostgreSQL, against the hotline's
simulator on loopback: two worker processes read a span's windows with a progress bar, every
record lands once, `--status` shows each window's position, a rerun reads nothing again, and a
mistake is one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.partners import partner
from casehub.store.models import RawRecord
from simulators.testing import RunningSimulator, start

CASEHUB = Path(sys.executable).with_name("casehub")
HOTLINE = partner("hotline")
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE, UNTIL = ANCHOR - timedelta(days=4), ANCHOR + timedelta(hours=1)


@pytest.fixture
def hotline() -> Iterator[RunningSimulator]:
    simulator = start("hotline", records=120, seed=9, days=3, anchor=ANCHOR, defect_rate=0.0)
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def env(engine: Engine, tmp_path: Path, hotline: RunningSimulator) -> dict[str, str]:
    assert HOTLINE.simulator is not None
    ring_file = tmp_path / "keyring.json"
    ring_file.write_text(KeyRing.generate().to_json())
    connection = {
        "conn_type": "http",
        "host": hotline.url + HOTLINE.simulator.path,
        "login": HOTLINE.simulator.login,
        "password": HOTLINE.simulator.secret,
        "extra": {"page_size": 25},
    }
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("CASEHUB_", "AIRFLOW_CONN_"))}
    return {
        **kept,
        "CASEHUB_DB_URL": engine.url.render_as_string(hide_password=False),
        "CASEHUB_KEYRING_FILE": str(ring_file),
        "CASEHUB_HOME": str(tmp_path / "home"),
        f"AIRFLOW_CONN_{HOTLINE.connection.upper()}": json.dumps(connection),
        "COLUMNS": "120",
    }


def casehub(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CASEHUB), *argv], env=env, capture_output=True, text=True, timeout=300, check=False
    )


SPAN = ("--channel", "hotline", "--since", SINCE.isoformat(), "--until", UNTIL.isoformat())


def test_two_workers_read_every_window_once_and_a_rerun_reads_nothing_again(
    engine: Engine, env: dict[str, str], hotline: RunningSimulator
) -> None:
    done = casehub(env, "backfill", *SPAN, "--workers", "2", "--window-hours", "12")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["windows"] == summary["finished"] == 9 and summary["failed"] == []
    assert summary["accepted"] == len(hotline.truth()) and summary["skipped"] == 0
    assert "hotline backfill" in done.stderr and "9/9" in done.stderr  # the progress bar
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == len(hotline.truth())

    status = casehub(env, "backfill", "--channel", "hotline", "--status")
    windows = json.loads(status.stdout)
    assert len(windows) == 9 and all(w["done"] for w in windows)
    assert windows[0]["start"] == SINCE.isoformat() and windows[-1]["end"] == UNTIL.isoformat()

    again = casehub(env, "backfill", *SPAN, "--workers", "2", "--window-hours", "12")
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"] == 9


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("backfill", "--channel", "nosuch", "--since", "x", "--until", "y"), "no pulled channel 'nosuch'"),
        (("backfill", "--channel", "hotline", "--since", "2026-11-01"), "--since and --until are required"),
        (
            ("backfill", "--channel", "hotline", "--since", "soon", "--until", UNTIL.isoformat()),
            "--since is not",
        ),
        (("backfill", *SPAN, "--workers", "0"), "--workers must be at least 1"),
        (
            ("backfill", "--channel", "hotline", "--since", UNTIL.isoformat(), "--until", SINCE.isoformat()),
            "before",
        ),
    ],
)
def test_a_mistake_is_one_line_and_exit_2(env: dict[str, str], argv: tuple[str, ...], named: str) -> None:
    refused = casehub(env, *argv)
    assert refused.returncode == 2 and refused.stdout == ""
    assert named in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_without_the_partners_connection_nothing_is_read(env: dict[str, str], engine: Engine) -> None:
    del env[f"AIRFLOW_CONN_{HOTLINE.connection.upper()}"]
    refused = casehub(env, "backfill", *SPAN)
    assert refused.returncode == 2
    assert "AIRFLOW_CONN_CASEHUB_HOTLINE is not set" in refused.stderr
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == 0

"""Backfill windows over the hotline's simulator on loopback, on SQLite and PostgreSQL: a span cut
into windows lands every record once, a killed window resumes from its last committed page, a
finished one is not read again, and the live ingest's cursor is never moved."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from casehub import backfill, jobs
from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError, TransientPartnerError
from casehub.partners import load_connector, partner
from casehub.ports import Window
from casehub.runtime import FULL_PASS_EVERY
from casehub.store.models import RawRecord, SyncCursor
from connectors.kit import Endpoint, RetryPolicy
from simulators.testing import RunningSimulator, start

HOTLINE = partner("hotline")
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAYS = 4
QUICK = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02)


@pytest.fixture
def hotline() -> Iterator[RunningSimulator]:
    simulator = start("hotline", records=160, seed=21, days=DAYS, anchor=ANCHOR, defect_rate=0.0)
    try:
        yield simulator
    finally:
        simulator.stop()


def _source(simulator: RunningSimulator) -> Any:
    assert HOTLINE.simulator is not None
    endpoint = Endpoint(
        url=simulator.url + HOTLINE.simulator.path,
        login=HOTLINE.simulator.login,
        secret=HOTLINE.simulator.secret,
        timeout=10,
        page_size=10,
    )
    source = load_connector(HOTLINE).build_source(endpoint)
    source.retry = QUICK
    return source


def _window(engine: Engine, keyring: KeyRing, simulator: RunningSimulator, window: Window) -> dict[str, Any]:
    """The window read in partner pages of ten, committed two pages at a time."""
    source = _source(simulator)
    try:
        return jobs.backfill_window(
            HOTLINE,
            source,
            load_connector(HOTLINE).MAPPER,
            engine=engine,
            keyring=keyring,
            window=window,
            batch_records=20,
        )
    finally:
        source.close()


def _raw(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(RawRecord)) or 0)


def test_the_windows_of_a_span_land_every_record_once_and_leave_the_live_cursor(
    engine: Engine, keyring: KeyRing, hotline: RunningSimulator
) -> None:
    windows = backfill.plan(
        ANCHOR - timedelta(days=DAYS + 1), ANCHOR + timedelta(days=1), timedelta(hours=12)
    )
    assert (
        len(windows) == 12 and windows[0].end == windows[1].start and windows[-1].end == ANCHOR + timedelta(1)
    )
    landed = sum(_window(engine, keyring, hotline, w)["accepted"] for w in windows)
    assert landed == len(hotline.truth())
    assert _raw(engine) == len(hotline.truth())
    states = backfill.states(engine, "hotline", windows)
    assert len(states) == len(windows) and all(s.done for s in states)
    with engine.connect() as conn:
        assert conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == "hotline")) is None

    again = [_window(engine, keyring, hotline, w) for w in windows]  # a rerun of finished windows
    assert all(run["skipped"] for run in again) and _raw(engine) == len(hotline.truth())


def test_a_killed_window_resumes_from_its_last_committed_page(
    engine: Engine, keyring: KeyRing, hotline: RunningSimulator
) -> None:
    window = Window(ANCHOR - timedelta(days=DAYS + 1), ANCHOR + timedelta(days=1))
    total = len(hotline.truth())
    hotline.faults("5xx", count=QUICK.attempts, after=5)  # the sixth page fails for good
    with pytest.raises(TransientPartnerError):
        _window(engine, keyring, hotline, window)
    (killed,) = backfill.states(engine, "hotline", [window])
    assert not killed.done and killed.pages == 2 and killed.position is not None
    assert _raw(engine) == 40  # two commits of two pages of ten; the fifth page read, not committed

    resumed = _window(engine, keyring, hotline, window)
    assert resumed["resumed_from"] == killed.position.isoformat()
    assert resumed["accepted"] == total - 40 and resumed["pages"] < -(-total // 20)
    assert _raw(engine) == total, "nothing lost, nothing landed twice"
    (finished,) = backfill.states(engine, "hotline", [window])
    assert finished.done and finished.attempts == 2


def test_a_window_runs_with_the_collectors_full_passes_held_back(
    engine: Engine, keyring: KeyRing, hotline: RunningSimulator
) -> None:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's defaults, as a fresh worker process starts
    try:
        run = _window(engine, keyring, hotline, Window(ANCHOR - timedelta(days=DAYS + 1), ANCHOR))
        assert run["accepted"] > 0
        assert gc.get_threshold() == (700, 10, FULL_PASS_EVERY)
    finally:
        gc.set_threshold(*saved)


@pytest.mark.parametrize(
    ("since", "until", "width", "named"),
    [
        (
            datetime(2026, 11, 2, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
            timedelta(days=1),
            "before until",
        ),
        (datetime(2026, 11, 1), datetime(2026, 11, 2, tzinfo=UTC), timedelta(days=1), "need an offset"),
        (
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            timedelta(minutes=1),
            "too many",
        ),
        (
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 11, 2, tzinfo=UTC),
            timedelta(0),
            "longer than zero",
        ),
    ],
)
def test_a_span_that_cannot_be_cut_is_one_line_naming_why(
    since: datetime, until: datetime, width: timedelta, named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named) as refused:
        backfill.plan(since, until, width)
    assert "\n" not in str(refused.value)

"""Backfill: a pulled channel's history read in windows, each on its own, any number at once.

A span of the partner's update time is cut into windows (`plan`); each window is read by one
task (`run_window`) through the same pipeline as the live ingest, its partner's pages committed
together in batches of up to `BATCH_RECORDS` records, each batch one transaction. The window's
row in `backfill_windows` keeps the newest update time its committed batches hold, moved inside
each batch's transaction, so

- a killed window resumes from there: the partner pages by update time (docs/partners.md), so
  what comes after its last committed batch is all that is left to read, and what is read again
  at that very time is recognised as landed;
- a window already finished is not read again (unless asked), so a rerun changes nothing;
- windows run side by side without meeting on one row: the live ingest's cursor
  (`sync_cursors`) is never touched, and each window writes only its own row.

The partner's records that change while a window is read move to a later update time, out of
the window, and are the live ingest's to read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError
from casehub.partners import Partner
from casehub.pipeline import PageResult, Pipeline, RunResult
from casehub.ports import Mapper, PageRecord, Source, Window
from casehub.store.db import store_errors
from casehub.store.models import BackfillWindow

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=1)
BATCH_RECORDS = 5_000
"""Records a window commits at once: the partner's pages (the hotline's at most 500) are taken
together up to this, so each page's fixed costs — the transaction, the data-quality suites'
validation, the look-ups — are paid once per batch, not once per partner page."""
MAX_WINDOWS = 10_000
"""More windows than this is a span cut too fine: one task each would swamp the scheduler."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def plan(since: datetime, until: datetime, width: timedelta = DEFAULT_WINDOW) -> list[Window]:
    """[since, until) cut into windows of `width`, the last one shorter when the span ends
    inside it; each window starts where the one before ends."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ConfigurationError("backfill: since and until need an offset (e.g. 2026-11-01T00:00+08:00)")
    if since >= until:
        raise ConfigurationError("backfill: since must be before until")
    if width <= timedelta(0):
        raise ConfigurationError("backfill: a window must be longer than zero")
    count = -(-(until - since) // width)
    if count > MAX_WINDOWS:
        raise ConfigurationError(f"backfill: {count} windows of {width} are too many; make them wider")
    return [Window(since + width * n, min(since + width * (n + 1), until)) for n in range(count)]


@dataclass(frozen=True)
class WindowState:
    """What the store says of one window."""

    channel: str
    start: datetime
    end: datetime
    position: datetime | None
    pages: int
    attempts: int
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "position": self.position.isoformat() if self.position else None,
            "pages": self.pages,
            "attempts": self.attempts,
            "done": self.done,
        }


def _key(channel: str, window: Window) -> Any:
    return (
        (BackfillWindow.channel == channel)
        & (BackfillWindow.window_start == window.start)
        & (BackfillWindow.window_end == window.end)
    )


_COLUMNS = list(BackfillWindow.__table__.columns)


def _state(row: Any) -> WindowState:
    return WindowState(
        row.channel, row.window_start, row.window_end, row.position, row.pages, row.attempts, row.finished_at
    )


def states(engine: Engine, channel: str, windows: Sequence[Window] | None = None) -> list[WindowState]:
    """The channel's windows the store knows (of `windows`), oldest first."""
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(BackfillWindow.channel == channel)
            .order_by(BackfillWindow.window_start, BackfillWindow.window_end)
        )
        found = [_state(row) for row in rows]
    if windows is None:
        return found
    wanted = {(w.start, w.end) for w in windows}
    return [s for s in found if (s.start, s.end) in wanted]


def _claim(engine: Engine, channel: str, window: Window, now: datetime, again: bool) -> WindowState:
    """The window's row, made when new; one attempt more counted, and unfinished when `again`."""
    with store_errors(), engine.begin() as conn:
        row = conn.execute(select(*_COLUMNS).where(_key(channel, window))).one_or_none()
        if row is None:
            conn.execute(
                insert(BackfillWindow),
                [
                    {
                        "channel": channel,
                        "window_start": window.start,
                        "window_end": window.end,
                        "position": None,
                        "pages": 0,
                        "attempts": 1,
                        "started_at": now,
                        "updated_at": now,
                        "finished_at": None,
                    }
                ],
            )
            return WindowState(channel, window.start, window.end, None, 0, 1, None)
        state = _state(row)
        if state.done and not again:
            return state
        values: dict[str, Any] = {"attempts": state.attempts + 1, "updated_at": now}
        if again:
            values.update(position=None, finished_at=None)
        conn.execute(update(BackfillWindow).where(_key(channel, window)).values(**values))
        position = None if again else state.position
        return WindowState(channel, window.start, window.end, position, state.pages, state.attempts + 1, None)


def _advance(
    channel: str, window: Window, clock: Callable[[], datetime]
) -> Callable[[Connection, datetime | None], None]:
    """What each page's transaction does last: count the page and move the window's position."""

    def advance(conn: Connection, high_water: datetime | None) -> None:
        values: dict[str, Any] = {"pages": BackfillWindow.pages + 1, "updated_at": clock()}
        if high_water is not None:
            current = conn.scalar(select(BackfillWindow.position).where(_key(channel, window)))
            if current is None or high_water > current:
                values["position"] = high_water
        conn.execute(update(BackfillWindow).where(_key(channel, window)).values(**values))

    return advance


def run_window(
    spec: Partner,
    source: Source,
    mapper: Mapper,
    *,
    engine: Engine,
    keyring: KeyRing,
    window: Window,
    again: bool = False,
    run_id: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
    clock: Callable[[], datetime] = utcnow,
    batch_records: int = BATCH_RECORDS,
) -> dict[str, Any]:
    """Read one window of `spec`'s history into the store (module docstring); its counts.

    The partner's pages are committed together up to `batch_records` records at a time. A
    finished window is skipped (`skipped: true`) unless `again`; an unfinished one resumes from
    its position. The caller has checked the schema and the key ring.
    """
    pipeline = Pipeline(engine, mapper, keyring, future_tolerance=spec.future_tolerance, clock=clock)
    pipeline.check_keys()
    state = _claim(engine, spec.code, window, clock(), again)
    if state.done:
        log.info("%s backfill %s: finished before, skipped", spec.code, label(window))
        return {**state.as_dict(), "skipped": True}
    start = max(window.start, state.position) if state.position else window.start
    result = RunResult(channel=spec.code, window=Window(start, window.end) if start < window.end else None)
    advance = _advance(spec.code, window, clock)

    def commit(records: list[PageRecord]) -> None:
        page = pipeline.ingest(
            records, run_id=run_id, window_end=window.end, hold_cursor=True, on_commit=advance
        )
        result.add(page)
        if on_page is not None:
            on_page(page)

    if result.window is not None:
        batch: list[PageRecord] = []
        for records in source.pages(result.window):
            batch.extend(records)
            if len(batch) >= batch_records:
                commit(batch)
                batch = []
        if batch:
            commit(batch)
    with store_errors(), engine.begin() as conn:
        conn.execute(
            update(BackfillWindow)
            .where(_key(spec.code, window))
            .values(finished_at=clock(), updated_at=clock())
        )
    summary = result.summary()
    log.info("%s backfill %s: %s", spec.code, label(window), summary)
    return {
        **summary,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "resumed_from": start.isoformat() if start != window.start else None,
        "skipped": False,
    }


def label(window: Window) -> str:
    """A window as people read it in the Airflow UI and the progress bar."""
    return f"{window.start.isoformat()}..{window.end.isoformat()}"

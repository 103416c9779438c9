"""The jobs the DAGs and the CLI run: each is one call with everything handed in.

The Airflow glue (`dags/_glue.py`) resolves connections, pools and the run's data interval,
then calls these; nothing here knows about Airflow.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, insert, select, update

from casehub.crypto import KeyRing
from casehub.errors import ConfigurationError, DataQualityError
from casehub.partners import Partner
from casehub.pipeline import PageResult, Pipeline, RunResult, decode_body
from casehub.ports import EventSink, Mapper, PageRecord, Source, UnreadableRecord, Window
from casehub.reasons import Code
from casehub.runtime import pace_collector
from casehub.stats import collect
from casehub.store.db import MIGRATIONS, store_errors
from casehub.store.keys import prove_keyring
from casehub.store.models import SyncCursor

log = logging.getLogger(__name__)
FEEDBACK_LOOKBACK, FEEDBACK_SPAN = timedelta(minutes=30), timedelta(days=30)
"""How far back a partner that is not pulled (only read back) is re-read, and read the first time."""


def require_current_schema(engine: Engine) -> None:
    """Refuse to write into a store whose schema is not at the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    with store_errors(), engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigurationError(
            f"the store is at schema revision {current or 'none'}, not {head}: run `casehub migrate`"
        )


def ingest(
    spec: Partner,
    source: Source,
    mapper: Mapper,
    *,
    engine: Engine,
    keyring: KeyRing,
    until: datetime,
    run_id: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
) -> dict[str, Any]:
    """Pull one channel from its cursor up to `until`; returns the run's counts (no personal data).

    The store's schema and the key ring are checked before the partner is called.
    """
    pull = spec.pulled()
    require_current_schema(engine)
    pace_collector()
    pipeline = Pipeline(engine, mapper, keyring, future_tolerance=spec.future_tolerance)
    pipeline.check_keys()
    result = pipeline.run(
        source,
        until=until,
        lookback=pull.lookback,
        initial_start=until - pull.initial_span,
        run_id=run_id,
        on_page=on_page,
    )
    return result.summary()


def backfill_window(
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
    batch_records: int | None = None,
) -> dict[str, Any]:
    """One window of a channel's history into the store (`casehub.backfill`); its counts.

    The store's schema and the key ring are checked before the partner is called.
    """
    from casehub import backfill

    require_current_schema(engine)
    pace_collector()
    return backfill.run_window(
        spec,
        source,
        mapper,
        engine=engine,
        keyring=keyring,
        window=window,
        again=again,
        run_id=run_id,
        on_page=on_page,
        batch_records=batch_records or backfill.BATCH_RECORDS,
    )


def process_webhooks(
    spec: Partner,
    mapper: Mapper,
    *,
    engine: Engine,
    keyring: KeyRing,
    run_id: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
    max_pages: int = 1000,
) -> dict[str, Any]:
    """Turn a pushing partner's landed webhooks into cases, oldest first, a batch at a time
    (`process_inbox`; each delivery's `data` is one raw record)."""
    return process_inbox(
        spec,
        mapper,
        _delivered_record,
        batch_size=spec.pushing().batch_size,
        engine=engine,
        keyring=keyring,
        run_id=run_id,
        on_page=on_page,
        max_pages=max_pages,
    )


def process_inbox(
    spec: Partner,
    mapper: Mapper,
    to_record: Callable[[bytes], PageRecord],
    *,
    batch_size: int,
    engine: Engine,
    keyring: KeyRing,
    run_id: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
    max_pages: int = 1000,
) -> dict[str, Any]:
    """Turn what the gateway landed in the inbox for `spec` (webhooks, Open311 requests) into
    cases, oldest first, `batch_size` at a time; `to_record` reads a landed body as a raw record.

    Each batch of pending entries goes through the same pipeline as a pulled page; once its
    page has committed, the entries are marked processed. A run that dies between the two
    leaves them pending, and the next run's page recognises what was already landed: nothing is
    lost and nothing lands twice. Bounded by `max_pages` per run, so a flood is worked off over
    several runs.
    """
    from casehub import inbox

    require_current_schema(engine)
    pace_collector()
    pipeline = Pipeline(engine, mapper, keyring, future_tolerance=spec.future_tolerance)
    pipeline.check_keys()
    result = RunResult(channel=spec.code, window=None)
    for _ in range(max_pages):
        entries = inbox.pending(engine, keyring, spec.code, limit=batch_size)
        if not entries:
            break
        page = pipeline.ingest([to_record(e.body) for e in entries], run_id=run_id, hold_cursor=True)
        with store_errors(), engine.begin() as conn:
            inbox.mark_processed(conn, [e.id for e in entries], page.batch_id, pipeline.clock())
        result.add(page)
        if on_page:
            on_page(page)
    return result.summary()


def _delivered_record(body: bytes) -> PageRecord:
    """The record a landed delivery carries: its envelope's `data`, or the body itself unread.

    The gateway checked the envelope before landing it, so a body that is not one now is a
    defect of the store or of a changed gateway, and is quarantined whole rather than lost.
    """
    envelope, unreadable = decode_body(body)
    if unreadable is not None:
        return UnreadableRecord(body=body, code=unreadable.code, message=unreadable.message)
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict):
        return UnreadableRecord(
            body=body, code=Code.NOT_AN_OBJECT, message="the delivery's envelope holds no data object"
        )
    record: PageRecord = data
    return record


def reconcile(engine: Engine, channel: Partner | None = None) -> dict[str, Any]:
    """Fail loudly if the store has lost track of any raw record; with a `channel`, also run the
    table-level suite `channel_day` on it (reconciled, fresh), which fails the run when broken."""
    stats = collect(engine)
    if not stats["reconciled"]:
        broken = [name for name, ok in stats["checks"].items() if not ok]
        raise DataQualityError(
            "the store does not reconcile: " + ", ".join(broken),
            suite="reconciliation",
            expectations=broken,
        )
    summary: dict[str, Any] = {
        "raw": stats["raw"],
        "raw_by_outcome": stats["raw_by_outcome"],
        "reconciled": True,
    }
    if channel is not None:
        from casehub.quality.daily import gate

        summary["quality"] = gate(engine, channel)
    return summary


def quality_daily(engine: Engine, keyring: KeyRing, day: date) -> dict[str, Any]:
    """Validate `day` for every inbound channel (`casehub.quality.daily`), rebuilding Data Docs."""
    from casehub.quality.daily import validate_day

    require_current_schema(engine)
    prove_keyring(engine, keyring, datetime.now(UTC))
    return validate_day(engine, keyring, day).summary()


def hotspots_daily(engine: Engine, day: date) -> dict[str, Any]:
    """The top and rising terms of `day` and of the week ending on it, per district and for the
    city (`casehub.hotspots`), replacing the day's rows; counts and the city's leading terms."""
    from casehub.hotspots import hotspots_daily as compute

    require_current_schema(engine)
    return compute(engine, day)


def deliver_outbox(
    spec: Partner,
    sink: EventSink,
    *,
    engine: Engine,
    keyring: KeyRing,
    limit: int | None = None,
) -> dict[str, Any]:
    """Send the partner's due outbox events through `sink` (`casehub.outbox.deliver`); the run's
    counts, no personal data. The store's schema is checked first."""
    from casehub import outbox

    require_current_schema(engine)
    prove_keyring(engine, keyring, datetime.now(UTC))
    return outbox.deliver(engine, keyring, spec, sink, limit=limit).summary()


def supervise(
    *, engine: Engine, keyring: KeyRing, clock: Callable[[], datetime] | None = None
) -> dict[str, int]:
    """Supervise the open cases near or past their deadline by the rule table: notices to their
    handlers, grades raised, cases re-dispatched (`casehub.supervision`); counts only."""
    from casehub import supervision

    require_current_schema(engine)
    prove_keyring(engine, keyring, datetime.now(UTC))
    return supervision.supervise(engine, keyring, clock=clock or supervision.utcnow)


def recluster(engine: Engine, *, since: datetime | None = None) -> dict[str, Any]:
    """Re-cluster the cases reported since `since` (every case without it) with the intake's
    decision and the splits handlers made (`casehub.dedup.store.recluster`); counts only."""
    from casehub.dedup import store as duplicates

    require_current_schema(engine)
    return duplicates.recluster(engine, since=since).summary()


def pull_progress(
    spec: Partner,
    source: Source,
    to_action: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    engine: Engine,
    keyring: KeyRing,
    until: datetime,
) -> dict[str, Any]:
    """Read back what a partner did with the cases the hub sent it — urban management's
    progress on its transferred cases (QueryTransferProgress), the health commission's feedback
    on its feed — and apply each entry as that partner's action (`to_action` turns an entry into
    `{"case_id", "action", "operation_id", "at", …}`).

    The window runs from the progress cursor (minus the pull's lookback) to `until`; the cursor
    moves once the whole window is read. An entry already applied is recognised by its
    operation id (`duplicate`); one the case's status no longer allows (a later step read
    before an earlier one was applied, a case ended meanwhile) is `refused` and counted by
    reason code; a malformed one is `invalid` with its reasons logged, never its values.
    """
    from casehub import workflow
    from casehub.errors import InvalidRecord, WorkflowRefused
    from casehub.ports import Window

    lookback, initial_span = (
        (spec.pull.lookback, spec.pull.initial_span) if spec.pull else (FEEDBACK_LOOKBACK, FEEDBACK_SPAN)
    )
    require_current_schema(engine)
    prove_keyring(engine, keyring, datetime.now(UTC))
    cursor = f"{spec.code}:progress"
    flow = workflow.Workflow(engine, keyring)
    actor = workflow.Actor(spec.code)
    with store_errors(), engine.connect() as conn:
        position = conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == cursor))
    start = (position - lookback) if position else until - initial_span
    counts: Counter[str] = Counter()
    if start >= until:
        return {"partner": spec.code, **counts}
    high_water: datetime | None = None
    for page in source.pages(Window(start=start, end=until)):
        for raw in page:
            if isinstance(raw, UnreadableRecord):
                counts["invalid"] += 1
                log.warning("%s progress: an unreadable entry (%s)", spec.code, raw.code)
                continue
            try:
                action = to_action(raw)
            except InvalidRecord as error:
                counts["invalid"] += 1
                log.warning(
                    "%s progress: %s", spec.code, "; ".join(r.code + " " + r.field for r in error.reasons)
                )
                continue
            body = {k: v for k, v in action.items() if k not in ("case_id", "action") and v is not None}
            try:
                outcome = flow.act(actor, str(action["case_id"]), str(action["action"]), body)
            except WorkflowRefused as error:
                counts[f"refused_{error.code}"] += 1
                continue
            except InvalidRecord as error:
                counts["invalid"] += 1
                log.warning(
                    "%s progress: %s", spec.code, "; ".join(r.code + " " + r.field for r in error.reasons)
                )
                continue
            counts["duplicate" if outcome.duplicate else f"applied_{action['action']}"] += 1
            at = datetime.fromisoformat(str(action["at"]))
            high_water = at if high_water is None else max(high_water, at)
    if high_water is not None:
        with store_errors(), engine.begin() as conn:
            _move_cursor(conn, cursor, min(high_water, until))
    return {"partner": spec.code, **dict(sorted(counts.items()))}


def _move_cursor(conn: Connection, channel: str, position: datetime) -> None:
    now = datetime.now(UTC)
    current = conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == channel))
    if current is None:
        conn.execute(insert(SyncCursor), [{"channel": channel, "position": position, "updated_at": now}])
    elif position > current:
        conn.execute(
            update(SyncCursor).where(SyncCursor.channel == channel).values(position=position, updated_at=now)
        )

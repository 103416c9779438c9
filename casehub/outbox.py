"""The transactional outbox: what partners must hear about, written with the change, delivered after.

Every change a partner must hear about — a case dispatched to a district, a handling result for
the channel a case came from, a case transferred to urban management — is written here as an
event in the same transaction as the change itself (`write`), so a change without its event,
or an event without its change, cannot be committed. An event's `event_id` is fixed when it is
written and sent on every attempt; partners apply an event id once.

Delivery (`deliver`) is a separate step, run by the `deliver_outbox` DAG per partner:
- the due pending events of the partner are read oldest first, a chunk at a time;
- **per-case order**: an event is sent only when every older event of the same case for the
  same partner has been delivered; an older one waiting for its next attempt, or dead, holds
  the newer ones back, so a partner never hears of a newer change before an older one;
- one attempt per event and run; a transient failure stores the next attempt time — an
  exponential back-off with jitter, or the partner's Retry-After when longer — and a run never
  sleeps waiting for it; a permanent failure, or the last allowed attempt, moves the event to
  `dead` with the reason (a code and the error's message, which names no personal data);
- a receipt is recorded for every delivery.
A run killed after a send and before its receipt is recorded sends the event again next time;
the partner recognises the event id. The truth of what was delivered is this table.

Partners that fetch their events (the district platforms, `delivery = "pull"`) are served by
the gateway from the same rows (`pending_for`) and confirm each one (`acknowledge`).
"""

from __future__ import annotations

import logging
import random
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, func, select, update
from uuid6 import uuid7

from casehub.crypto import KeyRing, associated_data
from casehub.errors import PermanentPartnerError, TransientPartnerError
from casehub.partners import Outbox, Partner
from casehub.ports import EventReceipt, EventSink, OutboundEvent
from casehub.store.bulk import insert_rows
from casehub.store.db import store_errors
from casehub.store.models import OutboxEvent

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATES = (PENDING, DELIVERED, DEAD)
CHUNK = 200
MAX_RETRY_AFTER_SECONDS = 86_400.0
_jitter = random.SystemRandom()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewEvent:
    """An event to write with a change: for whom, about which case version, and its body."""

    partner: str
    kind: str
    case_id: str
    case_version: int
    source_id: str
    origin: str
    data: Mapping[str, Any]
    target: str | None = None


def _aad(event_id: str) -> bytes:
    return associated_data("outbox", "data", event_id)


def write(conn: Connection, keyring: KeyRing, events: Sequence[NewEvent], now: datetime) -> list[str]:
    """Insert `events` in the caller's transaction (set-wise); returns their event ids.

    An event for the partner the change came from is not written: a change is never echoed
    back to where it came from (`origin` is a channel code or `<partner>:<target>`).
    """
    rows: list[dict[str, Any]] = []
    for event in events:
        if echoes(event):
            continue
        event_id = str(uuid7())
        rows.append(
            {
                "event_id": event_id,
                "partner": event.partner,
                "target": event.target,
                "kind": event.kind,
                "case_id": event.case_id,
                "case_version": event.case_version,
                "source_id": event.source_id,
                "origin": event.origin,
                "key_id": keyring.active,
                "data": keyring.seal(orjson.dumps(dict(event.data)), _aad(event_id)),
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "last_attempt_at": None,
                "delivered_at": None,
                "last_error": None,
                "receipt": None,
            }
        )
    # One COPY on PostgreSQL, one executemany on SQLite (`casehub.store.bulk`), as a page's other rows.
    insert_rows(conn, OutboxEvent.__table__, rows)  # type: ignore[arg-type]
    return [row["event_id"] for row in rows]


def origin_of(partner: str, target: str | None = None) -> str:
    """How an event's origin is written: `hotline`, `district:420106`."""
    return partner if target is None else f"{partner}:{target}"


def echoes(event: NewEvent) -> bool:
    """Whether `event` would go back to where its change came from (the loop guard)."""
    return event.origin in (event.partner, origin_of(event.partner, event.target))


def backoff(attempts: int, policy: Outbox, retry_after: float | None = None) -> timedelta:
    """The wait before the next attempt: exponential in `attempts` with full jitter on its upper
    half, capped by the policy; a partner's Retry-After is honoured when it asks for longer (up
    to a day: a longer ask is taken for a mistake, not obeyed for weeks)."""
    ceiling = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** max(attempts - 1, 0))
    wait = ceiling / 2 + _jitter.uniform(0, ceiling / 2)
    if retry_after is not None:
        wait = max(wait, min(float(retry_after), MAX_RETRY_AFTER_SECONDS))
    return timedelta(seconds=wait)


def _event(row: Any, keyring: KeyRing) -> OutboundEvent:
    data = orjson.loads(keyring.open(row.key_id, row.data, _aad(row.event_id)))
    return OutboundEvent(
        event_id=row.event_id,
        partner=row.partner,
        kind=row.kind,
        case_id=row.case_id,
        case_version=row.case_version,
        target=row.target,
        source_id=row.source_id,
        data=data,
        created_at=row.created_at,
    )


_COLUMNS = (
    OutboxEvent.id,
    OutboxEvent.event_id,
    OutboxEvent.partner,
    OutboxEvent.target,
    OutboxEvent.kind,
    OutboxEvent.case_id,
    OutboxEvent.case_version,
    OutboxEvent.source_id,
    OutboxEvent.key_id,
    OutboxEvent.data,
    OutboxEvent.attempts,
    OutboxEvent.created_at,
)


def _heads(conn: Connection, partner: str, case_ids: Iterable[str], up_to: int) -> dict[str, list[int]]:
    """For each case, the ids of its undelivered events for `partner` up to the id `up_to`, oldest
    first: what may have to go before a due event of the case that is not newer than `up_to`."""
    waiting: dict[str, list[int]] = defaultdict(list)
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(OutboxEvent.case_id, OutboxEvent.id)
            .where(
                OutboxEvent.partner == partner,
                OutboxEvent.state != DELIVERED,
                OutboxEvent.case_id.in_(ids[start : start + 500]),
                OutboxEvent.id <= up_to,
            )
            .order_by(OutboxEvent.id)
        )
        for case_id, event in rows:
            waiting[case_id].append(event)
    return waiting


def _in_order(
    rows: Sequence[Any], waiting: Mapping[str, list[int]], delivered: AbstractSet[int] = frozenset()
) -> list[Any]:
    """The rows that may be sent now, oldest first: each case's run of due events from its oldest
    undelivered one on, stopping at the first event of the case that is not due. `delivered`
    are events this run delivered, whose outcome may not be recorded yet."""
    due = {row.id for row in rows}
    chosen: list[Any] = []
    for row in rows:
        queue = waiting.get(row.case_id, [])
        older = [event for event in queue if event < row.id and event not in delivered]
        if all(event in due for event in older):
            chosen.append(row)
    return chosen


@dataclass
class DeliveryRun:
    """The counts of one delivery run of one partner (no personal data)."""

    partner: str
    delivered: int = 0
    duplicates: int = 0
    retried: int = 0
    dead: int = 0
    held: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "retried": self.retried,
            "dead": self.dead,
            "held_for_order": self.held,
        }


def deliver(
    engine: Engine,
    keyring: KeyRing,
    spec: Partner,
    sink: EventSink | Sequence[EventSink],
    *,
    clock: Callable[[], datetime] = utcnow,
    limit: int | None = None,
) -> DeliveryRun:
    """Send `spec`'s due events through `sink`, oldest first, at most `limit` (default the
    manifest's batch size) tried in this run; each chunk's outcomes are recorded as it ends.

    Given several sinks (one per connection, `EventSink`s need not be thread-safe), the events
    are sent on that many lanes at once, each case always on the same lane, so a case's events
    keep their order while different cases' round trips overlap. While a chunk is sent, the
    next is read and the one before recorded; a chunk's events are chosen only once the one
    before has ended, with what it delivered and which cases it failed, and the run returns
    once every outcome is recorded.
    """
    sinks = [sink] if not isinstance(sink, Sequence) else list(sink)
    if not sinks:
        raise ValueError("deliver needs at least one sink")
    policy = spec.notified()
    budget = policy.batch_size if limit is None else limit
    run = DeliveryRun(spec.code)
    failed_cases: set[str] = set()
    delivered: set[int] = set()
    last_id = 0
    attempt = partial(_lane, keyring=keyring, policy=policy, clock=clock)
    with (
        ThreadPoolExecutor(max_workers=len(sinks), thread_name_prefix=f"outbox-{spec.code}") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"outbox-{spec.code}-record") as recorder,
    ):
        recording: Future[None] | None = None
        sending: list[Future[tuple[list[dict[str, Any]], int, set[str]]]] = []
        reserved = 0  # the events being sent: the most of the budget they can take
        try:
            while True:
                left = budget - reserved
                rows, waiting = (
                    _due(engine, spec.code, clock(), last_id, min(CHUNK, left)) if left > 0 else ([], {})
                )
                if sending:
                    outcomes = _ended(sending, run, failed_cases)
                    sending, reserved = [], 0
                    delivered.update(o["row"] for o in outcomes if o["state"] == DELIVERED)
                    # Outcomes are recorded while the next chunk goes out; one chunk at a time, in order.
                    if recording is not None:
                        recording.result()
                    recording = recorder.submit(_record, engine, outcomes)
                    # Only what was tried counts: events held for order must not starve other cases.
                    budget -= len(outcomes)
                if not rows:
                    if left > 0 or budget <= 0:
                        break
                    continue  # what the chunk just ended left of the budget is read for now
                last_id = rows[-1].id
                sendable = _in_order(rows, waiting, delivered)
                run.held += len(rows) - len(sendable)
                lanes: list[list[Any]] = [[] for _ in sinks]
                for row in sendable:
                    if row.case_id in failed_cases:
                        run.held += 1
                    else:
                        lanes[zlib.crc32(row.case_id.encode()) % len(sinks)].append(row)
                sending = [
                    pool.submit(attempt, lane, lane_sink)
                    for lane, lane_sink in zip(lanes, sinks, strict=True)
                ]
                reserved = len(sendable)
        except BaseException:
            # What was sent before the failure is recorded before it is raised: sent again, it
            # would be applied once all the same, but the table would not say it was delivered.
            ended = [future for future in sending if future.exception() is None]
            with suppress(Exception):  # the failure raised is the one that stopped the run
                if recording is not None:
                    recording.result()
                _record(engine, _ended(ended, run, failed_cases))
            recording = None
            raise
        finally:
            if recording is not None:
                recording.result()
    return run


def _due(
    engine: Engine, partner: str, now: datetime, after: int, limit: int
) -> tuple[list[Any], dict[str, list[int]]]:
    """The next `limit` due pending events of `partner` past the id `after`, oldest first, and
    for each of their cases its undelivered events (`_heads`)."""
    with store_errors(), engine.connect() as conn:
        rows = list(
            conn.execute(
                select(*_COLUMNS)
                .where(
                    OutboxEvent.partner == partner,
                    OutboxEvent.state == PENDING,
                    OutboxEvent.next_attempt_at <= now,
                    OutboxEvent.id > after,
                )
                .order_by(OutboxEvent.id)
                .limit(limit)
            ).all()
        )
        if not rows:
            return rows, {}
        return rows, _heads(conn, partner, (row.case_id for row in rows), rows[-1].id)


def _ended(
    lanes: Sequence[Future[tuple[list[dict[str, Any]], int, set[str]]]], run: DeliveryRun, failed: set[str]
) -> list[dict[str, Any]]:
    """The outcomes of a chunk's lanes once they end, counted into `run`; the cases that failed
    are added to `failed`."""
    outcomes: list[dict[str, Any]] = []
    for lane in lanes:
        done, held, failed_here = lane.result()
        outcomes += done
        run.held += held
        failed |= failed_here
    for outcome in outcomes:
        run.delivered += outcome["state"] == DELIVERED
        run.duplicates += bool(outcome["state"] == DELIVERED and outcome["receipt"]["duplicate"])
        run.retried += outcome["state"] == PENDING
        run.dead += outcome["state"] == DEAD
    return outcomes


def _lane(
    rows: Sequence[Any], sink: EventSink, *, keyring: KeyRing, policy: Outbox, clock: Callable[[], datetime]
) -> tuple[list[dict[str, Any]], int, set[str]]:
    """One lane's events in order; a case whose event fails holds its later ones back."""
    outcomes: list[dict[str, Any]] = []
    failed: set[str] = set()
    held = 0
    for row in rows:
        if row.case_id in failed:
            held += 1
            continue
        outcome = _attempt(row, keyring, sink, policy, clock)
        if outcome["state"] != DELIVERED:
            failed.add(row.case_id)
        outcomes.append(outcome)
    return outcomes, held, failed


def _attempt(
    row: Any, keyring: KeyRing, sink: EventSink, policy: Outbox, clock: Callable[[], datetime]
) -> dict[str, Any]:
    event = _event(row, keyring)
    attempts = row.attempts + 1
    outcome: dict[str, Any] = {"row": row.id, "attempts": attempts, "receipt": None, "error": None}
    try:
        receipt: EventReceipt = sink.send(event)
    except TransientPartnerError as error:
        now = clock()
        outcome["error"] = {"code": "transient", "status": error.status, "message": str(error)[:500]}
        outcome["at"] = now
        if attempts >= policy.max_attempts:
            outcome["error"]["code"] = "attempts_exhausted"
            outcome.update(state=DEAD, next=now)
        else:
            outcome.update(state=PENDING, next=now + backoff(attempts, policy, error.retry_after))
        log.warning("outbox %s: event %s not delivered (%s)", row.partner, row.event_id, error)
        return outcome
    except PermanentPartnerError as error:
        now = clock()
        outcome.update(
            state=DEAD,
            next=now,
            at=now,
            error={"code": "refused", "status": error.status, "message": str(error)[:500]},
        )
        log.error("outbox %s: event %s refused for good (%s)", row.partner, row.event_id, error)
        return outcome
    now = clock()
    outcome.update(state=DELIVERED, next=now, at=now, receipt=receipt.as_dict())
    return outcome


_RECORD_DELIVERED = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("row"))
    .values(
        state=DELIVERED,
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("at"),
        last_attempt_at=bindparam("at"),
        delivered_at=bindparam("at"),
        last_error=None,
        receipt=bindparam("receipt"),
    )
)
"""A delivery's outcome: one time for its attempt, its delivery and its next due time."""

_RECORD_FAILED = (
    update(OutboxEvent)
    .where(OutboxEvent.id == bindparam("row"))
    .values(
        state=bindparam("state"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next"),
        last_attempt_at=bindparam("at"),
        delivered_at=None,
        last_error=bindparam("error"),
        receipt=None,
    )
)
"""A failed attempt's outcome: pending again from its next attempt time, or dead, with the error."""


def _record(engine: Engine, outcomes: Sequence[dict[str, Any]]) -> None:
    """Store `outcomes` in one transaction: the deliveries in one statement run over all of
    them, the failures (few) in another. Only the columns an outcome sets are bound."""
    if not outcomes:
        return
    delivered = [
        {"row": o["row"], "attempts": o["attempts"], "at": o["at"], "receipt": o["receipt"]}
        for o in outcomes
        if o["state"] == DELIVERED
    ]
    failed = [o for o in outcomes if o["state"] != DELIVERED]
    with store_errors(), engine.begin() as conn:
        if delivered:
            conn.execute(_RECORD_DELIVERED, delivered)
        if failed:
            conn.execute(_RECORD_FAILED, failed)


# -- partners that fetch their events ------------------------------------------------------------


def pending_for(
    engine: Engine, keyring: KeyRing, partner: str, target: str, *, limit: int
) -> list[OutboundEvent]:
    """The events waiting for `partner`/`target` to fetch them, oldest first, each case's in order."""
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(OutboxEvent.partner == partner, OutboxEvent.target == target, OutboxEvent.state == PENDING)
            .order_by(OutboxEvent.id)
            .limit(limit)
        ).all()
    return [_event(row, keyring) for row in rows]


def acknowledge(
    conn: Connection, partner: str, target: str, event_ids: Sequence[str], now: datetime, how: str
) -> int:
    """Record that `partner`/`target` has the events (a confirmation, or an action on their case)."""
    if not event_ids:
        return 0
    result = conn.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.partner == partner,
            OutboxEvent.target == target,
            OutboxEvent.event_id.in_(list(event_ids)),
            OutboxEvent.state == PENDING,
        )
        .values(
            state=DELIVERED,
            attempts=OutboxEvent.attempts + 1,
            last_attempt_at=now,
            delivered_at=now,
            receipt={"confirmed_by": how},
        )
    )
    return int(result.rowcount or 0)


def bury(
    conn: Connection,
    partner: str,
    target: str,
    event_ids: Sequence[str],
    now: datetime,
    error: dict[str, Any],
) -> int:
    """Declare pending events of `partner`/`target` dead with `error` (a code and a message naming
    no personal data): they are not offered again until `replay` puts them back."""
    if not event_ids:
        return 0
    result = conn.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.partner == partner,
            OutboxEvent.target == target,
            OutboxEvent.event_id.in_(list(event_ids)),
            OutboxEvent.state == PENDING,
        )
        .values(state=DEAD, last_attempt_at=now, next_attempt_at=now, last_error=error)
    )
    return int(result.rowcount or 0)


# -- people: listing, replay, counts -------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An outbox row as data engineers see it: no body, no personal data."""

    event_id: str
    partner: str
    target: str | None
    kind: str
    case_id: str
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "partner": self.partner,
            "target": self.target,
            "kind": self.kind,
            "case_id": self.case_id,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at.isoformat(),
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "delivered_at": None if self.delivered_at is None else self.delivered_at.isoformat(),
            "last_error": self.last_error,
        }


def entries(
    engine: Engine, *, partner: str | None = None, state: str | None = None, limit: int = 100
) -> list[Entry]:
    query = select(
        OutboxEvent.event_id,
        OutboxEvent.partner,
        OutboxEvent.target,
        OutboxEvent.kind,
        OutboxEvent.case_id,
        OutboxEvent.state,
        OutboxEvent.attempts,
        OutboxEvent.created_at,
        OutboxEvent.next_attempt_at,
        OutboxEvent.delivered_at,
        OutboxEvent.last_error,
    )
    if partner is not None:
        query = query.where(OutboxEvent.partner == partner)
    if state is not None:
        query = query.where(OutboxEvent.state == state)
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(query.order_by(OutboxEvent.id.desc()).limit(limit)).all()
    return [Entry(*row) for row in rows]


def replay(
    engine: Engine,
    *,
    partner: str | None = None,
    event_ids: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Put dead events back to pending, due now, with their attempts counted afresh; returns how many.

    Their event ids stay the same, so a partner that did apply one before it was declared dead
    recognises it.
    """
    statement = update(OutboxEvent).where(OutboxEvent.state == DEAD)
    if partner is not None:
        statement = statement.where(OutboxEvent.partner == partner)
    if event_ids is not None:
        statement = statement.where(OutboxEvent.event_id.in_(list(event_ids)))
    with store_errors(), engine.begin() as conn:
        result = conn.execute(statement.values(state=PENDING, attempts=0, next_attempt_at=clock()))
    return int(result.rowcount or 0)


def counts(engine: Engine, partners: Iterable[str]) -> dict[str, dict[str, int]]:
    """`{partner: {pending, delivered, dead}}` for every partner named, zeros included."""
    found: dict[str, dict[str, int]] = {code: dict.fromkeys(STATES, 0) for code in partners}
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.partner, OutboxEvent.state, func.count()).group_by(
                OutboxEvent.partner, OutboxEvent.state
            )
        )
        for code, state, number in rows:
            found.setdefault(code, dict.fromkeys(STATES, 0))[state] = int(number)
    return found

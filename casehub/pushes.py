"""Scheduled pushes to recipients (城市大脑, 卫健委): the outbound direction, window by window.

A push covers a window of the hub's recording time, `[start, until - settle)`: the cases that
gained a history row in it, narrowed to what the recipient's allow-list selects
(`schemas/recipients/<recipient>.json`). The window starts where the recipient's last complete
window ended (the store's beginning the first time), so every change is offered once. A page
takes its recording time when its transaction starts; the manifest's `settle_seconds` keeps the
window's end behind pages still committing, which the next run reads instead.

The cases are walked in `case_id` order, `batch_size` at a time; each batch is rendered by the
partner's pure renderer (which sees only the personal fields the allow-list permits, opened in
memory), every record is checked against the recipient's schema, and the batch is handed to the
sink with an id derived from (recipient, window, batch number). Once the receipt is in, one
provision-log row records the batch; the window's last batch is marked `final`.

A push that stops part-way (the partner down beyond the retries) leaves its window incomplete:
the next run resumes that same window first, walks it in the same order, skips the batches
already recorded and sends the rest under the same ids, so a batch delivered but not recorded
is recognised by the recipient rather than applied twice. Nothing personal is logged: counts,
batch ids and window bounds only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, exists, false, insert, or_, select, true

from casehub.crypto import KeyRing, associated_data
from casehub.errors import ConfigurationError, ContractError, DataQualityError
from casehub.partners import Partner
from casehub.ports import OutboundBatch, Receipt, Renderer, Sink, Window
from casehub.recipients import PERSONAL_FIELDS, Recipient, load_recipient
from casehub.store.db import store_errors
from casehub.store.keys import prove_keyring
from casehub.store.models import Batch, Case, CaseHistory, ProvisionLog, QualityResult

log = logging.getLogger(__name__)

ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a recipient's first window starts: it is offered every case the store holds."""
BATCH_NAMESPACE = uuid.UUID("6f1d0c3e-5a0b-4c59-9a43-2b8f3f0d7c11")

_SEALED = {f"reporter_{name}" for name in PERSONAL_FIELDS}
_NEVER_RENDERED = {
    "reporter_phone_index",
    "reporter_fingerprint",
    "reporter_index_key_id",
    "pii_key_id",
    "raw_id",
}


def batch_id(recipient: str, window: Window, number: int) -> str:
    """The batch's id: the same for the same recipient, window and batch number, on every rerun."""
    start, end = (bound.astimezone(UTC).isoformat() for bound in (window.start, window.end))
    name = f"{recipient}/{start}/{end}/{number}"
    return str(uuid.uuid5(BATCH_NAMESPACE, name))


@dataclass
class PushResult:
    recipient: str
    windows: list[dict[str, str]]
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    already_provided: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "windows": self.windows,
            "batches": self.batches,
            "records": self.records,
            "duplicates": self.duplicates,
            "already_provided": self.already_provided,
        }


def push(
    spec: Partner,
    sink: Sink,
    renderer: Renderer,
    *,
    engine: Engine,
    keyring: KeyRing,
    until: datetime,
    recipient: Recipient | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_batch: Callable[[OutboundBatch, Receipt], None] | None = None,
) -> dict[str, Any]:
    """Push what changed for the partner since its last complete window, up to `until` less the
    partner's settle time.

    Returns the run's counts (no personal data). The store's schema is checked first, and a
    renderer or sink built for another recipient is refused before anything is read.
    """
    from casehub.jobs import require_current_schema

    deliver = spec.delivered()
    contract = recipient or load_recipient(spec.recipient)
    if renderer.recipient != contract.code:
        raise ConfigurationError(f"{spec.code}: the renderer is for {renderer.recipient!r}")
    if sink.recipient != spec.code:
        raise ConfigurationError(f"{spec.code}: the sink delivers to {sink.recipient!r}")
    require_current_schema(engine)
    prove_keyring(engine, keyring, clock())
    result = PushResult(recipient=contract.code, windows=[])
    for window in _windows(engine, contract.code, until - deliver.settle):
        result.windows.append({"start": window.start.isoformat(), "end": window.end.isoformat()})
        _push_window(
            window, contract, sink, renderer, deliver.batch_size, engine, keyring, clock, result, on_batch
        )
    return result.summary()


def _windows(engine: Engine, recipient: str, until: datetime) -> list[Window]:
    """The incomplete window to finish first, if any, then the new one up to `until`."""
    with store_errors(), engine.connect() as conn:
        latest = conn.execute(
            select(ProvisionLog.window_start, ProvisionLog.window_end)
            .where(ProvisionLog.recipient == recipient)
            .order_by(ProvisionLog.window_end.desc())
            .limit(1)
        ).first()
        finished = latest is not None and bool(
            conn.scalar(
                select(
                    exists().where(
                        ProvisionLog.recipient == recipient,
                        ProvisionLog.window_end == latest.window_end,
                        ProvisionLog.final.is_(True),
                    )
                )
            )
        )
    windows: list[Window] = []
    start = ORIGIN
    if latest is not None:
        if not finished:
            windows.append(Window(start=latest.window_start, end=latest.window_end))
        start = latest.window_end
    if start < until:
        windows.append(Window(start=start, end=until))
    return windows


def _selection(contract: Recipient) -> ColumnElement[bool]:
    """The cases the recipient receives, as a condition on `cases` (the allow-list's selection)."""
    if contract.everything:
        return true()
    terms: list[ColumnElement[bool]] = []
    if contract.health_related:
        terms.append(Case.health_related.is_(True))
    for word in contract.keywords:
        terms.append(Case.title.contains(word, autoescape=True))
        terms.append(Case.content.contains(word, autoescape=True))
    return or_(*terms) if terms else false()


def _pages(
    engine: Engine, window: Window, contract: Recipient, size: int
) -> Iterator[tuple[list[Mapping[str, Any]], bool]]:
    """The window's selected cases in `case_id` order, `size` at a time, with whether a page is
    the last; each page is read on its own connection, so none is held while a batch is sent."""
    # A version the recipient itself caused (its feedback) is not sent back to it.
    changed = exists().where(
        CaseHistory.case_id == Case.case_id,
        CaseHistory.recorded_at >= window.start,
        CaseHistory.recorded_at < window.end,
        CaseHistory.batch_id == Batch.batch_id,
        Batch.channel != contract.code,
    )
    after = ""
    while True:
        with store_errors(), engine.connect() as conn:
            found = conn.execute(
                select(Case.__table__)
                .where(changed, _selection(contract), Case.case_id > after)
                .order_by(Case.case_id)
                .limit(size + 1)
            )
            rows: list[Mapping[str, Any]] = [dict(row) for row in found.mappings()]
        last = len(rows) <= size
        page = rows[:size]
        if not page:
            return
        yield page, last
        if last:
            return
        after = str(page[-1]["case_id"])


def renderable(case: Mapping[str, Any], contract: Recipient, keyring: KeyRing) -> dict[str, Any]:
    """The case's columns for the renderer: the allow-list's personal fields opened, the rest of
    the sealed columns, the blind index and the fingerprint left out."""
    row = {name: value for name, value in case.items() if name not in _SEALED | _NEVER_RENDERED}
    case_id = str(case["case_id"])
    for name in contract.personal:
        column = f"reporter_{name}"
        aad = associated_data("cases", column, case_id)
        row[column] = keyring.open_text(str(case["pii_key_id"]), case[column], aad)
    return row


def checked_record(
    case: Mapping[str, Any], contract: Recipient, renderer: Renderer, keyring: KeyRing
) -> dict[str, Any]:
    """The recipient's record of `case`, checked against its allow-list's schema: a record that
    breaks it (a field too many, a masked text that is not) raises `DataQualityError` naming the
    fields, and is never sent."""
    record = renderer.render(renderable(case, contract, keyring))
    problems = contract.problems(record)
    if problems:
        raise DataQualityError(
            f"{contract.code}: the record of case {case['case_id']} breaks "
            f"schemas/recipients/{contract.code}.json at {', '.join(problems)}",
            suite=f"recipients/{contract.code}",
            expectations=problems,
        )
    return record


def _rendered(
    cases: list[Mapping[str, Any]], contract: Recipient, renderer: Renderer, keyring: KeyRing
) -> list[dict[str, Any]]:
    return [checked_record(case, contract, renderer, keyring) for case in cases]


def _push_window(
    window: Window,
    contract: Recipient,
    sink: Sink,
    renderer: Renderer,
    size: int,
    engine: Engine,
    keyring: KeyRing,
    clock: Callable[[], datetime],
    result: PushResult,
    on_batch: Callable[[OutboundBatch, Receipt], None] | None,
) -> None:
    with store_errors(), engine.connect() as conn:
        provided = set(
            conn.scalars(
                select(ProvisionLog.batch_id).where(
                    ProvisionLog.recipient == contract.code,
                    ProvisionLog.window_start == window.start,
                    ProvisionLog.window_end == window.end,
                )
            )
        )
    for number, (cases, last) in enumerate(_pages(engine, window, contract, size), start=1):
        identifier = batch_id(contract.code, window, number)
        if identifier in provided:
            result.already_provided += 1
            continue
        batch = OutboundBatch(
            recipient=contract.code,
            batch_id=identifier,
            records=_rendered(cases, contract, renderer, keyring),
        )
        _check_feed(engine, contract, batch, clock())
        receipt = sink.deliver(batch)
        _check(receipt, batch, sink.recipient)
        with store_errors(), engine.begin() as conn:
            _record(conn, contract, batch, number, window, last, receipt, clock())
        result.batches += 1
        result.records += len(batch.records)
        result.duplicates += int(receipt.duplicate)
        log.info(
            "%s batch %d (%s): %d records, %s",
            contract.code,
            number,
            identifier,
            len(batch.records),
            "already held by the recipient" if receipt.duplicate else "accepted",
        )
        if on_batch:
            on_batch(batch, receipt)


def _check_feed(engine: Engine, contract: Recipient, batch: OutboundBatch, now: datetime) -> None:
    """The recipient's feed suite (`expectations/`, `feed_<recipient>`) on the rendered batch,
    its results kept; a broken rule stops the push before anything is sent."""
    from casehub.quality import quality_context
    from casehub.quality.frames import feed_frame

    quality = quality_context()
    suite = f"feed_{contract.code}"
    if suite not in quality.specs or not batch.records:
        return
    checked = quality.validate(suite, feed_frame(batch.records), {"allowed": list(contract.fields)})
    with store_errors(), engine.begin() as conn:
        conn.execute(
            insert(QualityResult), checked.rows_for_store(contract.code, at=now, batch_id=batch.batch_id)
        )
    broken = checked.broken()
    if broken:
        raise DataQualityError(
            f"{contract.code}: batch {batch.batch_id} breaks "
            + "; ".join(f"{r.rule.rule} ({r.rule.message})" for r in broken)
            + ": nothing was sent",
            suite=suite,
            expectations=[r.rule.rule for r in broken],
        )


def _check(receipt: Receipt, batch: OutboundBatch, partner: str) -> None:
    """A receipt for another batch, or a first delivery acknowledged for fewer records than
    sent, is not a receipt (a repeated batch id is acknowledged with what the recipient holds)."""
    counted = receipt.duplicate or receipt.accepted == len(batch.records)
    if receipt.batch_id != batch.batch_id or not counted:
        raise ContractError(
            "receipt does not acknowledge the batch sent",
            partner=partner,
            operation="deliver",
            request_id=batch.batch_id,
        )


def _record(
    conn: Connection,
    contract: Recipient,
    batch: OutboundBatch,
    number: int,
    window: Window,
    final: bool,
    receipt: Receipt,
    now: datetime,
) -> None:
    conn.execute(
        insert(ProvisionLog).values(
            recipient=contract.code,
            purpose=contract.purpose,
            fields=list(contract.fields),
            record_count=len(batch.records),
            batch_id=batch.batch_id,
            batch_number=number,
            window_start=window.start,
            window_end=window.end,
            final=final,
            pushed_at=now,
            receipt=receipt.as_dict(),
        )
    )


def provision_log(engine: Engine, recipient: str) -> list[Mapping[str, Any]]:
    """The recipient's provision-log entries, oldest first."""
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(
            select(ProvisionLog.__table__)
            .where(ProvisionLog.recipient == recipient)
            .order_by(ProvisionLog.id)
        ).mappings()
        return [dict(row) for row in rows]

"""One batch through the hub: land → normalize → validate → quarantine → upsert + history → cursor.

A page of raw records is handled set-wise in one transaction: the raw payloads (sealed, with
their content hash), the accepted case versions and their history, the quarantined records with
their reasons, the batch summary and the channel's cursor commit together or not at all. The
statements are per page, never per record.

Invariants a reader can rely on:
- every raw record that lands ends with exactly one outcome — accepted, quarantined or
  superseded — so `raw = accepted + quarantined + superseded` holds after every commit;
- a payload already landed (same channel and content hash) is recognised and skipped, so
  re-reading a window (the cursor's lookback, an Airflow retry, a rerun) changes nothing;
- an older source update never overwrites a newer one: it is kept as `superseded`;
- a case is changed only by a strictly newer source update, and each change appends history;
- a record is the unit of failure: whatever one record holds — a value no mapper expected, bytes
  that are not JSON, an update time in the future, a value the store would refuse — it is
  quarantined with a reason naming the field, and the rest of its page lands.

Nothing is written before the key ring has been checked against the store (`store.keys`), and
no database error leaves here with the driver's text, which can quote a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from uuid6 import uuid7

from casehub import outbox, workflow
from casehub.changes import CASE_FIELDS, TIME_FIELDS, diff
from casehub.contract import CaseContract, case_contract
from casehub.crypto import KeyRing, associated_data
from casehub.dedup import store as duplicates
from casehub.enrich import Rules, enrich, load_rules
from casehub.errors import InvalidRecord, Reason
from casehub.keys import reporter_fingerprint
from casehub.ports import Mapper, PageRecord, Source, UnreadableRecord, Window
from casehub.quality import QualityContext, Validation, quality_context
from casehub.quality.frames import case_frame, raw_frame
from casehub.reasons import Code
from casehub.reference import Reference, load_reference
from casehub.store.bulk import insert_rows, upsert_newer
from casehub.store.db import StoreRejected, store_errors
from casehub.store.keys import check_keyring, hold_active
from casehub.store.models import Batch, Case, CaseHistory, QualityResult, Quarantine, SyncCursor
from casehub.store.models import RawRecord as RawRow

ACCEPTED, QUARANTINED, SUPERSEDED = "accepted", "quarantined", "superseded"
REPLAY_RUN = "replay"
"""The run id of the batches a quarantine replay records."""
PERSONAL_FIELDS = ("name", "phone", "id_number")
IN_CHUNK = 500
FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of the hub's clock a partner's update time may be (clock skew). A version
further ahead would stay "newest" until that time and freeze the case, so it is quarantined."""
_INT64 = (-(2**63), 2**64 - 1)
MAX_DEPTH = 250
"""The integers and the nesting the stored canonical JSON can hold (orjson's limits)."""

log = logging.getLogger(__name__)


def new_id() -> str:
    """A time-ordered UUID (v7): raw rows and batches are inserted in id order, which keeps the
    primary-key index compact and its hot pages in memory as the store grows."""
    return str(uuid7())


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Item:
    """One raw record on its way through a page."""

    raw: Any
    body: bytes
    content_hash: str
    unreadable: Reason | None = None
    raw_id: str = ""
    source_id: str = ""
    updated_at: datetime | None = None
    case: dict[str, Any] | None = None
    reasons: list[Reason] = field(default_factory=list)
    outcome: str = QUARANTINED
    events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)


def _record_warnings(items: Sequence[_Item]) -> list[dict[str, Any]]:
    """The warnings of a page's accepted records, counted by code and field, in the shape of
    the batch suite's warnings (an unmapped category is filed under 其他, not quarantined)."""
    counts: Counter[tuple[str, str]] = Counter()
    messages: dict[tuple[str, str], str] = {}
    for item in items:
        if item.case is None:
            continue
        for warning in item.warnings:
            key = (warning.code, warning.field)
            counts[key] += 1
            messages.setdefault(key, warning.message)
    return [
        {
            "expectation": f"enrichment:{code}",
            "column": column,
            "reason": messages[code, column],
            "unexpected_count": n,
        }
        for (code, column), n in sorted(counts.items())
    ]


def _fresh(items: Sequence[_Item]) -> list[_Item]:
    """The items as they arrived, before a rolled-back attempt evaluated them."""
    return [
        _Item(raw=i.raw, body=i.body, content_hash=i.content_hash, unreadable=i.unreadable) for i in items
    ]


def _reject(item: _Item) -> None:
    """Keep a record the store refused as quarantined, writing nothing of it but its sealed body."""
    item.source_id = f"unidentified:{item.content_hash[:16]}"
    item.updated_at = None
    item.case = None
    item.reasons = [
        Reason(
            code=Code.STORE_REJECTED,
            field="/",
            message="the store refused a value of this record; the checks before it need to learn why",
        )
    ]
    item.outcome = QUARANTINED


@dataclass(frozen=True)
class _Page:
    """What every transaction of one page shares; `repeated` counts records the partner sent
    twice within the page, accounted to the page's first transaction."""

    run_id: str | None
    window_end: datetime | None
    started: datetime
    repeated: int
    hold_cursor: bool = False
    on_commit: Callable[[Connection, datetime | None], None] | None = None


@dataclass(frozen=True)
class PageResult:
    batch_id: str
    received: int
    duplicates: int
    accepted: int
    quarantined: int
    superseded: int
    warnings: list[dict[str, Any]]
    high_water: datetime | None


@dataclass
class RunResult:
    channel: str
    window: Window | None
    pages: int = 0
    received: int = 0
    duplicates: int = 0
    accepted: int = 0
    quarantined: int = 0
    superseded: int = 0
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def add(self, page: PageResult) -> None:
        self.pages += 1
        self.received += page.received
        self.duplicates += page.duplicates
        self.accepted += page.accepted
        self.quarantined += page.quarantined
        self.superseded += page.superseded
        self.warnings.extend(page.warnings)

    def summary(self) -> dict[str, Any]:
        """Counts only: safe for logs and XCom."""
        return {
            "channel": self.channel,
            "window": None
            if self.window is None
            else {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "pages": self.pages,
            "received": self.received,
            "duplicates": self.duplicates,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "superseded": self.superseded,
            "warnings": self.warnings,
        }


def _combined(first: PageResult, second: PageResult) -> PageResult:
    """One page's result from the transactions it was split into."""
    marks = [m for m in (first.high_water, second.high_water) if m is not None]
    return PageResult(
        batch_id=first.batch_id,
        received=first.received + second.received,
        duplicates=first.duplicates + second.duplicates,
        accepted=first.accepted + second.accepted,
        quarantined=first.quarantined + second.quarantined,
        superseded=first.superseded + second.superseded,
        warnings=first.warnings + second.warnings,
        high_water=max(marks, default=None),
    )


def content_hash(channel: str, body: bytes) -> str:
    return hashlib.sha256(channel.encode() + b"\x00" + body).hexdigest()


def canonical(raw: Any) -> bytes:
    """The payload as stored and hashed: JSON with sorted keys, so equal records hash equal."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def _unencodable_at(raw: Any) -> tuple[str, str]:
    """Where the first value canonical JSON cannot hold is (a JSON pointer), and what it is.

    Integers beyond 64 bits, strings with an unpaired surrogate and nesting deeper than the
    encoder goes are valid in a partner's JSON but not in the store's canonical form. Walked
    with a stack, never recursion.
    """
    stack: list[tuple[str, Any, int]] = [("", raw, 0)]
    while stack:
        path, value, depth = stack.pop()
        where = path or "/"
        if depth > MAX_DEPTH:
            return "/" + path.split("/")[1], f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            return where, "an integer beyond 64 bits"
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return where, "text with an unpaired surrogate"
        elif isinstance(value, Mapping):
            stack.extend((f"{path}/{key}", item, depth + 1) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}/{index}", item, depth + 1) for index, item in enumerate(value))
    return "/", "a value that is not JSON"


def landing_body(raw: Any) -> tuple[bytes, Reason | None]:
    """The bytes to land for a decoded record, and why it cannot be mapped, if it cannot.

    A record canonical JSON cannot hold is landed losslessly in the standard library's JSON
    (ASCII escapes keep every surrogate and integer) and quarantined with the offending field.
    """
    try:
        return canonical(raw), None
    except TypeError:
        pass
    try:
        body = json.dumps(raw, sort_keys=True, ensure_ascii=True, allow_nan=False).encode("ascii")
    except (TypeError, ValueError, RecursionError):
        body = f"<a {type(raw).__name__} that is not JSON>".encode()
    where, what = _unencodable_at(raw)
    return body, Reason(code=Code.UNENCODABLE_VALUE, field=where, message=f"{what} cannot be stored")


def decode_body(body: bytes) -> tuple[Any, Reason | None]:
    """A landed body read back for replay, as `landing_body` wrote it, or why it cannot be."""
    try:
        return json.loads(body, parse_constant=_no_constants), None
    except (ValueError, RecursionError):
        return None, Reason(code=Code.UNREADABLE_RECORD, field="/", message="the landed record is not JSON")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _chunks(values: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _among(conn: Connection, column: Any, values: Sequence[str]) -> Iterable[ColumnElement[bool]]:
    """Conditions that together select the rows whose `column` is one of `values`: on PostgreSQL
    one `= ANY(array)` with a single parameter, on SQLite `IN` lists of `IN_CHUNK` parameters
    (its limit on parameters per statement)."""
    if not values:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=ARRAY(String)))
        return
    for chunk in _chunks(values):
        yield column.in_(chunk)


def _as_row(case: Mapping[str, Any]) -> dict[str, Any]:
    """The unified case (JSON form) as `cases` columns, times parsed."""
    row = {name: case.get(name) for name in CASE_FIELDS}
    for name in TIME_FIELDS:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = datetime.fromisoformat(value)
    row["supervision"] = list(case.get("supervision") or [])
    return row


def _settled(events: list[outbox.NewEvent]) -> list[outbox.NewEvent]:
    """The page's events without the dispatches its own later versions withdrew.

    A page can hold several versions of one record; when a case is dispatched by its first and
    ended at its channel by a later one, its handler need not hear of it at all. What is left
    goes only to partners that hear that kind of event (the manifest's `[partner.outbox]`).
    """
    sent = {e.case_id for e in events if e.kind in ("dispatch", "transfer")}
    withdrawn = {e.case_id for e in events if e.kind == "cancel"} & sent
    kept = [
        e for e in events if e.case_id not in withdrawn or e.kind not in ("dispatch", "transfer", "cancel")
    ]
    return [e for e in kept if workflow.wanted(e.partner, e.kind)]


class Pipeline:
    """Moves pages of one channel into the store. Build one per channel and run."""

    def __init__(
        self,
        engine: Engine,
        mapper: Mapper,
        keyring: KeyRing,
        *,
        reference: Reference | None = None,
        quality: QualityContext | None = None,
        contract: CaseContract | None = None,
        rules: Rules | None = None,
        clock: Callable[[], datetime] = utcnow,
        future_tolerance: timedelta = FUTURE_TOLERANCE,
    ) -> None:
        self.engine = engine
        self.mapper = mapper
        self.channel = mapper.channel
        self.keyring = keyring
        self.reference = reference or load_reference()
        self.quality = quality or quality_context()
        self.contract = contract or case_contract()
        self.rules = rules or load_rules()
        self.clock = clock
        self.future_tolerance = future_tolerance
        self._keys_checked = False
        self.window = duplicates.Window()
        """The stored cases intake's duplicate detection keeps between this pipeline's pages."""
        self._rows_at_analyze: float | None = None
        self._landed_since_analyze = 0

    # -- pulling -------------------------------------------------------------------------------

    def cursor(self) -> datetime | None:
        with store_errors(), self.engine.connect() as conn:
            return conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == self.channel))

    def run(
        self,
        source: Source,
        *,
        until: datetime,
        lookback: timedelta,
        initial_start: datetime,
        run_id: str | None = None,
        on_page: Callable[[PageResult], None] | None = None,
    ) -> RunResult:
        """Pull everything updated since the cursor (minus `lookback`) up to `until`.

        Each page commits on its own, so a failure part-way loses nothing of what was read. The
        cursor stays at the start of the pass until the source has walked the whole window:
        a record that slid onto a page already read (while the pages after it were committed)
        has an update time far behind theirs, and a cursor advanced with them would leave it
        behind the next run's lookback for good. Only once every page is in does the cursor
        move to the newest update time read; a run that dies re-reads its window, and what it
        sees again is recognised.
        """
        position = self.cursor()
        start = (position - lookback) if position else initial_start
        if start >= until:
            return RunResult(channel=self.channel, window=None)
        window = Window(start=start, end=until)
        result = RunResult(channel=self.channel, window=window)
        high_water: datetime | None = None
        last_batch = ""
        for records in source.pages(window):
            page = self.ingest(records, run_id=run_id, window_end=until, hold_cursor=True)
            result.add(page)
            if page.high_water is not None:
                high_water = max(page.high_water, high_water or page.high_water)
                last_batch = page.batch_id
            if on_page:
                on_page(page)
        if high_water is not None:
            with store_errors(), self.engine.begin() as conn:
                self._advance_cursor(conn, high_water, last_batch, self.clock())
        return result

    # -- one page ------------------------------------------------------------------------------

    def ingest(
        self,
        records: Sequence[PageRecord],
        *,
        run_id: str | None = None,
        window_end: datetime | None = None,
        hold_cursor: bool = False,
        on_commit: Callable[[Connection, datetime | None], None] | None = None,
    ) -> PageResult:
        """Land, map, check and store one page; returns its counts.

        The cursor moves with the page unless `hold_cursor` (a pass of `run` moves it at its end).
        `on_commit(conn, high_water)` runs last inside each of the page's transactions, so that a
        caller keeping a position of its own (a backfill window) moves it with what it covers.

        If the store refuses a value (which the checks before it should have caught), the page
        is split in halves until the record it comes from is found; that record is quarantined
        as `store_rejected` and the rest of the page lands.
        """
        started = self.clock()
        items: dict[str, _Item] = {}
        for record in records:
            item = self._item(record)
            items.setdefault(item.content_hash, item)
        self.check_keys()
        page = _Page(
            run_id,
            window_end,
            started,
            repeated=len(records) - len(items),
            hold_cursor=hold_cursor,
            on_commit=on_commit,
        )
        return self._commit_split(list(items.values()), page)

    def _item(self, record: PageRecord) -> _Item:
        if isinstance(record, UnreadableRecord):
            return _Item(
                raw=None,
                body=record.body,
                content_hash=content_hash(self.channel, record.body),
                unreadable=Reason(code=record.code, field=record.field, message=record.message),
            )
        body, reason = landing_body(record)
        return _Item(raw=record, body=body, content_hash=content_hash(self.channel, body), unreadable=reason)

    def check_keys(self) -> None:
        """Refuse a key ring that is not the one the store was written with (`store.keys`)."""
        if self._keys_checked:
            return
        with store_errors(), self.engine.begin() as conn:
            check_keyring(conn, self.keyring, self.clock())
        self._keys_checked = True

    def _commit_split(self, items: list[_Item], page: _Page, *, rejected: bool = False) -> PageResult:
        try:
            with store_errors():
                return self._commit(items, page, rejected=rejected)
        except StoreRejected as error:
            if rejected or not items:
                raise
            if len(items) == 1:
                log.warning("%s: the store refused one record (%s); it is quarantined", self.channel, error)
                return self._commit_split(_fresh(items), page, rejected=True)
            log.warning(
                "%s: the store refused a value in a page of %d (%s); splitting it to find the record",
                self.channel,
                len(items),
                error,
            )
            half = len(items) // 2
            first = self._commit_split(_fresh(items[:half]), page)
            second = self._commit_split(_fresh(items[half:]), dataclasses.replace(page, repeated=0))
            return _combined(first, second)

    def _commit(self, items: list[_Item], page: _Page, *, rejected: bool) -> PageResult:
        """One transaction: everything about `items`, the batch record and the cursor."""
        batch_id = new_id()
        started, window_end = page.started, page.window_end
        with self.engine.begin() as conn:
            hold_active(conn, self.keyring)
            landed = self._landed(conn, [item.content_hash for item in items])
            fresh = [item for item in items if item.content_hash not in landed]
            for item in fresh:
                item.raw_id = new_id()
                if rejected:
                    _reject(item)
                else:
                    self._evaluate(item, received_at=started)
            warnings, validations = self._check_quality(fresh)
            cases, history, events, closed = self._resolve_versions(conn, fresh, batch_id, started)
            superseded_quarantine = self._supersede_quarantine(conn, fresh, started)
            high_water = max((i.updated_at for i in fresh if i.updated_at), default=None)
            if window_end is not None and high_water is not None:
                high_water = min(high_water, window_end)
            counts = {
                outcome: sum(1 for i in fresh if i.outcome == outcome)
                for outcome in (ACCEPTED, QUARANTINED, SUPERSEDED)
            }
            conn.execute(
                insert(Batch),
                [
                    {
                        "batch_id": batch_id,
                        "channel": self.channel,
                        "run_id": page.run_id,
                        "started_at": started,
                        "finished_at": self.clock(),
                        "received": len(items) + page.repeated,
                        "duplicates": len(items) + page.repeated - len(fresh),
                        "accepted": counts[ACCEPTED],
                        "quarantined": counts[QUARANTINED],
                        "superseded": counts[SUPERSEDED] + superseded_quarantine,
                        "warnings": warnings,
                    }
                ],
            )
            self._write(conn, fresh, cases, history, batch_id, started)
            self._record_validations(conn, validations, batch_id, started)
            outbox.write(conn, self.keyring, events, started)
            self._close_children(conn, closed, cases, batch_id, started)
            if high_water is not None and not page.hold_cursor:
                self._advance_cursor(conn, high_water, batch_id, started)
            if page.on_commit is not None:
                page.on_commit(conn, high_water)
        self._keep_statistics_fresh(len(fresh))
        return PageResult(
            batch_id=batch_id,
            received=len(items) + page.repeated,
            duplicates=len(items) + page.repeated - len(fresh),
            accepted=counts[ACCEPTED],
            quarantined=counts[QUARANTINED],
            superseded=counts[SUPERSEDED],
            warnings=warnings,
            high_water=high_water,
        )

    def _keep_statistics_fresh(self, landed: int) -> None:
        """Re-analyze the growing tables on PostgreSQL during a large load.

        A backfill grows the tables far faster than autovacuum re-analyzes them; with statistics
        from when they were nearly empty, the planner scans instead of using the indexes, and
        the per-page look-ups slow down as the store grows. Analyzing once the tables have grown
        by a fifth keeps every page's cost flat; a steady live feed rarely triggers it.
        """
        if self.engine.dialect.name != "postgresql" or not landed:
            return
        self._landed_since_analyze += landed
        with self.engine.begin() as conn:
            if self._rows_at_analyze is None:
                self._rows_at_analyze = float(
                    conn.exec_driver_sql(
                        "select reltuples from pg_class where relname = 'raw_records'"
                    ).scalar()
                    or 0
                )
            if self._landed_since_analyze < max(5_000, 0.2 * max(self._rows_at_analyze, 0)):
                return
            for table in ("raw_records", "cases", "case_history", "quarantine"):
                conn.exec_driver_sql(f"analyze {table}")
            self._rows_at_analyze = max(self._rows_at_analyze, 0) + self._landed_since_analyze
            self._landed_since_analyze = 0

    def _landed(self, conn: Connection, digests: list[str]) -> set[str]:
        found: set[str] = set()
        for among in _among(conn, RawRow.content_hash, digests):
            query = select(RawRow.content_hash).where(RawRow.channel == self.channel, among)
            found.update(conn.scalars(query))
        return found

    def _evaluate(self, item: _Item, *, received_at: datetime) -> None:
        """Normalize and check one record against the per-record contract (pure, no I/O).

        Whatever the record holds ends here as a case or as reasons. A mapper that raises
        anything but `InvalidRecord` has met a value it did not expect: the record is
        quarantined as `mapping_failed` (naming the exception's type, never its message, which
        may quote the value) and can be replayed once the mapper is fixed.
        """
        item.source_id = f"unidentified:{item.content_hash[:16]}"
        if item.unreadable is not None:
            item.reasons = [item.unreadable]
            return
        if not isinstance(item.raw, Mapping):
            item.reasons = [Reason(code=Code.NOT_AN_OBJECT, field="/", message="the record is not an object")]
            return
        try:
            self._map(item, received_at)
        except InvalidRecord as exc:
            item.case = None
            item.reasons = exc.reasons
        except Exception as exc:  # noqa: BLE001 - one record's surprise must cost only that record
            log.warning(
                "%s: the mapper raised %s on raw record %s; it is quarantined",
                self.channel,
                type(exc).__name__,
                item.raw_id,
            )
            item.case = None
            item.reasons = [
                Reason(
                    code=Code.MAPPING_FAILED,
                    field="/",
                    message=f"the {self.channel} mapper failed ({type(exc).__name__}); replay it once fixed",
                )
            ]

    def _map(self, item: _Item, received_at: datetime) -> None:
        key = self.mapper.key(item.raw)
        item.source_id = key.source_id
        if key.updated_at > received_at + self.future_tolerance:
            field = self.mapper.updated_field
            minutes = self.future_tolerance.total_seconds() / 60
            message = f"{field}: more than {minutes:g} minutes ahead of the hub's clock"
            raise InvalidRecord([Reason(code=Code.FUTURE_TIME, field=field, message=message)])
        item.updated_at = key.updated_at
        mapped = self.mapper.to_case(item.raw, self.reference, received_at=received_at)
        enriched = enrich(mapped, self.reference, self.rules)
        problems = self.contract.problems(enriched.case)
        if problems:
            raise InvalidRecord(problems)
        item.case, item.events, item.warnings = enriched.case, enriched.events, enriched.warnings

    def _check_quality(self, items: Sequence[_Item]) -> tuple[list[dict[str, Any]], list[Validation]]:
        """Run the channel's raw suite and the case suite on a page; rows breaking a critical
        rule leave for quarantine. The batch's warnings, and every validation for the store."""
        validations: list[Validation] = []
        raw_suite = f"raw_{self.channel}"
        readable = [i for i in items if i.unreadable is None and isinstance(i.raw, Mapping)]
        if readable and raw_suite in self.quality.specs:
            spec = self.quality.spec(raw_suite)
            checked = self.quality.validate(raw_suite, raw_frame([i.raw for i in readable], spec))
            for position, reasons in checked.failures().items():
                readable[position].case = None
                readable[position].reasons = [*reasons, *readable[position].reasons]
            validations.append(checked)
        candidates = [i for i in items if i.case is not None]
        # A rule the mapper already enforces (it cannot read the value otherwise) refuses the
        # record under the rule's id before the suite sees it; the suite's result counts it.
        refused = Counter(code for i in items if i.case is None for code in {r.code for r in i.reasons})
        if candidates or refused:
            checked = self.quality.validate(
                "case",
                case_frame([i.case for i in candidates if i.case is not None]),
                {"future_tolerance_minutes": self.future_tolerance.total_seconds() / 60},
            )
            for position, reasons in checked.failures().items():
                candidates[position].case = None
                candidates[position].reasons = reasons
            checked.count_refused(refused)
            validations.append(checked)
        warnings = [w for v in validations for w in v.warnings()]
        return warnings + _record_warnings(candidates), validations

    def _record_validations(
        self, conn: Connection, validations: Sequence[Validation], batch_id: str, now: datetime
    ) -> None:
        rows = [row for v in validations for row in v.rows_for_store(self.channel, at=now, batch_id=batch_id)]
        if rows:
            conn.execute(insert(QualityResult), rows)

    def _seal_case(self, case: Mapping[str, Any], row: dict[str, Any]) -> None:
        person = case.get("reporter") or {}
        case_id = str(case["case_id"])
        ring = self.keyring
        row["pii_key_id"] = ring.active
        for name in PERSONAL_FIELDS:
            column = f"reporter_{name}"
            row[column] = ring.seal_text(person.get(name), associated_data("cases", column, case_id))
        row["reporter_phone_index"] = ring.blind_index(person.get("phone"))
        row["reporter_fingerprint"] = reporter_fingerprint(ring, *(person.get(n) for n in PERSONAL_FIELDS))
        row["reporter_index_key_id"] = ring.index_active

    def _older_indexes(self, case: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, str]:
        """The reporter's phone under each older index key of the ring → under the active one:
        while a re-index is under way, duplicate detection matches a stored case still indexed
        under an older key to the same reporter (`casehub.dedup.store.at_intake`)."""
        phone = (case.get("reporter") or {}).get("phone")
        if phone is None or len(self.keyring.index_keys) == 1:
            return {}
        active, *older = self.keyring.blind_indexes(phone)
        assert active == row["reporter_phone_index"]
        return dict.fromkeys(older, active)

    def _indexed_alike(self, state: dict[str, Any] | None, case: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored version with its reporter's fingerprint under the ring's active index key,
        when a re-index (`casehub keys rotate --blind-index`) has not reached it yet and it is
        the same reporter: a version is not a change of reporter for being indexed anew."""
        held = None if state is None else state["reporter_index_key_id"]
        if state is None or held == self.keyring.index_active:
            return state
        person = case.get("reporter") or {}
        name, phone, id_number = (person.get(field) for field in PERSONAL_FIELDS)
        if reporter_fingerprint(self.keyring, name, phone, id_number, held) != state["reporter_fingerprint"]:
            return state
        return {**state, "reporter_fingerprint": reporter_fingerprint(self.keyring, name, phone, id_number)}

    def _resolve_versions(
        self, conn: Connection, items: Sequence[_Item], batch_id: str, now: datetime
    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[outbox.NewEvent], list[dict[str, Any]]]:
        """Order the page's accepted versions against the stored cases; newest wins. Returns the
        cases written, their history, the events, and the cases the page ended done at their
        channel (whose open duplicates are then closed with them).

        Each accepted version then meets the workflow (`casehub.workflow.on_ingest`): what the
        hub owns of a dispatched case stays, a case waiting for a handler is dispatched, and the
        events that causes are returned to be written with the page. Each new case is checked
        for duplicates among the recent cases around it (`casehub.dedup.store.at_intake`); a
        later version keeps what was decided.
        """
        valid = [i for i in items if i.case is not None]
        ids = sorted({str(i.case["case_id"]) for i in valid})  # type: ignore[index]
        current: dict[str, dict[str, Any]] = {}
        columns = [
            Case.__table__.c[name]
            for name in (*CASE_FIELDS, "version", "reporter_fingerprint", "reporter_index_key_id")
        ]
        for among in _among(conn, Case.case_id, ids):
            for stored in conn.execute(select(*columns).where(among)).mappings():
                current[stored["case_id"]] = dict(stored)
        known = set(current)
        changed: dict[str, dict[str, Any]] = {}
        history: list[dict[str, Any]] = []
        events: list[outbox.NewEvent] = []
        older_indexes: dict[str, str] = {}
        closed_parents: dict[str, dict[str, Any]] = {}
        for item in sorted(valid, key=lambda i: (i.updated_at or now, i.content_hash)):
            case = item.case
            assert case is not None
            case_id = str(case["case_id"])
            state = current.get(case_id)
            if state is not None and item.updated_at is not None and item.updated_at <= state["updated_at"]:
                item.outcome = SUPERSEDED
                continue
            row = _as_row(case)
            self._seal_case(case, row)
            if state is None:
                older_indexes.update(self._older_indexes(case, row))
            row["version"] = (state["version"] if state else 0) + 1
            row["raw_id"] = item.raw_id
            if state is not None:
                duplicates.carry(state, row)
            emitted, decided = workflow.on_ingest(state, row, self.reference, self.rules)
            events += emitted
            if workflow.closes_children(state, row):
                closed_parents[case_id] = row
            history.append(
                {
                    "case_id": case_id,
                    "version": row["version"],
                    "raw_id": item.raw_id,
                    "batch_id": batch_id,
                    "source_updated_at": row["updated_at"],
                    "recorded_at": now,
                    "changes": diff(self._indexed_alike(state, case), row),
                    "events": [*item.events, *decided],
                }
            )
            current[case_id] = row
            changed[case_id] = row
            item.outcome = ACCEPTED
        suspected = duplicates.at_intake(
            conn, [row for key, row in changed.items() if key not in known], older_indexes, self.window
        )
        for entry in history:
            if entry["case_id"] in suspected and entry["changes"].get("created"):
                entry["events"].append(suspected.pop(entry["case_id"]))
        return changed, history, _settled(events), list(closed_parents.values())

    def _close_children(
        self,
        conn: Connection,
        parents: Sequence[Mapping[str, Any]],
        cases: Mapping[str, Any],
        batch_id: str,
        now: datetime,
    ) -> None:
        """The open duplicates of the cases a page ended done at their channel, completed with
        their results (`casehub.workflow.close_children`); once the page's batch is written.

        Most parents have no duplicate: one set-wise look-up finds those that have open ones,
        and only they are closed one by one."""
        ids = sorted({str(parent["case_id"]) for parent in parents})
        with_children: set[str] = set()
        for among in _among(conn, Case.duplicate_of, ids):
            open_children = select(Case.duplicate_of).where(among, Case.status.not_in(sorted(workflow.ENDED)))
            with_children.update(conn.scalars(open_children.distinct()))
        for parent in parents:
            if parent["case_id"] not in with_children:
                continue
            workflow.close_children(
                conn,
                self.keyring,
                self.reference,
                self.rules,
                parent,
                by=workflow.Actor(self.channel),
                at=parent.get("closed_at") or parent["updated_at"],
                now=now,
                batch_id=batch_id,
                skip=cases.keys(),
            )

    def _write(
        self,
        conn: Connection,
        items: Sequence[_Item],
        cases: Mapping[str, dict[str, Any]],
        history: list[dict[str, Any]],
        batch_id: str,
        now: datetime,
    ) -> None:
        if not items:
            return
        ring = self.keyring
        insert_rows(
            conn,
            RawRow.__table__,  # type: ignore[arg-type]
            [
                {
                    "raw_id": item.raw_id,
                    "batch_id": batch_id,
                    "channel": self.channel,
                    "source_id": item.source_id,
                    "source_updated_at": item.updated_at,
                    "content_hash": item.content_hash,
                    "key_id": ring.active,
                    "payload": ring.seal(item.body, associated_data("raw_records", "payload", item.raw_id)),
                    "received_at": now,
                    "outcome": item.outcome,
                    "case_id": None if item.case is None else item.case["case_id"],
                }
                for item in items
            ],
        )
        quarantined = [i for i in items if i.outcome == QUARANTINED]
        if quarantined:
            insert_rows(
                conn,
                Quarantine.__table__,  # type: ignore[arg-type]
                [
                    {
                        "raw_id": item.raw_id,
                        "batch_id": batch_id,
                        "channel": self.channel,
                        "source_id": item.source_id,
                        "source_updated_at": item.updated_at,
                        "reasons": [r.as_dict() for r in item.reasons],
                        "state": "open",
                        "quarantined_at": now,
                        "resolved_at": None,
                        "attempts": 1,
                    }
                    for item in quarantined
                ],
            )
        if cases:
            self._upsert_cases(conn, list(cases.values()))
        if history:
            insert_rows(conn, CaseHistory.__table__, history)  # type: ignore[arg-type]

    def replay(self, quarantine_ids: Sequence[int] | None = None) -> dict[str, int]:
        """Run open quarantined records of this channel through the pipeline again.

        Used after the cause is fixed (a crosswalk gains a code, a partner corrects its data
        model). The raw payloads are the ones kept at landing; nothing is fetched again. A
        record that now passes becomes a case (`resolved`), one overtaken by a newer version is
        `superseded`, one that still fails stays open with its new reasons.
        """
        counts = {"replayed": 0, "resolved": 0, "superseded": 0, "still_quarantined": 0}
        self.check_keys()
        with store_errors():
            self._replay(quarantine_ids, counts)
        return counts

    def _replay(self, quarantine_ids: Sequence[int] | None, counts: dict[str, int]) -> None:
        with self.engine.connect() as conn:
            query = select(Quarantine.id).where(
                Quarantine.state == "open", Quarantine.channel == self.channel
            )
            if quarantine_ids is not None:
                query = query.where(Quarantine.id.in_(list(quarantine_ids)))
            ids = list(conn.scalars(query.order_by(Quarantine.id)))
        for chunk in _chunks(ids):
            started = self.clock()
            batch_id = new_id()
            with self.engine.begin() as conn:
                hold_active(conn, self.keyring)
                rows = conn.execute(
                    select(
                        Quarantine.id,
                        Quarantine.history,
                        RawRow.raw_id,
                        RawRow.key_id,
                        RawRow.payload,
                        RawRow.content_hash,
                    )
                    .join(RawRow, RawRow.raw_id == Quarantine.raw_id)
                    .where(Quarantine.id.in_(chunk), Quarantine.state == "open")
                ).all()
                items: list[_Item] = []
                by_raw: dict[str, int] = {}
                past: dict[int, list[dict[str, Any]]] = {}
                for qid, history, raw_id, key_id, payload, digest in rows:
                    past[qid] = list(history or [])
                    body = self.keyring.open(
                        key_id, payload, associated_data("raw_records", "payload", raw_id)
                    )
                    raw, unreadable = decode_body(body)
                    if unreadable is None:
                        unreadable = landing_body(raw)[1]
                    item = _Item(
                        raw=raw, body=body, content_hash=digest, raw_id=raw_id, unreadable=unreadable
                    )
                    self._evaluate(item, received_at=started)
                    items.append(item)
                    by_raw[raw_id] = qid
                warnings, validations = self._check_quality(items)
                cases, history, events, closed = self._resolve_versions(conn, items, batch_id, started)
                superseded_quarantine = self._supersede_quarantine(conn, items, started)
                outcomes = Counter(item.outcome for item in items)
                conn.execute(
                    insert(Batch),
                    [
                        {
                            "batch_id": batch_id,
                            "channel": self.channel,
                            "run_id": REPLAY_RUN,
                            "started_at": started,
                            "finished_at": self.clock(),
                            "received": len(items),
                            "duplicates": 0,
                            "accepted": outcomes[ACCEPTED],
                            "quarantined": outcomes[QUARANTINED],
                            "superseded": outcomes[SUPERSEDED] + superseded_quarantine,
                            "warnings": warnings,
                        }
                    ],
                )
                if cases:
                    self._upsert_cases(conn, list(cases.values()))
                if history:
                    insert_rows(conn, CaseHistory.__table__, history)  # type: ignore[arg-type]
                self._record_validations(conn, validations, batch_id, started)
                outbox.write(conn, self.keyring, events, started)
                self._close_children(conn, closed, cases, batch_id, started)
                self._record_replay(conn, items, by_raw, past, started, counts)
                counts["replayed"] += len(items)

    def _record_replay(
        self,
        conn: Connection,
        items: Sequence[_Item],
        entry_of: Mapping[str, int],
        past: Mapping[int, list[dict[str, Any]]],
        now: datetime,
        counts: dict[str, int],
    ) -> None:
        """Write a replayed chunk's outcomes set-wise, and append each to its entry's history."""

        def history(item: _Item, outcome: str) -> list[dict[str, Any]]:
            step = {
                "at": now.isoformat(),
                "action": "replay",
                "outcome": outcome,
                "reasons": sorted({r.code for r in item.reasons}),
            }
            return [*past.get(entry_of[item.raw_id], []), step]

        failing = [
            {
                "entry": entry_of[i.raw_id],
                "new_reasons": [r.as_dict() for r in i.reasons],
                "new_history": history(i, "still_quarantined"),
            }
            for i in items
            if i.outcome == QUARANTINED
        ]
        if failing:
            conn.execute(
                update(Quarantine)
                .where(Quarantine.id == bindparam("entry"))
                .values(
                    reasons=bindparam("new_reasons"),
                    history=bindparam("new_history"),
                    attempts=Quarantine.attempts + 1,
                ),
                failing,
            )
        for outcome, state in ((ACCEPTED, "resolved"), (SUPERSEDED, SUPERSEDED)):
            done = [i for i in items if i.outcome == outcome]
            if not done:
                continue
            conn.execute(
                update(Quarantine)
                .where(Quarantine.id == bindparam("entry"))
                .values(
                    state=state,
                    resolved_at=now,
                    history=bindparam("new_history"),
                    attempts=Quarantine.attempts + 1,
                ),
                [{"entry": entry_of[i.raw_id], "new_history": history(i, state)} for i in done],
            )
            conn.execute(
                update(RawRow)
                .where(RawRow.raw_id == bindparam("raw"))
                .values(outcome=outcome, case_id=bindparam("case")),
                [{"raw": i.raw_id, "case": None if i.case is None else i.case["case_id"]} for i in done],
            )
            counts["resolved" if outcome == ACCEPTED else "superseded"] += len(done)
        counts["still_quarantined"] += len(failing)

    def _upsert_cases(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert new cases, update changed ones; the database re-checks that the update is newer."""
        upsert_newer(conn, Case.__table__, rows, key="case_id", order="updated_at")  # type: ignore[arg-type]

    def _supersede_quarantine(self, conn: Connection, items: Sequence[_Item], now: datetime) -> int:
        """Open quarantine entries older than a version accepted now no longer need a person."""
        newest: dict[str, datetime] = {}
        for item in items:
            if item.outcome == ACCEPTED and item.updated_at is not None:
                newest[item.source_id] = max(item.updated_at, newest.get(item.source_id, item.updated_at))
        if not newest:
            return 0
        stale: list[tuple[int, str]] = []
        fresh_raw = {i.raw_id for i in items}
        for among in _among(conn, Quarantine.source_id, sorted(newest)):
            rows = conn.execute(
                select(
                    Quarantine.id, Quarantine.raw_id, Quarantine.source_id, Quarantine.source_updated_at
                ).where(Quarantine.state == "open", Quarantine.channel == self.channel, among)
            )
            for qid, raw_id, source_id, updated_at in rows:
                if raw_id in fresh_raw:
                    continue
                if updated_at is None or updated_at < newest[source_id]:
                    stale.append((qid, raw_id))
        for chunk in _chunks(stale):
            conn.execute(
                update(Quarantine)
                .where(Quarantine.id.in_([q for q, _ in chunk]))
                .values(state=SUPERSEDED, resolved_at=now)
            )
            conn.execute(
                update(RawRow).where(RawRow.raw_id.in_([r for _, r in chunk])).values(outcome=SUPERSEDED)
            )
        return len(stale)

    def _advance_cursor(self, conn: Connection, position: datetime, batch_id: str, now: datetime) -> None:
        current = conn.scalar(
            select(SyncCursor.position).where(SyncCursor.channel == self.channel).with_for_update()
        )
        if current is None:
            conn.execute(
                insert(SyncCursor),
                [{"channel": self.channel, "position": position, "updated_at": now, "batch_id": batch_id}],
            )
        elif position > current:
            conn.execute(
                update(SyncCursor)
                .where(SyncCursor.channel == self.channel)
                .values(position=position, updated_at=now, batch_id=batch_id)
            )

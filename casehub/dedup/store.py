"""Duplicate detection on the hub's cases: at intake, in the batch re-clustering, and splits.

At intake (`at_intake`, called by the pipeline inside the page's transaction) each new case is
checked against the stored cases of its district within the window that share a block with it
and against the page's earlier new cases. A pipeline keeps its districts' windows between its
pages (`Window`): each page lists what changed in them and reads only that; a small page reads
the cases sharing a block with it (one set-wise query per district, `ix_cases_dedup_block`).
The decision (`casehub.dedup.cluster.decide`) is written into the case row — `cluster_id`,
`duplicate_of`, `duplicate_score`, `duplicate_signals` — and, for a probable duplicate, as a
`duplicate_suspected` event of its first history entry. A later version of a
case keeps what was decided (`carry`): only re-clustering or a split changes it.

Re-clustering (`recluster`) walks the cases in report-time order through the same decision
(`Clusterer`) with the splits handlers made, and writes only what changed: a new version of each
such case with its history, in chunks. A case joins an earlier cluster only, so after it every
cluster's parent is its earliest case, even where intake saw a late-arriving report first.

A split (`split`) moves cases out of their cluster into one of their own and remembers every
pair it separated (`cluster_splits`).
"""

from __future__ import annotations

import bisect
import logging
import math
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, bindparam, func, insert, or_, select, update
from uuid6 import uuid7

from casehub.changes import diff
from casehub.dedup.cluster import (
    CELL_DEGREES,
    PER_BLOCK,
    WINDOW,
    Clusterer,
    Decision,
    decide,
    filed_under,
    looked_up,
)
from casehub.dedup.report import EMPTY, Report, place_name_of, report, with_text
from casehub.errors import ConfigurationError
from casehub.store.bulk import insert_rows
from casehub.store.db import store_errors
from casehub.store.models import Batch, Case, CaseHistory, ClusterSplit

log = logging.getLogger(__name__)

FIELDS = ("cluster_id", "duplicate_of", "duplicate_score", "duplicate_signals")
"""The case's columns duplicate detection owns."""
RUN = "dedup"
"""The run id of the batches re-clustering and splits record."""
CHUNK = 2_000
_READ = (
    Case.case_id,
    Case.channel,
    Case.title,
    Case.content,
    Case.category,
    Case.district_code,
    Case.community_code,
    Case.grid_code,
    Case.address,
    Case.lng,
    Case.lat,
    Case.reported_at,
    Case.reporter_phone_index,
    Case.cluster_id,
    Case.duplicate_of,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_report(row: Mapping[str, Any]) -> Report:
    """A case row (or a row being written) as a report."""
    return report(
        str(row["case_id"]),
        channel=row.get("channel"),
        title=row.get("title"),
        content=row.get("content"),
        category=row.get("category"),
        district_code=row.get("district_code"),
        community_code=row.get("community_code"),
        grid_code=row.get("grid_code"),
        address=row.get("address"),
        lng=row.get("lng"),
        lat=row.get("lat"),
        reported_at=row.get("reported_at"),
        phone_index=row.get("reporter_phone_index"),
        place_name=place_name_of(row.get("community_code"), row.get("grid_code")),
    )


_TOKEN = (Case.case_id, Case.version, Case.reporter_index_key_id)
"""What says a stored case is as it was read: every write of a case makes a new version, and a
re-index under another blind-index key (`casehub keys rotate --blind-index`) changes its key id."""


def _code(value: str | None) -> str | None:
    """A code of the reference (channel, category, region, grid) as one shared string: a window
    holds tens of thousands of cases, and the driver makes each row's codes afresh."""
    return sys.intern(value) if value else None


def _placed(row: Mapping[str, Any], older: Mapping[str, str]) -> Report:
    """A stored candidate as far as blocking needs it — place, category, reporter (under the
    active index key: `older`), time — without its text."""
    phone = row.get("reporter_phone_index") or None
    lng, lat = row.get("lng"), row.get("lat")
    if lng is None or lat is None or not (math.isfinite(lng) and math.isfinite(lat)):
        lng = lat = None
    return Report(
        case_id=str(row["case_id"]),
        channel=_code(row.get("channel")),
        words=EMPTY,
        address=EMPTY,
        towers=EMPTY,
        doors=EMPTY,
        category=_code(row.get("category")),
        district_code=_code(row.get("district_code")),
        community_code=_code(row.get("community_code")),
        grid_code=_code(row.get("grid_code")),
        lng=lng,
        lat=lat,
        reported_at=row.get("reported_at"),
        phone_index=older.get(phone, phone) if phone else None,
    )


def carry(previous: Mapping[str, Any], row: dict[str, Any]) -> None:
    """A later version of a stored case keeps what duplicate detection decided for it."""
    for name in FIELDS:
        row[name] = previous.get(name)


def apply(row: dict[str, Any], decision: Decision) -> None:
    row["cluster_id"] = decision.cluster_id
    row["duplicate_of"] = decision.duplicate_of
    row["duplicate_score"] = decision.score
    row["duplicate_signals"] = list(decision.signals) if decision.duplicate_of else None


def _shared(reports: Sequence[Report], older: Collection[str]) -> list[ColumnElement[bool]]:
    """What a stored case must share with one of `reports` to be a candidate of one: a block,
    or a reporter still indexed under an older key (`older`); nothing for a report filed under
    its whole district."""
    if any(key[0] == "district" for r in reports for key in filed_under(r)):
        return []
    communities = sorted({r.community_code for r in reports if r.community_code})
    categories = sorted({r.category for r in reports if r.category})
    phones = sorted({r.phone_index for r in reports if r.phone_index} | set(older))
    points = [(r.lng, r.lat) for r in reports if r.lng is not None and r.lat is not None]
    shared: list[ColumnElement[bool]] = []
    if communities:
        shared.append(Case.community_code.in_(communities))
    if categories:
        shared.append(Case.category.in_(categories))
    if phones:
        shared.append(Case.reporter_phone_index.in_(phones))
    if points:
        margin = 1.5 * CELL_DEGREES
        lngs, lats = [p[0] for p in points], [p[1] for p in points]
        shared.append(
            and_(
                Case.lng.between(min(lngs) - margin, max(lngs) + margin),
                Case.lat.between(min(lats) - margin, max(lats) + margin),
            )
        )
    return shared


def _candidates(
    conn: Connection, district: str, reports: Sequence[Report], older: Collection[str] = ()
) -> list[Mapping[str, Any]]:
    """The stored cases of `district` within the window of the reports that share a block with
    one of them (or a reporter still indexed under an older key: `older`), in time order: one
    query, on the block index."""
    span = _span(reports)
    if span is None:
        return []
    query = select(*_READ, *_TOKEN[1:]).where(Case.district_code == district, Case.reported_at.between(*span))
    shared = _shared(reports, older)
    if shared:
        query = query.where(or_(*shared))
    return _rows(conn, query)


def _span(reports: Sequence[Report]) -> tuple[datetime, datetime] | None:
    """From the window before the earliest of `reports` to the window after the latest."""
    times = [r.reported_at for r in reports if r.reported_at is not None]
    return (min(times) - WINDOW, max(times) + WINDOW) if times else None


def _rows(conn: Connection, query: Any) -> list[Mapping[str, Any]]:
    result = conn.execute(query.order_by(Case.reported_at, Case.case_id))
    names = tuple(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_WINDOW = WINDOW // _MICROSECOND


def _micros(moment: datetime | None) -> int | None:
    """An aware time as whole microseconds since the epoch: exact, and compared as an integer."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


class _Block:
    """The reports filed under one block, in time order and of one time by case id, with their
    times in microseconds: a report's candidates in a block are found by bisection, not by a
    pass over every report of the block (a district's category block holds thousands once the
    window is full), and the order does not depend on when a report was filed."""

    __slots__ = ("moments", "reports")

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.moments: list[int] = []

    def add(self, report: Report, moment: int) -> None:
        """File `report` at its time."""
        moments, reports = self.moments, self.reports
        if (
            not moments
            or moments[-1] < moment
            or (moments[-1] == moment and reports[-1].case_id < report.case_id)
        ):
            moments.append(moment)
            reports.append(report)
            return
        index = bisect.bisect_right(moments, moment)
        while index and moments[index - 1] == moment and reports[index - 1].case_id > report.case_id:
            index -= 1
        moments.insert(index, moment)
        reports.insert(index, report)

    def remove(self, report: Report, moment: int) -> None:
        """Take `report` (filed at `moment`) out of the block."""
        index = bisect.bisect_left(self.moments, moment)
        while self.reports[index] is not report:
            index += 1
        del self.moments[index], self.reports[index]

    def keep(self, low: int, high: int) -> None:
        """Keep only the reports filed from `low` to `high`."""
        moments = self.moments
        end = bisect.bisect_right(moments, high)
        if end < len(moments):
            del moments[end:], self.reports[end:]
        start = bisect.bisect_left(moments, low)
        if start:
            del moments[:start], self.reports[:start]

    def nearest(self, now: int) -> list[Report]:
        """The block's reports within the window of `now`, in time order; of more than
        `PER_BLOCK`, the `PER_BLOCK` nearest in time, nearest first (of two as near, the
        earlier; of one time, by case id)."""
        moments, reports = self.moments, self.reports
        low = bisect.bisect_left(moments, now - _WINDOW)
        high = bisect.bisect_right(moments, now + _WINDOW)
        if high - low <= PER_BLOCK:
            return reports[low:high]
        before = bisect.bisect_right(moments, now) - 1
        after = before + 1
        near: list[Report] = []
        while len(near) < PER_BLOCK:
            if after >= high or (before >= low and now - moments[before] <= moments[after] - now):
                first = bisect.bisect_left(moments, moments[before], low, before + 1)
                near += reports[first : before + 1]  # one time's reports, by case id
                before = first - 1
            else:
                near.append(reports[after])
                after += 1
        return near[:PER_BLOCK]


@dataclass(slots=True)
class _Filed:
    """A case filed under its blocks: where (`placed`, `moment`), its cluster, what says the
    stored case is unchanged (`token`: its version and index key), and its text once compared
    (`prepared`), prepared from `placed` and its `text` (title, content, address) when first
    needed. Only the text is kept of the row read, not the row: a window holds tens of thousands."""

    placed: Report
    moment: int
    cluster: str
    token: tuple[object, ...]
    text: tuple[str | None, str | None, str | None] | None
    prepared: Report | None


class _District:
    """One district's cases within a window, each filed under its blocks."""

    __slots__ = ("blocks", "filed")

    def __init__(self) -> None:
        self.filed: dict[str, _Filed] = {}
        self.blocks: dict[tuple[object, ...], _Block] = {}

    def file(self, entry: _Filed) -> None:
        old = self.filed.get(entry.placed.case_id)
        if old is not None:
            self.drop(old)
        self.filed[entry.placed.case_id] = entry
        blocks = self.blocks
        for key in filed_under(entry.placed):
            block = blocks.get(key)
            if block is None:
                block = blocks[key] = _Block()
            block.add(entry.placed, entry.moment)

    def drop(self, entry: _Filed) -> None:
        del self.filed[entry.placed.case_id]
        for key in filed_under(entry.placed):
            block = self.blocks[key]
            block.remove(entry.placed, entry.moment)
            if not block.reports:
                del self.blocks[key]

    def stored(self, row: Mapping[str, Any], older: Mapping[str, str]) -> None:
        """File a stored case's row."""
        placed = _placed(row, older)
        moment = _micros(placed.reported_at)
        assert moment is not None  # the window's query asks for a time
        token = (row["version"], row["reporter_index_key_id"])
        text = (row.get("title"), row.get("content"), row.get("address"))
        self.file(_Filed(placed, moment, row["cluster_id"] or placed.case_id, token, text, None))

    def keep(self, low: int, high: int) -> None:
        """Forget the cases reported before `low` or after `high`."""
        self.filed = {k: e for k, e in self.filed.items() if low <= e.moment <= high}
        for key in list(self.blocks):
            block = self.blocks[key]
            block.keep(low, high)
            if not block.reports:
                del self.blocks[key]

    def cluster(self, case_id: str) -> str:
        return self.filed[case_id].cluster

    def compared(self, other: Report) -> Report:
        """A filed case with its text: a stored case's is prepared when it is first compared
        (a third or more never are) and kept, since most are compared with several new cases."""
        entry = self.filed[other.case_id]
        if entry.prepared is None:
            assert entry.text is not None
            entry.prepared = with_text(entry.placed, *entry.text)
            entry.text = None
        return entry.prepared


class Window:
    """The stored cases a run's pages are checked against at intake, per district, filed under
    their blocks and kept from one page to the next (`Pipeline` keeps one).

    Consecutive pages of a backfill or a busy channel share most of their window — a page of
    10 000 hotline cases spans a day, its window six more — and reading and filing the window's
    stored cases again for every page was most of what intake cost once the window was full.
    Each page, the stored cases of the district within its window are listed by id, version and
    index key: a case that changed or appeared since is read again, one that is gone is
    dropped, the rest stay filed as they were; cases outside the page's window are forgotten,
    so the memory held is one window's cases. A page whose transaction rolls back leaves its
    new cases filed only until the next listing finds them missing.

    A district with fewer than `WARM` new cases in a page is not worth its whole window: it
    reads only the stored cases sharing a block with them, and keeps nothing. Nor is a district
    whose new cases span more than `SPAN`: a page of a quiet channel (5 000 urban management
    cases span three weeks) would keep weeks of every channel's cases, of which the next page
    shares only the margins; its window is forgotten and it reads as a cold district does.
    """

    WARM = 200
    """New cases of a district in a page from which its whole window is kept (a channel's
    scheduled page of 200 spread over the districts stays below it)."""
    SPAN = WINDOW
    """The longest time a district's new cases in a page may span for its window to be kept:
    the next page then shares at least two thirds of it, and what is held is at most three
    windows' cases (nine days of the district's cases of every channel)."""

    def __init__(self) -> None:
        self._districts: dict[str, _District] = {}

    def __len__(self) -> int:
        return sum(len(d.filed) for d in self._districts.values())

    def district(
        self, conn: Connection, code: str, reports: Sequence[Report], older: Mapping[str, str]
    ) -> _District:
        """District `code`'s stored cases within the window of its new `reports`, filed."""
        span = _span(reports)
        wide = span is not None and span[1] - span[0] > self.SPAN + 2 * WINDOW  # a window each side
        if wide:
            self._districts.pop(code, None)  # what it held lies mostly before this page's window
        if older or span is None or wide or len(reports) < self.WARM:
            found = _District()
            if span is not None:
                for row in _candidates(conn, code, reports, older.keys()):
                    found.stored(row, older)
            return found
        kept = self._districts.setdefault(code, _District())
        low, high = _micros(span[0]), _micros(span[1])
        assert low is not None and high is not None
        kept.keep(low, high)
        in_span = and_(Case.district_code == code, Case.reported_at.between(*span))
        if not kept.filed:
            for row in _rows(conn, select(*_READ, *_TOKEN[1:]).where(in_span)):
                kept.stored(row, {})
            return kept
        listed = {
            str(case_id): (version, key)
            for case_id, version, key in conn.execute(select(*_TOKEN).where(in_span))
        }
        for entry in [e for case_id, e in kept.filed.items() if listed.get(case_id) != e.token]:
            kept.drop(entry)
        missing = [case_id for case_id in listed if case_id not in kept.filed]
        for start in range(0, len(missing), CHUNK):
            chosen = Case.case_id.in_(missing[start : start + CHUNK])
            for row in _rows(conn, select(*_READ, *_TOKEN[1:]).where(chosen)):
                kept.stored(row, {})
        return kept


def at_intake(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    older_indexes: Mapping[str, str] | None = None,
    window: Window | None = None,
) -> dict[str, dict[str, Any]]:
    """Decide each new case's cluster (module docstring), writing it into the rows; returns the
    history event of each probable duplicate, by case id.

    `older_indexes` maps the new cases' reporters' phones under the ring's older index keys to
    the same phones under the active one: a stored case a re-index has not reached yet is
    compared as if it were indexed under the active key (`casehub keys rotate --blind-index`).
    `window` keeps the stored cases between the pages of a run (`Window`); without one, nothing
    is kept from this call to the next."""
    older = older_indexes or {}
    if window is None:
        window = Window()
    reports = sorted(
        (as_report(row) for row in rows),
        key=lambda r: (r.reported_at is None, r.reported_at or datetime.min.replace(tzinfo=UTC), r.case_id),
    )
    by_id = {str(row["case_id"]): row for row in rows}
    by_district: dict[str | None, list[Report]] = {}
    for r in reports:
        by_district.setdefault(r.district_code, []).append(r)
    events: dict[str, dict[str, Any]] = {}
    # A district at a time: no block spans two, and a cold district's candidates are let go
    # before the next one's are read.
    for code, theirs in sorted(by_district.items(), key=lambda item: item[0] or ""):
        district = _District() if code is None else window.district(conn, code, theirs, older)
        for entry in [district.filed[case_id] for case_id in by_id if case_id in district.filed]:
            district.drop(entry)  # the page's own cases are decided again, not compared with
        for new in theirs:
            _decide(district, new, by_id[new.case_id], events)
    return events


def _decide(district: _District, new: Report, row: dict[str, Any], events: dict[str, dict[str, Any]]) -> None:
    """Decide `new` against its district's filed cases, write the decision into its `row` and
    file it for the page's later cases; a probable duplicate's history event into `events`."""
    decision = Decision.alone(new.case_id)
    moment = _micros(new.reported_at)
    if moment is not None:
        seen: set[str] = set()
        nearby: list[Report] = []
        blocks = district.blocks
        for key in looked_up(new):
            block = blocks.get(key)
            if block is None:
                continue
            for other in block.nearest(moment):
                if other.case_id not in seen:
                    seen.add(other.case_id)
                    nearby.append(other)
        decision = decide(new, [district.compared(other) for other in nearby], district.cluster)
    apply(row, decision)
    if moment is not None:
        # As it will be stored: the next page's listing finds it unchanged if this one commits.
        token = (row.get("version"), row.get("reporter_index_key_id"))
        district.file(_Filed(new, moment, decision.cluster_id, token, None, new))
    if decision.duplicate_of is not None:
        events[new.case_id] = decision.as_event()


# -- re-clustering -------------------------------------------------------------------------------


@dataclass
class Reclustered:
    """What a re-clustering run did (counts only)."""

    cases: int = 0
    changed: int = 0
    duplicates: int = 0
    clusters: int = 0
    conflicts: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "changed": self.changed,
            "duplicates": self.duplicates,
            "clusters": self.clusters,
            "changed_meanwhile": self.conflicts,
            "seconds": round(self.seconds, 1),
        }


def splits(conn: Connection) -> list[tuple[str, str]]:
    return [(a, b) for a, b in conn.execute(select(ClusterSplit.case_id, ClusterSplit.other_case_id))]


def _batch(conn: Connection, now: datetime) -> str:
    batch_id = str(uuid7())
    conn.execute(
        insert(Batch),
        [
            {
                "batch_id": batch_id,
                "channel": "hub",
                "run_id": RUN,
                "started_at": now,
                "finished_at": now,
                "received": 0,
                "duplicates": 0,
                "accepted": 0,
                "quarantined": 0,
                "superseded": 0,
                "warnings": [],
            }
        ],
    )
    return batch_id


def _write(
    conn: Connection, changes: Sequence[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]], now: datetime
) -> int:
    """Each (stored row, new values, history event) as a new version with its history, in one
    statement each for the cases and the history; a case changed since it was read is left
    for the next run. Returns the versions written."""
    if not changes:
        return 0
    batch_id = _batch(conn, now)
    conn.execute(
        update(Case)
        .where(Case.case_id == bindparam("key"), Case.version == bindparam("read_version"))
        .values(
            cluster_id=bindparam("new_cluster"),
            duplicate_of=bindparam("new_parent"),
            duplicate_score=bindparam("new_score"),
            duplicate_signals=bindparam("new_signals"),
            version=bindparam("new_version"),
        ),
        [
            {
                "key": stored["case_id"],
                "read_version": stored["version"],
                "new_cluster": values["cluster_id"],
                "new_parent": values["duplicate_of"],
                "new_score": values.get("duplicate_score"),
                "new_signals": values.get("duplicate_signals"),
                "new_version": stored["version"] + 1,
            }
            for stored, values, _ in changes
        ],
    )
    ids = [stored["case_id"] for stored, _, _ in changes]
    now_at = dict(conn.execute(select(Case.case_id, Case.version).where(Case.case_id.in_(ids))).all())
    history = [
        {
            "case_id": stored["case_id"],
            "version": stored["version"] + 1,
            "raw_id": stored["raw_id"],
            "batch_id": batch_id,
            "source_updated_at": stored["updated_at"],
            "recorded_at": now,
            "changes": diff(stored, {**stored, **values}),
            "events": [event],
        }
        for stored, values, event in changes
        if now_at.get(stored["case_id"]) == stored["version"] + 1
    ]
    if history:
        insert_rows(conn, CaseHistory.__table__, history)  # type: ignore[arg-type]
    return len(history)


WORKERS = 2
"""Processes a re-clustering on PostgreSQL runs in: blocks never cross a district, so the
districts are shared out between them (the machines the hub runs on have two cores or more)."""


def recluster(
    engine: Engine,
    *,
    since: datetime | None = None,
    clock: Callable[[], datetime] = utcnow,
    chunk: int = CHUNK,
    workers: int = WORKERS,
) -> Reclustered:
    """Re-cluster the cases reported since `since` (all without it) — module docstring. Cases
    reported before it keep their clusters and serve as candidates within the window. On
    PostgreSQL the districts are shared out between `workers` processes; SQLite, which takes one
    writer at a time, runs in this one."""
    import time

    started = time.perf_counter()
    if workers <= 1 or engine.dialect.name != "postgresql":
        result = _recluster(engine, since, clock, chunk, None)
    else:
        result = _in_parallel(engine, since, chunk, workers)
    result.seconds = time.perf_counter() - started
    return result


def _in_parallel(engine: Engine, since: datetime | None, chunk: int, workers: int) -> Reclustered:
    """The districts in `workers` groups of about equal cases, each re-clustered by a process."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with store_errors(), engine.connect() as conn:
        query = select(Case.district_code, func.count()).group_by(Case.district_code)
        if since is not None:
            query = query.where(Case.reported_at >= since - WINDOW)
        sizes = sorted(((n, d) for d, n in conn.execute(query)), reverse=True)
    groups: list[list[str]] = [[] for _ in range(min(workers, max(1, len(sizes))))]
    loads = [0] * len(groups)
    for n, district in sizes:
        lightest = loads.index(min(loads))
        groups[lightest].append(district)
        loads[lightest] += n
    url = engine.url.render_as_string(hide_password=False)
    result = Reclustered()
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=get_context("spawn")) as pool:
        for part in pool.map(
            _recluster_part, [url] * len(groups), [since] * len(groups), [chunk] * len(groups), groups
        ):
            for name in ("cases", "changed", "duplicates", "clusters", "conflicts"):
                setattr(result, name, getattr(result, name) + getattr(part, name))
    return result


def _recluster_part(url: str, since: datetime | None, chunk: int, districts: list[str]) -> Reclustered:
    """One process's share of a parallel re-clustering: its own engine, its districts."""
    from casehub.store.db import connect

    engine = connect(url)
    try:
        return _recluster(engine, since, utcnow, chunk, districts)
    finally:
        engine.dispose()


def _recluster(
    engine: Engine,
    since: datetime | None,
    clock: Callable[[], datetime],
    chunk: int,
    districts: list[str] | None,
) -> Reclustered:
    result = Reclustered()
    columns = (*_READ, Case.duplicate_score, Case.version, Case.raw_id, Case.updated_at)
    with store_errors():
        with engine.connect() as conn:
            clusterer = Clusterer(splits(conn))
        query = select(*columns).order_by(Case.reported_at, Case.case_id)
        if since is not None:
            query = query.where(Case.reported_at >= since - WINDOW)
        if districts is not None:
            query = query.where(Case.district_code.in_(districts))
        pending: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        with engine.connect().execution_options(stream_results=True, yield_per=chunk) as reader:
            for row in reader.execute(query).mappings():
                stored = dict(row)
                own = as_report(stored)
                if since is not None and stored["reported_at"] < since:
                    clusterer.add(own, fixed=stored["cluster_id"] or stored["case_id"])
                    continue
                decision = clusterer.add(own)
                result.cases += 1
                result.duplicates += decision.duplicate_of is not None
                result.clusters += decision.duplicate_of is None
                same = stored["cluster_id"] == decision.cluster_id
                if same and stored["duplicate_of"] == decision.duplicate_of:
                    continue
                values: dict[str, Any] = {}
                apply(values, decision)
                pending.append((stored, values, {"kind": "reclustered", **_described(decision)}))
                if len(pending) >= chunk:
                    _flush(engine, pending, clock(), result)
                    pending = []
            reader.close()
        _flush(engine, pending, clock(), result)
    return result


def _flush(
    engine: Engine,
    pending: Sequence[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]],
    now: datetime,
    result: Reclustered,
) -> None:
    """Write a chunk of changes in its own transaction; a case an ingest changed since it was
    read is counted and left for the next run."""
    if not pending:
        return
    with engine.begin() as conn:
        written = _write(conn, pending, now)
    result.changed += written
    result.conflicts += len(pending) - written


def _described(decision: Decision) -> dict[str, Any]:
    return {
        "cluster_id": decision.cluster_id,
        "duplicate_of": decision.duplicate_of,
        "matched": decision.matched,
        "score": decision.score,
        "signals": list(decision.signals),
    }


# -- splitting -----------------------------------------------------------------------------------


def members(conn: Connection, cluster_id: str) -> list[dict[str, Any]]:
    """The cases of a cluster, earliest first (no personal data)."""
    query = (
        select(
            Case.case_id,
            Case.channel,
            Case.source_id,
            Case.status,
            Case.category,
            Case.district_code,
            Case.community_code,
            Case.title,
            Case.reported_at,
            Case.cluster_id,
            Case.duplicate_of,
            Case.duplicate_score,
            Case.duplicate_signals,
            Case.version,
            Case.raw_id,
            Case.updated_at,
        )
        .where(Case.cluster_id == cluster_id)
        .order_by(Case.reported_at, Case.case_id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def cluster_of(conn: Connection, case_or_cluster: str) -> str | None:
    """The cluster a case id belongs to, or the id itself when it names a cluster."""
    found = conn.scalar(select(Case.cluster_id).where(Case.case_id == case_or_cluster))
    if found:
        return str(found)
    named = conn.scalar(select(Case.case_id).where(Case.cluster_id == case_or_cluster).limit(1))
    return case_or_cluster if named else None


def split(
    engine: Engine, case_ids: Iterable[str], *, by: str, clock: Callable[[], datetime] = utcnow
) -> dict[str, Any]:
    """Move `case_ids` out of their cluster into one of their own (its parent their earliest);
    the rest keep a cluster whose parent is their earliest. Every separated pair is remembered.
    Raises `ConfigurationError` naming what is wrong (an unknown case, cases of two clusters,
    all of a cluster)."""
    moving = list(dict.fromkeys(case_ids))
    if not moving:
        raise ConfigurationError("name at least one case to split off (--case)")
    now = clock()
    with store_errors(), engine.begin() as conn:
        found = {
            row.case_id: row.cluster_id
            for row in conn.execute(select(Case.case_id, Case.cluster_id).where(Case.case_id.in_(moving)))
        }
        missing = [c for c in moving if c not in found]
        if missing:
            raise ConfigurationError(f"no case {missing[0]}")
        origins = {found[c] or c for c in moving}
        if len(origins) != 1:
            raise ConfigurationError("the cases named are in different clusters: split one cluster at a time")
        origin = origins.pop()
        everyone = members(conn, origin)
        staying = [m for m in everyone if m["case_id"] not in found]
        if not staying:
            raise ConfigurationError(f"every case of cluster {origin} was named: nothing would be split")
        leaving = [m for m in everyone if m["case_id"] in found]
        pairs = {tuple(sorted((a["case_id"], b["case_id"]))) for a in leaving for b in staying}
        new_pairs = sorted(pairs - set(splits(conn)))
        if new_pairs:
            conn.execute(
                insert(ClusterSplit),
                [
                    {"case_id": a, "other_case_id": b, "cluster_id": origin, "split_by": by, "split_at": now}
                    for a, b in new_pairs
                ],
            )
        changes = []
        for group in (leaving, staying):
            parent = group[0]["case_id"]
            for member in group:
                values = {
                    "cluster_id": parent,
                    "duplicate_of": None if member["case_id"] == parent else parent,
                }
                if all(member[name] == value for name, value in values.items()):
                    continue
                if values["duplicate_of"] is None:
                    values.update(duplicate_score=None, duplicate_signals=None)
                event = {"kind": "cluster_split", "from": origin, "cluster_id": parent, "by": by}
                changes.append((member, values, event))
        _write(conn, changes, now)
        return {
            "from": origin,
            "split_off": {"cluster_id": leaving[0]["case_id"], "cases": [m["case_id"] for m in leaving]},
            "remaining": {"cluster_id": staying[0]["case_id"], "cases": [m["case_id"] for m in staying]},
        }

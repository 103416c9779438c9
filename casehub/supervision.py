"""Deadline supervision (督办): which open cases are near or past their deadline, what the rule
table says to do about them, and the notices their handlers hear.

A case is watched while its deadline runs (dispatched, accepted, processing). Its lateness is
counted in working days on the mainland calendar (`casehub.enrich.deadline`, holidays and
adjusted workdays included): before the deadline, the working days left up to its due day;
after it, the working days begun since the due day. `schemas/reference/supervision.csv` is the
rule table: each rule names a grade (or `*`), a signed number of working days (−1: one working
day before the deadline; 0: the deadline has passed; 3: three working days past it), a level —
催办 `reminder`, 督办 `supervision`, 挂牌督办 `escalated` — and an action:

    notify        the notice alone
    raise_grade   the case's grade one up (A community → B street → C district → D city)
    redispatch    the case to the next level's unit in its district (community → its street
                  office → the district's dispatch centre, 分拨中心), dispatched there afresh

A rule fires once per case and deadline, so an approved postponement (延期), which moves the
deadline, starts the count again. A reminder is for before the deadline only, and only notifies.

`escalate` is the decision, a pure function of the case and the clock. `supervise` applies it
to the store set-wise: the candidates of each rule are found by one anti-join each (the cases
whose deadline lies before the rule's cut-off and that have no notice of that rule for that
deadline), so the decision is made only for cases some rule may fire on; then, a chunk at a
time and in one transaction each (two chunks side by side on PostgreSQL), every case gains its
supervision entries, a new version with its history, a `supervision_notices` row per rule, and
its handler one `urge` event through the outbox — the district platforms fetch it — plus a
`dispatch` event when it was re-dispatched; each kind of row goes in whole per chunk (COPY on PostgreSQL).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from uuid6 import uuid7

from casehub import outbox
from casehub.crypto import KeyRing
from casehub.enrich import Rules, load_rules
from casehub.enrich.deadline import working_day
from casehub.enrich.rules import ANY, COMMUNITY, GRADES, STREET_OFFICE, Unit
from casehub.errors import ConfigurationError, TransientError
from casehub.normalize import SHANGHAI, iso
from casehub.reference import REFERENCE_DIR, Reference, load_reference
from casehub.store.bulk import insert_rows
from casehub.store.db import store_errors
from casehub.store.models import Batch, Case, CaseHistory, SupervisionNotice
from casehub.workflow import dispatch_target, wanted

__all__ = [
    "LEVELS",
    "Escalation",
    "Lateness",
    "SupervisionRule",
    "SupervisionRules",
    "Watched",
    "escalate",
    "lateness",
    "load_supervision_rules",
    "next_unit",
    "supervise",
]

LEVELS = ("reminder", "supervision", "escalated")
"""催办 reminder, 督办 supervision, 挂牌督办 escalated — in rising order."""
LEVEL_NAMES = {"reminder": "催办", "supervision": "督办", "escalated": "挂牌督办"}
ACTIONS = ("notify", "raise_grade", "redispatch")
OPEN = ("dispatched", "accepted", "processing")
"""Statuses in which a case's deadline runs."""
HEADER = ("rule_id", "grade", "working_days", "level", "action")
RULES_PATH = REFERENCE_DIR / "supervision.csv"
RUN_ID = "supervision"
CHUNK = 10_000
WORKERS = 2
DISTRICT = "district"


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the rule table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisionRule:
    """Cases of `grade` (or `*`) reaching `working_days` (signed, see the module) get a notice
    at `level` and `action` is taken."""

    rule_id: str
    grade: str
    working_days: int
    level: str
    action: str

    def matches(self, grade: str) -> bool:
        return self.grade in (ANY, grade)

    def reached(self, late: Lateness) -> bool:
        if self.working_days < 0:
            return not late.overdue and late.days <= -self.working_days
        return late.overdue and late.days >= self.working_days


@dataclass(frozen=True)
class SupervisionRules:
    """The table's rules, earliest first (by working days, then as the table lists them)."""

    rules: tuple[SupervisionRule, ...]

    @classmethod
    def of(cls, rules: Iterable[SupervisionRule]) -> SupervisionRules:
        """The rules, or `ConfigurationError` naming the first row that breaks the table."""
        rows = list(rules)
        seen: set[str] = set()
        for rule in rows:
            where = f"supervision.csv {rule.rule_id}"
            if not rule.rule_id or rule.rule_id in seen:
                raise ConfigurationError(f"{where}: rule ids must be present and unique")
            seen.add(rule.rule_id)
            if rule.grade not in (*GRADES, ANY):
                raise ConfigurationError(f"{where}: grade must be one of A, B, C, D or *")
            if rule.level not in LEVELS:
                raise ConfigurationError(f"{where}: level must be one of {', '.join(LEVELS)}")
            if rule.action not in ACTIONS:
                raise ConfigurationError(f"{where}: action must be one of {', '.join(ACTIONS)}")
            if not -30 <= rule.working_days <= 365:
                raise ConfigurationError(f"{where}: working_days must be from -30 to 365")
            if (rule.working_days < 0) != (rule.level == "reminder"):
                raise ConfigurationError(f"{where}: reminders, and only they, come before the deadline")
            if rule.working_days < 0 and rule.action != "notify":
                raise ConfigurationError(f"{where}: a reminder only notifies")
        order = {rule.rule_id: n for n, rule in enumerate(rows)}
        return cls(tuple(sorted(rows, key=lambda r: (r.working_days, order[r.rule_id]))))

    @property
    def lead(self) -> int:
        """How many working days before a deadline the first reminder comes (0: none)."""
        return max([0, *(-r.working_days for r in self.rules)])


@cache
def load_supervision_rules(path: Path = RULES_PATH) -> SupervisionRules:
    """Read and check `schemas/reference/supervision.csv` once."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = tuple(reader.fieldnames or ())
    except FileNotFoundError:
        raise ConfigurationError(f"reference file missing: {path}") from None
    if header != HEADER:
        raise ConfigurationError(f"supervision.csv: columns must be {','.join(HEADER)}")
    rules = []
    for row in rows:
        try:
            days = int(row["working_days"])
        except ValueError:
            raise ConfigurationError(
                f"supervision.csv {row['rule_id']}: working_days is not a whole number"
            ) from None
        rules.append(SupervisionRule(row["rule_id"], row["grade"], days, row["level"], row["action"]))
    return SupervisionRules.of(rules)


# -- the clock: lateness in working days ---------------------------------------------------------


@lru_cache(maxsize=65536)
def working_days_between(start: date, end: date) -> int:
    """The working days after `start` up to and including `end` (0 when `end` is not later)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += working_day(day)[0]
    return count


@dataclass(frozen=True, order=True)
class Lateness:
    """Where a case stands against its deadline: `overdue`, and then the working days begun
    since its due day (0 on the due day itself, after the hour); otherwise the working days
    left up to its due day (0: due today)."""

    overdue: bool
    days: int

    @property
    def signed(self) -> int:
        """Days past the deadline, negative for days left: what a notice records."""
        return self.days if self.overdue else -self.days


def local_day(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


def lateness(deadline_at: datetime, now: datetime) -> Lateness:
    due, today = local_day(deadline_at), local_day(now)
    if now > deadline_at:
        return Lateness(True, working_days_between(due, today))
    return Lateness(False, working_days_between(today, due))


# -- the decision ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """What supervision needs to know of a case: its status, grade, deadline, and the rules
    already fired against that deadline."""

    status: str
    grade: str
    deadline_at: datetime | None
    fired: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Step:
    rule: SupervisionRule
    grade: str
    """The case's grade when the rule fired."""


@dataclass(frozen=True)
class Escalation:
    """What supervision does to a case now: the rules that fire, in order, and where they leave
    its grade; `redispatch` when one of them re-dispatches it."""

    steps: tuple[Step, ...]
    late: Lateness | None
    grade: str
    redispatch: bool = False

    @property
    def level(self) -> str | None:
        """The highest level among the steps."""
        levels = [LEVELS.index(s.rule.level) for s in self.steps]
        return LEVELS[max(levels)] if levels else None


def raised(grade: str) -> str:
    """The next grade up; D stays D."""
    return GRADES[min(GRADES.index(grade) + 1, len(GRADES) - 1)] if grade in GRADES else grade


def escalate(case: Watched, table: SupervisionRules, now: datetime) -> Escalation:
    """The rules that fire on `case` at `now`: every rule whose working days are reached, whose
    grade matches the case's (as raised by the rules before it) and that has not fired against
    this deadline. Passes over the table until nothing more fires, so a rule whose grade only a
    raise reached fires in the same run."""
    if case.status not in OPEN or case.deadline_at is None:
        return Escalation((), None, case.grade)
    late = lateness(case.deadline_at, now)
    fired, grade, steps, redispatch = set(case.fired), case.grade, [], False
    changed = True
    while changed:
        changed = False
        for rule in table.rules:
            if rule.rule_id in fired or not rule.reached(late) or not rule.matches(grade):
                continue
            fired.add(rule.rule_id)
            steps.append(Step(rule, grade))
            changed = True
            if rule.action == "raise_grade":
                grade = raised(grade)
            elif rule.action == "redispatch":
                redispatch = True
    return Escalation(tuple(steps), late, grade, redispatch)


def next_unit(unit_code: str | None, district_code: str, rules: Rules) -> Unit | None:
    """The unit one level up in the district (community → its street office → the district's
    dispatch centre), or None at the district's level and above: 挂牌督办 beyond the district is
    the city's own, outside the platforms the hub dispatches to."""
    unit = rules.units.get(unit_code or "")
    if unit is None or unit.district_code != district_code:
        return None
    if unit.kind == COMMUNITY and unit.region_code:
        street = rules.territorial_units.get(unit.region_code[:9])
        if street is not None and street.kind == STREET_OFFICE:
            return street
        return rules.dispatch_unit(district_code)
    if unit.kind == STREET_OFFICE:
        return rules.dispatch_unit(district_code)
    return None


# -- the job -------------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def cutoffs(table: SupervisionRules, now: datetime) -> dict[str, tuple[datetime | None, datetime]]:
    """Per rule, the deadlines it may fire on at `now` as a range [from, before): exactly the
    deadlines whose lateness reaches the rule, since lateness only grows as the deadline is
    earlier. A reminder's range starts at `now` (past it, reminders are over)."""
    today = local_day(now)
    ranges: dict[str, tuple[datetime | None, datetime]] = {}
    for rule in table.rules:
        if rule.working_days < 0:
            day, left = today, 0
            while True:  # the first day beyond the reminder's reach
                day += timedelta(days=1)
                left += working_day(day)[0]
                if left > -rule.working_days:
                    break
            ranges[rule.rule_id] = (now, _day_start(day))
        elif rule.working_days == 0:
            ranges[rule.rule_id] = (None, now)
        else:
            day = today
            while working_days_between(day, today) < rule.working_days:
                day -= timedelta(days=1)
            ranges[rule.rule_id] = (None, min(now, _day_start(day + timedelta(days=1))))
    return ranges


def _candidates(conn: Connection, table: SupervisionRules, now: datetime) -> list[str]:
    """The open cases some rule may fire on: per rule, one anti-join against its notices."""
    notices: Table = SupervisionNotice.__table__  # type: ignore[assignment]
    selects = []
    for rule_id, (start, before) in cutoffs(table, now).items():
        conditions = [Case.status.in_(OPEN), Case.deadline_at < before]
        if start is not None:
            conditions.append(Case.deadline_at >= start)
        fired = exists().where(
            notices.c.case_id == Case.case_id,
            notices.c.rule_id == rule_id,
            notices.c.deadline_at == Case.deadline_at,
        )
        selects.append(select(Case.case_id).where(and_(*conditions), ~fired))
    if not selects:
        return []
    return sorted(conn.scalars(union(*selects)))


_COLUMNS = (
    "case_id",
    "version",
    "channel",
    "source_id",
    "status",
    "grade",
    "district_code",
    "assigned_unit",
    "category",
    "deadline_at",
    "supervision",
    "raw_id",
    "updated_at",
)


@dataclass(frozen=True)
class _Run:
    now: datetime
    batch_id: str
    keyring: KeyRing
    rules: Rules
    reference: Reference
    table: SupervisionRules


def supervise(
    engine: Engine,
    keyring: KeyRing,
    *,
    clock: Callable[[], datetime] = utcnow,
    table: SupervisionRules | None = None,
    rules: Rules | None = None,
    reference: Reference | None = None,
    chunk: int = CHUNK,
) -> dict[str, int]:
    """Supervise every open case at `clock()` (module docstring); the run's counts: cases
    supervised, notices by level and action, events written. Run again, it fires nothing twice.

    The first chunk commits with the run's batch; on PostgreSQL the others then go two at a
    time, each on its own connection, so that one chunk's decisions are made while the server
    writes another's. Chunks hold different cases, so they never wait on each other."""
    now = clock()
    run = _Run(
        now,
        str(uuid7()),
        keyring,
        rules or load_rules(),
        reference or load_reference(),
        table or load_supervision_rules(),
    )
    with store_errors(), engine.connect() as conn:
        candidates = _candidates(conn, run.table, now)
    counts: Counter[str] = Counter({"candidates": len(candidates), "cases": 0, "events": 0})
    chunks = [candidates[start : start + chunk] for start in range(0, len(candidates), chunk)]
    if not chunks:
        return dict(counts)
    with store_errors(), engine.begin() as conn:
        _batch(conn, run)
        counts.update(_apply(conn, run, chunks[0]))
    workers = WORKERS if engine.dialect.name == "postgresql" else 1
    counts.update(_in_parallel(partial(_apply_chunk, engine, run), chunks[1:], workers))
    return dict(counts)


def _apply_chunk(engine: Engine, run: _Run, ids: Sequence[str]) -> Counter[str]:
    with store_errors(), engine.begin() as conn:
        return _apply(conn, run, ids)


def _in_parallel(
    work: Callable[[Sequence[str]], Counter[str]], chunks: Sequence[Sequence[str]], workers: int
) -> Counter[str]:
    """`work` over every chunk, `workers` at a time; the first failure stops the chunks not yet
    begun and is raised once the running ones have ended (each commits or rolls back whole)."""
    total: Counter[str] = Counter()
    if workers <= 1:
        for ids in chunks:
            total.update(work(ids))
        return total
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="supervise") as pool:
        futures = [pool.submit(work, ids) for ids in chunks]
        try:
            for future in as_completed(futures):
                total.update(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return total


def _batch(conn: Connection, run: _Run) -> None:
    conn.execute(
        insert(Batch),
        [
            {
                "batch_id": run.batch_id,
                "channel": "hub",
                "run_id": RUN_ID,
                "started_at": run.now,
                "finished_at": run.now,
                "received": 0,
                "duplicates": 0,
                "accepted": 0,
                "quarantined": 0,
                "superseded": 0,
                "warnings": [],
            }
        ],
    )


def _among(conn: Connection, column: InstrumentedAttribute[str], ids: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `ids`: one array parameter on PostgreSQL (a chunk's ids as an IN list
    would be a statement of that many parameters to build, send and plan), an IN list on SQLite."""
    if conn.dialect.name == "postgresql":
        chosen = select(func.unnest(bindparam("ids", list(ids), type_=ARRAY(String(36))))).scalar_subquery()
        return column.in_(chosen)
    return column.in_(ids)


def _read(conn: Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The chunk's cases still open, locked on PostgreSQL until the chunk commits; their
    supervision entries read as the stored JSON text and parsed here, at a fraction of the
    driver's cost per row."""
    columns = [Case.__table__.c[name] for name in _COLUMNS if name != "supervision"]
    query = select(*columns, cast(Case.supervision, Text).label("supervision")).where(
        _among(conn, Case.case_id, ids), Case.status.in_(OPEN)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = [dict(r) for r in conn.execute(query).mappings().all()]
    for row in rows:
        row["supervision"] = orjson.loads(row["supervision"]) if row["supervision"] else []
    return rows


def _apply(conn: Connection, run: _Run, ids: Sequence[str]) -> Counter[str]:
    """Supervise the chunk's cases in the caller's transaction; the chunk's counts."""
    counts: Counter[str] = Counter()
    rows = _read(conn, ids)
    fired: dict[tuple[str, datetime], set[str]] = {}
    for case_id, rule_id, deadline in conn.execute(
        select(SupervisionNotice.case_id, SupervisionNotice.rule_id, SupervisionNotice.deadline_at).where(
            _among(conn, SupervisionNotice.case_id, ids)
        )
    ).all():
        fired.setdefault((case_id, deadline), set()).add(rule_id)
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    events: list[outbox.NewEvent] = []
    owners: list[int] = []
    for row in rows:
        deadline = row["deadline_at"]
        watched = Watched(
            row["status"], row["grade"], deadline, frozenset(fired.get((row["case_id"], deadline), ()))
        )
        decision = escalate(watched, run.table, run.now)
        if not decision.steps:
            continue
        change = _change(row, decision, run)
        updates.append(change.update)
        history.append(change.history)
        notices += change.notices
        owners.append(len(change.notices))
        events += change.events
        counts["cases"] += 1
        for step in decision.steps:
            counts[f"level_{step.rule.level}"] += 1
            counts[f"action_{step.rule.action}"] += 1
    if not updates:
        return counts
    _update_cases(conn, updates)
    insert_rows(conn, CaseHistory.__table__, history)  # type: ignore[arg-type]
    written = outbox.write(conn, run.keyring, events, run.now)
    counts["events"] += len(written)
    by_case = {
        e.case_id: event_id for e, event_id in zip(_kept(events), written, strict=True) if e.kind == "urge"
    }
    for notice in notices:
        notice["event_id"] = by_case.get(notice["case_id"])
    insert_rows(conn, SupervisionNotice.__table__, notices)  # type: ignore[arg-type]
    return counts


def _kept(events: Sequence[outbox.NewEvent]) -> list[outbox.NewEvent]:
    """The events `outbox.write` writes (it leaves out an echo), in its order."""
    return [e for e in events if not outbox.echoes(e)]


@dataclass(frozen=True)
class _Change:
    update: dict[str, Any]
    history: dict[str, Any]
    notices: list[dict[str, Any]]
    events: list[outbox.NewEvent]


def _change(row: Mapping[str, Any], decision: Escalation, run: _Run) -> _Change:
    """A case's new version for its escalation: entries, history, notices and events."""
    at, deadline = iso(run.now), iso(row["deadline_at"])
    late, level = decision.late, decision.level
    assert late is not None
    unit, status = row["assigned_unit"], row["status"]
    target = dispatch_target(row, run.reference, run.rules)
    moved: Unit | None = None
    if decision.redispatch and target is not None and target[0] == DISTRICT:
        moved = next_unit(unit, str(row["district_code"]), run.rules)
    entries, notices = [], []
    for step in decision.steps:
        rule = step.rule
        entries.append(
            {
                "kind": "supervision",
                "level": rule.level,
                "rule": rule.rule_id,
                "action": rule.action,
                "at": at,
                "deadline_at": deadline,
                "working_days": late.signed,
                "note": f"{LEVEL_NAMES[rule.level]} {rule.rule_id}",
            }
        )
        notices.append(
            {
                "case_id": row["case_id"],
                "rule_id": rule.rule_id,
                "level": rule.level,
                "action": rule.action,
                "deadline_at": row["deadline_at"],
                "working_days": late.signed,
                "district_code": row["district_code"],
                "unit": unit,
                "grade": step.grade,
                "unit_to": moved.code if moved is not None and rule.action == "redispatch" else None,
                "noticed_at": run.now,
                "event_id": None,
            }
        )
    version = int(row["version"]) + 1
    new = {
        "supervision": [*(row.get("supervision") or []), *entries],
        "grade": decision.grade,
        "assigned_unit": moved.code if moved is not None else unit,
        "status": "dispatched" if moved is not None else status,
    }
    changes: dict[str, Any] = {"supervision": [row.get("supervision") or [], new["supervision"]]}
    for name in ("grade", "assigned_unit", "status"):
        if new[name] != row[name]:
            changes[name] = [row[name], new[name]]
    happened: list[dict[str, Any]] = [
        {
            "kind": "supervised",
            "level": level,
            "rules": [s.rule.rule_id for s in decision.steps],
            "deadline_at": deadline,
            "working_days": late.signed,
        }
    ]
    if new["grade"] != row["grade"]:
        happened.append({"kind": "grade_raised", "from": row["grade"], "to": new["grade"]})
    if moved is not None:
        happened.append(
            {
                "kind": "redispatched",
                "partner": DISTRICT,
                "target": target[1] if target else None,
                "unit": moved.code,
            }
        )
    events = []
    if target is not None and wanted(target[0], "urge"):
        unit_name = run.rules.units[unit].name if unit in run.rules.units else None
        events.append(
            outbox.NewEvent(
                partner=target[0],
                kind="urge",
                case_id=str(row["case_id"]),
                case_version=version,
                source_id=str(row["source_id"]),
                origin="hub",
                data={
                    "level": level,
                    "level_name": LEVEL_NAMES[level or "supervision"],
                    "rules": [s.rule.rule_id for s in decision.steps],
                    "actions": sorted({s.rule.action for s in decision.steps}),
                    "deadline_at": deadline,
                    "working_days": late.signed,
                    "overdue_since": deadline if late.overdue else None,
                    "unit": unit,
                    "unit_name": unit_name,
                    "grade": new["grade"],
                    "redispatched_to": moved.code if moved is not None else None,
                },
                target=target[1],
            )
        )
        if moved is not None and wanted(target[0], "dispatch"):
            events.append(
                outbox.NewEvent(
                    partner=target[0],
                    kind="dispatch",
                    case_id=str(row["case_id"]),
                    case_version=version,
                    source_id=str(row["source_id"]),
                    origin="hub",
                    data={"unit": moved.code, "unit_name": moved.name, "deadline_at": deadline},
                    target=target[1],
                )
            )
    history = {
        "case_id": row["case_id"],
        "version": version,
        "raw_id": row["raw_id"],
        "batch_id": run.batch_id,
        "source_updated_at": row["updated_at"],
        "recorded_at": run.now,
        "changes": changes,
        "events": happened,
    }
    update = {"case_id": row["case_id"], "old_version": row["version"], "version": version, **new}
    return _Change(update, history, notices, events)


def _update_cases(conn: Connection, updates: Sequence[Mapping[str, Any]]) -> None:
    """Write each case's new version set-wise: through a COPY'd stage and one UPDATE … FROM on
    PostgreSQL (the rows are locked since they were read), one executemany on SQLite. Each row is
    written only at the version read; a case another writer changed meanwhile fails the chunk
    (nothing of it is kept), and the next try supervises it afresh."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE stage_supervision (case_id varchar(36), old_version integer, "
            "version integer, supervision text, grade varchar(1), assigned_unit varchar(200), "
            "status varchar(16)) ON COMMIT DROP"
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(
                "COPY stage_supervision (case_id, old_version, version, supervision, grade, assigned_unit, "
                "status) FROM STDIN"
            ) as copy:
                for u in updates:
                    copy.write_row(
                        (
                            u["case_id"],
                            u["old_version"],
                            u["version"],
                            orjson.dumps(u["supervision"]).decode(),
                            u["grade"],
                            u["assigned_unit"],
                            u["status"],
                        )
                    )
        finally:
            cursor.close()
        changed = conn.exec_driver_sql(
            "UPDATE cases SET version = s.version, supervision = s.supervision::json, grade = s.grade, "
            "assigned_unit = s.assigned_unit, status = s.status FROM stage_supervision s "
            "WHERE cases.case_id = s.case_id AND cases.version = s.old_version"
        ).rowcount
        conn.exec_driver_sql("DROP TABLE stage_supervision")
    else:
        statement = (
            update(Case)
            .where(Case.case_id == bindparam("b_case_id"), Case.version == bindparam("b_old_version"))
            .values(
                version=bindparam("b_version"),
                supervision=bindparam("b_supervision", type_=Case.__table__.c.supervision.type),
                grade=bindparam("b_grade"),
                assigned_unit=bindparam("b_assigned_unit"),
                status=bindparam("b_status"),
            )
        )
        changed = conn.execute(statement, [{f"b_{k}": v for k, v in u.items()} for u in updates]).rowcount
    if changed != len(updates):
        raise TransientError(
            f"supervision: {len(updates) - changed} cases changed while supervised; try again"
        )

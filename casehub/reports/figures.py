"""The figures of an efficiency report (效能通报), as docs/reports.md defines them.

Each case is classified once against the period (`classify`, pure), and its facts are added to
the tallies of its district, its handling unit and the city (`Tally`). The store is read
set-wise (`load`): one streamed query over the cases reported or due in the period, one over the
period's returns and one over its supervision notices — never a statement per case.

    received   受理  reported in the period (the channel's acceptance time, `reported_at`)
    registered 立案  received, and made a case for handling: not cancelled, not merged as a
                     duplicate, past `received`
    due        应结案 a registered case whose deadline (as postponed) falls in the period
    closed     结案  a due case completed (办结) or closed before the period's end
    on time    按期  a closed case completed no later than its deadline
    handling   办理时长 working days from the report to the completion, for the closed cases
    satisfied  满意  the closed cases evaluated 满意 or 基本满意, of those evaluated
    returns    退回  returns (退回) recorded in the period: a district platform's to its district,
                    any handler's to the city and the unit that held the case
    supervised 督办  cases with a supervision notice in the period, per level
    hotspots   热点  the period's top terms, from the `hotspots` table (`casehub.reports.hotspots`)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, DateTime, and_, func, or_, select, type_coerce

from casehub.enrich.rules import Rules
from casehub.reference import Reference
from casehub.reports import hotspots as hot
from casehub.reports.period import Period
from casehub.store.models import Case, CaseHistory, SupervisionNotice, WorkflowOperation
from casehub.supervision import LEVELS, local_day, working_days_between

CLOSED = frozenset({"completed", "verified", "closed"})
"""办结 and after: what counts as closed (结案)."""
UNREGISTERED = frozenset({"received", "cancelled"})
SATISFIED = frozenset({"satisfied", "basically_satisfied"})
TOP = 5
CITY = "city"
STREAM_ROWS = 20_000

COLUMNS = (
    "district_code",
    "assigned_unit",
    "category",
    "status",
    "duplicate_of",
    "reported_at",
    "deadline_at",
    "closed_at",
    "updated_at",
    "satisfaction",
)


@dataclass(frozen=True)
class Facts:
    """What one case contributes to a period's figures."""

    received: bool = False
    registered: bool = False
    due: bool = False
    closed: bool = False
    on_time: bool = False
    handling_days: int = 0
    evaluated: bool = False
    satisfied: bool = False


def closing_time(status: str, closed_at: datetime | None, updated_at: datetime) -> datetime | None:
    """When a closed case closed: its `closed_at`, or — a case closed before the hub kept one —
    the version that closed it."""
    if status not in CLOSED:
        return None
    return closed_at or updated_at


def classify(case: Mapping[str, Any], period: Period) -> Facts:
    """The case's facts for `period` (module docstring; docs/reports.md)."""
    start, end = period.start, period.end
    reported, deadline = case["reported_at"], case["deadline_at"]
    handled = case["status"] not in UNREGISTERED and case["duplicate_of"] is None
    received = start <= reported < end
    due = handled and deadline is not None and start <= deadline < end
    closing = closing_time(case["status"], case["closed_at"], case["updated_at"])
    closed = due and closing is not None and closing < end
    if not closed:
        return Facts(received=received, registered=received and handled, due=due)
    assert closing is not None and deadline is not None
    evaluated = case["satisfaction"] is not None
    return Facts(
        received=received,
        registered=received and handled,
        due=True,
        closed=True,
        on_time=closing <= deadline,
        handling_days=working_days_between(local_day(reported), local_day(closing)),
        evaluated=evaluated,
        satisfied=evaluated and case["satisfaction"] in SATISFIED,
    )


@dataclass
class Tally:
    """A scope's figures: a district, a unit, the city."""

    code: str
    name: str
    received: int = 0
    registered: int = 0
    due: int = 0
    closed: int = 0
    on_time: int = 0
    handling_days: int = 0
    evaluated: int = 0
    satisfied: int = 0
    returns: int = 0
    supervised: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    rank: int | None = None

    def add(self, facts: Facts, cases: int = 1) -> None:
        """Add the facts of `cases` cases that have the same facts."""
        self.received += facts.received * cases
        self.registered += facts.registered * cases
        self.due += facts.due * cases
        self.closed += facts.closed * cases
        self.on_time += facts.on_time * cases
        self.handling_days += facts.handling_days * cases
        self.evaluated += facts.evaluated * cases
        self.satisfied += facts.satisfied * cases

    @property
    def closure_rate(self) -> float | None:
        """结案率 closed / due."""
        return self.closed / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        """按期结案率 closed on time / due."""
        return self.on_time / self.due if self.due else None

    @property
    def average_handling_days(self) -> float | None:
        """平均办理时长, working days, over the closed cases."""
        return round(self.handling_days / self.closed, 2) if self.closed else None

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率 (满意 + 基本满意) / evaluated."""
        return self.satisfied / self.evaluated if self.evaluated else None

    @property
    def active(self) -> bool:
        return bool(self.received or self.due or self.returns or any(self.supervised.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "received": self.received,
            "registered": self.registered,
            "due": self.due,
            "closed": self.closed,
            "closed_on_time": self.on_time,
            "closure_rate": _rate(self.closure_rate),
            "on_time_rate": _rate(self.on_time_rate),
            "average_handling_working_days": self.average_handling_days,
            "evaluated": self.evaluated,
            "satisfied": self.satisfied,
            "satisfaction_rate": _rate(self.satisfaction_rate),
            "returns": self.returns,
            "supervised": dict(self.supervised),
            **({"rank": self.rank} if self.rank is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        """A tally as `as_dict` wrote it (a report's JSON file)."""
        tally = cls(
            str(data["code"]),
            str(data["name"]),
            received=data["received"],
            registered=data["registered"],
            due=data["due"],
            closed=data["closed"],
            on_time=data["closed_on_time"],
            evaluated=data["evaluated"],
            satisfied=data["satisfied"],
            returns=data["returns"],
            supervised={level: int(data["supervised"].get(level, 0)) for level in LEVELS},
            rank=data.get("rank"),
        )
        average = data["average_handling_working_days"]
        tally.handling_days = round(average * tally.closed) if average is not None else 0
        return tally


def _rate(value: float | None) -> float | None:
    """Rates kept to four places: the files of a rerun hold the same digits."""
    return None if value is None else round(value, 4)


@dataclass
class Figures:
    """Every tally of a period, read from the store once."""

    period: Period
    city: Tally
    districts: dict[str, Tally]
    units: dict[str, Tally]
    unit_district: dict[str, str | None]
    daily: dict[str, Counter[date]]
    categories: dict[str, Counter[str]]
    hotspots: dict[str, hot.Hotspots]
    """By the hotspots table's scope: a district code, or `hot.CITY_SCOPE` for the city."""


TIMES = frozenset({"reported_at", "deadline_at", "closed_at", "updated_at"})


def _column(name: str, dialect: str) -> ColumnElement[Any]:
    """A column to read. PostgreSQL's timestamptz comes back aware from the driver, and aware
    times compare and convert alike whatever their offset: read as it is, it skips the store
    type's normalising to UTC, a call per value; SQLite's naive UTC needs it."""
    column = Case.__table__.c[name]
    if name in TIMES and dialect == "postgresql":
        return type_coerce(column, DateTime(timezone=True)).label(name)
    return column


def _streamed(conn: Connection, period: Period) -> Iterator[Any]:
    columns = [_column(name, conn.dialect.name) for name in COLUMNS]
    query = select(*columns).where(
        or_(
            and_(Case.reported_at >= period.start, Case.reported_at < period.end),
            and_(Case.deadline_at >= period.start, Case.deadline_at < period.end),
        )
    )
    result = conn.execution_options(yield_per=STREAM_ROWS).execute(query).mappings()
    for partition in result.partitions():
        yield from partition


def load(conn: Connection, period: Period, reference: Reference, rules: Rules) -> Figures:
    """The period's figures from the store (module docstring)."""
    districts = {code: Tally(code, region.name) for code, region in sorted(reference.districts.items())}
    city = Tally(CITY, "武汉市")
    units: dict[str, Tally] = {}
    unit_district: dict[str, str | None] = {}

    def unit(code: str | None) -> Tally:
        key = code or "-"
        if key not in units:
            known = rules.units.get(key)
            units[key] = Tally(key, known.name if known else "未分派 unassigned")
            unit_district[key] = known.district_code if known else None
        return units[key]

    def district(code: str) -> Tally:
        if code not in districts:
            districts[code] = Tally(code, code)
        return districts[code]

    daily: defaultdict[str, Counter[date]] = defaultdict(Counter)
    categories: defaultdict[str, Counter[str]] = defaultdict(Counter)
    # Cases of a district and unit mostly share their facts: counted per kind, added once each.
    alike: Counter[tuple[str, str | None, Facts]] = Counter()
    for case in _streamed(conn, period):
        facts = classify(case, period)
        code = str(case["district_code"])
        alike[(code, case["assigned_unit"], facts)] += 1
        if facts.received:
            day, category = local_day(case["reported_at"]), str(case["category"])
            for scope in (CITY, code):
                daily[scope][day] += 1
                categories[scope][category] += 1
    for (code, unit_code, facts), cases in sorted(
        alike.items(), key=lambda item: (item[0][0], item[0][1] or "")
    ):
        for tally in (city, district(code), unit(unit_code)):
            tally.add(facts, cases)
    for actor, unit_code in _returns(conn, period):
        # A district platform's return is its district's; another handler's (digital urban
        # management) counts for the city and the unit, and makes no district of the partner.
        returned = (city, unit(unit_code), *((district(actor),) if actor in reference.districts else ()))
        for tally in returned:
            tally.returns += 1
    for unit_code, level, cases in _supervised(conn, period):
        unit(unit_code).supervised[level] += cases
    for district_code, level, cases in _supervised_by_district(conn, period):
        district(district_code).supervised[level] += cases
        city.supervised[level] += cases
    return Figures(
        period, city, districts, units, unit_district, dict(daily), dict(categories), hot.read(conn, period)
    )


def _returns(conn: Connection, period: Period) -> list[tuple[str, str | None]]:
    """Each return in the period: the district that returned it, and the unit that had the case
    then (the history of the version the return made says what the unit was)."""
    operations = conn.execute(
        select(WorkflowOperation.actor, WorkflowOperation.case_id, WorkflowOperation.outcome).where(
            WorkflowOperation.action == "return",
            WorkflowOperation.recorded_at >= period.start,
            WorkflowOperation.recorded_at < period.end,
        )
    ).all()
    if not operations:
        return []
    wanted = {(op.case_id, int(op.outcome["version"])) for op in operations}
    before: dict[tuple[str, int], str | None] = {}
    ids = sorted({case_id for case_id, _ in wanted})
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(CaseHistory.case_id, CaseHistory.version, CaseHistory.changes).where(
                CaseHistory.case_id.in_(ids[start : start + 500])
            )
        )
        for case_id, version, changes in rows:
            if (case_id, version) in wanted:
                moved = (changes or {}).get("assigned_unit")
                before[(case_id, version)] = moved[0] if isinstance(moved, list) else None
    current = _current_units(conn, ids)
    return sorted(
        (
            str(op.actor),
            before.get((op.case_id, int(op.outcome["version"]))) or current.get(op.case_id),
        )
        for op in operations
    )


def _current_units(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    chosen = sorted(ids)
    for start in range(0, len(chosen), 500):
        rows = conn.execute(
            select(Case.case_id, Case.assigned_unit).where(Case.case_id.in_(chosen[start : start + 500]))
        )
        found.update({case_id: unit for case_id, unit in rows})
    return found


def _supervised(conn: Connection, period: Period) -> list[tuple[str | None, str, int]]:
    """Cases with a notice in the period, per the unit it had then, and level."""
    n = SupervisionNotice
    rows = conn.execute(
        select(n.unit, n.level, func.count(func.distinct(n.case_id)))
        .where(n.noticed_at >= period.start, n.noticed_at < period.end)
        .group_by(n.unit, n.level)
    )
    return [(u, str(level), int(count)) for u, level, count in rows]


def _supervised_by_district(conn: Connection, period: Period) -> list[tuple[str, str, int]]:
    n = SupervisionNotice
    rows = conn.execute(
        select(n.district_code, n.level, func.count(func.distinct(n.case_id)))
        .where(n.noticed_at >= period.start, n.noticed_at < period.end)
        .group_by(n.district_code, n.level)
    )
    return [(str(d), str(level), int(count)) for d, level, count in rows]

"""Hotspots of the hub's cases: computed for a day and written to `hotspots`, read back for the page.

A case belongs to the Asia/Shanghai day it was reported on (`reported_at`) and to its
district; the city (`CITY`, 420100) holds every case. For `day` the job ranks two periods per
scope: `day` against the day before, and the week — the seven days ending on `day` — against
the seven days before it. It reads the fourteen days once, extracts each case's terms once,
and replaces the day's rows in one transaction, so running a day again gives the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, insert, select

from casehub.hotspots.ranking import Ranked, Term, rank
from casehub.hotspots.terms import Extractor, case_text, extractor
from casehub.store.db import store_errors
from casehub.store.models import Case, Hotspot

CITY_TIME = ZoneInfo("Asia/Shanghai")
CITY = "420100"
"""The scope of every case in the city (Wuhan's own administrative code)."""
PERIODS = {"day": 1, "week": 7}
"""Each period's length in days, ending on the day computed."""
CHUNK = 2000


def day_before(moment: datetime) -> date:
    """The Asia/Shanghai day before `moment`: what a run just after midnight computes."""
    return moment.astimezone(CITY_TIME).date() - timedelta(days=1)


def bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants from the start of `first` to the end of `last`, Asia/Shanghai days."""
    start = datetime.combine(first, time(0), CITY_TIME)
    end = datetime.combine(last + timedelta(days=1), time(0), CITY_TIME)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class _Scope:
    """One scope's cases over the fourteen days: each case's terms by day, and the texts of the
    week (for its weights)."""

    terms: dict[date, list[tuple[str, ...]]] = field(default_factory=lambda: defaultdict(list))
    texts: dict[date, list[str]] = field(default_factory=lambda: defaultdict(list))

    def named(self, last: date, days: int) -> list[tuple[str, ...]]:
        return [t for d in range(days) for t in self.terms.get(last - timedelta(days=d), [])]

    def written(self, last: date, days: int) -> list[str]:
        return [t for d in range(days) for t in self.texts.get(last - timedelta(days=d), [])]


def _read(engine: Engine, day: date, words: Extractor) -> dict[str, _Scope]:
    longest = max(PERIODS.values())
    first = day - timedelta(days=2 * longest - 1)
    start, end = bounds(first, day)
    scopes: dict[str, _Scope] = defaultdict(_Scope)
    query = (
        select(Case.district_code, Case.reported_at, Case.title, Case.content)
        .where(Case.reported_at >= start, Case.reported_at < end)
        .order_by(Case.reported_at, Case.case_id)
        .execution_options(yield_per=CHUNK)
    )
    week_start = day - timedelta(days=longest - 1)
    with store_errors(), engine.connect() as conn:
        for row in conn.execute(query):
            reported = row.reported_at.astimezone(CITY_TIME).date()
            text = case_text(row.title, row.content)
            words.remembering(reported >= week_start)
            terms = words.case_terms(text)
            for scope in (row.district_code, CITY):
                scopes[scope].terms[reported].append(terms)
                if reported >= week_start:
                    scopes[scope].texts[reported].append(text)
    return scopes


def compute(engine: Engine, day: date, words: Extractor | None = None) -> dict[tuple[str, str], Ranked]:
    """Every scope's top and rising terms for `day`, by (period, scope)."""
    words = words or extractor()
    ranked: dict[tuple[str, str], Ranked] = {}
    try:
        for scope, found in sorted(_read(engine, day, words).items()):
            for period, days in PERIODS.items():
                now = found.named(day, days)
                if not now:
                    continue
                before = found.named(day - timedelta(days=days), days)
                ranked[(period, scope)] = rank(now, before, words.weights(found.written(day, days)))
    finally:
        words.forget()
    return ranked


def write(engine: Engine, day: date, ranked: dict[tuple[str, str], Ranked], now: datetime) -> int:
    """Replace `day`'s rows with `ranked`; the rows written."""
    rows = [
        {
            "day": day.isoformat(),
            "period": period,
            "scope": scope,
            "scope_cases": r.scope_cases,
            "previous_scope_cases": r.previous_scope_cases,
            "computed_at": now,
            **{k: getattr(t, k) for k in Term.__dataclass_fields__},
        }
        for (period, scope), r in ranked.items()
        for t in r.terms()
    ]
    with store_errors(), engine.begin() as conn:
        conn.execute(delete(Hotspot).where(Hotspot.day == day.isoformat()))
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(Hotspot), rows[i : i + CHUNK])
    return len(rows)


def hotspots_daily(engine: Engine, day: date, words: Extractor | None = None) -> dict[str, Any]:
    """Compute and write `day`; the counts and the city's leading terms (words, no case data)."""
    ranked = compute(engine, day, words)
    written = write(engine, day, ranked, datetime.now(UTC))
    city_day = ranked.get(("day", CITY))
    return {
        "day": day.isoformat(),
        "cases": city_day.scope_cases if city_day else 0,
        "week_cases": ranked[("week", CITY)].scope_cases if ("week", CITY) in ranked else 0,
        "districts": sum(1 for period, scope in ranked if period == "day" and scope != CITY),
        "rows": written,
        "top": [t.term for t in city_day.top[:5]] if city_day else [],
        "rising": [t.term for t in city_day.rising[:5]] if city_day else [],
    }


@dataclass(frozen=True)
class Shown:
    """What the page shows of one scope, period and day."""

    day: str | None
    period: str
    scope: str
    days: tuple[str, ...]
    scopes: tuple[str, ...]
    scope_cases: int
    previous_scope_cases: int
    top: tuple[Term, ...]
    rising: tuple[Term, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "period": self.period,
            "scope": self.scope,
            "days": list(self.days),
            "scopes": list(self.scopes),
            "cases": self.scope_cases,
            "previous_cases": self.previous_scope_cases,
            "top": [_term(t) for t in self.top],
            "rising": [_term(t) for t in self.rising],
        }


def _term(t: Term) -> dict[str, Any]:
    return {k: getattr(t, k) for k in Term.__dataclass_fields__}


def _as_term(row: Any) -> Term:
    return Term(**{k: getattr(row, k) for k in Term.__dataclass_fields__})


def shown(engine: Engine, *, day: date | None = None, period: str = "day", scope: str = CITY) -> Shown:
    """The stored hotspots of `scope` for `period` ending on `day` (the newest day computed when
    none is given)."""
    with store_errors(), engine.connect() as conn:
        days = tuple(
            conn.scalars(select(Hotspot.day).distinct().order_by(Hotspot.day.desc()).limit(90)).all()
        )
        chosen = day.isoformat() if day else (days[0] if days else None)
        scopes = tuple(
            conn.scalars(
                select(Hotspot.scope).where(Hotspot.day == chosen).distinct().order_by(Hotspot.scope)
            ).all()
        )
        rows = conn.execute(
            select(Hotspot).where(Hotspot.day == chosen, Hotspot.period == period, Hotspot.scope == scope)
        ).all()
        totals = conn.execute(
            select(func.max(Hotspot.scope_cases), func.max(Hotspot.previous_scope_cases)).where(
                Hotspot.day == chosen, Hotspot.period == period, Hotspot.scope == scope
            )
        ).one()
    terms = [_as_term(r) for r in rows]
    return Shown(
        day=chosen,
        period=period,
        scope=scope,
        days=days,
        scopes=scopes,
        scope_cases=totals[0] or 0,
        previous_scope_cases=totals[1] or 0,
        top=tuple(sorted((t for t in terms if t.rank), key=_by_rank)),
        rising=tuple(sorted((t for t in terms if t.rising_rank), key=_by_rising)),
    )


def _by_rank(t: Term) -> int:
    return t.rank or 0


def _by_rising(t: Term) -> int:
    return t.rising_rank or 0

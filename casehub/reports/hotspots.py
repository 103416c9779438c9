"""A report's hotspots (热点): the period's top terms per district and for the city, read from the
`hotspots` table that `hotspots_daily` fills (docs/hotspots.md).

The table ranks each day and each rolling week ending on a day, so a report takes what matches
its period:

- a **week** (Monday to Sunday) is exactly the rolling week ending on its Sunday: that day's
  `week` rows, as the job ranked them;
- a **month** has no period of its own in the table: its days' `day` rows are added up, a term's
  cases summed over the days it was among the day's top terms (so a count is the cases of those
  days, never more than the month's), and ordered by those sums, then by the term.

A scope with no rows for the period has no hotspots, and the report says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from casehub.hotspots.store import CITY as CITY_SCOPE
from casehub.reports.period import Period
from casehub.store.models import Hotspot

__all__ = ["CITY_SCOPE", "NONE", "HotTerm", "Hotspots", "read"]

TOP_TERMS = 10


@dataclass(frozen=True)
class HotTerm:
    """One of a scope's hotspots: its place, the term, and the cases naming it."""

    rank: int
    term: str
    cases: int


@dataclass(frozen=True)
class Hotspots:
    """A scope's hotspots for a period, and how many of the period's days the table had."""

    terms: tuple[HotTerm, ...]
    days: int
    """Days computed: of the month's days those with rows, for a week 1 (its Sunday) or 0."""

    def source(self, period: Period) -> str:
        """One line saying what the hotspots are, or that there are none."""
        if not self.terms:
            return "no hotspots computed for this period (the hotspots table holds none for it)"
        if period.kind == "weekly":
            return f"top terms of the week as hotspots_daily ranked them on {period.last.isoformat()}"
        return (
            f"top terms of each day added up, over the {self.days} of {len(period.days())} days "
            "hotspots_daily computed"
        )


NONE = Hotspots((), 0)


def _ranked(counts: dict[str, int]) -> tuple[HotTerm, ...]:
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_TERMS]
    return tuple(HotTerm(n, term, cases) for n, (term, cases) in enumerate(order, start=1))


def read(conn: Connection, period: Period) -> dict[str, Hotspots]:
    """Each scope's hotspots for `period`, by the table's scope (a district code or `CITY_SCOPE`)."""
    h = Hotspot
    if period.kind == "weekly":
        rows = conn.execute(
            select(h.scope, h.term, h.cases).where(
                h.period == "week", h.day == period.last.isoformat(), h.rank.is_not(None)
            )
        )
        weekly: defaultdict[str, dict[str, int]] = defaultdict(dict)
        for scope, term, cases in rows:
            weekly[str(scope)][str(term)] = int(cases)
        return {scope: Hotspots(_ranked(counts), 1) for scope, counts in weekly.items()}
    within = (
        h.period == "day",
        h.day >= period.first.isoformat(),
        h.day <= period.last.isoformat(),
        h.rank.is_not(None),
    )
    summed: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for scope, term, cases in conn.execute(
        select(h.scope, h.term, func.sum(h.cases)).where(*within).group_by(h.scope, h.term)
    ):
        summed[str(scope)][str(term)] = int(cases)
    days = {
        str(scope): int(n)
        for scope, n in conn.execute(
            select(h.scope, func.count(func.distinct(h.day))).where(*within).group_by(h.scope)
        )
    }
    return {scope: Hotspots(_ranked(counts), days.get(scope, 0)) for scope, counts in summed.items()}

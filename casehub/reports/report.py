"""One efficiency report: the city-wide overview ranking the districts, or one district's report
with its handling units — assembled from a period's figures (`casehub.reports.figures`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from casehub.normalize import iso
from casehub.reference import Reference
from casehub.reports.figures import CITY, TOP, Figures, Tally
from casehub.reports.hotspots import CITY_SCOPE, NONE, HotTerm
from casehub.reports.period import Period


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    cases: int


@dataclass(frozen=True)
class Report:
    """What one file set (`<scope>.html|csv|pdf|json`) says."""

    period: Period
    scope: str
    """`city` or a district code."""
    title: str
    summary: Tally
    rows: tuple[Tally, ...]
    """The districts, ranked (city), or the district's handling units."""
    units: tuple[Tally, ...]
    """The city departments' units (city); empty for a district, whose rows are its units."""
    daily: tuple[tuple[date, int], ...]
    top_categories: tuple[Category, ...]
    hotspots: tuple[HotTerm, ...]
    hotspots_source: str
    """What the hotspots are (`casehub.reports.hotspots`), or that none were computed."""
    generated_at: datetime

    @property
    def is_city(self) -> bool:
        return self.scope == CITY

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": {
                "kind": self.period.kind,
                "name": self.period.name,
                "first_day": self.period.first.isoformat(),
                "last_day": self.period.last.isoformat(),
            },
            "scope": self.scope,
            "title": self.title,
            "summary": self.summary.as_dict(),
            "districts" if self.is_city else "units": [row.as_dict() for row in self.rows],
            **({"city_units": [u.as_dict() for u in self.units]} if self.is_city else {}),
            "received_per_day": [{"day": day.isoformat(), "cases": n} for day, n in self.daily],
            "top_categories": [c.__dict__ for c in self.top_categories],
            "hotspots": [h.__dict__ for h in self.hotspots],
            "hotspots_source": self.hotspots_source,
            "generated_at": iso(self.generated_at),
        }


def from_dict(data: Mapping[str, Any]) -> Report:
    """A report as its JSON file holds it, to show it again (the pages)."""
    period = Period.parse(data["period"]["kind"], data["period"]["name"])
    rows = data["districts"] if data["scope"] == CITY else data["units"]
    return Report(
        period,
        str(data["scope"]),
        str(data["title"]),
        Tally.from_dict(data["summary"]),
        tuple(Tally.from_dict(row) for row in rows),
        tuple(Tally.from_dict(row) for row in data.get("city_units", [])),
        tuple((date.fromisoformat(d["day"]), int(d["cases"])) for d in data["received_per_day"]),
        tuple(Category(**c) for c in data["top_categories"]),
        tuple(HotTerm(**h) for h in data["hotspots"] if "term" in h),
        str(data["hotspots_source"]),
        datetime.fromisoformat(data["generated_at"]),
    )


def _rank_key(tally: Tally) -> tuple[Any, ...]:
    """Best first: on-time closure rate, closure rate, satisfaction, then more cases received."""

    def desc(value: float | None) -> float:
        return -value if value is not None else 1.0

    return (
        desc(tally.on_time_rate),
        desc(tally.closure_rate),
        desc(tally.satisfaction_rate),
        -tally.received,
        tally.code,
    )


def _unit_key(tally: Tally) -> tuple[Any, ...]:
    return (-tally.due, -tally.received, tally.code)


def reports(figures: Figures, reference: Reference, generated_at: datetime) -> list[Report]:
    """The city overview first, then each district's report."""
    period = figures.period
    ranked = sorted(figures.districts.values(), key=_rank_key)
    for n, tally in enumerate(ranked, start=1):
        tally.rank = n
    found = [
        Report(
            period,
            CITY,
            f"武汉市民呼我应效能通报 {period.title}",
            figures.city,
            tuple(ranked),
            tuple(
                sorted(
                    (
                        u
                        for code, u in figures.units.items()
                        if figures.unit_district.get(code) is None and u.active
                    ),
                    key=_unit_key,
                )
            ),
            _daily(figures, CITY),
            _categories(figures, CITY, reference),
            *_hotspots(figures, CITY_SCOPE),
            generated_at,
        )
    ]
    for code, tally in sorted(figures.districts.items()):
        units = sorted(
            (u for key, u in figures.units.items() if figures.unit_district.get(key) == code and u.active),
            key=_unit_key,
        )
        found.append(
            Report(
                period,
                code,
                f"{tally.name}民呼我应效能通报 {period.title}",
                tally,
                tuple(units),
                (),
                _daily(figures, code),
                _categories(figures, code, reference),
                *_hotspots(figures, code),
                generated_at,
            )
        )
    return found


def _daily(figures: Figures, scope: str) -> tuple[tuple[date, int], ...]:
    counts: Mapping[date, int] = figures.daily.get(scope, {})
    return tuple((day, counts.get(day, 0)) for day in figures.period.days())


def _top(counts: Any) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]


def _categories(figures: Figures, scope: str, reference: Reference) -> tuple[Category, ...]:
    def name(code: str) -> str:
        category = reference.categories.get(code)
        return f"{category.major_name} · {category.name}" if category else code

    return tuple(Category(code, name(code), n) for code, n in _top(figures.categories.get(scope, {})))


def _hotspots(figures: Figures, scope: str) -> tuple[tuple[HotTerm, ...], str]:
    found = figures.hotspots.get(scope, NONE)
    return found.terms, found.source(figures.period)

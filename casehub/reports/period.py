"""A report's period: a calendar month or an ISO week, in Asia/Shanghai.

A period is named the way its files are (`2026-11`, `2026-W47`) and covers [start, end) in city
time: a month from the 1st at 00:00 to the next 1st, a week from Monday 00:00 to the next Monday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from casehub.normalize import SHANGHAI

KINDS = ("monthly", "weekly")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, order=True)
class Period:
    kind: str
    first: date
    """The period's first day."""
    last: date
    """The period's last day (inclusive)."""

    @property
    def name(self) -> str:
        if self.kind == "monthly":
            return f"{self.first:%Y-%m}"
        year, week, _ = self.first.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def title(self) -> str:
        """`2026年11月` or `2026年第47周 (11-16 – 11-22)`."""
        if self.kind == "monthly":
            return f"{self.first.year}年{self.first.month}月"
        year, week, _ = self.first.isocalendar()
        return f"{year}年第{week}周（{self.first:%m-%d} – {self.last:%m-%d}）"

    start: datetime = field(init=False, repr=False, compare=False)
    """00:00 of the first day, city time (in UTC)."""
    end: datetime = field(init=False, repr=False, compare=False)
    """00:00 after the last day, city time (in UTC)."""

    def __post_init__(self) -> None:
        # Fixed once: each case of a period is classified against these two instants.
        start = datetime.combine(self.first, time(0), tzinfo=SHANGHAI).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=SHANGHAI).astimezone(UTC)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @classmethod
    def parse(cls, kind: str, name: str) -> Period:
        """The period `name` of `kind`; `ValueError` naming what is wrong."""
        if kind == "monthly" and (m := _MONTH.fullmatch(name)):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise ValueError(f"{name}: no such month")
            return month_of(date(year, month, 1))
        if kind == "weekly" and (m := _WEEK.fullmatch(name)):
            try:
                monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            except ValueError:
                raise ValueError(f"{name}: no such ISO week") from None
            return cls("weekly", monday, monday + timedelta(days=6))
        shape = "YYYY-MM" if kind == "monthly" else "YYYY-Www"
        raise ValueError(f"{name!r} is not a {kind} period ({shape})")

    @classmethod
    def before(cls, kind: str, moment: datetime) -> Period:
        """The last whole period of `kind` ended by `moment` (city time): what a run reports."""
        today = moment.astimezone(SHANGHAI).date()
        if kind == "monthly":
            return month_of((today.replace(day=1)) - timedelta(days=1))
        monday = today - timedelta(days=today.weekday())
        return cls("weekly", monday - timedelta(days=7), monday - timedelta(days=1))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("monthly", first, following - timedelta(days=1))

"""Deadlines (办理期限) in working days on the mainland China calendar.

A time limit (办理时限) is counted in working days (工作日): weekends and the statutory holidays
do not count, and the Saturdays or Sundays the State Council moves into a working week (调休上班)
do. The calendar is the `chinesecalendar` package (`chinese_calendar`), which carries the State
Council's announcements for the years it knows. For a year it does not know yet (the
announcement comes each November), days are counted Monday to Friday and a warning says so; the
deadline is then at most a holiday's length off, which a supervisor can see and correct.

The limit is the channel's own when it sends one (the hotline's BLSX), otherwise the row of
`schemas/reference/deadlines.csv` for the case's nature and grade. The receipt day itself is not
counted, whatever the hour: a case received on Monday with one working day is due on Tuesday.
It is due at the close of business of its last working day, 18:00 Asia/Shanghai, the hour
government offices stop answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import chinese_calendar

from casehub.enrich.rules import MAX_WORKING_DAYS, Rules
from casehub.errors import Reason
from casehub.normalize import SHANGHAI, iso
from casehub.reasons import Code

CLOSE_OF_BUSINESS = time(18, 0)
"""When a deadline falls on its last working day, Asia/Shanghai local time."""

SOURCE = "source"
"""The rule id recorded when the channel's own time limit was used."""


def working_day(day: date) -> tuple[bool, bool]:
    """Whether `day` is a working day, and whether the official calendar knew its year."""
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


@lru_cache(maxsize=8192)
def add_working_days(start: date, days: int) -> tuple[date, bool]:
    """The `days`-th working day after `start` (not counting `start`), and whether the
    official calendar knew every day passed on the way."""
    day, known, counted = start, True, 0
    while counted < days:
        day += timedelta(days=1)
        works, day_known = working_day(day)
        known = known and day_known
        counted += works
    return day, known


@dataclass(frozen=True)
class Deadline:
    working_days: int
    deadline_at: str | None
    rule: str
    calendar_known: bool
    warnings: list[Reason]

    def event(self) -> dict[str, Any]:
        return {
            "kind": "deadline",
            "working_days": self.working_days,
            "deadline_at": self.deadline_at,
            "rule": self.rule,
            "calendar": "official" if self.calendar_known else "weekdays_only",
        }


def _due(received_at: object, days: int) -> tuple[datetime, bool] | None:
    """Close of business on the last working day after an ISO 8601 time with offset, and
    whether the calendar knew the way there; None for a value that is no such time, or one so
    near the end of the calendar that the count would run off it."""
    if not isinstance(received_at, str):
        return None
    try:
        start = datetime.fromisoformat(received_at)
        if start.tzinfo is None:
            return None
        last, known = add_working_days(start.astimezone(SHANGHAI).date(), days)
    except (ValueError, OverflowError):
        return None
    return datetime.combine(last, CLOSE_OF_BUSINESS, tzinfo=SHANGHAI), known


def _source_days(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKING_DAYS:
        return value
    return None


def deadline(
    received_at: object, time_limit_days: object, nature: object, grade: str, rules: Rules
) -> Deadline:
    """The case's time limit in working days and the moment it runs out.

    `received_at` is the case's ISO time; a value that is not one leaves the deadline empty
    with a warning rather than inventing a start.
    """
    warnings: list[Reason] = []
    days = _source_days(time_limit_days)
    if days is not None:
        rule = SOURCE
    else:
        if time_limit_days is not None:
            warnings.append(
                Reason(
                    code=str(Code.INVALID_VALUE),
                    field="time_limit_days",
                    message="time_limit_days: not a whole number of days from 1 to 365; "
                    "the table's limit is used",
                )
            )
        found = rules.deadline_rule(nature if isinstance(nature, str) else "", grade)
        days, rule = found.working_days, found.rule_id
    due = _due(received_at, days)
    if due is None:
        warnings.append(
            Reason(
                code=str(Code.INVALID_TIME),
                field="received_at",
                message="received_at: not a time with offset within the calendar; no deadline set",
            )
        )
        return Deadline(days, None, rule, True, warnings)
    moment, known = due
    if not known:
        warnings.append(
            Reason(
                code=str(Code.CALENDAR_UNKNOWN),
                field="deadline_at",
                message="deadline_at: the holiday calendar does not cover these dates yet; "
                "working days counted Monday to Friday",
            )
        )
    return Deadline(days, iso(moment), rule, known, warnings)

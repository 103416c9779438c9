"""Deadlines: working days on the mainland calendar with its adjusted workdays (调休)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.enrich.deadline import add_working_days, deadline, working_day
from casehub.enrich.rules import GRADES, NATURES, load_rules
from casehub.normalize import SHANGHAI

RULES = load_rules()


def due(received_at: str, days: int | None = 5, nature: str = "complaint", grade: str = "B") -> datetime:
    found = deadline(received_at, days, nature, grade, RULES)
    assert found.deadline_at is not None
    return datetime.fromisoformat(found.deadline_at)


def test_the_calendar_knows_the_pinned_years() -> None:
    """chinesecalendar 1.11.0 carries the State Council's announcements for 2004 to 2026."""
    assert chinese_calendar.is_holiday(date(2004, 1, 1))
    assert chinese_calendar.is_workday(date(2026, 10, 10))  # a Saturday worked for National Day
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


def test_the_receipt_day_is_not_counted_and_the_deadline_is_close_of_business() -> None:
    assert due("2025-03-03T08:00:00+08:00", 1) == datetime(2025, 3, 4, 18, 0, tzinfo=SHANGHAI)
    assert due("2025-03-07T20:00:00+08:00", 1) == datetime(2025, 3, 10, 18, 0, tzinfo=SHANGHAI)


def test_the_day_is_the_local_day_in_shanghai() -> None:
    """16:30 UTC on a Sunday is already Monday in Wuhan, so Tuesday is the first working day."""
    assert due("2025-03-09T16:30:00+00:00", 1) == datetime(2025, 3, 11, 18, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("workday", ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"])
def test_an_adjusted_weekend_workday_counts(workday: str) -> None:
    day = date.fromisoformat(workday)
    assert day.weekday() >= 5 and day in chinese_calendar.get_workdays(day, day)
    assert add_working_days(day - timedelta(days=1), 1) == (day, True)


def test_spring_festival_2025_is_skipped_and_its_saturday_worked() -> None:
    """Received on Friday 24 January 2025: Sunday the 26th is worked, then 28 January to 4
    February are the holiday, and Saturday 8 February is worked again."""
    assert due("2025-01-24T10:00:00+08:00", 2).date() == date(2025, 1, 27)
    assert due("2025-01-24T10:00:00+08:00", 3).date() == date(2025, 2, 5)
    assert due("2025-01-24T10:00:00+08:00", 5).date() == date(2025, 2, 7)
    assert due("2025-01-24T10:00:00+08:00", 6).date() == date(2025, 2, 8)


def test_national_day_2026() -> None:
    assert due("2026-09-30T10:00:00+08:00", 1).date() == date(2026, 10, 8)


def test_the_channels_own_limit_wins_over_the_table() -> None:
    found = deadline("2025-03-03T08:00:00+08:00", 2, "suggestion", "D", RULES)
    assert (found.working_days, found.rule) == (2, "source")
    table = deadline("2025-03-03T08:00:00+08:00", None, "suggestion", "D", RULES)
    assert (table.working_days, table.rule) == (15, "suggestion")


def test_an_unknown_year_counts_monday_to_friday_with_a_warning() -> None:
    found = deadline("2026-12-28T09:00:00+08:00", 5, "complaint", "B", RULES)
    assert found.deadline_at == "2027-01-04T18:00:00+08:00"
    assert [w.code for w in found.warnings] == ["calendar_unknown"]
    assert found.event()["calendar"] == "weekdays_only"


def test_a_limit_outside_the_schema_falls_back_to_the_table_with_a_warning() -> None:
    found = deadline("2025-03-03T08:00:00+08:00", 0, "consult", "A", RULES)
    assert (found.working_days, found.rule) == (1, "consult_community")
    assert [w.code for w in found.warnings] == ["invalid_value"]


@pytest.mark.parametrize(
    "value", [None, "", "yesterday", "2025-03-03T08:00:00", 20250303, "9999-12-31T23:00:00+08:00"]
)
def test_no_start_means_no_deadline_and_a_warning(value: object) -> None:
    found = deadline(value, 5, "complaint", "B", RULES)
    assert found.deadline_at is None
    assert [w.code for w in found.warnings] == ["invalid_time"]


def test_the_table_has_a_limit_for_every_nature_and_grade() -> None:
    for nature in NATURES:
        for grade in GRADES:
            assert 1 <= RULES.deadline_rule(nature, grade).working_days <= 15


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=365),
)
def test_a_deadline_never_falls_on_a_rest_day(received: datetime, days: int) -> None:
    found = deadline(received.isoformat(), days, "complaint", "C", RULES)
    assert found.deadline_at is not None
    moment = datetime.fromisoformat(found.deadline_at)
    assert (
        moment.utcoffset() == moment.astimezone(SHANGHAI).utcoffset()
    )  # +08:00, +09:00 in 1986-1991 summers
    assert moment.time() == time(18, 0)
    assert moment > received
    works, known = working_day(moment.date())
    assert works
    if known:
        assert not chinese_calendar.is_holiday(moment.date())
    else:
        assert moment.weekday() < 5
    assert found.calendar_known == (not found.warnings)


@given(
    st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 9, 30)), st.integers(min_value=1, max_value=20)
)
def test_exactly_n_working_days_lie_between_receipt_and_deadline(start: date, days: int) -> None:
    last, known = add_working_days(start, days)
    if known:
        assert len(chinese_calendar.get_workdays(start + timedelta(days=1), last)) == days

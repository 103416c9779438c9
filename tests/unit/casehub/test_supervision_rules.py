"""Deadline supervision's decision (`casehub.supervision.escalate`): a pure function of a case and
a frozen clock, checked on the real rule table and the mainland calendar, and by properties over
generated tables, cases and moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casehub.enrich import load_rules
from casehub.errors import ConfigurationError
from casehub.normalize import SHANGHAI
from casehub.supervision import (
    LEVELS,
    SupervisionRule,
    SupervisionRules,
    Watched,
    cutoffs,
    escalate,
    lateness,
    load_supervision_rules,
    next_unit,
)

TABLE = load_supervision_rules()


def at(text: str) -> datetime:
    """A moment in Wuhan (`2026-09-30 10:00`) as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


def fired(case: Watched, now: datetime) -> list[str]:
    return [step.rule.rule_id for step in escalate(case, TABLE, now).steps]


def test_the_table_reminds_supervises_raises_and_redispatches() -> None:
    assert [(r.rule_id, r.working_days, r.level, r.action) for r in TABLE.rules] == [
        ("remind_before_deadline", -1, "reminder", "notify"),
        ("supervise_overdue", 0, "supervision", "notify"),
        ("raise_grade_overdue", 3, "escalated", "raise_grade"),
        ("redispatch_overdue", 5, "escalated", "redispatch"),
    ]


def test_a_reminder_comes_the_working_day_before_and_supervision_once_the_deadline_passes() -> None:
    # Due Friday 2026-11-20 18:00; Thursday is the working day before.
    case = Watched("accepted", "A", at("2026-11-20 18:00"))
    assert fired(case, at("2026-11-18 17:00")) == []
    assert fired(case, at("2026-11-19 09:00")) == ["remind_before_deadline"]
    assert fired(case, at("2026-11-20 17:59")) == ["remind_before_deadline"]
    assert fired(case, at("2026-11-20 18:01")) == ["supervise_overdue"]
    # Monday, Tuesday, Wednesday: the third working day after Friday begins on Wednesday.
    assert fired(case, at("2026-11-24 23:00")) == ["supervise_overdue"]
    assert fired(case, at("2026-11-25 00:30")) == ["supervise_overdue", "raise_grade_overdue"]
    assert fired(case, at("2026-11-27 08:00")) == [
        "supervise_overdue",
        "raise_grade_overdue",
        "redispatch_overdue",
    ]


def test_the_national_day_holiday_does_not_count_and_its_adjusted_saturday_does() -> None:
    # Due Wednesday 2026-09-30; 1–7 October are holidays, Saturday 10 October a working day.
    case = Watched("processing", "B", at("2026-09-30 18:00"))
    assert lateness(case.deadline_at, at("2026-10-07 12:00")).days == 0  # type: ignore[arg-type]
    assert fired(case, at("2026-10-07 12:00")) == ["supervise_overdue"]
    assert lateness(case.deadline_at, at("2026-10-09 09:00")).days == 2  # type: ignore[arg-type]
    assert fired(case, at("2026-10-09 09:00")) == ["supervise_overdue"]
    assert fired(case, at("2026-10-10 09:00")) == ["supervise_overdue", "raise_grade_overdue"]
    assert escalate(case, TABLE, at("2026-10-10 09:00")).grade == "C"


def test_a_rule_fires_once_per_deadline_and_again_after_a_postponement() -> None:
    now = at("2026-11-25 10:00")
    case = Watched("accepted", "A", at("2026-11-20 18:00"), frozenset({"supervise_overdue"}))
    assert fired(case, now) == ["raise_grade_overdue"]
    moved = Watched("accepted", "B", at("2026-11-26 18:00"))  # postponed: the rules start again
    assert fired(moved, now) == ["remind_before_deadline"]


@pytest.mark.parametrize("status", ["received", "registered", "completed", "closed", "returned", "cancelled"])
def test_a_case_whose_deadline_does_not_run_is_left_alone(status: str) -> None:
    assert fired(Watched(status, "A", at("2026-11-01 18:00")), at("2026-12-20 10:00")) == []
    assert fired(Watched("accepted", "A", None), at("2026-12-20 10:00")) == []


def test_the_next_level_is_the_street_office_then_the_district_dispatch_centre() -> None:
    rules = load_rules()
    community = next(u for u in rules.units.values() if u.kind == "community")
    district = str(community.district_code)
    street = next_unit(community.code, district, rules)
    assert street is not None and street.kind == "street_office"
    assert street.region_code == str(community.region_code)[:9]
    centre = next_unit(street.code, district, rules)
    assert centre == rules.dispatch_unit(district)
    assert next_unit(centre.code, district, rules) is None
    assert next_unit("city.dispatch", district, rules) is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (SupervisionRule("early", "*", -2, "reminder", "raise_grade"), "a reminder only notifies"),
        (SupervisionRule("late", "*", 2, "reminder", "notify"), "reminders, and only they"),
        (SupervisionRule("bad", "E", 2, "supervision", "notify"), "grade"),
        (SupervisionRule("bad", "*", 2, "loud", "notify"), "level"),
        (SupervisionRule("bad", "*", 2, "supervision", "shout"), "action"),
    ],
)
def test_a_broken_table_is_refused_naming_its_row(row: SupervisionRule, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SupervisionRules.of([row])


# --- properties ---------------------------------------------------------------------------------

GRADES = st.sampled_from("ABCD")
MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(UTC)
)


@st.composite
def tables(draw: st.DrawFn) -> SupervisionRules:
    rows = []
    for n in range(draw(st.integers(0, 6))):
        days = draw(st.integers(-5, 12))
        if days < 0:
            rows.append(
                SupervisionRule(f"r{n}", draw(st.sampled_from([*"ABCD", "*"])), days, "reminder", "notify")
            )
        else:
            level = draw(st.sampled_from(LEVELS[1:]))
            action = draw(st.sampled_from(["notify", "raise_grade", "redispatch"]))
            rows.append(SupervisionRule(f"r{n}", draw(st.sampled_from([*"ABCD", "*"])), days, level, action))
    return SupervisionRules.of(rows)


def after(case: Watched, table: SupervisionRules, now: datetime) -> Watched:
    """The case as the store holds it once the escalation at `now` is applied."""
    result = escalate(case, table, now)
    status = "dispatched" if result.redispatch else case.status
    return Watched(
        status, result.grade, case.deadline_at, case.fired | {s.rule.rule_id for s in result.steps}
    )


@settings(max_examples=300, deadline=None)
@given(tables(), GRADES, MOMENTS, st.integers(-30 * 24, 60 * 24))
def test_applying_an_escalation_leaves_nothing_to_fire_at_the_same_moment(table, grade, due, hours) -> None:
    case = Watched("accepted", grade, due)
    now = due + timedelta(hours=hours)
    assert escalate(after(case, table, now), table, now).steps == ()


@settings(max_examples=300, deadline=None)
@given(tables(), GRADES, MOMENTS, st.integers(-30 * 24, 60 * 24), st.integers(0, 30 * 24))
def test_supervising_late_catches_up_with_supervising_on_time_but_for_reminders(
    table, grade, due, hours, gap
) -> None:
    """Two runs (t1, then t2) and one run at t2 fire the same rules and leave the same grade,
    except the reminders the late run no longer sends once the deadline has passed."""
    case = Watched("accepted", grade, due)
    t1 = due + timedelta(hours=hours)
    t2 = t1 + timedelta(hours=gap)
    twice = after(after(case, table, t1), table, t2)
    once = after(case, table, t2)
    reminders = {r.rule_id for r in table.rules if r.level == "reminder"}
    assert once.fired <= twice.fired
    assert twice.fired - once.fired <= reminders
    assert once.grade == twice.grade


@settings(max_examples=300, deadline=None)
@given(tables(), GRADES, MOMENTS, st.integers(-30 * 24, 60 * 24), st.integers(0, 30 * 24))
def test_the_level_reached_never_falls_as_time_goes_on(table, grade, due, hours, gap) -> None:
    case = Watched("accepted", grade, due)
    t1 = due + timedelta(hours=hours)
    first = after(case, table, t1)
    rank = {r.rule_id: LEVELS.index(r.level) for r in table.rules}
    later = after(first, table, t1 + timedelta(hours=gap))
    assert max((rank[r] for r in later.fired), default=-1) >= max((rank[r] for r in first.fired), default=-1)
    assert "ABCD".index(later.grade) >= "ABCD".index(first.grade)


@settings(max_examples=300, deadline=None)
@given(tables(), GRADES, MOMENTS, st.integers(-30 * 24, 60 * 24), st.integers(0, 40))
def test_a_postponed_deadline_never_escalates_further(table, grade, due, hours, days) -> None:
    now = due + timedelta(hours=hours)
    sooner = after(Watched("accepted", grade, due), table, now)
    later = after(Watched("accepted", grade, due + timedelta(days=days)), table, now)
    overdue_rules = {r.rule_id for r in table.rules if r.working_days >= 0}
    assert later.fired & overdue_rules <= sooner.fired & overdue_rules


@settings(max_examples=200, deadline=None)
@given(tables(), GRADES, MOMENTS, st.integers(-30 * 24, 60 * 24))
def test_the_stores_cut_offs_select_exactly_the_deadlines_a_rule_reaches(table, grade, due, hours) -> None:
    """The job finds its candidates by each rule's range of deadlines; the range must agree with
    the decision, or a case would be missed (or read for nothing)."""
    now = due + timedelta(hours=hours)
    ranges = cutoffs(table, now)
    late = lateness(due, now)
    for rule in table.rules:
        start, before = ranges[rule.rule_id]
        inside = due < before and (start is None or due >= start)
        assert inside == rule.reached(late), rule

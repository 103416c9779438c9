"""Grades follow the taxonomy, and critical (特急) cases go one level up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.grading import GRADES, grade
from casehub.reference import Category


def category(default_grade: str) -> Category:
    return Category(
        code="080001",
        name="医疗纠纷",
        major_code="08",
        major_name="卫生健康",
        default_grade=default_grade,
        health_related=True,
    )


@pytest.mark.parametrize(("default", "expected"), [("A", "B"), ("B", "C"), ("C", "D"), ("D", "D")])
def test_critical_goes_one_level_up_at_most_to_the_city(default: str, expected: str) -> None:
    assert grade(category(default), "critical") == expected


@given(st.sampled_from(GRADES), st.sampled_from(["normal", "urgent", None]))
def test_other_urgencies_keep_the_default(default: str, urgency: str | None) -> None:
    assert grade(category(default), urgency) == default


@given(st.sampled_from(GRADES), st.sampled_from(["normal", "urgent", "critical", None]))
def test_never_lower_and_never_more_than_one_level_higher(default: str, urgency: str | None) -> None:
    step = GRADES.index(grade(category(default), urgency)) - GRADES.index(default)
    assert step in (0, 1)


def test_broken_taxonomy_grade_is_refused() -> None:
    with pytest.raises(ValueError, match="default grade"):
        grade(category("E"), None)

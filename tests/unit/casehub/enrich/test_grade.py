"""Grading by rule: what the case shows adjusts the taxonomy's default; critical goes one level up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.enrich.grade import TAXONOMY_DEFAULT, grade, raise_for_urgency
from casehub.enrich.rules import GRADES, NATURES, SCOPES, load_rules
from casehub.reference import load_reference

REFERENCE = load_reference()
RULES = load_rules()
MINORS = sorted(REFERENCE.categories)


def graded(
    minor: str, nature: str = "complaint", scope: str = "district", urgency: str | None = None
) -> tuple[str, str]:
    found = grade(REFERENCE.categories[minor], nature, scope, urgency, RULES)
    return found.grade, found.rule


@pytest.mark.parametrize(
    ("minor", "nature", "scope", "expected"),
    [
        ("020001", "complaint", "district", ("A", TAXONOMY_DEFAULT)),  # 占道经营, as the hotline sends it
        ("070001", "help", "district", ("B", TAXONOMY_DEFAULT)),  # 拖欠工资
        ("070001", "help", "community", ("A", "community_first")),
        ("010005", "report", "community", ("B", "street_summons_in_community")),  # 工地安全隐患
        ("010005", "report", "street", ("B", "street_summons")),
        ("010005", "report", "district", ("C", TAXONOMY_DEFAULT)),
        ("020001", "complaint", "city", ("D", "cross_district")),
        ("190003", "praise", "district", ("A", "praise_where_it_arose")),  # 涉外事务, D by default
        ("030001", "report", "community", ("B", "polluter_reported")),  # 餐饮油烟污染
        ("030001", "complaint", "community", ("A", TAXONOMY_DEFAULT)),
        ("180003", "report", "community", ("C", "discipline_above_the_unit")),  # 基层党组织
        ("180003", "report", "city", ("D", "discipline_cross_district")),
    ],
)
def test_rules_of_the_table(minor: str, nature: str, scope: str, expected: tuple[str, str]) -> None:
    assert graded(minor, nature, scope) == expected


@pytest.mark.parametrize(("base", "raised"), [("A", "B"), ("B", "C"), ("C", "D"), ("D", "D")])
def test_critical_goes_one_level_up_at_most_to_the_city(base: str, raised: str) -> None:
    assert raise_for_urgency(base, "critical") == raised
    assert raise_for_urgency(base, "urgent") == base


def test_the_event_says_which_rule_and_whether_urgency_raised_it() -> None:
    found = grade(REFERENCE.categories["070001"], "help", "community", "critical", RULES)
    assert found.event() == {
        "kind": "graded",
        "grade": "B",
        "rule": "community_first",
        "scope": "community",
        "raised_for_urgency": True,
    }


@given(
    st.sampled_from(MINORS),
    st.sampled_from(NATURES),
    st.sampled_from(SCOPES),
    st.sampled_from(["normal", "urgent", "critical", None]),
)
def test_every_case_gets_a_grade_and_critical_is_one_step(
    minor: str, nature: str, scope: str, urgency: str | None
) -> None:
    category = REFERENCE.categories[minor]
    found = grade(category, nature, scope, urgency, RULES)
    calm = grade(category, nature, scope, None, RULES)
    assert found.grade in GRADES
    assert found.rule == calm.rule
    assert found.grade == (raise_for_urgency(calm.grade, "critical") if urgency == "critical" else calm.grade)
    if calm.rule == TAXONOMY_DEFAULT:
        assert calm.grade == category.default_grade


@given(st.sampled_from(MINORS), st.sampled_from(NATURES), st.sampled_from(SCOPES))
def test_a_matter_across_districts_is_never_below_the_district(minor: str, nature: str, scope: str) -> None:
    if nature != "praise":
        assert graded(minor, nature, "city")[0] in ("C", "D")

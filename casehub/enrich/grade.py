"""Grading (分级): which level of government handles a case, A community to D city.

The taxonomy gives each category the level that holds the powers to act on it
(`default_grade`). `schemas/reference/grading.csv` adjusts that by what the case shows: the
nature of the request and how far it reaches (its scope, `casehub.enrich.place`). A matter that
sits inside one community is led by that community even where the street would hold the powers
(社区吹哨, the community calls the street in); a matter across district lines goes to the city;
thanks are passed on where they arose; discipline matters never go to the level they may
concern. When no rule matches, the taxonomy's default stands.

A case the channel marks critical (特急) is then handled one level up, because the lower level
lacks the powers to act at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casehub.enrich.rules import GRADES, Rules
from casehub.reference import Category

TAXONOMY_DEFAULT = "taxonomy_default"
"""The rule id recorded when no row of grading.csv matched."""


@dataclass(frozen=True)
class Grading:
    grade: str
    rule: str
    scope: str
    raised: bool

    def event(self) -> dict[str, Any]:
        return {
            "kind": "graded",
            "grade": self.grade,
            "rule": self.rule,
            "scope": self.scope,
            "raised_for_urgency": self.raised,
        }


def raise_for_urgency(grade: str, urgency: object) -> str:
    """One level up for `critical` urgency, at most to the city (D)."""
    if urgency != "critical":
        return grade
    return GRADES[min(GRADES.index(grade) + 1, len(GRADES) - 1)]


def grade(category: Category, nature: object, scope: str, urgency: object, rules: Rules) -> Grading:
    """The case's grade and the rule that gave it."""
    found = rules.grading_rule(
        category.code,
        category.major_code,
        nature if isinstance(nature, str) else "",
        scope,
        category.default_grade,
    )
    base = found.grade if found is not None else category.default_grade
    graded = raise_for_urgency(base, urgency)
    return Grading(
        grade=graded,
        rule=found.rule_id if found is not None else TAXONOMY_DEFAULT,
        scope=scope,
        raised=graded != base,
    )

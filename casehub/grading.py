"""Grading (分级): which level of government handles a case.

A community 社区处置, B street 街道, C district 区级, D city 市级 / cross-district. A category
carries its default grade in the taxonomy (`schemas/reference/taxonomy.csv`); a case the channel
marks as critical (特急) is handled one level up, because the lower level lacks the powers to act
at once.
"""

from __future__ import annotations

from casehub.reference import Category

GRADES = ("A", "B", "C", "D")


def grade(category: Category, urgency: str | None) -> str:
    """The case's grade: the category's default, one level higher for `critical` urgency."""
    try:
        level = GRADES.index(category.default_grade)
    except ValueError:
        raise ValueError(f"category {category.code} has no valid default grade") from None
    if urgency == "critical":
        level = min(level + 1, len(GRADES) - 1)
    return GRADES[level]

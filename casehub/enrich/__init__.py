"""Enrichment: an accepted case classified, graded, routed and given a deadline.

Each step is a pure function over the reference data and the rule tables in
`schemas/reference/` (docs/enrichment.md describes them):

    classify   channel's category code → taxonomy minor, health flag    (crosswalk CSVs)
    grade      category × nature × scope (+ critical urgency) → A–D     (grading.csv)
    route      category × grade × district → handling unit              (routing.csv, units.csv)
    deadline   nature × grade → working days → due time                 (deadlines.csv)

`enrich` is total: for any case a connector's mapper produces it returns an enriched case, one
history event per step and warnings for what it had to assume; it never raises. The events
carry codes and rule ids only, never the reporter or the case's text, so they may go to logs
and partners as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from casehub.enrich.classify import classify
from casehub.enrich.deadline import deadline
from casehub.enrich.grade import grade
from casehub.enrich.place import locate
from casehub.enrich.route import route
from casehub.enrich.rules import Rules, load_rules
from casehub.errors import Reason
from casehub.reference import Reference

__all__ = ["Enriched", "Rules", "enrich", "load_rules"]


@dataclass(frozen=True)
class Enriched:
    """The enriched case, the history events of its enrichment, and the warnings it raised.

    `case` is the input with `category`, `health_related`, `grade`, `assigned_unit` (a unit
    code of units.csv), `time_limit_days` and `deadline_at` filled in.
    """

    case: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[Reason]


def enrich(case: Mapping[str, Any], reference: Reference, rules: Rules | None = None) -> Enriched:
    """Classify, grade, route and time one case; see the module docstring for the steps."""
    rules = rules if rules is not None else load_rules()
    classification = classify(case.get("channel"), case.get("source_category"), reference)
    category = classification.category
    place, place_warnings = locate(case, reference)
    grading = grade(category, case.get("nature"), place.scope, case.get("urgency"), rules)
    routing = route(category, grading.grade, place, rules)
    due = deadline(
        case.get("received_at"), case.get("time_limit_days"), case.get("nature"), grading.grade, rules
    )
    enriched = dict(case)
    enriched.update(
        {
            "category": category.code,
            "health_related": category.health_related,
            "grade": grading.grade,
            "assigned_unit": routing.unit.code,
            "time_limit_days": due.working_days,
            "deadline_at": due.deadline_at,
        }
    )
    return Enriched(
        case=enriched,
        events=[classification.event(), grading.event(), routing.event(), due.event()],
        warnings=[*classification.warnings, *place_warnings, *due.warnings],
    )

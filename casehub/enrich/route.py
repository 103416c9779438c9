"""Routing (派遣): the handling unit (承办单位) of a graded case.

The grade says at which level a case is handled, `schemas/reference/routing.csv` says which
department owns its category there, and `schemas/reference/units.csv` names the units:
- A → the case's community; B → its street office. Where the codes do not show that community
  or street (the hotline knows only the district), the district's dispatch centre (分拨中心)
  takes the case and passes it down, since a guess would send it to the wrong door.
- C → the district's unit of the owning department (城市管理 → the district's urban
  management bureau, 生态环境 → the ecology bureau's district branch, …).
- D → the city's unit of the owning department (市城管执法委, 市卫健委, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from casehub.enrich.place import Place
from casehub.enrich.rules import COMMUNITY, STREET_OFFICE, Rules, Unit
from casehub.reference import Category


@dataclass(frozen=True)
class Routing:
    unit: Unit
    rule: str

    def event(self) -> dict[str, Any]:
        return {"kind": "routed", "unit": self.unit.code, "unit_kind": self.unit.kind, "rule": self.rule}


def _territorial(department: str, place: Place, rules: Rules) -> Unit:
    """The community or street office that the place shows, the district's dispatch otherwise."""
    codes = [place.community_code, place.street_code] if department == COMMUNITY else [place.street_code]
    for code in codes:
        unit = rules.territorial_units.get(code) if code else None
        if unit is not None:
            return unit
    return rules.dispatch_unit(place.district_code)


def route(category: Category, grade: str, place: Place, rules: Rules) -> Routing:
    """The unit that handles a case of `category` at `grade` in `place`, and the rule used."""
    rule = rules.routing_rule(category.code, category.major_code, grade, place.district_code)
    if rule.department in (COMMUNITY, STREET_OFFICE):
        unit = _territorial(rule.department, place, rules)
    elif grade == "D":
        unit = rules.city_units[rule.department]
    else:
        unit = rules.district_units.get((place.district_code, rule.department)) or rules.dispatch_unit(
            place.district_code
        )
    return Routing(unit=unit, rule=rule.rule_id)

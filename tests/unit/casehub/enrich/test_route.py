"""Routing: every category at every grade in every district reaches a unit of the grade's level."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.enrich.place import Place
from casehub.enrich.route import route
from casehub.enrich.rules import GRADES, load_rules
from casehub.reference import load_reference

REFERENCE = load_reference()
RULES = load_rules()
MINORS = sorted(REFERENCE.categories)
DISTRICTS = sorted(REFERENCE.districts)
COMMUNITIES = sorted(code for code, region in REFERENCE.regions.items() if region.level == "community")
STREETS = sorted(code for code, region in REFERENCE.regions.items() if region.level == "street")


def district_only(district: str) -> Place:
    return Place(district, None, None, "district")


def in_community(code: str) -> Place:
    street = REFERENCE.regions[code].parent_code
    assert street is not None
    return Place(code[:6], street, code, "community")


def unit_of(minor: str, grade: str, place: Place) -> tuple[str, str, str]:
    found = route(REFERENCE.categories[minor], grade, place, RULES)
    return found.unit.code, found.unit.kind, found.rule


def test_every_minor_grade_and_district_routes_to_a_unit_of_its_level() -> None:
    for minor, grade, district in itertools.product(MINORS, GRADES, DISTRICTS):
        found = route(REFERENCE.categories[minor], grade, district_only(district), RULES)
        unit = found.unit
        assert RULES.units[unit.code] == unit
        if grade == "D":
            assert unit.kind == "city_department", (minor, grade, district)
        else:
            assert unit.kind in ("district_department", "urban_management"), (minor, grade, district)
            assert unit.district_code == district
        if grade in "AB":
            assert unit.department == "dispatch"


@given(
    st.sampled_from(MINORS),
    st.sampled_from(GRADES),
    st.one_of(st.sampled_from(COMMUNITIES), st.sampled_from(STREETS)),
)
def test_a_known_place_gets_its_own_community_or_street_office(minor: str, grade: str, code: str) -> None:
    region = REFERENCE.regions[code]
    street = code if region.level == "street" else region.parent_code
    community = code if region.level == "community" else None
    place = Place(code[:6], street, community, region.level)
    unit = route(REFERENCE.categories[minor], grade, place, RULES).unit
    expected = {
        "A": ("community", community) if community else ("street_office", street),
        "B": ("street_office", street),
    }
    if grade in expected:
        assert (unit.kind, unit.region_code) == expected[grade]
    elif grade == "C":
        assert unit.kind in ("district_department", "urban_management")
        assert unit.district_code == code[:6]
    else:
        assert unit.kind == "city_department"


@pytest.mark.parametrize(
    ("minor", "grade", "expected"),
    [
        ("020001", "C", ("district.420106.urban_management", "urban_management", "urban_management")),
        ("020001", "D", ("city.urban_management", "city_department", "urban_management")),
        ("030003", "C", ("district.420106.ecology", "district_department", "ecology")),
        ("080009", "D", ("city.health", "city_department", "health")),
        ("040016", "C", ("district.420106.traffic_police", "district_department", "illegal_parking")),
        ("190004", "C", ("district.420106.dispatch", "district_department", "dispatch")),
        ("190004", "D", ("city.dispatch", "city_department", "dispatch")),
    ],
)
def test_owning_department(minor: str, grade: str, expected: tuple[str, str, str]) -> None:
    assert unit_of(minor, grade, district_only("420106")) == expected


def test_grade_a_goes_to_the_community_and_b_to_its_street_office() -> None:
    place = in_community("420102001002")
    assert unit_of("100001", "A", place) == ("community.420102001002", "community", "community")
    assert unit_of("100001", "B", place) == ("street.420102001", "street_office", "street_office")


def test_the_event_names_the_unit_and_its_kind() -> None:
    found = route(REFERENCE.categories["020001"], "C", district_only("420102"), RULES)
    assert found.event() == {
        "kind": "routed",
        "unit": "district.420102.urban_management",
        "unit_kind": "urban_management",
        "rule": "urban_management",
    }
    assert found.unit.name == "江岸区城市管理执法局"

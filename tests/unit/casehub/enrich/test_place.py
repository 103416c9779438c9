"""Place and scope: the finest known code locates a case; foreign codes mean a cross-district matter."""

from __future__ import annotations

from typing import Any

from casehub.enrich.place import locate
from casehub.reference import load_reference

REFERENCE = load_reference()
GRID, COMMUNITY, STREET = "42010200100102", "420102001001", "420102001"


def case(**place: Any) -> dict[str, Any]:
    return {
        "district_code": "420102",
        "street_code": None,
        "community_code": None,
        "grid_code": None,
        **place,
    }


def test_only_a_district_is_district_scope() -> None:
    place, warnings = locate(case(), REFERENCE)
    assert (place.scope, place.street_code, place.community_code, warnings) == ("district", None, None, [])


def test_a_grid_gives_its_community_and_street() -> None:
    place, _ = locate(case(grid_code=GRID), REFERENCE)
    assert (place.scope, place.community_code, place.street_code) == ("community", COMMUNITY, STREET)


def test_a_street_alone_is_street_scope() -> None:
    place, _ = locate(case(street_code=STREET), REFERENCE)
    assert (place.scope, place.community_code, place.street_code) == ("street", None, STREET)


def test_the_finest_code_wins_over_a_disagreeing_street() -> None:
    place, _ = locate(case(street_code="420102002", community_code=COMMUNITY), REFERENCE)
    assert place.street_code == STREET


def test_codes_in_another_district_make_a_cross_district_matter() -> None:
    place, warnings = locate(case(district_code="420103", community_code=COMMUNITY), REFERENCE)
    assert (place.scope, place.district_code, place.community_code, warnings) == ("city", "420103", None, [])


def test_an_unknown_code_is_ignored_with_a_warning() -> None:
    place, warnings = locate(case(street_code="420102999", community_code="4201020019"), REFERENCE)
    assert place.scope == "district"
    assert [(w.code, w.field) for w in warnings] == [
        ("unknown_region", "community_code"),
        ("unknown_region", "street_code"),
    ]
    assert all("420102999" not in w.message for w in warnings)

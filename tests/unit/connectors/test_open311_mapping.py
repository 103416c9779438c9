"""A landed Open311 service request becomes a valid unified case placed by its point or its
address, or is quarantined with every defect named; the mapping is a pure function."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casehub.contract import case_contract
from casehub.enrich import enrich
from casehub.errors import InvalidRecord
from casehub.identity import case_id
from casehub.reference import Reference, load_reference
from connectors.open311 import MAPPER
from connectors.open311.mapping import NEAREST_COMMUNITY_METRES, place_point

RECEIVED_AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TOKEN = "0f" * 16


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def landed(**changes: Any) -> dict[str, Any]:
    """A request as the gateway lands it: the checked form, its token and its time."""
    request: dict[str, Any] = {
        "token": TOKEN,
        "key_id": "a1b2c3d4e5f6",
        "requested_datetime": "2026-12-01T09:30:00+08:00",
        "service_code": "020015",
        "description": "解放大道路口的路灯不亮\n已经三天了",
        "lat": 30.6248,
        "long": 114.3152,
        "address_string": "江岸区解放大道1000号",
        "first_name": "明",
        "last_name": "张",
        "phone": "13800138000",
        "media_url": None,
        "attributes": [{"code": "hazard", "description": "是否存在安全隐患", "value": "是 yes"}],
    }
    request.update(changes)
    return request


def test_a_request_is_a_valid_case_of_its_service_in_the_community_nearest_its_point(
    reference: Reference,
) -> None:
    case = MAPPER.to_case(landed(), reference, received_at=RECEIVED_AT)
    enriched = enrich(case, reference).case
    assert case_contract().problems(enriched) == []
    assert case["case_id"] == case_id("open311", TOKEN) and case["source_status"] == "open"
    assert (case["status"], case["nature"], case["source_category"]) == ("received", "help", "020015")
    assert enriched["category"] == "020015", "the service code is the taxonomy's own"
    assert case["district_code"] == "420102" and case["community_code"].startswith(case["street_code"])
    assert (case["lng"], case["lat"], case["source_crs"]) == (114.3152, 30.6248, "EPSG:4326")
    assert case["title"] == "解放大道路口的路灯不亮"
    assert case["content"].endswith("是否存在安全隐患：是 yes"), "the service's answers follow the text"
    assert case["reporter"] == {"name": "张明", "phone": "+8613800138000", "id_number": None}
    assert case["reported_at"] == "2026-12-01T09:30:00+08:00"


def test_without_a_point_the_address_places_the_case_in_the_district_it_names(reference: Reference) -> None:
    case = MAPPER.to_case(
        landed(lat=None, long=None, address_string="汉阳区钟家村附近"), reference, received_at=RECEIVED_AT
    )
    assert case["district_code"] == "420105" and case["street_code"] is None and case["lng"] is None


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"lat": None, "long": None, "address_string": "某个地方"}, ["unknown_district"]),
        ({"lat": None, "long": None, "address_string": None}, ["missing_field"]),
        ({"lat": 39.9, "long": 116.4}, ["outside_city"]),
        ({"lat": "north", "long": 114.3}, ["invalid_coordinates"]),
        ({"service_code": "999999"}, ["unknown_category"]),
        ({"description": ""}, ["missing_field"]),
        ({"phone": "12345"}, ["invalid_phone"]),
        ({"token": ""}, ["missing_id"]),
    ],
)
def test_a_defective_request_names_its_defects(
    reference: Reference, changes: dict[str, Any], codes: list[str]
) -> None:
    with pytest.raises(InvalidRecord) as refused:
        MAPPER.to_case(landed(**changes), reference, received_at=RECEIVED_AT)
    assert [r.code for r in refused.value.reasons] == codes


@settings(max_examples=60, deadline=None)
@given(lng=st.floats(113.68, 115.08), lat=st.floats(29.97, 31.37))
def test_every_point_of_the_city_is_placed_in_a_district_and_near_its_community(
    lng: float, lat: float
) -> None:
    reference = load_reference()
    district, street, community = place_point(reference, lng, lat)
    assert reference.regions[district].level == "district"
    if community is not None:
        found = reference.regions[community]
        assert found.parent_code == street and reference.regions[street].parent_code == district
        assert abs(found.lng - lng) < NEAREST_COMMUNITY_METRES / 80_000 + 0.01

"""A transfer becomes urban management's CreateCase: the hub's case id as the external number,
local times, coordinates back in EPSG:4547 to the centimetre, the unified category, the system's
urgency words, and no personal data; an event that cannot be one is refused naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from casehub.geo import CITY_BOUNDS, to_wgs84
from casehub.ports import OutboundEvent
from connectors.kit.events import EventDataError
from connectors.urban_mgmt import EVENT_RENDERER

GEOD = Geod(ellps="WGS84")
DATA: dict[str, Any] = {
    "title": "解放大道暴露垃圾未清运",
    "content": "解放大道与三阳路交叉口路边有暴露垃圾，已三天未清运。",
    "category": "020001",
    "category_name": "暴露垃圾",
    "address": "江岸区解放大道与三阳路交叉口",
    "district_code": "420102",
    "street_code": "420102003",
    "community_code": None,
    "grid_code": None,
    "lng": 114.3,
    "lat": 30.6,
    "reported_at": "2025-03-09T02:00:00Z",
    "deadline_at": "2025-03-12T18:00:00+08:00",
    "urgency": "urgent",
}


def event(kind: str = "transfer", **data: Any) -> OutboundEvent:
    return OutboundEvent(
        event_id="0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        partner="urban_mgmt",
        kind=kind,
        case_id="252f98ec-e0d8-57ea-8238-31111914adcf",
        case_version=2,
        target=None,
        source_id="WH20250303000123",
        data={**DATA, **data},
        created_at=datetime(2025, 3, 9, 10, 0, tzinfo=UTC),
    )


def test_a_transfer_renders_create_case() -> None:
    assert EVENT_RENDERER.partner == "urban_mgmt"
    rendered = EVENT_RENDERER.render(event())
    assert {name: value for name, value in rendered.items() if name not in ("CoordX", "CoordY")} == {
        "EventId": "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "ExternalNo": "252f98ec-e0d8-57ea-8238-31111914adcf",
        "Title": "解放大道暴露垃圾未清运",
        "Description": "解放大道与三阳路交叉口路边有暴露垃圾，已三天未清运。",
        "UnifiedCategoryCode": "020001",
        "UnifiedCategoryName": "暴露垃圾",
        "Address": "江岸区解放大道与三阳路交叉口",
        "DistrictCode": "420102",
        "StreetCode": "420102003",
        "CommunityCode": None,
        "GridCode": None,
        "ReportTime": "2025-03-09 10:00:00",
        "DeadlineTime": "2025-03-12 18:00:00",
        "Urgency": "紧急",
    }
    assert (rendered["CoordX"], rendered["CoordY"]) == ("528770.24", "3386666.25")


@given(
    st.floats(min_value=CITY_BOUNDS[0], max_value=CITY_BOUNDS[2]),
    st.floats(min_value=CITY_BOUNDS[1], max_value=CITY_BOUNDS[3]),
)
def test_coordinates_come_back_to_the_point_the_mapper_reads(lng: float, lat: float) -> None:
    rendered = EVENT_RENDERER.render(event(lng=lng, lat=lat))
    back = to_wgs84(float(rendered["CoordX"]), float(rendered["CoordY"]), "EPSG:4547")
    _, _, metres = GEOD.inv(lng, lat, *back)
    assert metres < 0.15  # centimetres one way, 6 decimals (about 0.1 m) the other


def test_a_case_without_a_place_or_a_deadline_sends_neither() -> None:
    rendered = EVENT_RENDERER.render(event(lng=None, lat=None, deadline_at=None, urgency=None))
    assert (rendered["CoordX"], rendered["CoordY"], rendered["DeadlineTime"], rendered["Urgency"]) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"kind": "dispatch"}, "kind"),
        ({"title": ""}, "data.title"),
        ({"content": None}, "data.content"),
        ({"category": "0200"}, "data.category"),
        ({"category": "０２０００１"}, "data.category"),
        ({"address": 42}, "data.address"),
        ({"reported_at": None}, "data.reported_at"),
        ({"reported_at": "2025-03-09 10:00:00"}, "data.reported_at"),
        ({"deadline_at": "下周三"}, "data.deadline_at"),
        ({"lat": None}, "data.lng/data.lat"),
        ({"lng": True}, "data.lng/data.lat"),
        ({"lng": float("nan")}, "data.lng/data.lat"),
        ({"lng": 200.0}, "data.lng/data.lat"),
        ({"urgency": "紧急"}, "data.urgency"),
    ],
)
def test_an_event_that_is_no_transfer_is_refused_naming_the_field(
    changes: Mapping[str, Any], named: str
) -> None:
    fields = dict(changes)
    kind = fields.pop("kind", "transfer")
    with pytest.raises(EventDataError) as refused:
        EVENT_RENDERER.render(event(kind, **fields))
    assert refused.value.field == named
    assert "下周三" not in str(refused.value)


def test_personal_data_in_the_event_does_not_reach_urban_management() -> None:
    plain = EVENT_RENDERER.render(event())
    personal = {
        "reporter_name": "刘旭",
        "reporter_phone": "18045667651",
        "reporter_id_number": "420102199001011234",
    }
    rendered = EVENT_RENDERER.render(event(**personal))
    assert rendered == plain
    assert not set(personal.values()) & {str(value) for value in rendered.values()}


def test_a_transfer_masks_the_numbers_in_its_text_and_keeps_the_address_for_the_inspector() -> None:
    rendered = EVENT_RENDERER.render(
        event(
            title="垃圾未清运，电话13912345678",
            content="联系人身份证420102199001011234，座机027-85123456。",
            address="江岸区解放大道1000号门前",
        )
    )
    assert rendered["Title"] == "垃圾未清运，电话139****5678"
    assert rendered["Description"] == "联系人身份证420102***********4，座机027****3456。"
    assert rendered["Address"] == "江岸区解放大道1000号门前"

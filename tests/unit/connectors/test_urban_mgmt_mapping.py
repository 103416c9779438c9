"""A digital urban management case file becomes a valid unified case, or is quarantined with every
defect named; its coordinates come back to the metre whichever order the partner wrote them in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer

from casehub.contract import case_contract, case_schema
from casehub.enrich import enrich
from casehub.errors import InvalidRecord
from casehub.geo import CITY_BOUNDS
from casehub.identity import case_id
from casehub.reference import Reference, load_reference
from connectors.urban_mgmt import MAPPER
from connectors.urban_mgmt.mapping import UrbanMgmtMapper
from tests.samples import case_file

RECEIVED_AT = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
SAMPLE_POINT = (114.2821, 30.5826)
"""The WGS-84 point the sample's CoordX/CoordY were projected from."""
WITHIN_METRES = 0.5
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


@cache
def _projection() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def metres(lng: float, lat: float) -> tuple[str, str]:
    """(CoordX, CoordY) as the partner writes them: easting, northing, to the centimetre."""
    easting, northing = _projection().transform(lng, lat)
    return f"{easting:.2f}", f"{northing:.2f}"


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two WGS-84 points on the ellipsoid."""
    _, _, apart = GEOD.inv(a[0], a[1], b[0], b[1])
    return float(apart)


def mapped(raw: Mapping[str, Any], reference: Reference) -> dict[str, Any]:
    return MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)


def reasons(raw: Mapping[str, Any], reference: Reference) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRecord) as caught:
        mapped(raw, reference)
    return [(reason.code, reason.field) for reason in caught.value.reasons]


def test_a_clean_case_file_is_a_valid_case_once_enriched(reference: Reference) -> None:
    case = mapped(case_file(), reference)
    enriched = enrich(case, reference)
    assert case_contract().problems(enriched.case) == []
    assert enriched.warnings == []
    assert enriched.case["category"] == reference.crosswalk("urban_mgmt", "category")["部件:0102"]
    assert case["case_id"] == case_id("urban_mgmt", "CG261120000358")
    assert (case["channel"], case["source_id"]) == ("urban_mgmt", "CG261120000358")
    assert (case["source_status"], case["status"]) == ("08", "closed")
    assert case["source_category"] == "部件:0102"
    assert case["nature"] == "complaint"
    assert case["title"] == "污水井盖：友谊路58号门前"
    assert case["content"] == case_file()["Description"]
    assert case["address"] == "江汉区民族街道友谊路58号门前"
    assert (case["district_code"], case["street_code"], case["community_code"], case["grid_code"]) == (
        "420103",
        "420103001",
        "420103001001",
        "42010300100101",
    )
    assert case["source_crs"] == "EPSG:4547"
    assert distance((case["lng"], case["lat"]), SAMPLE_POINT) < WITHIN_METRES
    assert case["reporter"] == {"name": "李娟", "phone": "+8613907123456", "id_number": None}
    assert case["urgency"] is None
    assert case["time_limit_days"] == 2
    assert case["result"] == "已更换新井盖，恢复正常。"  # full-width punctuation as written
    assert case["reported_at"] == "2026-11-20T08:30:00+08:00"
    assert case["updated_at"] == case["closed_at"] == "2026-11-21T18:10:00+08:00"
    assert case["received_at"] == "2026-11-21T18:30:00+08:00"
    assert "version" not in case


def test_every_schema_property_but_version_is_present(reference: Reference) -> None:
    assert set(mapped(case_file(), reference)) == set(case_schema()["properties"]) - {"version"}


def test_the_hub_routes_and_the_progress_log_stays_in_the_raw_record(reference: Reference) -> None:
    """Neither the partner's department nor its steps make the case: a log that says anything
    else maps to the same case, and the unit is enrichment's."""
    case = mapped(case_file(), reference)
    assert case["assigned_unit"] is None
    other_log = {"Step": [{"StepTime": "", "StatusCode": "01", "Department": "别处", "Note": ""}]}
    assert mapped(case_file(Progress=other_log, Department="别处"), reference) == case
    assert mapped(case_file(Progress=""), reference) == case
    assert enrich(case, reference).case["assigned_unit"] != case_file()["Department"]


def test_an_event_is_keyed_by_its_four_digits(reference: Reference) -> None:
    raw = case_file(CaseType="事件", CategoryCode="0502", MajorName="街面秩序", MinorName="店外经营")
    case = mapped(raw, reference)
    category = reference.crosswalk("urban_mgmt", "category")["事件:0502"]
    assert (case["source_category"], enrich(case, reference).case["category"]) == ("事件:0502", category)


def test_a_supervisors_report_has_no_reporter(reference: Reference) -> None:
    raw = case_file(
        SourceCode="01", SourceName="监督员上报", ReporterName="", ReporterPhone="", SupervisorId="JDY03012"
    )
    case = mapped(raw, reference)
    assert case["reporter"] == {"name": None, "phone": None, "id_number": None}
    assert case["nature"] == "report"
    assert "JDY03012" not in json.dumps(case, ensure_ascii=False)
    assert case_contract().problems(enrich(case, reference).case) == []


def test_a_case_file_without_a_place_has_no_coordinates(reference: Reference) -> None:
    case = mapped(case_file(CoordX="", CoordY=""), reference)
    assert (case["lng"], case["lat"], case["source_crs"]) == (None, None, None)


def test_the_surveyors_order_is_read_the_right_way_round(reference: Reference) -> None:
    raw = case_file()
    swapped = mapped(case_file(CoordX=raw["CoordY"], CoordY=raw["CoordX"]), reference)
    assert (swapped["lng"], swapped["lat"]) == (mapped(raw, reference)["lng"], mapped(raw, reference)["lat"])


def test_a_new_open_case_file_has_no_result_or_closing_time(reference: Reference) -> None:
    steps = case_file()["Progress"]["Step"][:1]
    raw = case_file(
        StatusCode="01",
        StatusName="待立案",
        Department="",
        RegisterTime="",
        UpdateTime="2026-11-20 08:30:00",
        CloseTime="",
        Result="",
        Progress={"Step": steps},
    )
    case = mapped(raw, reference)
    assert (case["status"], case["closed_at"], case["result"]) == ("received", None, None)
    assert case_contract().problems(enrich(case, reference).case) == []


@pytest.mark.parametrize(
    ("limit", "unit", "days"),
    [
        ("2", "工作日", 2),
        ("１０", "工作日", 10),
        ("1", "小时", 1),
        ("24", "小时", 1),
        ("25", "小时", 2),
        ("48", "小时", 2),
        ("", "", None),
    ],
)
def test_time_limits_are_whole_working_days(
    reference: Reference, limit: str, unit: str, days: int | None
) -> None:
    """Hours are calendar hours: ceil(hours / 24) working days, and the channel's limit wins."""
    case = mapped(case_file(TimeLimit=limit, TimeLimitUnit=unit), reference)
    assert case["time_limit_days"] == days
    if days is not None:
        assert enrich(case, reference).case["time_limit_days"] == days


@pytest.mark.parametrize(
    ("changes", "title"),
    [
        ({"Address": "武汉市江汉区民族街道友谊路58号门前"}, "污水井盖：友谊路58号门前"),
        ({"Address": "江汉区友谊路58号门前"}, "污水井盖：友谊路58号门前"),
        ({"Address": "友谊路５８号门前"}, "污水井盖：友谊路58号门前"),
        ({"Address": "江汉区"}, "污水井盖：江汉区"),
        ({"MinorName": ""}, "公用设施：友谊路58号门前"),
        ({"MinorName": "", "MajorName": ""}, "部件：友谊路58号门前"),
        ({"Address": "友谊路" + "五" * 60}, "污水井盖：友谊路" + "五" * 36 + "…"),
    ],
)
def test_the_title_is_the_minor_category_and_the_short_address(
    reference: Reference, changes: dict[str, str], title: str
) -> None:
    assert mapped(case_file(**changes), reference)["title"] == title


def test_an_unknown_category_is_left_to_classification(reference: Reference) -> None:
    """A type and code the crosswalk lacks is no defect of the record: the case lands as 其他诉求
    with a warning that the crosswalk needs a row."""
    case = mapped(case_file(CategoryCode="4201030199000358", MinorName="待分类"), reference)
    enriched = enrich(case, reference)
    assert case["source_category"] == "部件:0199"
    assert [w.code for w in enriched.warnings] == ["unmapped_category"]
    assert case_contract().problems(enriched.case) == []


BEIJING = metres(116.397, 39.909)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"CaseNo": ""}, "missing_id", "CaseNo"),
        ({"CaseNo": "CG 261120000358"}, "invalid_id", "CaseNo"),
        ({"Description": ""}, "missing_field", "Description"),
        ({"Address": " "}, "missing_field", "Address"),
        ({"StatusCode": ""}, "missing_field", "StatusCode"),
        ({"StatusCode": "09"}, "unknown_status", "StatusCode"),
        ({"SourceCode": "07"}, "unknown_nature", "SourceCode"),
        ({"SourceCode": ""}, "missing_field", "SourceCode"),
        ({"GridCode": ""}, "missing_field", "GridCode"),
        ({"GridCode": "4201030010010"}, "invalid_value", "GridCode"),
        ({"GridCode": "4201030010010A"}, "invalid_value", "GridCode"),
        ({"GridCode": "11010500100101"}, "unknown_district", "GridCode"),
        ({"GridCode": "42010399900101"}, "unknown_grid", "GridCode"),
        ({"GridCode": "42010300190001"}, "unknown_grid", "GridCode"),
        ({"GridCode": "42010300100199"}, "unknown_grid", "GridCode"),
        ({"CaseType": ""}, "missing_field", "CaseType"),
        ({"CaseType": "设施"}, "invalid_value", "CaseType"),
        ({"CategoryCode": ""}, "missing_field", "CategoryCode"),
        ({"CategoryCode": "420103010200035"}, "invalid_category_code", "CategoryCode"),
        ({"CategoryCode": "42010301020003581"}, "invalid_category_code", "CategoryCode"),
        ({"CategoryCode": "4201020102000358"}, "invalid_category_code", "CategoryCode"),
        ({"CaseType": "事件", "CategoryCode": "05021"}, "invalid_category_code", "CategoryCode"),
        ({"CoordX": BEIJING[0], "CoordY": BEIJING[1]}, "outside_city", "CoordX/CoordY"),
        ({"CoordX": BEIJING[1], "CoordY": BEIJING[0]}, "outside_city", "CoordX/CoordY"),
        ({"CoordX": ""}, "invalid_coordinates", "CoordX/CoordY"),
        ({"CoordY": "3384732,79"}, "invalid_coordinates", "CoordX/CoordY"),
        ({"CoordX": "5.27e5"}, "invalid_coordinates", "CoordX/CoordY"),
        ({"ReporterPhone": "110"}, "invalid_phone", "ReporterPhone"),
        ({"TimeLimit": "0"}, "invalid_value", "TimeLimit"),
        ({"TimeLimit": "两"}, "invalid_value", "TimeLimit"),
        ({"TimeLimit": "9000", "TimeLimitUnit": "小时"}, "invalid_value", "TimeLimit"),
        ({"TimeLimitUnit": ""}, "missing_field", "TimeLimitUnit"),
        ({"TimeLimitUnit": "天"}, "invalid_value", "TimeLimitUnit"),
        ({"ReportTime": ""}, "missing_field", "ReportTime"),
        ({"ReportTime": "2026-02-30 08:00:00"}, "invalid_time", "ReportTime"),
        ({"UpdateTime": "yesterday"}, "invalid_time", "UpdateTime"),
        ({"CloseTime": "2026-11-21"}, "invalid_time", "CloseTime"),
        ({"Result": "\x00"}, "invalid_value", "Result"),
    ],
)
def test_each_defect_has_its_reason(
    reference: Reference, changes: dict[str, str], code: str, field: str
) -> None:
    assert reasons(case_file(**changes), reference) == [(code, field)]


def test_every_defect_of_a_case_file_is_reported(reference: Reference) -> None:
    raw = case_file(
        Description="",
        StatusCode="09",
        GridCode="42010300100199",
        CategoryCode="420103010200035",
        CoordX=BEIJING[0],
        CoordY=BEIJING[1],
        ReporterPhone="1391234567",
        CloseTime="x",
    )
    assert sorted(reasons(raw, reference)) == [
        ("invalid_category_code", "CategoryCode"),
        ("invalid_phone", "ReporterPhone"),
        ("invalid_time", "CloseTime"),
        ("missing_field", "Description"),
        ("outside_city", "CoordX/CoordY"),
        ("unknown_grid", "GridCode"),
        ("unknown_status", "StatusCode"),
    ]


def test_reasons_never_contain_the_values(reference: Reference) -> None:
    bad_phone = "13912345"
    raw = case_file(ReporterPhone=bad_phone, GridCode="42010300100199", CoordX="x1", StatusCode="挂起")
    with pytest.raises(InvalidRecord) as caught:
        mapped(raw, reference)
    written = str(caught.value) + json.dumps([r.as_dict() for r in caught.value.reasons], ensure_ascii=False)
    for value in (bad_phone, "李娟", "42010300100199", "x1", "挂起", raw["Address"]):
        assert value not in written


def test_key_is_case_number_and_update_time() -> None:
    key = MAPPER.key(case_file())
    assert key.source_id == "CG261120000358"
    assert key.updated_at == datetime(2026, 11, 21, 10, 10, tzinfo=UTC)


def test_key_without_number_or_time_is_invalid() -> None:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.key(case_file(CaseNo="", UpdateTime="2026-13-01 00:00:00"))
    assert [(r.code, r.field) for r in caught.value.reasons] == [
        ("missing_id", "CaseNo"),
        ("invalid_time", "UpdateTime"),
    ]


def test_mapping_is_deterministic(reference: Reference) -> None:
    first = UrbanMgmtMapper().to_case(case_file(), reference, received_at=RECEIVED_AT)
    assert UrbanMgmtMapper().to_case(case_file(), reference, received_at=RECEIVED_AT) == first


REASON_CODES = {
    "missing_id",
    "invalid_id",
    "missing_field",
    "unknown_status",
    "unknown_nature",
    "unknown_district",
    "unknown_grid",
    "invalid_category_code",
    "invalid_coordinates",
    "outside_city",
    "invalid_phone",
    "invalid_time",
    "invalid_value",
}
FIELDS = sorted(case_file())
values = st.one_of(
    st.just(""),
    st.text(max_size=20),
    st.from_regex(r"[0-9]{1,17}(\.[0-9]{1,3})?", fullmatch=True),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
names = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, values))
def test_key_and_mapping_raise_only_invalid_record_for_any_dict(
    reference: Reference, raw: dict[str, Any]
) -> None:
    found: set[str] = set()
    for call in (lambda: MAPPER.key(raw), lambda: mapped(raw, reference)):
        try:
            call()
        except InvalidRecord as error:
            found |= {r.code for r in error.reasons}
    assert found <= REASON_CODES


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), values))
def test_any_values_give_a_valid_case_or_reasons(reference: Reference, changes: dict[str, Any]) -> None:
    """Whatever the system sends in its elements, the mapper answers with a case that is valid
    once enriched, or a quarantine with the registry's codes."""
    try:
        case = mapped(case_file(**changes), reference)
    except InvalidRecord as error:
        found = {r.code for r in error.reasons}
    else:
        found = set()
        assert case_contract().problems(enrich(case, reference).case) == []
    assert found <= REASON_CODES


west, south, east, north = CITY_BOUNDS
wuhan = st.tuples(st.floats(west, east), st.floats(south, north))


@settings(max_examples=300, deadline=None)
@given(wuhan, st.booleans())
def test_coordinates_come_back_within_half_a_metre(
    reference: Reference, point: tuple[float, float], surveyors_order: bool
) -> None:
    easting, northing = metres(*point)
    x, y = (northing, easting) if surveyors_order else (easting, northing)
    case = mapped(case_file(CoordX=x, CoordY=y), reference)
    assert case["source_crs"] == "EPSG:4547"
    assert distance((case["lng"], case["lat"]), point) < WITHIN_METRES


elsewhere = st.tuples(st.floats(112.5, 115.5), st.floats(22.0, 45.0)).filter(
    lambda p: not (west <= p[0] <= east and south <= p[1] <= north)
)


@settings(max_examples=200, deadline=None)
@given(elsewhere, st.booleans())
def test_a_point_outside_wuhan_is_never_read_into_it(
    reference: Reference, point: tuple[float, float], surveyors_order: bool
) -> None:
    """The surveyors' order is corrected only where it cannot be anything else: no point of the
    coordinate system outside the city lands in it, in either order."""
    easting, northing = metres(*point)
    x, y = (northing, easting) if surveyors_order else (easting, northing)
    found = {code for code, _ in reasons(case_file(CoordX=x, CoordY=y), reference)}
    assert found in ({"outside_city"}, {"invalid_coordinates"})

"""A message board message becomes a valid unified case, or is quarantined with every defect named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import prcoords
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from casehub.enrich import enrich
from casehub.errors import InvalidRecord
from casehub.identity import case_id
from casehub.paths import SCHEMAS_DIR
from casehub.reference import Reference, load_reference
from connectors.message_board import MAPPER
from connectors.message_board.mapping import MessageBoardMapper
from tests.samples import board_message

RECEIVED_AT = datetime(2024, 1, 3, 2, 0, tzinfo=UTC)
CREATED_MS, UPDATED_MS, REPLIED_MS = 1704160800000, 1704245400000, 1704243600000
NICKNAME, PHONE = "江城老李", "18672345678"
WUHAN = (114.305, 30.593)  # WGS-84, 江汉路
BAIDU = prcoords.wgs_bd((WUHAN[1], WUHAN[0]))
VALIDATOR = Draft202012Validator(
    json.loads((SCHEMAS_DIR / "case.schema.json").read_text(encoding="utf-8")),
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def message(**changes: Any) -> dict[str, Any]:
    """A replied message as MessageBoardSource returns it, at this module's times and place."""
    fixed = {
        "createTime": CREATED_MS,
        "updateTime": UPDATED_MS,
        "replyTime": REPLIED_MS,
        "nickName": NICKNAME,
        "phone": f"+86 {PHONE}",
        "longitude": BAIDU.lon,
        "latitude": BAIDU.lat,
    }
    return board_message(**{**fixed, **changes})


def reasons(raw: Mapping[str, Any], reference: Reference) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    return [(reason.code, reason.field) for reason in caught.value.reasons]


def test_valid_message_is_a_valid_case(reference: Reference) -> None:
    case = MAPPER.to_case(message(), reference, received_at=RECEIVED_AT)
    assert list(VALIDATOR.iter_errors(enrich(case, reference).case)) == []
    assert case["case_id"] == case_id("message_board", "880123")
    assert (case["source_id"], case["source_status"], case["status"]) == ("880123", "已回复", "completed")
    assert (case["nature"], case["source_category"]) == ("help", "102")
    category = reference.crosswalk("message_board", "category")["102"]
    assert enrich(case, reference).case["category"] == category
    assert case["category"] is case["grade"] is case["assigned_unit"] is None, "the hub decides those"
    assert case["district_code"] == "420103"
    assert case["reporter"] == {"name": NICKNAME, "phone": f"+86{PHONE}", "id_number": None}
    assert case["source_crs"] == "BD-09"
    assert case["lng"] == pytest.approx(WUHAN[0], abs=1e-5)
    assert case["lat"] == pytest.approx(WUHAN[1], abs=1e-5)
    assert case["result"] == "江汉区城管执法局：已安排维修人员更换灯具。"
    assert case["reported_at"] == "2024-01-02T10:00:00+08:00"
    assert case["updated_at"] == "2024-01-03T09:30:00+08:00"
    assert case["closed_at"] == "2024-01-03T09:00:00+08:00"
    assert (case["urgency"], case["time_limit_days"], case["satisfaction"]) == (None, None, None)
    assert set(case) == set(VALIDATOR.schema["properties"]) - {"version"}


def test_unpinned_message_has_no_coordinates(reference: Reference) -> None:
    case = MAPPER.to_case(message(longitude=None, latitude=None), reference, received_at=RECEIVED_AT)
    assert (case["lng"], case["lat"], case["source_crs"]) == (None, None, None)
    assert list(VALIDATOR.iter_errors(enrich(case, reference).case)) == []


def test_unanswered_message_is_not_closed(reference: Reference) -> None:
    raw = message(status="已受理", replyContent=None, replyOrg="", replyTime=None)
    case = MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    assert list(VALIDATOR.iter_errors(enrich(case, reference).case)) == []
    assert case["closed_at"] is case["result"] is None


def test_closed_message_is_closed_at_its_reply(reference: Reference) -> None:
    case = MAPPER.to_case(message(status="已关闭"), reference, received_at=RECEIVED_AT)
    assert (case["status"], case["closed_at"]) == ("closed", "2024-01-03T09:00:00+08:00")


def test_string_forms_of_numbers_are_accepted(reference: Reference) -> None:
    raw = message(id="880123", typeId="１０２", createTime=str(CREATED_MS), longitude=str(BAIDU.lon))
    assert MAPPER.to_case(raw, reference, received_at=RECEIVED_AT) == MAPPER.to_case(
        message(), reference, received_at=RECEIVED_AT
    )


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"id": None}, "missing_id", "id"),
        ({"title": ""}, "missing_field", "title"),
        ({"content": None}, "missing_field", "content"),
        ({"status": ""}, "missing_field", "status"),
        ({"typeId": None}, "missing_field", "typeId"),
        ({"status": "已删除"}, "unknown_status", "status"),
        ({"msgType": "闲聊"}, "unknown_nature", "msgType"),
        ({"areaName": "朝阳区"}, "unknown_district", "areaName"),
        ({"phone": "1867234567"}, "invalid_phone", "phone"),
        ({"createTime": "昨天"}, "invalid_time", "createTime"),
        ({"updateTime": -5}, "invalid_time", "updateTime"),
        ({"replyTime": "x"}, "invalid_time", "replyTime"),
        ({"longitude": None}, "invalid_coordinates", "longitude/latitude"),
        ({"latitude": "north"}, "invalid_coordinates", "longitude/latitude"),
        ({"longitude": 116.404, "latitude": 39.915}, "outside_city", "longitude/latitude"),
        ({"longitude": 0.0, "latitude": 0.0}, "outside_city", "longitude/latitude"),
    ],
)
def test_each_defect_has_its_reason(
    reference: Reference, changes: dict[str, Any], code: str, field: str
) -> None:
    assert reasons(message(**changes), reference) == [(code, field)]


def test_every_defect_of_a_record_is_reported(reference: Reference) -> None:
    raw = message(
        title="", typeId="", areaName="朝阳区", phone="1867234567", longitude=116.404, latitude=39.915
    )
    assert sorted(reasons(raw, reference)) == [
        ("invalid_phone", "phone"),
        ("missing_field", "title"),
        ("missing_field", "typeId"),
        ("outside_city", "longitude/latitude"),
        ("unknown_district", "areaName"),
    ]


def test_reasons_never_contain_personal_values(reference: Reference) -> None:
    bad_phone = "1867234567"
    raw = message(phone=bad_phone, createTime="x", areaName="", longitude=116.404, latitude=39.915)
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    written = str(caught.value) + json.dumps([r.as_dict() for r in caught.value.reasons], ensure_ascii=False)
    for personal in (NICKNAME, bad_phone, raw["address"], "116.404", "39.915"):
        assert personal not in written


def test_key_is_id_and_update_time() -> None:
    key = MAPPER.key(message())
    assert key.source_id == "880123"
    assert key.updated_at == datetime(2024, 1, 3, 1, 30, tzinfo=UTC)


def test_key_without_id_or_time_is_invalid() -> None:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.key(message(id="", updateTime=None))
    assert [r.code for r in caught.value.reasons] == ["missing_id", "missing_field"]


def test_mapping_is_deterministic(reference: Reference) -> None:
    first = MessageBoardMapper().to_case(message(), reference, received_at=RECEIVED_AT)
    again = MessageBoardMapper().to_case(message(), reference, received_at=RECEIVED_AT)
    assert first == again


REASON_CODES = {
    "missing_id",
    "invalid_id",
    "missing_field",
    "unknown_status",
    "unknown_nature",
    "unknown_district",
    "invalid_phone",
    "invalid_time",
    "invalid_coordinates",
    "invalid_value",
    "outside_city",
}
json_values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(min_value=-(2**40), max_value=2**45),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(message())), json_values))
def test_any_values_give_a_valid_case_or_reasons(reference: Reference, changes: dict[str, Any]) -> None:
    """Whatever JSON the board sends, the mapper answers with a schema-valid case or a quarantine."""
    try:
        case = MAPPER.to_case(message(**changes), reference, received_at=RECEIVED_AT)
    except InvalidRecord as error:
        found = {r.code for r in error.reasons}
    else:
        found = set()
        assert list(VALIDATOR.iter_errors(enrich(case, reference).case)) == []
    assert found <= REASON_CODES

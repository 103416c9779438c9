"""A hotline work order becomes a valid unified case, or is quarantined with every defect named."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from casehub.enrich import enrich
from casehub.errors import InvalidRecord
from casehub.identity import case_id
from casehub.paths import SCHEMAS_DIR
from casehub.reference import Reference, load_reference
from connectors.hotline import MAPPER
from connectors.hotline.mapping import HotlineMapper

RECEIVED_AT = datetime(2024, 1, 3, 2, 0, tzinfo=UTC)
NAME, PHONE, ID_NUMBER = "欧阳明华", "13912345678", "420102199003071232"
VALIDATOR = Draft202012Validator(
    json.loads((SCHEMAS_DIR / "case.schema.json").read_text(encoding="utf-8")),
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def work_order(**changes: str) -> dict[str, str]:
    """A completed, evaluated work order as HotlineSource returns it."""
    order = {
        "GDBH": "WH20240102000123",
        "LDSJ": "2024-01-02 08:15:00",
        "LDRXM": NAME,
        "LDHM": f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}",
        "LXDH": "",
        "SFZHM": ID_NUMBER,
        "SQLX": "投诉",
        "BT": "楼下餐馆油烟扰民",
        "SQNR": "来电人反映楼下餐馆油烟直排，影响居民生活，希望有关部门处理。",
        "SSQX": "江岸",
        "FSDZ": "武汉市江岸区中山大道1号",
        "YWLBDM": "HL0202",
        "YWLBMC": "餐饮油烟",
        "JJCD": "一般",
        "BLSX": "１０",
        "GDZT": "05",
        "GXSJ": "2024-01-03 09:30:00",
        "BJSJ": "2024-01-03 09:00:00",
        "BLJG": "已责令商户安装油烟净化设备。",
        "MYD": "基本满意",
    }
    return {**order, **changes}


def enriched(case: Mapping[str, Any], reference: Reference) -> dict[str, Any]:
    """The case as the pipeline validates it: mapped, then classified, graded, routed and timed."""
    return enrich(case, reference).case


def reasons(raw: Mapping[str, Any], reference: Reference) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    return [(reason.code, reason.field) for reason in caught.value.reasons]


def test_valid_work_order_is_a_valid_case(reference: Reference) -> None:
    case = MAPPER.to_case(work_order(), reference, received_at=RECEIVED_AT)
    assert list(VALIDATOR.iter_errors(enriched(case, reference))) == []
    assert enriched(case, reference)["category"] == reference.crosswalk("hotline", "category")["HL0202"]
    assert case["category"] is case["grade"] is case["assigned_unit"] is None, "the hub decides those"
    assert case["case_id"] == case_id("hotline", "WH20240102000123")
    assert case["source_status"] == "05"
    assert case["status"] == reference.crosswalk("hotline", "status")["05"]
    assert case["nature"] == "complaint"
    assert case["source_category"] == "HL0202"
    assert case["district_code"] == "420102"
    assert case["reporter"] == {"name": NAME, "phone": f"+86{PHONE}", "id_number": ID_NUMBER}
    assert case["urgency"] == "normal"
    assert case["time_limit_days"] == 10
    assert case["satisfaction"] == "basically_satisfied"
    assert case["reported_at"] == "2024-01-02T08:15:00+08:00"
    assert case["updated_at"] == "2024-01-03T09:30:00+08:00"
    assert case["closed_at"] == "2024-01-03T09:00:00+08:00"
    assert case["received_at"] == "2024-01-03T10:00:00+08:00"
    assert case["supervision"] == []
    assert (case["lng"], case["lat"], case["source_crs"]) == (None, None, None)
    assert "version" not in case


def test_every_schema_property_but_version_is_present(reference: Reference) -> None:
    case = MAPPER.to_case(work_order(), reference, received_at=RECEIVED_AT)
    assert set(case) == set(VALIDATOR.schema["properties"]) - {"version"}


def test_contact_number_wins_over_calling_number(reference: Reference) -> None:
    case = MAPPER.to_case(work_order(LXDH="027-85551234"), reference, received_at=RECEIVED_AT)
    assert case["reporter"]["phone"] == "+862785551234"


def test_open_work_order_has_no_result_yet(reference: Reference) -> None:
    raw = work_order(GDZT="02", BJSJ="", BLJG="", MYD="", SFZHM="", LDRXM="", LDHM="", FSDZ="")
    case = MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    assert list(VALIDATOR.iter_errors(enriched(case, reference))) == []
    assert case["closed_at"] is case["result"] is case["satisfaction"] is None
    assert case["reporter"] == {"name": None, "phone": None, "id_number": None}


@pytest.mark.parametrize(("jjcd", "urgency"), [("一般", "normal"), ("紧急", "urgent"), ("特急", "critical")])
def test_urgency_is_the_hotline_jjcd(reference: Reference, jjcd: str, urgency: str) -> None:
    case = MAPPER.to_case(work_order(JJCD=jjcd), reference, received_at=RECEIVED_AT)
    assert case["urgency"] == urgency


def test_a_category_the_crosswalk_lacks_is_filed_under_other_with_a_warning(reference: Reference) -> None:
    case = MAPPER.to_case(work_order(YWLBDM="HL9999"), reference, received_at=RECEIVED_AT)
    result = enrich(case, reference)
    assert result.case["source_category"] == "HL9999"
    assert reference.categories[result.case["category"]].major_name == "其他"
    assert [(w.code, w.field) for w in result.warnings] == [("unmapped_category", "source_category")]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"GDBH": ""}, "missing_id", "GDBH"),
        ({"BT": ""}, "missing_field", "BT"),
        ({"SQNR": "  "}, "missing_field", "SQNR"),
        ({"GDZT": ""}, "missing_field", "GDZT"),
        ({"YWLBDM": ""}, "missing_field", "YWLBDM"),
        ({"GDZT": "07"}, "unknown_status", "GDZT"),
        ({"SQLX": "闲聊"}, "unknown_nature", "SQLX"),
        ({"SSQX": "朝阳区"}, "unknown_district", "SSQX"),
        ({"LDHM": "1391234567"}, "invalid_phone", "LDHM"),
        ({"LXDH": "110"}, "invalid_phone", "LXDH"),
        ({"SFZHM": "420102199003071239"}, "invalid_id_number", "SFZHM"),
        ({"LDSJ": "2024-02-30 08:00:00"}, "invalid_time", "LDSJ"),
        ({"GXSJ": "yesterday"}, "invalid_time", "GXSJ"),
        ({"BJSJ": "2024-01-03"}, "invalid_time", "BJSJ"),
        ({"JJCD": "很急"}, "invalid_value", "JJCD"),
        ({"BLSX": "0"}, "invalid_value", "BLSX"),
        ({"MYD": "还行"}, "invalid_value", "MYD"),
    ],
)
def test_each_defect_has_its_reason(
    reference: Reference, changes: dict[str, str], code: str, field: str
) -> None:
    assert reasons(work_order(**changes), reference) == [(code, field)]


def test_every_defect_of_a_record_is_reported(reference: Reference) -> None:
    raw = work_order(BT="", YWLBDM="", SSQX="朝阳区", LDHM="1391234567", SFZHM="420102199003071239")
    assert sorted(reasons(raw, reference)) == [
        ("invalid_id_number", "SFZHM"),
        ("invalid_phone", "LDHM"),
        ("missing_field", "BT"),
        ("missing_field", "YWLBDM"),
        ("unknown_district", "SSQX"),
    ]


def test_reasons_never_contain_personal_values(reference: Reference) -> None:
    bad_phone, bad_id = "13912345", "420102199003071239"
    raw = work_order(LDHM=bad_phone, SFZHM=bad_id, LDSJ="x", SSQX="")
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)
    written = str(caught.value) + json.dumps([r.as_dict() for r in caught.value.reasons], ensure_ascii=False)
    for personal in (NAME, bad_phone, bad_id, raw["FSDZ"]):
        assert personal not in written


def test_key_is_number_and_update_time(reference: Reference) -> None:
    key = MAPPER.key(work_order())
    assert key.source_id == "WH20240102000123"
    assert key.updated_at == datetime(2024, 1, 3, 1, 30, tzinfo=UTC)


def test_key_without_number_or_time_is_invalid() -> None:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.key(work_order(GDBH="", GXSJ="2024-13-01 00:00:00"))
    assert [r.code for r in caught.value.reasons] == ["missing_id", "invalid_time"]


def test_mapping_is_deterministic(reference: Reference) -> None:
    first = HotlineMapper().to_case(work_order(), reference, received_at=RECEIVED_AT)
    again = HotlineMapper().to_case(work_order(), reference, received_at=RECEIVED_AT)
    assert first == again


REASON_CODES = {
    "missing_id",
    "invalid_id",
    "missing_field",
    "unknown_status",
    "unknown_nature",
    "unknown_district",
    "invalid_phone",
    "invalid_id_number",
    "invalid_time",
    "invalid_value",
}
text_or_empty = st.one_of(st.just(""), st.text(max_size=20))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(work_order())), text_or_empty))
def test_any_values_give_a_valid_case_or_reasons(reference: Reference, changes: dict[str, str]) -> None:
    """Whatever the hotline sends, the mapper answers with a schema-valid case or a quarantine."""
    try:
        case = MAPPER.to_case(work_order(**changes), reference, received_at=RECEIVED_AT)
    except InvalidRecord as error:
        found = {r.code for r in error.reasons}
    else:
        found = set()
        assert list(VALIDATOR.iter_errors(enriched(case, reference))) == []
    assert found <= REASON_CODES

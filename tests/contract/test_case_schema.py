"""The unified case contract: a valid draft 2020-12 schema that the store and reference data agree with."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from casehub.contract import SCHEMA_PATH, CaseContract
from casehub.reference import load_reference
from casehub.store.models import Case
from connectors.hotline import MAPPER
from tests.samples import work_order

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
PERSONAL_COLUMNS = {"reporter_name", "reporter_phone", "reporter_id_number"}


def _case() -> dict:
    return MAPPER.to_case(work_order(), load_reference(), received_at=datetime(2026, 11, 21, tzinfo=UTC))


def test_schema_is_valid_and_versioned() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith(SCHEMA["x-version"])


def test_every_property_has_a_chinese_label_and_a_description() -> None:
    for name, spec in SCHEMA["properties"].items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in spec["title"]), name
        assert spec["description"], name


def test_cases_table_mirrors_the_schema() -> None:
    columns = {c.name for c in Case.__table__.columns}
    for name in SCHEMA["properties"]:
        if name == "reporter":
            assert columns >= PERSONAL_COLUMNS
        else:
            assert name in columns, name


def test_reference_values_fit_the_schema_enumerations() -> None:
    reference = load_reference()
    statuses = set(SCHEMA["properties"]["status"]["enum"])
    natures = set(SCHEMA["properties"]["nature"]["enum"])
    for (channel, kind), table in reference.crosswalks.items():
        if kind == "status":
            assert set(table.values()) <= statuses, channel
        if kind == "nature":
            assert set(table.values()) <= natures, channel
    contract = CaseContract()
    for district in reference.districts:
        assert contract.problems(_case() | {"district_code": district}) == []
    for category in list(reference.categories)[::23]:
        assert contract.problems(_case() | {"category": category}) == []


def test_errors_point_at_the_field_and_never_echo_the_value() -> None:
    case = _case()
    case["reporter"] = {**case["reporter"], "phone": "13800138000"}
    case["district_code"] = "310101"
    del case["title"]
    problems = CaseContract().problems(case)
    fields = {p.field: p.code for p in problems}
    assert fields == {
        "/reporter/phone": "schema_pattern",
        "/district_code": "schema_pattern",
        "/title": "schema_required",
    }
    assert all("13800138000" not in p.message and "310101" not in p.message for p in problems)


@pytest.mark.parametrize("field", ["reported_at", "updated_at"])
def test_timestamps_must_carry_an_offset(field) -> None:
    case = _case() | {field: "2026-11-20T08:30:00"}
    assert [p.field for p in CaseContract().problems(case)] == [f"/{field}"]

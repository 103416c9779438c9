"""The unified case contract: a valid draft 2020-12 schema that the store and reference data agree with."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from casehub.contract import SCHEMA_PATH, CaseContract
from casehub.enrich import enrich
from casehub.reference import load_reference
from casehub.store.models import Case
from connectors.hotline import MAPPER
from tests.samples import work_order

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
PERSONAL_COLUMNS = {"reporter_name", "reporter_phone", "reporter_id_number"}


def _case() -> dict:
    """A work order as the pipeline validates it: mapped, then enriched."""
    reference = load_reference()
    mapped = MAPPER.to_case(work_order(), reference, received_at=datetime(2026, 11, 21, tzinfo=UTC))
    return enrich(mapped, reference).case


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
    assert {p.field for p in CaseContract().problems(case)} == {f"/{field}"}


def _resolved(spec: dict) -> dict:
    """A property's keywords with its `$ref` target's merged in (the target's first)."""
    if "$ref" not in spec:
        return spec
    target = SCHEMA["$defs"][spec["$ref"].rsplit("/", 1)[1]]
    return {**_resolved(target), **{k: v for k, v in spec.items() if k != "$ref"}}


def _limits() -> list[tuple[str, str, object]]:
    """(JSON pointer, keyword, a value just past it) for every limit the schema sets on a field."""
    found = []
    properties = [(f"/{name}", spec) for name, spec in SCHEMA["properties"].items()]
    reporter = SCHEMA["properties"]["reporter"]["properties"]
    properties += [(f"/reporter/{name}", spec) for name, spec in reporter.items()]
    for pointer, spec in properties:
        rules = _resolved(spec)
        if "maxLength" in rules:
            found.append((pointer, "maxLength", "字" * (rules["maxLength"] + 1)))
        if rules.get("minLength", 0) >= 1:
            found.append((pointer, "minLength", ""))
        if "pattern" in rules and "format" not in rules:
            found.append((pointer, "pattern", "？"))
        if "format" in rules:
            found.append((pointer, "format", "2026-13-45T25:61:00+08:00"))
        if "enum" in rules:
            found.append((pointer, "enum", "not_one_of_them"))
        if "minimum" in rules:
            found.append((pointer, "minimum", rules["minimum"] - 1))
        if "maximum" in rules:
            found.append((pointer, "maximum", rules["maximum"] + 1))
        if "type" in rules:
            found.append((pointer, "type", {"an": "object"} if "object" not in rules["type"] else 1.5))
    return found


def _with(case: dict, pointer: str, value: object) -> dict:
    changed = json.loads(json.dumps(case))
    *parents, name = pointer.strip("/").split("/")
    target = changed
    for parent in parents:
        target = target[parent]
    target[name] = value
    return changed


@pytest.mark.parametrize(("pointer", "keyword", "value"), _limits(), ids=lambda v: str(v)[:24])
def test_every_limit_of_the_contract_holds_in_both_validators(
    pointer: str, keyword: str, value: object
) -> None:
    import fastjsonschema

    from casehub.contract import without_ref_siblings

    case = _with(_case() | {"address": "江岸区解放大道1000号"}, pointer, value)
    with pytest.raises(fastjsonschema.JsonSchemaException):
        fastjsonschema.compile(without_ref_siblings(SCHEMA))(case)
    full = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert any("/" + "/".join(map(str, e.absolute_path)) == pointer for e in full.iter_errors(case)), keyword
    assert pointer in {p.field for p in CaseContract().problems(case)}


def test_no_limit_is_missed_by_the_walk() -> None:
    keywords = {keyword for _, keyword, _ in _limits()}
    assert {"maxLength", "minLength", "pattern", "format", "enum", "minimum", "maximum", "type"} <= keywords
    assert ("/address", "maxLength") in {(p, k) for p, k, _ in _limits()}
    assert ("/reporter/name", "maxLength") in {(p, k) for p, k, _ in _limits()}


def test_every_bounded_column_holds_what_the_schema_allows() -> None:
    """A value the contract accepts must fit its column: PostgreSQL refuses one that does not."""
    from sqlalchemy import String

    for column in Case.__table__.columns:
        spec = SCHEMA["properties"].get(column.name)
        if spec is None or not isinstance(column.type, String) or column.type.length is None:
            continue
        rules = _resolved(spec)
        if "maxLength" in rules:
            assert rules["maxLength"] <= column.type.length, column.name
        elif "enum" in rules:
            assert max(len(v) for v in rules["enum"] if isinstance(v, str)) <= column.type.length, column.name
        else:
            assert "pattern" in rules, f"{column.name} is bounded in the store but not in the contract"

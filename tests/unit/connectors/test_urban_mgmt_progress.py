"""A progress entry of a case transferred into urban management becomes the hub's workflow
action, a body of the district standard interface; a defective entry is refused naming each
field, never its value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from casehub.errors import InvalidRecord
from casehub.paths import SCHEMAS_DIR
from connectors.urban_mgmt import progress_action

CASE_ID = "252f98ec-e0d8-57ea-8238-31111914adcf"


def entry(**fields: str) -> dict[str, str]:
    values = {
        "ExternalNo": CASE_ID,
        "CaseNo": "CG250309900001",
        "StepNo": "3",
        "StatusCode": "03",
        "StatusName": "已派遣",
        "Department": "江岸区城市管理监督指挥中心",
        "Note": "派遣至江岸区城市管理执法局处置。",
        "Result": "",
        "ReasonCode": "",
        "UpdateTime": "2025-03-09 10:05:00",
    }
    values.update(fields)
    return values


@cache
def _validator(action: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "district" / "actions.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(
        {**schema["$defs"][action], "$schema": schema["$schema"]}, format_checker=FormatChecker()
    )


def assert_is_a_standard_action(action: Mapping[str, Any]) -> None:
    """The action without its address (case and kind) is a body the standard interface takes."""
    body = {name: value for name, value in action.items() if name not in ("case_id", "action")}
    errors = [error.message for error in _validator(str(action["action"])).iter_errors(body)]
    assert not errors, errors


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"StepNo": "1", "StatusCode": "01", "Note": "外部转办案卷，已受理，待立案。"}, {"action": "accept"}),
        ({}, {"action": "progress", "note": "派遣至江岸区城市管理执法局处置。"}),
        ({"StepNo": "5", "StatusCode": "05", "Note": ""}, {"action": "progress", "note": "处置中"}),
        (
            {"StepNo": "9", "StatusCode": "12", "Note": "核查未通过：问题仍存在，要求返工。"},
            {"action": "progress", "note": "核查未通过：问题仍存在，要求返工。"},
        ),
        (
            {"StepNo": "8", "StatusCode": "08", "Note": "核查通过，予以结案。", "Result": "已清运完毕。"},
            {"action": "complete", "result": "已清运完毕。"},
        ),
        (
            {
                "StepNo": "2",
                "StatusCode": "99",
                "Result": "重复转办，已有案卷处置，退回转办方。",
                "ReasonCode": "02",
            },
            {
                "action": "return",
                "reason_code": "duplicate",
                "reason": "重复转办，已有案卷处置，退回转办方。",
            },
        ),
    ],
    ids=["accept", "progress", "progress-without-note", "rework", "complete", "return"],
)
def test_an_entry_becomes_the_action_its_status_stands_for(
    fields: dict[str, str], expected: dict[str, str]
) -> None:
    action = progress_action(entry(**fields))
    step, status = fields.get("StepNo", "3"), fields.get("StatusCode", "03")
    assert action == {
        "case_id": CASE_ID,
        "operation_id": f"CG250309900001:{step}:{status}",
        "at": "2025-03-09T10:05:00+08:00",
        **expected,
    }
    assert_is_a_standard_action(action)


@pytest.mark.parametrize(
    ("code", "reason"), [("01", "not_our_department"), ("02", "duplicate"), ("03", "other")]
)
def test_every_reason_for_handing_back_is_a_standard_reason(code: str, reason: str) -> None:
    action = progress_action(entry(StatusCode="99", ReasonCode=code, Result="退回转办方。"))
    assert action["reason_code"] == reason
    assert_is_a_standard_action(action)


def test_an_entry_read_twice_is_the_same_operation() -> None:
    assert progress_action(entry()) == progress_action(dict(entry()))
    assert progress_action(entry(StepNo="4"))["operation_id"] != progress_action(entry())["operation_id"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"ExternalNo": ""}, {"ExternalNo"}),
        ({"CaseNo": "案卷12"}, {"CaseNo"}),
        ({"StepNo": "0"}, {"StepNo"}),
        ({"StepNo": ""}, {"StepNo"}),
        ({"StatusCode": "13"}, {"StatusCode"}),
        ({"StatusCode": ""}, {"StatusCode"}),
        ({"UpdateTime": "昨天 10:05"}, {"UpdateTime"}),
        ({"StatusCode": "08", "Result": ""}, {"Result"}),
        ({"StatusCode": "99", "ReasonCode": "07", "Result": "退回。"}, {"ReasonCode"}),
        ({"StatusCode": "99", "ReasonCode": "", "Result": ""}, {"ReasonCode", "Result"}),
        ({"Note": "述" * 2001}, {"Note"}),
        ({"ExternalNo": "", "UpdateTime": "", "StepNo": "x"}, {"ExternalNo", "UpdateTime", "StepNo"}),
    ],
    ids=[
        "no-case",
        "bad-case-no",
        "step-zero",
        "no-step",
        "unknown-status",
        "no-status",
        "bad-time",
        "closed-without-result",
        "unknown-reason",
        "handed-back-without-reason",
        "long-note",
        "several",
    ],
)
def test_a_defective_entry_is_refused_naming_each_field(fields: dict[str, str], named: set[str]) -> None:
    with pytest.raises(InvalidRecord) as refused:
        progress_action(entry(**fields))
    assert {reason.field for reason in refused.value.reasons} == named
    assert "述述" not in str(refused.value) and "昨天" not in str(refused.value)


@given(st.dictionaries(st.sampled_from(sorted(entry())), st.text(max_size=30) | st.none() | st.integers()))
def test_any_entry_is_an_action_or_an_invalid_record(fields: dict[str, Any]) -> None:
    try:
        action = progress_action({**entry(), **fields})
    except InvalidRecord:
        return
    assert_is_a_standard_action(action)

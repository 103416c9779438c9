"""A feedback entry of the health commission becomes the hub's `feedback` action, a body of the
standard interface; a defective entry is refused naming each field, never its value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from casehub.errors import InvalidRecord
from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from connectors.health_commission import feedback_action
from connectors.health_commission.feedback import FeedbackKeys, SignedRead
from connectors.kit.sink import signature

CASE_ID = "252f98ec-e0d8-57ea-8238-31111914adcf"
NOTE = "区疾病预防控制中心已派员到场开展流行病学调查，并指导小区落实环境消杀。"


def entry(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "feedbackId": "FK20250309-3F9A2C1B0D",
        "caseId": CASE_ID,
        "code": "intervened",
        "note": NOTE,
        "handledBy": "武昌区卫生健康局",
        "feedbackAt": "2025-03-09T10:05:00+08:00",
    }
    values.update(fields)
    return values


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((SCHEMAS_DIR / "district" / "actions.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(
        {**schema["$defs"]["feedback"], "$schema": schema["$schema"]}, format_checker=FormatChecker()
    )


def assert_is_a_standard_action(action: Mapping[str, Any]) -> None:
    """The action without its address (case and kind) is a body the standard interface takes."""
    body = {name: value for name, value in action.items() if name not in ("case_id", "action")}
    assert action["action"] == "feedback"
    assert not [error.message for error in _validator().iter_errors(body)]


def reasons(raw: Any) -> dict[str, str]:
    """The first reason's code for each field named."""
    with pytest.raises(InvalidRecord) as refused:
        feedback_action(raw)
    first: dict[str, str] = {}
    for reason in refused.value.reasons:
        first.setdefault(reason.field, reason.code)
    return first


def test_an_entry_becomes_a_feedback_action_the_standard_interface_takes() -> None:
    action = feedback_action(entry())
    assert action == {
        "case_id": CASE_ID,
        "action": "feedback",
        "operation_id": "FK20250309-3F9A2C1B0D",
        "at": "2025-03-09T10:05:00+08:00",
        "code": "intervened",
        "note": NOTE,
    }
    assert_is_a_standard_action(action)


def test_a_time_in_another_offset_is_written_in_shanghai_time() -> None:
    assert feedback_action(entry(feedbackAt="2025-03-09T02:05:00Z"))["at"] == "2025-03-09T10:05:00+08:00"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"feedbackId": None}, {"feedbackId": "missing_id"}),
        ({"feedbackId": "FK 2025"}, {"feedbackId": "invalid_id"}),
        ({"feedbackId": "FK/2025"}, {"feedbackId": "invalid_id"}),
        ({"feedbackId": "F" * 65}, {"feedbackId": "invalid_id"}),
        ({"caseId": ""}, {"caseId": "missing_id"}),
        ({"caseId": "x" * 65}, {"caseId": "invalid_id"}),
        ({"code": "closed"}, {"code": "invalid_value"}),
        ({"code": None}, {"code": "missing_field"}),
        ({"code": 1}, {"code": "invalid_value"}),
        ({"note": ""}, {"note": "missing_field"}),
        ({"note": "好" * 2001}, {"note": "invalid_value"}),
        ({"note": ["已核实"]}, {"note": "invalid_value"}),
        ({"feedbackAt": "2025-03-09 10:05:00"}, {"feedbackAt": "invalid_time"}),  # no offset
        ({"feedbackAt": "2025-03-09T10:05:00"}, {"feedbackAt": "invalid_time"}),
        ({"feedbackAt": "2025-02-30T10:05:00+08:00"}, {"feedbackAt": "invalid_time"}),
        ({"feedbackAt": 1741486000000}, {"feedbackAt": "invalid_time"}),  # epoch ms are not RFC 3339
        ({"feedbackAt": None}, {"feedbackAt": "missing_field"}),
    ],
)
def test_a_defective_field_is_named(fields: dict[str, Any], expected: dict[str, str]) -> None:
    assert reasons(entry(**fields)) == expected


def test_every_defect_of_an_entry_is_named_at_once() -> None:
    assert reasons({"code": "unknown", "note": "好" * 2001}) == {
        "feedbackId": "missing_id",
        "caseId": "missing_id",
        "code": "invalid_value",
        "note": "invalid_value",
        "feedbackAt": "missing_field",
    }


@pytest.mark.parametrize("raw", [[entry()], "FK20250309", 7, None, True])
def test_an_entry_that_is_not_an_object_is_refused_whole(raw: Any) -> None:
    assert reasons(raw) == {"/": "not_an_object"}


def test_no_reason_quotes_the_entry() -> None:
    secret = "来电人张明13800138000"
    with pytest.raises(InvalidRecord) as refused:
        feedback_action(entry(note=secret * 200, code=secret, feedbackAt=secret, feedbackId=secret))
    assert all(secret not in reason.message for reason in refused.value.reasons)


@given(st.dictionaries(st.sampled_from(list(entry())), st.none() | st.text(max_size=80) | st.integers()))
def test_any_entry_is_an_action_or_an_invalid_record(fields: dict[str, Any]) -> None:
    try:
        action = feedback_action({**entry(), **fields})
    except InvalidRecord:
        return
    assert_is_a_standard_action(action)


def test_the_paginator_reads_an_entry_by_its_id_and_time() -> None:
    key = FeedbackKeys().key(entry())
    assert key.source_id == "FK20250309-3F9A2C1B0D"
    assert key.updated_at == datetime(2025, 3, 9, 10, 5, tzinfo=SHANGHAI)
    with pytest.raises(InvalidRecord):
        FeedbackKeys().key(entry(feedbackAt="soon"))


def test_a_read_is_signed_over_its_request_target_and_never_shows_the_secret() -> None:
    auth = SignedRead("casehub", "health-demo-secret", clock=lambda: 1_741_486_000.5)
    request = requests.Request(
        "GET", "http://127.0.0.1:1/api/v1/feedback", params={"since": "2025-03-09T10:05:00+08:00", "page": 1}
    ).prepare()
    signed = auth(request)
    target = "GET /api/v1/feedback?since=2025-03-09T10%3A05%3A00%2B08%3A00&page=1"
    assert signed.headers["X-App-Key"] == "casehub" and signed.headers["X-Timestamp"] == "1741486000"
    assert signed.headers["X-Signature"] == signature("health-demo-secret", target, "1741486000", b"")
    assert "health-demo-secret" not in repr(auth) and "Authorization" not in signed.headers

"""A status or result event becomes the community app's callback body, purely, worded for the
resident, valid against the app's contract — or is refused naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.ports import OutboundEvent
from connectors.kit.events import EventDataError
from connectors.neighborhood_app import EVENT_RENDERER

SCHEMA = json.loads(
    (
        Path(__file__).resolve().parents[3] / "schemas" / "partners" / "neighborhood_app_callback.json"
    ).read_text("utf-8")
)
CALLBACK = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
WORDS = {"accepted": "已签收", "processing": "处理中", "completed": "已办结", "returned": "已退回"}


def event(kind: str = "status", **data: Any) -> OutboundEvent:
    base = (
        {
            "status": "accepted",
            "unit": "花楼街道办事处",
            "note": None,
            "result": None,
            "at": "2025-03-09T10:00:00+08:00",
        }
        if kind == "status"
        else {
            "status": "completed",
            "result": "已协调物业清理",
            "unit": "团结里社区居委会",
            "unit_code": "420103002002",
            "completed_at": "2025-03-09T02:15:30+00:00",
        }
    )
    return OutboundEvent(
        event_id="0193a1b2-0000-7000-8000-000000000002",
        partner="neighborhood_app",
        kind=kind,
        case_id="d" * 32,
        case_version=2,
        target=None,
        source_id="WLL20250303000340",
        data={**base, **data},
        created_at=datetime(2025, 3, 9, 2, 0, 1, 500000, tzinfo=UTC),
    )


def test_a_status_is_the_report_status_envelope_in_the_apps_words() -> None:
    assert EVENT_RENDERER.render(event()) == {
        "type": "report.status",
        "timestamp": "2025-03-09T02:00:01.500Z",
        "data": {
            "reportId": "WLL20250303000340",
            "status": "accepted",
            "statusText": "已签收",
            "unit": "花楼街道办事处",
            "note": None,
            "result": None,
            "at": "2025-03-09T10:00:00+08:00",
        },
    }


def test_a_result_is_the_completion_with_its_result_and_unit_in_shanghai_time() -> None:
    data = EVENT_RENDERER.render(event("result"))["data"]
    assert (data["status"], data["statusText"], data["unit"], data["result"], data["note"]) == (
        "completed",
        "已办结",
        "团结里社区居委会",
        "已协调物业清理",
        None,
    )
    assert data["at"] == "2025-03-09T10:15:30+08:00"
    CALLBACK.validate(EVENT_RENDERER.render(event("result")))


@given(
    status=st.sampled_from(sorted(WORDS)),
    unit=st.none() | st.text(max_size=200),
    note=st.none() | st.text(max_size=300),
    result=st.none() | st.text(max_size=300),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3))]),
    ),
)
def test_every_status_event_makes_a_valid_callback(
    status: str, unit: str | None, note: str | None, result: str | None, moment: datetime
) -> None:
    body = EVENT_RENDERER.render(
        event(status=status, unit=unit, note=note, result=result, at=moment.isoformat())
    )
    CALLBACK.validate(body)
    data = body["data"]
    assert data["statusText"] == WORDS[status]
    assert datetime.fromisoformat(data["at"]) == moment
    for name, given_value in (("unit", unit), ("note", note), ("result", result)):
        assert data[name] == (given_value if given_value and given_value.strip() else None)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("urge", {}, "kind"),
        ("status", {"status": "closed"}, "data.status"),
        ("status", {"status": None}, "data.status"),
        ("status", {"at": "2025-03-09T10:00:00"}, "data.at"),
        ("status", {"unit": 42}, "data.unit"),
        ("result", {"result": ""}, "data.result"),
        ("result", {"unit": None}, "data.unit"),
        ("result", {"completed_at": "yesterday"}, "data.completed_at"),
    ],
    ids=[
        "other-kind",
        "unknown-status",
        "no-status",
        "no-offset",
        "unit-number",
        "blank-result",
        "no-unit",
        "bad-time",
    ],
)
def test_an_event_that_is_not_a_callback_names_its_field(kind: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(EventDataError) as refused:
        EVENT_RENDERER.render(event(kind, **data))
    assert refused.value.field == field
    assert "yesterday" not in str(refused.value)


def test_a_number_a_handler_wrote_reaches_the_app_masked() -> None:
    status = EVENT_RENDERER.render(event(note="已联系楼上住户13912345678", result=None))["data"]
    assert status["note"] == "已联系楼上住户139****5678"
    done = EVENT_RENDERER.render(event("result", result="已协调物业（027-85123456）清理"))["data"]
    assert done["result"] == "已协调物业（027****3456）清理"
    CALLBACK.validate(EVENT_RENDERER.render(event(note="已联系楼上住户13912345678")))

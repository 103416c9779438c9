"""A result event becomes the board's reply body, exactly and purely, or is refused naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.masking import mask_free_text
from casehub.ports import OutboundEvent
from connectors.kit.events import EventDataError
from connectors.message_board import EVENT_RENDERER

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[3] / "schemas" / "partners" / "message_board_reply.json").read_text(
        "utf-8"
    )
)
REPLY = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def event(kind: str = "result", **data: Any) -> OutboundEvent:
    return OutboundEvent(
        event_id="0193a1b2-0000-7000-8000-000000000001",
        partner="message_board",
        kind=kind,
        case_id="c" * 32,
        case_version=4,
        target=None,
        source_id="2101234",
        data={
            "status": "completed",
            "result": "您好，经核实，该路段积水已疏通。",
            "unit": "洪山区水务和湖泊局",
            "unit_code": "420111-SW",
            "completed_at": "2025-03-09T16:30:05.250+08:00",
            **data,
        },
        created_at=datetime(2025, 3, 9, 8, 30, 6, tzinfo=UTC),
    )


def test_a_result_is_the_reply_with_its_completion_in_epoch_milliseconds() -> None:
    body = EVENT_RENDERER.render(event())
    assert body == {
        "replyContent": "您好，经核实，该路段积水已疏通。",
        "replyOrg": "洪山区水务和湖泊局",
        "replyTime": 1741509005250,
    }
    assert EVENT_RENDERER.render(event()) == body
    REPLY.validate(body)


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    ),
    result=st.text(min_size=1, max_size=200).filter(str.strip),
)
def test_any_completion_time_and_result_make_a_valid_reply_at_the_same_instant(
    moment: datetime, result: str
) -> None:
    body = EVENT_RENDERER.render(event(completed_at=moment.isoformat(), result=result))
    REPLY.validate(body)
    assert body["replyTime"] == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert body["replyContent"] == mask_free_text(result)


def test_a_published_reply_never_shows_a_number_the_handler_quoted_whole() -> None:
    result = "已联系来电人13912345678（身份证420102199001011234），座机027-85123456。"
    body = EVENT_RENDERER.render(event(result=result))
    assert body["replyContent"] == "已联系来电人139****5678（身份证420102***********4），座机027****3456。"


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("status", {}, "kind"),
        ("result", {"result": "   "}, "data.result"),
        ("result", {"result": None}, "data.result"),
        ("result", {"unit": ""}, "data.unit"),
        ("result", {"completed_at": "2025-03-09 16:30:05"}, "data.completed_at"),
        ("result", {"completed_at": "2025-03-09T16:30:05"}, "data.completed_at"),
        ("result", {"completed_at": 1741509005250}, "data.completed_at"),
    ],
    ids=["not-a-result", "blank-result", "no-result", "no-unit", "local-time", "no-offset", "epoch"],
)
def test_an_event_that_is_not_a_reply_names_its_field_never_its_value(
    kind: str, data: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventDataError) as refused:
        EVENT_RENDERER.render(event(kind, **data))
    assert refused.value.field == field
    assert str(refused.value).startswith(field)
    assert "2025-03-09" not in str(refused.value)

"""A handling result becomes the hotline's SubmitHandlingResult: its elements, its local time,
its event id; an event that cannot be one is refused naming the field, never its value."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.normalize import local_time
from casehub.ports import OutboundEvent
from connectors.hotline import EVENT_RENDERER
from connectors.kit.events import EventDataError

CREATED = datetime(2025, 3, 9, 8, 0, tzinfo=UTC)


def event(kind: str = "result", source_id: str = "WH20250303000123", **data: Any) -> OutboundEvent:
    values: dict[str, Any] = {
        "status": "completed",
        "result": "经现场核查，路灯已修复并恢复照明。",
        "unit": "江岸区城市管理执法局",
        "unit_code": "420102-CG",
        "completed_at": "2025-03-09T08:30:05+00:00",
        **data,
    }
    return OutboundEvent(
        event_id="0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        partner="hotline",
        kind=kind,
        case_id="252f98ec-e0d8-57ea-8238-31111914adcf",
        case_version=4,
        target=None,
        source_id=source_id,
        data=values,
        created_at=CREATED,
    )


def test_a_result_renders_the_submission_elements() -> None:
    assert EVENT_RENDERER.partner == "hotline"
    assert EVENT_RENDERER.render(event()) == {
        "GDBH": "WH20250303000123",
        "BLDW": "江岸区城市管理执法局",
        "BLJG": "经现场核查，路灯已修复并恢复照明。",
        "BJSJ": "2025-03-09 16:30:05",
        "CLZT": "04",
        "SJBH": "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    }


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_the_completion_time_is_the_same_instant_in_local_time(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    rendered = EVENT_RENDERER.render(event(completed_at=aware.isoformat()))
    assert local_time(rendered["BJSJ"]) == aware


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"kind": "status"}, "kind"),
        ({"source_id": ""}, "source_id"),
        ({"status": "processing"}, "data.status"),
        ({"result": ""}, "data.result"),
        ({"result": None}, "data.result"),
        ({"unit": "  "}, "data.unit"),
        ({"completed_at": "2025-03-09 16:30:05"}, "data.completed_at"),
        ({"completed_at": "昨天下午"}, "data.completed_at"),
    ],
)
def test_an_event_that_is_no_result_is_refused_naming_the_field(
    changes: Mapping[str, Any], named: str
) -> None:
    fields = dict(changes)
    kind, source_id = fields.pop("kind", "result"), fields.pop("source_id", "WH20250303000123")
    with pytest.raises(EventDataError) as refused:
        EVENT_RENDERER.render(event(kind, source_id, **fields))
    assert refused.value.field == named
    assert "昨天" not in str(refused.value)


def test_the_unit_code_and_other_data_do_not_reach_the_hotline() -> None:
    plain = EVENT_RENDERER.render(event())
    assert EVENT_RENDERER.render(event(unit_code="other", reporter_phone="13800000000")) == plain

"""Results back to the REST partners, over HTTP to their simulators: the message board's official
reply and the community app's signed status callback. Every request is the partner's contract
(`schemas/partners/`), one event has one effect however often it is sent, and each failure lands
on the side of the error tree the outbox acts on."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from casehub.errors import ConfigurationError, ContractError, PermanentPartnerError, TransientPartnerError
from casehub.partners import partner
from casehub.ports import EventSink, OutboundEvent
from connectors import message_board, neighborhood_app
from connectors.kit.sink import Destination
from connectors.neighborhood_app.events import AppCallbackSink
from simulators.testing import RunningSimulator
from tests.simulated import fresh, running

ANCHOR = "2025-03-10"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "partners"
BOARD_TOKEN = "board-demo-token"


def contract(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator: jsonschema.protocols.Validator = validator_class(
        schema, format_checker=validator_class.FORMAT_CHECKER
    )
    return validator


REPLY = contract("message_board_reply")
CALLBACK = contract("neighborhood_app_callback")


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, RunningSimulator]]:
    with running(("message_board", "neighborhood_app"), anchor=ANCHOR, records=20) as started:
        yield started


@pytest.fixture
def board(simulators: dict[str, RunningSimulator]) -> RunningSimulator:
    return fresh(simulators["message_board"])


@pytest.fixture
def app(simulators: dict[str, RunningSimulator]) -> RunningSimulator:
    return fresh(simulators["neighborhood_app"])


def destination(simulator: RunningSimulator, secret: str, timeout: float = 5) -> Destination:
    return Destination(url=simulator.url, login="casehub", secret=secret, timeout=timeout)


def board_sink(board: RunningSimulator, *, token: str = BOARD_TOKEN, timeout: float = 5) -> EventSink:
    return message_board.build_event_sink(destination(board, token, timeout))


def app_sink(app: RunningSimulator, *, secret: str | None = None, timeout: float = 5) -> EventSink:
    stand_in = partner("neighborhood_app").simulator
    assert stand_in is not None
    return neighborhood_app.build_event_sink(destination(app, secret or stand_in.callback_secret, timeout))


def result_event(code: str, source_id: str, *, event_id: str | None = None, **data: Any) -> OutboundEvent:
    return OutboundEvent(
        event_id=event_id or str(uuid.uuid4()),
        partner=code,
        kind="result",
        case_id="c" * 32,
        case_version=3,
        target=None,
        source_id=source_id,
        data={
            "status": "completed",
            "result": "经现场核查，破损路灯已于当日更换，恢复照明。",
            "unit": "江岸区城市管理执法局",
            "unit_code": "420102-CG",
            "completed_at": "2025-03-09T16:30:05.250+08:00",
            **data,
        },
        created_at=datetime(2025, 3, 9, 8, 30, 6, tzinfo=UTC),
    )


def status_event(report_id: str, status: str = "processing", **data: Any) -> OutboundEvent:
    return OutboundEvent(
        event_id=str(uuid.uuid4()),
        partner="neighborhood_app",
        kind="status",
        case_id="d" * 32,
        case_version=2,
        target=None,
        source_id=report_id,
        data={
            "status": status,
            "unit": "花楼街道办事处",
            "note": None,
            "result": None,
            "at": "2025-03-09T10:00:00+08:00",
            **data,
        },
        created_at=datetime(2025, 3, 9, 2, 0, 1, tzinfo=UTC),
    )


def message(board: RunningSimulator, message_id: str) -> dict[str, Any]:
    answer = requests.get(
        f"{board.url}/api/v1/messages/{message_id}",
        timeout=5,
        headers={"Authorization": f"Bearer {BOARD_TOKEN}"},
    )
    shown: dict[str, Any] = answer.json()["data"]
    return shown


def first_id(simulator: RunningSimulator) -> str:
    return next(iter(simulator.truth()))


def test_a_reply_is_the_boards_contract_and_has_one_effect_when_sent_twice(board: RunningSimulator) -> None:
    message_id = first_id(board)
    event = result_event("message_board", message_id)
    REPLY.validate(message_board.EVENT_RENDERER.render(event))
    with board_sink(board) as sink:
        first, again = sink.send(event), sink.send(event)
    assert (first.event_id, first.duplicate, again.duplicate) == (event.event_id, False, True)
    assert board.effects() == {event.event_id: 1}
    shown = message(board, message_id)
    assert (shown["status"], shown["replyContent"], shown["replyOrg"]) == (
        "已回复",
        event.data["result"],
        event.data["unit"],
    )
    assert shown["replyTime"] == 1741509005250
    assert [entry["request"]["idempotencyKey"] for entry in board.received()] == [event.event_id] * 2


def test_a_reply_whose_answer_was_lost_is_recognised_when_sent_again(board: RunningSimulator) -> None:
    event = result_event("message_board", first_id(board))
    board.faults("trickle", count=1, trickle_seconds=5)
    with board_sink(board, timeout=0.5) as sink:
        with pytest.raises(TransientPartnerError, match="timed out"):
            sink.send(event)
        board.faults("none")
        assert sink.send(event).duplicate is True
    assert board.effects() == {event.event_id: 1}


def test_the_board_throttling_is_transient_with_its_retry_after(board: RunningSimulator) -> None:
    event = result_event("message_board", first_id(board))
    board.faults("429", count=1, retry_after=7)
    with board_sink(board) as sink, pytest.raises(TransientPartnerError) as throttled:
        sink.send(event)
    assert (throttled.value.status, throttled.value.retry_after) == (429, 7)
    assert throttled.value.request_id == event.event_id
    assert board.effects() == {}


@pytest.mark.parametrize("mode", ["5xx", "fault", "error_body", "hang"])
def test_a_failing_board_is_transient_and_applies_nothing(board: RunningSimulator, mode: str) -> None:
    board.faults(mode, count=1, hang_seconds=5)
    with board_sink(board, timeout=0.5) as sink, pytest.raises(TransientPartnerError):
        sink.send(result_event("message_board", first_id(board)))
    assert board.effects() == {}


def test_a_refused_token_is_permanent_naming_the_code(board: RunningSimulator) -> None:
    with board_sink(board, token="revoked-token") as sink, pytest.raises(PermanentPartnerError) as refused:
        sink.send(result_event("message_board", first_id(board)))
    assert not isinstance(refused.value, TransientPartnerError)
    assert "credentials refused (code 40101)" in str(refused.value)
    assert "revoked-token" not in str(refused.value)
    assert board.effects() == {}


def test_the_board_refusing_a_reply_is_permanent_naming_the_code(board: RunningSimulator) -> None:
    event = result_event("message_board", first_id(board))
    with board_sink(board) as sink:
        sink.send(event)
        with pytest.raises(PermanentPartnerError, match=r"code 40900"):
            sink.send(
                result_event("message_board", event.source_id, event_id=event.event_id, result="另一结果")
            )
        with pytest.raises(PermanentPartnerError, match=r"code 40400"):
            sink.send(result_event("message_board", "1"))
    assert board.effects() == {event.event_id: 1}


def test_a_board_answer_past_the_receipt_limit_breaks_the_contract(board: RunningSimulator) -> None:
    board.faults("oversized", count=1, records=1000)
    with board_sink(board) as sink, pytest.raises(ContractError):
        sink.send(result_event("message_board", first_id(board)))


@pytest.mark.parametrize(
    ("source_id", "data", "field"),
    [
        ("../../admin", {}, "source_id"),
        ("2100001", {"result": ""}, "data.result"),
        ("2100001", {"completed_at": "2025-03-09 16:30:05"}, "data.completed_at"),
    ],
    ids=["path", "no-result", "local-time"],
)
def test_an_event_that_cannot_be_a_reply_is_permanent_and_never_sent(
    board: RunningSimulator, source_id: str, data: dict[str, Any], field: str
) -> None:
    with board_sink(board) as sink, pytest.raises(PermanentPartnerError, match=field):
        sink.send(result_event("message_board", source_id, **data))
    assert board.received() == []


@pytest.mark.parametrize("kind", ["status", "result"])
def test_a_callback_is_the_apps_contract_and_has_one_effect_when_sent_twice(
    app: RunningSimulator, kind: str
) -> None:
    report_id = first_id(app)
    event = status_event(report_id) if kind == "status" else result_event("neighborhood_app", report_id)
    CALLBACK.validate(neighborhood_app.EVENT_RENDERER.render(event))
    with app_sink(app) as sink:
        first, again = sink.send(event), sink.send(event)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert app.effects() == {event.event_id: 1}
    [applied, _] = app.received()
    expected = "已办结" if kind == "result" else "处理中"
    assert (applied["request"]["data"]["reportId"], applied["request"]["data"]["statusText"]) == (
        report_id,
        expected,
    )


def test_every_status_renders_to_the_apps_contract(app: RunningSimulator) -> None:
    report_id = first_id(app)
    events = [
        status_event(report_id, status, note="不属于本社区职责" if status == "returned" else None)
        for status in ("accepted", "processing", "completed", "returned")
    ]
    with app_sink(app) as sink:
        for event in events:
            CALLBACK.validate(neighborhood_app.EVENT_RENDERER.render(event))
            assert sink.send(event).duplicate is False
    assert len(app.effects()) == 4


def test_the_app_throttling_is_transient_with_its_retry_after(app: RunningSimulator) -> None:
    app.faults("429", count=1, retry_after=11)
    with app_sink(app) as sink, pytest.raises(TransientPartnerError) as throttled:
        sink.send(status_event(first_id(app)))
    assert (throttled.value.status, throttled.value.retry_after) == (429, 11)


@pytest.mark.parametrize("mode", ["5xx", "fault", "hang"])
def test_a_failing_app_is_transient_and_applies_nothing(app: RunningSimulator, mode: str) -> None:
    app.faults(mode, count=1, hang_seconds=5)
    with app_sink(app, timeout=0.5) as sink, pytest.raises(TransientPartnerError):
        sink.send(status_event(first_id(app)))
    assert app.effects() == {}


def test_a_callback_signed_with_another_secret_is_permanent(app: RunningSimulator) -> None:
    other = "whsec_bm90LXRoZS1hcHAncy1jYWxsYmFjay1zZWNyZXQ="
    with app_sink(app, secret=other) as sink, pytest.raises(PermanentPartnerError) as refused:
        sink.send(status_event(first_id(app)))
    assert not isinstance(refused.value, TransientPartnerError)
    assert refused.value.status == 401
    assert app.effects() == {}


def test_each_attempt_is_signed_afresh(app: RunningSimulator) -> None:
    stand_in = partner("neighborhood_app").simulator
    assert stand_in is not None
    event = status_event(first_id(app))
    late = AppCallbackSink(
        destination(app, stand_in.callback_secret),
        neighborhood_app.EVENT_RENDERER,
        clock=lambda: time.time() - 600,
    )
    with late, pytest.raises(PermanentPartnerError) as stale:
        late.send(event)
    assert stale.value.status == 401
    with app_sink(app) as sink:
        assert sink.send(event).duplicate is False


def test_a_callback_for_a_report_the_app_does_not_have_is_permanent(app: RunningSimulator) -> None:
    with app_sink(app) as sink, pytest.raises(PermanentPartnerError) as unknown:
        sink.send(status_event("WLL20250309999999"))
    assert unknown.value.status == 404


def test_a_secret_that_is_not_a_standard_webhooks_secret_is_a_deployment_error(app: RunningSimulator) -> None:
    for secret in ("plain-text-secret", "whsec_", "whsec_!!!"):
        with pytest.raises(ConfigurationError, match="whsec_"):
            app_sink(app, secret=secret)

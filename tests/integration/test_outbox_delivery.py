"""The outbox's delivery end to end, on SQLite and PostgreSQL, over HTTP to the partners' simulators.

Events are made the way the hub makes them: a message board message or a community app report is
ingested by the pipeline (which dispatches it to its district), the district accepts and completes
it through the standard interface, and the workflow writes the status and result events for the
channel in the same transaction. `casehub.outbox.deliver` then sends them through the partners'
real sinks; time moves on through the injected clock, never by sleeping. What a data engineer
relies on is checked where they would look: the outbox's rows, `casehub stats`, the CLI, and the
partner's own count of effects per event id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, create_engine, select

from casehub import outbox
from casehub.crypto import KeyRing
from casehub.districts import DistrictService
from casehub.partners import Partner, partner
from casehub.pipeline import Pipeline
from casehub.ports import EventReceipt, EventSink, OutboundEvent
from casehub.stats import collect
from casehub.store.db import prepare
from casehub.store.models import Case, OutboxEvent
from connectors import message_board, neighborhood_app
from connectors.kit.sink import Destination
from simulators.testing import RunningSimulator
from tests.samples import report
from tests.simulated import fresh, running

ROOT = Path(__file__).resolve().parents[2]
ANCHOR = "2025-03-10"
BOARD_TOKEN = "board-demo-token"
RESULT = "经现场核查，破损路灯已于当日更换，恢复照明。"
OUTBOX_PARTNERS = ("district", "hotline", "message_board", "neighborhood_app", "urban_mgmt")


# -- the partners ---------------------------------------------------------------------------------


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


def callback_secret() -> str:
    stand_in = partner("neighborhood_app").simulator
    assert stand_in is not None
    return stand_in.callback_secret


def board_sink(url: str, token: str = BOARD_TOKEN) -> EventSink:
    return message_board.build_event_sink(Destination(url=url, login="casehub", secret=token, timeout=5))


def app_sink(url: str) -> EventSink:
    return neighborhood_app.build_event_sink(
        Destination(url=url, login="casehub", secret=callback_secret(), timeout=5)
    )


def closed_port_url() -> str:
    """A loopback URL where nothing listens: the partner is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def reply_keys(board: RunningSimulator) -> list[str]:
    """The Idempotency-Key of every reply the board took in, in the order they came."""
    return [entry["request"]["idempotencyKey"] for entry in board.received()]


def callback_ids(app: RunningSimulator) -> list[str]:
    return [entry["request"]["webhook_id"] for entry in app.received()]


def board_message(board: RunningSimulator, message_id: str) -> dict[str, Any]:
    answer = requests.get(
        f"{board.url}/api/v1/messages/{message_id}",
        timeout=5,
        headers={"Authorization": f"Bearer {BOARD_TOKEN}"},
    )
    message: dict[str, Any] = answer.json()["data"]
    return message


# -- the hub's side -------------------------------------------------------------------------------


class Clock:
    """The delivery run's clock, moved on by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def rows(engine: Engine, partner_code: str | None = None) -> list[dict[str, Any]]:
    query = select(OutboxEvent).order_by(OutboxEvent.id)
    if partner_code is not None:
        query = query.where(OutboxEvent.partner == partner_code)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def by_id(engine: Engine, partner_code: str) -> dict[str, dict[str, Any]]:
    return {row["event_id"]: row for row in rows(engine, partner_code)}


def states(engine: Engine, partner_code: str) -> list[str]:
    return [row["state"] for row in rows(engine, partner_code)]


def now_text() -> str:
    return datetime.now(UTC).isoformat()


def waiting_message(board: RunningSimulator, message_id: str) -> dict[str, Any]:
    """The board's message as a resident has just posted it (待受理, no reply yet)."""
    return {
        **board_message(board, message_id),
        "status": "待受理",
        "replyContent": None,
        "replyOrg": None,
        "replyTime": None,
    }


def ingest(engine: Engine, keyring: KeyRing, mapper: Any, records: list[dict[str, Any]]) -> list[str]:
    """The records through the pipeline; the ids of their cases, in the records' order."""
    page = Pipeline(engine, mapper, keyring).ingest(records)
    assert page.accepted == len(records), page
    key = mapper.id_field
    with engine.connect() as conn:
        found = dict(
            conn.execute(select(Case.source_id, Case.case_id).where(Case.channel == mapper.channel)).all()
        )
    return [found[str(record[key])] for record in records]


def district_of(engine: Engine, case_id: str) -> str:
    with engine.connect() as conn:
        code = conn.scalar(select(Case.district_code).where(Case.case_id == case_id))
    assert code is not None
    return str(code)


def accept(engine: Engine, keyring: KeyRing, case_id: str) -> None:
    body = {"operation_id": f"accept-{uuid.uuid4().hex[:12]}", "at": now_text(), "handler": "值班员"}
    outcome = DistrictService(engine, keyring).act(district_of(engine, case_id), case_id, "accept", body)
    assert outcome.status == "accepted"


def complete(engine: Engine, keyring: KeyRing, case_id: str, result: str = RESULT) -> None:
    body = {"operation_id": f"complete-{uuid.uuid4().hex[:12]}", "at": now_text(), "result": result}
    outcome = DistrictService(engine, keyring).act(district_of(engine, case_id), case_id, "complete", body)
    assert outcome.status == "completed"


def board_results(
    engine: Engine, keyring: KeyRing, board: RunningSimulator, count: int, *, dispatched_only: int = 0
) -> list[dict[str, Any]]:
    """`count` of the board's messages ingested, dispatched, accepted and completed by their
    district, and `dispatched_only` more left with their district: the board's result events,
    oldest first, each with the message it answers."""
    ids = list(board.truth())[: count + dispatched_only]
    messages = [waiting_message(board, message_id) for message_id in ids]
    case_ids = ingest(engine, keyring, message_board.MAPPER, messages)
    for case_id in case_ids[:count]:
        accept(engine, keyring, case_id)
        complete(engine, keyring, case_id)
    events = rows(engine, "message_board")
    assert [(e["kind"], e["case_id"]) for e in events] == [("result", c) for c in case_ids[:count]]
    for event, message in zip(events, messages, strict=False):
        assert event["source_id"] == str(message["id"])
        event["message"] = message
    return events


def app_cases(engine: Engine, keyring: KeyRing, app: RunningSimulator, count: int) -> list[str]:
    """`count` of the app's reports ingested as just submitted (已提交), dispatched to their
    district: their case ids."""
    records = [
        report(
            reportId=report_id,
            status="已提交",
            handlingUnit=None,
            handlingResult=None,
            satisfaction=None,
            updatedAt="2025-03-03T17:16:43+08:00",
        )
        for report_id in list(app.truth())[:count]
    ]
    return ingest(engine, keyring, neighborhood_app.MAPPER, records)


def with_outbox(code: str, **changes: Any) -> Partner:
    spec = partner(code)
    assert spec.outbox is not None
    return dataclasses.replace(spec, outbox=dataclasses.replace(spec.outbox, **changes))


def store_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def fresh_engine(engine: Engine) -> Engine:
    """Another process's view of the same store: a new engine on the same URL."""
    return prepare(create_engine(store_url(engine)))


def hand_made(source_id: str, case_id: str, **data: Any) -> outbox.NewEvent:
    return outbox.NewEvent(
        partner="message_board",
        kind="result",
        case_id=case_id,
        case_version=3,
        source_id=source_id,
        origin="district:420102",
        data={
            "status": "completed",
            "result": RESULT,
            "unit": "江岸区城市管理执法局",
            "unit_code": "420102-CG",
            "completed_at": "2025-03-09T16:30:05.250+08:00",
            **data,
        },
    )


def write(engine: Engine, keyring: KeyRing, events: list[outbox.NewEvent]) -> list[str]:
    with engine.begin() as conn:
        return outbox.write(conn, keyring, events, datetime.now(UTC))


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- 1. a partner down for a while ----------------------------------------------------------------


def test_a_backlog_waits_while_the_board_is_down_and_drains_once_when_it_recovers(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    events = board_results(engine, keyring, board, 3)
    ids = [e["event_id"] for e in events]
    spec, clock = partner("message_board"), Clock()

    board.faults("5xx", count=3)
    with board_sink(board.url) as sink:
        run = outbox.deliver(engine, keyring, spec, sink, clock=clock)
    assert (run.delivered, run.retried, run.dead) == (0, 3, 0)
    first = by_id(engine, "message_board")
    for event_id in ids:
        row = first[event_id]
        assert (row["state"], row["attempts"], row["receipt"]) == ("pending", 1, None)
        assert row["next_attempt_at"] > clock.now
        assert row["last_error"]["status"] == 503 and row["last_error"]["code"] == "transient"
    assert board.armed()["count"] == 0 and board.effects() == {}

    with board_sink(board.url) as sink:
        again = outbox.deliver(engine, keyring, spec, sink, clock=clock)
    assert (again.delivered, again.retried) == (0, 0), "nothing is due before its next attempt time"
    assert [row["attempts"] for row in rows(engine, "message_board")] == [1, 1, 1]

    clock.advance(hours=2)
    with board_sink(closed_port_url()) as down:
        unreachable = outbox.deliver(engine, keyring, spec, down, clock=clock)
    assert unreachable.retried == 3
    for row in rows(engine, "message_board"):
        assert (row["state"], row["attempts"]) == ("pending", 2)
        assert row["next_attempt_at"] > clock.now and row["last_error"]["status"] is None

    clock.advance(hours=3)
    with board_sink(board.url) as sink:
        drained = outbox.deliver(engine, keyring, spec, sink, clock=clock)
    assert (drained.delivered, drained.duplicates, drained.retried) == (3, 0, 0)
    for event in rows(engine, "message_board"):
        assert (event["state"], event["attempts"]) == ("delivered", 3)
        assert event["receipt"] == {"event_id": event["event_id"], "duplicate": False, "reference": None}
        assert event["delivered_at"] == clock.now
    assert board.effects() == dict.fromkeys(ids, 1)
    assert reply_keys(board) == ids
    for event in events:
        shown = board_message(board, event["source_id"])
        assert shown["replyContent"] == RESULT


# -- 2. killed between commit and send ------------------------------------------------------------


def test_events_committed_by_a_process_that_died_before_sending_are_delivered_once_later(
    engine: Engine, keyring: KeyRing, board: RunningSimulator, app: RunningSimulator
) -> None:
    board_ids = [e["event_id"] for e in board_results(engine, keyring, board, 2)]
    for case_id in app_cases(engine, keyring, app, 2):
        accept(engine, keyring, case_id)
    app_ids = [e["event_id"] for e in rows(engine, "neighborhood_app")]
    assert len(app_ids) == 2 and states(engine, "neighborhood_app") == ["pending"] * 2
    engine.dispose()  # the writer is gone; nothing of it survives but what it committed

    later = fresh_engine(engine)
    try:
        with board_sink(board.url) as replies, app_sink(app.url) as callbacks:
            outbox.deliver(later, keyring, partner("message_board"), replies)
            outbox.deliver(later, keyring, partner("neighborhood_app"), callbacks)
    finally:
        later.dispose()
    assert states(engine, "message_board") == states(engine, "neighborhood_app") == ["delivered"] * 2
    assert board.effects() == dict.fromkeys(board_ids, 1) and reply_keys(board) == board_ids
    assert app.effects() == dict.fromkeys(app_ids, 1) and callback_ids(app) == app_ids
    assert [entry["request"]["data"]["statusText"] for entry in app.received()] == ["已签收"] * 2


# -- 3. killed between send and receipt -----------------------------------------------------------


class Killed(BaseException):
    """The process dying: not an error the outbox may handle."""


class DiesAfterSending:
    """The board's real sink, with the process dying once the `nth` send has returned."""

    def __init__(self, sink: EventSink, nth: int) -> None:
        self.sink, self.nth, self.sent = sink, nth, 0

    def send(self, event: OutboundEvent) -> EventReceipt:
        receipt = self.sink.send(event)
        self.sent += 1
        if self.sent == self.nth:
            raise Killed
        return receipt


def test_a_run_that_died_after_sending_resends_the_same_ids_and_the_board_applies_them_once(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    ids = [e["event_id"] for e in board_results(engine, keyring, board, 3)]
    spec = partner("message_board")
    with board_sink(board.url) as sink, pytest.raises(Killed):
        outbox.deliver(engine, keyring, spec, DiesAfterSending(sink, 2))
    assert board.effects() == dict.fromkeys(ids[:2], 1), "the board applied two replies"
    assert [(r["state"], r["attempts"], r["receipt"]) for r in rows(engine, "message_board")] == [
        ("pending", 0, None)
    ] * 3

    with board_sink(board.url) as sink:
        run = outbox.deliver(engine, keyring, spec, sink)
    assert (run.delivered, run.duplicates) == (3, 2)
    assert reply_keys(board) == [*ids[:2], *ids]
    assert board.effects() == dict.fromkeys(ids, 1)
    delivered = rows(engine, "message_board")
    assert [row["state"] for row in delivered] == ["delivered"] * 3
    assert [row["receipt"]["duplicate"] for row in delivered] == [True, True, False]


KILLED_DELIVERY = """
import sys
from casehub import outbox
from casehub.crypto import load_keyring
from casehub.partners import partner
from casehub.store import connect
from connectors import neighborhood_app
from connectors.kit.sink import Destination

spec = partner("neighborhood_app")
destination = Destination(url=sys.argv[1], login="casehub", secret=spec.simulator.callback_secret)
with neighborhood_app.build_event_sink(destination) as sink:
    outbox.deliver(connect(), load_keyring(), spec, sink)
"""


def test_a_delivery_process_killed_mid_batch_leaves_nothing_applied_twice(
    engine: Engine, keyring: KeyRing, app: RunningSimulator
) -> None:
    for case_id in app_cases(engine, keyring, app, 3):
        accept(engine, keyring, case_id)
    ids = [e["event_id"] for e in rows(engine, "neighborhood_app")]
    assert len(ids) == 3
    app.faults("hang", count=1, after=2, hang_seconds=60)
    env = {**os.environ, "CASEHUB_DB_URL": store_url(engine), "CASEHUB_KEYRING": keyring.to_json()}
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_DELIVERY, app.url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            wait_for(lambda: app.armed()["hanging"] == 1 or process.poll() is not None, "the third callback")
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        finally:
            process.kill()
            process.wait(timeout=10)
    app.faults("none")
    assert app.effects() == dict.fromkeys(ids[:2], 1)
    assert [(r["state"], r["receipt"]) for r in rows(engine, "neighborhood_app")] == [("pending", None)] * 3

    with app_sink(app.url) as sink:
        run = outbox.deliver(engine, keyring, partner("neighborhood_app"), sink)
    assert (run.delivered, run.duplicates) == (3, 2)
    assert callback_ids(app) == [*ids[:2], *ids]
    assert app.effects() == dict.fromkeys(ids, 1)
    assert states(engine, "neighborhood_app") == ["delivered"] * 3


# -- 4. permanent refusals, the dead letter and replay ----------------------------------------------


def replay_cli(engine: Engine, *arguments: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "casehub.cli", "outbox", "replay", *arguments],
        cwd=ROOT,
        env={**os.environ, "CASEHUB_DB_URL": store_url(engine)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def no_personal_data(text: str, message: dict[str, Any]) -> None:
    digits = "".join(ch for ch in str(message["phone"]) if ch.isdigit())
    for secret in (RESULT, str(message["nickName"]), str(message["phone"]), digits[-11:], BOARD_TOKEN):
        assert secret not in text


def test_a_refused_token_kills_the_events_and_the_cli_replay_delivers_them_once_fixed(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    events = board_results(engine, keyring, board, 2)
    ids = [e["event_id"] for e in events]
    spec, clock = partner("message_board"), Clock()
    with board_sink(board.url, token="revoked-token") as refused:
        run = outbox.deliver(engine, keyring, spec, refused, clock=clock)
    assert (run.dead, run.retried, run.delivered) == (2, 0, 0)
    dead = outbox.entries(engine, partner="message_board", state="dead")
    assert sorted(e.event_id for e in dead) == sorted(ids)
    for entry in dead:
        assert entry.last_error is not None and entry.last_error["code"] == "refused"
        assert "credentials refused (code 40101)" in entry.last_error["message"]
        listed = json.dumps(entry.as_dict(), ensure_ascii=False)
        no_personal_data(listed, events[0]["message"])
        no_personal_data(listed, events[1]["message"])
        assert "revoked-token" not in listed
    assert board.effects() == {}

    assert replay_cli(engine, "--partner", "message_board") == {"replayed": 2}
    back = by_id(engine, "message_board")
    assert sorted(back) == sorted(ids)
    assert [(back[i]["state"], back[i]["attempts"]) for i in ids] == [("pending", 0)] * 2

    with board_sink(board.url) as sink:
        fixed = outbox.deliver(engine, keyring, spec, sink, clock=Clock())  # due from the replay on
    assert fixed.delivered == 2
    assert states(engine, "message_board") == ["delivered"] * 2
    assert board.effects() == dict.fromkeys(ids, 1)


def test_a_reply_to_a_message_the_board_does_not_have_is_dead_with_its_code_and_no_personal_data(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    known = waiting_message(board, next(iter(board.truth())))
    unknown = {**known, "id": 1, "phone": "+86 13912345678", "nickName": "王小红"}
    [case_id] = ingest(engine, keyring, message_board.MAPPER, [unknown])
    accept(engine, keyring, case_id)
    complete(engine, keyring, case_id)
    [event] = rows(engine, "message_board")
    spec = partner("message_board")
    with board_sink(board.url) as sink:
        assert outbox.deliver(engine, keyring, spec, sink).dead == 1
    [entry] = outbox.entries(engine, partner="message_board")
    assert (entry.event_id, entry.state, entry.attempts) == (event["event_id"], "dead", 1)
    assert entry.last_error is not None and entry.last_error["code"] == "refused"
    assert "reply refused (code 40400)" in entry.last_error["message"]
    no_personal_data(json.dumps(entry.as_dict(), ensure_ascii=False), unknown)

    assert outbox.replay(engine, event_ids=[event["event_id"]]) == 1
    [again] = outbox.entries(engine, partner="message_board")
    assert (again.event_id, again.state, again.attempts) == (event["event_id"], "pending", 0)
    with board_sink(board.url) as sink:
        assert outbox.deliver(engine, keyring, spec, sink).dead == 1, "the cause is not fixed"
    assert board.effects() == {}
    assert reply_keys(board) == [event["event_id"]] * 2


# -- 5. Retry-After --------------------------------------------------------------------------------


def test_the_boards_retry_after_is_honoured(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    [event] = board_results(engine, keyring, board, 1)
    spec, clock = partner("message_board"), Clock()
    assert spec.outbox is not None and spec.outbox.backoff_seconds < 600 < spec.outbox.max_backoff_seconds
    board.faults("429", count=1, retry_after=600)
    with board_sink(board.url) as sink:
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).retried == 1
    [row] = rows(engine, "message_board")
    assert row["state"] == "pending" and row["last_error"]["status"] == 429
    assert row["last_attempt_at"] == clock.now
    assert row["next_attempt_at"] - row["last_attempt_at"] >= timedelta(seconds=600)

    with board_sink(board.url) as sink:
        clock.advance(seconds=599)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).delivered == 0
        clock.advance(seconds=1)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).delivered == 1
    assert board.effects() == {event["event_id"]: 1}


# -- 6. per-case order ------------------------------------------------------------------------------


def test_a_cases_newer_event_waits_for_its_older_one_and_other_cases_do_not(
    engine: Engine, keyring: KeyRing, app: RunningSimulator
) -> None:
    first, other = app_cases(engine, keyring, app, 2)
    accept(engine, keyring, first)
    accept(engine, keyring, other)
    complete(engine, keyring, first)
    older, unrelated, newer = (e["event_id"] for e in rows(engine, "neighborhood_app"))
    spec, clock = partner("neighborhood_app"), Clock()
    assert spec.outbox is not None and spec.outbox.backoff_seconds / 2 > 10, (
        "the first back-off outlasts 10 s"
    )

    app.faults("5xx", count=1)
    with app_sink(app.url) as sink:
        run = outbox.deliver(engine, keyring, spec, sink, clock=clock)
        assert (run.retried, run.delivered, run.held) == (1, 1, 1)
        assert app.effects() == {unrelated: 1}
        held = by_id(engine, "neighborhood_app")[newer]
        assert (held["state"], held["attempts"]) == ("pending", 0)

        clock.advance(seconds=10)  # the newer event is due, the older one is not yet
        waiting = outbox.deliver(engine, keyring, spec, sink, clock=clock)
        assert (waiting.delivered, waiting.held) == (0, 1)

        clock.advance(hours=2)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).delivered == 2
    assert callback_ids(app) == [unrelated, older, newer]
    assert [e["request"]["data"]["statusText"] for e in app.received()] == ["已签收", "已签收", "已办结"]
    assert app.effects() == {unrelated: 1, older: 1, newer: 1}
    assert states(engine, "neighborhood_app") == ["delivered"] * 3


def test_a_dead_older_event_holds_its_cases_newer_ones_back(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    message_id, other_id = list(board.truth())[:2]
    stuck, free = "a" * 32, "b" * 32
    broken, newer, unrelated = write(
        engine,
        keyring,
        [
            hand_made(message_id, stuck, result=""),
            hand_made(message_id, stuck, result="已更换灯具，恢复照明。"),
            hand_made(other_id, free),
        ],
    )
    spec, clock = partner("message_board"), Clock()
    with board_sink(board.url) as sink:
        run = outbox.deliver(engine, keyring, spec, sink, clock=clock)
        assert (run.dead, run.delivered, run.held) == (1, 1, 1)
        clock.advance(days=1)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).held == 1
    found = by_id(engine, "message_board")
    assert found[broken]["state"] == "dead" and "data.result" in found[broken]["last_error"]["message"]
    assert (found[newer]["state"], found[newer]["attempts"]) == ("pending", 0)
    assert found[unrelated]["state"] == "delivered"
    assert reply_keys(board) == [unrelated] and board.effects() == {unrelated: 1}


def test_events_held_behind_a_dead_one_do_not_starve_other_cases(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    message_id, other_id = list(board.truth())[:2]
    stuck = "a" * 32
    held_back = [hand_made(message_id, stuck, result=f"第{n}次回复：已安排维修。") for n in (2, 3)]
    *_, unrelated = write(
        engine, keyring, [hand_made(message_id, stuck, result=""), *held_back, hand_made(other_id, "b" * 32)]
    )
    spec, clock = with_outbox("message_board", batch_size=2), Clock()  # 2 stands for the manifest's 200
    with board_sink(board.url) as sink:
        for _ in range(3):
            outbox.deliver(engine, keyring, spec, sink, clock=clock)
            clock.advance(hours=1)
    assert states(engine, "message_board") == ["dead", "pending", "pending", "delivered"]
    assert board.effects() == {unrelated: 1}


def test_across_chunks_and_lanes_each_case_hears_its_events_in_order_and_a_failed_one_holds_its_case(
    engine: Engine, keyring: KeyRing, board: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = list(board.truth())[:4]
    cases = [f"{n}" * 32 for n in range(4)]
    events = [
        hand_made(
            message, case, result="" if (case, step) == (cases[3], 1) else f"第{step}次回复：已安排维修。"
        )
        for step in (1, 2, 3)
        for message, case in zip(messages, cases, strict=True)
    ]
    written = write(engine, keyring, events)
    monkeypatch.setattr(outbox, "CHUNK", 2)  # a case's events fall in different chunks, read ahead
    sinks = [board_sink(board.url) for _ in range(3)]
    try:
        run = outbox.deliver(engine, keyring, partner("message_board"), sinks, clock=Clock())
    finally:
        for sink in sinks:
            sink.close()
    assert (run.delivered, run.dead, run.held) == (9, 1, 2)
    arrived = reply_keys(board)
    for case in cases[:3]:
        sent = [event_id for event_id, event in zip(written, events, strict=True) if event.case_id == case]
        assert [key for key in arrived if key in sent] == sent
    found = by_id(engine, "message_board")
    stuck = [event_id for event_id, event in zip(written, events, strict=True) if event.case_id == cases[3]]
    assert [found[event_id]["state"] for event_id in stuck] == ["dead", "pending", "pending"]
    assert board.effects() == dict.fromkeys(arrived, 1) and len(arrived) == 9


def test_a_run_tries_no_more_events_than_its_limit_while_it_reads_ahead(
    engine: Engine, keyring: KeyRing, board: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = list(board.truth())[:6]
    write(engine, keyring, [hand_made(message, f"{n}" * 32) for n, message in enumerate(messages)])
    monkeypatch.setattr(outbox, "CHUNK", 2)
    sinks = [board_sink(board.url) for _ in range(2)]
    try:
        run = outbox.deliver(engine, keyring, partner("message_board"), sinks, clock=Clock(), limit=5)
    finally:
        for sink in sinks:
            sink.close()
    assert run.delivered == 5
    assert states(engine, "message_board") == ["delivered"] * 5 + ["pending"]
    assert len(board.effects()) == 5


# -- 7. the last allowed attempt --------------------------------------------------------------------


def test_the_last_allowed_attempt_sends_the_event_to_the_dead_letter(
    engine: Engine, keyring: KeyRing, board: RunningSimulator
) -> None:
    [event_id] = write(engine, keyring, [hand_made(next(iter(board.truth())), "c" * 32)])
    spec, clock = with_outbox("message_board", max_attempts=3), Clock()
    board.faults("5xx", count=10)
    with board_sink(board.url) as sink:
        for attempt in (1, 2):
            assert outbox.deliver(engine, keyring, spec, sink, clock=clock).retried == 1
            [row] = rows(engine, "message_board")
            assert (row["state"], row["attempts"], row["last_error"]["code"]) == (
                "pending",
                attempt,
                "transient",
            )
            clock.advance(hours=2)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).dead == 1
        clock.advance(days=1)
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).retried == 0
    [row] = rows(engine, "message_board")
    assert (row["event_id"], row["state"], row["attempts"]) == (event_id, "dead", 3)
    assert row["last_error"]["code"] == "attempts_exhausted" and row["last_error"]["status"] == 503
    assert board.armed()["count"] == 7, "a dead event is not tried again"


# -- 8. stats ---------------------------------------------------------------------------------------


def test_stats_count_each_outbox_partners_events_by_state(
    engine: Engine, keyring: KeyRing, board: RunningSimulator, app: RunningSimulator
) -> None:
    empty = collect(engine)["outbox"]
    assert empty == {code: {"pending": 0, "delivered": 0, "dead": 0} for code in OUTBOX_PARTNERS}

    board_results(engine, keyring, board, 3, dispatched_only=1)
    [app_case] = app_cases(engine, keyring, app, 1)
    accept(engine, keyring, app_case)
    spec, clock = partner("message_board"), Clock()
    with board_sink(board.url, token="revoked-token") as refused:
        assert outbox.deliver(engine, keyring, spec, refused, clock=clock, limit=1).dead == 1
    board.faults("5xx", count=1)
    with board_sink(board.url) as sink:
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock, limit=1).retried == 1
        assert outbox.deliver(engine, keyring, spec, sink, clock=clock).delivered == 1
    with app_sink(app.url) as sink:
        assert outbox.deliver(engine, keyring, partner("neighborhood_app"), sink, clock=clock).delivered == 1

    counted = collect(engine)["outbox"]
    assert counted == {
        "district": {"pending": 1, "delivered": 4, "dead": 0},
        "hotline": {"pending": 0, "delivered": 0, "dead": 0},
        "message_board": {"pending": 1, "delivered": 1, "dead": 1},
        "neighborhood_app": {"pending": 0, "delivered": 1, "dead": 0},
        "urban_mgmt": {"pending": 0, "delivered": 0, "dead": 0},
    }


# -- 9. the loop guard ------------------------------------------------------------------------------


def test_an_event_back_to_where_its_change_came_from_is_never_written(
    engine: Engine, keyring: KeyRing
) -> None:
    echo = dataclasses.replace(hand_made("2159891", "e" * 32), origin="message_board")
    district_echo = outbox.NewEvent(
        partner="district",
        kind="dispatch",
        case_id="f" * 32,
        case_version=2,
        source_id="2159891",
        origin="district:420102",
        data={"unit": "420102-CG"},
        target="420102",
    )
    assert write(engine, keyring, [echo]) == []
    assert write(engine, keyring, [district_echo]) == []
    assert rows(engine) == []
    [kept] = write(engine, keyring, [echo, hand_made("2159891", "e" * 32)])
    assert [(r["event_id"], r["origin"]) for r in rows(engine)] == [(kept, "district:420102")]

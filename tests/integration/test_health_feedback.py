"""The health commission's handling feedback read back over HTTP from its simulator, on SQLite
and PostgreSQL: each case it was sent gains one version whose history says `feedback`, with no
change of status, and a sealed raw record of the commission; a second read applies nothing
twice; feedback on a case it was never sent is refused; the store still reconciles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.errors import PermanentPartnerError
from casehub.jobs import pull_progress
from casehub.partners import partner
from casehub.pipeline import Pipeline
from casehub.ports import Window
from casehub.pushes import push
from casehub.stats import collect
from casehub.store import Case, CaseHistory, RawRecord, SyncCursor
from connectors.health_commission import RENDERER, build_sink, feedback_action
from connectors.health_commission.feedback import FeedbackSource
from connectors.hotline import MAPPER
from connectors.kit import Endpoint, RetryPolicy
from connectors.kit.sink import Destination
from simulators.testing import RunningSimulator, start
from tests.samples import work_order

SPEC = partner("health_commission")
QUICK = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)
HEALTH = ("WH20261120000002", "WH20261120000003")  # by category (疫情防控), by its words (发热)
ORDINARY = "WH20261120000001"  # 占道经营: never sent to the commission
CURSOR = "health_commission:progress"


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSimulator]:
    # Every received case is fed back at once, so a test need not wait for the commission.
    with start("health_commission", feedback_share=1.0, feedback_delay_seconds=0) as simulator:
        yield simulator


@pytest.fixture
def commission(served: RunningSimulator) -> RunningSimulator:
    served.reset()
    return served


def endpoint(simulator: RunningSimulator, **changes: Any) -> Endpoint:
    stand_in = SPEC.simulator
    assert stand_in is not None
    options: dict[str, Any] = {
        "url": simulator.url + stand_in.path,
        "login": stand_in.login,
        "secret": stand_in.secret,
        "timeout": 10,
        "page_size": 200,
    }
    return Endpoint(**{**options, **changes})


def read_back(
    engine: Engine, keyring: KeyRing, simulator: RunningSimulator, **changes: Any
) -> dict[str, Any]:
    with FeedbackSource(endpoint(simulator, **changes), retry=QUICK) as source:
        return pull_progress(
            SPEC,
            source,
            feedback_action,
            engine=engine,
            keyring=keyring,
            until=datetime.now(UTC) + timedelta(seconds=1),
        )


def ingest_and_push(engine: Engine, keyring: KeyRing, simulator: RunningSimulator) -> dict[str, str]:
    """Two health-related work orders and an ordinary one in the store, the health-related
    pushed to the commission; their case ids by work order number."""
    orders = [
        work_order(),
        work_order(
            GDBH=HEALTH[0],
            YWLBDM="HL0802",
            YWLBMC="疫情防控",
            BT="小区多人发热",
            SQNR="我们楼里好几户发热，希望卫生部门来看看。",
        ),
        work_order(GDBH=HEALTH[1], BT="楼道多人发热咳嗽", SQNR="邻居家好几个人发热咳嗽，担心是传染病。"),
    ]
    assert Pipeline(engine, MAPPER, keyring).ingest(orders).accepted == 3
    stand_in = SPEC.simulator
    assert stand_in is not None
    destination = Destination(url=simulator.url, login=stand_in.login, secret=stand_in.secret, timeout=10)
    until = datetime.now(UTC) + SPEC.delivered().settle + timedelta(seconds=1)
    sink = build_sink(destination)
    try:
        summary = push(SPEC, sink, RENDERER, engine=engine, keyring=keyring, until=until)
    finally:
        sink.close()
    assert summary["batches"] == 1
    with engine.connect() as conn:
        rows = conn.execute(select(Case.source_id, Case.case_id).where(Case.channel == "hotline")).all()
    return {source_id: case_id for source_id, case_id in rows}


def history(engine: Engine, case_id: str) -> list[tuple[int, list[dict[str, Any]]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(CaseHistory.version, CaseHistory.events)
            .where(CaseHistory.case_id == case_id)
            .order_by(CaseHistory.version)
        ).all()
    return [(version, list(events)) for version, events in rows]


def feedback_raw_records(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(RawRecord.channel == SPEC.code)) or 0)


def test_each_case_sent_gains_one_feedback_version_and_a_second_read_applies_nothing(
    engine: Engine, keyring: KeyRing, commission: RunningSimulator
) -> None:
    cases = ingest_and_push(engine, keyring, commission)
    sent = {record["case_id"] for e in commission.received() for record in e["request"]["records"]}
    assert sent == {cases[number] for number in HEALTH}
    before = {number: history(engine, case_id) for number, case_id in cases.items()}
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(Case.case_id, Case.status)).all())

    assert read_back(engine, keyring, commission) == {"partner": SPEC.code, "applied_feedback": 2}

    codes = {item["caseId"]: item["code"] for item in _served(commission)}
    for number in HEALTH:
        case_id = cases[number]
        versions = history(engine, case_id)
        assert len(versions) == len(before[number]) + 1
        version, events = versions[-1]
        assert version == before[number][-1][0] + 1
        assert {"kind": "feedback", "code": codes[case_id]} in events
        assert any(event.get("kind") == "health_commission.feedback" for event in events)
    assert history(engine, cases[ORDINARY]) == before[ORDINARY]
    with engine.connect() as conn:
        assert dict(conn.execute(select(Case.case_id, Case.status)).all()) == statuses  # no status changes
        cursor = conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == CURSOR))
    assert cursor is not None
    assert feedback_raw_records(engine) == 2

    assert read_back(engine, keyring, commission) == {"partner": SPEC.code, "duplicate": 2}
    assert [len(history(engine, cases[number])) for number in HEALTH] == [len(before[n]) + 1 for n in HEALTH]
    assert feedback_raw_records(engine) == 2
    stats = collect(engine)
    assert stats["reconciled"], stats["checks"]


def test_feedback_on_a_case_never_sent_is_refused_and_a_malformed_one_is_invalid(
    engine: Engine, keyring: KeyRing, commission: RunningSimulator
) -> None:
    cases = ingest_and_push(engine, keyring, commission)
    before = history(engine, cases[ORDINARY])
    at = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    commission.inject(
        [
            {
                "feedbackId": "FK-NEVER-SENT",
                "caseId": cases[ORDINARY],
                "code": "verified",
                "note": "经核实，反映情况属实。",
                "handledBy": "江岸区卫生健康局",
                "feedbackAt": at,
            },
            {
                "feedbackId": "FK-NO-CASE",
                "caseId": "00000000-0000-0000-0000-000000000000",
                "code": "no_action",
                "note": "无需处置。",
                "handledBy": "武汉市卫生健康委员会",
                "feedbackAt": at,
            },
            {"feedbackId": "FK-BROKEN", "caseId": cases[HEALTH[0]], "code": "closed", "note": ""},
        ]
    )

    first = read_back(engine, keyring, commission)
    assert first == {"partner": SPEC.code, "applied_feedback": 2, "invalid": 1, "refused_not_found": 2}
    assert history(engine, cases[ORDINARY]) == before
    assert feedback_raw_records(engine) == 2  # only what was applied landed
    again = read_back(engine, keyring, commission)
    assert again == {"partner": SPEC.code, "duplicate": 2, "invalid": 1, "refused_not_found": 2}
    stats = collect(engine)
    assert stats["reconciled"], stats["checks"]


def test_feedback_is_read_page_by_page_and_through_a_burst_of_failures(
    engine: Engine, keyring: KeyRing, commission: RunningSimulator
) -> None:
    ingest_and_push(engine, keyring, commission)
    commission.faults("5xx", count=QUICK.attempts - 1, after=1)  # the second page fails, then passes
    assert read_back(engine, keyring, commission, page_size=1) == {
        "partner": SPEC.code,
        "applied_feedback": 2,
    }


def test_a_wrong_secret_is_permanent_and_moves_no_cursor(
    engine: Engine, keyring: KeyRing, commission: RunningSimulator
) -> None:
    ingest_and_push(engine, keyring, commission)
    with pytest.raises(PermanentPartnerError) as refused:
        read_back(engine, keyring, commission, secret="wrong-secret")
    assert refused.value.status == 401 and "wrong-secret" not in str(refused.value)
    with engine.connect() as conn:
        assert conn.scalar(select(SyncCursor.position).where(SyncCursor.channel == CURSOR)) is None
    assert feedback_raw_records(engine) == 0


def _served(simulator: RunningSimulator) -> list[dict[str, Any]]:
    """What the commission serves now, read as the hub reads it."""
    source = FeedbackSource(endpoint(simulator), retry=QUICK)
    now = datetime.now(UTC)
    with source:
        return [
            record
            for page in source.pages(Window(now - timedelta(days=1), now + timedelta(seconds=1)))
            for record in page
            if isinstance(record, dict)
        ]


def test_the_feedback_is_not_pushed_back_to_the_commission(
    engine: Engine, keyring: KeyRing, commission: RunningSimulator
) -> None:
    ingest_and_push(engine, keyring, commission)
    time.sleep(1.5)  # past the end of the first push's window, so the feedback falls in the next
    assert read_back(engine, keyring, commission)["applied_feedback"] == 2
    stand_in = SPEC.simulator
    assert stand_in is not None
    destination = Destination(url=commission.url, login=stand_in.login, secret=stand_in.secret, timeout=10)
    until = datetime.now(UTC) + SPEC.delivered().settle + timedelta(seconds=2)
    sink = build_sink(destination)
    try:
        again = push(SPEC, sink, RENDERER, engine=engine, keyring=keyring, until=until)
    finally:
        sink.close()
    assert again["records"] == 0, "a case changed only by the commission's own feedback is not sent back"

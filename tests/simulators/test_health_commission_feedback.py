"""The health commission stand-in feeds back on the cases it received: a signed, windowed, paged
GET of entries drawn from the seed, served as the commission's clock reaches them, with the
upload's faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from simulators import health_commission
from simulators.receiver import signature
from simulators.records import SHANGHAI
from simulators.testing import RunningSimulator, start

CODES = {"verified", "intervened", "referred", "no_action"}


class Clock:
    """The commission's clock, moved by the test; it starts at the real time, so the hub's
    signatures (stamped with the real time) stay within their 300 s."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def commission(clock: Clock) -> Iterator[RunningSimulator]:
    with start(
        "health_commission", seed=7, feedback_share=1.0, feedback_delay_seconds=10, clock=clock
    ) as sim:
        yield sim


def case_ids(count: int, prefix: str = "case") -> list[str]:
    return [f"{prefix}-{n:04d}" for n in range(count)]


def send(simulator: RunningSimulator, ids: list[str], batch_id: str = "b-1") -> None:
    """One signed batch of records naming `ids`, as the hub uploads them."""
    records = [{"case_id": case_id, "district_code": "420106"} for case_id in ids]
    body = json.dumps({"batchId": batch_id, "records": records}).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-App-Key": "casehub",
        "X-Batch-Id": batch_id,
        "X-Record-Count": str(len(records)),
        "X-Timestamp": stamp,
        "X-Signature": signature(health_commission.DEMO_SECRET, batch_id, stamp, body),
    }
    answer = requests.post(simulator.url + health_commission.PATH, data=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text


def read(
    simulator: RunningSimulator,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    *,
    secret: str = health_commission.DEMO_SECRET,
    login: str = "casehub",
    timestamp: int | None = None,
    tampered: dict[str, Any] | None = None,
    **params: Any,
) -> requests.Response:
    """GET /api/v1/feedback signed over its request target as sent — unless `tampered` changes
    the query after it was signed."""
    since = since or datetime(2020, 1, 1, tzinfo=SHANGHAI)
    until = until or datetime(2099, 1, 1, tzinfo=SHANGHAI)
    query: dict[str, Any] = {
        "since": since if isinstance(since, str) else since.isoformat(),
        "until": until if isinstance(until, str) else until.isoformat(),
        **params,
    }
    url = simulator.url + health_commission.FEEDBACK
    signed = requests.Request("GET", url, params=query).prepare()
    sent = requests.Request("GET", url, params={**query, **(tampered or {})}).prepare()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sent.headers.update(
        {
            "X-App-Key": login,
            "X-Timestamp": stamp,
            "X-Signature": signature(secret, f"GET {signed.path_url}", stamp, b""),
        }
    )
    with requests.Session() as session:
        return session.send(sent, timeout=10)


def items(simulator: RunningSimulator, **options: Any) -> list[dict[str, Any]]:
    answer = read(simulator, **options)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "wrong"}, "BAD_SIGNATURE"),
        ({"login": "someone"}, "UNKNOWN_APP_KEY"),
        ({"timestamp": 1_000_000_000}, "STALE_TIMESTAMP"),
        ({"tampered": {"pageSize": 1}}, "BAD_SIGNATURE"),  # the query is signed too
    ],
)
def test_a_read_not_signed_with_the_hubs_key_is_refused(
    commission: RunningSimulator, clock: Clock, change: dict[str, Any], code: str
) -> None:
    send(commission, case_ids(3))
    clock.now += 60
    answer = read(commission, **change)
    assert answer.status_code == 401
    assert answer.json()["code"] == code
    assert "items" not in answer.json()
    assert len(items(commission)) == 3  # signed properly, the same read is answered


def test_feedback_is_written_after_its_delay_and_paged_by_time_then_id(
    commission: RunningSimulator, clock: Clock
) -> None:
    ids = case_ids(30)
    send(commission, ids)
    assert items(commission) == []  # nothing is written yet
    clock.now += 16  # past every delay (5 to 15 s)
    everything = items(commission, pageSize=200)
    assert sorted(item["caseId"] for item in everything) == ids
    assert [(item["feedbackAt"], item["feedbackId"]) for item in everything] == sorted(
        (item["feedbackAt"], item["feedbackId"]) for item in everything
    )
    for item in everything:
        assert set(item) == {"feedbackId", "caseId", "code", "note", "handledBy", "feedbackAt"}
        assert item["code"] in CODES and item["note"] and item["handledBy"]
        at = datetime.fromisoformat(item["feedbackAt"])
        assert at.utcoffset() == timedelta(hours=8) and item["feedbackAt"].endswith("+08:00")
        assert (
            timedelta(seconds=4)
            <= at - datetime.fromtimestamp(clock.now - 16, SHANGHAI)
            <= timedelta(seconds=15)
        )

    paged, page = [], 1
    while True:
        answer = read(commission, page=page, pageSize=7).json()
        assert (answer["total"], answer["page"], answer["pageSize"]) == (30, page, 7)
        if not answer["items"]:
            break
        paged += answer["items"]
        page += 1
    assert paged == everything and page == 6

    middle = datetime.fromisoformat(everything[15]["feedbackAt"])
    before = items(commission, until=middle, pageSize=200)
    after = items(commission, since=middle, pageSize=200)
    assert before + after == everything  # [since, until): the middle entry is in the later window
    assert all(datetime.fromisoformat(item["feedbackAt"]) < middle for item in before)
    assert everything[15] in after


def test_a_case_is_fed_back_once_however_often_it_is_sent(commission: RunningSimulator, clock: Clock) -> None:
    send(commission, case_ids(5))
    send(commission, case_ids(5), batch_id="b-2")  # the same cases, updated and pushed again
    send(commission, case_ids(5), batch_id="b-2")  # a repeated batch: no second effect
    clock.now += 60
    assert sorted(item["caseId"] for item in items(commission)) == case_ids(5)
    commission.reset()
    assert items(commission) == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "2025-03-01T00:00:00"}, "since"),  # no offset
        ({"since": "2025-03-01T00:00:00 08:00"}, "since"),  # what a `+` sent bare becomes
        ({"until": "yesterday"}, "until"),
        ({"since": "2025-03-02T00:00:00+08:00", "until": "2025-03-01T00:00:00+08:00"}, "since"),
        ({"page": 0}, "page"),
        ({"pageSize": 201}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(
    commission: RunningSimulator, params: dict[str, Any], named: str
) -> None:
    answer = read(commission, **params)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BAD_PARAMETER" and named in answer.json()["message"]


def test_the_same_seed_gives_the_same_feedback_and_another_seed_other_feedback(clock: Clock) -> None:
    ids = case_ids(40)
    options = {"feedback_share": 0.5, "feedback_delay_seconds": 10, "clock": clock}
    with (
        start("health_commission", seed=11, **options) as first,
        start("health_commission", seed=11, **options) as second,
        start("health_commission", seed=12, **options) as other,
    ):
        for simulator in (first, second, other):
            send(simulator, ids)
        clock.now += 60
        found = [items(simulator, pageSize=200) for simulator in (first, second, other)]
    assert found[0] == found[1]
    assert 5 < len(found[0]) < 35  # about half the cases are fed back
    assert found[2] != found[0]
    assert len({item["feedbackId"] for item in found[0]}) == len(found[0])


def test_by_default_most_cases_are_fed_back_within_a_minute(clock: Clock) -> None:
    with start("health_commission", clock=clock) as simulator:
        send(simulator, case_ids(20))
        clock.now += 60
        assert len(items(simulator)) >= 15


def test_faults_come_before_the_signature_as_for_the_upload(
    commission: RunningSimulator, clock: Clock
) -> None:
    send(commission, case_ids(4))
    clock.now += 60
    commission.faults("5xx")
    assert read(commission, secret="wrong").status_code == 503
    commission.faults("429", retry_after=7)
    throttled = read(commission)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    commission.faults("error_body")
    maintenance = read(commission)
    assert maintenance.status_code == 200 and maintenance.headers["Content-Type"].startswith("text/html")
    commission.faults("bad_total")
    assert read(commission).json()["total"] == "4条"
    commission.faults("fault")
    assert read(commission).status_code == 500
    assert len(items(commission)) == 4  # the faults are used up


def test_injected_entries_are_served_verbatim_after_the_windows_own(
    commission: RunningSimulator, clock: Clock
) -> None:
    send(commission, case_ids(2))
    clock.now += 60
    hostile: list[Any] = [{"feedbackId": "X", "caseId": "nobody"}, "not an object", [1, 2], None]
    answer = requests.post(commission.url + "/_admin/inject", json={"records": hostile}, timeout=10)
    assert answer.json()["injected"] == 4
    served = read(commission, pageSize=200).json()
    assert served["total"] == 6
    assert served["items"][2:] == hostile
    assert {item["caseId"] for item in served["items"][:2]} == set(case_ids(2))

"""The connectors against the real partner simulators, over loopback HTTP.

Each test runs for both pulling channels: paging reads every record of a window exactly once
(plus the stale re-sends the partner appends on purpose), the mapper agrees with the defects the
simulator injected, and every failure mode the partners have ends in the right branch of the
error tree within the retry budget.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from casehub.enrich import enrich
from casehub.errors import InvalidRecord, PermanentPartnerError, TransientPartnerError
from casehub.normalize import SHANGHAI
from casehub.ports import Mapper, RawRecord, Source, Window
from casehub.reference import load_reference
from connectors import hotline, message_board
from connectors.hotline.client import HotlineSource
from connectors.kit import Endpoint, RetryPolicy
from connectors.message_board.client import MessageBoardSource
from simulators import testing

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WINDOW = Window(ANCHOR - timedelta(days=8), ANCHOR + timedelta(days=1))
"""Covers all the simulated data, which spans the 7 days before the anchor."""

RECORDS = 60
PAGE_SIZE = 25
FAST = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.2)
"""Three attempts with short back-off, so the tests exercise the policy quickly."""

DEFECT_REASONS = {
    "missing_field": "missing_field",
    "bad_phone": "invalid_phone",
    "bad_id_number": "invalid_id_number",
    "outside_city": "outside_city",
    "unknown_district": "unknown_district",
}
"""The simulator's defect names and the reason code each must produce. An unknown category is
no defect of the record: enrichment files it under 其他 with a warning (below)."""


@dataclass
class Partner:
    """A running simulator and how to build the connector pointed at it."""

    simulator: testing.RunningSimulator
    id_field: str
    mapper: Mapper
    build: Callable[[Endpoint, RetryPolicy, requests.Session | None], Source]
    path: str
    login: str
    secret: str

    def source(
        self,
        *,
        secret: str | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy = FAST,
        session: requests.Session | None = None,
    ) -> Any:
        endpoint = Endpoint(
            url=self.simulator.url + self.path,
            login=self.login,
            secret=self.secret if secret is None else secret,
            timeout=timeout,
            page_size=PAGE_SIZE,
        )
        return self.build(endpoint, retry, session)

    def source_id(self, record: RawRecord) -> str:
        return str(record[self.id_field])


@pytest.fixture(scope="module")
def hotline_simulator() -> Iterator[testing.RunningSimulator]:
    with testing.start("hotline", anchor=ANCHOR, records=RECORDS, defect_rate=0.25, seed=11) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def board_simulator() -> Iterator[testing.RunningSimulator]:
    with testing.start(
        "message_board", anchor=ANCHOR, records=RECORDS, defect_rate=0.25, seed=11
    ) as simulator:
        yield simulator


@pytest.fixture(params=["hotline", "message_board"])
def partner(request: pytest.FixtureRequest) -> Iterator[Partner]:
    if request.param == "hotline":
        running = Partner(
            simulator=request.getfixturevalue("hotline_simulator"),
            id_field="GDBH",
            mapper=hotline.MAPPER,
            build=lambda endpoint, retry, session: HotlineSource(endpoint, retry=retry, session=session),
            path="/ws/workorder",
            login="casehub",
            secret="hotline-demo-secret",
        )
    else:
        running = Partner(
            simulator=request.getfixturevalue("board_simulator"),
            id_field="id",
            mapper=message_board.MAPPER,
            build=lambda endpoint, retry, session: MessageBoardSource(endpoint, retry=retry, session=session),
            path="",
            login="casehub",
            secret="board-demo-token",
        )
    yield running
    running.simulator.reset()


def read_all(partner: Partner, **options: Any) -> list[list[RawRecord]]:
    with partner.source(**options) as source:
        return list(source.pages(WINDOW))


def test_window_yields_every_record_once_plus_the_stale_resends(partner: Partner) -> None:
    truth = partner.simulator.truth()
    pages = read_all(partner)
    ids = Counter(partner.source_id(record) for page in pages for record in page)
    stale = {
        source_id for source_id, t in truth.items() if "stale_resend" in t["defects"] and t["versions"] > 1
    }
    assert set(ids) == set(truth)
    assert {source_id for source_id, seen in ids.items() if seen > 1} == stale
    assert sum(ids.values()) == len(truth) + len(stale)
    assert len(pages) > 1
    assert all(0 < len(page) <= PAGE_SIZE for page in pages)


def test_mapper_quarantines_exactly_the_injected_defects(partner: Partner) -> None:
    truth = partner.simulator.truth()
    reference = load_reference()
    received_at = datetime.now(UTC)
    current: dict[str, RawRecord] = {}
    for page in read_all(partner):
        for record in page:
            current.setdefault(partner.source_id(record), record)
    for source_id, record in current.items():
        expected = {DEFECT_REASONS[d] for d in truth[source_id]["defects"] if d in DEFECT_REASONS}
        try:
            partner.mapper.to_case(record, reference, received_at=received_at)
        except InvalidRecord as error:
            found = {reason.code for reason in error.reasons}
        else:
            found = set()
            if "unknown_category" in truth[source_id]["defects"]:
                case = partner.mapper.to_case(record, reference, received_at=received_at)
                warnings = {w.code for w in enrich(case, reference).warnings}
                assert "unmapped_category" in warnings, source_id
        assert found == expected, source_id


def test_wrong_secret_is_permanent_and_not_echoed(partner: Partner) -> None:
    wrong = "not-the-secret-0451"
    with pytest.raises(PermanentPartnerError) as caught:
        read_all(partner, secret=wrong)
    error = caught.value
    assert error.partner == partner.simulator.partner
    assert error.request_id
    assert "credentials refused" in str(error)
    assert wrong not in str(error)
    assert partner.secret not in str(error)


@pytest.mark.parametrize("mode", ["5xx", "fault", "error_body"])
def test_a_failure_burst_shorter_than_the_budget_is_absorbed(partner: Partner, mode: str) -> None:
    expected = read_all(partner)
    partner.simulator.faults(mode, count=FAST.attempts - 1, after=1)
    assert read_all(partner) == expected


def test_a_longer_5xx_burst_is_transient(partner: Partner) -> None:
    partner.simulator.faults("5xx", count=FAST.attempts + 1)
    with pytest.raises(TransientPartnerError) as caught:
        read_all(partner)
    assert caught.value.status == 503
    assert caught.value.request_id


def test_429_waits_for_retry_after(partner: Partner) -> None:
    partner.simulator.faults("429", count=1, retry_after=1)
    started = time.monotonic()
    with partner.source() as source:
        first = next(iter(source.pages(WINDOW)))
    assert time.monotonic() - started >= 1.0
    assert first


def test_retry_after_beyond_the_cap_is_not_waited_for(partner: Partner) -> None:
    partner.simulator.faults("429", count=1, retry_after=120)
    started = time.monotonic()
    with pytest.raises(TransientPartnerError) as caught:
        read_all(partner)
    assert time.monotonic() - started < 5
    assert (caught.value.status, caught.value.retry_after) == (429, 120)


def test_a_hang_is_transient_within_the_timeout(partner: Partner) -> None:
    timeout, retry = 0.5, RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
    partner.simulator.faults("hang", count=retry.attempts, hang_seconds=20)
    started = time.monotonic()
    with pytest.raises(TransientPartnerError, match="timed out"):
        read_all(partner, timeout=timeout, retry=retry)
    assert time.monotonic() - started < retry.attempts * timeout + 1.0


def test_every_call_carries_one_request_id_shared_by_its_retries(partner: Partner) -> None:
    sent: list[str] = []
    partner.simulator.faults("5xx", count=1, after=1)
    with requests.Session() as session:
        session.hooks["response"].append(
            lambda answer, **_: sent.append(answer.request.headers["X-Request-ID"])
        )
        read_all(partner, session=session)
    first, retried, retry, third = sent
    assert retried == retry
    assert len({first, retry, third}) == 3
    assert all(len(request_id) == 32 for request_id in sent)

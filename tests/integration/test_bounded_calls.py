"""Partner calls under bad input: every call ends within its timeout and its size cap, a reply
that breaks the contract fails at once without being asked again, and a page with records that
cannot be decoded still delivers the ones that can. Real simulators over loopback HTTP."""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from casehub.errors import ContractError, TransientPartnerError
from casehub.normalize import SHANGHAI
from casehub.ports import PageRecord, Source, UnreadableRecord, Window
from connectors.hotline.client import HotlineSource
from connectors.kit import MAX_REPLY_BYTES, Endpoint, RetryPolicy
from connectors.kit.transport import PIECE_BYTES
from connectors.message_board.client import MessageBoardSource
from simulators import testing

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WINDOW = Window(ANCHOR - timedelta(days=8), ANCHOR + timedelta(days=1))
RECORDS = 40
PAGE_SIZE = 25
ONCE = RetryPolicy(attempts=1)
RETRIED = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.1)
TIMEOUT = 2.0
MARGIN = 0.75
"""How far past its timeout a call may end: scheduling and teardown, never another read."""


@dataclass
class Partner:
    simulator: testing.RunningSimulator

    @property
    def name(self) -> str:
        return self.simulator.partner

    def source(
        self,
        *,
        retry: RetryPolicy = ONCE,
        timeout: float = 10.0,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        session: requests.Session | None = None,
    ) -> Source:
        hotline = self.name == "hotline"
        endpoint = Endpoint(
            url=self.simulator.url + ("/ws/workorder" if hotline else ""),
            login="casehub",
            secret="hotline-demo-secret" if hotline else "board-demo-token",
            timeout=timeout,
            page_size=PAGE_SIZE,
            max_reply_bytes=max_reply_bytes,
        )
        if hotline:
            return HotlineSource(endpoint, retry=retry, session=session)
        return MessageBoardSource(endpoint, retry=retry, session=session)

    def read(self, **options: Any) -> list[list[PageRecord]]:
        source = self.source(**options)
        try:
            return list(source.pages(WINDOW))
        finally:
            source.close()


@pytest.fixture(scope="module")
def simulators() -> Iterator[dict[str, testing.RunningSimulator]]:
    with (
        testing.start("hotline", anchor=ANCHOR, records=RECORDS, seed=3) as hotline,
        testing.start("message_board", anchor=ANCHOR, records=RECORDS, seed=3) as board,
    ):
        yield {"hotline": hotline, "message_board": board}


@pytest.fixture(params=["hotline", "message_board"])
def partner(
    request: pytest.FixtureRequest, simulators: dict[str, testing.RunningSimulator]
) -> Iterator[Partner]:
    simulator = simulators[request.param]
    yield Partner(simulator)
    simulator.reset()


@pytest.fixture
def board(simulators: dict[str, testing.RunningSimulator]) -> Iterator[Partner]:
    yield Partner(simulators["message_board"])
    simulators["message_board"].reset()


@pytest.fixture
def hotline(simulators: dict[str, testing.RunningSimulator]) -> Iterator[Partner]:
    yield Partner(simulators["hotline"])
    simulators["hotline"].reset()


def failing(call: Callable[[], object], expected: type[Exception]) -> tuple[Exception, float]:
    """The error `call` raises and the seconds it took to raise it."""
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        call()
    return caught.value, time.monotonic() - started


def test_a_trickling_reply_ends_at_the_timeout(partner: Partner) -> None:
    partner.simulator.faults("trickle", trickle_seconds=0.1)
    error, elapsed = failing(lambda: partner.read(timeout=TIMEOUT), TransientPartnerError)
    assert f"no complete reply within {TIMEOUT:g} s" in str(error)
    assert TIMEOUT <= elapsed < TIMEOUT + MARGIN


def test_a_trickle_once_is_absorbed_by_the_retry(partner: Partner) -> None:
    expected = partner.read()
    partner.simulator.faults("trickle", trickle_seconds=0.1)
    started = time.monotonic()
    assert partner.read(timeout=TIMEOUT, retry=RETRIED) == expected
    assert time.monotonic() - started < TIMEOUT + MARGIN + 1.0


class StallingHeaders:
    """A partner stand-in that sends its status line and then one header byte every 0.1 s: each
    read succeeds, but the headers never end. uvicorn always sends headers whole, so the
    simulators cannot do this; a raw socket can."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Padding: ")
                while not self._stop.wait(0.1):
                    connection.sendall(b"a")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


def test_headers_that_never_end_are_cut_at_the_timeout() -> None:
    stalling = StallingHeaders()
    endpoint = Endpoint(
        url=stalling.url, login="casehub", secret="token", timeout=TIMEOUT, page_size=PAGE_SIZE
    )
    try:
        with MessageBoardSource(endpoint, retry=ONCE) as source:
            error, elapsed = failing(lambda: next(iter(source.pages(WINDOW))), TransientPartnerError)
    finally:
        stalling.close()
    assert "no complete reply" in str(error)
    assert TIMEOUT <= elapsed < TIMEOUT + MARGIN


def wire_bytes(partner: Partner, **options: Any) -> tuple[ContractError, list[int]]:
    """The ContractError of a read, and how many body bytes each response took off the wire."""
    responses: list[requests.Response] = []
    with requests.Session() as session:
        session.hooks["response"].append(lambda response, **_: responses.append(response))
        error, _ = failing(lambda: partner.read(session=session, **options), ContractError)
    assert isinstance(error, ContractError)
    return error, [response.raw.tell() for response in responses]


def test_an_oversized_reply_is_refused_as_it_streams_without_filling_memory(partner: Partner) -> None:
    partner.simulator.faults("oversized", declare_length=False)
    tracemalloc.start()
    try:
        error, read = wire_bytes(partner)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (error.partner, error.status) == (partner.name, 200)
    assert f"larger than the limit of {MAX_REPLY_BYTES} bytes" in str(error)
    [taken] = read
    assert MAX_REPLY_BYTES < taken <= MAX_REPLY_BYTES + PIECE_BYTES
    assert peak < 3 * MAX_REPLY_BYTES  # the reply itself is 150 001 records, over 100 MB
    assert partner.simulator.armed()["count"] == 0


def test_a_declared_length_over_the_cap_is_refused_unread(partner: Partner) -> None:
    partner.simulator.faults("oversized", count=RETRIED.attempts)
    error, read = wire_bytes(partner, max_reply_bytes=1024 * 1024, retry=RETRIED)
    assert "larger than the limit of 1048576 bytes" in str(error)
    assert read == [0]
    assert partner.simulator.armed()["count"] == RETRIED.attempts - 1


def test_more_records_than_asked_for_break_the_contract(partner: Partner) -> None:
    partner.simulator.faults("oversized", records=PAGE_SIZE + 1, count=RETRIED.attempts)
    error, _ = failing(lambda: partner.read(retry=RETRIED), ContractError)
    assert f"holds {PAGE_SIZE + 1} " in str(error)
    assert f"more than the {PAGE_SIZE} asked for" in str(error)
    assert partner.simulator.armed()["count"] == RETRIED.attempts - 1


def test_a_total_that_is_not_a_number_breaks_the_contract(partner: Partner) -> None:
    partner.simulator.faults("bad_total", count=RETRIED.attempts)
    error, _ = failing(lambda: partner.read(retry=RETRIED), ContractError)
    assert "total" in str(error)
    assert "not a whole number" in str(error)
    assert partner.simulator.armed()["count"] == RETRIED.attempts - 1


def test_hostile_xml_fails_at_once_and_is_not_asked_again(hotline: Partner) -> None:
    hotline.simulator.faults("hostile_xml", count=RETRIED.attempts)
    error, elapsed = failing(lambda: hotline.read(retry=RETRIED), ContractError)
    assert str(error) == (
        "hotline.QueryWorkOrders (HTTP 200): reply breaks the contract: "
        "a DOCTYPE is not allowed in a SOAP message"
    )
    assert hotline.simulator.armed()["count"] == RETRIED.attempts - 1
    assert elapsed < 1.0


def test_a_maintenance_page_is_still_transient(hotline: Partner) -> None:
    hotline.simulator.faults("error_body", count=RETRIED.attempts)
    error, _ = failing(lambda: hotline.read(retry=RETRIED), TransientPartnerError)
    assert "maintenance page" in str(error)
    assert hotline.simulator.armed()["count"] == 0


def test_work_orders_are_strings_as_sent_and_an_empty_one_does_not_stop_the_page(hotline: Partner) -> None:
    hotline.simulator.inject([{"GDBH": "WH20250309999001", "BT": " 标题 ", "BLSX": "5"}, {}])
    *_, last = hotline.read()
    odd, empty = last[-2:]
    assert isinstance(odd, dict) and isinstance(empty, dict)
    assert (odd["GDBH"], odd["BT"], odd["BLSX"], odd["GXSJ"]) == ("WH20250309999001", " 标题 ", "5", "")
    assert set(empty.values()) == {""}


def test_an_element_the_wsdl_does_not_have_breaks_the_contract(hotline: Partner) -> None:
    hotline.simulator.inject([{"GDBH": "WH20250309999002", "QTXX": "not in the WSDL"}])
    error, _ = failing(hotline.read, ContractError)
    assert "do not match the WSDL" in str(error)


BROKEN = {  # the safe reason an UnreadableRecord gives → the item's bytes
    "not valid UTF-8": b'{"id": 9001, "title": "\xff\xfe\xfd"}',
    "nested deeper than the parser allows": b"[" * 200_000 + b"]" * 200_000,
    "NaN or Infinity, which JSON does not have": b'{"id": 9002, "longitude": NaN}',
}
ODD: dict[str, Any] = {
    "a number": 42,
    "a string": "留言",
    "a list": [1, 2],
    "updateTime as a string": {"id": 9003, "updateTime": "1741000000000"},
    "updateTime as an object": {"id": 9004, "updateTime": {"ms": 1}},
    "an id above 2**64": {"id": 2**64 + 1, "updateTime": 1741000000000},
    "a lone surrogate": {"id": 9005, "title": "\ud800"},
}
"""Records that decode but are not what the contract describes: handed on as they are."""


def board_records(board: Partner) -> list[PageRecord]:
    return [record for page in board.read() for record in page]


def test_a_page_delivers_every_record_it_can_decode_and_hands_on_the_others(board: Partner) -> None:
    generated = board_records(board)
    board.simulator.inject([*BROKEN.values(), *map(json.dumps, ODD.values())])
    records = board_records(board)
    assert records[: len(generated)] == generated
    extra = records[len(generated) :]
    unreadable = [record for record in extra if isinstance(record, UnreadableRecord)]
    assert [(r.body, r.code, r.message, r.field) for r in unreadable] == [
        (body, "unreadable_record", f"record is {reason}", "/") for reason, body in BROKEN.items()
    ]
    assert [record for record in extra if not isinstance(record, UnreadableRecord)] == list(ODD.values())


def test_odd_records_in_a_body_that_decodes_pass_as_they_are(board: Partner) -> None:
    generated = board_records(board)
    board.simulator.inject(map(json.dumps, ODD.values()))
    assert board_records(board)[len(generated) :] == list(ODD.values())


def test_a_body_that_cannot_be_split_breaks_the_contract(board: Partner) -> None:
    board.simulator.inject(['"a string that never ends'])
    error, _ = failing(lambda: board.read(retry=RETRIED), ContractError)
    assert "reply cannot be split into records" in str(error)

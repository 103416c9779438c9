"""Faults on demand: what a client sees when a partner fails, and that the admin stays up."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep

from simulators import testing
from simulators.controls import TRICKLE_BYTES

AUTH = {"Authorization": "Bearer board-demo-token"}


def _list(http: requests.Session, board: testing.RunningSimulator, timeout: float = 5) -> requests.Response:
    return http.get(board.url + "/api/v1/messages", headers=AUTH, timeout=timeout)


def test_429_carries_retry_after_then_clears(board: testing.RunningSimulator, http: requests.Session) -> None:
    board.faults("429", count=2, retry_after=3)
    throttled = [_list(http, board) for _ in range(2)]
    assert [answer.status_code for answer in throttled] == [429, 429]
    assert throttled[0].headers["Retry-After"] == "3"
    assert _list(http, board).json()["code"] == 0


def test_5xx_comes_after_the_good_requests_asked_for(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    board.faults("5xx", count=1, after=1)
    assert [_list(http, board).status_code for _ in range(3)] == [200, 503, 200]


def test_fault_and_error_body_are_http_200(board: testing.RunningSimulator, http: requests.Session) -> None:
    board.faults("fault", count=1)
    assert _list(http, board).json() == {"code": 50000, "msg": "系统内部错误 internal error", "data": None}
    board.faults("error_body", count=1)
    page = _list(http, board)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")


def test_a_hang_times_out_the_client_while_health_answers(board: testing.RunningSimulator) -> None:
    board.faults("hang", count=1, hang_seconds=10)
    outcome: list[BaseException] = []

    def call() -> None:
        with requests.Session() as session:
            try:
                _list(session, board, timeout=1)
            except requests.Timeout as timeout:
                outcome.append(timeout)

    caller = threading.Thread(target=call)
    caller.start()
    while board.armed()["hanging"] == 0 and caller.is_alive():
        pass
    assert board.health() == {"partner": "message_board", "records": 200}
    caller.join()
    assert outcome
    assert isinstance(outcome[0], requests.Timeout)
    board.faults("none")


def test_the_hotline_faults_the_soap_way(
    hotline: testing.RunningSimulator, work_orders: Callable[..., zeep.proxy.ServiceProxy]
) -> None:
    service = work_orders()
    hotline.faults("fault", count=1)
    with pytest.raises(zeep.exceptions.Fault) as fault:
        service.GetWorkOrder(GDBH="WH20250303000001")
    assert fault.value.code == "soap:Server"
    hotline.faults("429", count=1)
    with pytest.raises(zeep.exceptions.TransportError) as throttled:
        service.GetWorkOrder(GDBH="WH20250303000001")
    assert throttled.value.status_code == 429


def test_reset_restores_the_generated_data(board: testing.RunningSimulator) -> None:
    before = board.truth()
    touched = board.touch(5)
    assert all(board.truth()[i]["versions"] == before[i]["versions"] + 1 for i in touched)
    board.reset()
    assert board.truth() == before
    assert board.received() == []


def test_start_and_stop_on_a_given_port(tmp_path: Path) -> None:
    with testing.start("message_board", records=10, var_dir=tmp_path) as first:
        port = int(first.url.rsplit(":", 1)[1])
    with testing.start("message_board", port=port, records=10, var_dir=tmp_path) as again:
        assert again.url == first.url
        assert again.health()["records"] == 10


def _whole(http: requests.Session, board: testing.RunningSimulator) -> bytes:
    return http.get(board.url + "/api/v1/messages", params={"pageSize": 2}, headers=AUTH, timeout=5).content


def test_a_trickle_sends_the_real_answer_piece_by_piece(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    expected = _whole(http, board)
    board.faults("trickle", trickle_seconds=0.01)
    started = time.monotonic()
    with http.get(board.url + "/api/v1/messages", params={"pageSize": 2}, headers=AUTH, timeout=5,
                  stream=True) as answer:
        pieces = list(iter(lambda: answer.raw.read1(65536), b""))
    assert b"".join(pieces) == expected
    pauses = len(expected) // TRICKLE_BYTES
    assert len(pieces) > pauses // 2  # a reader may find two pieces waiting now and then
    assert time.monotonic() - started >= pauses * 0.01


def test_a_reset_lets_a_trickle_finish_at_once(board: testing.RunningSimulator) -> None:
    board.faults("trickle", trickle_seconds=30)
    bodies: list[bytes] = []

    def call() -> None:
        with requests.Session() as session:
            bodies.append(_whole(session, board))

    caller = threading.Thread(target=call)
    caller.start()
    while board.armed()["hanging"] == 0 and caller.is_alive():
        pass
    board.reset()
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert json.loads(bodies[0])["code"] == 0


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_answer_streams_the_records_asked_for(
    board: testing.RunningSimulator, http: requests.Session, declare_length: bool
) -> None:
    board.faults("oversized", records=5000, declare_length=declare_length)
    answer = http.get(board.url + "/api/v1/messages", headers=AUTH, timeout=5)
    listing = answer.json()["data"]
    assert (listing["total"], len(listing["list"])) == (5000, 5000)
    assert len({json.dumps(item) for item in listing["list"]}) == 1
    assert ("Content-Length" in answer.headers) == declare_length
    if declare_length:
        assert int(answer.headers["Content-Length"]) == len(answer.content)


def test_a_default_oversized_answer_is_far_over_any_reply_cap(hotline: testing.RunningSimulator) -> None:
    hotline.faults("oversized")
    answer = requests.post(hotline.url + "/ws/workorder", data=b"", timeout=5, stream=True)
    with answer:
        assert int(answer.headers["Content-Length"]) > 100 * 1024 * 1024
        start = answer.raw.read(2048)
    assert b"<wo:ZS>150001</wo:ZS>" in start


def test_bad_total_keeps_the_page_but_writes_its_total_as_text(
    board: testing.RunningSimulator,
    hotline: testing.RunningSimulator,
    http: requests.Session,
    work_orders: Callable[..., zeep.proxy.ServiceProxy],
) -> None:
    def page() -> dict[str, Any]:
        listing = http.get(board.url + "/api/v1/messages", params={"pageSize": 3}, headers=AUTH, timeout=5)
        data: dict[str, Any] = listing.json()["data"]
        return data

    expected = page()
    board.faults("bad_total")
    assert page() == {**expected, "total": f"{expected['total']}条"}
    hotline.faults("bad_total")
    raw = work_orders(raw_response=True).QueryWorkOrders(
        KSSJ="2025-03-03 00:00:00", JSSJ="2025-03-10 00:00:00", YM=1, MYTS=3
    )
    assert raw.status_code == 200
    assert re.search(r"<wo:ZS>\d+条</wo:ZS>", raw.content.decode())
    assert raw.content.count(b"<wo:GD>") == 3


def test_hostile_xml_declares_entities_the_hotline_only(
    hotline: testing.RunningSimulator, board: testing.RunningSimulator, http: requests.Session
) -> None:
    hotline.faults("hostile_xml")
    answer = http.post(hotline.url + "/ws/workorder", data=b"", timeout=5)
    assert answer.status_code == 200
    assert answer.content.count(b"<!ENTITY") == 10
    assert b"&lol9;" in answer.content
    refused = http.post(board.url + "/_admin/faults", json={"mode": "hostile_xml"}, timeout=5)
    assert refused.status_code == 422
    assert board.armed()["mode"] == "none"

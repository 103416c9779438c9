"""Faults on demand: what a client sees when a partner fails, and that the admin stays up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import zeep

from simulators import testing

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

"""Records injected through the admin surface are served verbatim after every window's own."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import requests
import zeep

from simulators import testing

AUTH = {"Authorization": "Bearer board-demo-token"}
NOT_UTF8 = b'{"id": 1, "title": "\xff"}'


def _listing(http: requests.Session, board: testing.RunningSimulator, **params: int) -> requests.Response:
    return http.get(board.url + "/api/v1/messages", params=params, headers=AUTH, timeout=5)


def test_board_items_come_byte_for_byte_at_the_end_and_count_in_the_total(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    total = _listing(http, board).json()["data"]["total"]
    items = [NOT_UTF8, b"NaN", b'{"id": 2}']
    assert board.inject([NOT_UTF8, "NaN", '{"id": 2}']) == 3
    last = _listing(http, board, page=-(-(total + 3) // 200), pageSize=200).content
    assert last.endswith(b"," + b",".join(items) + b"]}}")
    listed = [{"base64": base64.b64encode(item).decode(), "bytes": len(item)} for item in items]
    assert board.injected() == listed
    first = _listing(http, board, pageSize=1).json()["data"]
    assert first["total"] == total + 3
    board.reset()
    assert board.injected() == []
    assert _listing(http, board).json()["data"]["total"] == total


def test_work_orders_are_served_as_given(
    hotline: testing.RunningSimulator, work_orders: Callable[..., zeep.proxy.ServiceProxy]
) -> None:
    service = work_orders()
    window = {"KSSJ": "2025-03-03 00:00:00", "JSSJ": "2025-03-10 00:00:00"}
    total: int = service.QueryWorkOrders(**window, YM=1, MYTS=1).ZS
    hotline.inject([{"GDBH": "WH20250309999999", "BT": "<b>&标题</b>"}])
    page = service.QueryWorkOrders(**window, YM=total + 1, MYTS=1)
    counted = page.ZS
    assert counted == total + 1
    [order] = page.GDLB.GD
    assert (order.GDBH, order.BT, order.SQNR) == ("WH20250309999999", "<b>&标题</b>", None)
    assert hotline.injected() == [{"GDBH": "WH20250309999999", "BT": "<b>&标题</b>"}]


@pytest.mark.parametrize(
    ("partner", "records"),
    [
        ("board", [{"base64": "not base64!"}]),
        ("board", [{"text": "1", "base64": "MQ=="}]),
        ("board", ["raw text without its wrapper"]),
        ("hotline", [{"GDBH": 1}]),
        ("hotline", [{"BT": "a NUL \u0000 XML cannot carry"}]),
        ("hotline", [{"not a name": "x"}]),
    ],
    ids=["bad-base64", "both-forms", "unwrapped", "not-a-string", "nul", "bad-element-name"],
)
def test_what_cannot_be_served_is_refused(
    request: pytest.FixtureRequest, http: requests.Session, partner: str, records: list[object]
) -> None:
    simulator: testing.RunningSimulator = request.getfixturevalue(partner)
    answer = http.post(simulator.url + "/_admin/inject", json={"records": records}, timeout=5)
    assert answer.status_code == 422
    assert simulator.injected() == []

"""The message board simulator speaks its REST/JSON contract over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from prcoords import bd_wgs

from simulators import testing
from simulators.gazetteer import CITY_BOUNDS
from simulators.reference import message_board_types

AUTH = {"Authorization": "Bearer board-demo-token"}
WINDOW = {"updatedFrom": 1740931200000, "updatedTo": 1741536000000}  # 2025-03-03 to 03-10 +08:00


def _get(
    http: requests.Session, board: testing.RunningSimulator, path: str, **params: Any
) -> requests.Response:
    return http.get(board.url + path, params=params, headers=AUTH, timeout=5)


def _all_messages(
    http: requests.Session, board: testing.RunningSimulator, size: int
) -> tuple[int, list[dict[str, Any]]]:
    first = _get(http, board, "/api/v1/messages", page=1, pageSize=size, **WINDOW).json()["data"]
    listing = list(first["list"])
    for page in range(2, -(-first["total"] // size) + 1):
        listing += _get(http, board, "/api/v1/messages", page=page, pageSize=size, **WINDOW).json()["data"][
            "list"
        ]
    return first["total"], listing


def test_pages_add_up_to_the_total(board: testing.RunningSimulator, http: requests.Session) -> None:
    total, listing = _all_messages(http, board, size=45)
    truth = board.truth()
    resent = [i for i, facts in truth.items() if "stale_resend" in facts["defects"]]
    assert total == len(listing) == len(truth) + len(resent)
    current = listing[: len(truth)]
    assert {str(m["id"]) for m in current} == set(truth)
    keys = [(m["updateTime"], m["id"]) for m in current]
    assert keys == sorted(keys)


def test_answers_come_in_the_envelope(board: testing.RunningSimulator, http: requests.Session) -> None:
    answer = _get(http, board, "/api/v1/messages", page=1, pageSize=1, **WINDOW)
    body = answer.json()
    assert answer.status_code == 200
    assert (body["code"], body["msg"]) == (0, "success")
    message = body["data"]["list"][0]
    single = _get(http, board, f"/api/v1/messages/{message['id']}").json()
    assert single["data"] == message


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 40100),
        ({"Authorization": "Bearer wrong-token"}, 40101),
    ],
    ids=["no-token", "bad-token"],
)
def test_a_bad_token_is_an_error_envelope(
    board: testing.RunningSimulator, http: requests.Session, headers: dict[str, str], code: int
) -> None:
    answer = http.get(board.url + "/api/v1/messages", headers=headers, timeout=5)
    assert answer.status_code == 200
    assert (answer.json()["code"], answer.json()["data"]) == (code, None)


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v1/messages", {"pageSize": 201}, 42200),
        ("/api/v1/messages", {"updatedFrom": "yesterday"}, 42200),
        ("/api/v1/messages/1", {}, 40400),
        ("/api/v1/messages/abc", {}, 42200),
    ],
    ids=["page-too-large", "bad-time", "unknown-id", "bad-id"],
)
def test_bad_requests_get_their_code(
    board: testing.RunningSimulator, http: requests.Session, path: str, params: dict[str, Any], code: int
) -> None:
    answer = _get(http, board, path, **params)
    assert (answer.status_code, answer.json()["code"]) == (200, code)


def test_a_reply_is_recorded_and_applied(board: testing.RunningSimulator, http: requests.Session) -> None:
    listing = _get(http, board, "/api/v1/messages", pageSize=200, **WINDOW).json()["data"]["list"]
    waiting = next(m for m in listing if m["status"] in ("待受理", "已受理"))
    reply = {
        "replyContent": "您好，已安排人员处理。",
        "replyOrg": "江岸区城管执法局",
        "replyTime": 1741500000000,
    }
    answer = http.post(
        f"{board.url}/api/v1/messages/{waiting['id']}/reply", json=reply, headers=AUTH, timeout=5
    ).json()
    assert answer == {"code": 0, "msg": "success", "data": {"id": waiting["id"], "status": "已回复"}}
    [received] = board.received()
    assert received["operation"] == "reply"
    assert received["request"]["replyOrg"] == "江岸区城管执法局"
    updated = _get(http, board, f"/api/v1/messages/{waiting['id']}").json()["data"]
    assert (updated["status"], updated["replyTime"]) == ("已回复", 1741500000000)
    assert updated["updateTime"] > WINDOW["updatedTo"]


def test_defect_truth_matches_what_is_served(board: testing.RunningSimulator, http: requests.Session) -> None:
    truth = board.truth()
    _, listing = _all_messages(http, board, size=200)
    published = {int(kind.code) for kind in message_board_types()}
    west, south, east, north = CITY_BOUNDS
    for message in listing[: len(truth)]:
        defects = truth[str(message["id"])]["defects"]
        assert (message["typeId"] not in published) == ("unknown_category" in defects)
        if message["longitude"] is None:
            assert "outside_city" not in defects
            continue
        wgs = bd_wgs((message["latitude"], message["longitude"]))
        inside = west <= wgs.lon <= east and south <= wgs.lat <= north
        assert inside != ("outside_city" in defects), message["id"]

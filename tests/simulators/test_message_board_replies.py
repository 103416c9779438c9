"""The message board applies an official reply once per Idempotency-Key, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from simulators import testing

AUTH = {"Authorization": "Bearer board-demo-token"}
REPLY = {"replyContent": "您好，路灯已修复。", "replyOrg": "江岸区城管执法局", "replyTime": 1741500000000}


def _message_id(board: testing.RunningSimulator) -> str:
    return next(iter(board.truth()))


def _reply(
    http: requests.Session,
    board: testing.RunningSimulator,
    message_id: str,
    key: str | None = "evt-0001",
    body: Any = None,
) -> requests.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key is not None else {})}
    return http.post(
        f"{board.url}/api/v1/messages/{message_id}/reply",
        json=REPLY if body is None else body,
        headers=headers,
        timeout=5,
    )


def _versions(board: testing.RunningSimulator, message_id: str) -> int:
    versions: int = board.truth()[message_id]["versions"]
    return versions


def test_a_repeated_key_is_answered_as_the_first_time_and_adds_no_version(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    message_id = _message_id(board)
    before = _versions(board, message_id)
    first = _reply(http, board, message_id).json()
    again = _reply(http, board, message_id).json()
    assert first == {
        "code": 0,
        "msg": "success",
        "data": {"id": int(message_id), "status": first["data"]["status"], "duplicate": False},
    }
    assert again["data"] == {**first["data"], "duplicate": True}
    assert _versions(board, message_id) == before + 1
    assert board.effects() == {"evt-0001": 1}
    shown = http.get(f"{board.url}/api/v1/messages/{message_id}", headers=AUTH, timeout=5).json()["data"]
    assert (shown["replyContent"], shown["replyOrg"]) == (REPLY["replyContent"], REPLY["replyOrg"])


@pytest.mark.parametrize(
    "change",
    [{"replyContent": "另一条回复。"}, {"replyTime": 1741500000001}, {"message": True}],
    ids=["other-content", "other-time", "other-message"],
)
def test_a_key_reused_for_another_reply_is_refused_with_40900(
    board: testing.RunningSimulator, http: requests.Session, change: dict[str, Any]
) -> None:
    first_id, other_id = list(board.truth())[:2]
    assert _reply(http, board, first_id).json()["code"] == 0
    target = other_id if change.pop("message", False) else first_id
    before = _versions(board, target)
    refused = _reply(http, board, target, body={**REPLY, **change})
    assert (refused.status_code, refused.json()["code"], refused.json()["data"]) == (200, 40900, None)
    assert "Idempotency-Key" in refused.json()["msg"]
    assert _versions(board, target) == before
    assert board.effects() == {"evt-0001": 1}


def test_without_a_key_every_reply_is_applied(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    message_id = _message_id(board)
    before = _versions(board, message_id)
    answers = [_reply(http, board, message_id, key=None).json() for _ in range(2)]
    assert [answer["code"] for answer in answers] == [0, 0]
    assert "duplicate" not in answers[0]["data"]
    assert _versions(board, message_id) == before + 2
    assert board.effects() == {}


@pytest.mark.parametrize(
    ("key", "body", "named"),
    [
        ("k" * 256, None, "Idempotency-Key"),
        ("", None, "Idempotency-Key"),
        ("évt-1", None, "Idempotency-Key"),
        ("evt-1", [REPLY], "body"),
        ("evt-1", {**REPLY, "replyTime": True}, "replyTime"),
        ("evt-1", {**REPLY, "replyContent": "  "}, "replyContent"),
        ("evt-1", {**REPLY, "replyContent": "长" * 10_001}, "replyContent"),
        ("evt-1", {**REPLY, "replyOrg": "单" * 201}, "replyOrg"),
    ],
    ids=[
        "key-too-long",
        "key-empty",
        "key-not-ascii",
        "not-an-object",
        "time-bool",
        "blank-content",
        "content-too-long",
        "org-too-long",
    ],
)
def test_a_refused_reply_names_its_field_and_consumes_no_key(
    board: testing.RunningSimulator, http: requests.Session, key: str, body: Any, named: str
) -> None:
    message_id = _message_id(board)
    before = _versions(board, message_id)
    answer = _reply(http, board, message_id, key=key, body=body).json()
    assert (answer["code"], answer["data"]) == (42200, None)
    assert named in answer["msg"]
    assert "长长长" not in answer["msg"]
    assert _versions(board, message_id) == before
    assert board.effects() == {}
    assert _reply(http, board, message_id, key="evt-1").json()["data"]["duplicate"] is False


def test_a_reply_to_an_unknown_message_is_40400_and_the_key_stays_free(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    assert _reply(http, board, "1").json()["code"] == 40400
    assert board.effects() == {}
    assert _reply(http, board, _message_id(board)).json()["data"]["duplicate"] is False


def test_faults_reach_the_reply_and_apply_nothing(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    message_id = _message_id(board)
    before = _versions(board, message_id)
    board.faults("429", count=1, retry_after=7)
    throttled = _reply(http, board, message_id)
    assert (throttled.status_code, throttled.headers["Retry-After"], throttled.json()["code"]) == (
        429,
        "7",
        42900,
    )
    board.faults("5xx", count=1)
    assert _reply(http, board, message_id).status_code == 503
    board.faults("fault", count=1)
    failed = _reply(http, board, message_id)
    assert (failed.status_code, failed.json()["code"]) == (200, 50000)
    board.faults("error_body", count=1)
    assert _reply(http, board, message_id).headers["Content-Type"].startswith("text/html")
    assert _versions(board, message_id) == before
    assert board.effects() == {}
    assert _reply(http, board, message_id).json()["data"]["duplicate"] is False


def test_a_bad_token_refuses_the_reply_before_its_key(
    board: testing.RunningSimulator, http: requests.Session
) -> None:
    message_id = _message_id(board)
    answer = http.post(
        f"{board.url}/api/v1/messages/{message_id}/reply",
        json=REPLY,
        timeout=5,
        headers={"Authorization": "Bearer wrong", "Idempotency-Key": "evt-0001"},
    ).json()
    assert answer["code"] == 40101
    assert board.effects() == {}


def test_a_reset_forgets_the_keys(board: testing.RunningSimulator, http: requests.Session) -> None:
    message_id = _message_id(board)
    _reply(http, board, message_id)
    board.reset()
    assert board.effects() == {}
    assert _reply(http, board, message_id).json()["data"]["duplicate"] is False

"""The community app takes the hub's status callbacks over real HTTP as a Standard Webhooks
receiver: it checks headers, timestamp, signature and body, knows the reports its sender sends,
and applies each webhook id once."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from simulators import neighborhood_app, reports, testing
from simulators.__main__ import _plan, parser
from simulators.records import SHANGHAI, Options

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
RECORDS = 20
SECRET = neighborhood_app.DEMO_CALLBACK_SECRET
WRONG_SECRET = "whsec_bm90LXRoZS1hcHAncy1jYWxsYmFjay1zZWNyZXQ="


@pytest.fixture(scope="module")
def app_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.RunningSimulator]:
    var_dir = tmp_path_factory.mktemp("app")
    with testing.start("neighborhood_app", anchor=ANCHOR, records=RECORDS, var_dir=var_dir) as simulator:
        yield simulator


@pytest.fixture
def app(app_session: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield app_session
    app_session.reset()


@pytest.fixture(scope="module")
def report_ids() -> list[str]:
    """The reports the sender pushes for the same options, in the order it pushes them."""
    sent = neighborhood_app.messages(reports.generate(Options(42, RECORDS, 0.05, 7, ANCHOR)))
    return list(dict.fromkeys(message.report_id for message in sent))


def envelope(report_id: str, **data: Any) -> dict[str, Any]:
    return {
        "type": "report.status",
        "timestamp": "2025-03-09T02:00:00.000Z",
        "data": {
            "reportId": report_id,
            "status": "processing",
            "statusText": "处理中",
            "unit": "花楼街道办事处",
            "note": "已安排网格员上门",
            "result": None,
            "at": "2025-03-09T10:00:00+08:00",
            **data,
        },
    }


def signed(
    body: bytes, webhook_id: str = "evt-0001", *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(stamp, UTC), body.decode("utf-8"))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def post(app: testing.RunningSimulator, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(app.url + neighborhood_app.CALLBACK_PATH, data=body, headers=headers, timeout=5)


def encoded(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def test_a_callback_is_applied_once_however_often_it_comes(
    app: testing.RunningSimulator, report_ids: list[str]
) -> None:
    body = encoded(envelope(report_ids[0]))
    first = post(app, body, signed(body))
    again = post(app, body, signed(body, timestamp=int(time.time()) - 60))
    assert (first.status_code, first.json()) == (
        200,
        {"code": "OK", "reportId": report_ids[0], "duplicate": False},
    )
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert app.effects() == {"evt-0001": 1}
    received = app.received()
    assert [entry["outcome"] for entry in received] == [
        {"status": 200, "duplicate": False},
        {"status": 200, "duplicate": True},
    ]
    assert received[0]["request"]["data"]["unit"] == "花楼街道办事处"
    assert "webhook-signature" not in json.dumps(received)


def test_it_knows_every_report_its_sender_sends(app: testing.RunningSimulator, report_ids: list[str]) -> None:
    assert len(report_ids) == RECORDS == app.health()["records"]
    for number, report_id in enumerate(report_ids):
        body = encoded(envelope(report_id))
        assert post(app, body, signed(body, f"evt-{number}")).status_code == 200
    assert len(app.effects()) == RECORDS


def test_an_unknown_report_is_404_naming_the_field(app: testing.RunningSimulator) -> None:
    body = encoded(envelope("WLL20250309999999"))
    answer = post(app, body, signed(body))
    assert (answer.status_code, answer.json()["code"]) == (404, "UNKNOWN_REPORT")
    assert "/data/reportId" in answer.json()["message"]
    assert app.effects() == {}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"secret": WRONG_SECRET}, 401, "BAD_SIGNATURE"),
        ({"webhook-signature": "v1,bm90LWEtc2lnbmF0dXJl"}, 401, "BAD_SIGNATURE"),
        ({"webhook-signature": "v1"}, 401, "BAD_SIGNATURE"),
        ({"webhook-signature": "v1,%%%"}, 401, "BAD_SIGNATURE"),
        ({"webhook-signature": None}, 401, "MISSING_SIGNATURE"),
        ({"age": 301}, 401, "STALE_TIMESTAMP"),
        ({"age": -301}, 401, "STALE_TIMESTAMP"),
        ({"webhook-id": None}, 400, "BAD_HEADER"),
        ({"webhook-timestamp": None}, 400, "BAD_HEADER"),
        ({"webhook-timestamp": "1e9"}, 400, "BAD_HEADER"),
        ({"webhook-timestamp": "99999999999999999999"}, 400, "BAD_HEADER"),
    ],
    ids=[
        "wrong-secret",
        "wrong-signature",
        "no-comma",
        "not-base64",
        "no-signature",
        "stale",
        "future",
        "no-id",
        "no-timestamp",
        "float-timestamp",
        "huge-timestamp",
    ],
)
def test_a_callback_that_is_not_the_hubs_is_refused(
    app: testing.RunningSimulator, report_ids: list[str], change: dict[str, Any], status: int, code: str
) -> None:
    body = encoded(envelope(report_ids[0]))
    headers = signed(
        body, secret=change.pop("secret", SECRET), timestamp=int(time.time()) - change.pop("age", 0)
    )
    for header, value in change.items():
        headers.pop(header)
        if value is not None:
            headers[header] = value
    answer = post(app, body, headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    for header in change:
        assert header in answer.json()["message"]
    assert app.effects() == {}
    assert app.received()[-1]["outcome"] == {"status": status, "code": code}


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"{not json", 400, "JSON"),
        (b'{"type": NaN}', 400, "JSON"),
        (b"[1, 2]", 400, "object"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "bytes"),
        (b"[" * 30_000 + b"]" * 30_000, 400, "JSON"),
        (b'{"type": "report.status", "x": "\xff"}', 400, "UTF-8"),
    ],
    ids=["broken", "nan", "array", "oversized", "deep", "not-utf8"],
)
def test_a_hostile_body_is_refused_and_named(
    app: testing.RunningSimulator, body: bytes, status: int, named: str
) -> None:
    headers = signed(body) if _utf8(body) else signed(b"{}")  # refused before its signature is read
    answer = post(app, body, headers)
    assert answer.status_code == status
    assert named in answer.json()["message"]
    assert app.effects() == {}


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "closed"}, "/data/status"),
        ({"statusText": "已办结"}, "/data/statusText"),
        ({"at": "2025-03-09 10:00:00"}, "/data/at"),
        ({"unit": 7}, "/data/unit"),
        ({"note": "住户电话13800138000" * 1000}, "/data/note"),
        ({"reportId": "20250309000001"}, "/data/reportId"),
        ({"extra": "x"}, "/data"),
        ({"drop": "result"}, "/data/result"),
    ],
    ids=[
        "status",
        "inconsistent-text",
        "local-time",
        "unit-number",
        "note-too-long",
        "report-id",
        "extra-field",
        "missing-result",
    ],
)
def test_a_malformed_callback_is_422_naming_the_field_never_the_value(
    app: testing.RunningSimulator, report_ids: list[str], change: dict[str, Any], field: str
) -> None:
    document = envelope(report_ids[0])
    drop = change.pop("drop", None)
    document["data"].update(change)
    document["data"].pop(drop, None)
    body = encoded(document)
    answer = post(app, body, signed(body))
    assert (answer.status_code, answer.json()["code"]) == (422, "INVALID_FIELD")
    assert answer.json()["message"].startswith(field)
    assert "13800138000" not in answer.text
    assert app.effects() == {}


def test_the_envelope_type_is_checked(app: testing.RunningSimulator, report_ids: list[str]) -> None:
    body = encoded({**envelope(report_ids[0]), "type": "report.created"})
    answer = post(app, body, signed(body))
    assert (answer.status_code, answer.json()["message"]) == (422, "/type is not the allowed value")


def test_faults_come_before_any_check_and_apply_nothing(
    app: testing.RunningSimulator, report_ids: list[str]
) -> None:
    body = encoded(envelope(report_ids[0]))
    app.faults("429", count=1, retry_after=9)
    throttled = post(app, body, signed(body))
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "9")
    app.faults("5xx", count=1)
    assert post(app, body, signed(body)).status_code == 503
    app.faults("fault", count=1)
    assert post(app, body, signed(body)).status_code == 500
    assert app.effects() == {}
    assert post(app, body, signed(body)).json()["duplicate"] is False


def test_a_reset_forgets_what_was_applied(app: testing.RunningSimulator, report_ids: list[str]) -> None:
    body = encoded(envelope(report_ids[0]))
    post(app, body, signed(body))
    app.reset()
    assert app.effects() == {}
    assert app.received() == []
    assert post(app, body, signed(body)).json()["duplicate"] is False


def test_all_serves_the_callback_receiver_on_the_manifest_port() -> None:
    plan = {partner: port for partner, port, _ in _plan(parser().parse_args(["all"]))}
    assert plan["neighborhood_app"] == 8106
    alone = parser().parse_args(["neighborhood_app", "--serve"])
    assert _plan(alone) == [("neighborhood_app", 8106, 200)]
    sender = parser().parse_args(["neighborhood_app", "--target", "http://127.0.0.1:9", "--count", "300"])
    assert (sender.serve, sender.records, sender.count) == (False, None, 300)


def test_the_command_line_serves_the_receiver(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "simulators",
        "neighborhood_app",
        "--serve",
        "--port",
        "0",
        "--records",
        "5",
        "--var-dir",
        str(tmp_path),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        ready = process.stdout.readline()
        match = re.fullmatch(r"neighborhood_app ready on (http://127\.0\.0\.1:\d+) \(5 records\)\n", ready)
        assert match, ready
        assert requests.get(match.group(1) + "/_admin/effects", timeout=5).json() == {"effects": {}}
        process.terminate()
        assert process.wait(timeout=10) == 0

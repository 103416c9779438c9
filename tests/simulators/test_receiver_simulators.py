"""The city brain and health commission stand-ins: signed batches applied once, framing checked,
refusals with a code, faults before everything."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulators import city_brain, health_commission
from simulators.receiver import signature
from simulators.testing import RunningSimulator, start

RECORD = {"case_id": "252f98ec-e0d8-57ea-8238-31111914adcf", "channel": "hotline", "category": "080009"}


@pytest.fixture(scope="module")
def brain() -> Iterator[RunningSimulator]:
    with start("city_brain") as running:
        yield running


@pytest.fixture(scope="module")
def health() -> Iterator[RunningSimulator]:
    with start("health_commission") as running:
        yield running


def upload(simulator: RunningSimulator, path: str, body: bytes, batch_id: str, *, count: int = 1,
           secret: str, timestamp: int | None = None, **headers: str) -> requests.Response:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sent = {"X-App-Key": "casehub", "X-Batch-Id": batch_id, "X-Record-Count": str(count),
            "X-Timestamp": stamp, "X-Signature": signature(secret, batch_id, stamp, body), **headers}
    return requests.post(simulator.url + path, data=body, headers=sent, timeout=10)


def brain_upload(brain: RunningSimulator, records: list[dict[str, Any]], batch_id: str = "b-1",
                 **options: Any) -> requests.Response:
    text = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    headers.update(options.pop("headers", {}))
    body = options.pop("body", gzip.compress(text))
    return upload(brain, city_brain.PATH, body, batch_id, count=len(records),
                  secret=options.pop("secret", city_brain.DEMO_SECRET), **headers, **options)


def test_the_city_brain_applies_a_batch_id_once_and_acknowledges_it_again(brain: RunningSimulator) -> None:
    brain.reset()
    first = brain_upload(brain, [RECORD, RECORD])
    again = brain_upload(brain, [RECORD, RECORD])
    assert first.status_code == again.status_code == 200
    assert (first.json()["accepted"], first.json()["duplicate"]) == (2, False)
    assert (again.json()["accepted"], again.json()["duplicate"]) == (2, True)
    assert first.json()["receiptId"] == again.json()["receiptId"]
    batches = brain.batches()
    assert {k: (v["records"], v["deliveries"]) for k, v in batches.items()} == {"b-1": (2, 2)}
    assert [e["request"]["records"] for e in brain.received()] == [[RECORD, RECORD]] * 2
    brain.reset()
    assert brain.batches() == {}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"secret": "wrong"}, 401, "BAD_SIGNATURE"),
        ({"timestamp": 1_000_000_000}, 401, "STALE_TIMESTAMP"),
        ({"headers": {"X-App-Key": "someone"}}, 401, "UNKNOWN_APP_KEY"),
        ({"headers": {"Content-Encoding": "identity"}}, 415, "NOT_GZIP"),
        ({"body": b"not gzip at all"}, 400, "BAD_GZIP"),
        ({"body": gzip.compress(b'{"case_id": "x"}')}, 400, "BAD_NDJSON"),
        ({"body": gzip.compress(b"[1, 2]\n")}, 400, "BAD_JSON"),
        ({"headers": {"X-Record-Count": "9"}}, 400, "COUNT_MISMATCH"),
    ],
)
def test_the_city_brain_refuses_what_is_not_signed_or_framed_as_agreed(
    brain: RunningSimulator, change: dict[str, Any], status: int, code: str
) -> None:
    brain.reset()
    answer = brain_upload(brain, [RECORD], **change)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert brain.batches() == {}


def test_a_field_outside_the_allow_list_is_refused(brain: RunningSimulator) -> None:
    brain.reset()
    answer = brain_upload(brain, [{**RECORD, "reporter_phone": "+8613800138000"}])
    assert (answer.status_code, answer.json()["code"]) == (422, "FIELD_NOT_ALLOWED")
    assert "13800138000" not in answer.text


def test_faults_come_before_the_checks(brain: RunningSimulator) -> None:
    brain.reset()
    brain.faults("429", count=1, retry_after=3)
    throttled = brain_upload(brain, [RECORD], secret="wrong")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    brain.faults("5xx", count=1)
    assert brain_upload(brain, [RECORD]).status_code == 503
    assert brain_upload(brain, [RECORD]).status_code == 200


def test_the_health_commission_takes_a_json_batch_whose_id_is_the_signed_one(
    health: RunningSimulator,
) -> None:
    health.reset()
    body = json.dumps({"batchId": "h-1", "records": [RECORD]}).encode()
    ok = upload(health, health_commission.PATH, body, "h-1", secret=health_commission.DEMO_SECRET,
                **{"Content-Type": "application/json"})
    assert ok.status_code == 200 and ok.json() == {**ok.json(), "batchId": "h-1", "accepted": 1}
    other = upload(health, health_commission.PATH, body, "h-2", secret=health_commission.DEMO_SECRET,
                   **{"Content-Type": "application/json"})
    assert (other.status_code, other.json()["code"]) == (400, "BATCH_ID_MISMATCH")
    plain = upload(health, health_commission.PATH, body, "h-1", secret=health_commission.DEMO_SECRET,
                   **{"Content-Type": "text/plain"})
    assert (plain.status_code, plain.json()["code"]) == (415, "NOT_JSON")

"""The community app simulator pushes signed Standard Webhooks over real HTTP, as the hub receives them.

A small receiver runs under uvicorn on a free loopback port, verifies every delivery with the
`standardwebhooks` library and records it; it can be told to fail the next requests with 503.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prcoords import gcj_wgs_bored
from standardwebhooks import Webhook, WebhookVerificationError

from simulators import neighborhood_app, reports, testing
from simulators.generator import dump
from simulators.records import SHANGHAI, Options
from simulators.serving import bind, server

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
SECRET = testing.NEIGHBORHOOD_APP_SECRET
OLD_SECRET = "whsec_b2xkLXNlY3JldC1iZWluZy1yb3RhdGVkLW91dA=="
REGIONS = Path(__file__).resolve().parents[2] / "schemas" / "reference" / "regions.csv"
WUHAN = (113.68, 29.97, 115.08, 31.37)  # west, south, east, north
MAX_BODY = 1024 * 1024
FAST = 2e-6  # the whole retry schedule in about 0.2 s


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def envelope(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


class Receiver:
    """A stand-in for the gateway: verifies with `secrets`, answers 503 while `failures` last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.received: list[Received] = []
        self.failures = 0
        self.secrets = [SECRET]
        self.app = FastAPI()
        self.app.post("/webhooks/neighborhood_app")(self.receive)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        verified = any(_verifies(secret, body, headers) for secret in self.secrets)
        with self.lock:
            if self.failures:
                self.failures -= 1
                status = 503
            elif len(body) > MAX_BODY:
                status = 413
            else:
                status = 204 if verified else 401
            self.received.append(Received(time.monotonic(), headers, body, verified, status))
            self.arrived.notify_all()
        return Response(status_code=status)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.failures = 0
            self.secrets = [SECRET]

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), len(self.received)
            return list(self.received)


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@pytest.fixture(scope="module")
def receiver_session() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    sock = bind("127.0.0.1", 0)
    ready = threading.Event()
    running = server(receiver.app, ready.set, graceful_seconds=1)
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[sock])), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield receiver, f"http://127.0.0.1:{sock.getsockname()[1]}"
    running.should_exit = True
    thread.join()
    sock.close()


@pytest.fixture
def receiver(receiver_session: tuple[Receiver, str]) -> Iterator[Receiver]:
    yield receiver_session[0]
    receiver_session[0].reset()


@pytest.fixture
def url(receiver_session: tuple[Receiver, str]) -> str:
    return receiver_session[1]


def _send(url: str, **options: Any) -> neighborhood_app.Summary:
    options.setdefault("anchor", ANCHOR)
    options.setdefault("retry_scale", FAST)
    return testing.send(url, options.pop("secret", SECRET), **options)


@pytest.fixture(scope="module")
def full_run(receiver_session: tuple[Receiver, str]) -> tuple[neighborhood_app.Summary, list[Received]]:
    """Every webhook of 300 reports, a fifth of them defective, as the receiver got them."""
    receiver, url = receiver_session
    summary = _send(url, records=300, defect_rate=0.2, seed=7)
    with receiver.lock:
        received = list(receiver.received)
    receiver.reset()
    return summary, received


def _regions() -> dict[str, dict[str, str]]:
    with REGIONS.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row for row in csv.DictReader(handle)}


def test_every_delivery_verifies_and_carries_the_envelope(
    full_run: tuple[neighborhood_app.Summary, list[Received]],
) -> None:
    summary, received = full_run
    assert summary.ok and summary.delivered == len(received) == summary.count() > 300
    assert all(r.verified and r.status == 204 for r in received)
    for entry in received:
        envelope = entry.envelope
        assert set(envelope) == {"type", "timestamp", "data"}
        assert envelope["type"] in ("report.created", "report.updated")
        assert datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00")).tzinfo is not None
        assert entry.headers["webhook-id"].startswith("msg_")
        assert entry.headers["content-type"] == "application/json"
        data = envelope["data"]
        assert data["reportId"].startswith("WLL") and data["reportId"][3:].isdigit()
        assert datetime.fromisoformat(data["updatedAt"]).utcoffset() is not None


def test_each_report_is_created_once_then_updated_with_later_times(
    full_run: tuple[neighborhood_app.Summary, list[Received]],
) -> None:
    summary, received = full_run
    by_report: dict[str, list[dict[str, Any]]] = {}
    for entry in received:
        by_report.setdefault(entry.envelope["data"]["reportId"], []).append(entry.envelope)
    assert set(by_report) == set(summary.truth)
    statuses = {status.name for status in reports.statuses()}
    for report_id, envelopes in by_report.items():
        types = [e["type"] for e in envelopes]
        assert types == ["report.created"] + ["report.updated"] * (len(envelopes) - 1)
        assert len(envelopes) == summary.truth[report_id]["versions"]
        assert envelopes[0]["data"]["status"] == "已提交"
        assert {e["data"]["status"] for e in envelopes} <= statuses
        if "future_update" in summary.truth[report_id]["defects"]:
            continue
        updated = [datetime.fromisoformat(e["data"]["updatedAt"]) for e in envelopes]
        assert updated == sorted(updated) and len(set(updated)) == len(updated)


def test_clean_reports_lie_in_their_community_and_defects_show(
    full_run: tuple[neighborhood_app.Summary, list[Received]],
) -> None:
    summary, received = full_run
    regions = _regions()
    published = {c.code for c in reports.categories()}
    west, south, east, north = WUHAN
    now = datetime.now(SHANGHAI)
    last = {entry.envelope["data"]["reportId"]: index for index, entry in enumerate(received)}
    pinned = 0
    for index, entry in enumerate(received):
        data = entry.envelope["data"]
        defects = summary.truth[data["reportId"]]["defects"]
        known = data["communityCode"] in regions and regions[data["communityCode"]]["level"] == "community"
        assert known != ("unknown_community" in defects), data["reportId"]
        assert (data["categoryCode"] not in published) == ("unknown_category" in defects)
        assert (not data["title"] or not data["content"]) == ("missing_field" in defects)
        assert phonenumbers.is_valid_number(phonenumbers.parse(data["reporterPhone"], "CN")) != (
            "bad_phone" in defects
        )
        future = "future_update" in defects and last[data["reportId"]] == index  # a phone's clock
        assert (datetime.fromisoformat(data["updatedAt"]) > now) == future
        location = data["location"]
        if location is None:
            assert not {"outside_city", "swapped_coordinates"} & set(defects)
            continue
        if "swapped_coordinates" in defects:
            assert location["lat"] > 90
            continue
        wgs = gcj_wgs_bored((location["lat"], location["lng"]))
        inside = west <= wgs.lon <= east and south <= wgs.lat <= north
        assert inside != ("outside_city" in defects), data["reportId"]
        if not defects:
            pinned += 1
            community = regions[data["communityCode"]]
            assert data["communityName"] == community["name"]
            distance = math.dist((wgs.lon, wgs.lat), (float(community["lng"]), float(community["lat"])))
            assert distance < 0.0025, data["reportId"]
    assert pinned > len(received) / 2


def test_defects_come_at_about_the_configured_rate(
    full_run: tuple[neighborhood_app.Summary, list[Received]],
) -> None:
    summary, _ = full_run
    defective = sum(1 for facts in summary.truth.values() if facts["defects"])
    assert 0.14 < defective / len(summary.truth) < 0.26
    kinds = {kind for facts in summary.truth.values() for kind in facts["defects"]}
    assert kinds == set(reports.DEFECTS)


def test_the_same_seed_sends_the_same_webhooks(receiver: Receiver, url: str) -> None:
    _send(url, count=40, seed=3)
    first = [(r.headers["webhook-id"], r.body) for r in receiver.wait_for(40)]
    receiver.reset()
    _send(url, count=40, seed=3)
    assert [(r.headers["webhook-id"], r.body) for r in receiver.wait_for(40)] == first
    receiver.reset()
    _send(url, count=40, seed=4)
    assert not {i for i, _ in first} & {r.headers["webhook-id"] for r in receiver.wait_for(40)}
    options = Options(seed=3, records=50, anchor=ANCHOR)
    assert dump(reports.generate(options)) == dump(reports.generate(options))


def test_a_5xx_is_retried_with_the_same_id_after_growing_delays(receiver: Receiver, url: str) -> None:
    receiver.failures = 4
    scale = 0.0002  # 1 ms, 60 ms, 360 ms, 1.44 s
    summary = _send(url, count=1, retry_scale=scale)
    [delivery] = summary.deliveries
    assert (delivery.outcome, [a.status for a in delivery.attempts]) == ("delivered", [503] * 4 + [204])
    received = receiver.wait_for(5)
    assert {r.headers["webhook-id"] for r in received} == {delivery.webhook_id}
    assert len({r.body for r in received}) == 1 and all(r.verified for r in received)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(received)]
    for gap, delay in zip(gaps, neighborhood_app.RETRY_SCHEDULE_SECONDS[1:], strict=False):
        assert gap >= delay * scale * 0.9
    assert gaps == sorted(gaps)


def test_the_sender_gives_up_after_the_schedule(receiver: Receiver, url: str) -> None:
    receiver.failures = 100
    summary = _send(url, count=2)
    attempts = len(neighborhood_app.RETRY_SCHEDULE_SECONDS)
    assert (summary.gave_up, summary.delivered, summary.attempts, summary.ok) == (2, 0, 2 * attempts, False)
    assert all(d.outcome == "gave_up" and d.status == 503 for d in summary.deliveries)
    assert len(receiver.wait_for(2 * attempts)) == 2 * attempts


def test_an_unreachable_target_is_retried_then_given_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    summary = _send(f"http://127.0.0.1:{port}", count=1)
    [delivery] = summary.deliveries
    assert delivery.outcome == "gave_up"
    assert [a.error for a in delivery.attempts] == ["ConnectionError"] * 8


def test_replays_carry_the_same_id_and_body(receiver: Receiver, url: str) -> None:
    summary = _send(url, count=5, faults={"replay": 3})
    replays = [d for d in summary.deliveries if d.kind == "replay"]
    assert len(replays) == 3 and all(d.outcome == "delivered" and len(d.attempts) == 1 for d in replays)
    received = receiver.wait_for(8)
    first_seen: dict[str, bytes] = {}
    for entry in received:
        webhook = entry.headers["webhook-id"]
        assert first_seen.setdefault(webhook, entry.body) == entry.body
        assert entry.verified
    assert len(first_seen) == 5


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ("bad_signature", 401),
        ("stale_timestamp", 401),
        ("future_timestamp", 401),
        ("missing_header", 401),
        ("oversized", 413),
    ],
)
def test_faults_fail_verification_as_meant(receiver: Receiver, url: str, fault: str, status: int) -> None:
    summary = _send(url, count=2, faults={fault: 3})
    assert summary.delivered == 2
    faulty = [d for d in summary.deliveries if d.kind == fault]
    assert len(faulty) == 3 and all(d.outcome == "refused" and d.status == status for d in faulty)
    refused = [r for r in receiver.wait_for(5) if r.status != 204]
    assert len(refused) == 3
    now = time.time()
    for entry in refused:
        if fault == "stale_timestamp":
            assert int(entry.headers["webhook-timestamp"]) < now - 300
        if fault == "future_timestamp":
            assert int(entry.headers["webhook-timestamp"]) > now + 300
        if fault in ("stale_timestamp", "future_timestamp"):
            moment = datetime.fromtimestamp(int(entry.headers["webhook-timestamp"]), UTC)
            signed = Webhook(SECRET).sign(entry.headers["webhook-id"], moment, entry.body.decode())
            assert entry.headers["webhook-signature"] == signed
        if fault == "bad_signature":
            assert abs(int(entry.headers["webhook-timestamp"]) - now) < 60
        if fault == "oversized":
            assert len(entry.body) > neighborhood_app.OVERSIZE_BYTES
    if fault == "missing_header":
        missing = [set(neighborhood_app.HEADERS) - set(entry.headers) for entry in refused]
        assert sorted(missing, key=sorted) == sorted(({h} for h in neighborhood_app.HEADERS), key=sorted)


def test_a_rotation_signs_with_both_secrets(receiver: Receiver, url: str) -> None:
    receiver.secrets = [OLD_SECRET]
    summary = _send(url, count=3, secret=[SECRET, OLD_SECRET])
    assert summary.delivered == 3
    for entry in receiver.wait_for(3):
        signatures = entry.headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        for secret, signed in zip((SECRET, OLD_SECRET), signatures, strict=True):
            alone = {**entry.headers, "webhook-signature": signed}
            assert _verifies(secret, entry.body, alone)
            other = OLD_SECRET if secret == SECRET else SECRET
            assert not _verifies(other, entry.body, alone)


def test_a_rate_paces_the_deliveries(receiver: Receiver, url: str) -> None:
    summary = _send(url, count=6, rate=25)
    starts = [d.attempts[0].sent_at for d in summary.deliveries]
    assert all(later - earlier >= 0.9 / 25 for earlier, later in itertools.pairwise(starts))
    assert summary.seconds >= 5 / 25


def test_a_background_sender_can_be_watched_and_stopped(receiver: Receiver, url: str) -> None:
    with testing.start_sender(url, SECRET, anchor="2025-03-10", rate=20, count=400) as sender:
        receiver.wait_for(3)
        summary = sender.stop()
    assert 3 <= summary.delivered < 400
    assert summary.count(outcome="stopped") == 400 - summary.delivered
    assert len(sender.finished()) == 400


def test_the_command_line_entry_points(
    receiver: Receiver, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=5)  # one the caller already defines is kept
    neighborhood_app.add_arguments(parser)
    args = parser.parse_args(["--target", url, "--count", "4", "--anchor", "2025-03-10",
                              "--retry-scale", "0.000002", "--fault", "replay=2", "--fault", "bad_signature"])
    assert neighborhood_app.main_from_args(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith(f"neighborhood_app sent 4 webhooks to {url}/webhooks/neighborhood_app")
    assert "4 delivered" in out[-1] and "bad_signature → 401 ×1" in out[-1]
    assert len(receiver.wait_for(7)) == 7

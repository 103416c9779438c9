"""The SOAP partners turned hostile: the hotline and digital urban management answer a pull with
each hostile document of `simulators.hostile` — XXE against a local file and a local canary
server, parameter entities, an external DTD, XInclude, billion laughs, quadratic blow-up,
2 000 000 levels of nesting, a 15 MB text node, lying and invalid encodings.

Each reply is refused in under a second by an error of the tree that names its defect
(`ContractError`: asking again returns the same, so it is asked once); nothing reaches the
canary and no file content comes back; the same holds for the hub's own calls to them (a handling
result, a transfer), whose hostile answer is a permanent failure of that event (its answer is
capped at 64 KiB, so the big documents are refused for their size). An ingest worker in a
process of its own (`tests/hostile_worker.py`) pulls each one, and its peak memory above what it held stays
bounded by a few times the reply cap; it goes on pulling good pages afterwards. An ingest run on
a store fails without landing anything or moving the cursor, and the next run lands the window.
The time and peak memory of each payload are printed.
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.errors import ContractError
from casehub.pipeline import Pipeline
from casehub.ports import OutboundEvent
from casehub.store import RawRecord
from connectors import hotline, urban_mgmt
from connectors.hotline import MAPPER as HOTLINE
from connectors.hotline.client import HotlineSource
from connectors.kit import MAX_REPLY_BYTES, Endpoint, RetryPolicy
from connectors.kit.sink import Destination
from connectors.urban_mgmt import MAPPER as URBAN
from connectors.urban_mgmt.client import UrbanMgmtSource
from simulators import testing
from tests.hostile_worker import ANCHOR, SERVICES, WINDOW

REPO = Path(__file__).resolve().parents[2]
RECORDS = 30
SECONDS = 1.0
PEAK_BYTES = 4 * MAX_REPLY_BYTES
"""A hostile reply may cost the worker a few copies of itself (read, joined, parsed up to the
limit), never more: the reply is capped at MAX_REPLY_BYTES before anything reads it."""
SECRET_TEXT = "TOP-SECRET-FILE-CONTENT"
RETRIED = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.1)

PAYLOADS: list[tuple[str, str, str]] = [
    ("billion_laughs", "", "a DOCTYPE is not allowed"),
    ("quadratic_blowup", "", "a DOCTYPE is not allowed"),
    ("external_entity", "file", "a DOCTYPE is not allowed"),
    ("external_entity", "canary", "a DOCTYPE is not allowed"),
    ("parameter_entity", "canary", "a DOCTYPE is not allowed"),
    ("external_dtd", "canary", "a DOCTYPE is not allowed"),
    ("xinclude", "file", "an XInclude element is not allowed"),
    ("xinclude", "canary", "an XInclude element is not allowed"),
    ("deep_nesting", "", "nested deeper than 256 levels"),
    ("huge_text", "", "a text node is longer than 10000000 bytes"),
    ("utf16_declared_utf8", "", "the document is in UTF-16 but declares utf-8"),
    ("bom_contradicts_declaration", "", "a UTF-8 byte order mark, but a declaration of utf-16"),
    ("invalid_bytes", "", "bytes invalid in its encoding"),
    ("unknown_encoding", "", "an encoding that does not exist"),
    ("truncated", "", "not well-formed XML"),
]
"""(document, what it refers to, what the error must say)."""
OVER_A_RECEIPT = frozenset({"quadratic_blowup", "deep_nesting", "huge_text"})
"""The documents larger than an answer to one call may be (MAX_RECEIPT_BYTES, 64 KiB)."""
IDS = [f"{document}-{target}" if target else document for document, target, _ in PAYLOADS]


class _Canary(http.server.BaseHTTPRequestHandler):
    """Answers anything fetched from it with an entity that would leak into the page."""

    hits: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(f'<!ENTITY leak "{SECRET_TEXT}">'.encode())

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that records every request reaching it."""
    hits: list[str] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Canary", (_Canary,), {"hits": hits}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "secret.txt"
    path.write_text(SECRET_TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def partners() -> Iterator[dict[str, testing.RunningSimulator]]:
    with (
        testing.start("hotline", anchor=ANCHOR, records=RECORDS, seed=7) as hotline,
        testing.start("urban_mgmt", anchor=ANCHOR, records=RECORDS, seed=7) as urban,
    ):
        yield {"hotline": hotline, "urban_mgmt": urban}


class Worker:
    """`tests/hostile_worker.py` in a process of its own, one pull per `pull`."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile_worker"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def pull(self, simulator: testing.RunningSimulator) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"partner": simulator.partner, "url": simulator.url}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the worker died (exit code {self.process.poll()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.close()
        self.process.wait(30)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    started = Worker()
    try:
        yield started
    finally:
        started.close()


def _target(kind: str, canary: str, secret_file: Path, document: str) -> str | None:
    if kind == "file":
        return secret_file.as_uri()
    if kind == "canary":
        return f"{canary}/{document}"
    return None


@pytest.mark.parametrize("partner", ["hotline", "urban_mgmt"])
def test_each_hostile_reply_is_refused_at_once_naming_its_defect_at_a_bounded_cost(
    partners: dict[str, testing.RunningSimulator],
    worker: Worker,
    canary: tuple[str, list[str]],
    secret_file: Path,
    partner: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulator = partners[partner]
    url, hits = canary
    warm = worker.pull(simulator)
    assert warm.get("records", 0) >= RECORDS, warm
    rows = []
    for (document, kind, cause), label in zip(PAYLOADS, IDS, strict=True):
        simulator.faults("hostile_xml", document=document, target=_target(kind, url, secret_file, document))
        answer = worker.pull(simulator)
        rows.append((label, answer))
        assert answer.get("error") == "ContractError", (label, answer)
        assert "reply breaks the contract: " in answer["message"], (label, answer)
        assert cause in answer["message"], (label, answer)
        assert SECRET_TEXT not in answer["message"]
        assert answer["seconds"] < SECONDS, (label, answer)
        assert answer["peak_bytes"] < PEAK_BYTES, (label, answer)
        assert simulator.armed()["count"] == 0, label  # asked once
    assert hits == []
    after = worker.pull(simulator)
    assert after.get("records") == warm["records"], after
    with capsys.disabled():
        print(f"\n{partner}: each hostile reply, pulled by an ingest worker of its own")
        print(f"  {'payload':32} {'seconds':>8} {'peak MiB':>9}")
        for label, answer in rows:
            print(f"  {label:32} {answer['seconds']:8.3f} {answer['peak_bytes'] / 2**20:9.1f}")


def _source(simulator: testing.RunningSimulator) -> HotlineSource | UrbanMgmtSource:
    kind, path, secret = SERVICES[simulator.partner]
    endpoint = Endpoint(url=simulator.url + path, login="casehub", secret=secret, timeout=5.0, page_size=20)
    return kind(endpoint, retry=RETRIED)


def _run(engine: Engine, keyring: KeyRing, simulator: testing.RunningSimulator) -> Any:
    mapper = HOTLINE if simulator.partner == "hotline" else URBAN
    with _source(simulator) as source:
        return Pipeline(engine, mapper, keyring).run(
            source, until=WINDOW.end, lookback=timedelta(minutes=30), initial_start=WINDOW.start
        )


@pytest.mark.parametrize("partner", ["hotline", "urban_mgmt"])
def test_an_ingest_run_on_a_hostile_reply_lands_nothing_and_the_next_run_lands_the_window(
    partners: dict[str, testing.RunningSimulator],
    sqlite_engine: Engine,
    keyring: KeyRing,
    canary: tuple[str, list[str]],
    secret_file: Path,
    partner: str,
) -> None:
    simulator = partners[partner]
    url, hits = canary
    pipeline = Pipeline(sqlite_engine, HOTLINE if partner == "hotline" else URBAN, keyring)
    for document, kind, cause in PAYLOADS:
        target = _target(kind, url, secret_file, document)
        simulator.faults("hostile_xml", count=RETRIED.attempts, document=document, target=target)
        with pytest.raises(ContractError, match=cause):
            _run(sqlite_engine, keyring, simulator)
        assert simulator.armed()["count"] == RETRIED.attempts - 1, document  # not retried
        simulator.faults("none")
    with sqlite_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RawRecord)) == 0
    assert pipeline.cursor() is None
    assert hits == []
    result = _run(sqlite_engine, keyring, simulator)
    assert result.received >= RECORDS
    assert pipeline.cursor() is not None


def _event(simulator: testing.RunningSimulator) -> OutboundEvent:
    """A handling result for the hotline's first order, or a transfer into urban management."""
    now = datetime.now(UTC).replace(microsecond=0)
    common = {
        "event_id": "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "case_id": "5f0c3e0a-1d2b-5c3d-9e4f-0a1b2c3d4e5f",
        "case_version": 2,
        "target": None,
        "created_at": now,
    }
    if simulator.partner == "hotline":
        data = {
            "status": "completed",
            "result": "路灯已修复。",
            "unit": "江岸区城市管理执法局",
            "unit_code": "420102-CG",
            "completed_at": now.isoformat(),
        }
        return OutboundEvent(
            partner="hotline", kind="result", source_id=sorted(simulator.truth())[0], data=data, **common
        )
    data = {
        "title": "暴露垃圾未清运",
        "content": "路边有暴露垃圾。",
        "category": "020001",
        "category_name": "暴露垃圾",
        "address": "江岸区解放大道",
        "district_code": "420102",
        "street_code": None,
        "community_code": None,
        "grid_code": None,
        "lng": 114.3,
        "lat": 30.6,
        "reported_at": "2025-03-09T10:00:00+08:00",
        "deadline_at": "2025-03-12T18:00:00+08:00",
        "urgency": "normal",
    }
    return OutboundEvent(
        partner="urban_mgmt", kind="transfer", source_id="WH20250303000123", data=data, **common
    )


@pytest.mark.parametrize("partner", ["hotline", "urban_mgmt"])
def test_a_hostile_answer_to_the_hubs_own_call_fails_that_event_for_good(
    partners: dict[str, testing.RunningSimulator],
    canary: tuple[str, list[str]],
    secret_file: Path,
    partner: str,
) -> None:
    simulator = partners[partner]
    url, hits = canary
    _, path, secret = SERVICES[partner]
    event = _event(simulator)
    connector = hotline if partner == "hotline" else urban_mgmt
    with connector.build_event_sink(
        Destination(url=simulator.url + path, login="casehub", secret=secret)
    ) as sink:
        for document, kind, cause in PAYLOADS:
            simulator.faults(
                "hostile_xml", document=document, target=_target(kind, url, secret_file, document)
            )
            expected = "larger than the limit of 65536 bytes" if document in OVER_A_RECEIPT else cause
            with pytest.raises(ContractError, match=re.escape(expected)):
                sink.send(event)
        assert simulator.effects() == {} and hits == []
        assert sink.send(event).duplicate is False
    assert simulator.effects() == {event.event_id: 1}
    simulator.reset()

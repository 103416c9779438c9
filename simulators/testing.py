"""Simulators for the hub's tests and demo: real HTTP on loopback, started and stopped in-process.

    with simulators.testing.start("hotline", seed=7) as hotline:
        client = zeep.Client(WSDL, ...)  # pointed at hotline.url + "/ws/workorder"
        hotline.faults("429", count=2)
        ...

`start` runs the partner's app under uvicorn in a background thread on a free loopback port (or
the one given), waits until it listens and `/_admin/health` answers, and returns a handle whose
methods drive the admin surface of docs/partners.md. This is the only module of `simulators` the
hub's tests may import.

The community app is not served but sends: `send` pushes its signed webhooks to a target (the
hub's gateway) and returns once each is delivered or given up; `start_sender` does the same in a
background thread, for a test that watches the hub while the pushes arrive:

    summary = simulators.testing.send(gateway_url, NEIGHBORHOOD_APP_SECRET, count=50,
                                      retry_scale=0.001, faults={"replay": 2})
    summary.delivered, summary.truth, [d.attempts for d in summary.deliveries]
"""

from __future__ import annotations

import asyncio
import base64
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from simulators import hostile, neighborhood_app
from simulators.generator import DEFAULT_RECORDS
from simulators.neighborhood_app import Delivery, Summary
from simulators.records import parse_anchor
from simulators.serving import ReadyServer, bind, create_app, server

__all__ = [
    "HOSTILE_DOCUMENTS", "HOSTILE_MARK", "NEIGHBORHOOD_APP_SECRET", "Delivery", "RunningSender",
    "RunningSimulator", "Summary", "hostile_document", "send", "start", "start_sender",
]

_START_TIMEOUT_SECONDS = 30.0


class RunningSimulator:
    """A simulator serving on `url` until `stop()`; a context manager that stops on exit."""

    def __init__(self, partner: str, url: str, running: ReadyServer, thread: threading.Thread,
                 sock: socket.socket, cleanup: tempfile.TemporaryDirectory[str] | None) -> None:
        self.partner = partner
        self.url = url  # base URL, e.g. http://127.0.0.1:40123
        self._server = running
        self._thread = thread
        self._cleanup = cleanup
        self._sock = sock

    def faults(self, mode: str, count: int = 1, after: int = 0, *,
               hang_seconds: float | None = None, retry_after: int | None = None,
               trickle_seconds: float | None = None, records: int | None = None,
               declare_length: bool | None = None, document: str | None = None,
               target: str | None = None) -> dict[str, Any]:
        """Make the next `count` protocol requests after `after` good ones fail in `mode`:
        "5xx", "hang", "429", "fault", "error_body", "trickle", "oversized", "bad_total",
        "hostile_xml" (the SOAP partners only), or "none" to clear. `trickle_seconds` paces a
        trickle; `records` and `declare_length` shape an oversized answer; `document` names the
        hostile answer (one of `HOSTILE_DOCUMENTS`, billion_laughs unless given) and `target`
        what its entity, DTD or XInclude refers to (a file:// or http:// URL)."""
        options = {"hang_seconds": hang_seconds, "retry_after": retry_after,
                   "trickle_seconds": trickle_seconds, "records": records,
                   "declare_length": declare_length, "document": document, "target": target}
        body = {"mode": mode, "count": count, "after": after,
                **{name: value for name, value in options.items() if value is not None}}
        plan: dict[str, Any] = self._call("POST", "/_admin/faults", body)
        return plan

    def inject(self, records: Iterable[bytes | str | Mapping[str, str]]) -> int:
        """Serve `records` verbatim after every window's own, until reset; returns how many
        are injected now. Message board: each a raw JSON item, as text or as bytes (sent as
        base64, so they need not be UTF-8). Hotline: each a work order, element name → text."""
        body = []
        for record in records:
            if isinstance(record, bytes):
                body.append({"base64": base64.b64encode(record).decode("ascii")})
            elif isinstance(record, str):
                body.append({"text": record})
            else:
                body.append(dict(record))
        count: int = self._call("POST", "/_admin/inject", {"records": body})["injected"]
        return count

    def injected(self) -> list[Any]:
        """What is injected, oldest first: work orders (hotline), or {"base64", "bytes"} items."""
        listing: list[Any] = self._call("GET", "/_admin/injected")["injected"]
        return listing

    def armed(self) -> dict[str, Any]:
        """The fault plan now: mode, count and after left, and how many requests hang."""
        plan: dict[str, Any] = self._call("GET", "/_admin/faults")
        return plan

    def truth(self) -> dict[str, dict[str, Any]]:
        """{source_id: {"defects": [...], "versions": n}} for every record."""
        records: dict[str, dict[str, Any]] = self._call("GET", "/_admin/truth")["records"]
        return records

    def received(self) -> list[dict[str, Any]]:
        """What the partner received from the hub: handling results or replies, oldest first."""
        entries: list[dict[str, Any]] = self._call("GET", "/_admin/received")["received"]
        return entries

    def effects(self) -> dict[str, int]:
        """An event-taking partner's effects (hotline, message board, community app, urban
        management): {event_id: n}, one each however often an event is sent."""
        counted: dict[str, int] = self._call("GET", "/_admin/effects")["effects"]
        return counted

    def batches(self) -> dict[str, dict[str, Any]]:
        """A receiver's ledger (city brain, health commission): {batch_id: {"records",
        "deliveries", "receipt_id"}} — one effect per batch id, however often delivered."""
        ledger: dict[str, dict[str, Any]] = self._call("GET", "/_admin/batches")["batches"]
        return ledger

    def touch(self, n: int = 1) -> list[str]:
        """Give `n` records a new version now; returns their source ids."""
        touched: list[str] = self._call("POST", "/_admin/touch", {"count": n})["touched"]
        return touched

    def reset(self) -> None:
        """Back to the generated data, no faults armed, nothing injected or received, no nonces
        seen."""
        self._call("POST", "/_admin/reset")

    def health(self) -> dict[str, Any]:
        """{"partner", "records"}."""
        answer: dict[str, Any] = self._call("GET", "/_admin/health")
        return answer

    def stop(self) -> None:
        """Stop serving and wait for the server thread; safe to call twice."""
        self._server.should_exit = True
        self._thread.join()
        self._sock.close()
        if self._cleanup is not None:
            self._cleanup.cleanup()
            self._cleanup = None

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One admin call; `requests.request` opens and closes its own session."""
        answer = requests.request(method, self.url + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()


def start(partner: str, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> RunningSimulator:
    """Run `partner` (any of `simulators.serving.APP_FACTORIES`) and return once it answers.

    `options` are the app factory's: seed, records, defect_rate, days, anchor (a datetime, or an
    ISO string meaning Asia/Shanghai when it has no offset),
    var_dir, hang_seconds, retry_after, and username/password (hotline) or token (message board).
    Without `var_dir`, what the partner receives is written to a temporary directory removed on
    stop.
    """
    cleanup = None
    if "var_dir" not in options:
        cleanup = tempfile.TemporaryDirectory(prefix=f"casehub-{partner}-")
        options["var_dir"] = Path(cleanup.name)
    options.setdefault("records", DEFAULT_RECORDS.get(partner, 0))
    if isinstance(options.get("anchor"), str):
        options["anchor"] = parse_anchor(options["anchor"])
    try:
        app = create_app(partner, **options)
        sock = bind(host, port)
    except BaseException:
        if cleanup is not None:
            cleanup.cleanup()
        raise
    ready = threading.Event()
    running = server(app, ready.set, graceful_seconds=1)
    thread = threading.Thread(target=lambda: asyncio.run(running.serve(sockets=[sock])),
                              name=f"simulator-{partner}", daemon=True)
    thread.start()
    handle = RunningSimulator(partner, f"http://{host}:{sock.getsockname()[1]}", running, thread,
                              sock, cleanup)
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while not ready.wait(timeout=0.05):
        if not thread.is_alive() or time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"simulator {partner} did not start listening")
    if handle.health().get("partner") != partner:
        handle.stop()
        raise RuntimeError(f"simulator {partner} answers as another partner")
    return handle


NEIGHBORHOOD_APP_SECRET = neighborhood_app.DEMO_SECRET

HOSTILE_DOCUMENTS = tuple(hostile.DOCUMENTS)
"""The hostile documents a SOAP simulator answers with (`faults("hostile_xml", document=…)`)."""
HOSTILE_MARK = hostile.MARK
hostile_document = hostile.document
"""The same documents made of any envelope holding `HOSTILE_MARK` once as an element's text: what
a hostile caller sends to the hub's own SOAP endpoint."""


def _sender_options(options: dict[str, Any]) -> dict[str, Any]:
    if isinstance(options.get("anchor"), str):
        options["anchor"] = parse_anchor(options["anchor"])
    return options


def send(target: str, secret: str | Iterable[str] = NEIGHBORHOOD_APP_SECRET, **options: Any) -> Summary:
    """Push the community app's webhooks to `target` (a base URL; the path is appended) and
    return once every one is delivered, given up or refused.

    `secret` is one whsec_ secret, or several (the current first) to sign as during a rotation.
    `options` are `neighborhood_app.run`'s: rate, count, records, seed, defect_rate, days,
    anchor (a datetime, or an ISO string meaning Asia/Shanghai), retry_scale, timeout, faults
    ({"replay": n, "bad_signature": n, "stale_timestamp": n, "future_timestamp": n,
    "missing_header": n, "oversized": n}), path, oversize_bytes.
    """
    secrets = secret if isinstance(secret, str) else tuple(secret)
    return neighborhood_app.run(target, secrets, **_sender_options(options))


class RunningSender:
    """The community app pushing to a target from a background thread, until done or stopped."""

    def __init__(self, target: str, secret: str | Iterable[str], options: dict[str, Any]) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._finished: list[Delivery] = []
        secrets = secret if isinstance(secret, str) else tuple(secret)
        options = {**_sender_options(options), "stop": self._stop, "on_delivery": self._record}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-neighborhood_app")
        self._future = self._pool.submit(neighborhood_app.run, target, secrets, **options)
        self._pool.shutdown(wait=False)

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._finished.append(delivery)

    def finished(self) -> list[Delivery]:
        """The deliveries that have ended so far, in the order they ended."""
        with self._lock:
            return list(self._finished)

    def wait(self, timeout: float | None = None) -> Summary:
        """The summary once every send has ended; TimeoutError if that takes over `timeout` s.
        An error of the run is raised here."""
        return self._future.result(timeout)

    def stop(self) -> Summary:
        """Stop sending (a request under way finishes first); what had not ended is "stopped"."""
        self._stop.set()
        return self.wait()

    def __enter__(self) -> RunningSender:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def start_sender(target: str, secret: str | Iterable[str] = NEIGHBORHOOD_APP_SECRET,
                 **options: Any) -> RunningSender:
    """Start pushing as `send` does, in a background thread; the handle waits, watches or stops."""
    return RunningSender(target, secret, options)

"""The event sinks' connection (`Direct`) against a partner that answers byte for byte as scripted
on a loopback socket: keep-alive and its loss, framing by length, chunks or the connection's end,
compressed replies, and every way a reply can break the deadline, the size cap or HTTP itself."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests

from connectors.kit.transport import DeadlineExceeded, Direct, Reply, ReplyTooLarge, direct_exchange

TIMEOUT = 1.0
MARGIN = 0.75
"""How far past its timeout a call may end: scheduling, never another read."""
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'

Answer = Callable[[socket.socket, bytes], None]
"""What the partner does with one request (its bytes): writes, waits, closes."""


@dataclass
class Partner:
    """A loopback server answering each request in turn with the next of `answers` (the last
    one again once they run out); it counts the connections it accepted and keeps the requests."""

    answers: list[Answer]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: str = ""

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.converse, args=(conn,), daemon=True).start()

    def converse(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                request, buffered = head + b"\r\n\r\n" + buffered[:length], buffered[length:]
                self.requests.append(request)
                answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
                try:
                    answer(conn, request)
                except OSError:
                    return


@pytest.fixture
def partner(request: pytest.FixtureRequest) -> Iterator[Partner]:
    scripted = Partner(list(request.param))
    listener = socket.create_server(("127.0.0.1", 0))
    scripted.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    threading.Thread(target=scripted.serve, args=(listener,), daemon=True).start()
    yield scripted
    listener.close()


def reply(data: bytes) -> Answer:
    return lambda conn, request: conn.sendall(data)


def then_close(data: bytes) -> Answer:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_RDWR)

    return answer


def trickle(data: bytes, every: float) -> Answer:
    def answer(conn: socket.socket, request: bytes) -> None:
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return answer


def post(direct: Direct, partner: Partner, *, max_bytes: int = 1 << 20, body: bytes = b'{"a":1}') -> Reply:
    return direct_exchange(
        direct,
        "POST",
        partner.url + "/api/v1/events",
        seconds=TIMEOUT,
        max_bytes=max_bytes,
        body=body,
        headers={"Content-Type": "application/json", "X-Request-ID": "e-1"},
    )


def timed(call: Callable[[], object], expected: type[Exception]) -> float:
    started = time.monotonic()
    with pytest.raises(expected):
        call()
    return time.monotonic() - started


@pytest.mark.parametrize("partner", [[reply(OK)]], indirect=True)
def test_calls_share_one_connection_and_each_request_is_whole(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        replies = [post(direct, partner) for _ in range(3)]
    finally:
        direct.close()
    assert [(r.status_code, r.content, r.headers["content-type"]) for r in replies] == [
        (200, b'{"ok":true}', "application/json")
    ] * 3
    assert partner.connections == 1
    head, _, body = partner.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/events HTTP/1.1"
    assert {b"Content-Length: 7", b"X-Request-ID: e-1", b"Host: " + partner.url[7:].encode()} <= set(lines)
    assert body == b'{"a":1}'


@pytest.mark.parametrize("partner", [[then_close(OK), reply(OK)]], indirect=True)
def test_a_connection_the_partner_closed_while_idle_is_opened_afresh(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        first = post(direct, partner)
        time.sleep(0.1)  # the partner's close reaches the hub's side
        second = post(direct, partner)
    finally:
        direct.close()
    assert first.status_code == second.status_code == 200
    assert partner.connections == 2


@pytest.mark.parametrize(
    "partner",
    [[reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"), reply(OK)]],
    indirect=True,
)
def test_a_reply_saying_connection_close_is_the_connections_last(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        assert post(direct, partner).content == b"no"
        assert post(direct, partner).content == b'{"ok":true}'
    finally:
        direct.close()
    assert partner.connections == 2


CHUNKED = b'HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"ok\r\n7\r\n":true}\r\n0\r\n\r\n'
ZIPPED = gzip.compress(b'{"duplicate":true}')
GZIP = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%b" % (len(ZIPPED), ZIPPED)
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
UNFRAMED = b'HTTP/1.1 200 OK\r\nX-Note: a\r\nX-Note: b\r\n\r\n{"ok":true}'


@pytest.mark.parametrize(
    ("partner", "status", "content"),
    [
        ([reply(CHUNKED)], 202, b'{"ok":true}'),
        ([reply(GZIP)], 200, b'{"duplicate":true}'),
        ([reply(INTERIM)], 200, b'{"ok":true}'),
        ([then_close(UNFRAMED)], 200, b'{"ok":true}'),
    ],
    indirect=["partner"],
    ids=["chunked", "gzip", "after 100 Continue", "ended by the connection"],
)
def test_a_reply_is_read_whole_however_it_is_framed(partner: Partner, status: int, content: bytes) -> None:
    direct = Direct(partner.url)
    try:
        answered = post(direct, partner)
    finally:
        direct.close()
    assert (answered.status_code, answered.content) == (status, content)


@pytest.mark.parametrize("partner", [[then_close(UNFRAMED)]], indirect=True)
def test_repeated_headers_are_joined(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        assert post(direct, partner).headers["x-note"] == "a, b"
    finally:
        direct.close()


@pytest.mark.parametrize(
    "partner",
    [[trickle(OK, 0.05)], [trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: 0\r\n" * 100, 0.01)]],
    indirect=True,
    ids=["body", "headers that never end"],
)
def test_a_trickling_reply_ends_at_the_deadline(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        assert timed(lambda: post(direct, partner), DeadlineExceeded) < TIMEOUT + MARGIN
    finally:
        direct.close()


def hold(data: bytes) -> Answer:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(data)
        time.sleep(TIMEOUT * 3)

    return answer


@pytest.mark.parametrize(
    "partner", [[hold(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n")], [reply(OK)]], indirect=True
)
def test_a_reply_over_the_cap_is_refused_without_waiting_for_it(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        assert timed(lambda: post(direct, partner, max_bytes=10), ReplyTooLarge) < MARGIN
    finally:
        direct.close()


STREAM = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"400\r\n" + b"0" * 1024 + b"\r\n") * 8


@pytest.mark.parametrize("partner", [[hold(STREAM)]], indirect=True)
def test_a_streamed_reply_is_refused_as_it_passes_the_cap(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        assert timed(lambda: post(direct, partner, max_bytes=4000), ReplyTooLarge) < MARGIN
    finally:
        direct.close()


@pytest.mark.parametrize(
    "partner",
    [
        [then_close(b"SSH-2.0-OpenSSH_9.6\r\n")],
        [then_close(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")],
    ],
    indirect=True,
    ids=["not HTTP", "cut short"],
)
def test_a_reply_that_is_not_whole_http_is_a_broken_connection(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        with pytest.raises(requests.ConnectionError):
            post(direct, partner)
    finally:
        direct.close()


def test_a_partner_that_is_not_listening_is_a_broken_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    direct = Direct(url)
    try:
        with pytest.raises(requests.ConnectionError):
            direct_exchange(direct, "POST", url + "/x", seconds=TIMEOUT, max_bytes=100, body=b"", headers={})
    finally:
        direct.close()


@pytest.mark.parametrize(
    "partner", [[hold(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"), reply(OK)]], indirect=True
)
def test_after_a_failed_call_the_next_one_starts_on_a_new_connection(partner: Partner) -> None:
    direct = Direct(partner.url)
    try:
        with pytest.raises(DeadlineExceeded):
            post(direct, partner)
        assert post(direct, partner).content == b'{"ok":true}'
    finally:
        direct.close()
    assert partner.connections == 2


@pytest.mark.parametrize("partner", [[reply(OK)]], indirect=True)
@pytest.mark.parametrize(
    "headers",
    [{"X-Request-ID": "e-1\r\nX-Injected: 1"}, {"Content-Length": "1"}, {"Host": "elsewhere"}],
    ids=["a line break in a value", "the body's length", "the host"],
)
def test_headers_that_would_break_the_request_are_refused_before_it_is_sent(
    partner: Partner, headers: dict[str, str]
) -> None:
    direct = Direct(partner.url)
    try:
        with pytest.raises(ValueError, match=r"break the request|connection's to send"):
            direct_exchange(
                direct, "POST", partner.url + "/x", seconds=TIMEOUT, max_bytes=100, body=b"", headers=headers
            )
    finally:
        direct.close()
    assert partner.requests == []


def test_a_url_on_another_origin_is_refused() -> None:
    direct = Direct("http://127.0.0.1:9/base")
    try:
        with pytest.raises(ValueError, match="not on"):
            direct_exchange(
                direct,
                "POST",
                "http://127.0.0.2:9/base/x",
                seconds=TIMEOUT,
                max_bytes=100,
                body=b"",
                headers={},
            )
    finally:
        direct.close()


@pytest.mark.parametrize("partner", [[reply(OK)]], indirect=True)
def test_through_the_environments_proxy_a_call_goes_to_the_proxy(
    partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", partner.url)
    direct = Direct("http://partner.example:8080/base")
    try:
        answered = direct_exchange(
            direct, "POST", "http://partner.example:8080/base/x", seconds=TIMEOUT, max_bytes=100, body=b"{}",
            headers={"X-Request-ID": "e-2"},
        )  # fmt: skip
    finally:
        direct.close()
    assert answered.content == b'{"ok":true}'
    assert partner.requests[0].startswith(b"POST http://partner.example:8080/base/x HTTP/1.1\r\n")

"""One HTTP exchange with a partner, bounded in time and size, and what its failures mean.

requests' timeout bounds each socket read, not the call: a partner that trickles its reply a
byte at a time, each byte inside the timeout, holds a worker for ever, and one that answers
135 MB has it all read into memory. Every partner call goes through `exchange` instead:

- Its deadline covers connecting, the headers and the whole body. A watchdog shuts the socket
  down when the deadline passes, which ends any read blocked on it at once, however the partner
  paces its bytes; the sessions' connections register their socket with it (`bounded`).
- The body is read in small pieces as they arrive (urllib3's `read1`, decoded), and reading
  stops as soon as it passes the size cap; a Content-Length above the cap is refused unread.

Event sinks, one call per outbox event, go over a `Direct` connection instead (`direct_exchange`):
one keep-alive socket, the request sent in one piece and the reply parsed by httptools, with the
same deadline, cap and errors, and no watchdog: each socket operation is given only the time
left, so a trickling partner is cut off at the deadline all the same.

Running out of time is transient (`TransientPartnerError`: the retry policy asks again);
a reply over the cap breaks the partner's contract (`ContractError`: asking again returns the
same). The HTTP status is judged here too, the same way for every partner: 429 and 5xx are
transient, 401, 403 and every other 4xx permanent. Errors name the partner, the operation,
the status and the request id; never a payload, a token or a password.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import re
import select
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import httptools
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from casehub.errors import ContractError, PartnerError, PermanentPartnerError, TransientPartnerError

PIECE_BYTES = 64 * 1024
"""How much of a body one read asks for: small enough that the cap is checked often."""


class ExchangeError(Exception):
    """An exchange ended by the hub's own limits; `exchange_error` says what it means."""


class DeadlineExceeded(ExchangeError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete reply within {seconds:g} s")
        self.seconds = seconds


class ReplyTooLarge(ExchangeError):
    def __init__(self, limit: int, status: int) -> None:
        super().__init__(f"reply is larger than the limit of {limit} bytes")
        self.limit = limit
        self.status = status


@dataclass(frozen=True)
class Reply:
    """A partner's complete reply: status, headers and the body, read within the bounds.

    It has the attributes zeep reads from a `requests.Response`, so SOAP replies take the same path.
    """

    status_code: int
    headers: CaseInsensitiveDict[str]
    content: bytes

    @property
    def encoding(self) -> str | None:
        return requests.utils.get_encoding_from_headers(self.headers)


class _Deadline:
    """The watchdog of one exchange: at the deadline it stops the socket registered with it.

    Stopping and finishing hold one lock, so a socket is never shut down after the exchange has
    finished with it (and handed the connection back to the pool for the next call).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._expired = False
        self.done = False
        _WATCHDOG.add(self)

    def watch(self, stop: Callable[[], None]) -> None:
        with self._lock:
            if self._expired:
                stop()
            else:
                self._stop = stop

    def finish(self) -> bool:
        """Stop watching; whether the deadline passed first."""
        with self._lock:
            self.done = True
            self._stop = None
            return self._expired

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self._expired = True
            if self._stop is not None:
                self._stop()
                self._stop = None


class _Watchdog:
    """One daemon thread keeping every exchange's deadline, soonest first.

    A timer thread per exchange costs more than a call to a partner on the same network; one
    thread waiting on a heap costs a push and a pop. Finished deadlines leave the heap when they
    reach its top or their time. A forked process (an Airflow task) starts its own thread.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: _Deadline) -> None:
        with self._ready:
            heapq.heappush(self._heap, (time.monotonic() + deadline.seconds, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="partner-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._ready.notify()

    def _run(self) -> None:
        with self._ready:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, deadline = heapq.heappop(self._heap)
                    deadline.expire()
                self._ready.wait(self._heap[0][0] - now if self._heap else None)


_WATCHDOG = _Watchdog()


_current: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar("partner_deadline", default=None)


def _shut(sock: socket.socket) -> None:
    """End every read blocked on `sock`: they return at once with end of stream."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        return


def _register(sock: object) -> None:
    deadline = _current.get()
    if deadline is not None and isinstance(sock, socket.socket):
        deadline.watch(partial(_shut, sock))


class _WatchedHTTPConnection(HTTPConnection):
    """Registers its socket with the running exchange's deadline once the request is sent."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _register(self.sock)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)
        _register(self.sock)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _BoundedAdapter(HTTPAdapter):
    """requests' adapter whose connections, direct or through an HTTP proxy, are watched."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:
            manager.pool_classes_by_scheme = _POOLS
        return manager


def bounded(session: requests.Session, url: str | None = None) -> requests.Session:
    """`session` with the adapters that let `exchange` stop a call at its deadline.

    Given the one `url` the session will call, what requests would otherwise read from the
    environment on every request — the proxy for that host (honouring NO_PROXY) and the CA
    bundle — is read once here, and ~/.netrc not at all (partners authenticate by header): on a
    fast network that reading costs more than the call.
    """
    adapter = _BoundedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if url is not None and session.trust_env:
        session.proxies.update(requests.utils.get_environ_proxies(url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    return session


def exchange(
    session: requests.Session, method: str, url: str, *, seconds: float, max_bytes: int, **request: Any
) -> Reply:
    """`session.request(method, url, **request)`, complete within `seconds` and `max_bytes`.

    Raises `DeadlineExceeded`, `ReplyTooLarge`, or requests' exceptions for a failed
    connection. `session` must come from `bounded`; a session without its adapters is still
    held to the deadline by socket timeouts, but only read by read.
    """
    deadline = _Deadline(seconds)
    token = _current.set(deadline)
    response: requests.Response | None = None
    try:
        response = session.request(method, url, stream=True, timeout=(seconds, seconds), **request)
        body = _body(response, max_bytes)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
        if deadline.finish() or isinstance(error, requests.Timeout | urllib3.exceptions.TimeoutError):
            raise DeadlineExceeded(seconds) from None
        if isinstance(error, requests.RequestException):
            raise
        raise requests.ConnectionError(f"connection broken ({type(error).__name__})") from error
    finally:
        expired = deadline.finish()
        _current.reset(token)
        if response is not None:
            response.close()
    if expired:
        # The socket may have been shut down while the body was read: it can look complete.
        raise DeadlineExceeded(seconds)
    return Reply(response.status_code, response.headers, body)


class Direct:
    """One keep-alive HTTP/1.1 connection to one partner, for calls too many for a general client.

    An outbox sends one call per event, and on the partner's own network what a general client
    does around each call costs more than the call: requests prepares and merges, urllib3 and
    http.client beneath it build the request in pieces (the head and the body in two sends), parse
    the reply's headers with the email package and wrap it in response objects — about 200 µs of
    CPU a call on the development machine, against about 50 µs here, the system calls included.
    A request is one `sendall`, head and body together; the reply is parsed by httptools (llhttp,
    the parser uvicorn serves with), which frames it by its Content-Length or chunks.
    `direct_exchange`'s deadline is kept by giving each socket operation only the time left of
    it, so a partner that trickles its bytes is still cut off at the deadline, and no watchdog is
    needed. A connection the partner closed while it was idle is
    opened afresh before the next call; one left in doubt by a failure is never used again.

    HTTPS is verified against the system's certificates or the CA bundle the environment names
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), read once. Where the environment sends `url` through a
    proxy (honouring NO_PROXY), calls go over urllib3's ProxyManager instead (tunnels, proxy
    credentials), watched as the bounded adapter's pools are. Calls never retry or follow a
    redirect. One `Direct` serves one thread at a time.
    """

    def __init__(self, url: str) -> None:
        parts = urllib3.util.parse_url(url)
        scheme = parts.scheme or "http"
        if scheme not in _DEFAULT_PORTS or not parts.host:
            raise ValueError(f"not an http or https URL: {scheme}://…")
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._scheme = scheme
        self._host = parts.host.strip("[]")  # an IPv6 literal is bracketed in a URL, not in a socket
        self._port = parts.port or _DEFAULT_PORTS[scheme]
        self._origin = f"{scheme}://{parts.netloc}"
        self._head = (
            f"Host: {parts.netloc if parts.port else parts.host}\r\n"
            f"User-Agent: {USER_AGENT}\r\nAccept-Encoding: identity\r\n"
        )
        self._tls = ssl.create_default_context(cafile=bundle or None) if scheme == "https" else None
        self._sock: socket.socket | None = None
        self._manager: urllib3.PoolManager | None = None
        proxy = requests.utils.get_environ_proxies(url).get(scheme)
        if proxy:
            options: dict[str, Any] = {"retries": False, "maxsize": 1, "block": False}
            if bundle:
                options["ca_certs"] = bundle
            self._manager = urllib3.ProxyManager(proxy, **options)
            self._manager.pool_classes_by_scheme = _POOLS

    def close(self) -> None:
        self._drop()
        if self._manager is not None:
            self._manager.clear()

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connected(self, ends: float) -> socket.socket:
        """The open connection, or a new one made within the time left until `ends`."""
        if self._sock is not None and _readable(self._sock):
            # Between calls a partner sends nothing: readable means it closed the connection.
            self._drop()
        if self._sock is None:
            sock = socket.create_connection((self._host, self._port), timeout=_left(ends))
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._tls is not None:
                    sock.settimeout(_left(ends))
                    sock = self._tls.wrap_socket(sock, server_hostname=self._host)
            except BaseException:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def target(self, url: str) -> str:
        """The request target of `url`, which must be on this connection's origin."""
        rest = url[len(self._origin) :] if url.startswith(self._origin) else None
        if rest is not None and (not rest or rest[0] in "/?"):
            return rest if rest.startswith("/") else "/" + rest
        parts = urllib3.util.parse_url(url)  # the same origin written otherwise (case, userinfo)
        scheme = (parts.scheme or "http").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
        if (scheme, (parts.host or "").lower().strip("[]"), port) != (
            self._scheme,
            self._host.lower(),
            self._port,
        ):
            raise ValueError(f"the URL is not on {self._origin}")
        return parts.request_uri

    def exchange(
        self, method: str, target: str, body: bytes, headers: dict[str, str], ends: float, max_bytes: int
    ) -> Reply:
        """One request on the connection and its complete reply, by the monotonic time `ends`."""
        if method == "HEAD":
            raise ValueError("a HEAD reply has no body to frame it by; Direct sends requests with one")
        sock = self._connected(ends)
        sock.settimeout(_left(ends))
        sock.sendall(_request_head(method, target, self._head, body, headers) + body)
        reading = _Reading(max_bytes)
        parser = httptools.HttpResponseParser(reading)
        reading.parser = parser
        while not reading.complete:
            sock.settimeout(_left(ends))
            data = sock.recv(PIECE_BYTES)
            if not data:
                if not reading.until_closed():
                    raise ConnectionResetError("closed before the reply was complete")
                reading.on_message_complete()
                break
            parser.feed_data(data)
        if not reading.keep_alive or reading.until_closed():
            self._drop()
        return reading.reply()


_DEFAULT_PORTS = {"http": 80, "https": 443}
_COMPRESSED = ("gzip", "x-gzip", "deflate")
USER_AGENT = "casehub"
_OWN_HEADERS = frozenset({"host", "user-agent", "accept-encoding", "content-length", "transfer-encoding"})
_FORBIDDEN = re.compile(r"[\r\n\0]")
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
_TARGET = re.compile(r"[!-~]+")  # visible ASCII, no space


def _left(ends: float) -> float:
    """The seconds left until `ends`; none left is the deadline passed."""
    left = ends - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _request_head(method: str, target: str, common: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The request line and headers; a name or value that would break the framing is refused."""
    if _OWN_HEADERS.intersection(name.lower() for name in headers):
        raise ValueError(f"{', '.join(sorted(_OWN_HEADERS))} are the connection's to send")
    if (
        not all(map(_FIELD_NAME.fullmatch, headers))
        or _FORBIDDEN.search("".join(headers.values()))
        or not _TARGET.fullmatch(target)
    ):
        raise ValueError("a header or the target holds a character that would break the request")
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {target} HTTP/1.1\r\n{common}Content-Length: {len(body)}\r\n{lines}\r\n".encode(
        "latin-1"
    )


class _Reading:
    """The reply as httptools parses it: status, headers, the body's pieces, within `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parser: httptools.HttpResponseParser | None = None
        self.status = 0
        self.fields: dict[str, tuple[str, str]] = {}
        """Each header by its lower-case name: the name as sent, and its values joined by ", "."""
        self.pieces: list[bytes] = []
        self.size = 0
        self.headed = False
        self.keep_alive = False
        self.complete = False
        self._decoder: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        known = self.fields.get(lower := key.lower())
        self.fields[lower] = (key, text) if known is None else (known[0], f"{known[1]}, {text}")

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()
        if 100 <= self.status < 200:
            return
        self.headed = True
        self.keep_alive = bool(self.parser.should_keep_alive())  # known only while the reply is parsed
        declared = self.field("content-length").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            raise ReplyTooLarge(self.max_bytes, self.status)
        if self.field("content-encoding").strip().lower() in _COMPRESSED:
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # a gzip or a zlib header

    def on_body(self, piece: bytes) -> None:
        if self._decoder is not None:
            piece = self._decoder.decompress(piece, self.max_bytes - self.size + 1)
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise ReplyTooLarge(self.max_bytes, self.status)
        self.pieces.append(piece)

    def on_message_complete(self) -> None:
        if not self.headed:  # an interim 1xx reply: the final one is still to come
            self.fields = {}
            return
        self.complete = True
        if self._decoder is not None:
            self.on_body_end()

    def on_body_end(self) -> None:
        rest, self._decoder = self._decoder.flush(), None
        self.size += len(rest)
        if self.size > self.max_bytes:
            raise ReplyTooLarge(self.max_bytes, self.status)
        self.pieces.append(rest)

    def until_closed(self) -> bool:
        """Whether the reply is one whose body ends where the connection does (no framing)."""
        return (
            self.headed
            and "content-length" not in self.fields
            and "transfer-encoding" not in self.fields
            and self.status not in (204, 304)
        )

    def reply(self) -> Reply:
        return Reply(self.status, CaseInsensitiveDict(dict(self.fields.values())), b"".join(self.pieces))

    def field(self, lower: str) -> str:
        known = self.fields.get(lower)
        return "" if known is None else known[1]


def direct_exchange(
    direct: Direct,
    method: str,
    url: str,
    *,
    seconds: float,
    max_bytes: int,
    body: bytes,
    headers: dict[str, str],
) -> Reply:
    """`exchange` over a `Direct` connection: complete within `seconds` and `max_bytes`, with the
    same errors (a failed connection or a reply that is not HTTP as requests' `ConnectionError`,
    so `call_errors` maps it alike). `url` is on the origin `direct` was made for."""
    if direct._manager is not None:
        return _proxied_exchange(
            direct._manager, method, url, seconds=seconds, max_bytes=max_bytes, body=body, headers=headers
        )
    target = direct.target(url)
    try:
        return direct.exchange(method, target, body, headers, time.monotonic() + seconds, max_bytes)
    except BaseException as error:
        direct._drop()  # whatever was left unread on it, the connection is in doubt
        cause = error.__context__ if isinstance(error, httptools.HttpParserCallbackError) else error
        if isinstance(cause, ExchangeError):
            raise cause from None
        if isinstance(cause, TimeoutError):
            raise DeadlineExceeded(seconds) from None
        if isinstance(cause, OSError | httptools.HttpParserError | zlib.error):
            raise requests.ConnectionError(f"connection broken ({type(cause).__name__})") from error
        raise


def _proxied_exchange(
    manager: urllib3.PoolManager,
    method: str,
    url: str,
    *,
    seconds: float,
    max_bytes: int,
    body: bytes,
    headers: dict[str, str],
) -> Reply:
    """`direct_exchange` through the proxy, over urllib3's ProxyManager and the watchdog."""
    deadline = _Deadline(seconds)
    token = _current.set(deadline)
    response: urllib3.BaseHTTPResponse | None = None
    content = b""
    try:
        response = manager.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=seconds, read=seconds),
            preload_content=False,
            redirect=False,
            retries=False,
        )
        declared = str(response.headers.get("Content-Length", "")).strip()
        if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise ReplyTooLarge(max_bytes, response.status)
        pieces: list[bytes] = []
        size = 0
        while piece := response.read1(PIECE_BYTES):
            size += len(piece)
            if size > max_bytes:
                raise ReplyTooLarge(max_bytes, response.status)
            pieces.append(piece)
        content = b"".join(pieces)
    except urllib3.exceptions.HTTPError as error:
        if deadline.finish() or isinstance(error, urllib3.exceptions.TimeoutError):
            raise DeadlineExceeded(seconds) from None
        raise requests.ConnectionError(f"connection broken ({type(error).__name__})") from error
    finally:
        expired = deadline.finish()
        _current.reset(token)
        if response is not None:
            response.release_conn()
    if expired:
        raise DeadlineExceeded(seconds)
    return Reply(response.status, CaseInsensitiveDict(dict(response.headers)), content)


def _body(response: requests.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise ReplyTooLarge(max_bytes, response.status_code)
    pieces: list[bytes] = []
    size = 0
    while piece := response.raw.read1(PIECE_BYTES, decode_content=True):
        size += len(piece)
        if size > max_bytes:
            raise ReplyTooLarge(max_bytes, response.status_code)
        pieces.append(piece)
    return b"".join(pieces)


def is_html_page(reply: Reply) -> bool:
    """Whether a success reply is an HTML page: what a partner's proxy serves while it is down."""
    if reply.status_code >= 300:
        return False
    media_type = reply.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    start = reply.content[:64].lstrip().lower()
    return media_type == "text/html" or start.startswith((b"<html", b"<!doctype html"))


def maintenance_page(
    reply: Reply, *, expected: str, partner: str, operation: str, request_id: str
) -> TransientPartnerError | None:
    """The transient error for an HTML page where `expected` (JSON, a SOAP envelope) should be:
    a partner's proxy serves one while the partner is down, and it goes away by itself."""
    if not is_html_page(reply):
        return None
    return TransientPartnerError(
        f"reply is a maintenance page, not {expected}",
        partner=partner,
        operation=operation,
        status=reply.status_code,
        request_id=request_id,
    )


def retry_after_seconds(header: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: RFC 9110 allows delta-seconds or an HTTP date."""
    if header is None or not header.strip():
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def status_error(reply: Reply, *, partner: str, operation: str, request_id: str) -> PartnerError | None:
    """The error an HTTP status stands for, or None for a success."""
    status = reply.status_code
    if status < 400:
        return None
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(reply.headers.get("Retry-After")) if status in (429, 503) else None
        message = "rate limited" if status == 429 else "partner failed"
        return TransientPartnerError(
            message,
            partner=partner,
            operation=operation,
            status=status,
            request_id=request_id,
            retry_after=retry_after,
        )
    message = "credentials refused" if status in (401, 403) else "request refused"
    return PermanentPartnerError(
        message, partner=partner, operation=operation, status=status, request_id=request_id
    )


def exchange_error(error: ExchangeError, *, partner: str, operation: str, request_id: str) -> PartnerError:
    """A call stopped at a limit: out of time may pass, too large will not."""
    if isinstance(error, ReplyTooLarge):
        return ContractError(
            str(error), partner=partner, operation=operation, status=error.status, request_id=request_id
        )
    return TransientPartnerError(
        f"timed out: {error}", partner=partner, operation=operation, request_id=request_id
    )


@contextmanager
def call_errors(*, partner: str, operation: str, request_id: str) -> Iterator[None]:
    """Raise what goes wrong with one call inside the block as the error tree's partner errors:
    a limit reached (`exchange_error`) or the exchange failing (`connection_error`)."""
    try:
        yield
    except ExchangeError as error:
        raise exchange_error(error, partner=partner, operation=operation, request_id=request_id) from None
    except requests.RequestException as error:
        raise connection_error(error, partner=partner, operation=operation, request_id=request_id) from error


def connection_error(
    error: requests.RequestException, *, partner: str, operation: str, request_id: str
) -> PartnerError:
    """The error a failed HTTP exchange stands for: broken connections may pass."""
    if isinstance(error, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return TransientPartnerError(
            "connection failed", partner=partner, operation=operation, request_id=request_id
        )
    return PermanentPartnerError(
        f"request could not be made ({type(error).__name__})",
        partner=partner,
        operation=operation,
        request_id=request_id,
    )

"""Pull messages from the city message board (城市留言板) over REST/JSON.

The board wraps every answer in an envelope `{code, msg, data}` and reports most errors as
HTTP 200 with `code` ≠ 0: 40100/40101 mean the token is missing or wrong (permanent), 50000 an
internal failure (transient, retried), anything else a request it will never accept. Rate
limiting is a real HTTP 429 with Retry-After, outright failures real 5xx; both go through the
shared retry policy (`connectors.base`), and so does an HTML maintenance page served as HTTP
200. Times in the window are epoch milliseconds.

Every call is bounded in time and size (`connectors.transport`). A page is decoded with the
standard library's `json`, which keeps integers of any size exact and text as sent (a lone
surrogate included: the pipeline quarantines it), and refuses NaN and Infinity, which are not
JSON. When the body does not decode as a whole, the envelope is split into its records at the
byte level (`connectors.jsonsplit`) and each record is decoded on its own: the good ones come
through, and a broken one comes as an `UnreadableRecord` of its bytes, so it is quarantined and
never stops the channel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from casehub.errors import ContractError, PermanentPartnerError, TransientPartnerError
from casehub.ports import PageRecord, UnreadableRecord, Window
from casehub.reasons import Code
from connectors import jsonsplit
from connectors.base import ClosingSource, Endpoint, Paginator, RetryPolicy, with_retries
from connectors.transport import (
    Reply,
    bounded,
    call_errors,
    exchange,
    maintenance_page,
    status_error,
)

PARTNER = "message_board"
MESSAGES = "/api/v1/messages"
MAX_PAGE_SIZE = 200
"""pageSize is limited to 1–200 by the contract."""

AUTHENTICATION_CODES = frozenset({40100, 40101})
TRANSIENT_CODES = frozenset({50000})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_ms(moment: datetime) -> int:
    """A window bound as the board's epoch milliseconds, in integer arithmetic."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class BearerToken(requests.auth.AuthBase):
    """`Authorization: Bearer <token>`; the token never appears in a repr or a log."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(***)"


class MessageBoardSource(ClosingSource):
    """The board's `GET /api/v1/messages`, page by page, as a `casehub.ports.Source`.

    Messages come back as the board's JSON values, untouched (an item that is not an object
    too: the pipeline quarantines it); `MessageBoardMapper` maps them. A handed-in session gets
    the bounded adapters of `connectors.transport` mounted.
    """

    channel = PARTNER

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._retry = retry or RetryPolicy()
        self._owns_session = session is None
        self._session = bounded(session or requests.Session())
        self._auth = BearerToken(endpoint.secret)

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._session.close()

    def pages(self, window: Window) -> Iterator[list[PageRecord]]:
        """Messages whose updateTime lies in the window, one partner page at a time."""
        bounds = {"updatedFrom": _epoch_ms(window.start), "updatedTo": _epoch_ms(window.end)}
        paginator = Paginator(min(self._endpoint.page_size, MAX_PAGE_SIZE))
        while not paginator.done:
            messages, total = self._page({**bounds, "page": paginator.page, "pageSize": paginator.page_size})
            paginator.advance(len(messages), total, _versions(messages))
            if messages:
                yield messages

    def _page(self, params: Mapping[str, int]) -> tuple[list[PageRecord], int]:
        operation = f"GET {MESSAGES}"
        url = self._endpoint.url.rstrip("/") + MESSAGES

        def attempt(request_id: str) -> tuple[list[PageRecord], int]:
            with call_errors(partner=PARTNER, operation=operation, request_id=request_id):
                reply = exchange(
                    self._session,
                    "GET",
                    url,
                    seconds=self._endpoint.timeout,
                    max_bytes=self._endpoint.max_reply_bytes,
                    params=params,
                    auth=self._auth,
                    headers={"X-Request-ID": request_id, "Accept": "application/json"},
                )
            failure = status_error(reply, partner=PARTNER, operation=operation, request_id=request_id)
            if failure is not None:
                raise failure
            try:
                return _page_of(reply, params["pageSize"], operation=operation, request_id=request_id)
            except _Broken as broken:
                raise ContractError(
                    str(broken),
                    partner=PARTNER,
                    operation=operation,
                    status=reply.status_code,
                    request_id=request_id,
                ) from None

        return with_retries(attempt, self._retry)


class _Broken(Exception):
    """The reply breaks the board's contract; the message says how, never with its content."""


class _NotANumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (RFC 8259) has no such number."""


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(name)


def _decode(raw: bytes) -> Any:
    """JSON text as the standard library reads it: integers exact, strings as sent, no NaN.

    The bytes must be UTF-8 (RFC 8259 §8.1); json's own guessing of UTF-16 and UTF-32 is not used.
    """
    return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)


def _record(raw: bytes) -> PageRecord:
    """One item of a page: its JSON value, or the item's bytes with the reason it cannot be read."""
    try:
        value: PageRecord = _decode(raw)
    except UnicodeDecodeError:
        reason = "not valid UTF-8"
    except RecursionError:
        reason = "nested deeper than the parser allows"
    except _NotANumber:
        reason = "NaN or Infinity, which JSON does not have"
    except ValueError:
        reason = "not valid JSON"
    else:
        return value
    return UnreadableRecord(body=raw, code=Code.UNREADABLE_RECORD, message=f"record is {reason}")


def _split(body: bytes) -> dict[str, Any]:
    """The envelope rebuilt from its parts, each decoded on its own, for a body that does not
    decode as a whole; `data.list` holds one `_record` per item."""
    try:
        envelope = jsonsplit.members(body)
        code = _decode(body[slice(*envelope["code"])])
        if code != 0:
            return {"code": code}
        data = jsonsplit.members(body, envelope["data"][0])
        total = _decode(body[slice(*data["total"])])
        items = jsonsplit.elements(body, data["list"][0])
    except (KeyError, ValueError, RecursionError):
        raise _Broken("reply cannot be split into records") from None
    records = [_record(body[start:end]) for start, end in items]
    return {"code": code, "data": {"total": total, "list": records}}


def _page_of(reply: Reply, asked: int, *, operation: str, request_id: str) -> tuple[list[PageRecord], int]:
    """The records and total of a page; an error envelope raised by its code, never its text.

    An HTML body is the board's maintenance page, served as HTTP 200 while it is down:
    transient. A reply that breaks the contract raises `_Broken`.
    """
    page = maintenance_page(
        reply, expected="JSON", partner=PARTNER, operation=operation, request_id=request_id
    )
    if page is not None:
        raise page
    try:
        envelope = _decode(reply.content)
    except (ValueError, RecursionError):
        envelope = _split(reply.content)
    code = envelope.get("code") if isinstance(envelope, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        raise _Broken("reply is not a JSON envelope")
    if code != 0:
        _refused(code, reply.status_code, operation=operation, request_id=request_id)
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise _Broken("envelope has no data object")
    messages, total = data.get("list"), data.get("total")
    if not isinstance(messages, list):
        raise _Broken("page has no list")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise _Broken("page total is not a whole number")
    if len(messages) > asked:
        raise _Broken(f"page holds {len(messages)} records, more than the {asked} asked for")
    return messages, total


def _refused(code: int, status: int, *, operation: str, request_id: str) -> None:
    """Raise the error an envelope's code stands for."""
    if code in TRANSIENT_CODES:
        raise TransientPartnerError(
            f"partner failed (code {code})",
            partner=PARTNER,
            operation=operation,
            status=status,
            request_id=request_id,
        )
    reason = "credentials refused" if code in AUTHENTICATION_CODES else "request refused"
    raise PermanentPartnerError(
        f"{reason} (code {code})",
        partner=PARTNER,
        operation=operation,
        status=status,
        request_id=request_id,
    )


def _versions(messages: Sequence[PageRecord]) -> list[tuple[str, int]]:
    """(id, updateTime) of the messages that carry both as the contract says, for the paginator.

    Any other item — not an object, an id or updateTime of another type — is left out: its
    version is unknown, and the mapper quarantines the record itself.
    """
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        source_id, updated = message.get("id"), message.get("updateTime")
        if isinstance(source_id, bool) or not isinstance(source_id, int | str) or source_id == "":
            continue
        if isinstance(updated, bool) or not isinstance(updated, int):
            continue
        found.append((str(source_id), updated))
    return found

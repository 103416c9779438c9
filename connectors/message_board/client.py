"""Pull messages from the city message board (城市留言板) over REST/JSON.

The board wraps every answer in an envelope `{code, msg, data}` and reports most errors as
HTTP 200 with `code` ≠ 0: 40100/40101 mean the token is missing or wrong (permanent), 50000 an
internal failure (transient, retried), anything else a request it will never accept. Rate
limiting is a real HTTP 429 with Retry-After, outright failures real 5xx; both go through the
shared retry policy (`connectors.base`), and so does an HTML maintenance page served as HTTP
200. Times in the window are epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from casehub.errors import PermanentPartnerError, TransientPartnerError
from casehub.ports import RawRecord, Window
from connectors.base import (
    ClosingSource,
    Endpoint,
    Paginator,
    RetryPolicy,
    connection_error,
    status_error,
    with_retries,
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

    Messages come back as the board's JSON objects, untouched; `MessageBoardMapper` maps them.
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
        self._session = session or requests.Session()
        self._auth = BearerToken(endpoint.secret)

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._session.close()

    def pages(self, window: Window) -> Iterator[list[RawRecord]]:
        """Messages whose updateTime lies in the window, one partner page at a time."""
        bounds = {"updatedFrom": _epoch_ms(window.start), "updatedTo": _epoch_ms(window.end)}
        paginator = Paginator(min(self._endpoint.page_size, MAX_PAGE_SIZE))
        while not paginator.done:
            messages, total = self._page({**bounds, "page": paginator.page, "pageSize": paginator.page_size})
            versions = [(str(m.get("id")), int(m.get("updateTime") or 0)) for m in messages]
            paginator.advance(len(messages), total, versions)
            if messages:
                yield messages

    def _page(self, params: Mapping[str, int]) -> tuple[list[RawRecord], int]:
        operation = f"GET {MESSAGES}"
        url = self._endpoint.url.rstrip("/") + MESSAGES

        def attempt(request_id: str) -> tuple[list[RawRecord], int]:
            try:
                response = self._session.get(
                    url,
                    params=params,
                    auth=self._auth,
                    headers={"X-Request-ID": request_id, "Accept": "application/json"},
                    timeout=self._endpoint.timeout,
                )
            except requests.RequestException as error:
                raise connection_error(
                    error, partner=PARTNER, operation=operation, request_id=request_id
                ) from error
            failure = status_error(response, partner=PARTNER, operation=operation, request_id=request_id)
            if failure is not None:
                raise failure
            data = _unwrap(response, operation=operation, request_id=request_id)
            messages, total = data.get("list"), data.get("total")
            if not isinstance(messages, list) or not isinstance(total, int):
                raise PermanentPartnerError(
                    "page has no list or total",
                    partner=PARTNER,
                    operation=operation,
                    status=response.status_code,
                    request_id=request_id,
                )
            return messages, total

        return with_retries(attempt, self._retry)


def _unwrap(response: requests.Response, *, operation: str, request_id: str) -> dict[str, Any]:
    """`data` of a successful envelope; an error envelope raised by its code, never its text.

    A body that is not JSON at all is the board's HTML maintenance page, served as HTTP 200
    while it is down: transient. JSON of the wrong shape breaks the contract: permanent.
    """
    try:
        envelope = response.json()
    except ValueError:
        raise TransientPartnerError(
            "reply is not JSON (a maintenance page?)",
            partner=PARTNER,
            operation=operation,
            status=response.status_code,
            request_id=request_id,
        ) from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
        raise PermanentPartnerError(
            "reply is not a JSON envelope",
            partner=PARTNER,
            operation=operation,
            status=response.status_code,
            request_id=request_id,
        )
    code = envelope["code"]
    if code == 0:
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise PermanentPartnerError(
                "envelope has no data object",
                partner=PARTNER,
                operation=operation,
                status=response.status_code,
                request_id=request_id,
            )
        return data
    if code in TRANSIENT_CODES:
        raise TransientPartnerError(
            f"partner failed (code {code})",
            partner=PARTNER,
            operation=operation,
            status=response.status_code,
            request_id=request_id,
        )
    reason = "credentials refused" if code in AUTHENTICATION_CODES else "request refused"
    raise PermanentPartnerError(
        f"{reason} (code {code})",
        partner=PARTNER,
        operation=operation,
        status=response.status_code,
        request_id=request_id,
    )

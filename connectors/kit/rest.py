"""The REST/JSON source: a partner's paged `GET` of records in a JSON envelope.

Chinese government REST services wrap every answer in an envelope `{code, msg, data}` and
report most errors as HTTP 200 with `code` ≠ 0; a connector declares where the code, the total
and the list are and which codes mean what (credentials refused: permanent; the partner's own
failure: transient, retried; anything else a request it will never accept). Rate limiting and
outright failures come as real HTTP 429 with Retry-After and 5xx, and an HTML maintenance page
as HTTP 200; all go through the kit's transport and retry policy. A partner that answers errors
with HTTP statuses alone and puts its total and list at the top of the reply (the health
commission's `{total, page, pageSize, items}`) declares no code field and no data field.

A page is decoded with the standard library's `json`, which keeps integers of any size exact
and text as sent (a lone surrogate included: the pipeline quarantines it), and refuses NaN and
Infinity, which are not JSON. When the body does not decode as a whole, the envelope is split
into its records at the byte level (`connectors.kit.jsonsplit`) and each record is decoded on
its own: the good ones come through, and a broken one comes as an `UnreadableRecord` of its
bytes, so it is quarantined and never stops the channel.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from casehub.errors import ContractError, PermanentPartnerError, TransientPartnerError
from casehub.ports import PageRecord, UnreadableRecord, Window
from casehub.reasons import Code
from connectors.kit import jsonsplit
from connectors.kit.retry import RetryPolicy
from connectors.kit.source import Endpoint, PagedSource
from connectors.kit.transport import Reply, bounded, call_errors, exchange, maintenance_page, status_error


class BearerToken(requests.auth.AuthBase):
    """`Authorization: Bearer <token>`; the token never appears in a repr or a log."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerToken(***)"


class _Broken(Exception):
    """The reply breaks the partner's contract; the message says how, never with its content."""


class _NotANumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (RFC 8259) has no such number."""


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(name)


def decode(raw: bytes) -> Any:
    """JSON text as the standard library reads it: integers exact, strings as sent, no NaN.

    The bytes must be UTF-8 (RFC 8259 §8.1); json's own guessing of UTF-16 and UTF-32 is not used.
    """
    return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)


def record(raw: bytes) -> PageRecord:
    """One item of a page: its JSON value, or the item's bytes with the reason it cannot be read."""
    try:
        value: PageRecord = decode(raw)
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


class RestSource(PagedSource):
    """A paged JSON `GET` as a `casehub.ports.Source`, signed in with a bearer token.

    Declare `path`, the envelope's `code_field` and `ok_code`, `data_field` with its
    `total_field` and `list_field`, the `authentication_codes` and `transient_codes`, and
    implement `params`. `code_field = None`: the reply carries no code (errors are HTTP
    statuses); `data_field = None`: the total and the list are members of the reply itself. A
    handed-in session gets the bounded adapters of `connectors.kit.transport` mounted.
    """

    path: ClassVar[str]
    code_field: ClassVar[str | None] = "code"
    ok_code: ClassVar[int] = 0
    data_field: ClassVar[str | None] = "data"
    total_field: ClassVar[str] = "total"
    list_field: ClassVar[str] = "list"
    authentication_codes: ClassVar[frozenset[int]] = frozenset()
    transient_codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(endpoint, retry=retry)
        self._owns_session = session is None
        self._session = bounded(session or requests.Session())
        self._auth = self.auth(endpoint)

    def auth(self, endpoint: Endpoint) -> requests.auth.AuthBase:
        """How each request signs in: the endpoint's secret as a bearer token."""
        return BearerToken(endpoint.secret)

    @abstractmethod
    def params(self, window: Window, page: int, size: int) -> Mapping[str, int | str]:
        """The query parameters for one page of the window, in the partner's own terms."""

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._owns_session:
            self._session.close()

    def fetch(self, window: Window, page: int, size: int, request_id: str) -> tuple[list[PageRecord], int]:
        operation = self.operation
        partner = self.channel
        with call_errors(partner=partner, operation=operation, request_id=request_id):
            reply = exchange(
                self._session,
                "GET",
                self.endpoint.url.rstrip("/") + self.path,
                seconds=self.endpoint.timeout,
                max_bytes=self.endpoint.max_reply_bytes,
                params=dict(self.params(window, page, size)),
                auth=self._auth,
                headers={"X-Request-ID": request_id, "Accept": "application/json"},
            )
        failure = status_error(reply, partner=partner, operation=operation, request_id=request_id)
        if failure is not None:
            raise failure
        try:
            return self._page_of(reply, request_id)
        except _Broken as broken:
            raise ContractError(
                str(broken),
                partner=partner,
                operation=operation,
                status=reply.status_code,
                request_id=request_id,
            ) from None

    def _page_of(self, reply: Reply, request_id: str) -> tuple[list[PageRecord], int]:
        """The records and total of a page; an error envelope raised by its code, never its text.

        An HTML body is the partner's maintenance page, served as HTTP 200 while it is down:
        transient. A reply that breaks the contract raises `_Broken`.
        """
        page = maintenance_page(
            reply, expected="JSON", partner=self.channel, operation=self.operation, request_id=request_id
        )
        if page is not None:
            raise page
        try:
            envelope = decode(reply.content)
        except (ValueError, RecursionError):
            envelope = self._split(reply.content)
        if not isinstance(envelope, dict):
            raise _Broken("reply is not a JSON envelope")
        if self.code_field is not None:
            code = envelope.get(self.code_field)
            if isinstance(code, bool) or not isinstance(code, int):
                raise _Broken("reply is not a JSON envelope")
            if code != self.ok_code:
                raise self._refused(code, reply.status_code, request_id)
        data = envelope if self.data_field is None else envelope.get(self.data_field)
        if not isinstance(data, dict):
            raise _Broken(f"envelope has no {self.data_field} object")
        records, total = data.get(self.list_field), data.get(self.total_field)
        if not isinstance(records, list):
            raise _Broken(f"page has no {self.list_field}")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise _Broken(f"page {self.total_field} is not a whole number")
        return records, total

    def _split(self, body: bytes) -> dict[str, Any]:
        """The envelope rebuilt from its parts, each decoded on its own, for a body that does not
        decode as a whole; the list holds one `record` per item."""
        code: Any = None
        try:
            envelope = jsonsplit.members(body)
            if self.code_field is not None:
                code = decode(body[slice(*envelope[self.code_field])])
                if code != self.ok_code:
                    return {self.code_field: code}
            data = envelope
            if self.data_field is not None:
                data = jsonsplit.members(body, envelope[self.data_field][0])
            total = decode(body[slice(*data[self.total_field])])
            items = jsonsplit.elements(body, data[self.list_field][0])
        except (KeyError, ValueError, RecursionError):
            raise _Broken("reply cannot be split into records") from None
        page = {self.total_field: total, self.list_field: [record(body[start:end]) for start, end in items]}
        rebuilt = page if self.data_field is None else {self.data_field: page}
        return rebuilt if self.code_field is None else {self.code_field: code, **rebuilt}

    def _refused(self, code: int, status: int, request_id: str) -> Exception:
        """The error an envelope's code stands for."""
        if code in self.transient_codes:
            return TransientPartnerError(
                f"partner failed (code {code})",
                partner=self.channel,
                operation=self.operation,
                status=status,
                request_id=request_id,
            )
        reason = "credentials refused" if code in self.authentication_codes else "request refused"
        return PermanentPartnerError(
            f"{reason} (code {code})",
            partner=self.channel,
            operation=self.operation,
            status=status,
            request_id=request_id,
        )

"""The outbound half of the kit for single events: one bounded JSON `POST` per outbox event.

The outbox (`casehub.outbox`) hands a sink one event at a time and stores when to try again,
so a sink built here makes exactly one attempt: it never sleeps and never retries, unlike the
batch sink (`connectors.kit.sink`). A partner's sink declares its `partner`, the `operation`
named in errors, the path an event goes to, how it signs in (`authentication`, `headers`) and
how its receipt reads; the base renders the event with the partner's pure renderer, posts it
bounded in time and size (`connectors.kit.transport`), and maps what went wrong onto the
error tree:

    timeout, dropped connection, 429, 5xx, maintenance page   TransientPartnerError (retry_after
                                                              from the partner's Retry-After)
    401, 403, every other 4xx, a redirect                     PermanentPartnerError
    a reply over the size cap, or not the receipt described   ContractError (permanent)
    an event the renderer cannot render                       PermanentPartnerError: it never will

The event id goes out as `X-Request-ID` and is kept on every error, so an attempt is found in
the partner's logs by the same id the partner deduplicates on. Messages name the partner, the
operation, the status and the field at fault; never a value of the event, a token or a secret.
"""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests
from requests.structures import CaseInsensitiveDict

from casehub.errors import ConfigurationError, PermanentPartnerError
from casehub.ports import EventReceipt, EventRenderer, OutboundEvent
from connectors.kit.sink import Destination
from connectors.kit.source import Closing
from connectors.kit.transport import (
    Direct,
    Reply,
    bounded,
    call_errors,
    direct_exchange,
    exchange,
    maintenance_page,
    status_error,
)


class EventDataError(ValueError):
    """An event lacks what the partner's request needs: `field` names it (`data.result`,
    `kind`, `source_id`), the message says the rule it breaks, never its value."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field} {rule}")
        self.field = field


def text(data: Mapping[str, Any], name: str) -> str:
    """`data[name]`, a string that is not blank."""
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise EventDataError(f"data.{name}", "must be a non-empty string")
    return value


def optional_text(data: Mapping[str, Any], name: str) -> str | None:
    """`data[name]` as a string, or None when it is absent, null or blank."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise EventDataError(f"data.{name}", "must be a string or null")
    return value


def moment(data: Mapping[str, Any], name: str) -> datetime:
    """`data[name]`, an ISO 8601 time with an offset, as an aware datetime."""
    value = data.get(name)
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None:
        raise EventDataError(f"data.{name}", "must be an ISO 8601 time with an offset")
    return parsed


def choice(data: Mapping[str, Any], name: str, allowed: Collection[str]) -> str:
    """`data[name]`, one of `allowed`."""
    value = data.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise EventDataError(f"data.{name}", f"must be one of {', '.join(allowed)}")
    return value


def kind(event: OutboundEvent, allowed: Collection[str]) -> str:
    """The event's kind, one the partner hears about."""
    if event.kind not in allowed:
        raise EventDataError("kind", f"must be one of {', '.join(allowed)} for {event.partner}")
    return event.kind


def encode(document: Mapping[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON, the same bytes for the same event on every attempt."""
    return json.dumps(dict(document), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def json_object(reply: Reply) -> dict[str, Any] | None:
    """The reply's body as a JSON object, or None when it is not one."""
    try:
        document = json.loads(reply.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


class EventPost(Closing):
    """A partner's event endpoint as a `casehub.ports.EventSink`: one attempt per `send`.

    Declare `partner` and `operation`, implement `path` and `receipt`; override
    `authentication` (requests' auth, such as a bearer token) and `headers` (a signature, an
    idempotency key) as the partner asks. `clock` gives the Unix time an attempt is signed at.
    """

    partner: ClassVar[str]
    operation: ClassVar[str]

    def __init__(
        self,
        destination: Destination,
        renderer: EventRenderer,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if renderer.partner != self.partner:
            raise ConfigurationError(f"{self.partner}: the event renderer is for {renderer.partner!r}")
        self.destination = destination
        self.renderer = renderer
        self._owns_session = session is None
        # Without a session of the caller's, calls go over one lean connection (`Direct`): an
        # outbox makes one call per event, and a general client's own work outweighs the call.
        self._session = None if session is None else bounded(session, destination.url)
        self._direct = Direct(destination.url) if session is None else None
        self._clock = clock
        self._auth = self.authentication()

    def authentication(self) -> requests.auth.AuthBase | None:
        """How each request signs in, besides `headers`; none unless the partner says."""
        return None

    def headers(self, event: OutboundEvent, body: bytes, timestamp: int) -> dict[str, str]:
        """The partner's own headers for one attempt, signed at `timestamp` (Unix seconds)."""
        return {}

    @abstractmethod
    def path(self, event: OutboundEvent) -> str:
        """Where the event goes, below the destination's URL; raises `EventDataError` when the
        event cannot be addressed."""

    @abstractmethod
    def receipt(self, reply: Reply, event: OutboundEvent) -> EventReceipt:
        """The partner's receipt in a 2xx reply; raises the error tree's errors otherwise."""

    def refused(self, message: str, event: OutboundEvent, status: int | None = None) -> PermanentPartnerError:
        """A permanent failure of this event, named as every error of the sink is."""
        return PermanentPartnerError(
            message, partner=self.partner, operation=self.operation, status=status, request_id=event.event_id
        )

    def send(self, event: OutboundEvent) -> EventReceipt:
        """One attempt at delivering `event`; raises `TransientPartnerError` or
        `PermanentPartnerError` (`ContractError` included) when it is not acknowledged."""
        if event.partner != self.partner:
            raise ConfigurationError(f"{self.partner}: the sink was handed an event for {event.partner!r}")
        try:
            body = encode(self.renderer.render(event))
            url = self.destination.url.rstrip("/") + self.path(event)
        except EventDataError as error:
            raise self.refused(f"event cannot be sent: {error}", event) from None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "X-Request-ID": event.event_id,
            **self.headers(event, body, int(self._clock())),
        }
        call = {"partner": self.partner, "operation": self.operation, "request_id": event.event_id}
        with call_errors(**call):
            if self._direct is not None:
                reply = direct_exchange(
                    self._direct,
                    "POST",
                    url,
                    seconds=self.destination.timeout,
                    max_bytes=self.destination.max_reply_bytes,
                    body=body,
                    headers=self._signed_in(headers),
                )
            else:
                assert self._session is not None
                reply = exchange(
                    self._session,
                    "POST",
                    url,
                    seconds=self.destination.timeout,
                    max_bytes=self.destination.max_reply_bytes,
                    data=body,
                    headers=headers,
                    auth=self._auth,
                    allow_redirects=False,
                )
        if 300 <= reply.status_code < 400:
            raise self.refused("redirected: the URL is not the partner's endpoint", event, reply.status_code)
        failure = status_error(reply, **call) or maintenance_page(reply, expected="a receipt", **call)
        if failure is not None:
            raise failure
        return self.receipt(reply, event)

    def _signed_in(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with what the partner's requests auth adds (a bearer token …)."""
        if self._auth is None:
            return headers
        prepared = requests.PreparedRequest()
        prepared.headers = CaseInsensitiveDict(headers)
        signed = self._auth(prepared)
        return {
            name: value if isinstance(value, str) else value.decode("latin-1")
            for name, value in signed.headers.items()
        }

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        if self._direct is not None:
            self._direct.close()
        elif self._owns_session and self._session is not None:
            self._session.close()

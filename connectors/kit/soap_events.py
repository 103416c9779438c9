"""The outbound half of the kit for single events over SOAP: one operation call per outbox event.

The outbox (`casehub.outbox`) hands a sink one event at a time and stores when to try again, so
a sink built here makes exactly one attempt, as the JSON event sinks do (`connectors.kit.events`).
It speaks through the partner's SOAP client (a `connectors.kit.soap.SoapSource`: the vendored
WSDL, WS-Security PasswordDigest, one call bounded in time and size, Faults and HTTP errors
mapped onto the error tree), which is built with the sink, so zeep is imported when a sink is
made, never when a DAG file is parsed. A partner's sink declares its `partner`, the `operation`
it calls and its `renderer`, builds its `client`, and reads its own business answer (`receipt`);
the base renders the event, calls the operation once under the event id, and refuses an event
the renderer cannot render: it never will be.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from casehub.errors import ConfigurationError, ContractError, PermanentPartnerError
from casehub.ports import EventReceipt, EventRenderer, OutboundEvent
from connectors.kit.events import EventDataError
from connectors.kit.sink import Destination
from connectors.kit.source import Closing, Endpoint

if TYPE_CHECKING:
    from connectors.kit.soap import SoapSource


class SoapEventCall(Closing):
    """A partner's SOAP operation as a `casehub.ports.EventSink`: one call per `send`.

    Declare `partner`, `operation` and `renderer` (the class of the default renderer), implement
    `client` and `receipt`. `destination.url` is the service address the partner's source pulls
    from. A handed-in session gets the kit's bounded adapters mounted, and is the caller's to
    close. Used in a `with` block, leaving it closes the sink.
    """

    partner: ClassVar[str]
    operation: ClassVar[str]
    default_renderer: ClassVar[type[EventRenderer]]

    def __init__(
        self,
        destination: Destination,
        *,
        renderer: EventRenderer | None = None,
        session: requests.Session | None = None,
    ) -> None:
        endpoint = Endpoint(
            url=destination.url,
            login=destination.login,
            secret=destination.secret,
            timeout=destination.timeout,
            page_size=1,  # a source's field; one call is not paged
            max_reply_bytes=destination.max_reply_bytes,
        )
        self.renderer = renderer or self.default_renderer()
        if self.renderer.partner != self.partner:
            raise ConfigurationError(f"{self.partner}: the event renderer is for {self.renderer.partner!r}")
        self._client = self.client(endpoint, session)

    @abstractmethod
    def client(self, endpoint: Endpoint, session: requests.Session | None) -> SoapSource:
        """The partner's SOAP client on `endpoint`; its module, and zeep with it, imported here."""

    @abstractmethod
    def receipt(self, reply: Any, event: OutboundEvent) -> EventReceipt:
        """The partner's answer to the call as a receipt; raises `PermanentPartnerError` for a
        refusal and `ContractError` for a reply that is not the WSDL's answer."""

    def refused(self, message: str, event: OutboundEvent) -> PermanentPartnerError:
        """A permanent failure of this event, named as every error of the sink is."""
        return PermanentPartnerError(
            message, partner=self.partner, operation=self.operation, request_id=event.event_id
        )

    def broken(self, message: str, event: OutboundEvent) -> ContractError:
        """A reply that breaks the contract, named as every error of the sink is."""
        return ContractError(
            message, partner=self.partner, operation=self.operation, request_id=event.event_id
        )

    def send(self, event: OutboundEvent) -> EventReceipt:
        """Call the operation once with the rendered event; the receipt says whether the partner
        had it.

        Raises `TransientPartnerError` (time-outs, 5xx, 429 with its Retry-After, a
        `ServiceUnavailable` Fault, connection refused) or `PermanentPartnerError` (credentials
        refused, a request refused, an event that cannot be rendered; `ContractError` for a reply
        that is not the WSDL's answer).
        """
        if event.partner != self.partner:
            raise ConfigurationError(f"{self.partner}: the sink was handed an event for {event.partner!r}")
        try:
            fields = self.renderer.render(event)
        except EventDataError as error:
            raise self.refused(f"event cannot be sent: {error}", event) from None
        return self.receipt(self._client.call(self.operation, event.event_id, **fields), event)

    def close(self) -> None:
        """Release the HTTP connections, unless the session was handed in."""
        self._client.close()

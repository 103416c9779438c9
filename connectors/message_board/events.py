"""Official replies (官方回复) to the city message board: a case's handling result, posted back.

`POST /api/v1/messages/{id}/reply` with the board's bearer token and the body `{"replyContent",
"replyOrg", "replyTime"}` (the result, the handling unit's name, the completion time in epoch
milliseconds; `schemas/partners/message_board_reply.json`). The board applies an
`Idempotency-Key` once: the hub sends the outbox's event id, so a retry of a reply whose answer
was lost is acknowledged with `duplicate: true` and posts nothing twice.

An official reply is published on the board for anyone to read, so every phone and ID number
the handler's result quotes (a resident's, a neighbour's) leaves masked
(`casehub.masking.mask_free_text`).

The board answers in its envelope `{code, msg, data}`, errors as HTTP 200 with code ≠ 0:
40100/40101 (token missing or refused), 40400 (no such message), 40900 (the key was used for
another reply), 42200 (a field refused) are permanent; 42900 (too many requests) and 50000 (the
board's own failure) pass with time. The request itself is the kit's (`connectors.kit.events`).
"""

from __future__ import annotations

import requests

from casehub.errors import ContractError, TransientPartnerError
from casehub.masking import mask_free_text
from casehub.ports import EventReceipt, OutboundEvent
from connectors.kit.events import EventDataError, EventPost, json_object, kind, moment, text
from connectors.kit.rest import BearerToken
from connectors.kit.transport import Reply, retry_after_seconds
from connectors.message_board.client import MessageBoardSource, to_epoch_ms

PARTNER = "message_board"
REPLY = "/api/v1/messages/{id}/reply"
RATE_LIMITED = 42900
TRANSIENT_CODES = MessageBoardSource.transient_codes | {RATE_LIMITED}
AUTHENTICATION_CODES = MessageBoardSource.authentication_codes


class BoardReplyRenderer:
    """A `result` event → the board's reply body; pure."""

    partner = PARTNER
    kinds = ("result",)

    def render(self, event: OutboundEvent) -> dict[str, object]:
        kind(event, self.kinds)
        data = event.data
        return {
            "replyContent": mask_free_text(text(data, "result")),
            "replyOrg": text(data, "unit"),
            "replyTime": to_epoch_ms(moment(data, "completed_at")),
        }


class BoardReplySink(EventPost):
    """Posts one reply per `send`, idempotent on the event id."""

    partner = PARTNER
    operation = f"POST {REPLY}"

    def authentication(self) -> requests.auth.AuthBase:
        return BearerToken(self.destination.secret)

    def headers(self, event: OutboundEvent, body: bytes, timestamp: int) -> dict[str, str]:
        return {"Idempotency-Key": event.event_id}

    def path(self, event: OutboundEvent) -> str:
        """The board's message ids are integers; anything else cannot address a message."""
        if not (event.source_id.isascii() and event.source_id.isdigit()):
            raise EventDataError("source_id", "must be the board's integer message id")
        return REPLY.format(id=int(event.source_id))

    def receipt(self, reply: Reply, event: OutboundEvent) -> EventReceipt:
        """Code 0 with the message replied to is the receipt; another code is refused by it."""
        envelope = json_object(reply)
        code = envelope.get("code") if envelope is not None else None
        if envelope is None or isinstance(code, bool) or not isinstance(code, int):
            raise self._broken("reply is not a JSON envelope", event, reply)
        if code in TRANSIENT_CODES:
            raise TransientPartnerError(
                f"partner busy (code {code})",
                partner=self.partner,
                operation=self.operation,
                status=reply.status_code,
                request_id=event.event_id,
                retry_after=retry_after_seconds(reply.headers.get("Retry-After")),
            )
        if code != 0:
            reason = "credentials refused" if code in AUTHENTICATION_CODES else "reply refused"
            raise self.refused(f"{reason} (code {code})", event, reply.status_code)
        data = envelope.get("data")
        if not isinstance(data, dict) or data.get("id") != int(event.source_id):
            raise self._broken("reply is not a receipt for the message replied to", event, reply)
        return EventReceipt(event_id=event.event_id, duplicate=data.get("duplicate") is True)

    def _broken(self, message: str, event: OutboundEvent, reply: Reply) -> ContractError:
        return ContractError(
            message,
            partner=self.partner,
            operation=self.operation,
            status=reply.status_code,
            request_id=event.event_id,
        )

"""Status callbacks to the community app (武汉微邻里): how a resident's report is getting on.

The app takes them as Standard Webhooks, the way it sends its own reports to the hub: `POST
/api/open/v1/callbacks` with `webhook-id` (the outbox's event id, so a retry is applied once),
`webhook-timestamp` (Unix seconds of this attempt, signed afresh on every attempt so a retry
after a long back-off is not refused as stale) and `webhook-signature` (`v1,` + base64
HMAC-SHA256 under the callback secret, by the `standardwebhooks` library). The body is
`{"type": "report.status", "timestamp", "data": {"reportId", "status", "statusText", "unit",
"note", "result", "at"}}` (`schemas/partners/neighborhood_app_callback.json`); `statusText` is
the status as the app shows it to the resident.

The app shows the status to residents, in a community's shared space, so every phone and ID
number a handler's note or result quotes leaves masked (`casehub.masking.mask_free_text`).

A 2xx is the receipt, `{"duplicate": true}` in it for an event id the app had already
applied; every other 4xx (401 for a signature or timestamp refused) is permanent, 429 and 5xx
pass with time. The request itself is the kit's (`connectors.kit.events`).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from casehub.errors import ConfigurationError
from casehub.masking import mask_free_text
from casehub.normalize import iso
from casehub.ports import EventReceipt, OutboundEvent
from connectors.kit.events import EventPost, choice, json_object, kind, moment, optional_text, text
from connectors.kit.sink import Destination
from connectors.kit.transport import Reply

PARTNER = "neighborhood_app"
CALLBACKS = "/api/open/v1/callbacks"
EVENT_TYPE = "report.status"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
STATUS_TEXT = {"accepted": "已签收", "processing": "处理中", "completed": "已办结", "returned": "已退回"}
"""The hub's statuses the app hears of, as the app words them for the resident."""


def _utc(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, as the app writes its own envelope's `timestamp`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _webhook(secret: str) -> Webhook:
    """The signer of `secret`; a secret that is not `whsec_` and base64 is a deployment error,
    found when the sink is built rather than as a refused signature on every event."""
    digits = secret.removeprefix(SECRET_PREFIX).rstrip("=")
    try:
        if digits == secret or not base64.b64decode(digits + "=" * (-len(digits) % 4), validate=True):
            raise ValueError("no key")
        return Webhook(secret)
    except (binascii.Error, ValueError, EmptyWebhookSecretError):
        raise ConfigurationError(
            f"{PARTNER}: the callback secret is not a Standard Webhooks secret (whsec_ and base64)"
        ) from None


class AppStatusRenderer:
    """A `status` or `result` event → the app's callback body; pure.

    A result is the report's completion: status `completed` with the result and the unit.
    """

    partner = PARTNER
    kinds = ("status", "result")

    def render(self, event: OutboundEvent) -> dict[str, Any]:
        data = event.data
        report: dict[str, Any] = {"reportId": event.source_id}
        if kind(event, self.kinds) == "result":
            result = mask_free_text(text(data, "result"))
            report.update(status="completed", unit=text(data, "unit"), note=None, result=result)
            at = moment(data, "completed_at")
        else:
            report["status"] = choice(data, "status", STATUS_TEXT)
            report["unit"] = optional_text(data, "unit")
            for name in ("note", "result"):
                written = optional_text(data, name)
                report[name] = None if written is None else mask_free_text(written)
            at = moment(data, "at")
        report["statusText"] = STATUS_TEXT[report["status"]]
        report["at"] = iso(at)
        return {"type": EVENT_TYPE, "timestamp": _utc(event.created_at), "data": report}


class AppCallbackSink(EventPost):
    """Posts one signed callback per `send`."""

    partner = PARTNER
    operation = f"POST {CALLBACKS}"

    def __init__(
        self,
        destination: Destination,
        renderer: AppStatusRenderer,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._webhook = _webhook(destination.secret)
        super().__init__(destination, renderer, session=session, clock=clock)

    def path(self, event: OutboundEvent) -> str:
        return CALLBACKS

    def headers(self, event: OutboundEvent, body: bytes, timestamp: int) -> dict[str, str]:
        signed_at = datetime.fromtimestamp(timestamp, UTC)  # the library reads the time as UTC
        return {
            "webhook-id": event.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self._webhook.sign(event.event_id, signed_at, body.decode("utf-8")),
        }

    def receipt(self, reply: Reply, event: OutboundEvent) -> EventReceipt:
        """Any 2xx acknowledges the event (Standard Webhooks asks no body of a receiver)."""
        document = json_object(reply)
        duplicate = document is not None and document.get("duplicate") is True
        return EventReceipt(event_id=event.event_id, duplicate=duplicate)

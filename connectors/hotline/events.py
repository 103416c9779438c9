"""Handling results back to the mayor hotline 12345: outbox `result` events → SubmitHandlingResult.

A work order the hotline dispatched to the city is answered with its handling result: the unit
that handled it (BLDW 办理单位), the result text (BLJG 办理结果), when it was completed (BJSJ 办结时间,
local time as every hotline time) and the status it reached (CLZT 处理状态, the hotline's 04
已办结). SJBH 事件编号 carries the outbox's event id, the same on every attempt, so the hotline
applies each event once and answers a repeat JGDM 0 with a JGXX saying it is a duplicate.
The result goes as the handler wrote it, numbers included: the hotline is the channel the
resident called, holds the caller's number already, and its operator reads the result back to
them — a number to call (an office's, the property manager's) is part of the answer.

The sink makes one attempt per call, the outbox decides when to try again: it speaks through the
hotline's SOAP client (`HotlineSource`: the vendored WSDL, WS-Security PasswordDigest, one call
bounded in time and size, Faults and HTTP errors mapped onto the error tree by the kit), and
reads the hotline's business answer: JGDM `0` is accepted, every other code a refusal that asking
again will not change.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from casehub.normalize import SHANGHAI
from casehub.ports import EventReceipt, OutboundEvent
from connectors.kit.events import EventDataError, choice, kind, moment, text
from connectors.kit.soap_events import SoapEventCall
from connectors.kit.source import Endpoint

if TYPE_CHECKING:
    from connectors.hotline.client import HotlineSource

PARTNER = "hotline"
OPERATION = "SubmitHandlingResult"
COMPLETED = "04"
"""CLZT 处理状态 已办结, the hotline's code for a completed work order (hotline_statuses.csv)."""
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ACCEPTED = "0"
DUPLICATE_MARKS = ("重复提交", "duplicate")
"""How the hotline's JGXX says a JGDM 0 answer is for an SJBH it applied before."""
REFUSALS = {
    "1001": "a required field is empty",
    "1002": "no such work order",
    "1003": "unknown status code",
    "1004": "completion time malformed or before the call",
    "1005": "event id malformed",
    "1006": "unit or result too long",
}
"""JGDM 结果代码 of a refused submission (docs/partners.md), named in the error instead of the
JGXX, which quotes the request."""


def local_time(moment: datetime) -> str:
    """A time as the hotline writes times: Asia/Shanghai local time without offset."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


class HotlineResultRenderer:
    """Outbox `result` event → the elements of SubmitHandlingResult; pure."""

    partner = PARTNER
    kinds = ("result",)

    def render(self, event: OutboundEvent) -> dict[str, Any]:
        """GDBH from the event's source id, BLDW, BLJG, BJSJ and CLZT 04 from its data, SJBH its id;
        `EventDataError` naming the field for an event that cannot be one (never its value)."""
        kind(event, self.kinds)
        if not event.source_id.strip():
            raise EventDataError("source_id", "must be the work order's GDBH")
        data = event.data
        choice(data, "status", ("completed",))
        return {
            "GDBH": event.source_id,
            "BLDW": text(data, "unit"),
            "BLJG": text(data, "result"),
            "BJSJ": local_time(moment(data, "completed_at")),
            "CLZT": COMPLETED,
            "SJBH": event.event_id,
        }


class HotlineResultSink(SoapEventCall):
    """SubmitHandlingResult, one attempt per event; the hotline's answer is its JGDM."""

    partner = PARTNER
    operation = OPERATION
    default_renderer = HotlineResultRenderer

    def client(self, endpoint: Endpoint, session: requests.Session | None) -> HotlineSource:
        from connectors.hotline.client import HotlineSource

        return HotlineSource(endpoint, session=session)

    def receipt(self, reply: Any, event: OutboundEvent) -> EventReceipt:
        """JGDM `0` is accepted, a duplicate when JGXX says so; every other code is a refusal
        named by its meaning, never by the JGXX, which quotes the request."""
        code = getattr(reply, "JGDM", None)
        if not isinstance(code, str) or not code.strip():
            raise self.broken("reply has no JGDM result code", event)
        code = code.strip()
        if code != ACCEPTED:
            meaning = REFUSALS.get(code, "a code the contract does not list")
            raise self.refused(f"handling result refused: JGDM {code} ({meaning})", event)
        message = str(getattr(reply, "JGXX", None) or "")
        return EventReceipt(event.event_id, duplicate=any(mark in message for mark in DUPLICATE_MARKS))

"""The district standard interface's one definition, behind both of its transports.

The REST router (`casehub/gateway/routers/districts.py`) and the SOAP router
(`casehub/gateway/routers/district_soap.py`) authenticate the caller, turn the request into a
body dict and call this service; everything a district can do and every rule it meets is here
and in `casehub.workflow` (docs/district-interface.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from casehub import outbox, workflow
from casehub.crypto import KeyRing
from casehub.errors import DataQualityError, UnknownCase
from casehub.partners import load_connector, partner
from casehub.ports import Renderer
from casehub.pushes import checked_record
from casehub.recipients import load_recipient
from casehub.store.db import store_errors
from casehub.store.models import Case, OutboxEvent
from casehub.workflow import Outcome

__all__ = ["Dispatch", "DistrictService", "Outcome"]

log = logging.getLogger("casehub.districts")

PARTNER = "district"
MAX_LISTING = 500
NOTICE_FIELDS = ("level", "level_name", "rules", "actions", "deadline_at", "working_days", "redispatched_to")
"""What a district is told of an urge (督办): codes and times only."""


def notice_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The notice of an urge event's data, as the district is told it."""
    return {name: data.get(name) for name in NOTICE_FIELDS}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Dispatch:
    """One event waiting for a district: a dispatch, an urge or a cancellation, with the case's
    current record as `schemas/recipients/district.json` describes it; an urge (督办) also
    carries its `notice`: the level, the rules that fired, the working days and what followed
    (`casehub.supervision`)."""

    event_id: str
    kind: str
    case_id: str
    dispatched_at: datetime
    case: dict[str, Any]
    notice: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        listed = {
            "event_id": self.event_id,
            "kind": self.kind,
            "case_id": self.case_id,
            "dispatched_at": self.dispatched_at.isoformat(),
            "case": self.case,
        }
        if self.notice is not None:
            listed["notice"] = self.notice
        return listed


class DistrictService:
    """What a district platform can do through the standard interface."""

    def __init__(
        self,
        engine: Engine,
        keyring: KeyRing,
        *,
        clock: Callable[[], datetime] = utcnow,
        renderer: Renderer | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.clock = clock
        self.renderer: Renderer = renderer or load_connector(partner(PARTNER)).RENDERER
        self.contract = load_recipient("district")
        self.workflow = workflow.Workflow(engine, keyring, clock=clock)

    def dispatches(self, district: str, *, limit: int = 100) -> list[Dispatch]:
        """The events waiting for `district`, oldest first, each with its case's current record,
        checked against the district's allow-list as a push's records are. An event whose record
        breaks it is never shown: it goes to the dead letter (`recipient_contract`, naming the
        fields) for a data engineer to replay once the cause is fixed, and the rest are listed."""
        events = outbox.pending_for(
            self.engine, self.keyring, PARTNER, district, limit=max(1, min(limit, MAX_LISTING))
        )
        ids = sorted({event.case_id for event in events})
        rows: dict[str, dict[str, Any]] = {}
        if ids:
            with store_errors(), self.engine.connect() as conn:
                found = conn.execute(select(*Case.__table__.columns).where(Case.case_id.in_(ids)))
                rows = {row["case_id"]: dict(row) for row in found.mappings()}
        listing = []
        broken: dict[str, str] = {}
        for event in events:
            row = rows.get(event.case_id)
            if row is None:
                continue
            try:
                record = checked_record(row, self.contract, self.renderer, self.keyring)
            except DataQualityError as error:
                broken[event.event_id] = str(error)
                continue
            notice = notice_of(event.data) if event.kind == "urge" else None
            listing.append(
                Dispatch(event.event_id, event.kind, event.case_id, event.created_at, record, notice)
            )
        if broken:
            self._bury(district, broken)
        return listing

    def _bury(self, district: str, broken: Mapping[str, str]) -> None:
        now = self.clock()
        with store_errors(), self.engine.begin() as conn:
            for event_id, message in broken.items():
                error = {"code": "recipient_contract", "status": None, "message": message[:500]}
                outbox.bury(conn, PARTNER, district, [event_id], now, error)
        for event_id, message in broken.items():
            log.error("district %s: event %s held back, to the dead letter (%s)", district, event_id, message)

    def acknowledge(self, district: str, event_id: str) -> str:
        """Record that `district` has stored the event; the event's state, `delivered`."""
        with store_errors(), self.engine.begin() as conn:
            state = conn.scalar(
                select(OutboxEvent.state).where(
                    OutboxEvent.event_id == event_id,
                    OutboxEvent.partner == PARTNER,
                    OutboxEvent.target == district,
                )
            )
            if state is None:
                raise UnknownCase(
                    f"no event {event_id} for district {district}", code="not_found", field="/event_id"
                )
            outbox.acknowledge(conn, PARTNER, district, [event_id], self.clock(), how="receipt")
        return outbox.DELIVERED if state == outbox.PENDING else str(state)

    def act(self, district: str, case_id: str, action: str, body: Mapping[str, Any]) -> Outcome:
        """Apply one of the district's actions to a case dispatched to it (`casehub.workflow`)."""
        return self.workflow.act(workflow.Actor(PARTNER, district), case_id, action, body)

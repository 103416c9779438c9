"""Filed service requests: landed sealed in the inbox before the client gets its token, and turned
into cases by the processing job, as pushed webhooks are (`casehub/inbox.py`, `casehub.jobs`).

GeoReport v2 lets a server answer `POST requests` with a `token` and create the request later
(its deferred creation); the hub does so for every request, since a case is made only by the
pipeline. The token is derived from the client's key and the request's fields, so a client that
posts the same request again — a retry after a lost answer — gets the same token and lands
nothing new. `tokens/{token}` then reads the inbox: pending, or processed into the case whose id
(`casehub.identity.case_id("open311", token)`) is the `service_request_id`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from casehub import inbox
from casehub.crypto import KeyRing
from casehub.identity import case_id
from casehub.partners import Partner
from casehub.pipeline import PageResult, decode_body
from casehub.ports import Mapper, PageRecord, UnreadableRecord
from casehub.reasons import Code
from casehub.store.db import store_errors
from casehub.store.models import Case, InboundWebhook

EVENT_TYPE = "request.created"
TOKEN_LENGTH = 32


def token_of(key_id: str, fields: Mapping[str, Any]) -> str:
    """The request's token: a digest of the client's key id and what it filed."""
    canonical = json.dumps({"key_id": key_id, **fields}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:TOKEN_LENGTH]


def land_request(
    engine: Engine, keyring: KeyRing, partner: str, key_id: str, fields: Mapping[str, Any], now: datetime
) -> tuple[str, bool]:
    """Land a checked request sealed in the inbox; (its token, whether it is new).

    `fields` are the request's values as the gateway checked them; the landed record adds the
    token and `requested_datetime` (now), which the mapper reads as the request's id and time.
    """
    token = token_of(key_id, fields)
    record = {**fields, "token": token, "requested_datetime": now.isoformat(), "key_id": key_id}
    body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    outcome = inbox.land(engine, keyring, partner, token, EVENT_TYPE, body, now)
    # The same fields under the same key give the same token; only the time differs.
    return token, outcome is inbox.LandOutcome.ACCEPTED


@dataclass(frozen=True)
class TokenState:
    token: str
    service_request_id: str | None


def token_state(engine: Engine, partner: str, token: str) -> TokenState | None:
    """What became of a token: None when no request was landed under it."""
    with store_errors(), engine.connect() as conn:
        landed = conn.execute(
            select(InboundWebhook.state).where(
                InboundWebhook.partner == partner, InboundWebhook.webhook_id == token
            )
        ).scalar_one_or_none()
        if landed is None:
            return None
        made = case_id(partner, token)
        found = conn.execute(select(Case.case_id).where(Case.case_id == made)).scalar_one_or_none()
    return TokenState(token, found)


def _record(body: bytes) -> PageRecord:
    """The landed request, or the body unread (quarantined whole rather than lost)."""
    record, unreadable = decode_body(body)
    if unreadable is not None:
        return UnreadableRecord(body=body, code=unreadable.code, message=unreadable.message)
    if not isinstance(record, dict):
        return UnreadableRecord(body=body, code=Code.NOT_AN_OBJECT, message="the landed request is no object")
    found: PageRecord = record
    return found


def process_requests(
    spec: Partner,
    mapper: Mapper,
    *,
    engine: Engine,
    keyring: KeyRing,
    run_id: str | None = None,
    on_page: Callable[[PageResult], None] | None = None,
    max_pages: int = 1000,
) -> dict[str, Any]:
    """Turn the partner's landed requests into cases, oldest first, `batch_size` at a time: the
    same road as a pushed webhook (`casehub.jobs.process_inbox`)."""
    from casehub.jobs import process_inbox

    return process_inbox(
        spec,
        mapper,
        _record,
        batch_size=spec.serving().batch_size,
        engine=engine,
        keyring=keyring,
        run_id=run_id,
        on_page=on_page,
        max_pages=max_pages,
    )

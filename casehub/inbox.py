"""The webhook inbox: pushed deliveries landed durably before they are acknowledged.

A pushing partner (Standard Webhooks) retries until it gets a 2xx, so the gateway answers only
once the delivery is committed here, and a retry of a committed delivery must land nothing new.
Both backends get `INSERT … ON CONFLICT (partner, webhook_id) DO NOTHING`, so two concurrent
retries of one delivery cannot both insert; the loser finds the winner's row and compares
content hashes: the same body is a duplicate, another body under the same id a conflict.

The body is kept exactly as received — the pipeline decodes and maps it later — sealed with the
key ring and bound to `webhook_inbox/<partner>/<webhook_id>`, so a payload copied to another
row no longer opens. The ring is proved against the store's key fingerprints once per process,
before its first write (`casehub/store/keys.py`).

    land(engine, ring, partner, webhook_id, event_type, body, now)  the gateway, per delivery
    pending(engine, ring, partner, limit=…)                          the processing DAG, oldest first
    mark_processed(conn, ids, batch_id, now)                         inside the DAG's own transaction
    counts(engine)                                                   stats: pending/processed per partner
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from casehub.crypto import KeyRing, associated_data
from casehub.store.db import store_errors
from casehub.store.keys import hold_active, prove_keyring
from casehub.store.models import InboundWebhook

TABLE = InboundWebhook.__tablename__
PENDING, PROCESSED = "pending", "processed"
STATES = (PENDING, PROCESSED)


class LandOutcome(StrEnum):
    """What landing a delivery did; the gateway's answer follows from it."""

    ACCEPTED = "accepted"  # a new row, committed
    DUPLICATE = "duplicate"  # this id was landed before with the same body: nothing written
    CONFLICT = "conflict"  # this id was landed before with another body: nothing written


@dataclass(frozen=True)
class InboxEntry:
    """A pending delivery, its body opened: the bytes the partner sent, as they were signed."""

    id: int
    webhook_id: str
    received_at: datetime
    body: bytes


def binding(partner: str, webhook_id: str) -> bytes:
    """The associated data a payload is sealed with: its table, partner and webhook id."""
    return associated_data(TABLE, partner, webhook_id)


def content_hash(partner: str, body: bytes) -> str:
    """SHA-256 of the body, prefixed with its partner: the digest `pipeline.content_hash` takes."""
    return hashlib.sha256(partner.encode() + b"\x00" + body).hexdigest()


def land(
    engine: Engine,
    keyring: KeyRing,
    partner: str,
    webhook_id: str,
    event_type: str,
    body: bytes,
    now: datetime,
) -> LandOutcome:
    """Commit one delivery, or recognise it as landed before; nothing is written but the new row.

    Raises `ConfigurationError` when the ring is not the one the store was written with, and
    `StoreError` (its text dropped) when the store refuses or cannot be reached.
    """
    prove_keyring(engine, keyring, now)
    digest = content_hash(partner, body)
    row = {
        "partner": partner,
        "webhook_id": webhook_id,
        "event_type": event_type,
        "received_at": now,
        "content_hash": digest,
        "key_id": keyring.active,
        "payload": keyring.seal(body, binding(partner, webhook_id)),
        "state": PENDING,
    }
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(InboundWebhook)
        .values(row)
        .on_conflict_do_nothing(index_elements=["partner", "webhook_id"])
        .returning(InboundWebhook.id)
    )
    with store_errors(), engine.begin() as conn:
        # The insert comes first: on SQLite it takes the write lock (waiting out another writer)
        # before anything is read, so a concurrent commit cannot invalidate this transaction.
        if conn.execute(statement).scalar_one_or_none() is not None:
            hold_active(conn, keyring)
            return LandOutcome.ACCEPTED
        stored = conn.execute(
            select(InboundWebhook.content_hash).where(
                InboundWebhook.partner == partner, InboundWebhook.webhook_id == webhook_id
            )
        ).scalar_one()
    return LandOutcome.DUPLICATE if stored == digest else LandOutcome.CONFLICT


def pending(engine: Engine, keyring: KeyRing, partner: str, *, limit: int) -> list[InboxEntry]:
    """Up to `limit` pending deliveries of `partner`, oldest first, their bodies opened.

    Raises `ConfigurationError` when the ring cannot open one (a wrong ring, or a moved value).
    """
    query = (
        select(
            InboundWebhook.id,
            InboundWebhook.webhook_id,
            InboundWebhook.received_at,
            InboundWebhook.key_id,
            InboundWebhook.payload,
        )
        .where(InboundWebhook.partner == partner, InboundWebhook.state == PENDING)
        .order_by(InboundWebhook.id)
        .limit(limit)
    )
    with store_errors(), engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        InboxEntry(
            id=row.id,
            webhook_id=row.webhook_id,
            received_at=row.received_at,
            body=keyring.open(row.key_id, row.payload, binding(partner, row.webhook_id)),
        )
        for row in rows
    ]


def mark_processed(conn: Connection, ids: Sequence[int], batch_id: str, now: datetime) -> int:
    """Mark pending deliveries processed by `batch_id`, in the caller's transaction; how many were.

    A delivery already processed is left as it was, so a rerun cannot move it to another batch.
    """
    if not ids:
        return 0
    done = conn.execute(
        update(InboundWebhook)
        .where(InboundWebhook.id.in_(list(ids)), InboundWebhook.state == PENDING)
        .values(state=PROCESSED, processed_at=now, batch_id=batch_id)
    )
    return done.rowcount


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Per partner that has pushed anything: how many deliveries are pending and processed."""
    query = select(InboundWebhook.partner, InboundWebhook.state, func.count()).group_by(
        InboundWebhook.partner, InboundWebhook.state
    )
    found: dict[str, dict[str, int]] = {}
    with store_errors(), engine.connect() as conn:
        for partner, state, count in conn.execute(query):
            found.setdefault(partner, dict.fromkeys(STATES, 0))[state] = count
    return found

"""Open311 clients' API keys: `o311_<key id>_<secret>`, issued and checked as districts' keys are
(`casehub/credentials.py`): the key id is public, only the SHA-256 of the 32 random bytes of the
secret is stored, and the key is shown once, when issued.

Scopes: `open311:write` files service requests (`POST requests`), `open311:update` posts updates
(`POST servicerequestupdates`). Reading is public and needs no key; a key sent with a read only
counts against that key's rate limit.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from casehub.credentials import digest, split_key
from casehub.errors import ConfigurationError
from casehub.store.db import store_errors
from casehub.store.models import Open311Key

PREFIX = "o311_"
WRITE, UPDATE = "open311:write", "open311:update"
SCOPES = (WRITE, UPDATE)
MAX_CLIENT = 100


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    client: str
    scopes: tuple[str, ...]
    secret: str

    @property
    def api_key(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"


@dataclass(frozen=True)
class Client:
    """Who a verified key belongs to."""

    key_id: str
    client: str
    scopes: tuple[str, ...]


def issue(
    engine: Engine, client: str, *, scopes: tuple[str, ...] = SCOPES, now: datetime | None = None
) -> IssuedKey:
    """A new key for `client` (a name for people, e.g. the app it is for); its secret is not stored."""
    client = client.strip()
    if not client or len(client) > MAX_CLIENT:
        raise ConfigurationError(f"an Open311 key needs a client name of 1 to {MAX_CLIENT} characters")
    if not scopes or set(scopes) - set(SCOPES):
        raise ConfigurationError(f"scopes must be among {', '.join(SCOPES)}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = {
        "key_id": key_id,
        "client": client,
        "scopes": list(scopes),
        "secret_hash": digest(secret),
        "created_at": now or datetime.now(UTC),
        "revoked_at": None,
    }
    with store_errors(), engine.begin() as conn:
        conn.execute(insert(Open311Key), [row])
    return IssuedKey(key_id, client, tuple(scopes), secret)


def verify(engine: Engine, presented: str) -> Client | None:
    """The client a key belongs to, or None for a malformed, unknown or revoked key."""
    split = split_key(presented, PREFIX)
    if split is None:
        return None
    key_id, secret = split
    with store_errors(), engine.connect() as conn:
        row = conn.execute(
            select(Open311Key.key_id, Open311Key.client, Open311Key.scopes, Open311Key.secret_hash).where(
                Open311Key.key_id == key_id, Open311Key.revoked_at.is_(None)
            )
        ).one_or_none()
    if row is None or not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    return Client(row.key_id, row.client, tuple(row.scopes))


def listing(engine: Engine) -> list[dict[str, Any]]:
    """Every key, oldest first: id, client, scopes and dates, never a secret."""
    query = select(
        Open311Key.key_id, Open311Key.client, Open311Key.scopes, Open311Key.created_at, Open311Key.revoked_at
    ).order_by(Open311Key.created_at, Open311Key.key_id)
    with store_errors(), engine.connect() as conn:
        return [
            {
                "key_id": row.key_id,
                "client": row.client,
                "scopes": list(row.scopes),
                "created_at": row.created_at,
                "revoked_at": row.revoked_at,
            }
            for row in conn.execute(query)
        ]


def revoke(engine: Engine, key_id: str, *, now: datetime | None = None) -> bool:
    """Refuse a key from now on; True when there was a live one of that id."""
    with store_errors(), engine.begin() as conn:
        done = conn.execute(
            update(Open311Key)
            .where(Open311Key.key_id == key_id, Open311Key.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return bool(done.rowcount)

"""District platforms' credentials for the standard interface: REST API keys and SOAP passwords.

An API key reads `cdk_<key id>_<secret>`. The key id is public (it names the key in listings
and logs); only the SHA-256 of the secret is stored, so the store cannot give a key away. The
secret is 32 random bytes, which is why a plain digest is enough (a password hash is for
guessable secrets). A SOAP credential is a username (its key id) and a password, which must
be kept retrievable — a UsernameToken PasswordDigest is computed from the password itself —
and is therefore sealed with the key ring instead, bound to its row.

Each credential belongs to one district and carries scopes: `dispatches:read` (list and
confirm dispatches) and `cases:write` (act on cases). Both are shown once, when issued.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update

from casehub.crypto import KeyRing, associated_data
from casehub.errors import ConfigurationError
from casehub.reference import load_reference
from casehub.store.db import store_errors
from casehub.store.keys import prove_keyring
from casehub.store.models import DistrictCredential

SCOPES = ("dispatches:read", "cases:write")
KINDS = ("api_key", "soap")
PREFIX = "cdk_"


@dataclass(frozen=True)
class Issued:
    """A credential as issued: the only time its secret is seen."""

    key_id: str
    district_code: str
    kind: str
    scopes: tuple[str, ...]
    secret: str

    @property
    def api_key(self) -> str:
        return f"{PREFIX}{self.key_id}_{self.secret}"


@dataclass(frozen=True)
class Caller:
    """Who a verified credential belongs to."""

    key_id: str
    district_code: str
    scopes: tuple[str, ...]


def digest(secret: str) -> str:
    """What the store keeps of an API key's secret: 32 random bytes need no slow password hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(presented: str, prefix: str) -> tuple[str, str] | None:
    """`<prefix><key id>_<secret>` as (key id, secret); None for anything else."""
    if not presented.startswith(prefix) or presented.count("_") < 2:
        return None
    key_id, _, secret = presented.removeprefix(prefix).partition("_")
    return key_id, secret


def _aad(key_id: str) -> bytes:
    return associated_data("district_credentials", "password", key_id)


def check_district(code: str) -> str:
    """`code` if it is one of the 13 districts' codes; a configuration error naming it otherwise."""
    if code not in load_reference().districts:
        raise ConfigurationError(f"{code!r} is not a district code (4201xx, one of the 13 districts)")
    return code


def issue(
    engine: Engine,
    keyring: KeyRing,
    district: str,
    *,
    kind: str = "api_key",
    scopes: tuple[str, ...] = SCOPES,
    now: datetime | None = None,
) -> Issued:
    """Issue a new credential for `district`; the returned secret is not stored in clear."""
    check_district(district)
    if kind not in KINDS:
        raise ConfigurationError(f"credential kind must be one of {', '.join(KINDS)}, not {kind!r}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ConfigurationError(f"scopes must be among {', '.join(SCOPES)}")
    key_id = (f"district-{district}-" if kind == "soap" else "") + secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = {
        "key_id": key_id,
        "district_code": district,
        "kind": kind,
        "scopes": list(scopes),
        "secret_hash": digest(secret) if kind == "api_key" else None,
        "seal_key_id": keyring.active if kind == "soap" else None,
        "sealed_secret": keyring.seal(secret.encode(), _aad(key_id)) if kind == "soap" else None,
        "created_at": now or datetime.now(UTC),
        "revoked_at": None,
    }
    prove_keyring(engine, keyring, now or datetime.now(UTC))
    with store_errors(), engine.begin() as conn:
        conn.execute(insert(DistrictCredential), [row])
    return Issued(key_id, district, kind, tuple(scopes), secret)


def _live(engine: Engine, key_id: str, kind: str) -> Row[Any] | None:
    """The unrevoked credential of that id and kind, if any."""
    with store_errors(), engine.connect() as conn:
        return conn.execute(
            select(*DistrictCredential.__table__.columns).where(
                DistrictCredential.key_id == key_id,
                DistrictCredential.kind == kind,
                DistrictCredential.revoked_at.is_(None),
            )
        ).one_or_none()


def verify_api_key(engine: Engine, presented: str) -> Caller | None:
    """The caller an API key belongs to, or None for a malformed, unknown or revoked key."""
    split = split_key(presented, PREFIX)
    if split is None:
        return None
    key_id, secret = split
    row = _live(engine, key_id, "api_key")
    if row is None or row.secret_hash is None:
        return None
    if not hmac.compare_digest(row.secret_hash, digest(secret)):
        return None
    return Caller(row.key_id, row.district_code, tuple(row.scopes))


def soap_password(engine: Engine, keyring: KeyRing, username: str) -> tuple[str, str] | None:
    """(district code, password) of a live SOAP credential, or None for an unknown username."""
    row = _live(engine, username, "soap")
    if row is None or row.sealed_secret is None or row.seal_key_id is None:
        return None
    password = keyring.open(row.seal_key_id, row.sealed_secret, _aad(row.key_id)).decode()
    return row.district_code, password


def listing(engine: Engine, *, district: str | None = None) -> list[dict[str, Any]]:
    """Every credential (of `district`), oldest first: ids, scopes and dates, never a secret."""
    query = select(
        DistrictCredential.key_id,
        DistrictCredential.district_code,
        DistrictCredential.kind,
        DistrictCredential.scopes,
        DistrictCredential.created_at,
        DistrictCredential.revoked_at,
    ).order_by(DistrictCredential.created_at, DistrictCredential.key_id)
    if district is not None:
        query = query.where(DistrictCredential.district_code == check_district(district))
    with store_errors(), engine.connect() as conn:
        return [
            {
                "key_id": row.key_id,
                "district": row.district_code,
                "kind": row.kind,
                "scopes": list(row.scopes),
                "created_at": row.created_at,
                "revoked_at": row.revoked_at,
            }
            for row in conn.execute(query)
        ]


def revoke_all(
    engine: Engine, district: str, *, kind: str | None = None, now: datetime | None = None
) -> list[str]:
    """Revoke every live credential of `district` (of `kind`) at once; the key ids revoked."""
    check_district(district)
    if kind is not None and kind not in KINDS:
        raise ConfigurationError(f"credential kind must be one of {', '.join(KINDS)}, not {kind!r}")
    live = [DistrictCredential.district_code == district, DistrictCredential.revoked_at.is_(None)]
    if kind is not None:
        live.append(DistrictCredential.kind == kind)
    with store_errors(), engine.begin() as conn:
        return sorted(
            conn.execute(
                update(DistrictCredential)
                .where(*live)
                .values(revoked_at=now or datetime.now(UTC))
                .returning(DistrictCredential.key_id)
            ).scalars()
        )


def revoke(engine: Engine, key_id: str, *, now: datetime | None = None) -> bool:
    """Revoke a credential at once; True when there was a live one of that id."""
    with store_errors(), engine.begin() as conn:
        result = conn.execute(
            update(DistrictCredential)
            .where(DistrictCredential.key_id == key_id, DistrictCredential.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return bool(result.rowcount)

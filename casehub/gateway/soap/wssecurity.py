"""WS-Security UsernameToken with PasswordDigest, as the hub checks the callers of its SOAP services.

OASIS UsernameToken Profile 1.0 §3.1: digest = Base64(SHA-1(nonce bytes + Created + password)).
A token is refused when it is missing or not a digest, when its `Created` is more than the
window (300 s) behind or ahead of the hub's clock, when its user is unknown or its digest wrong,
and when its nonce was seen before. The nonce cache is the store's `soap_nonces` table, so every
gateway process shares it: a nonce is inserted once per user, and a row already there means a
replay. Only a token whose digest is right gets that far, so a stranger cannot fill the table.
Rows older than twice the window can no longer pass the time check and are purged now and then.

Every refusal is a `wsse:FailedAuthentication` fault whose message names what failed, never the
password or the digest sent; an unknown user and a wrong digest are refused in the same words
(`BAD_CREDENTIAL`), so a caller cannot tell whether a username exists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree
from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from casehub.gateway.soap.envelope import FAILED_AUTHENTICATION, WSSE, WSU, SoapFault, fault
from casehub.store.db import store_errors
from casehub.store.models import SoapNonce

_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = f"{_PROFILE}#PasswordDigest"  # the Type attribute of wsse:Password
WINDOW = timedelta(seconds=300)
MAX_USERNAME = 64  # soap_nonces.username
MAX_NONCE = 128  # soap_nonces.nonce, the Base64 text as sent
BAD_CREDENTIAL = "unknown user or wrong password digest"

Passwords = Callable[[str], tuple[str, str] | None]
"""username → (district code, password), or None for an unknown user."""


@dataclass(frozen=True)
class Credential:
    """Who a verified token speaks for: its username and the district the credential belongs to."""

    username: str
    district_code: str


def digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)); SHA-1 because the profile defines it so."""
    hashed = hashlib.sha1(nonce + created.encode() + password.encode())  # noqa: S324
    return base64.b64encode(hashed.digest()).decode("ascii")


def refused(reason: str) -> SoapFault:
    """A `wsse:FailedAuthentication` fault saying why."""
    return fault(FAILED_AUTHENTICATION, "failed_authentication", f"authentication failed: {reason}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class UsernameTokenVerifier:
    """Checks the wsse:Security header of a request against `passwords`, with nonces in `engine`.

    Cheap to build: the purge schedule is kept per engine, so verifiers made per request, in
    any number of processes, share one cache and purge it now and then.
    """

    def __init__(
        self,
        engine: Engine,
        passwords: Passwords,
        *,
        window: timedelta = WINDOW,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._passwords = passwords
        self._window = window
        self._clock = clock

    def verify(self, header: etree._Element | None) -> Credential:
        """The credential the token proves; a `wsse:FailedAuthentication` SoapFault if it proves none.

        Raises `StoreError` (its text dropped) when the nonce cache cannot be written.
        """
        token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise refused("no wsse:Security/wsse:UsernameToken in the SOAP header")
        username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
        password = token.find(f"{{{WSSE}}}Password")
        nonce_text = (token.findtext(f"{{{WSSE}}}Nonce") or "").strip()
        created_text = (token.findtext(f"{{{WSU}}}Created") or "").strip()
        if not username:
            raise refused("wsse:Username is missing")
        if password is None or password.get("Type") != PASSWORD_DIGEST:
            raise refused("a wsse:Password of Type PasswordDigest is required")
        if not nonce_text or not created_text:
            raise refused("wsse:Nonce and wsu:Created are required with a PasswordDigest")
        nonce = _nonce(nonce_text)
        now = self._clock()
        created = _created(created_text)
        if created < now - self._window:
            raise refused(f"wsu:Created is stale: more than {self._seconds} s before the hub's clock")
        if created > now + self._window:
            raise refused(f"wsu:Created is in the future: more than {self._seconds} s after the hub's clock")
        found = self._passwords(username) if len(username) <= MAX_USERNAME else None
        if found is None:
            raise refused(BAD_CREDENTIAL)
        district_code, secret = found
        if not hmac.compare_digest(digest(nonce, created_text, secret), (password.text or "").strip()):
            raise refused(BAD_CREDENTIAL)
        if not self._remember(username, nonce_text, created, now):
            raise refused("wsse:Nonce has been used before (a replayed request)")
        return Credential(username, district_code)

    @property
    def _seconds(self) -> int:
        return int(self._window.total_seconds())

    def _remember(self, username: str, nonce: str, created: datetime, now: datetime) -> bool:
        """Record the nonce; False when this user sent it before, in this process or another."""
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(SoapNonce)
            .values(username=username, nonce=nonce, created_at=created)
            .on_conflict_do_nothing(index_elements=["username", "nonce"])
            .returning(SoapNonce.username)
        )
        with store_errors(), self._engine.begin() as conn:
            new = conn.execute(statement).scalar_one_or_none() is not None
        if new and _purge_due(self._engine, now, self._window):
            with store_errors(), self._engine.begin() as conn:
                conn.execute(delete(SoapNonce).where(SoapNonce.created_at < now - 2 * self._window))
        return new


_purged: weakref.WeakKeyDictionary[Engine, datetime] = weakref.WeakKeyDictionary()
_purging = threading.Lock()


def _purge_due(engine: Engine, now: datetime, window: timedelta) -> bool:
    """Whether this process should purge `engine`'s cache now: once a window at most."""
    with _purging:
        last = _purged.get(engine)
        if last is not None and now - last < window:
            return False
        _purged[engine] = now
        return True


def _nonce(text: str) -> bytes:
    if len(text) > MAX_NONCE:
        raise refused(f"wsse:Nonce is longer than {MAX_NONCE} characters")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise refused("wsse:Nonce is not Base64") from None


def _created(text: str) -> datetime:
    """wsu:Created as an aware time; one written without an offset is UTC (WSS 1.0 §10)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise refused("wsu:Created is not an ISO 8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

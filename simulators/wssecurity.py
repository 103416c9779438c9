"""WS-Security UsernameToken with PasswordDigest, checked the way the hotline checks it.

OASIS UsernameToken Profile 1.0: digest = Base64(SHA-1(nonce bytes + Created + password)). The
hotline refuses a token whose Created is more than 300 s from its clock, a nonce it has already
seen, or a digest that does not match, all with the faultcode `wsse:FailedAuthentication`. Seen
nonces are kept in a bounded cache for as long as their Created time can still pass the window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from lxml import etree

from simulators.soap import WSSE, WSU, SoapFault

_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
DIGEST_TYPE = f"{_PROFILE}#PasswordDigest"  # the Type attribute of wsse:Password


def digest(nonce: bytes, created: str, password: str) -> str:
    """Base64(SHA-1(nonce + created + password)); SHA-1 because the profile defines it so."""
    hashed = hashlib.sha1(nonce + created.encode() + password.encode())  # noqa: S324
    return base64.b64encode(hashed.digest()).decode()


def _refuse(reason: str) -> SoapFault:
    return SoapFault("wsse:FailedAuthentication", f"authentication failed: {reason}",
                     "FailedAuthentication")


class UsernameTokenVerifier:
    """Checks one request's wsse:Security header against one username and password."""

    def __init__(self, username: str, password: str, *, window_seconds: int = 300,
                 cache_size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._username = username
        self._password = password
        self._window = window_seconds
        self._cache_size = cache_size
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # nonce -> when it may be forgotten

    def verify(self, header: etree._Element | None) -> None:
        """Return if the token is good; raise a `wsse:FailedAuthentication` SoapFault if not."""
        token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise _refuse("no wsse:Security/wsse:UsernameToken in the SOAP header")
        username = token.findtext(f"{{{WSSE}}}Username")
        password = token.find(f"{{{WSSE}}}Password")
        nonce_text = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if password is None or password.get("Type") != DIGEST_TYPE:
            raise _refuse("a wsse:Password of Type PasswordDigest is required")
        if not nonce_text or not created:
            raise _refuse("wsse:Nonce and wsu:Created are required with a PasswordDigest")
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
        except binascii.Error:
            raise _refuse("wsse:Nonce is not Base64") from None
        now = self._clock()
        created_at = _parse_created(created.strip())
        if abs(now - created_at) > self._window:
            raise _refuse(f"wsu:Created is more than {self._window} s from the server clock")
        expected = digest(nonce, created.strip(), self._password)
        if (username or "").strip() != self._username or not hmac.compare_digest(
            expected, (password.text or "").strip()
        ):
            raise _refuse("unknown username or wrong password digest")
        self._remember(nonce, now)

    def _remember(self, nonce: bytes, now: float) -> None:
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if nonce in self._seen:
            raise _refuse("wsse:Nonce has already been used")
        self._seen[nonce] = now + 2 * self._window
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)

    def forget(self) -> None:
        """Drop every seen nonce, as a restarted partner would."""
        self._seen.clear()


def _parse_created(text: str) -> float:
    """wsu:Created as epoch seconds; a time without an offset is taken as UTC, per WSS."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _refuse(f"wsu:Created is not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()

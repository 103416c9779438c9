"""Standard Webhooks (https://www.standardwebhooks.com) verification, refusing with a precise problem.

A delivery carries `webhook-id`, `webhook-timestamp` (integer seconds since the epoch) and
`webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>`. One
matching signature is enough, and so is one of the partner's secrets, so sender and hub can
each rotate: the sender signs with old and new secret at once, the hub holds both for a while.

The pinned `standardwebhooks` library computes the signature. Its `verify` is not used as a
whole because it fixes the timestamp tolerance at five minutes and reads the clock itself, and
it reports every refusal the same way; here the tolerance is the manifest's and each header's
fault is its own problem type. Nothing here reads a request: the functions take header values
and the body, so they are tested without a server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from standardwebhooks import Webhook

from casehub.errors import ConfigurationError
from casehub.gateway.problems import Problem

ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
HEADERS = (ID, TIMESTAMP, SIGNATURE)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
MAX_ID_LENGTH = 128
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")
_SECONDS = re.compile(r"[0-9]{1,11}")


@dataclass(frozen=True)
class Signed:
    """The three headers of a delivery, parsed; `signatures` are the decoded v1 signatures."""

    webhook_id: str
    timestamp: datetime
    signatures: tuple[bytes, ...]


def _malformed(header: str, why: str) -> Problem:
    return Problem(400, "malformed-header", "Malformed header", f"{header}: {why}", header=header)


def parse_headers(headers: Mapping[str, str]) -> Signed:
    """The Standard Webhooks headers, or a 400 problem naming the missing or malformed one."""
    for name in HEADERS:
        if not headers.get(name):
            detail = f"the {name} header is missing"
            raise Problem(400, "missing-header", "Missing header", detail, header=name)
    webhook_id = headers[ID]
    if not _ID.fullmatch(webhook_id):
        raise _malformed(ID, f"1 to {MAX_ID_LENGTH} printable ASCII characters without spaces expected")
    seconds = headers[TIMESTAMP].strip()
    if not _SECONDS.fullmatch(seconds):
        raise _malformed(TIMESTAMP, "integer seconds since the Unix epoch expected")
    try:
        timestamp = datetime.fromtimestamp(int(seconds), UTC)
    except (OverflowError, OSError, ValueError):
        raise _malformed(TIMESTAMP, "not a representable time") from None
    signatures = []
    for entry in headers[SIGNATURE].split():
        version, comma, value = entry.partition(",")
        if version != "v1" or not comma:
            continue  # another scheme (v1a, asymmetric) or noise: the spec says to skip it
        try:
            signatures.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not signatures:
        raise _malformed(SIGNATURE, "no v1,<base64> signature in it")
    return Signed(webhook_id, timestamp, tuple(signatures))


def check_timestamp(signed: Signed, now: datetime, tolerance: timedelta) -> None:
    """Refuse (401) a delivery signed longer than `tolerance` before or after `now`.

    The timestamp is signed, so an old one means a replayed request and a future one a sender
    whose clock is off; neither is authenticated as fresh, hence 401 rather than 400.
    """
    if signed.timestamp < now - tolerance:
        raise Problem(
            401, "stale-timestamp", "Stale timestamp",
            f"{TIMESTAMP} is more than {tolerance.total_seconds():.0f} s in the past", header=TIMESTAMP,
        )
    if signed.timestamp > now + tolerance:
        raise Problem(
            401, "future-timestamp", "Timestamp in the future",
            f"{TIMESTAMP} is more than {tolerance.total_seconds():.0f} s ahead of the hub's clock",
            header=TIMESTAMP,
        )


def verify(signed: Signed, text: str, verifiers: tuple[Webhook, ...]) -> None:
    """Pass if any secret's signature of `<id>.<timestamp>.<text>` is among the sent ones; else 401."""
    for webhook in verifiers:
        expected = base64.b64decode(webhook.sign(signed.webhook_id, signed.timestamp, text).partition(",")[2])
        if any(hmac.compare_digest(expected, given) for given in signed.signatures):
            return
    raise Problem(
        401, "bad-signature", "Bad signature",
        f"no signature in {SIGNATURE} matches the body under this partner's secrets", header=SIGNATURE,
    )


@lru_cache(maxsize=32)
def verifiers(value: str, variable: str) -> tuple[Webhook, ...]:
    """The secrets held in an environment variable's `value`: space-separated `whsec_<base64>`.

    Raises `ConfigurationError` naming the variable and the secret's position, never its text,
    when the value holds none or one is malformed: a typo during a rotation should be loud, not
    silently leave only the old secret in force.
    """
    secrets = value.split()
    if not secrets:
        raise ConfigurationError(f"{variable} holds no webhook secret")
    found = []
    for position, secret in enumerate(secrets, start=1):
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not secret.startswith(SECRET_PREFIX) or not raw:
            raise ConfigurationError(f"{variable}: secret #{position} is not whsec_<base64>")
        found.append(Webhook(secret))
    return tuple(found)

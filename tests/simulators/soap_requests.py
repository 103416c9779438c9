"""Raw SOAP 1.1 requests signed as the hub signs them, for payloads zeep would not send."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"


def signed_envelope(body: str, *, prefix: str, namespace: str, password: str) -> bytes:
    """`body` in an envelope declaring `prefix` for the partner's `namespace`, with a fresh
    UsernameToken (PasswordDigest over a new nonce and the time now)."""
    nonce = os.urandom(16)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest())
    return f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:{prefix}="{namespace}"
  xmlns:wsse="{WSSE}"
  xmlns:wsu="{WSU}">
<soap:Header><wsse:Security><wsse:UsernameToken>
<wsse:Username>casehub</wsse:Username>
<wsse:Password Type="{DIGEST}">{digest.decode()}</wsse:Password>
<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>
</wsse:UsernameToken></wsse:Security></soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>""".encode()

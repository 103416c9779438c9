"""Wrong or missing credentials on every surface the gateway guards itself, over real HTTP: a
refusal (401/403, a SOAP Fault) that carries nothing of the store — no record value, no case id,
no count — and no hint which part was wrong beyond what the protocol says.

The store holds a case whose reporter, number, ID and address are the markers of
`tests/markers.py`, dispatched to its district, so a refusal that showed anything of it would
be found. What each protocol distinguishes is kept: RFC 6750 tells a missing bearer from an
invalid one (`error="invalid_token"`) and names a missing scope; Standard Webhooks' headers and
timestamp window are named; WS-Security refuses a stale token as stale. Nothing else is.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, func, select

from casehub import credentials
from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.gateway.soap.wssecurity import PASSWORD_DIGEST, digest
from casehub.pipeline import Pipeline
from casehub.store.models import InboundWebhook, OutboxEvent
from connectors.hotline import MAPPER
from tests.markers import leaked, marked_order
from tests.threaded import serving
from tests.unit.casehub.gateway.deliveries import (
    PATH as WEBHOOKS,
)
from tests.unit.casehub.gateway.deliveries import (
    SECRET_ENV,
    body_of,
    new_secret,
    partners,
    report,
    signed,
)

TOKEN = "refusals-gateway-token"
DISTRICT, OTHER = "420102", "420106"
NAMESPACE = "urn:casehub:district:v1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"


@dataclass
class Hub:
    url: str
    engine: Engine
    keyring: KeyRing
    case_id: str
    event_id: str
    key: credentials.Issued
    reader: credentials.Issued
    other: credentials.Issued
    soap: credentials.Issued
    secret: str
    http: requests.Session

    def refusal(self, response: requests.Response, status: int) -> str:
        """The refusal's body, checked to hold nothing of the store."""
        assert response.status_code == status, response.text
        text = response.text
        assert not leaked(text), text
        assert self.case_id not in text and self.event_id not in text
        for secret in (TOKEN, self.key.secret, self.soap.secret, self.secret):
            assert secret not in text
        return text


@pytest.fixture
def hub(
    sqlite_engine: Engine, keyring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Hub]:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    assert Pipeline(sqlite_engine, MAPPER, keyring).ingest([marked_order()]).accepted == 1
    with sqlite_engine.connect() as conn:
        case_id, event_id = conn.execute(
            select(OutboxEvent.case_id, OutboxEvent.event_id).where(OutboxEvent.target == DISTRICT)
        ).one()
    key = credentials.issue(sqlite_engine, keyring, DISTRICT)
    reader = credentials.issue(sqlite_engine, keyring, DISTRICT, scopes=("dispatches:read",))
    other = credentials.issue(sqlite_engine, keyring, OTHER)
    soap = credentials.issue(sqlite_engine, keyring, DISTRICT, kind="soap")
    app = create_app(sqlite_engine, token=TOKEN, partners=partners(tmp_path))
    with serving(app) as url, requests.Session() as http:
        yield Hub(url, sqlite_engine, keyring, case_id, event_id, key, reader, other, soap, secret, http)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_the_read_routes_refuse_every_wrong_credential_in_the_same_words(hub: Hub) -> None:
    wrong = [
        {},
        bearer("wrong-token"),
        bearer(TOKEN[:-1]),
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        bearer(hub.key.api_key),
    ]
    paths = ["/stats", "/quarantine", f"/cases/{hub.case_id}", f"/cases/{uuid.uuid4()}"]
    bodies = set()
    for path in paths:
        for headers in wrong:
            response = hub.http.get(hub.url + path, headers=headers, timeout=10)
            bodies.add(hub.refusal(response, 401))
            assert response.headers["www-authenticate"] == 'Bearer realm="casehub"'
    assert len(bodies) == 1, "a refusal that differs tells the caller something"
    assert (
        hub.http.get(f"{hub.url}/cases/{hub.case_id}", headers=bearer(TOKEN), timeout=10).status_code == 200
    )


def test_a_district_key_is_refused_alike_whether_the_case_or_event_exists(hub: Hub) -> None:
    """An unknown, revoked or malformed key is RFC 6750's invalid_token; another district's key
    or one without the scope is 403. None of them learns whether a case or event is there."""
    revoked = credentials.issue(hub.engine, hub.keyring, DISTRICT)
    assert credentials.revoke(hub.engine, revoked.key_id)
    invalid = [
        bearer(f"cdk_{uuid.uuid4().hex[:12]}_{uuid.uuid4().hex}"),
        bearer(revoked.api_key),
        bearer(hub.key.api_key[:-2]),
        bearer("not-a-key"),
    ]

    def calls(case_id: str, event_id: str, district: str = DISTRICT) -> list[tuple[str, str]]:
        base = f"{hub.url}/districts/{district}"
        return [
            ("GET", f"{base}/dispatches"),
            ("POST", f"{base}/dispatches/{event_id}/receipt"),
            ("POST", f"{base}/cases/{case_id}/accept"),
        ]

    real = calls(hub.case_id, hub.event_id)
    made_up = calls(str(uuid.uuid5(uuid.NAMESPACE_URL, "no-case")), str(uuid.uuid4()))
    body = {"operation_id": "refused-1", "at": datetime.now(UTC).isoformat()}

    def send(method: str, url: str, headers: dict[str, str]) -> requests.Response:
        return hub.http.request(
            method, url, headers=headers, json=body if method == "POST" else None, timeout=10
        )

    seen: dict[str, set[str]] = {"missing": set(), "invalid": set(), "other district": set(), "scope": set()}
    for (method, url), (_, fake) in zip(real, made_up, strict=True):
        for target in (url, fake):
            missing = send(method, target, {})
            seen["missing"].add(hub.refusal(missing, 401))
            assert missing.headers["www-authenticate"] == 'Bearer realm="casehub-districts"'
            for headers in invalid:
                refused = send(method, target, headers)
                seen["invalid"].add(hub.refusal(refused, 401))
                assert 'error="invalid_token"' in refused.headers["www-authenticate"]
            seen["other district"].add(hub.refusal(send(method, target, bearer(hub.other.api_key)), 403))
    for fake_or_real in (real[2][1], made_up[2][1]):
        seen["scope"].add(hub.refusal(send("POST", fake_or_real, bearer(hub.reader.api_key)), 403))
    assert {name: len(bodies) for name, bodies in seen.items()} == dict.fromkeys(seen, 1)
    assert "cases:write" in next(iter(seen["scope"]))
    listed = send("GET", real[0][1], bearer(hub.key.api_key))
    assert listed.status_code == 200 and listed.json()["dispatches"][0]["case_id"] == hub.case_id


def test_a_webhook_that_does_not_prove_itself_is_refused_and_nothing_of_it_kept(hub: Hub) -> None:
    body = body_of(
        report(reporterName="闵秘乙", reporterPhone="13987650123", address="江岸区解放大道8765号秘密楼")
    )
    url = hub.url + WEBHOOKS
    stale = datetime.now(UTC) - timedelta(hours=1)
    good = signed(body, hub.secret)
    attempts = {
        "wrong secret": (body, signed(body, new_secret())),
        "body changed": (body.replace(b"8765", b"8766"), good),
        "signature cut": (body, {**good, "webhook-signature": good["webhook-signature"][:-4]}),
        "no signature": (body, {k: v for k, v in good.items() if k != "webhook-signature"}),
        "stale": (body, signed(body, hub.secret, timestamp=stale)),
    }
    for name, (sent, headers) in attempts.items():
        text = hub.refusal(
            hub.http.post(url, data=sent, headers=headers, timeout=10), 400 if name == "no signature" else 401
        )
        assert good["webhook-signature"] not in text, name
    with hub.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(InboundWebhook)) == 0


def _envelope(
    username: str, password: str, *, created: datetime | None = None, nonce: bytes | None = None
) -> bytes:
    nonce = nonce or os.urandom(16)
    stamp = (created or datetime.now(UTC)).replace(microsecond=0).isoformat()
    return (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:d="{NAMESPACE}" '
        f'xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><soap:Header><wsse:Security><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest(nonce, stamp, password)}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{stamp}</wsu:Created>"
        f"</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>"
        f"<d:GetDispatches><d:DistrictCode>{DISTRICT}</d:DistrictCode></d:GetDispatches>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def test_a_soap_caller_with_a_wrong_token_gets_a_fault_that_does_not_say_which_part(hub: Hub) -> None:
    url = f"{hub.url}/soap/district"
    headers = {"Content-Type": "text/xml; charset=utf-8"}

    def call(envelope: bytes) -> str:
        return hub.refusal(hub.http.post(url, data=envelope, headers=headers, timeout=10), 500)

    wrong_password = call(_envelope(hub.soap.key_id, "guessed"))
    unknown_user = call(_envelope(f"district-{DISTRICT}-{uuid.uuid4().hex[:12]}", hub.soap.secret))
    assert "wsse:FailedAuthentication" in wrong_password
    assert unknown_user == wrong_password, "a caller must not learn whether the username exists"
    assert "stale" in call(
        _envelope(hub.soap.key_id, hub.soap.secret, created=datetime.now(UTC) - timedelta(hours=1))
    )
    unsigned = (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:d="{NAMESPACE}">'
        f"<soap:Body><d:GetDispatches><d:DistrictCode>{DISTRICT}</d:DistrictCode></d:GetDispatches>"
        "</soap:Body></soap:Envelope>"
    ).encode()
    assert "wsse:FailedAuthentication" in call(unsigned)
    other = credentials.issue(
        hub.engine, KeyRing.from_json(os.environ["CASEHUB_KEYRING"]), OTHER, kind="soap"
    )
    assert "wsse:FailedAuthentication" in call(_envelope(other.key_id, other.secret))
    nonce = os.urandom(16)
    answered = hub.http.post(
        url, data=_envelope(hub.soap.key_id, hub.soap.secret, nonce=nonce), headers=headers, timeout=10
    )
    assert answered.status_code == 200 and hub.case_id in answered.text
    assert "replayed" in call(_envelope(hub.soap.key_id, hub.soap.secret, nonce=nonce))


def test_the_pages_show_nothing_outside_a_host_login(hub: Hub) -> None:
    for path in ("stats", "quality", "quarantine", "quarantine?reason=invalid_phone", "data-docs/"):
        for headers in ({}, bearer(TOKEN), {"Accept": "text/html"}, {"Cookie": "_token=forged"}):
            hub.refusal(hub.http.get(f"{hub.url}/pages/{path}", headers=headers, timeout=10), 403)
    hub.refusal(
        hub.http.post(
            f"{hub.url}/pages/quarantine/replay", json={"all": True}, headers=bearer(TOKEN), timeout=10
        ),
        403,
    )

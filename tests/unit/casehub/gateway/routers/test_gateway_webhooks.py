"""Webhook intake in-process: the envelope's every field named when wrong, the media type, the
order of the checks, and configuration that cannot be served (404, 503). Nothing refused is
written, and nothing a sender put in the body comes back. Over real HTTP on both backends:
tests/integration/test_webhook_intake.py."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from starlette.exceptions import StarletteDeprecationWarning

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.partners import Partner, load_partners
from casehub.store.models import InboundWebhook
from tests.unit.casehub.gateway.deliveries import (
    MANIFEST,
    MAX_BODY_BYTES,
    PATH,
    SECRET_ENV,
    body_of,
    new_secret,
    partners,
    report,
    signed,
)

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SECRET = new_secret()
FORGED = "v1,AAAA"
PHONE = "13800138000"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, keyring: KeyRing) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)


@pytest.fixture
def app_partners(tmp_path: Path) -> tuple[Partner, ...]:
    return partners(tmp_path)


@pytest.fixture
def client(sqlite_engine: Engine, app_partners: tuple[Partner, ...]) -> TestClient:
    return TestClient(create_app(sqlite_engine, partners=app_partners), raise_server_exceptions=False)


def landed(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(InboundWebhook)).scalar_one()


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:casehub:problem:{slug}"
    assert body["status"] == status
    assert PHONE not in response.text
    return body


def deliver(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(PATH, content=body, headers=headers if headers is not None else signed(body, SECRET))


def test_a_signed_report_is_accepted_and_landed(client: TestClient, sqlite_engine: Engine) -> None:
    headers = signed(body_of(report()), SECRET)
    response = deliver(client, body_of(report()), headers)
    assert response.status_code == 202
    assert response.json() == {"webhook_id": headers["webhook-id"], "status": "accepted"}
    assert landed(sqlite_engine) == 1


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    event = json.loads(json.dumps(event))
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


def _with(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    event = json.loads(json.dumps(event))
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


ENVELOPES: dict[str, tuple[Any, str]] = {
    "an array": ([report()], "body"),
    "a string": ("report", "body"),
    "no type": (_without(report(), "type"), "type"),
    "an unknown type": (_with(report(), "report.deleted", "type"), "type"),
    "no timestamp": (_without(report(), "timestamp"), "timestamp"),
    "a timestamp without offset": (_with(report(), "2026-12-01T08:00:00", "timestamp"), "timestamp"),
    "a date for a timestamp": (_with(report(), "2026-12-01", "timestamp"), "timestamp"),
    "a number for a timestamp": (_with(report(), 1764547200, "timestamp"), "timestamp"),
    "no data": (_without(report(), "data"), "data"),
    "a list for data": (_with(report(), [], "data"), "data"),
    "no reportId": (_without(report(), "data", "reportId"), "data.reportId"),
    "a number for reportId": (_with(report(), 1, "data", "reportId"), "data.reportId"),
    "an empty reportId": (_with(report(), "", "data", "reportId"), "data.reportId"),
    "no updatedAt": (_without(report(), "data", "updatedAt"), "data.updatedAt"),
    "a null updatedAt": (_with(report(), None, "data", "updatedAt"), "data.updatedAt"),
}


@pytest.mark.parametrize("case", ENVELOPES)
def test_a_wrong_envelope_is_a_422_naming_the_field(
    client: TestClient, sqlite_engine: Engine, case: str
) -> None:
    event, field = ENVELOPES[case]
    body = problem(deliver(client, json.dumps(event, ensure_ascii=False).encode()), 422, "invalid-envelope")
    assert body["field"] == field
    assert body["detail"].startswith(f"{field}:")
    assert landed(sqlite_engine) == 0


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"type": NaN}', b"\xef\xbb\xbf{}", "{\"data\": \"张明\"".encode()], ids=repr
)
def test_a_body_that_is_not_json_is_a_422(client: TestClient, sqlite_engine: Engine, raw: bytes) -> None:
    body = problem(deliver(client, raw), 422, "invalid-json")
    assert body["field"] == "body"
    assert landed(sqlite_engine) == 0


def test_a_body_that_is_not_utf8_is_a_422_without_its_signature_checked(client: TestClient) -> None:
    headers = signed(b"{}", SECRET)
    body = problem(deliver(client, "{\"data\": \"张明\"}".encode("gb18030"), headers), 422, "invalid-json")
    assert "UTF-8" in body["detail"]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=gbk"]
)
def test_anything_but_json_is_a_415(
    client: TestClient, sqlite_engine: Engine, content_type: str | None
) -> None:
    body_bytes = body_of(report())
    headers = signed(body_bytes, SECRET)
    del headers["content-type"]
    if content_type is not None:
        headers["content-type"] = content_type
    refused = problem(deliver(client, body_bytes, headers), 415, "unsupported-media-type")
    assert refused["header"] == "content-type"
    assert landed(sqlite_engine) == 0


def test_json_with_an_explicit_utf8_charset_is_accepted(client: TestClient) -> None:
    body_bytes = body_of(report())
    headers = {**signed(body_bytes, SECRET), "content-type": "Application/JSON; charset=\"UTF-8\""}
    assert deliver(client, body_bytes, headers).status_code == 202


def test_a_body_sent_in_chunks_is_cut_off_at_the_limit(client: TestClient, sqlite_engine: Engine) -> None:
    big = body_of(report(title="路" * MAX_BODY_BYTES))
    headers = signed(big, SECRET)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 512):
            yield big[start : start + 512]

    response = client.post(PATH, content=chunks(), headers=headers)
    assert problem(response, 413, "body-too-large")["field"] == "body"
    assert landed(sqlite_engine) == 0


ORDER = {
    # what is wrong → what the sender is told first
    "media type, headers": ({"content-type": "text/plain", "webhook-id": ""}, b"", "unsupported-media-type"),
    "size, signature": ({"webhook-signature": FORGED}, b"x" * (MAX_BODY_BYTES + 1), "body-too-large"),
    "headers, body": ({"webhook-timestamp": "soon"}, b"not json", "malformed-header"),
    "timestamp, signature": ({"webhook-timestamp": "1", "webhook-signature": FORGED}, b"", "stale-timestamp"),
    "signature, body": ({"webhook-signature": FORGED}, b"not json", "bad-signature"),
}


@pytest.mark.parametrize("case", ORDER)
def test_the_cheapest_check_answers_first(client: TestClient, case: str) -> None:
    changes, raw, slug = ORDER[case]
    headers = {**signed(b"{}", SECRET), **changes}
    assert deliver(client, raw, headers).json()["type"] == f"urn:casehub:problem:{slug}"


def test_stale_refusals_name_the_timestamp_header(client: TestClient) -> None:
    body_bytes = body_of(report())
    headers = {**signed(body_bytes, SECRET), "webhook-timestamp": "1000000000"}
    refused = problem(deliver(client, body_bytes, headers), 401, "stale-timestamp")
    assert refused["header"] == "webhook-timestamp"


def test_a_partner_that_does_not_push_is_unknown(client: TestClient) -> None:
    body_bytes = body_of(report())
    response = client.post("/webhooks/hotline", content=body_bytes, headers=signed(body_bytes, SECRET))
    assert "hotline" not in problem(response, 404, "unknown-partner")["detail"]


def test_only_post_is_served(client: TestClient) -> None:
    problem(client.get(PATH), 405, "http-405")


@pytest.mark.parametrize(
    "secret", ["", "not-a-secret", f"{SECRET} whsec_%%%"], ids=["unset", "malformed", "one bad"]
)
def test_without_a_usable_secret_nothing_is_accepted(
    client: TestClient, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(SECRET_ENV, secret)
    with caplog.at_level(logging.ERROR, logger="casehub.gateway"):
        body = problem(deliver(client, body_of(report())), 503, "not-configured")
    assert SECRET_ENV not in body["detail"], "the variable's name is for the operator's log"
    assert SECRET_ENV in caplog.text
    assert SECRET.removeprefix("whsec_") not in caplog.text
    assert landed(sqlite_engine) == 0


@pytest.mark.parametrize("ring", ["none", "malformed", "another store's"])
def test_without_a_usable_key_ring_nothing_is_accepted(
    sqlite_engine: Engine, app_partners: tuple[Partner, ...], monkeypatch: pytest.MonkeyPatch,
    keyring: KeyRing, ring: str,
) -> None:
    client = TestClient(create_app(sqlite_engine, partners=app_partners))
    assert deliver(client, body_of(report())).status_code == 202  # the store now knows `keyring`
    if ring == "none":
        monkeypatch.delenv("CASEHUB_KEYRING")
    elif ring == "malformed":
        monkeypatch.setenv("CASEHUB_KEYRING", "{")
    else:
        monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate(keyring.active).to_json())
    fresh = TestClient(create_app(sqlite_engine, partners=app_partners))
    problem(deliver(fresh, body_of(report("WL2"))), 503, "keyring-unavailable")
    assert landed(sqlite_engine) == 1


def test_a_store_that_cannot_take_the_row_is_a_503_to_retry(
    tmp_path: Path, app_partners: tuple[Partner, ...]
) -> None:
    unmigrated = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    client = TestClient(create_app(unmigrated, partners=app_partners))
    problem(deliver(client, body_of(report())), 503, "store-unreachable")


def test_a_manifest_path_outside_webhooks_is_not_served(sqlite_engine: Engine, tmp_path: Path) -> None:
    manifest = tmp_path / "elsewhere.toml"
    manifest.write_text(MANIFEST.replace('path = "/webhooks/', 'path = "/hooks/'), encoding="utf-8")
    client = TestClient(create_app(sqlite_engine, partners=load_partners(manifest)))
    problem(deliver(client, body_of(report())), 503, "not-configured")


def test_the_default_partners_come_from_the_manifest_on_first_use(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, app_partners: tuple[Partner, ...]
) -> None:
    calls: list[int] = []

    def pushing() -> tuple[Partner, ...]:
        calls.append(1)
        return app_partners

    monkeypatch.setattr("casehub.partners.pushing", pushing)
    client = TestClient(create_app(sqlite_engine))
    assert calls == []
    assert deliver(client, body_of(report())).status_code == 202
    assert deliver(client, body_of(report("WL2"))).status_code == 202
    assert calls == [1]


def test_refusals_are_logged_by_reason_without_the_body(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body_bytes = body_of(report())
    with caplog.at_level(logging.INFO, logger="casehub.gateway"):
        deliver(client, body_bytes, {**signed(body_bytes, SECRET), "webhook-signature": FORGED})
    assert "bad-signature" in caplog.text
    assert PHONE not in caplog.text

"""Webhook intake over real HTTP, on SQLite and PostgreSQL: the gateway under uvicorn on a loopback
port, deliveries signed as the community app signs them (Standard Webhooks). A 2xx means the
delivery is committed, sealed, in the inbox — even if the gateway is killed the next instant —
and every refusal leaves the inbox as it was."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select

from casehub import inbox
from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.store.models import InboundWebhook
from tests.served import ServedGateway, gateway_env
from tests.threaded import serving
from tests.unit.casehub.gateway.deliveries import (
    MAX_BODY_BYTES,
    PARTNER,
    PATH,
    SECRET_ENV,
    TOLERANCE_SECONDS,
    body_of,
    manifest,
    new_secret,
    partners,
    report,
    signed,
)

SECRET, OLD_SECRET = new_secret(), new_secret()
PHONE = "13800138000"
CASEHUB = Path(sys.executable).with_name("casehub")


@pytest.fixture
def gateway(
    engine: Engine, tmp_path: Path, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The gateway on `engine`, serving the community app; its base URL."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    with serving(create_app(engine, partners=partners(tmp_path))) as url:
        yield url


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def deliver(http: requests.Session, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return http.post(url + PATH, data=body, headers=headers, timeout=30)


def stored(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(InboundWebhook).order_by(InboundWebhook.id)).mappings()]


def assert_refused(response: requests.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:casehub:problem:{slug}"
    assert PHONE not in response.text and "张明" not in response.text
    return problem


def test_a_signed_delivery_lands_one_sealed_row_that_opens_back_to_the_body(
    gateway: str, session: requests.Session, engine: Engine, keyring: KeyRing
) -> None:
    body = body_of(report())
    headers = signed(body, SECRET)
    response = deliver(session, gateway, body, headers)
    assert response.status_code == 202
    assert response.json() == {"webhook_id": headers["webhook-id"], "status": "accepted"}
    [row] = stored(engine)
    assert (row["partner"], row["webhook_id"], row["event_type"], row["state"]) == (
        PARTNER,
        headers["webhook-id"],
        "report.created",
        "pending",
    )
    assert row["payload"] != body and PHONE.encode() not in row["payload"]
    assert "张明".encode() not in row["payload"]
    [entry] = inbox.pending(engine, keyring, PARTNER, limit=10)
    assert entry.body == body


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_a_400_naming_it(
    gateway: str, session: requests.Session, engine: Engine, header: str
) -> None:
    body = body_of(report())
    headers = signed(body, SECRET)
    del headers[header]
    problem = assert_refused(deliver(session, gateway, body, headers), 400, "missing-header")
    assert problem["header"] == header
    assert stored(engine) == []


def test_a_bad_signature_is_a_401(gateway: str, session: requests.Session, engine: Engine) -> None:
    body = body_of(report())
    assert_refused(deliver(session, gateway, body, signed(body, new_secret())), 401, "bad-signature")
    forged = signed(body, SECRET)
    assert_refused(deliver(session, gateway, body.replace(b"WL", b"XX"), forged), 401, "bad-signature")
    assert stored(engine) == []


def test_one_valid_signature_of_two_is_enough(
    gateway: str, session: requests.Session, engine: Engine
) -> None:
    body = body_of(report())
    headers = signed(body, new_secret(), SECRET)
    assert len(headers["webhook-signature"].split()) == 2
    assert deliver(session, gateway, body, headers).status_code == 202
    assert len(stored(engine)) == 1


def test_during_a_rotation_either_secret_is_accepted(
    gateway: str, session: requests.Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, f"{OLD_SECRET} {SECRET}")
    old, new = body_of(report("WL1")), body_of(report("WL2"))
    assert deliver(session, gateway, old, signed(old, OLD_SECRET)).status_code == 202
    assert deliver(session, gateway, new, signed(new, SECRET)).status_code == 202
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the rotation is over: the old secret is refused
    late = body_of(report("WL3"))
    assert_refused(deliver(session, gateway, late, signed(late, OLD_SECRET)), 401, "bad-signature")
    assert len(stored(engine)) == 2


@pytest.mark.parametrize(("seconds", "slug"), [(-1, "stale-timestamp"), (1, "future-timestamp")])
def test_a_timestamp_outside_the_tolerance_is_a_401(
    gateway: str, session: requests.Session, engine: Engine, seconds: int, slug: str
) -> None:
    body = body_of(report())
    skew = timedelta(seconds=seconds * (TOLERANCE_SECONDS + 60))
    headers = signed(body, SECRET, timestamp=datetime.now(UTC) + skew)
    problem = assert_refused(deliver(session, gateway, body, headers), 401, slug)
    assert problem["header"] == "webhook-timestamp"
    assert stored(engine) == []


def test_a_replayed_delivery_is_a_duplicate_and_lands_once(
    gateway: str, session: requests.Session, engine: Engine, keyring: KeyRing
) -> None:
    body = body_of(report())
    first = signed(body, SECRET)
    assert deliver(session, gateway, body, first).status_code == 202
    # The sender's retry: same id and body, a new timestamp and signature.
    later = datetime.now(UTC) + timedelta(seconds=5)
    retry = signed(body, SECRET, webhook_id=first["webhook-id"], timestamp=later)
    again = deliver(session, gateway, body, retry)
    assert again.status_code == 200
    assert again.json() == {"webhook_id": first["webhook-id"], "status": "duplicate"}
    [entry] = inbox.pending(engine, keyring, PARTNER, limit=10)
    with engine.begin() as conn:
        inbox.mark_processed(conn, [entry.id], "batch-1", datetime.now(UTC))
    assert deliver(session, gateway, body, first).json()["status"] == "duplicate", "also once processed"
    assert len(stored(engine)) == 1


def test_concurrent_retries_land_one_row(gateway: str, session: requests.Session, engine: Engine) -> None:
    warm_up = body_of(report("warm-up"))  # the first write registers the ring's fingerprints
    assert deliver(session, gateway, warm_up, signed(warm_up, SECRET)).status_code == 202
    body = body_of(report())
    headers = signed(body, SECRET)

    def attempt(_: int) -> int:
        with requests.Session() as http:
            return deliver(http, gateway, body, headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] * 7 + [202]
    assert [r["webhook_id"] for r in stored(engine)].count(headers["webhook-id"]) == 1


def test_the_same_id_with_another_body_is_a_409(
    gateway: str, session: requests.Session, engine: Engine, keyring: KeyRing
) -> None:
    body = body_of(report())
    headers = signed(body, SECRET)
    assert deliver(session, gateway, body, headers).status_code == 202
    other = body_of(report(title="另一件事"))
    problem = assert_refused(
        deliver(session, gateway, other, signed(other, SECRET, webhook_id=headers["webhook-id"])),
        409,
        "webhook-id-conflict",
    )
    assert problem["header"] == "webhook-id"
    [entry] = inbox.pending(engine, keyring, PARTNER, limit=10)
    assert entry.body == body, "the first body stays"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_a_413_and_nothing_is_written(
    gateway: str, session: requests.Session, engine: Engine, declared: bool
) -> None:
    body = body_of(report(title="路" * MAX_BODY_BYTES))
    assert len(body) > MAX_BODY_BYTES
    headers = signed(body, SECRET)
    payload: bytes | Iterator[bytes] = body if declared else iter([body[:1000], body[1000:]])
    response = session.post(gateway + PATH, data=payload, headers=headers, timeout=30)
    assert assert_refused(response, 413, "body-too-large")["field"] == "body"
    assert stored(engine) == []


@pytest.mark.parametrize(
    ("body", "slug", "field"),
    [
        (b"{not json", "invalid-json", "body"),
        (
            body_of(
                {"type": "report.created", "timestamp": "2026-12-01T08:00:00Z", "data": {"updatedAt": "x"}}
            ),
            "invalid-envelope",
            "data.reportId",
        ),
    ],
    ids=["not JSON", "no reportId"],
)
def test_a_body_that_is_not_the_envelope_is_a_422_naming_the_field(
    gateway: str, session: requests.Session, engine: Engine, body: bytes, slug: str, field: str
) -> None:
    problem = assert_refused(deliver(session, gateway, body, signed(body, SECRET)), 422, slug)
    assert problem["field"] == field
    assert field in problem["detail"]
    assert stored(engine) == []


def test_an_unknown_partner_is_a_404(gateway: str, session: requests.Session) -> None:
    body = body_of(report())
    response = session.post(gateway + "/webhooks/nobody", data=body, headers=signed(body, SECRET), timeout=30)
    assert_refused(response, 404, "unknown-partner")


def test_without_a_secret_nothing_is_accepted(
    gateway: str, session: requests.Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    body = body_of(report())
    assert_refused(deliver(session, gateway, body, signed(body, SECRET)), 503, "not-configured")
    assert stored(engine) == []


def test_without_a_key_ring_nothing_is_landed_in_clear(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gateway: str, session: requests.Session
) -> None:
    monkeypatch.delenv("CASEHUB_KEYRING")
    # The fixture's app has not loaded its ring yet: it does so on first use, and finds none.
    body = body_of(report())
    assert_refused(deliver(session, gateway, body, signed(body, SECRET)), 503, "keyring-unavailable")
    assert stored(engine) == []


def test_an_acknowledged_delivery_survives_the_gateway_being_killed(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    """SIGKILL right after the 2xx: no shutdown, no flush. The rows are there, pending, intact."""
    db_url = engine.url.render_as_string(hide_password=False)
    env = gateway_env(db_url, tmp_path / "gateway", keyring.to_json(), **{SECRET_ENV: SECRET})
    served = ServedGateway(env, manifest(tmp_path))
    try:
        url = served.url()
        bodies = [body_of(report(f"WL{n:04d}")) for n in range(20)]
        with requests.Session() as http:
            for body in bodies:
                assert deliver(http, url, body, signed(body, SECRET)).status_code == 202
    finally:
        served.kill()
    assert served.process.returncode == -signal.SIGKILL
    entries = inbox.pending(engine, keyring, PARTNER, limit=100)
    assert [entry.body for entry in entries] == bodies
    assert {row["state"] for row in stored(engine)} == {"pending"}

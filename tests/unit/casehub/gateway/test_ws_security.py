"""WS-Security UsernameToken PasswordDigest as the hub checks it, against a real store: the digest,
the Created window both ways, nonces refused on replay whichever verifier (or process) saw them
first, and every refusal naming what failed without the password or the digest."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from lxml import etree
from sqlalchemy import Engine, create_engine, func, insert, select
from zeep.wsse.username import UsernameToken

from casehub.gateway.soap.envelope import SOAP_ENV, SoapFault
from casehub.gateway.soap.wssecurity import Credential, UsernameTokenVerifier, digest
from casehub.store.db import prepare
from casehub.store.models import SoapNonce

USERNAME = "district-420106-0123456789ab"
PASSWORD = "s3cret-district-password"
DISTRICT = "420106"
NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)


def passwords(username: str) -> tuple[str, str] | None:
    return (DISTRICT, PASSWORD) if username == USERNAME else None


class Clock:
    """The hub's clock, set by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def header(
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    created: str | None = None,
    nonce: bytes | None = None,
    password_digest: str | None = None,
    password_type: str = DIGEST_TYPE,
    leave_out: tuple[str, ...] = (),
) -> etree._Element:
    """A soap:Header holding a UsernameToken as a WS-Security client writes one."""
    created = created if created is not None else NOW.isoformat()
    nonce = nonce if nonce is not None else os.urandom(16)
    parts = {
        "Username": f"<wsse:Username>{username}</wsse:Username>",
        "Password": f'<wsse:Password Type="{password_type}">'
        f"{password_digest or digest(nonce, created, password)}</wsse:Password>",
        "Nonce": f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>",
        "Created": f"<wsu:Created>{created}</wsu:Created>",
    }
    token = "".join(text for name, text in parts.items() if name not in leave_out)
    return etree.fromstring(
        f'<soap:Header xmlns:soap="{SOAP_ENV}" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">'
        f"<wsse:Security><wsse:UsernameToken>{token}</wsse:UsernameToken></wsse:Security></soap:Header>"
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(engine: Engine, clock: Clock) -> UsernameTokenVerifier:
    return UsernameTokenVerifier(engine, passwords, clock=clock)


def nonces(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(SoapNonce)).scalar_one()


def refusal(verify: Callable[[], object]) -> str:
    """The faultstring of a refused token, checked to be a FailedAuthentication with no secret in it."""
    with pytest.raises(SoapFault) as refused:
        verify()
    fault = refused.value
    assert fault.faultcode == "wsse:FailedAuthentication"
    assert fault.code == "failed_authentication"
    assert PASSWORD not in fault.faultstring
    return fault.faultstring


def test_a_right_digest_proves_the_district_credential(
    verifier: UsernameTokenVerifier, engine: Engine
) -> None:
    assert verifier.verify(header()) == Credential(USERNAME, DISTRICT)
    assert nonces(engine) == 1


def test_a_token_written_by_zeep_is_accepted(engine: Engine) -> None:
    """What a generic WS-Security client sends (zeep, `use_digest=True`) passes as it is."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope")
    UsernameToken(USERNAME, PASSWORD, use_digest=True).apply(envelope, {})
    verifier = UsernameTokenVerifier(engine, passwords)
    assert verifier.verify(envelope.find(f"{{{SOAP_ENV}}}Header")) == Credential(USERNAME, DISTRICT)


def test_a_wrong_digest_is_refused_and_records_no_nonce(
    verifier: UsernameTokenVerifier, engine: Engine
) -> None:
    forged = digest(b"another nonce", NOW.isoformat(), PASSWORD)
    message = refusal(lambda: verifier.verify(header(password_digest=forged)))
    assert "wrong password digest" in message and forged not in message
    assert "wrong password digest" in refusal(lambda: verifier.verify(header(password="guessed")))
    assert nonces(engine) == 0


def test_an_unknown_user_is_refused_in_the_words_of_a_wrong_digest(verifier: UsernameTokenVerifier) -> None:
    """Nothing in the refusal tells a caller whether the username exists."""
    wrong = refusal(lambda: verifier.verify(header(password="guessed")))
    assert refusal(lambda: verifier.verify(header(username="district-420106-nobody"))) == wrong
    assert refusal(lambda: verifier.verify(header(username="x" * 65))) == wrong


@pytest.mark.parametrize("seconds", [301, 3600, 86_400 * 30])
def test_a_stale_created_is_refused(verifier: UsernameTokenVerifier, seconds: int) -> None:
    created = (NOW - timedelta(seconds=seconds)).isoformat()
    assert "stale" in refusal(lambda: verifier.verify(header(created=created)))


@pytest.mark.parametrize("seconds", [301, 3600])
def test_a_created_in_the_future_is_refused(verifier: UsernameTokenVerifier, seconds: int) -> None:
    created = (NOW + timedelta(seconds=seconds)).isoformat()
    assert "future" in refusal(lambda: verifier.verify(header(created=created)))


@pytest.mark.parametrize(
    "created",
    [
        (NOW - timedelta(seconds=299)).isoformat(),
        (NOW + timedelta(seconds=299)).isoformat(),
        NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        NOW.astimezone(UTC).replace(tzinfo=None).isoformat(),  # no offset: UTC, as WSS says
        NOW.astimezone(timezone(timedelta(hours=8))).isoformat(),  # Shanghai's offset
    ],
)
def test_a_created_within_the_window_in_any_offset_passes(
    verifier: UsernameTokenVerifier, created: str
) -> None:
    assert verifier.verify(header(created=created)).district_code == DISTRICT


def test_a_created_that_is_not_a_time_is_refused(verifier: UsernameTokenVerifier) -> None:
    assert "wsu:Created is not an ISO 8601" in refusal(lambda: verifier.verify(header(created="yesterday")))


def test_a_replayed_nonce_is_refused_by_the_same_verifier(verifier: UsernameTokenVerifier) -> None:
    token = header()
    verifier.verify(token)
    assert "replayed" in refusal(lambda: verifier.verify(token))


def test_a_replayed_nonce_is_refused_by_another_verifier_on_the_same_database(
    sqlite_engine: Engine, clock: Clock
) -> None:
    """Two gateway processes: each its own engine on the one store, each its own verifier."""
    other_engine = prepare(create_engine(sqlite_engine.url))
    try:
        token = header()
        UsernameTokenVerifier(sqlite_engine, passwords, clock=clock).verify(token)
        other = UsernameTokenVerifier(other_engine, passwords, clock=clock)
        assert "replayed" in refusal(lambda: other.verify(token))
        assert nonces(sqlite_engine) == 1
    finally:
        other_engine.dispose()


def test_the_same_nonce_from_another_user_is_not_a_replay(engine: Engine, clock: Clock) -> None:
    other_user = "district-420102-ba9876543210"
    both = {USERNAME: (DISTRICT, PASSWORD), other_user: ("420102", "another password")}
    verifier = UsernameTokenVerifier(engine, both.get, clock=clock)
    nonce = os.urandom(16)
    verifier.verify(header(nonce=nonce))
    assert verifier.verify(header(username=other_user, password="another password", nonce=nonce)) == (
        Credential(other_user, "420102")
    )


@pytest.mark.parametrize(
    ("token", "named"),
    [
        (None, "no wsse:Security/wsse:UsernameToken"),
        (etree.fromstring(f'<soap:Header xmlns:soap="{SOAP_ENV}"/>'), "no wsse:Security/wsse:UsernameToken"),
        (header(leave_out=("Username",)), "wsse:Username is missing"),
        (header(leave_out=("Password",)), "PasswordDigest is required"),
        (header(password_type=DIGEST_TYPE.replace("Digest", "Text")), "PasswordDigest is required"),
        (header(leave_out=("Nonce",)), "wsse:Nonce and wsu:Created are required"),
        (header(leave_out=("Created",)), "wsse:Nonce and wsu:Created are required"),
    ],
    ids=["no header", "no token", "no username", "no password", "plain text", "no nonce", "no created"],
)
def test_a_missing_or_incomplete_token_names_what_is_missing(
    verifier: UsernameTokenVerifier, token: etree._Element | None, named: str
) -> None:
    assert named in refusal(lambda: verifier.verify(token))


def test_a_nonce_that_is_not_base64_or_too_long_is_refused(verifier: UsernameTokenVerifier) -> None:
    token = header()
    token.find(f".//{{{WSSE}}}Nonce").text = "not base64!"
    assert "wsse:Nonce is not Base64" in refusal(lambda: verifier.verify(token))
    assert "longer than 128" in refusal(lambda: verifier.verify(header(nonce=os.urandom(100))))


def test_nonces_older_than_twice_the_window_are_purged(engine: Engine, clock: Clock) -> None:
    old = {"username": USERNAME, "nonce": "b2xk", "created_at": NOW - timedelta(seconds=601)}
    recent = {"username": USERNAME, "nonce": "cmVjZW50", "created_at": NOW - timedelta(seconds=599)}
    with engine.begin() as conn:
        conn.execute(insert(SoapNonce), [old, recent])
    UsernameTokenVerifier(engine, passwords, clock=clock).verify(header())
    with engine.connect() as conn:
        kept = set(conn.execute(select(SoapNonce.nonce)).scalars())
    assert "b2xk" not in kept and "cmVjZW50" in kept and len(kept) == 2

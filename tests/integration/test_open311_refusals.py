"""Hostile and malformed Open311 calls over real HTTP: each answered with the spec's error document
(XML `<errors><error><code/><description/>`, JSON `[{code, description}]`) and its status, the
description naming the field and never echoing a value; and nothing stored by any of them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import requests
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.open311 import keys
from casehub.safexml import parse
from casehub.store.models import InboundWebhook, Open311Update
from tests.markers import ADDRESS, NAME, PHONE, leaked
from tests.threaded import serving

ROOT = Path(__file__).resolve().parents[2]
ERROR = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schemas" / "open311" / "error.schema.json").read_text("utf-8"))
)
GOOD = {
    "service_code": "020015",
    "description": f"{NAME}反映：路灯不亮，电话{PHONE}",
    "lat": "30.6248",
    "long": "114.3152",
    "first_name": NAME,
    "phone": PHONE,
    "address_string": ADDRESS,
}


@pytest.fixture
def served(sqlite_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    with serving(create_app(sqlite_engine)) as url:
        yield url + "/open311/v2"


def refused(response: requests.Response, status: int, field: str) -> None:
    """The spec's error in the suffix's format, naming `field`, holding no value that was sent."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("text/xml"):
        root = parse(response.content)
        assert root.tag == "errors"
        code, description = root.findtext("error/code"), root.findtext("error/description") or ""
        assert code == str(status)
    else:
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()
        ERROR.validate(error)
        code, description = error["code"], error["description"]
        assert code == status
    assert description.startswith(field), description
    assert leaked(response.text) == []


def nothing_stored(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(InboundWebhook)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(Open311Update)).scalar_one() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service_code": "999999"}, "service_code"),
        ({"service_code": ""}, "service_code"),
        ({"description": "  "}, "description"),
        ({"description": "长" * 4001}, "description"),
        ({"lat": "95"}, "lat"),
        ({"long": "east"}, "long"),
        ({"long": "nan"}, "long"),
        ({"long": ""}, "lat, long"),
        ({"lat": "39.9042", "long": "116.4074"}, "lat, long"),
        ({"lat": "", "long": "", "address_string": ""}, "lat, long or address_string"),
        ({"phone": "12345"}, "phone"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"description": "路灯\x00不亮"}, "description"),
        ({"attribute[hazard]": "maybe"}, "attribute[hazard]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
    ],
)
def test_a_malformed_request_is_refused_naming_its_field(
    served: str, sqlite_engine: Engine, change: dict[str, str], field: str
) -> None:
    api_key = keys.issue(sqlite_engine, "a civic app").api_key
    for fmt in ("json", "xml"):
        form = {"api_key": api_key, **GOOD, **change}
        refused(requests.post(f"{served}/requests.{fmt}", data=form, timeout=10), 400, field)
    nothing_stored(sqlite_engine)


def test_a_required_attribute_of_the_service_is_required(served: str, sqlite_engine: Engine) -> None:
    api_key = keys.issue(sqlite_engine, "a civic app").api_key
    health = {**GOOD, "service_code": "080001", "api_key": api_key}
    refused(requests.post(f"{served}/requests.json", data=health, timeout=10), 400, "attribute[epidemic]")
    answered = requests.post(
        f"{served}/requests.json", data={**health, "attribute[epidemic]": "no"}, timeout=10
    )
    assert answered.status_code == 200 and answered.json()[0]["token"]


def test_a_missing_wrong_revoked_or_unscoped_api_key_is_403(served: str, sqlite_engine: Engine) -> None:
    revoked = keys.issue(sqlite_engine, "an old app")
    keys.revoke(sqlite_engine, revoked.key_id)
    reader = keys.issue(sqlite_engine, "an updater", scopes=(keys.UPDATE,))
    for api_key in ("", "o311_nothere_secret", revoked.api_key, revoked.api_key[:-2] + "xx"):
        refused(requests.post(f"{served}/requests.xml", data={**GOOD, "api_key": api_key}, timeout=10),
                403, "api_key")
    refused(requests.post(f"{served}/requests.json", data=GOOD, timeout=10), 403, "api_key")
    refused(requests.post(f"{served}/requests.json", data={**GOOD, "api_key": reader.api_key}, timeout=10),
            403, "api_key: lacks the scope open311:write")
    nothing_stored(sqlite_engine)


def test_oversize_and_wrongly_typed_bodies_are_refused_before_anything_is_read(
    served: str, sqlite_engine: Engine
) -> None:
    api_key = keys.issue(sqlite_engine, "a civic app").api_key
    huge = {"api_key": api_key, **GOOD, "description": "路" * 40_000}
    refused(requests.post(f"{served}/requests.json", data=huge, timeout=10), 400, "body")
    as_json = requests.post(f"{served}/requests.json", json={"api_key": api_key, **GOOD}, timeout=10)
    refused(as_json, 400, "body")
    broken = requests.post(
        f"{served}/requests.xml", data=b"api_key=%ff%fe&service_code=1",
        headers={"content-type": "application/x-www-form-urlencoded"}, timeout=10,
    )
    refused(broken, 400, "body")
    nothing_stored(sqlite_engine)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01T00:00:00Z"}, "end_date"),
        ({"start_date": "2026-12-01T00:00:00"}, "start_date"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"}, "start_date, end_date"),
        ({"start_date": "2026-12-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "end_date"),
        ({"status": "pending"}, "status"),
        ({"service_code": "020015,000000"}, "service_code"),
        ({"service_request_id": ",".join(["x"] * 101)}, "service_request_id"),
    ],
)
def test_a_listing_with_bad_parameters_is_400(served: str, params: dict[str, str], field: str) -> None:
    for fmt in ("json", "xml"):
        refused(requests.get(f"{served}/requests.{fmt}", params=params, timeout=10), 400, field)
    if "start_date" in params or "end_date" in params:
        refused(requests.get(f"{served}/servicerequestupdates.json", params=params, timeout=10), 400, field)


def test_what_does_not_exist_is_404(served: str, sqlite_engine: Engine) -> None:
    refused(requests.get(f"{served}/services/999999.xml", timeout=10), 404, "service_code")
    refused(requests.get(f"{served}/requests/{'0' * 8}-0000-5000-8000-{'0' * 12}.json", timeout=10),
            404, "service_request_id")
    refused(requests.get(f"{served}/tokens/{'a' * 32}.xml", timeout=10), 404, "token")
    api_key = keys.issue(sqlite_engine, "an updater").api_key
    update = {
        "api_key": api_key, "update_id": "u-1", "service_request_id": "not-a-case", "status": "CLOSED",
        "updated_datetime": "2026-12-01T10:00:00+08:00", "description": f"{NAME} 已修好",
    }
    refused(requests.post(f"{served}/servicerequestupdates.json", data=update, timeout=10), 404,
            "service_request_id")
    refused(requests.post(f"{served}/servicerequestupdates.json", data={**update, "status": "FIXED"},
                          timeout=10), 400, "status")
    nothing_stored(sqlite_engine)


def test_a_key_past_its_burst_is_told_when_to_come_back(served: str, sqlite_engine: Engine) -> None:
    api_key = keys.issue(sqlite_engine, "a hasty app").api_key
    began = time.monotonic()
    answers = [
        requests.post(f"{served}/requests.json", data={"api_key": api_key, "service_code": "x"}, timeout=10)
        for _ in range(25)
    ]
    elapsed = time.monotonic() - began
    codes = [a.status_code for a in answers]
    assert codes[:20] == [400] * 20, "the burst (the manifest's rate_burst) goes through to the checks"
    # Past the burst only what the rate (60 a minute) refilled meanwhile goes through, however
    # slowly this machine answered the 25 calls.
    assert set(codes[20:]) <= {400, 429}
    assert codes[20:].count(400) <= int(elapsed) + 1
    limited = [a for a in answers[20:] if a.status_code == 429]
    assert limited, f"no call past the burst was limited ({elapsed:.1f} s for 25 calls)"
    refused(limited[-1], 429, "api_key: rate limit")
    assert int(limited[-1].headers["retry-after"]) >= 1
    other = keys.issue(sqlite_engine, "a patient app").api_key
    fresh = requests.post(f"{served}/requests.json", data={"api_key": other, "service_code": "x"}, timeout=10)
    assert fresh.status_code == 400, "another key has its own bucket"


def test_without_a_key_ring_nothing_is_filed_and_it_says_try_later(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASEHUB_KEYRING", raising=False)
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    api_key = keys.issue(sqlite_engine, "a civic app").api_key
    with serving(create_app(sqlite_engine)) as url:
        form = {"api_key": api_key, **GOOD}
        answer = requests.post(f"{url}/open311/v2/requests.json", data=form, timeout=10)
        listing = requests.get(f"{url}/open311/v2/requests.xml", timeout=10)
    assert answer.status_code == 503 and answer.json()[0]["code"] == 503
    assert listing.status_code == 503 and parse(listing.content).findtext("error/code") == "503"
    nothing_stored(sqlite_engine)

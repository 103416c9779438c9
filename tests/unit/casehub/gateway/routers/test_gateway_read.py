"""The read routes answer only bearers of the gateway's token, and show a case without giving a
reporter away."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.identity import case_id
from casehub.pipeline import Pipeline
from casehub.stats import collect
from connectors.hotline import MAPPER
from tests.samples import work_order

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "gateway-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROTECTED = ["/stats", "/quarantine", "/cases/00000000-0000-0000-0000-000000000000"]
# The sample work order's caller: 张明, +86 138 0013 8000.
NAME, PHONE = "张明", "13800138000"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token or key ring leaks in from the shell running the tests."""
    for name in ("CASEHUB_GATEWAY_TOKEN", "CASEHUB_KEYRING", "CASEHUB_KEYRING_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(sqlite_engine: Engine) -> TestClient:
    return TestClient(create_app(sqlite_engine, token=TOKEN))


@pytest.fixture
def stored(sqlite_engine: Engine, keyring: KeyRing) -> str:
    """One accepted hotline case and one quarantined work order; returns the case's id."""
    bad = work_order(GDBH="WH20261120000002", SSQX="火星区", LDHM="12345")
    page = Pipeline(sqlite_engine, MAPPER, keyring).ingest([work_order(), bad])
    assert (page.accepted, page.quarantined) == (1, 1)
    return case_id("hotline", work_order()["GDBH"])


def assert_problem(response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


WRONG_CREDENTIALS = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer wrong-token"},
    "wrong scheme": {"Authorization": f"Basic {TOKEN}"},
    "bare token": {"Authorization": TOKEN},
}


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("credentials", WRONG_CREDENTIALS)
def test_protected_routes_refuse_without_the_token(client: TestClient, path: str, credentials: str) -> None:
    response = client.get(path, headers=WRONG_CREDENTIALS[credentials])
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("configured", [None, ""], ids=["unset", "empty"])
def test_without_a_configured_token_every_protected_call_is_503(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, path: str, configured: str | None
) -> None:
    if configured is not None:
        monkeypatch.setenv("CASEHUB_GATEWAY_TOKEN", configured)
    client = TestClient(create_app(sqlite_engine))
    body = assert_problem(client.get(path, headers=AUTH), 503)
    assert body["type"] == "urn:casehub:problem:not-configured"
    assert "no token configured" in str(body["detail"])
    assert client.get("/healthz").status_code == 200


def test_token_comes_from_the_environment(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEHUB_GATEWAY_TOKEN", TOKEN)
    client = TestClient(create_app(sqlite_engine))
    assert client.get("/stats", headers=AUTH).status_code == 200
    assert_problem(client.get("/stats", headers={"Authorization": "Bearer other"}), 401)


def test_stats_are_the_store_statistics(client: TestClient, sqlite_engine: Engine, stored: str) -> None:
    response = client.get("/stats", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == collect(sqlite_engine)
    assert response.json()["cases"]["total"] == 1
    assert response.json()["reconciled"] is True


def test_unknown_case_is_a_404_problem(client: TestClient, stored: str) -> None:
    body = assert_problem(client.get("/cases/no-such-case", headers=AUTH), 404)
    assert "no-such-case" not in str(body)


def test_unknown_route_is_a_problem_too(client: TestClient) -> None:
    assert_problem(client.get("/nothing-here", headers=AUTH), 404)


def test_a_stored_case_is_shown_with_its_reporter_masked(
    client: TestClient, stored: str, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    response = client.get(f"/cases/{stored}", headers=AUTH)
    assert response.status_code == 200
    case = response.json()
    assert case["case_id"] == stored
    assert case["source_id"] == "WH20261120000001"
    assert case["district_code"] == "420102"
    assert case["title"] == work_order()["BT"]
    assert case["reporter"] == {"name": "张*", "phone": "+86138****8000"}
    assert not [key for key in case if key.startswith("reporter_") or key == "pii_key_id"]
    assert PHONE not in response.text
    assert NAME not in response.text


def test_without_a_key_ring_the_reporter_is_null(client: TestClient, stored: str) -> None:
    response = client.get(f"/cases/{stored}", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["reporter"] == {"name": None, "phone": None}


def test_a_key_ring_that_cannot_open_the_case_hides_the_reporter(
    client: TestClient, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    response = client.get(f"/cases/{stored}", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["reporter"] == {"name": None, "phone": None}


def test_quarantine_lists_open_entries_and_their_reasons(client: TestClient, stored: str) -> None:
    response = client.get("/quarantine", headers=AUTH)
    assert response.status_code == 200
    [entry] = response.json()
    assert entry["source_id"] == "WH20261120000002"
    assert {reason["code"] for reason in entry["reasons"]} == {"unknown_district", "invalid_phone"}
    assert "12345" not in response.text.replace("WH20261120000002", "")
    assert client.get("/quarantine?channel=message_board", headers=AUTH).json() == []


def test_a_malformed_query_is_a_problem_that_does_not_echo_it(client: TestClient) -> None:
    body = assert_problem(client.get("/quarantine?limit=13800138000x", headers=AUTH), 422)
    assert "13800138000" not in str(body)


def test_numbers_written_into_a_cases_text_are_masked_when_it_is_read(
    client: TestClient, sqlite_engine: Engine, keyring: KeyRing
) -> None:
    """Residents write their numbers into the title, content and address; a read shows the case's
    words and places, never one of those numbers whole."""
    order = work_order(
        GDBH="WH20261120000007",
        BT="请回电13912345678",
        SQNR="我的电话是139 1234 5678，身份证４２０１０２１９９０１２３１５６７８，家里座机027-85123456。",
        FSDZ="江岸区解放大道1000号，电话13912345678",
    )
    assert Pipeline(sqlite_engine, MAPPER, keyring).ingest([order]).accepted == 1
    response = client.get(f"/cases/{case_id('hotline', order['GDBH'])}", headers=AUTH)
    assert response.status_code == 200
    case = response.json()
    assert case["title"] == "请回电139****5678"
    assert case["content"] == "我的电话是139****5678，身份证420102***********8，家里座机027****3456。"
    assert case["address"] == "江岸区解放大道1000号，电话139****5678"
    for whole in ("13912345678", "1234 5678", "19901231", "１９９０１２３１", "85123456"):
        assert whole not in response.text

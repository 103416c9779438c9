"""The gateway app: built without I/O, documented by its OpenAPI, every error a problem."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

import casehub.gateway
from casehub import cli
from casehub.gateway import app as gateway_app
from casehub.gateway import create_app
from casehub.gateway.problems import Problem
from tests.unit.casehub.gateway.deliveries import MANIFEST, SECRET_ENV, manifest

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


def test_the_package_exports_the_app_and_the_server() -> None:
    assert casehub.gateway.__all__ == ["create_app", "serve"]
    assert callable(casehub.gateway.serve)


def test_creating_the_app_reads_no_store_key_ring_or_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("touched at app creation")

    for target in ("casehub.partners.pushing", "casehub.partners.load_partners",
                   "casehub.crypto.load_keyring", "casehub.store.connect"):
        monkeypatch.setattr(target, refuse)
    assert isinstance(create_app(), FastAPI)


def test_openapi_is_served_and_the_interactive_docs_are_not(sqlite_engine: Engine) -> None:
    client = TestClient(create_app(sqlite_engine))
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "casehub gateway"
    assert "problem+json" in spec["info"]["description"]
    assert set(spec["paths"]) == {
        "/healthz", "/stats", "/quarantine", "/cases/{case_id}", "/webhooks/{partner}",
        "/districts/{district_code}/dispatches",
        "/districts/{district_code}/dispatches/{event_id}/receipt",
        *(f"/districts/{{district_code}}/cases/{{case_id}}/{action}"
          for action in ("accept", "progress", "complete", "postpone", "return")),
        "/soap/district",
        "/pages/stats", "/pages/quality", "/pages/quarantine", "/pages/quarantine/replay",
        "/pages/data-docs/", "/pages/data-docs/{path}",
        "/pages/reports", "/pages/reports/{kind}/{period}", "/pages/reports/{kind}/{period}/{scope}",
        "/pages/hotspots",
        "/pages/reports/{kind}/{period}/{scope}/{fmt}",
        *(f"/open311/v2/{resource}.{fmt}" for fmt in ("xml", "json") for resource in (
            "discovery", "services", "services/{service_code}", "requests",
            "requests/{service_request_id}", "tokens/{token}", "servicerequestupdates",
        )),
    }
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            assert operation["summary"] and operation["description"], path
    webhook = spec["paths"]["/webhooks/{partner}"]["post"]
    headers = {p["name"] for p in webhook["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert {"200", "202", "400", "401", "404", "409", "413", "415", "422", "503"} <= set(webhook["responses"])
    assert "application/problem+json" in webhook["responses"]["401"]["content"]
    envelope = webhook["requestBody"]["content"]["application/json"]["schema"]
    assert envelope["required"] == ["type", "timestamp", "data"]
    assert envelope["properties"]["data"]["type"] == "object"
    assert spec["components"]["securitySchemes"]["gatewayToken"]["scheme"] == "bearer"
    for path in ("/docs", "/redoc"):
        assert client.get(path).status_code == 404


def test_a_new_concern_is_a_router_and_one_entry(
    monkeypatch: pytest.MonkeyPatch, sqlite_engine: Engine
) -> None:
    extra = APIRouter()

    @extra.get("/open311/services")
    def services() -> list[str]:
        raise Problem(501, "not-implemented", "Not implemented", "not yet")

    monkeypatch.setattr(gateway_app, "ROUTERS", (*gateway_app.ROUTERS, extra))
    response = TestClient(create_app(sqlite_engine)).get("/open311/services")
    assert response.status_code == 501
    assert response.headers["content-type"] == "application/problem+json"


def test_a_problem_carries_its_extension_members_and_headers() -> None:
    response = Problem(400, "missing-header", "Missing header", "the webhook-id header is missing",
                       header="webhook-id", headers={"Retry-After": "5"}).response()
    assert response.headers["retry-after"] == "5"
    assert response.body == (
        b'{"type":"urn:casehub:problem:missing-header","title":"Missing header","status":400,'
        b'"detail":"the webhook-id header is missing","header":"webhook-id"}'
    )


def test_an_unexpected_failure_is_a_500_problem_without_its_message(
    monkeypatch: pytest.MonkeyPatch, sqlite_engine: Engine
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("13800138000")

    monkeypatch.setattr("casehub.stats.collect", broken)
    client = TestClient(create_app(sqlite_engine, token="t"), raise_server_exceptions=False)
    response = client.get("/stats", headers={"Authorization": "Bearer t"})
    assert response.status_code == 500
    assert response.json()["type"] == "urn:casehub:problem:internal-error"
    assert "13800138000" not in response.text


def test_serve_runs_the_manifests_pushing_partners(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    served: list[FastAPI] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **_: served.append(app))
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="casehub.gateway"):
        assert cli.main(["serve", "--port", "0", "--partners", str(manifest(tmp_path))]) == 0
    [app] = served
    assert set(app.state.context.receivers()) == {"/webhooks/neighborhood_app"}
    assert f"{SECRET_ENV} is not set" in caplog.text


def test_serve_refuses_to_start_on_a_manifest_it_cannot_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *_, **__: pytest.fail("started"))
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(MANIFEST.replace('path = "/webhooks/', 'path = "/hooks/'), encoding="utf-8")
    assert cli.main(["serve", "--partners", str(elsewhere)]) == 2
    assert "push_in.path must be one segment under /webhooks/" in capsys.readouterr().err

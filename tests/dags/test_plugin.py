"""The Airflow plugin: it loads as Airflow loads it, mounts the gateway with its own auth, links to it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_FILE = ROOT / "plugins" / "casehub_plugin.py"

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    """The module as Airflow's plugin manager loads it: from its file, not as a package member."""
    spec = importlib.util.spec_from_file_location("casehub_plugin", PLUGIN_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_airflow_accepts_it_as_a_plugin(plugin: ModuleType) -> None:
    from airflow.plugins_manager import is_valid_plugin

    assert is_valid_plugin(plugin.CasehubPlugin)
    assert plugin.CasehubPlugin.name == "casehub"


def test_it_mounts_the_gateway_where_airflow_allows(plugin: ModuleType) -> None:
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    [mounted] = plugin.CasehubPlugin.fastapi_apps
    assert isinstance(mounted["app"], FastAPI)
    assert mounted["name"]
    assert mounted["url_prefix"] == "/casehub"
    assert not any(mounted["url_prefix"].startswith(prefix) for prefix in RESERVED_URL_PREFIXES)
    paths = {route.path for route in mounted["app"].routes}
    assert {"/healthz", "/stats", "/quarantine", "/cases/{case_id}", "/webhooks/{partner}"} <= paths


def test_the_mounted_gateway_keeps_its_own_authentication(
    plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mounted the way Airflow's API server mounts plugin apps; Airflow adds no auth of its own."""
    monkeypatch.setenv("CASEHUB_DB_URL", f"sqlite:///{tmp_path / 'casehub.db'}")
    monkeypatch.setenv("CASEHUB_GATEWAY_TOKEN", "plugin-test-token")
    [mounted] = plugin.CasehubPlugin.fastapi_apps
    server = FastAPI()
    server.mount(mounted["url_prefix"], mounted["app"])
    client = TestClient(server)
    assert client.get("/casehub/healthz").json()["status"] == "ok"
    assert client.get("/casehub/openapi.json").json()["info"]["title"] == "casehub gateway"
    refused = client.get("/casehub/stats")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    monkeypatch.delenv("CASEHUB_GATEWAY_TOKEN")
    unconfigured = client.get("/casehub/stats", headers={"Authorization": "Bearer plugin-test-token"})
    assert unconfigured.status_code == 503


def test_the_mounted_pages_refuse_anyone_airflow_has_not_let_in(
    plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an Airflow session or token the pages answer 401 and show nothing of the store —
    not even to a caller holding the gateway's own token."""
    monkeypatch.setenv("CASEHUB_DB_URL", f"sqlite:///{tmp_path / 'casehub.db'}")
    monkeypatch.setenv("CASEHUB_GATEWAY_TOKEN", "plugin-test-token")
    [mounted] = plugin.CasehubPlugin.fastapi_apps
    server = FastAPI()
    server.mount(mounted["url_prefix"], mounted["app"])
    client = TestClient(server)
    for path in ("stats", "quality", "quarantine", "data-docs/", "data-docs/index.html", "hotspots"):
        for headers in ({}, {"Accept": "text/html"}, {"Authorization": "Bearer plugin-test-token"}):
            refused = client.get(f"/casehub/pages/{path}", headers=headers)
            assert refused.status_code in (401, 403), (path, headers)
            assert "raw" not in refused.text and "hotline" not in refused.text
    posted = client.post("/casehub/pages/quarantine/replay", data={"all": "1"})
    assert posted.status_code in (401, 403)


def test_menu_links_are_pages_the_airflow_ui_frames(plugin: ModuleType) -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    views = {view["name"]: ExternalViewResponse(**view) for view in plugin.CasehubPlugin.external_views}
    assert set(views) == {
        "casehub: Data Docs",
        "casehub: quality",
        "casehub: quarantine",
        "casehub: store stats",
        "casehub: reports",
        "casehub: hotspots",
    }
    [mounted] = plugin.CasehubPlugin.fastapi_apps
    served = {route.path for route in mounted["app"].routes}
    prefix = mounted["url_prefix"].lstrip("/") + "/"
    routes = [view.url_route for view in views.values()]
    assert len(set(routes)) == len(routes)
    for view in views.values():
        assert view.destination == "nav"
        assert view.category == "browse"
        assert view.url_route, "shown inside the UI, framed under /plugin/<url_route>"
        assert view.href.startswith(prefix), "relative to the UI's base URL, under the mount"
        assert "/" + view.href.removeprefix(prefix) in served


def test_loading_the_plugin_pulls_in_no_store_keys_or_data_libraries() -> None:
    """Every Airflow process loads plugins, so loading this one must stay cheap and inert."""
    probe = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('casehub_plugin', {str(PLUGIN_FILE)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    heavy = {
        "casehub.store",
        "casehub.crypto",
        "casehub.stats",
        "casehub.pipeline",
        "casehub.inbox",
        "great_expectations",
        "pandas",
        "zeep",
        "alembic.command",
        "uvicorn",
        "casehub.quality_summary",
        "casehub.quarantine_view",
        "casehub.hotspots",
        "jieba",
        "airflow.api_fastapi.core_api.security",
    }
    assert not heavy & loaded

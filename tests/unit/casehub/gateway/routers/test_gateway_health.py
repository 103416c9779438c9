"""`/healthz` needs no token and says whether the store answers."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from starlette.exceptions import StarletteDeprecationWarning

from casehub.gateway import create_app

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASEHUB_GATEWAY_TOKEN", raising=False)


def test_health_needs_no_token_and_says_whether_the_store_answers(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    path = "/healthz"
    assert TestClient(create_app(sqlite_engine)).get(path).json() == {"status": "ok", "store": "ok"}
    nowhere = create_engine(f"sqlite:///{tmp_path / 'missing' / 'casehub.db'}")
    response = TestClient(create_app(nowhere)).get(path)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "unreachable"}


def test_healthz_is_the_only_health_route(sqlite_engine: Engine) -> None:
    client = TestClient(create_app(sqlite_engine))
    assert "/healthz" in client.get("/openapi.json").json()["paths"]
    assert client.get("/health").status_code == 404

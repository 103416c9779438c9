"""The pages for people: served by a gateway with no host login (`casehub serve`), they let
nobody in and show nothing; behind a host's guard they answer HTML or JSON as asked."""

from __future__ import annotations

import warnings

import pytest
from fastapi import Request
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.gateway.viewer import Viewer, not_signed_in
from casehub.pipeline import Pipeline
from connectors.hotline import MAPPER
from tests.samples import work_order

with warnings.catch_warnings():
    # Starlette prefers httpx2 for its test client and warns once, on import, when only httpx is
    # installed; the client works the same with either.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PAGES = [
    "/pages/stats",
    "/pages/quality",
    "/pages/quarantine",
    "/pages/data-docs/",
    "/pages/data-docs/x.html",
]


def _filled(engine: Engine, keyring: KeyRing) -> Engine:
    Pipeline(engine, MAPPER, keyring).ingest(
        [work_order(), work_order(GDBH="WH20261120000002", SSQX="火星区")]
    )
    return engine


def test_without_a_guard_every_page_answers_403_and_shows_nothing(
    sqlite_engine: Engine, keyring: KeyRing
) -> None:
    client = TestClient(create_app(_filled(sqlite_engine, keyring), token="t"))
    for path in PAGES:
        for headers in ({}, {"Accept": "text/html"}, {"Authorization": "Bearer t"}):
            refused = client.get(path, headers=headers)
            assert refused.status_code == 403, (path, headers)
            assert "hotline" not in refused.text and "unknown_district" not in refused.text
    assert client.post("/pages/quarantine/replay", data={"all": "1"}).status_code == 403
    assert client.get("/stats", headers={"Authorization": "Bearer t"}).json()["raw"] == 2, (
        "machine reads stay"
    )


def _person(request: Request) -> Viewer:
    if request.headers.get("x-person") != "officer":
        raise not_signed_in()
    return Viewer(name="officer", may_replay=False, session="a-session-secret")


def test_behind_a_guard_a_browser_gets_html_and_a_client_json(
    sqlite_engine: Engine, keyring: KeyRing
) -> None:
    client = TestClient(create_app(_filled(sqlite_engine, keyring), guard=_person))
    refused = client.get("/pages/quarantine", headers={"Accept": "text/html"})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("text/html")
    assert "Open the Airflow UI" in refused.text and "hotline" not in refused.text
    person = {"x-person": "officer"}
    page = client.get("/pages/quarantine", headers={**person, "Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert "unknown_district" in page.text and "Replay</button>" not in page.text, (
        "no replay without the role"
    )
    data = client.get("/pages/quarantine?reason=unknown_district", headers=person).json()
    assert data["matched"] == 1 and data["may_replay"] is False
    assert data["entries"][0]["source_id"] == "WH20261120000002"
    replay = client.post("/pages/quarantine/replay", data={"all": "1"}, headers=person)
    assert replay.status_code == 403, "a cookie session's form needs its token"
    token = Viewer(name="officer", may_replay=False, session="a-session-secret").form_token()
    replay = client.post("/pages/quarantine/replay", data={"all": "1", "token": token}, headers=person)
    assert replay.status_code == 403, "and the role to replay"


def _engineer(request: Request) -> Viewer:
    return Viewer(name="engineer", may_replay=True)  # a tool's header token: no form token needed


def test_a_replay_with_a_key_ring_that_is_not_the_stores_is_refused_and_changes_nothing(
    sqlite_engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(_filled(sqlite_engine, keyring), guard=_engineer))
    monkeypatch.setenv("CASEHUB_KEYRING", KeyRing.generate().to_json())
    before = client.get("/pages/quarantine").json()
    answer = client.post("/pages/quarantine/replay", json={"all": True})
    assert answer.status_code == 503
    assert answer.json()["title"] == "Cannot replay"
    assert client.get("/pages/quarantine").json() == before
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    done = client.post("/pages/quarantine/replay", json={"all": True}).json()
    assert done["totals"] == {
        "hotline": {"replayed": 1, "resolved": 0, "superseded": 0, "still_quarantined": 1}
    }
    assert done["entries"][0]["history"][-1]["outcome"] == "still_quarantined"

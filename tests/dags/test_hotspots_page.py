"""The hotspots page behind the host's guard: HTML with a server-drawn chart to a browser, JSON to
anyone else, per district, day and week; nobody gets in without the guard, a district that is
not the city's is refused by name, and no phone number of the cases shows."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import lxml.html
import pytest
from fastapi import Request
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.gateway.routers.pages import PAGE_CSP
from casehub.gateway.viewer import Viewer, not_signed_in
from casehub.hotspots import shown
from casehub.jobs import hotspots_daily
from casehub.pipeline import Pipeline
from connectors.hotline import MAPPER
from tests.dags.test_hotspots_dag import JIANGAN, SHANGHAI, WATERLOGGING, WUCHANG, _orders
from tests.unit.test_hotspots import PHONES, TODAY, YESTERDAY

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

HTML = {"Accept": "text/html,application/xhtml+xml", "x-person": "officer"}
JSON = {"x-person": "officer"}


def _person(request: Request) -> Viewer:
    if request.headers.get("x-person") != "officer":
        raise not_signed_in()
    return Viewer(name="officer", may_replay=False)


@pytest.fixture
def filled(sqlite_engine: Engine, keyring: KeyRing) -> tuple[Engine, str]:
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    orders = [
        *_orders(YESTERDAY, "江岸区", before, "1"),
        *_orders(TODAY, "江岸区", yesterday, "2"),
        *_orders(WATERLOGGING, "武昌区", yesterday, "3"),
    ]
    assert Pipeline(sqlite_engine, MAPPER, keyring).ingest(orders).accepted == len(orders)
    return sqlite_engine, yesterday.date().isoformat()


def _rows(page: lxml.html.HtmlElement, table: str) -> list[list[str]]:
    return [
        [c.text_content() for c in tr.xpath("td")] for tr in page.xpath(f"//table[@class='{table}']/tbody/tr")
    ]


def test_before_the_dag_has_run_the_page_says_how_to_compute(sqlite_engine: Engine) -> None:
    client = TestClient(create_app(sqlite_engine, guard=_person))
    page = client.get("/pages/hotspots", headers=HTML)
    assert page.status_code == 200
    assert "No hotspots computed yet" in page.text and "hotspots_daily" in page.text
    assert client.get("/pages/hotspots", headers=JSON).json()["day"] is None


def test_a_browser_reads_a_districts_top_and_rising_terms_with_a_chart(filled: tuple[Engine, str]) -> None:
    engine, day = filled
    hotspots_daily(engine, datetime.fromisoformat(day).date())
    client = TestClient(create_app(engine, guard=_person))
    answer = client.get(f"/pages/hotspots?district={JIANGAN}", headers=HTML)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == PAGE_CSP and "<script" not in answer.text
    page = lxml.html.fromstring(answer.text)
    assert page.xpath("//h1")[0].text_content() == "Hotspots"
    stored = shown(engine, day=datetime.fromisoformat(day).date(), scope=JIANGAN)
    top = _rows(page, "top")
    assert [(r[1], r[2], r[3]) for r in top] == [
        (t.term, str(t.cases), str(t.previous_cases)) for t in stored.top
    ]
    assert [r[1] for r in top[:2]] == ["井盖", "噪音"]
    rising = _rows(page, "rising")
    assert rising[0][1:4] == ["停车", "4", "1"] and rising[0][4] == f"×{stored.rising[0].rise:.2f}"
    bars = page.xpath("//svg//rect[@class='bar']")
    assert len(bars) == min(12, len(stored.top))
    assert bars[0].xpath("title")[0].text_content().startswith("井盖 ")
    widths = [float(b.get("width")) for b in bars]
    assert widths == sorted(widths, reverse=True), "the most-named term has the longest bar"
    chosen = page.xpath("//select[@name='district']/option[@selected]")[0]
    assert (chosen.get("value"), chosen.text_content()) == (JIANGAN, "江岸区")
    assert len(page.xpath("//select[@name='district']/option")) == 14, "the city and its 13 districts"
    assert [o.get("value") for o in page.xpath("//select[@name='day']/option")] == [day]
    assert not [phone for phone in PHONES if phone in answer.text]

    week = lxml.html.fromstring(
        client.get(f"/pages/hotspots?district={JIANGAN}&period=week", headers=HTML).text
    )
    assert _rows(week, "top")[0][1:3] == ["井盖", "11"]
    city = lxml.html.fromstring(client.get("/pages/hotspots", headers=HTML).text)
    assert city.xpath("//select[@name='district']/option[@selected]")[0].get("value") == "420100"
    assert [r[1] for r in _rows(city, "top")[:2]] == ["井盖", "噪音"]


def test_a_client_gets_the_same_as_json(filled: tuple[Engine, str]) -> None:
    engine, day = filled
    hotspots_daily(engine, datetime.fromisoformat(day).date())
    client = TestClient(create_app(engine, guard=_person))
    data = client.get(f"/pages/hotspots?district={WUCHANG}&day={day}", headers=JSON).json()
    assert data == shown(engine, day=datetime.fromisoformat(day).date(), scope=WUCHANG).as_dict()
    assert (data["top"][0]["term"], data["top"][0]["cases"], data["cases"]) == ("渍水", 4, 4)
    assert data["rising"][0]["term"] == "渍水"


def test_a_bad_district_or_day_is_refused_by_name(filled: tuple[Engine, str]) -> None:
    engine, _ = filled
    client = TestClient(create_app(engine, guard=_person))
    unknown = client.get("/pages/hotspots?district=420199", headers=JSON)
    assert unknown.status_code == 404 and "420199" in unknown.json()["detail"]
    for query in ("district=jiangan", "day=2026-13-01", "day=0", "period=month"):
        refused = client.get(f"/pages/hotspots?{query}", headers=JSON)
        assert refused.status_code == 422, query
        assert query.split("=")[0] in refused.text


def test_nobody_gets_in_without_the_guard(filled: tuple[Engine, str]) -> None:
    engine, day = filled
    hotspots_daily(engine, datetime.fromisoformat(day).date())
    for app, status in ((create_app(engine), 403), (create_app(engine, guard=_person), 401)):
        client = TestClient(app)
        for accept in ("application/json", "text/html"):
            refused = client.get("/pages/hotspots", headers={"Accept": accept})
            assert refused.status_code == status
            assert "井盖" not in refused.text

"""The pages for people in a real Airflow UI, driven by headless Chromium.

A real Airflow API server, shaped as `make up` starts it (the environment of
`casehub.demo.airflow_environment`, the plugin loaded, SimpleAuthManager with users and a
password file), over a store the real pipeline filled: five days of the simulators' hotline,
message board and urban management records, each day's pages ingested on that day. A person
logs in through Airflow's login page and opens each page from the Browse menu; the test reads
what the page shows against the store. Screenshots go to `var/screenshots/`.

Chromium and its driver are Debian's (`make test` installs them when missing, as `make browser`);
without them the module skips and says so, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from casehub.crypto import KeyRing
from casehub.demo import airflow_environment
from casehub.gateway.data_docs import site
from casehub.partners import load_connector, load_partners
from casehub.pipeline import Pipeline
from casehub.quality_summary import CITY_TIME, summarize
from casehub.quarantine_view import entries, listing
from casehub.stats import collect
from casehub.store import connect, migrate
from simulators.generator import generate
from simulators.records import Options

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
CHANNELS = ("hotline", "message_board", "urban_mgmt")
DAYS = 5
USERS = {"admin": "admin-pages-test", "viewer": "viewer-pages-test"}
START_SECONDS = 90.0

pytestmark = [
    pytest.mark.slow,
    # In CI a missing browser fails the module instead: `make test` installs it there.
    pytest.mark.skipif(
        (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"),
        reason="needs Debian's chromium and chromium-driver (make browser installs them)",
    ),
]


@dataclass
class Hub:
    url: str
    engine: Engine
    keyring: KeyRing
    var: Path
    """The hub's CASEHUB_HOME: the Data Docs site is built under it."""

    @property
    def data_docs(self) -> Path:
        return self.var / "quality" / "data_docs"


def _day_clock(day: datetime) -> Any:
    return lambda: day


def _fill(engine: Engine, keyring: KeyRing) -> None:
    """Each channel's generated records ingested day by day, each page at the end of its day."""
    specs = {p.code: p for p in load_partners()}
    anchor = datetime.now(CITY_TIME).replace(hour=0, minute=0, second=0, microsecond=0)
    for code in CHANNELS:
        records = generate(code, Options(seed=8, records=90, defect_rate=0.2, days=DAYS, anchor=anchor))
        by_day: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            for version in record.versions:
                moment = datetime.fromtimestamp(version.updated_ms / 1000, CITY_TIME)
                by_day[moment.replace(hour=23, minute=59, second=0, microsecond=0)].append(
                    dict(version.payload)
                )
        mapper = load_connector(specs[code]).MAPPER
        for end_of_day, payloads in sorted(by_day.items()):
            Pipeline(engine, mapper, keyring, clock=_day_clock(end_of_day)).ingest(payloads)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the API server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/api/v2/monitor/health", timeout=2).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # starting, or slow on a loaded machine
            pass
        time.sleep(0.2)
    pytest.fail(f"the API server did not answer in {START_SECONDS:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    base = tmp_path_factory.mktemp("pages")
    keyring = KeyRing.generate()
    ring_file = base / "keyring.json"
    ring_file.write_text(keyring.to_json(), encoding="utf-8")
    db_url = f"sqlite:///{base / 'casehub.db'}"
    engine = connect(db_url)
    migrate(engine)
    _fill(engine, keyring)
    home = base / "airflow"
    home.mkdir()
    passwords = home / "simple_auth_manager_passwords.json.generated"
    passwords.write_text(json.dumps(USERS), encoding="utf-8")
    env = {
        **{
            k: v for k, v in airflow_environment(home, connections={}).items() if not k.startswith("CASEHUB_")
        },
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "pages-test-jwt-secret",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "CASEHUB_DB_URL": db_url,
        "CASEHUB_KEYRING_FILE": str(ring_file),
        "CASEHUB_HOME": str(base / "var"),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    log = base / "api-server.log"
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield Hub(url, engine, keyring, base / "var")
    finally:
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Any, seconds: float = 30.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(condition)


def _log_in(driver: Any, hub: Hub, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{hub.url}/")
    _wait(driver, lambda d: d.find_elements(By.NAME, "username"))[0].send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(USERS[user])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver, lambda d: "/auth/login" not in d.current_url and d.get_cookie("_token"))


def _open_from_menu(driver: Any, hub: Hub, name: str) -> None:
    """Browse → `name` in the Airflow UI's navigation, then into the frame that shows the page."""
    from selenium.webdriver.common.by import By

    driver.switch_to.default_content()
    driver.get(f"{hub.url}/")
    _wait(driver, lambda d: d.find_elements(By.XPATH, "//*[normalize-space(text())='Browse']"))[0].click()
    item = _wait(driver, lambda d: d.find_elements(By.XPATH, f"//*[normalize-space(text())='{name}']"))[0]
    item.click()
    frame = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"))[0]
    driver.switch_to.frame(frame)
    _wait(driver, lambda d: d.find_elements(By.TAG_NAME, "h1") or d.find_elements(By.TAG_NAME, "body"))


def _texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def _card(driver: Any, label: str) -> str:
    from selenium.webdriver.common.by import By

    for card in driver.find_elements(By.CSS_SELECTOR, ".card"):
        if card.find_element(By.CSS_SELECTOR, ".muted").text == label:
            return str(card.find_element(By.CSS_SELECTOR, ".v").text)
    raise AssertionError(f"no card {label!r}")


def _ticks(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "svg text.tick")]


def _overlapping_ticks(driver: Any) -> list[list[str]]:
    """Pairs of neighbouring axis labels whose boxes, as the browser lays them out, overlap."""
    found: list[list[str]] = driver.execute_script(
        """
        const found = [];
        for (const svg of document.querySelectorAll("svg")) {
          const ticks = [...svg.querySelectorAll("text.tick")]
            .map(t => [t.textContent, t.getBoundingClientRect()]);
          for (let i = 1; i < ticks.length; i++) {
            if (ticks[i][1].left < ticks[i - 1][1].right) found.push([ticks[i - 1][0], ticks[i][0]]);
          }
        }
        return found;
        """
    )
    return found


def _pdf_ticks(pdf: Path) -> list[tuple[str, float, float]]:
    """The daily chart's day labels on the PDF's first page, left to right: text and its box's
    left and right edge as poppler lays the page out."""
    page = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(\d\d-\d\d)</word>', page
    )
    return sorted((text, float(x0), float(x1)) for x0, _, x1, text in words)


def _shot(driver: Any, name: str) -> None:
    assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_a_person_logs_in_and_reads_each_page_from_the_menu(
    hub: Hub, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _log_in(browser, hub, "admin")

    _open_from_menu(browser, hub, "casehub: store stats")
    stats = collect(hub.engine)
    raw = stats["raw_by_outcome"]
    assert browser.find_element(By.TAG_NAME, "h1").text == "Store stats"
    line = browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert line == (
        f"raw records {stats['raw']:,} = accepted {raw['accepted']:,} + quarantined {raw['quarantined']:,}"
        f" + superseded {raw['superseded']:,}: reconciled"
    )
    assert _card(browser, "cases") == f"{stats['cases']['total']:,}"
    assert _card(browser, "open quarantine") == f"{stats['quarantined']['total']:,}"
    shown = {row.split(" ")[0]: row.split(" ")[1] for row in _texts(browser, "table.channels tbody tr")}
    assert shown == {channel: f"{n:,}" for channel, n in stats["cases"]["by_channel"].items()}
    assert set(shown) == set(CHANNELS)
    _shot(browser, "store-stats")

    _open_from_menu(browser, hub, "casehub: quality")
    summary = summarize(hub.engine)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Data quality"
    assert _card(browser, "validations") == f"{summary.validations:,}"
    assert summary.validations > 0, "the pipeline stores every page's validation"
    assert _card(browser, "rows breaking a rule") == f"{sum(c.unexpected for c in summary.channel_days):,}"
    assert browser.find_elements(By.CSS_SELECTOR, "svg polyline"), "the trend chart"
    top = [row.split(" ")[0] for row in _texts(browser, "table.top tbody tr")]
    assert top == [r.rule for r in summary.top]
    assert top, "the simulators' defects break rules"
    days = _texts(browser, "table.days tbody tr")
    assert len(days) == len(summary.channel_days)
    assert len({c.day for c in summary.channel_days}) >= 3, "pages ingested on several days"
    _shot(browser, "quality")
    kept_out = [row.split(" ")[:2] for row in _texts(browser, "table.kept-out tbody tr")]
    assert kept_out == [[reason, f"{n:,}"] for reason, n, _ in summary.quarantined_by_reason()]
    assert kept_out, "the simulators' defects quarantine records"
    browser.execute_script("document.querySelector('table.kept-out').scrollIntoView(false)")
    _shot(browser, "quality-per-day")
    Select(browser.find_element(By.NAME, "channel")).select_by_value("urban_mgmt")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait(browser, lambda d: "channel=urban_mgmt" in d.current_url)
    one = summarize(hub.engine, channel="urban_mgmt")
    assert [row.split(" ")[0] for row in _texts(browser, "table.top tbody tr")] == [r.rule for r in one.top]
    assert {row.split(" ")[1] for row in _texts(browser, "table.days tbody tr")} == {"urban_mgmt"}

    _open_from_menu(browser, hub, "casehub: quarantine")
    everything = listing(hub.engine)
    assert browser.find_element(By.CSS_SELECTOR, "b.matched").text == f"{everything.matched:,}"
    reason = next(iter(everything.reasons))
    Select(browser.find_element(By.NAME, "channel")).select_by_value("hotline")
    Select(browser.find_element(By.NAME, "reason")).select_by_value(reason)
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait(browser, lambda d: f"reason={reason}" in d.current_url)
    chosen = listing(hub.engine, channel="hotline", reason=reason)
    assert browser.find_element(By.CSS_SELECTOR, "b.matched").text == f"{chosen.matched:,}"
    rows = _texts(browser, "table.entries tbody tr")
    assert len(rows) == len(chosen.entries) > 0
    first = chosen.entries[0]
    assert rows[0].startswith(f"{first.id} hotline {first.source_id} ")
    assert first.source_updated_at is not None
    assert f"{first.source_updated_at.astimezone(CITY_TIME):%Y-%m-%d %H:%M:%S}" in rows[0], "in city time"
    assert all(reason in row for row in rows)
    _shot(browser, "quarantine")

    browser.find_elements(By.CSS_SELECTOR, "table.entries tbody tr button")[0].click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.totals"))
    now = entries(hub.engine, [first.id])[first.id]
    assert now.attempts == first.attempts + 1
    assert now.history and now.history[-1]["action"] == "replay"
    totals = _texts(browser, "table.totals tbody tr")
    assert totals == [
        f"hotline 1 {int(now.state == 'resolved')} {int(now.state == 'superseded')} "
        f"{int(now.state == 'open')}"
    ]
    entry_row = _texts(browser, "table.entries tbody tr")[0]
    outcome = str(now.history[-1]["outcome"]).replace("_", " ")
    assert entry_row.startswith(f"{first.id} hotline {first.source_id} {now.state} {outcome}")
    _shot(browser, "quarantine-replayed")

    _open_from_menu(browser, hub, "casehub: Data Docs")
    assert "The Data Docs are not built yet." in browser.find_element(By.CSS_SELECTOR, ".notice").text
    assert "quality_daily" in browser.find_element(By.CSS_SELECTOR, ".notice").text
    _shot(browser, "data-docs-not-built")
    days_validated = _quality_daily(hub, monkeypatch)
    _open_from_menu(browser, hub, "casehub: Data Docs")
    built = site(hub.data_docs)
    assert built is not None
    assert _card(browser, "validation results") == f"{len(built.results):,}" and built.results
    results = _texts(browser, "table.results tbody tr")
    assert len(results) == len(built.results)
    assert results[0].startswith(f"{built.results[0].run_time.astimezone(CITY_TIME):%Y-%m-%d %H:%M:%S}")
    suites = [row.split(" ")[0] for row in _texts(browser, "table.suites tbody tr")]
    assert suites == [name for name, _ in built.suites] and "case" in suites
    _shot(browser, "data-docs")
    listed = requests.get(
        f"{hub.url}/casehub/pages/data-docs/",
        headers={"Authorization": f"Bearer {_token(hub, 'admin')}"},
        timeout=10,
    ).json()
    assert listed["built"] is True
    assert [v["page"] for v in listed["validations"]] == [r.path for r in built.results]
    case_row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "table.results tbody tr") if " case " in r.text
    )
    case_row.find_element(By.LINK_TEXT, "open").click()
    _wait(browser, lambda d: "Expectation Validation Result" in d.find_element(By.TAG_NAME, "body").text)
    assert "Expectation Suite: case" in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, "data-docs-validation")
    browser.find_element(By.LINK_TEXT, "← casehub · Data Docs").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.results"))

    # The day quality_daily validated is now read from its trend.
    _open_from_menu(browser, hub, "casehub: quality")
    after = summarize(hub.engine)
    daily = [c for c in after.channel_days if c.source == "daily"]
    assert {c.day for c in daily} == days_validated
    shown = {tuple(row.split(" ")[:2]): row for row in _texts(browser, "table.days tbody tr")}
    for c in daily:
        assert f" {c.unexpected:,} daily" in shown[(c.day, c.channel)]


def _quality_daily(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Yesterday validated as the `quality_daily` DAG does, its Data Docs built under the hub's home."""
    from casehub.errors import DataQualityError
    from casehub.quality import QualityContext
    from casehub.quality.daily import validate_day

    monkeypatch.setenv("CASEHUB_HOME", str(hub.var))
    yesterday = (datetime.now(CITY_TIME) - timedelta(days=1)).date()
    # A broken table-level rule fails the DAG run once everything is recorded: so it does here.
    with contextlib.suppress(DataQualityError):
        validate_day(hub.engine, hub.keyring, yesterday, quality=QualityContext())
    return {yesterday.isoformat()}


def _token(hub: Hub, user: str) -> str:
    answer = requests.post(
        f"{hub.url}/auth/token", json={"username": user, "password": USERS[user]}, timeout=10
    )
    assert answer.status_code == 201
    return str(answer.json()["access_token"])


def test_an_anonymous_request_gets_401_and_nothing_of_the_store(hub: Hub) -> None:
    for path in (
        "stats",
        "quality",
        "quarantine",
        "data-docs/",
        "data-docs/index.html",
        "reports",
        "hotspots",
    ):
        for accept in ("application/json", "text/html"):
            answer = requests.get(f"{hub.url}/casehub/pages/{path}", headers={"Accept": accept}, timeout=10)
            assert answer.status_code == 401, path
            for secret in ("hotline", "message_board", "urban_mgmt", "invalid", "unknown_", "raw records"):
                assert secret not in answer.text, (path, secret)
    forged = requests.get(
        f"{hub.url}/casehub/pages/stats", headers={"Authorization": "Bearer not-a-token"}, timeout=10
    )
    assert forged.status_code == 401
    assert (
        requests.post(f"{hub.url}/casehub/pages/quarantine/replay", data={"all": "1"}, timeout=10).status_code
        == 401
    )


def test_an_api_client_gets_json_with_an_airflow_token(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {_token(hub, 'admin')}"}
    stats = requests.get(f"{hub.url}/casehub/pages/stats", headers=headers, timeout=10)
    assert stats.headers["content-type"] == "application/json"
    assert stats.json()["raw"] == collect(hub.engine)["raw"]
    assert stats.json()["reconciled"] is True
    quality = requests.get(
        f"{hub.url}/casehub/pages/quality?channel=message_board", headers=headers, timeout=10
    )
    assert quality.json()["top_failing_rules"] == [
        r.as_dict() for r in summarize(hub.engine, channel="message_board").top
    ]
    open_now = listing(hub.engine, channel="urban_mgmt")
    quarantine = requests.get(
        f"{hub.url}/casehub/pages/quarantine?channel=urban_mgmt", headers=headers, timeout=10
    )
    assert quarantine.json()["matched"] == open_now.matched
    assert quarantine.json()["may_replay"] is True
    # A replay of a filtered set, as a tool sends it: no form token needed with a header token.
    replayed = requests.post(
        f"{hub.url}/casehub/pages/quarantine/replay",
        json={"channel": "urban_mgmt", "all": True},
        headers=headers,
        timeout=60,
    )
    assert replayed.status_code == 200
    body = replayed.json()
    assert body["requested"] == open_now.matched
    assert body["totals"]["urban_mgmt"]["replayed"] == open_now.matched
    assert {e["id"] for e in body["entries"]} == {e.id for e in open_now.entries}
    assert all(e["history"][-1]["action"] == "replay" for e in body["entries"])


def test_the_data_docs_never_serve_a_file_outside_the_site(hub: Hub) -> None:
    headers = {"Authorization": f"Bearer {_token(hub, 'admin')}"}
    hub.data_docs.mkdir(parents=True, exist_ok=True)
    secret = hub.data_docs.parent / "outside.txt"
    secret.write_text("not for the pages", encoding="utf-8")
    for path in ("..%2Foutside.txt", "%2E%2E/outside.txt", "static/..%2F..%2Foutside.txt", "%2Fetc%2Fpasswd"):
        answer = requests.get(f"{hub.url}/casehub/pages/data-docs/{path}", headers=headers, timeout=10)
        assert answer.status_code == 404, path
        assert "not for the pages" not in answer.text


def test_a_browser_form_needs_its_session_token_and_a_viewer_may_not_replay(hub: Hub, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _log_in(browser, hub, "viewer")
    _open_from_menu(browser, hub, "casehub: quarantine")
    assert browser.find_element(By.CSS_SELECTOR, "b.matched").text == f"{listing(hub.engine).matched:,}"
    assert not browser.find_elements(By.CSS_SELECTOR, "table.entries button"), (
        "a viewer gets no replay button"
    )
    assert browser.find_element(By.CSS_SELECTOR, "header .who").text == "viewer"
    _shot(browser, "quarantine-viewer")
    cookie = {"_token": browser.get_cookie("_token")["value"]}
    url = f"{hub.url}/casehub/pages/quarantine/replay"
    entry = listing(hub.engine).entries[0].id
    as_viewer = requests.post(url, data={"id": entry}, cookies=cookie, timeout=10)
    assert as_viewer.status_code == 403

    _log_in(browser, hub, "admin")
    _open_from_menu(browser, hub, "casehub: quarantine")
    token = browser.find_element(By.CSS_SELECTOR, "input[name=token]").get_attribute("value")
    cookie = {"_token": browser.get_cookie("_token")["value"]}
    for forged in (
        {"data": {"id": entry}},
        {"data": {"id": entry, "token": "0" * 64}},
        {"data": {"id": entry, "token": token}, "headers": {"Origin": "http://127.0.0.1:8101"}},
    ):
        answer = requests.post(url, cookies=cookie, timeout=10, **forged)  # type: ignore[arg-type]
        assert answer.status_code == 403, forged
        assert "totals" not in answer.text
    accepted = requests.post(
        url,
        data={"id": entry, "token": token},
        cookies=cookie,
        headers={"Origin": hub.url, "Accept": "application/json"},
        timeout=60,
    )
    assert accepted.status_code == 200
    assert accepted.json()["entries"][0]["id"] == entry


def test_a_person_reads_the_efficiency_reports_and_their_pdf(hub: Hub, browser: Any) -> None:
    """The month's reports written as `report_monthly` writes them (after supervision), read from
    the Browse menu: the city overview ranking the districts, a district's report with its units;
    the PDF turned into PNG pages, whose text holds the tables."""
    from selenium.webdriver.common.by import By

    from casehub import reports, supervision
    from casehub.reports.period import month_of

    if shutil.which("pdftoppm") is None and not os.environ.get("CI"):
        pytest.skip("needs poppler-utils' pdftoppm (make pdf installs it)")
    supervision.supervise(hub.engine, hub.keyring)
    period = month_of((datetime.now(CITY_TIME) - timedelta(days=2)).date())
    summary = reports.build(hub.engine, period, hub.var / "reports")
    assert summary["reports"] == 14 and summary["received"] > 0
    folder = hub.var / "reports" / "monthly" / period.name
    city = json.loads((folder / "city.json").read_text(encoding="utf-8"))

    _log_in(browser, hub, "admin")
    _open_from_menu(browser, hub, "casehub: reports")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Efficiency reports"
    listed = _texts(browser, "table.monthly tbody tr")
    assert listed and listed[0].startswith(period.name)
    browser.find_element(By.CSS_SELECTOR, "table.monthly tbody tr a").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.districts"))
    assert browser.find_element(By.TAG_NAME, "h1").text == city["title"]
    assert _card(browser, "受理 received") == f"{city['summary']['received']:,}"
    assert _card(browser, "应结案 due") == f"{city['summary']['due']:,}"
    ranked = _texts(browser, "table.districts tbody tr")
    assert len(ranked) == 13
    for row, district in zip(ranked, city["districts"], strict=True):
        assert row.startswith(
            f"{district['rank']} {district['name']} {district['code']} {district['received']:,}"
        )
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg rect.bar")) == 13, "the ranking chart"
    assert browser.find_elements(By.CSS_SELECTOR, "svg polyline"), "received per day"
    ticks = _ticks(browser)
    assert ticks[0] == f"{period.first:%m-%d}" and ticks[-1] == f"{period.last:%m-%d}", ticks
    assert _overlapping_ticks(browser) == [], "the day labels stand clear of each other"
    _shot(browser, "reports-city")

    busiest = max(city["districts"], key=lambda d: (d["received"], d["code"]))
    browser.find_element(By.LINK_TEXT, busiest["code"]).click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.units"))
    district = json.loads((folder / f"{busiest['code']}.json").read_text(encoding="utf-8"))
    assert browser.find_element(By.TAG_NAME, "h1").text == district["title"]
    assert _card(browser, "受理 received") == f"{busiest['received']:,}"
    units = _texts(browser, "table.units tbody tr")
    assert len(units) == len(district["units"]) > 0
    assert units[0].startswith(district["units"][0]["name"])
    assert [r.split(" ")[-1] for r in _texts(browser, "table.categories tbody tr")] == [
        f"{c['cases']:,}" for c in district["top_categories"]
    ]
    _shot(browser, "reports-district")

    headers = {"Authorization": f"Bearer {_token(hub, 'admin')}"}
    answer = requests.get(
        f"{hub.url}/casehub/pages/reports/monthly/{period.name}/city/pdf", headers=headers, timeout=30
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content == (folder / "city.pdf").read_bytes()
    pdf = SCREENSHOTS / "report-city.pdf"
    pdf.write_bytes(answer.content)
    for old in SCREENSHOTS.glob("report-city-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(SCREENSHOTS / "report-city")], check=True)
    pages = sorted(SCREENSHOTS.glob("report-city-*.png"))
    assert len(pages) >= 2
    from PIL import Image

    with Image.open(pages[0]) as first:
        inked = sum(first.convert("L").histogram()[:128])
    assert inked > 2_000, "the first page shows its title, cards and chart"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert city["title"] in text and "各区效能 districts" in text
    days = _pdf_ticks(pdf)
    assert days[0][0] == f"{period.first:%m-%d}" and days[-1][0] == f"{period.last:%m-%d}", days
    assert all(left[2] < right[1] for left, right in itertools.pairwise(days)), f"overlapping: {days}"
    for district_row in city["districts"]:
        line = next(
            line
            for line in text.splitlines()
            if district_row["name"] in line and "区" in line and line.strip()[0].isdigit()
        )
        assert line.split()[:2] == [str(district_row["rank"]), district_row["name"]]
        assert f"{district_row['received']:,}" in line.split()


def test_a_person_reads_the_hotspots_of_the_city_and_of_a_district(hub: Hub, browser: Any) -> None:
    """Yesterday computed as `hotspots_daily` computes it, read from the Browse menu: the city's
    top terms with their chart and the rising ones, then the busiest district's week."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from casehub.hotspots import CITY, hotspots_daily, shown

    yesterday = (datetime.now(CITY_TIME) - timedelta(days=1)).date()
    summary = hotspots_daily(hub.engine, yesterday)
    assert summary["cases"] > 0 and summary["rows"] > 0
    city = shown(hub.engine, day=yesterday, scope=CITY)
    assert city.top, "the simulators' cases name terms"

    _log_in(browser, hub, "admin")
    _open_from_menu(browser, hub, "casehub: hotspots")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hotspots"
    assert _card(browser, "cases") == f"{city.scope_cases:,}"
    top = [row.split(" ")[:3] for row in _texts(browser, "table.top tbody tr")]
    assert top == [[str(t.rank), t.term, f"{t.cases:,}"] for t in city.top]
    bars = browser.find_elements(By.CSS_SELECTOR, "svg rect.bar")
    assert len(bars) == min(12, len(city.top))
    assert bars[0].size["width"] >= bars[-1].size["width"] > 0
    rising = [row.split(" ")[1] for row in _texts(browser, "table.rising tbody tr")]
    assert rising == [t.term for t in city.rising]
    _shot(browser, "hotspots-city")

    busiest = max(
        (scope for scope in city.scopes if scope != CITY),
        key=lambda scope: (shown(hub.engine, day=yesterday, period="week", scope=scope).scope_cases, scope),
    )
    Select(browser.find_element(By.NAME, "district")).select_by_value(busiest)
    Select(browser.find_element(By.NAME, "period")).select_by_value("week")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait(browser, lambda d: f"district={busiest}" in d.current_url and "period=week" in d.current_url)
    week = shown(hub.engine, day=yesterday, period="week", scope=busiest)
    assert _card(browser, "cases") == f"{week.scope_cases:,}"
    shown_top = [row.split(" ")[1] for row in _texts(browser, "table.top tbody tr")]
    assert shown_top == [t.term for t in week.top] and shown_top
    _shot(browser, "hotspots-district-week")

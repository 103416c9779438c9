"""Hotspots on each backend: hotline work orders ingested through the pipeline, a day computed
as `hotspots_daily` and `casehub hotspots` compute it — the known terms of the fixture on top
and rising, the rows of a day replaced whole on a rerun, a case that changes after the run
counted by the next one — and the command's usage errors one line and exit status 2."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from casehub.cli import main
from casehub.crypto import KeyRing
from casehub.hotspots import CITY, shown
from casehub.jobs import hotspots_daily
from casehub.pipeline import Pipeline
from casehub.store.models import Hotspot
from connectors.hotline import MAPPER
from tests.dags.test_hotspots_dag import JIANGAN, SHANGHAI, WATERLOGGING, WUCHANG, _orders
from tests.unit.test_hotspots import PHONES, TODAY, YESTERDAY


@pytest.fixture
def filled(engine: Engine, keyring: KeyRing) -> tuple[Engine, KeyRing, date]:
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    orders = [
        *_orders(YESTERDAY, "江岸区", before, "1"),
        *_orders(TODAY, "江岸区", yesterday, "2"),
        *_orders(WATERLOGGING, "武昌区", yesterday, "3"),
    ]
    assert Pipeline(engine, MAPPER, keyring).ingest(orders).accepted == len(orders)
    return engine, keyring, yesterday.date()


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(Hotspot).order_by(Hotspot.day, Hotspot.period, Hotspot.scope, Hotspot.term)
        )
        return [tuple(v for k, v in r._mapping.items() if k != "computed_at") for r in found]


def test_a_day_ranks_each_districts_terms_and_a_rerun_replaces_it(
    filled: tuple[Engine, KeyRing, date],
) -> None:
    engine, keyring, day = filled
    summary = hotspots_daily(engine, day)
    assert summary["day"] == day.isoformat() and summary["cases"] == len(TODAY) + len(WATERLOGGING)
    assert summary["districts"] == 2 and summary["top"][:2] == ["井盖", "噪音"]
    jiangan = shown(engine, day=day, scope=JIANGAN)
    assert [(t.term, t.cases) for t in jiangan.top[:2]] == [("井盖", 6), ("噪音", 5)]
    assert jiangan.rising[0].term == "停车"
    written = _rows(engine)
    assert summary["rows"] == len(written)
    assert not {r[3] for r in written} & set(PHONES)
    assert hotspots_daily(engine, day) == summary
    assert _rows(engine) == written

    # A late report of the day: the rerun counts it, and the day's other rows stay whole.
    [late] = _orders(
        [("又一个井盖坏了", "江边路口井盖翘起来了，车一压就响。")],
        "江岸区",
        datetime.combine(day, datetime.min.time(), SHANGHAI),
        "4",
    )
    assert Pipeline(engine, MAPPER, keyring).ingest([late]).accepted == 1
    hotspots_daily(engine, day)
    again = shown(engine, day=day, scope=JIANGAN)
    assert (again.top[0].term, again.top[0].cases, again.scope_cases) == ("井盖", 7, len(TODAY) + 1)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count(func.distinct(Hotspot.day)))) == 1


def test_the_command_computes_a_day_and_shows_a_district(
    filled: tuple[Engine, KeyRing, date], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, _, day = filled
    monkeypatch.setenv("CASEHUB_DB_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["hotspots", "--day", day.isoformat(), "--district", WUCHANG, "--json"]) == 0
    shown_json = json.loads(capsys.readouterr().out)
    assert shown_json["computed"]["day"] == day.isoformat()
    assert (shown_json["scope"], shown_json["top"][0]["term"], shown_json["top"][0]["cases"]) == (
        WUCHANG,
        "渍水",
        4,
    )
    assert main(["hotspots", "--day", day.isoformat(), "--period", "week"]) == 0
    out = capsys.readouterr().out
    assert (
        out.splitlines()[0]
        == f"武汉市 week {day}: {len(TODAY) + len(YESTERDAY) + len(WATERLOGGING)} cases (0 the period before)"
    )
    assert "井盖" in out and "top terms" in out and "rising terms" in out
    assert shown(engine, day=day, period="week", scope=CITY).top[0].term == "井盖"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--day", "2026-13-01"], "--day '2026-13-01': not a day (YYYY-MM-DD)"),
        (["--day", "2026-11-30", "--district", "420199"], "--district '420199': not one of the city's 13"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    filled: tuple[Engine, KeyRing, date],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    said: str,
) -> None:
    engine, _, _ = filled
    monkeypatch.setenv("CASEHUB_DB_URL", engine.url.render_as_string(hide_password=False))
    assert main(["hotspots", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and said in captured.err
    assert _rows(engine) == [], "nothing computed"

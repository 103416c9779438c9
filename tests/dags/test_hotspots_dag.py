"""`hotspots_daily`: documented, owned and retried like every DAG, and run with `dag.test()` on
hotline work orders ingested through the pipeline it writes each district's top and rising
terms — the fixture of `tests/unit/test_hotspots.py` in 江岸区, waterlogging (渍水) in 武昌区 —
and a rerun of the day gives the same rows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.unit.test_hotspots import PHONES, TODAY, YESTERDAY

SHANGHAI = ZoneInfo("Asia/Shanghai")
JIANGAN, WUCHANG, CITY = "420102", "420106", "420100"
WATERLOGGING = [
    ("武珞路渍水", "一下雨武珞路口就渍水，积到膝盖，车子熄火。"),
    ("小区门口渍水", "大门口渍水三天没退，进出只能蹚水，电话13912345678。"),
    ("地下通道渍水", "中南路地下通道渍水严重，行人没法通行。"),
    ("学校旁渍水", "学校旁边的路渍水，学生上学鞋子全湿了。"),
]


def test_the_dag_is_documented_owned_and_retried(dagbag: Any) -> None:
    dag = dagbag.get_dag("hotspots_daily")
    assert {"casehub", "hotspots"} <= set(dag.tags) and dag.max_active_runs == 1 and dag.catchup is False
    assert "docs/hotspots.md" in dag.doc_md and "schemas/reference/hotspots/" in dag.doc_md
    task = dag.get_task("hotspots")
    assert task.owner == "casehub-data" and task.retries >= 3 and task.retry_policy is not None
    assert [a.uri for a in task.inlets] == ["x-casehub://store/cases"]
    assert [a.uri for a in task.outlets] == ["x-casehub://store/hotspots"]
    assert dag.params["day"] is None
    schedule = dag.timetable.serialize()
    assert (schedule["expression"], schedule["timezone"]) == ("45 0 * * *", "Asia/Shanghai")


def _orders(cases: list[tuple[str, str]], district: str, day: datetime, prefix: str) -> list[dict[str, str]]:
    from tests.samples import work_order

    orders = []
    for i, (title, content) in enumerate(cases):
        at = (day + timedelta(hours=9, minutes=7 * i)).strftime("%Y-%m-%d %H:%M:%S")
        orders.append(
            work_order(
                GDBH=f"WH{prefix}{i:06d}",
                LDSJ=at,
                GXSJ=at,
                BT=title,
                SQNR=content,
                SSQX=district,
                FSDZ=f"{district}某路{i + 1}号",
                LDHM=f"+86 139 {i:04d} 5678",
            )
        )
    return orders


@pytest.mark.slow
def test_the_dag_writes_each_districts_top_and_rising_terms(
    dagbag: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    from sqlalchemy import select

    from casehub.crypto import KeyRing
    from casehub.hotspots import shown
    from casehub.pipeline import Pipeline
    from casehub.store import connect, migrate
    from casehub.store.models import Hotspot
    from connectors import hotline

    db_url = f"sqlite:///{tmp_path / 'casehub.db'}"
    ring = KeyRing.generate()
    monkeypatch.setenv("CASEHUB_DB_URL", db_url)
    monkeypatch.setenv("CASEHUB_KEYRING", ring.to_json())
    monkeypatch.setenv("CASEHUB_HOME", str(tmp_path / "var"))
    engine = connect(db_url)
    migrate(engine)
    today = datetime.now(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    orders = [
        *_orders(YESTERDAY, "江岸区", before, "1"),
        *_orders(TODAY, "江岸区", yesterday, "2"),
        *_orders(WATERLOGGING, "武昌区", yesterday, "3"),
    ]
    page = Pipeline(engine, hotline.MAPPER, ring).ingest(orders)
    assert page.accepted == len(orders)

    dag = dagbag.get_dag("hotspots_daily")
    assert dag.test().state == "success", "no day given: the day before the run"
    day = yesterday.date()
    jiangan = shown(engine, day=day, period="day", scope=JIANGAN)
    assert [(t.term, t.cases, t.previous_cases) for t in jiangan.top[:2]] == [("井盖", 6, 5), ("噪音", 5, 5)]
    assert jiangan.scope_cases == len(TODAY) and jiangan.previous_scope_cases == len(YESTERDAY)
    assert [t.term for t in jiangan.rising][:1] == ["停车"]
    assert "井盖" not in {t.term for t in jiangan.rising}
    wuchang = shown(engine, day=day, period="day", scope=WUCHANG)
    assert (wuchang.top[0].term, wuchang.top[0].cases) == ("渍水", 4)
    assert wuchang.rising[0].term == "渍水", "nothing the day before: new"
    assert "井盖" not in {t.term for t in wuchang.top}
    city = shown(engine, day=day, period="day", scope=CITY)
    assert city.scope_cases == len(TODAY) + len(WATERLOGGING)
    assert [t.term for t in city.top[:2]] == ["井盖", "噪音"]
    assert {(t.term, t.cases) for t in city.top[2:4]} == {("停车", 4), ("渍水", 4)}
    week = shown(engine, day=day, period="week", scope=JIANGAN)
    assert (week.top[0].term, week.top[0].cases) == ("井盖", 11)
    assert week.scope_cases == len(TODAY) + len(YESTERDAY) and week.previous_scope_cases == 0
    assert set(jiangan.scopes) == {JIANGAN, WUCHANG, CITY} and jiangan.days == (day.isoformat(),)

    def rows() -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            found = conn.execute(select(Hotspot).order_by(Hotspot.period, Hotspot.scope, Hotspot.term))
            return [tuple(v for k, v in r._mapping.items() if k != "computed_at") for r in found]

    written = rows()
    terms = {r[3] for r in written}
    assert not [t for t in terms if re.search(r"[0-9*]", t)] and not terms & set(PHONES)
    assert dag.test(run_conf={"day": day.isoformat()}).state == "success"
    assert rows() == written, "a rerun of the day replaces its rows with the same"
    assert dag.test(run_conf={"day": before.date().isoformat()}).state == "success"
    earlier = shown(engine, day=before.date(), period="day", scope=JIANGAN)
    assert earlier.top[0].term == "井盖" and earlier.previous_scope_cases == 0
    assert shown(engine, day=day, period="day", scope=JIANGAN).top == jiangan.top, "another day kept"

"""The efficiency report's figures against hand-computed values, on SQLite and PostgreSQL.

A small October 2026 is played through the real pipeline, the standard interface and
supervision on a clock the test moves: community app reports (求助, grade A, three working days)
in 江汉区 (团结里社区) and one in 江岸区. Among them a case received on 30 September whose
deadline runs through the National Day holiday (1–7 October) to the adjusted working Saturday,
10 October; a case closed late; a case postponed three working days and closed in time thanks
to it; a case returned by the district; a case left open and supervised; a case withdrawn; a
case due in November. The hotspots table gets rows placed by hand (`HOTSPOTS`), as
`hotspots_daily` would have written them. Every figure of docs/reports.md is checked, then the
files: a rerun gives the same files apart from the generation time, and a late-arriving case is
picked up.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from casehub import reports, supervision, workflow
from casehub.crypto import KeyRing
from casehub.districts import DistrictService
from casehub.normalize import SHANGHAI
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.reports import Period
from tests.samples import report

JIANGHAN, JIANGAN = "420103", "420102"
COMMUNITY = "community.420103002002"
TOPICS = {
    "A": ("独居老人需要助餐服务", "赵"),
    "B": ("楼道灯长期不亮", "钱"),
    "C": ("小区电梯频繁故障", "孙"),
    "D": ("二次供水水箱需清洗", "李"),
    "E": ("垃圾分类投放点异味", "周"),
    "F": ("健身器材损坏", "吴"),
    "G": ("楼顶违建搭棚", "郑"),
    "H": ("夜间施工噪声", "王"),
    "I": ("门前道路积水", "冯"),
    "J": ("小区门口垃圾堆积未清运", "陈"),
}
"""One topic and reporter per case, so that none is taken for another's duplicate (判重)."""
OCTOBER = Period.parse("monthly", "2026-10")
WEEK_42 = Period.parse("weekly", "2026-W42")  # Monday 12 to Sunday 18 October
CITY_SCOPE = "420100"
HOTSPOTS = (
    # day, period, scope, term, rank, rising rank, cases
    ("2026-10-12", "day", JIANGHAN, "电梯", 2, None, 3),
    ("2026-10-12", "day", JIANGHAN, "楼道灯", 1, None, 4),
    ("2026-10-13", "day", JIANGHAN, "电梯", 1, 1, 2),
    ("2026-10-13", "day", JIANGHAN, "噪声", None, 1, 3),  # rising only: not among the top terms
    ("2026-10-20", "day", JIANGHAN, "违建", 1, None, 1),
    ("2026-09-30", "day", JIANGHAN, "助餐", 1, None, 9),  # September
    ("2026-11-01", "day", JIANGHAN, "助餐", 1, None, 9),  # November
    ("2026-10-18", "week", JIANGHAN, "楼道灯", 2, None, 4),  # a week's row: not the month's
    ("2026-10-18", "week", JIANGHAN, "电梯", 1, None, 6),
    ("2026-10-17", "week", JIANGHAN, "违建", 1, None, 8),  # a rolling week, not Monday to Sunday
    ("2026-10-12", "day", CITY_SCOPE, "楼道灯", 1, None, 4),
    ("2026-10-14", "day", CITY_SCOPE, "积水", 1, None, 5),
    ("2026-10-14", "day", CITY_SCOPE, "楼道灯", 2, None, 1),
)
"""Nothing for 江岸区: its report says no hotspots were computed."""


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


def local(text: str) -> str:
    return at(text).astimezone(SHANGHAI).isoformat()


class Clock:
    def __init__(self) -> None:
        self.moment = at("2026-09-30 10:00")

    def __call__(self) -> datetime:
        return self.moment


class October:
    """The month, played step by step: each step at its moment on the hub's clock."""

    def __init__(self, engine: Engine, keyring: KeyRing) -> None:
        self.engine, self.keyring, self.clock = engine, keyring, Clock()
        self.pipeline = Pipeline(
            engine, load_connector(partner("neighborhood_app")).MAPPER, keyring, clock=self.clock
        )
        self.service = DistrictService(engine, keyring, clock=self.clock)
        self.ids: dict[str, str] = {}
        self.operations = 0

    def when(self, text: str) -> October:
        self.clock.moment = at(text)
        return self

    def report(self, name: str, status: str = "已受理", reported: str | None = None, **extra: Any) -> None:
        """The app's report `name` as of the clock (its createdAt `reported`, else now)."""
        now = self.clock.moment.astimezone(SHANGHAI).isoformat()
        community = extra.pop("communityCode", "420103002002")
        topic, surname = TOPICS[name]
        number = "ABCDEFGHIJ".index(name)
        page = self.pipeline.ingest(
            [
                report(
                    reportId=f"WLL{name}",
                    reportType="求助",
                    title=topic,
                    content=f"{topic}，已经持续一段时间，请尽快安排处理。",
                    reporterName=f"{surname}女士",
                    reporterPhone=f"1390000{number:04d}",
                    address=f"江汉区花楼街道团结里社区{number + 1}栋",
                    status=status,
                    communityCode=community,
                    createdAt=local(reported) if reported else now,
                    updatedAt=now,
                    **extra,
                )
            ]
        )
        assert page.accepted == 1, page
        self.ids.setdefault(name, _case_id(self.engine, f"WLL{name}"))

    def act(self, name: str, action: str, district: str = JIANGHAN, **body: Any) -> Any:
        self.operations += 1
        now = self.clock.moment.astimezone(SHANGHAI).isoformat()
        return self.service.act(
            district, self.ids[name], action, {"operation_id": f"op{self.operations}", "at": now, **body}
        )

    def supervise(self) -> dict[str, int]:
        return supervision.supervise(self.engine, self.keyring, clock=self.clock)


def _case_id(engine: Engine, source_id: str) -> str:
    from sqlalchemy import select

    from casehub.store.models import Case

    with engine.connect() as conn:
        return str(conn.scalar(select(Case.case_id).where(Case.source_id == source_id)))


def play(engine: Engine, keyring: KeyRing) -> October:
    month = October(engine, keyring)
    month.when("2026-09-30 10:00").report("A")  # due Saturday 10 October: the holiday does not count
    month.when("2026-10-08 09:00").act("A", "accept")
    month.when("2026-10-09 15:00").act("A", "complete", result="已上门处理")
    month.when("2026-10-12 09:00").report("B")  # due Thursday 15 October
    month.report("I", communityCode="420102001001")  # 江岸区, due 15 October
    month.when("2026-10-12 10:00").act("B", "accept")
    month.act("I", "accept", district=JIANGAN)
    month.when("2026-10-12 11:00").report(
        "A", status="已评价", satisfaction="满意", reported="2026-09-30 10:00"
    )
    month.when("2026-10-13 09:00").report("C")  # due Friday 16 October, postponed to Wednesday 21
    month.when("2026-10-14 09:00").report("D")  # due Monday 19 October, returned
    month.act("C", "accept")
    month.when("2026-10-14 15:00").act("I", "complete", district=JIANGAN, result="已处理")
    month.when("2026-10-15 09:00").act("C", "postpone", days=3, reason="需协调物业")
    month.when("2026-10-15 10:00").act("D", "return", reason_code="not_our_department", reason="非本单位职责")
    month.when("2026-10-16 10:00").act("B", "complete", result="已处理")  # a day late
    month.when("2026-10-19 09:00").report("E")  # due Thursday 22 October, left open
    month.when("2026-10-19 10:00").act("E", "accept")
    month.when("2026-10-19 11:00").report(
        "B", status="已评价", satisfaction="不满意", reported="2026-10-12 09:00"
    )
    month.when("2026-10-20 09:00").report("G")
    month.when("2026-10-20 10:00").act("C", "complete", result="已协调处理")
    month.when("2026-10-20 11:00").report("G", status="已撤回", reported="2026-10-20 09:00")
    month.when("2026-10-21 10:00").supervise()  # a reminder (催办) for E, due tomorrow; C is closed
    month.when("2026-10-22 09:00").report(
        "C", status="已评价", satisfaction="基本满意", reported="2026-10-13 09:00"
    )
    month.when("2026-10-23 10:00").supervise()  # 督办: E, a working day past its deadline
    month.when("2026-10-29 09:00").report("F")  # due Tuesday 3 November
    month.when("2026-10-29 10:00").act("F", "accept")
    month.when("2026-10-30 10:00").act("F", "complete", result="已处理")
    return month


def place_hotspots(engine: Engine) -> None:
    from casehub.store.models import Hotspot

    fields = ("day", "period", "scope", "term", "rank", "rising_rank", "cases")
    with engine.begin() as conn:
        conn.execute(
            insert(Hotspot),
            [
                {
                    **dict(zip(fields, row, strict=True)),
                    "previous_cases": 0,
                    **dict.fromkeys(("tfidf", "textrank", "weight", "rise"), 0.5),
                    "scope_cases": 10,
                    "previous_scope_cases": 0,
                    "computed_at": at("2026-11-01 00:45"),
                }
                for row in HOTSPOTS
            ],
        )


def figures(engine: Engine, period: Period = OCTOBER) -> reports.Figures:
    from casehub.enrich import load_rules
    from casehub.reference import load_reference
    from casehub.reports.figures import load

    with engine.connect() as conn:
        return load(conn, period, load_reference(), load_rules())


def test_every_figure_matches_the_hand_count(engine: Engine, keyring: KeyRing, tmp_path: Path) -> None:
    play(engine, keyring)
    place_hotspots(engine)
    found = figures(engine)
    jianghan = found.districts[JIANGHAN].as_dict()
    assert jianghan == {
        "code": JIANGHAN,
        "name": "江汉区",
        "received": 6,  # B C D E F G: A was reported on 30 September
        "registered": 5,  # G was withdrawn
        "due": 5,  # A (10 Oct) B (15) C (21, postponed) D (19) E (22); F is due in November
        "closed": 3,  # A B C; D was returned, E is open
        "closed_on_time": 2,  # A, C; B closed a day late
        "closure_rate": 0.6,
        "on_time_rate": 0.4,
        "average_handling_working_days": 3.67,  # A 2 (8, 9 Oct), B 4 (13–16), C 5 (14–20): 11 / 3
        "evaluated": 3,
        "satisfied": 2,  # 满意 and 基本满意; B 不满意
        "satisfaction_rate": 0.6667,
        "returns": 1,
        "supervised": {"reminder": 1, "supervision": 1, "escalated": 0},
    }
    community = found.units[COMMUNITY].as_dict()
    assert (community["received"], community["registered"], community["due"], community["closed"]) == (
        5,
        4,
        4,
        3,
    )
    assert (community["returns"], community["supervised"]) == (
        1,
        {"reminder": 1, "supervision": 1, "escalated": 0},
    )
    returned = found.units["city.dispatch"].as_dict()  # D went back to the city's dispatch centre
    assert (returned["received"], returned["due"], returned["closed"], returned["returns"]) == (1, 1, 0, 0)
    jiangan = found.districts[JIANGAN].as_dict()
    assert (jiangan["received"], jiangan["due"], jiangan["closed_on_time"], jiangan["on_time_rate"]) == (
        1,
        1,
        1,
        1.0,
    )
    assert jiangan["average_handling_working_days"] == 2.0  # 13, 14 October
    city = found.city.as_dict()
    assert (city["received"], city["registered"], city["due"], city["closed"], city["closed_on_time"]) == (
        7,
        6,
        6,
        4,
        3,
    )
    assert (city["closure_rate"], city["on_time_rate"], city["returns"]) == (0.6667, 0.5, 1)
    assert city["average_handling_working_days"] == 3.25  # (2 + 4 + 5 + 2) / 4
    assert city["supervised"] == {"reminder": 1, "supervision": 1, "escalated": 0}

    summary = reports.build(engine, OCTOBER, tmp_path, generated_at=at("2026-11-01 02:00"))
    assert summary["reports"] == 14 and summary["files"] == 56
    folder = tmp_path / "monthly" / "2026-10"
    overview = json.loads((folder / "city.json").read_text(encoding="utf-8"))
    ranked = [(d["rank"], d["code"]) for d in overview["districts"][:2]]
    assert ranked == [(1, JIANGAN), (2, JIANGHAN)]  # on time 100 % before 40 %
    district = json.loads((folder / f"{JIANGHAN}.json").read_text(encoding="utf-8"))
    assert district["summary"] == {**jianghan, "rank": 2}  # its place in the city's ranking
    assert district["top_categories"] == [{"code": "120005", "name": "民政 · 居家养老服务", "cases": 6}]
    # October's daily top terms added up: 电梯 3 + 2, 楼道灯 4, 违建 1; the rising-only 噪声, the
    # days of September and November and the week's rows do not count.
    assert district["hotspots"] == [
        {"rank": 1, "term": "电梯", "cases": 5},
        {"rank": 2, "term": "楼道灯", "cases": 4},
        {"rank": 3, "term": "违建", "cases": 1},
    ]
    assert district["hotspots_source"].endswith("over the 3 of 31 days hotspots_daily computed")
    assert overview["hotspots"] == [
        {"rank": 1, "term": "楼道灯", "cases": 5},
        {"rank": 2, "term": "积水", "cases": 5},
    ]
    quiet = json.loads((folder / f"{JIANGAN}.json").read_text(encoding="utf-8"))
    assert quiet["hotspots"] == []
    assert "no hotspots computed for this period" in quiet["hotspots_source"]
    assert "No hotspots computed for this period" in (folder / f"{JIANGAN}.html").read_text(encoding="utf-8")
    page = (folder / f"{JIANGHAN}.html").read_text(encoding="utf-8")
    assert "电梯" in page and "no hotspots computed" not in page
    rows = list(csv.DictReader(io.StringIO((folder / f"{JIANGHAN}.csv").read_text(encoding="utf-8"))))
    assert rows[0]["section"] == "district" and rows[0]["on_time_rate"] == "0.4"
    assert {r["code"]: r["due"] for r in rows if r["section"] == "unit"} == {COMMUNITY: "4"}
    assert [(r["rank"], r["name"], r["received"]) for r in rows if r["section"] == "hotspot"] == [
        ("1", "电梯", "5"),
        ("2", "楼道灯", "4"),
        ("3", "违建", "1"),
    ]

    # A week is the rolling week the job ranked on its Sunday, as it ranked it.
    week = figures(engine, WEEK_42).hotspots
    assert [(t.rank, t.term, t.cases) for t in week[JIANGHAN].terms] == [(1, "电梯", 6), (2, "楼道灯", 4)]
    assert JIANGAN not in week and CITY_SCOPE not in week


def test_a_return_by_another_handler_counts_for_the_city_not_as_a_district(
    sqlite_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    """Digital urban management (a partner, not a district) sends back a refuse case: the city
    and the unit that held it count the return, and no district row is made of the partner."""
    month = play(sqlite_engine, keyring)
    month.when("2026-10-21 09:00").report("J", categoryCode="WL0101", categoryName="垃圾清运")
    month.when("2026-10-21 10:00")
    flow = workflow.Workflow(sqlite_engine, keyring, clock=month.clock)
    body = {"operation_id": "um1", "at": local("2026-10-21 10:00"), "reason": "非城管职责"}
    returned = {**body, "reason_code": "not_our_department"}
    outcome = flow.act(workflow.Actor("urban_mgmt"), month.ids["J"], "return", returned)
    assert outcome.status == "returned"

    found = figures(sqlite_engine)
    assert "urban_mgmt" not in found.districts
    assert found.city.returns == 2  # D by 江汉区, J by digital urban management
    assert found.districts[JIANGHAN].returns == 1  # its own return only
    assert sum(u.returns for u in found.units.values()) == 2
    reports.build(sqlite_engine, OCTOBER, tmp_path, generated_at=at("2026-11-01 02:00"))
    overview = json.loads((tmp_path / "monthly" / "2026-10" / "city.json").read_text(encoding="utf-8"))
    assert "urban_mgmt" not in {d["code"] for d in overview["districts"]}
    assert overview["summary"]["returns"] == 2


def _without_generation(text: str) -> str:
    return re.sub(r'<p class="generated">.*?</p>', "", text)


def test_a_rerun_gives_the_same_files_and_picks_up_a_late_case(
    sqlite_engine: Engine, keyring: KeyRing, tmp_path: Path
) -> None:
    month = play(sqlite_engine, keyring)
    place_hotspots(sqlite_engine)
    first = tmp_path / "first"
    reports.build(sqlite_engine, OCTOBER, first, generated_at=at("2026-11-01 02:00"))
    again = tmp_path / "again"
    reports.build(sqlite_engine, OCTOBER, again, generated_at=at("2026-11-01 02:00"))
    rerun = tmp_path / "rerun"
    reports.build(sqlite_engine, OCTOBER, rerun, generated_at=at("2026-11-01 09:30"))
    for path in sorted((first / "monthly" / "2026-10").iterdir()):
        same_time = (again / path.relative_to(first)).read_bytes()
        assert same_time == path.read_bytes(), path.name  # byte for byte, the PDF too
        later = (rerun / path.relative_to(first)).read_bytes()
        if path.suffix == ".csv":
            assert later == path.read_bytes()
        elif path.suffix == ".html":
            assert _without_generation(later.decode()) == _without_generation(
                path.read_text(encoding="utf-8")
            )
            assert "2026-11-01 09:30:00" in later.decode()

    # A report of 31 October reaches the hub on 2 November: the rerun counts it.
    month.when("2026-11-02 09:00").report("H", reported="2026-10-31 20:00")
    reports.build(sqlite_engine, OCTOBER, rerun, generated_at=at("2026-11-02 10:00"))
    late = json.loads((rerun / "monthly" / "2026-10" / f"{JIANGHAN}.json").read_text(encoding="utf-8"))
    assert (late["summary"]["received"], late["summary"]["registered"]) == (7, 6)

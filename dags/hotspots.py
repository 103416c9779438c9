"""`hotspots_daily`: what residents wrote about most yesterday and over the week, per district, and
what is rising (热点、焦点). The work is in casehub (`casehub.hotspots`); this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, compute_hotspots
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

HOTSPOTS = Asset(name="casehub_hotspots", uri="x-casehub://store/hotspots")
"""The top and rising terms per district and day or week, read by the hotspots page."""

SCHEDULE = CronTriggerTimetable("45 0 * * *", timezone="Asia/Shanghai")
"""00:45 Asia/Shanghai: the day before is complete, its late pages are in."""

DOC = """\
### Hotspots (热点、焦点), day by day

Extracts the terms of the previous day's cases (Asia/Shanghai, by when each was reported) —
title and content, phone and ID numbers masked first — with jieba's TF-IDF and TextRank, the
stop words and the user dictionary of place and domain words under
`schemas/reference/hotspots/`, and ranks them per district and for the city (420100):

* **Top terms** — the terms most cases name, with their TF-IDF and TextRank weights, for the
  day and for the week (the seven days ending on it).
* **Rising terms** — named by at least 3 cases and at least twice as often as the period before
  would lead one to expect (`(cases + 1) / (expected + 1)`, the previous count scaled to the
  period's volume); `docs/hotspots.md` defines the score.
* **Where to look** — Browse → *casehub: hotspots* in this UI (a district selector, day or
  week, a chart of the top terms against the period before), `casehub hotspots --day D`, or the
  `hotspots` table. The task's XCom: the counts and the city's leading terms.
* **Another day** — trigger with `day` (YYYY-MM-DD) to compute that day again, after a replay
  or a late batch: its rows are replaced whole, so a rerun of an unchanged day changes nothing.
"""


with DAG(
    dag_id="hotspots_daily",
    description="Top and rising terms of yesterday's cases per district, day and week (热点、焦点)",
    doc_md=DOC,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["casehub", "hotspots"],
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="the day to compute (YYYY-MM-DD, Asia/Shanghai); empty: the day before the run",
        )
    },
) as hotspots_daily:

    @task(task_id="hotspots", inlets=[CASES], outlets=[HOTSPOTS])
    def hotspots(**context: Any) -> dict[str, Any]:
        return compute_hotspots(context)

    hotspots()

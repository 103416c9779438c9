"""`report_monthly` and `report_weekly`: the efficiency reports (效能通报) of the last whole month
or week. The work is in casehub (`casehub.reports`); this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, build_reports
from airflow.sdk import DAG, Asset, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

REPORTS = Asset(name="casehub_reports", uri="x-casehub://files/reports")
"""The efficiency reports under `var/reports/`, served in the casehub menu."""

SCHEDULES = {
    "monthly": ("0 2 1 * *", "YYYY-MM", r"^\d{4}-\d{2}$", "month"),
    "weekly": ("0 2 * * 1", "YYYY-Www (ISO week)", r"^\d{4}-W\d{2}$", "week"),
}
"""02:00 Asia/Shanghai on the 1st and on Mondays: the period before is over, its late pages in."""

DOC = """\
### Efficiency report (效能通报), {kind}

Writes the report of the last whole {unit} (Asia/Shanghai) for the city — ranking the 13
districts — and for each district with its handling units: cases received (受理), registered
(立案), due (应结案), closed (结案), closure rate (结案率), on-time closure rate (按期结案率),
average handling time in working days, satisfaction (满意率), returns (退回), supervised cases
by level (催办, 督办, 挂牌督办), top categories and hotspots. `docs/reports.md` defines every
figure.

* **Files** — `var/reports/{kind}/<period>/city.html|csv|pdf|json` and `<district code>.…`,
  one stable name per period; each file is replaced whole.
* **Where to look** — Browse → *casehub: reports* in this UI (HTML with charts, the CSV and PDF
  to download), or the files; the task's XCom: the period, files written, the city's counts.
* **Another period** — trigger with `period` ({shape}) to write that period again: after a late
  batch or a fix, the rerun picks up what arrived since; the files are the same apart from the
  generation time when nothing changed.
"""


def _dag(kind: str) -> DAG:
    cron, shape, pattern, unit = SCHEDULES[kind]
    with DAG(
        dag_id=f"report_{kind}",
        description=f"The {kind} efficiency reports (效能通报): city overview and each district",
        doc_md=DOC.format(kind=kind, unit=unit, shape=shape),
        schedule=CronTriggerTimetable(cron, timezone="Asia/Shanghai"),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["casehub", "reports"],
        params={
            "period": Param(
                None,
                type=["null", "string"],
                pattern=pattern,
                description=f"the {unit} to report ({shape}); empty: the last whole {unit} before the run",
            )
        },
    ) as dag:

        @task(task_id="report", inlets=[CASES], outlets=[REPORTS])
        def report(**context: Any) -> dict[str, Any]:
            return build_reports(kind, context)

        report()
    return dag


report_monthly = _dag("monthly")
report_weekly = _dag("weekly")

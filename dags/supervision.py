"""`supervise_deadlines`: deadline supervision (督办) by the rule table. The work is in casehub
(`casehub.supervision`); this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, supervise_cases
from airflow.sdk import DAG, task

SCHEDULE = "*/15 * * * *"
"""Often enough that a reminder reaches a unit on the working day before its deadline."""

DOC = """\
### Deadline supervision (督办)

Finds the open cases (dispatched, accepted, processing) near or past their deadline, counted in
working days on the mainland calendar with its holidays and adjusted workdays, and applies the
rule table `schemas/reference/supervision.csv`:

* **Levels** — 催办 `reminder` (before the deadline), 督办 `supervision` (past it), 挂牌督办
  `escalated`; **actions** — `notify`, `raise_grade` (A → B → C → D), `redispatch` (community →
  street office → the district's dispatch centre, dispatched there afresh).
* **Notices** — each supervised case gains supervision entries, a new version with its history,
  one `supervision_notices` row per rule, and its handler one `urge` event in the outbox (plus a
  `dispatch` when re-dispatched): the district platforms fetch them through the standard
  interface, with the notice's level, rules and working days.
* **Once** — a rule fires once per case and deadline: a rerun fires nothing twice; an approved
  postponement (延期) moves the deadline and the count starts again.
* **Where to look** — the task's XCom: candidates, cases supervised, notices by level and
  action, events written; `casehub stats`; the reports' supervised cases by level.
"""

with DAG(
    dag_id="supervise_deadlines",
    description="Supervise deadlines (督办): reminders, supervision, escalation, re-dispatch by rule",
    doc_md=DOC,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["casehub", "supervision"],
) as supervise_deadlines:

    @task(task_id="supervise", inlets=[CASES], outlets=[CASES])
    def supervise() -> dict[str, Any]:
        return supervise_cases()

    supervise()

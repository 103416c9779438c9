"""`quality_daily`: the data-quality specification run on yesterday, per channel. The work is in
casehub (`casehub.quality.daily`); this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, validate_quality
from airflow.sdk import DAG, Asset, Param, task

QUALITY = Asset(name="casehub_quality", uri="x-casehub://store/quality_trend")
"""The daily pass rates per rule and channel, and the Data Docs built beside them."""

SCHEDULE = "30 16 * * *"
"""00:30 Asia/Shanghai: the day before is complete, the late pages of its last runs are in."""

DOC = """\
### Data quality, day by day

Validates the previous day (Asia/Shanghai) of every channel cases come in from against the
data-quality specification (`expectations/`, stated in `docs/data-quality.md`): the raw
records that landed against the channel's raw-shape suite, the cases updated against the
unified-case suite, the status changes recorded against `case_history`, and the channel's
table-level figures (reconciled, fresh, volume inside its band, duplicate and quarantine
rates) against `channel_day`.

* **Results** — every rule's outcome goes to the store (`quality_results`) and the day's pass
  rate per rule and channel to `quality_trend`, which `casehub stats --json` (`quality`) and the
  quality page in the casehub menu read. Rerunning a day replaces its trend.
* **Data Docs** — each checkpoint rebuilds the Great Expectations site under
  `var/quality/data_docs/`, served from the casehub menu behind the Airflow login. Personal
  values never appear in it (masked or absent).
* **Another day** — trigger with `day` (YYYY-MM-DD) to validate that day again, after a
  replay or a late batch; its trend rows are replaced.
* **Failing** — a critical table-level rule (`table_reconciled`, `table_fresh`) that breaks
  fails the task after everything is recorded; the log line names the rule and the channel.
  Warnings are reported on the quality page, not failures.
"""

with DAG(
    dag_id="quality_daily",
    description="Validate yesterday's data per channel, keep the results, rebuild the Data Docs",
    doc_md=DOC,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["casehub", "quality"],
    params={
        "day": Param(
            None,
            type=["null", "string"],
            format="date",
            description="the day to validate (YYYY-MM-DD, Asia/Shanghai); empty: the day before the run",
        )
    },
) as quality_daily:

    @task(task_id="validate", inlets=[CASES], outlets=[QUALITY])
    def validate(**context: Any) -> dict[str, Any]:
        return validate_quality(context)

    validate()

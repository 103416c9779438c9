"""`dedup_recluster`: duplicate detection run again over the recent cases, with the handlers'
splits. The work is in casehub (`casehub.dedup.store.recluster`); this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, recluster_cases
from airflow.sdk import DAG, Param, task

SCHEDULE = "0 17 * * *"
"""01:00 Asia/Shanghai, when few cases come in."""

DOC = """\
### Duplicate detection, re-clustered

Every new case is checked for duplicates (判重) the moment it lands, against the recent cases
around it. This DAG runs the same decision again over the cases reported in the last `days`
days, in the order they were reported, so that

* a case that arrived late (reported earlier than cases already clustered) takes its place:
  every cluster's parent is its earliest case;
* the splits handlers made (`casehub cluster split --case …`) are kept: two cases split apart
  are never put back into one cluster;
* a cluster intake could not see whole (its cases landed in different pages at once) is joined.

Only what changes is written: a new version of each such case, its history event
`reclustered` (cluster, parent, score and the signals that fired). The task's XCom holds the
counts: cases, changed, duplicates, clusters, and cases changed meanwhile by an ingest (left for
the next run). `days` empty re-clusters every case. How the decision is made: docs/dedup.md.
"""

with DAG(
    dag_id="dedup_recluster",
    description="Re-cluster the recent cases into incidents (判重), keeping the handlers' splits",
    doc_md=DOC,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["casehub", "dedup"],
    params={
        "days": Param(
            30,
            type=["null", "integer"],
            minimum=1,
            description="re-cluster the cases reported in this many days before the run; empty: all",
        )
    },
) as dedup_recluster:

    @task(task_id="recluster", inlets=[CASES], outlets=[CASES])
    def recluster(**context: Any) -> dict[str, Any]:
        return recluster_cases(context)

    recluster()

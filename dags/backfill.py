"""Backfill DAGs, one per pulled partner of `connectors/partners.toml`: a span of the partner's
history read in windows, one mapped task each. All the work is in casehub (`casehub.backfill`);
this file only wires it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, backfill_channel, backfill_plan, reconcile_store
from airflow.sdk import DAG, Param, get_current_context, task

from casehub.partners import Partner, pulled

DOC = """\
### Backfill: {title}

Reads `{code}`'s records updated between `since` and `until` (ISO date-times with their
offset) into the store, through the same pipeline as `ingest_{code}`: the span is cut into
windows of `window_hours`, and each window is one mapped task of `window`, named by its span.

* **Parallel** — windows run side by side, as many as the pool `{pool}` ({slots} slots) and
  the workers allow; each keeps its own row in `backfill_windows`, and the live ingest's cursor
  is left alone.
* **Resumable** — the partner's pages commit in batches (up to 5 000 records), each with the
  window's position (the newest update time it holds): a killed or failed window, cleared or
  retried, resumes from its last committed batch.
* **Idempotent** — a window that finished is not read again, so rerunning the DAG run changes
  nothing; trigger with `again` to read finished windows once more (what is read again is
  recognised as landed).
* **Progress** — the `window` task's mapped instances, one per window; each batch logs one line;
  `casehub backfill status --channel {code}` shows every window's position from the store.
"""


def build(spec: Partner) -> DAG:
    with DAG(
        dag_id=f"backfill_{spec.code}",
        description=f"Read a span of {spec.title}'s history into the store, window by window",
        doc_md=DOC.format(title=spec.title, code=spec.code, pool=spec.pool, slots=spec.pool_slots),
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["casehub", "backfill", spec.code],
        params={
            "since": Param("2026-11-01T00:00:00+08:00", type="string", description="start, inclusive"),
            "until": Param("2026-11-02T00:00:00+08:00", type="string", description="end, exclusive"),
            "window_hours": Param(24, type="number", exclusiveMinimum=0, description="hours per window"),
            "again": Param(False, type="boolean", description="read windows that finished before once more"),
        },
    ) as dag:

        @task(task_id="plan")
        def plan(**context: Any) -> list[dict[str, str]]:
            return backfill_plan(context)

        @task(task_id="window", pool=spec.pool, outlets=[CASES], map_index_template="{{ window_label }}")
        def window(span: dict[str, str], **context: Any) -> dict[str, Any]:
            get_current_context()["window_label"] = span["label"]  # type: ignore[typeddict-unknown-key]
            return backfill_channel(spec, span, context)

        @task(task_id="reconcile", retries=0)
        def reconcile() -> dict[str, Any]:
            return reconcile_store(spec)

        window.expand(span=plan()) >> reconcile()
    return dag


for _spec in pulled():
    globals()[f"backfill_{_spec.code}"] = build(_spec)

"""Ingest DAGs, one per pulled partner of `connectors/partners.toml`, in manifest order.

Each pulls the channel from its cursor, lands, normalizes, validates and stores the cases, then
checks that the store still reconciles. All the work is in casehub; this file only wires it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from _glue import CASES, DEFAULT_ARGS, ingest_channel, reconcile_store
from airflow.sdk import DAG, task

from casehub.partners import Partner, pulled

DOC = """\
### Ingest: {title}

Pulls `{code}` records updated since the channel's cursor (re-reading a
{lookback}-minute lookback window), and for every page, in one transaction: lands the raw
payloads (sealed, hashed), maps them to the unified case, checks each against
`schemas/case.schema.json` and the page against the GX suite `expectations/case_batch.json`,
quarantines what fails with its reasons, upserts the rest with history, and advances the cursor.

* **Connection** `{connection}` — host is the partner's base URL; login and password.
* **Pool** `{pool}` — at most {slots} tasks talk to this partner at once.
* **Retries** — transient partner failures (timeouts, 5xx, 429) retry with back-off; permanent
  ones (credentials, contract) fail at once.
* **Where to look** — the `ingest` task's return value (XCom) holds the run's counts;
  `casehub stats --json` and `casehub quarantine list` show the store.
* **Rerunning** a run is safe: what was already landed is recognised and skipped.
"""


def build(spec: Partner) -> DAG:
    pull = spec.pulled()
    with DAG(
        dag_id=f"ingest_{spec.code}",
        description=f"Pull {spec.title} into the unified case store",
        doc_md=DOC.format(
            title=spec.title,
            code=spec.code,
            lookback=pull.lookback_minutes,
            connection=spec.connection,
            pool=spec.pool,
            slots=spec.pool_slots,
        ),
        schedule=pull.schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["casehub", "ingest", spec.code],
    ) as dag:

        @task(task_id="ingest", pool=spec.pool, outlets=[CASES])
        def ingest(**context: object) -> dict[str, object]:
            return ingest_channel(spec, context)

        @task(task_id="reconcile", retries=0)
        def reconcile() -> dict[str, object]:
            return reconcile_store()

        ingest() >> reconcile()
    return dag


for _spec in pulled():
    globals()[f"ingest_{_spec.code}"] = build(_spec)

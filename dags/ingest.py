"""Ingest DAGs, one per pulled partner of `connectors/partners.toml`, in manifest order.

Each pulls the channel from its cursor, lands, normalizes, enriches, validates and stores the
cases, then checks that the store still reconciles. All the work is in casehub; this file only
wires it.
"""

from __future__ import annotations

from _glue import ingest_channel, partner_dag
from airflow.sdk import DAG

from casehub.partners import Partner, pulled

DOC = """\
### Ingest: {title}

Pulls `{code}` records updated since the channel's cursor (re-reading a
{lookback}-minute lookback window), and for every page, in one transaction: lands the raw
payloads (sealed, hashed), maps them to the unified case, classifies, grades, routes and times
them, checks each against `schemas/case.schema.json` and the page against the GX suites
`raw_{code}` and `case` (`expectations/`, docs/data-quality.md), quarantines what fails with its
reasons (a broken rule's id) and upserts the rest with history, keeping every rule's outcome.
The cursor moves once the whole window has been read. `reconcile` then runs the table-level
suite `channel_day` on the channel: a lost record or a channel silent too long fails the run.

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
    return partner_dag(
        spec,
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
        kind="ingest",
        work=ingest_channel,
    )


for _spec in pulled():
    globals()[f"ingest_{_spec.code}"] = build(_spec)

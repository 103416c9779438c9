"""Webhook processing DAGs, one per pushing partner of `connectors/partners.toml`.

The gateway lands every signed delivery sealed in the inbox before it answers 2xx; these DAGs
turn what landed into cases through the same pipeline as a pulled page. All the work is in
casehub; this file only wires it.
"""

from __future__ import annotations

from _glue import partner_dag, process_channel
from airflow.sdk import DAG

from casehub.partners import Partner, pushing

DOC = """\
### Process webhooks: {title}

The partner pushes its records to the gateway at `POST {path}` as Standard Webhooks; the
gateway verifies the signature and timestamp and lands each delivery sealed in the inbox
before it answers 2xx. This DAG takes the pending deliveries, {batch} at a time, and for each
batch, in one transaction: lands each delivery's `data` as a raw record (sealed, hashed), maps
it to the unified case, enriches it, checks it against `schemas/case.schema.json` and the GX
suites `raw_{code}` and `case` (docs/data-quality.md), quarantines what fails with its reasons
and upserts the rest with history; then marks the deliveries processed.

* **Secret** — the gateway reads `{secret_env}` (space-separated `whsec_` secrets during a rotation).
* **Pool** `{pool}` — one batch at a time.
* **Retries** — a store that cannot be reached retries; a wrong key ring fails at once.
* **Where to look** — the `process` task's return value (XCom) holds the run's counts;
  `casehub stats --json` shows the inbox (`inbox.<partner>.pending`) and the store.
* **Rerunning** is safe: a delivery processed twice is recognised and lands once.
"""


def build(spec: Partner) -> DAG:
    push = spec.pushing()
    return partner_dag(
        spec,
        dag_id=f"process_webhooks_{spec.code}",
        description=f"Turn {spec.title}'s landed webhooks into unified cases",
        doc_md=DOC.format(
            title=spec.title,
            code=spec.code,
            path=push.path,
            batch=push.batch_size,
            secret_env=push.secret_env,
            pool=spec.pool,
        ),
        schedule=push.schedule,
        kind="webhooks",
        work=process_channel,
    )


for _spec in pushing():
    globals()[f"process_webhooks_{_spec.code}"] = build(_spec)

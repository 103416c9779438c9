"""Push DAGs, one per partner of `connectors/partners.toml` the hub delivers to, in manifest order.

Each sends the cases changed since the recipient's last complete window, by its allow-list in
`schemas/recipients/`, in signed batches, and records each batch in the provision log; a
recipient whose manifest has `feedback = true` then has its handling feedback read back as case
history. All the work is in casehub; this file only wires it.
"""

from __future__ import annotations

from _glue import partner_dag, push_channel
from airflow.sdk import DAG

from casehub.partners import Partner, delivered

DOC = """\
### Push: {title}

Sends `{code}` the cases whose history gained a row since its last complete window, up to
{settle} s before the run's data interval end (pages still committing wait for the next run),
as its allow-list `schemas/recipients/{recipient}.json` selects and
shapes them: each record is rendered from the allow-listed fields only, checked against that
schema, and sent in signed batches of {batch} with a batch id derived from the window and the
batch number. Once the partner's receipt is in, the batch is recorded in the provision log.

* **Connection** `{connection}` — host is the partner's base URL; login is the hub's key id
  there, password the signing secret (HMAC-SHA256).
* **Pool** `{pool}` — at most {slots} tasks talk to this partner at once.
* **Retries** — transient partner failures (timeouts, 5xx, 429 with Retry-After) retry with
  back-off; permanent ones (signature or fields refused) fail at once.
* **Where to look** — the `push` task's return value (XCom) holds the windows and counts; the
  `provision_log` table holds one row per batch (recipient, purpose, fields, count, receipt).
* **Rerunning** a run is safe: the same window sends the same batch ids, and what the partner
  already holds is acknowledged without a second effect; batches already recorded are skipped.
{feedback}"""

FEEDBACK_DOC = """\
* **Feedback** — after the push, the `feedback` task reads back the partner's handling feedback
  (处置反馈) from the same connection, signed with the same key id and secret, from its
  `{code}:progress` cursor, less a lookback, to the run's end; each entry becomes
  a version of its case with the history event `{{"kind": "feedback", "code": …}}` and no
  change of status, and lands sealed as a raw record of channel `{code}`. Its return value
  counts what was applied, `duplicate` (read before), `refused_<reason>` (a case the partner
  was not sent) and `invalid` (reasons logged, never values); rerunning applies nothing twice.
  The connection's extra may set `page_size` (default 200).
"""


def build(spec: Partner) -> DAG:
    deliver = spec.delivered()
    return partner_dag(
        spec,
        dag_id=f"push_{spec.code}",
        description=f"Push cases to {spec.title} by its allow-list",
        doc_md=DOC.format(
            title=spec.title,
            code=spec.code,
            recipient=spec.recipient,
            settle=deliver.settle_seconds,
            batch=deliver.batch_size,
            connection=spec.connection,
            pool=spec.pool,
            slots=spec.pool_slots,
            feedback=FEEDBACK_DOC.format(code=spec.code) if deliver.feedback else "",
        ),
        schedule=deliver.schedule,
        kind="deliver",
        work=push_channel,
    )


for _spec in delivered():
    globals()[f"push_{_spec.code}"] = build(_spec)

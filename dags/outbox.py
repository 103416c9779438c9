"""The outbox's delivery: one DAG, a task per partner of `connectors/partners.toml` that the
outbox sends events to, each in its partner's pool. All the work is in casehub."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from _glue import CASES, DEFAULT_ARGS, deliver_events
from airflow.sdk import DAG, Asset, task

from casehub.partners import Partner, notified

DELIVERIES = Asset(name="casehub_deliveries", uri="x-casehub://store/outbox")
"""What the hub has told its partners about single cases; the delivery DAG updates it."""
SCHEDULE = "*/2 * * * *"

DOC = """\
### Deliver the outbox

Every change a partner must hear about — a case dispatched to urban management, a handling
result for the channel a case came from, a status callback to the community app — was written
to the `outbox` table in the same transaction as the change — the supervision notices that
`supervise_deadlines` writes among them. This DAG sends the due events, one task per partner:

{partners}

* **Order** — an event goes only once every older event of the same case for the same partner
  is delivered; an older one waiting to be retried, or dead, holds the newer ones back.
* **Retries** live in the table, not in the task: a failed attempt stores its next attempt time
  (exponential back-off with jitter, or the partner's Retry-After); a permanent refusal, or the
  last allowed attempt, moves the event to `dead` with its reason. A task succeeds when the
  events were tried; failures show in `casehub outbox list --state dead` and in
  `casehub stats`.
* **Replaying** — `casehub outbox replay --partner P` puts dead events back, with the same event
  ids, so a partner that did apply one recognises it.
* The district platforms fetch their dispatches from the gateway (`/districts/{{code}}/…`,
  `/soap/district`): no task here.
* **Where to look** — each task's return value (XCom): delivered, duplicates, retried, dead,
  held for order. The delivery truth is the `outbox` table.
"""


def _line(spec: Partner) -> str:
    policy = spec.notified()
    return (
        f"* `deliver_{spec.code}` — {spec.title}: {', '.join(policy.kinds)}; up to {policy.batch_size}"
        f" a run, {policy.max_attempts} attempts; connection `{spec.connection}`, pool `{spec.pool}`"
    )


def _deliverer(spec: Partner) -> Any:
    @task(task_id=f"deliver_{spec.code}", pool=spec.pool, outlets=[DELIVERIES], inlets=[CASES])
    def deliver(**context: Any) -> dict[str, Any]:
        return deliver_events(spec, context)

    return deliver


_pushed = [spec for spec in notified() if spec.notified().pushed]

with DAG(
    dag_id="deliver_outbox",
    description="Deliver the outbox's events to each partner, retries and order kept in the outbox",
    doc_md=DOC.format(partners="\n".join(_line(spec) for spec in _pushed)),
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 2},
    tags=["casehub", "outbox"],
) as deliver_outbox:
    for _spec in _pushed:
        _deliverer(_spec)()

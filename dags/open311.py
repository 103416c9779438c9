"""Open311 request processing DAGs, one per partner of `connectors/partners.toml` with `[partner.serve_in]`.

The gateway lands every filed Open311 request sealed in the inbox before it answers with a
token; these DAGs turn what landed into cases through the same pipeline as a pushed webhook.
All the work is in casehub; this file only wires it.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from _glue import _log_page, keyring, partner_dag
from airflow.sdk import DAG

from casehub.partners import Partner, serving

log = logging.getLogger(__name__)

DOC = """\
### Process Open311 requests: {title}

Open311 GeoReport v2 clients file service requests at `POST {path}/requests.{{xml,json}}` with
an API key (`casehub open311-key issue`); the gateway checks the form, lands each request sealed
in the inbox and answers with a token (docs/open311.md). This DAG takes the pending requests,
{batch} at a time, and for each batch, in one transaction: lands each as a raw record (sealed,
hashed), maps it to the unified case (`connectors/open311`), enriches it, checks it against
`schemas/case.schema.json` and the GX suite `case`, quarantines what fails with its reasons and
upserts the rest with history; then marks the requests processed. `GET {path}/tokens/<token>`
then answers the case's id as the `service_request_id`.

* **Pool** `{pool}` — one batch at a time.
* **Retries** — a store that cannot be reached retries; a wrong key ring fails at once.
* **Where to look** — the `process` task's return value (XCom) holds the run's counts;
  `casehub stats --json` shows the inbox (`inbox.{code}.pending`) and the store.
* **Rerunning** is safe: a request processed twice is recognised and lands once.
"""


def process(spec: Partner, context: dict[str, Any]) -> dict[str, Any]:
    import casehub
    from casehub.open311.intake import process_requests
    from casehub.store import connect

    summary = process_requests(
        spec,
        casehub.load_connector(spec).MAPPER,
        engine=connect(),
        keyring=keyring(),
        run_id=str(context.get("run_id")),
        on_page=partial(_log_page, spec.code),
    )
    log.info("%s run: %s", spec.code, json.dumps({k: v for k, v in summary.items() if k != "warnings"}))
    return summary


def build(spec: Partner) -> DAG:
    served = spec.serving()
    return partner_dag(
        spec,
        dag_id=f"process_requests_{spec.code}",
        description=f"Turn {spec.title}' filed requests into unified cases",
        doc_md=DOC.format(
            title=spec.title, code=spec.code, path=served.path, batch=served.batch_size, pool=spec.pool
        ),
        schedule=served.schedule,
        kind="open311",
        work=process,
    )


for _spec in serving():
    globals()[f"process_requests_{_spec.code}"] = build(_spec)

"""The gateway app: the routers of `ROUTERS` behind one problem+json error surface."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from casehub.gateway import problems
from casehub.gateway.context import TOKEN_ENV, Context
from casehub.gateway.routers import district_soap, districts, health, open311, pages, read, reports, webhooks

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from casehub.gateway.viewer import Guard
    from casehub.partners import Partner

log = logging.getLogger("casehub.gateway")

ROUTERS = (
    health.router, read.router, webhooks.router, districts.router, district_soap.router, open311.router,
)
"""Each concern's routes; a new concern is a module in `routers/` and one entry here."""

TITLE = "casehub gateway"
VERSION = "1.0"
DESCRIPTION = """\
The HTTP surface of casehub, the data-exchange hub of the 民呼我应 (people call, we respond) case
network.

- **health** — `GET /healthz`, no token needed.
- **read** — store statistics, the open quarantine and masked case reads, for data engineers,
  quality officers and tools. They need `Authorization: Bearer <CASEHUB_GATEWAY_TOKEN>`; with no
  token configured they answer 503.
- **webhooks** — pushing partners (the community app) deliver signed webhooks (Standard
  Webhooks). A delivery is acknowledged only once it is committed, sealed, to the hub's inbox.
- **pages** — the pages for people under `/pages/` (Data Docs, quality, quarantine with replay,
  store stats, the efficiency reports with their CSV and PDF): HTML for a browser, JSON for a
  client, behind the login of the host that mounts the gateway (Airflow's, through the plugin);
  served without one they answer 403.
- **district** — the district standard interface (区级平台标准接口): a district platform lists
  the cases dispatched to it and accepts, handles, completes, postpones or returns them, with
  its own API key (`Authorization: Bearer cdk_…`). The same interface is served over SOAP at
  `/soap/district` (WSDL at `/soap/district?wsdl`).
- **open311** — Open311 GeoReport v2 with mySociety's update extensions under `/open311/v2/`, XML
  and JSON by suffix: public reads of the masked cases; filing a request or an update needs an
  Open311 `api_key`. Its errors are the spec's own documents, not problem details.

Every error is problem details (RFC 9457, `application/problem+json`) with a stable `type`
(`urn:casehub:problem:<reason>`); none carries personal data or echoes what was sent.
"""
TAGS = [
    {"name": "health", "description": "liveness and whether the store answers"},
    {"name": "read", "description": "what the store holds, behind the gateway's bearer token"},
    {"name": "pages", "description": "pages for people, behind the host's login (Airflow's)"},
    {"name": "webhooks", "description": "partners' signed pushes, landed before acknowledged"},
    {"name": "district", "description": "the district standard interface, per-district API keys and scopes"},
    {"name": "open311", "description": "GeoReport v2 and mySociety's updates: public reads, keyed writes"},
]


def create_app(
    engine: Engine | None = None,
    *,
    token: str | None = None,
    partners: Sequence[Partner] | None = None,
    guard: Guard | None = None,
) -> FastAPI:
    """The gateway on `engine` (default: the configured store), its read routes guarded by `token`
    (default: env), receiving webhooks from `partners` (default: the manifest's pushing partners,
    read on first use), its pages let in by `guard` (`casehub/gateway/viewer.py`; none: nobody)."""
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        openapi_tags=TAGS,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = Context(engine, token=token, partners=partners)
    problems.install(app)
    pages.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pages.build(guard))
    app.include_router(reports.build(guard))
    return app


def serve(host: str, port: int, *, partners_file: Path | None = None) -> None:
    """Run the gateway with uvicorn (`casehub serve`), warning at once about what it cannot do.

    The manifest is read and its webhook paths checked here, so a broken one stops the start
    rather than every delivery.
    """
    import uvicorn

    from casehub.partners import MANIFEST_PATH, pushing

    partners = pushing(partners_file or MANIFEST_PATH)
    if not os.environ.get(TOKEN_ENV):
        log.warning("gateway: %s is not set; the read routes answer 503", TOKEN_ENV)
    for partner in partners:
        variable = partner.pushing().secret_env
        if not os.environ.get(variable):
            log.warning("gateway: %s is not set; webhooks of %s answer 503", variable, partner.code)
    app = create_app(partners=partners)
    app.state.context.receivers()
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")

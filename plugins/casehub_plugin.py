"""Puts the hub's gateway into the Airflow API server, and links to it from the Airflow UI menu.

The gateway is mounted at `/casehub` (so `/casehub/healthz`, `/casehub/stats`,
`/casehub/quarantine`, `/casehub/cases/{case_id}`, `/casehub/webhooks/{partner}` and
`/casehub/openapi.json` beside Airflow's own `/api/v2`). Airflow does not authenticate plugin
apps, so the gateway keeps its own guards: a bearer token (`CASEHUB_GATEWAY_TOKEN`) for the read
routes — without one they answer 503 — and Standard Webhooks signatures for webhooks.

Every Airflow process loads plugins, not only the API server, so this module imports no more
than the plugin base and the gateway package; building the app touches neither the store, the
key ring nor the partner manifest.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from casehub.gateway import create_app

URL_PREFIX = "/casehub"

MENU_LINKS: list[dict[str, Any]] = [
    {
        # for data engineers: what landed, what is quarantined, whether the store reconciles
        "name": "casehub: store stats",
        "href": "casehub/stats",
        "category": "browse",
        "destination": "nav",
    },
    {
        # for quality officers: open quarantine entries and their reasons
        "name": "casehub: quarantine",
        "href": "casehub/quarantine",
        "category": "browse",
        "destination": "nav",
    },
]


class CasehubPlugin(AirflowPlugin):
    """The casehub gateway as a FastAPI sub-app of the API server, and its menu links."""

    name = "casehub"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "casehub gateway"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = MENU_LINKS

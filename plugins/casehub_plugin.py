"""Puts the hub's gateway into the Airflow API server, and its pages for people into the Airflow UI.

The gateway is mounted at `/casehub` (beside Airflow's own `/api/v2`). Airflow does not
authenticate plugin apps, so each part of it is guarded on its own:

- the pages for people, `/casehub/pages/…` — Data Docs, the quality summary, the quarantine
  with replay, store stats, the efficiency reports, the hotspots — let in whoever Airflow's
  auth manager lets in: the UI's session cookie (`_token`) or an Airflow API token (`Authorization:
  Bearer`, from `POST /auth/token`), checked by Airflow's own `get_user`; then the user must
  be allowed the custom view `casehub` (`is_authorized_custom_view`), and to replay, to change
  DAG runs (`is_authorized_dag` PUT on runs: SimpleAuthManager's `user` role and above).
  Anything else is 401 or 403 with nothing of the store in it. A browser's replay form carries
  a token derived from its session cookie.
- the JSON read routes for machine clients (`/casehub/stats`, `/casehub/quarantine`,
  `/casehub/cases/{case_id}`) keep the gateway's bearer token (`CASEHUB_GATEWAY_TOKEN`); without
  one they answer 503;
- webhooks (`/casehub/webhooks/{partner}`) are checked by their Standard Webhooks signatures.

The menu: Browse → "casehub: Data Docs", "casehub: quality", "casehub: quarantine",
"casehub: store stats", "casehub: reports", "casehub: hotspots", each shown inside the UI (an
external view with a `url_route`, which the UI frames under `/plugin/<url_route>`).

Every Airflow process loads plugins, not only the API server, so this module imports no more
than the plugin base, FastAPI and the gateway package; building the app touches neither the
store, the key ring nor the partner manifest, and Airflow's security module is imported only
when a page is first asked for, in the API server.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from casehub.gateway import create_app
from casehub.gateway.viewer import Viewer, forbidden, not_signed_in

URL_PREFIX = "/casehub"
PAGES = f"{URL_PREFIX.lstrip('/')}/pages"
CUSTOM_VIEW = "casehub"
SESSION_COOKIE = "_token"  # Airflow's COOKIE_NAME_JWT_TOKEN, named here to keep the import lazy

airflow_token = HTTPBearer(
    auto_error=False,
    scheme_name="airflowToken",
    description="an Airflow API token (`POST /auth/token`); the UI's session cookie works too",
)


async def airflow_viewer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(airflow_token)],
) -> Viewer:
    """Let a request in as the Airflow user its session cookie or API token proves, if allowed."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, credentials)
    except HTTPException:
        raise not_signed_in() from None
    except RuntimeError:  # no auth manager: the app is mounted outside Airflow's API server
        raise forbidden("Airflow's auth manager is not running here") from None
    manager = get_auth_manager()
    if not manager.is_authorized_custom_view(method="GET", resource_name=CUSTOM_VIEW, user=user):
        raise forbidden("your Airflow role may not open the casehub pages")
    may_replay = manager.is_authorized_dag(method="PUT", access_entity=DagAccessEntity.RUN, user=user)
    session = None if credentials is not None else request.cookies.get(SESSION_COOKIE)
    return Viewer(name=user.get_name(), may_replay=may_replay, session=session)


def _page(name: str, path: str, route: str) -> dict[str, Any]:
    return {
        "name": f"casehub: {name}",
        "href": f"{PAGES}/{path}",
        "url_route": route,
        "category": "browse",
        "destination": "nav",
    }


MENU_LINKS: list[dict[str, Any]] = [
    # for quality officers: the Great Expectations validation reports
    _page("Data Docs", "data-docs/", "casehub-data-docs"),
    # for quality officers: which rules the data broke, per channel and day, and the trend
    _page("quality", "quality", "casehub-quality"),
    # for data engineers and quality officers: quarantined records, their reasons, replay
    _page("quarantine", "quarantine", "casehub-quarantine"),
    # for data engineers: what landed, where it stands, whether the store reconciles
    _page("store stats", "stats", "casehub-stats"),
    # for the city and the districts: the monthly and weekly efficiency reports (效能通报)
    _page("reports", "reports", "casehub-reports"),
    # for the city and the districts: what residents write about most, and what is rising (热点)
    _page("hotspots", "hotspots", "casehub-hotspots"),
]


class CasehubPlugin(AirflowPlugin):
    """The casehub gateway as a FastAPI sub-app of the API server, and its pages in the menu."""

    name = "casehub"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(guard=airflow_viewer), "url_prefix": URL_PREFIX, "name": "casehub gateway"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = MENU_LINKS

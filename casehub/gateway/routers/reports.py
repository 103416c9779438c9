"""The efficiency reports (效能通报) among the pages for people: the periods written, the city's
overview, each district's report, and its CSV and PDF — behind the same guard as the other pages
(`casehub/gateway/routers/pages.py`).

The pages read what `report_monthly` and `report_weekly` wrote under `var/reports/`
(`casehub.paths.reports_dir`): the JSON of a report is its content, shown in the pages' layout to
a browser and as it is to a client; nothing is computed from the store here.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from casehub.gateway import render
from casehub.gateway.problems import documented
from casehub.gateway.routers.pages import PAGE_CSP, PREFIX
from casehub.gateway.viewer import Guard, PageRefusal, Viewer, no_guard, wants_html

KIND = PathParameter(pattern="^(monthly|weekly)$", description="monthly or weekly")
PERIOD = PathParameter(pattern=r"^\d{4}-(\d{2}|W\d{2})$", description="2026-11 or 2026-W47")
SCOPE = PathParameter(pattern=r"^(city|4201\d{2})$", description="city or a district code")
DOWNLOADS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


def _root() -> Path:
    from casehub.paths import reports_dir

    return reports_dir()


def _missing(what: str) -> PageRefusal:
    return PageRefusal(
        404, "not-found", "Not found", f"no {what}: report_monthly and report_weekly write them"
    )


def periods(root: Path) -> dict[str, list[str]]:
    """The periods with a city report, newest first, per kind."""
    found: dict[str, list[str]] = {}
    for kind in ("monthly", "weekly"):
        folder = root / kind
        names = [p.name for p in folder.iterdir() if (p / "city.json").is_file()] if folder.is_dir() else []
        found[kind] = sorted(names, reverse=True)
    return found


def _read(root: Path, kind: str, period: str, scope: str) -> dict[str, Any]:
    path = root / kind / period / f"{scope}.json"
    if not path.is_file():
        raise _missing(f"{kind} report {period} for {scope}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _html(body: str) -> HTMLResponse:
    return HTMLResponse(body, headers={"Content-Security-Policy": PAGE_CSP})


def build(guard: Guard | None) -> APIRouter:
    """The report pages behind `guard` (None: nobody gets in)."""
    router = APIRouter(
        prefix=f"{PREFIX}/reports",
        tags=["pages"],
        responses=documented(
            {
                401: "not logged in (no or an expired Airflow session or token)",
                403: "logged in without the role, or no host login at all",
                404: "no such report written",
            }
        ),
    )
    admit = Depends(guard or no_guard)

    @router.get("", summary="The efficiency reports written, per kind and period")
    def listing(request: Request, viewer: Viewer = admit) -> Response:
        """Every period with a report, newest first, monthly and weekly."""
        found = periods(_root())
        if wants_html(request):
            return _html(_listing_page(found, viewer))
        return JSONResponse({"periods": found})

    @router.get("/{kind}/{period}", summary="A period's city-wide overview, ranking the districts")
    def overview(
        request: Request,
        kind: Annotated[str, KIND],
        period: Annotated[str, PERIOD],
        viewer: Viewer = admit,
    ) -> Response:
        """The city's report for the period: its figures, the districts ranked by on-time closure
        rate, the city departments, the top categories and hotspots (the report's JSON)."""
        return _report(request, kind, period, "city", viewer)

    @router.get("/{kind}/{period}/{scope}", summary="A district's report with its handling units")
    def district(
        request: Request,
        kind: Annotated[str, KIND],
        period: Annotated[str, PERIOD],
        scope: Annotated[str, SCOPE],
        viewer: Viewer = admit,
    ) -> Response:
        """One district's report for the period: its figures, its handling units, supervised cases
        by level, the top categories and hotspots (the report's JSON)."""
        return _report(request, kind, period, scope, viewer)

    @router.get("/{kind}/{period}/{scope}/{fmt}", summary="A report's CSV or PDF file")
    def download(
        kind: Annotated[str, KIND],
        period: Annotated[str, PERIOD],
        scope: Annotated[str, SCOPE],
        fmt: Annotated[str, PathParameter(pattern="^(csv|pdf)$")],
        viewer: Viewer = admit,
    ) -> Response:
        """The report's CSV (every figure of its rows) or PDF (the report printed), as written."""
        path = _root() / kind / period / f"{scope}.{fmt}"
        if not path.is_file():
            raise _missing(f"{fmt} of the {kind} report {period} for {scope}")
        return FileResponse(
            path,
            media_type=DOWNLOADS[fmt],
            filename=f"casehub-{kind}-{period}-{scope}.{fmt}",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    return router


def _report(request: Request, kind: str, period: str, scope: str, viewer: Viewer) -> Response:
    root = _root()
    data = _read(root, kind, period, scope)
    if not wants_html(request):
        return JSONResponse(data)
    return _html(_report_page(root, data, kind, period, scope, viewer))


def _listing_page(found: dict[str, list[str]], viewer: Viewer) -> str:
    if not any(found.values()):
        body = render.notice(
            "<b>No report written yet.</b> The <code>report_monthly</code> DAG writes the last month's "
            "on the 1st, <code>report_weekly</code> the last week's on Mondays; trigger one (with "
            "<code>period</code> for another) in the Airflow UI."
        )
        return render.page("Efficiency reports", body, here="reports", who=viewer.name)
    parts: list[str] = []
    for kind, names in found.items():
        parts.append(f"<h2>{'月报 monthly' if kind == 'monthly' else '周报 weekly'}</h2>")
        parts.append(
            render.table(
                ["period", "city overview", "CSV", "PDF"],
                [
                    (
                        name,
                        render.Raw(f'<a href="reports/{kind}/{escape(name)}">open</a>'),
                        render.Raw(f'<a href="reports/{kind}/{escape(name)}/city/csv">csv</a>'),
                        render.Raw(f'<a href="reports/{kind}/{escape(name)}/city/pdf">pdf</a>'),
                    )
                    for name in names
                ],
                cls=f"periods {kind}",
            )
            if names
            else render.notice(f"No {kind} report yet.")
        )
    return render.page("Efficiency reports", "".join(parts), here="reports", who=viewer.name)


def _report_page(root: Path, data: dict[str, Any], kind: str, period: str, scope: str, viewer: Viewer) -> str:
    from casehub.reports.render import body
    from casehub.reports.report import from_dict

    here = f"reports/{kind}/{period}" + ("" if scope == "city" else f"/{scope}")
    back = "../" * here.count("/")
    files = f"{back}reports/{kind}/{period}/{scope}"
    districts = sorted(p.stem for p in (root / kind / period).glob("4201*.json"))
    links = [
        f'<a href="{back}reports/{kind}/{period}"{" class=here" if scope == "city" else ""}>全市 city</a>'
    ] + [
        f'<a href="{back}reports/{kind}/{period}/{code}"{" class=here" if scope == code else ""}>{code}</a>'
        for code in districts
    ]
    nav = (
        f'<p class="scopes">{" · ".join(links)}</p>'
        f'<p><a class="download" href="{files}/csv">CSV</a> · '
        f'<a class="download" href="{files}/pdf">PDF</a> · <a href="{back}reports">all periods</a></p>'
    )
    generated = render.when(data["generated_at"])
    content = (
        nav + body(from_dict(data)) + f'<p class="muted generated">生成时间 generated at {generated}</p>'
    )
    return render.page(str(data["title"]), content, here=here, who=viewer.name)

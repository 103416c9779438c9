"""The pages for people: Data Docs, the quality summary, the quarantine with replay, store stats.

Each answers HTML to a browser (`Accept: text/html`) and JSON to any other caller, and lets a
request in only through the guard the host supplied (`casehub/gateway/viewer.py`): inside the
Airflow UI that is Airflow's own login; with no guard, nobody. A refusal reveals nothing of the
store — no count, no name.

Nothing personal is shown: quarantine reasons name the field and the rule, never the value
(and are masked besides); quality results are counts.
"""

from __future__ import annotations

import json
import mimetypes
import re
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BeforeValidator

from casehub.errors import describe
from casehub.gateway import render
from casehub.gateway.context import context_of
from casehub.gateway.problems import Problem, documented
from casehub.gateway.viewer import Guard, PageRefusal, Viewer, forbidden, no_guard, wants_html

PREFIX = "/pages"
MAX_FORM_BYTES = 64 * 1024
DATA_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; "
    "form-action 'self'"
)
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'self'"
)


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": PAGE_CSP})


def _answer(request: Request, data: Any, html: str | None) -> Response:
    if html is not None and wants_html(request):
        return _html(html)
    return JSONResponse(json.loads(json.dumps(data, default=_jsonable)))


def _iso_day(value: Any) -> Any:
    """A day as the OpenAPI says it is written (YYYY-MM-DD): pydantic would also take `0`."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def install(app: FastAPI) -> None:
    """Answer a page's refusals as a page for a browser, as problem+json for anyone else."""

    @app.exception_handler(PageRefusal)
    async def on_refusal(request: Request, exc: PageRefusal) -> Response:
        if not wants_html(request):
            return exc.response()
        here = request.url.path.split(PREFIX + "/", 1)[-1]
        login = ""
        if exc.status == 401:
            # Relative, so it also leads home under an Airflow served below a base path.
            home = "../" * (here.count("/") + 2)
            login = f'<p><a href="{home}" target="_top">Open the Airflow UI</a> and log in.</p>'
        body = render.notice(f"<b>{escape(exc.title)}</b>: {escape(exc.detail)}{login}", error=True)
        response = _html(render.page(exc.title, body, here=here), exc.status)
        response.headers.update(exc.headers)
        return response


def build(guard: Guard | None) -> APIRouter:
    """The pages behind `guard` (None: nobody gets in)."""
    router = APIRouter(
        prefix=PREFIX,
        tags=["pages"],
        responses=documented(
            {
                401: "not logged in (no or an expired Airflow session or token)",
                403: "logged in without the role, a form from another site, or no host login at all",
            }
        ),
    )
    admit = Depends(guard or no_guard)  # a closure's Annotated alias would not resolve as a string

    @router.get("/stats", summary="Store statistics, as tables")
    def stats(request: Request, viewer: Viewer = admit) -> Response:
        """What `casehub stats --json` reports — raw records by outcome and whether they reconcile,
        cases by channel, status, grade and unit, the quarantine, outbox, inbox and cursors."""
        from casehub.stats import collect

        data = collect(context_of(request).store())
        return _answer(request, data, _stats_page(data, viewer) if wants_html(request) else None)

    @router.get("/quality", summary="Which rules the data broke, per channel and day")
    def quality(
        request: Request,
        viewer: Viewer = admit,
        channel: Annotated[str | None, Query(description="only this channel")] = None,
        days: Annotated[int, Query(ge=1, le=90, description="days up to `until`")] = 14,
        until: Annotated[
            date | None,
            BeforeValidator(_iso_day),
            Query(description="the last day (default today, Asia/Shanghai)"),
        ] = None,
    ) -> Response:
        """Per channel and day, which rules the data broke and how often, the trend (rows breaking a
        rule per day), and the top failing rules over the window (`casehub/quality_summary.py`)."""
        from casehub.quality_summary import summarize

        engine = context_of(request).store()
        summary = summarize(engine, channel=channel or None, days=days, until=until)
        every = summary if not channel else summarize(engine, days=days, until=until)
        html = _quality_page(summary, every.channels, viewer) if wants_html(request) else None
        return _answer(request, summary.as_dict(), html)

    @router.get("/quarantine", summary="Quarantined records and why, filtered; replay after a fix")
    def quarantine(
        request: Request,
        viewer: Viewer = admit,
        channel: Annotated[str | None, Query(description="only this channel's entries")] = None,
        reason: Annotated[str | None, Query(description="only entries with this reason code")] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 200,
    ) -> Response:
        """Open entries, oldest first: each one's reasons (codes, fields, never values) and source
        update time, its replay history; the channels and reason codes to filter by."""
        from casehub.quarantine_view import listing

        found = listing(
            context_of(request).store(), channel=channel or None, reason=reason or None, limit=limit
        )
        data = {**found.as_dict(), "may_replay": viewer.may_replay}
        html = _quarantine_page(found, viewer, channel or "", reason or "") if wants_html(request) else None
        return _answer(request, data, html)

    @router.post("/quarantine/replay", summary="Run entries through the pipeline again")
    async def replay(request: Request, viewer: Viewer = admit) -> Response:
        """Replay the entries named (`id`, repeatable) or every open one a filter matches (`channel`,
        `reason`, `all=1`), each through its channel's pipeline; answers the outcome per channel and
        each entry as it now stands. A form or JSON body; needs the role to change DAG runs."""
        form = await _form(request)
        viewer.check_form(request, _one(form, "token"))
        if not viewer.may_replay:
            raise forbidden("your Airflow role may not replay: it needs to change DAG runs")
        ids, channel, reason = _selection(request, form)
        outcome = _replay(request, ids)
        html = _replayed_page(outcome, viewer, channel, reason) if wants_html(request) else None
        return _answer(request, {**outcome.as_dict(), "requested": len(ids)}, html)

    @router.get(
        "/hotspots",
        summary="What residents write about most, per district, and what is rising",
        responses=documented({404: "no such district"}),
    )
    def hotspots(
        request: Request,
        viewer: Viewer = admit,
        district: Annotated[
            str | None,
            Query(pattern=r"^[0-9]{6}$", description="a district's code (default 420100, the whole city)"),
        ] = None,
        period: Annotated[
            Literal["day", "week"], Query(description="the day, or the seven days ending on it")
        ] = "day",
        day: Annotated[
            date | None,
            BeforeValidator(_iso_day),
            Query(description="the (last) day, Asia/Shanghai (default the newest computed)"),
        ] = None,
    ) -> Response:
        """The top terms (热点) of the district's cases in the period, with their case counts and
        TF-IDF and TextRank weights against the period before, and the rising terms (焦点) with
        their rise (`docs/hotspots.md`), as `hotspots_daily` computed them; the days computed."""
        from casehub.hotspots import CITY, shown
        from casehub.reference import load_reference

        names = {CITY: "武汉市 city", **{c: r.name for c, r in sorted(load_reference().districts.items())}}
        scope = district or CITY
        if scope not in names:
            raise PageRefusal(
                404, "not-found", "No such district", f"district {scope} is not one of the city's districts"
            )
        found = shown(context_of(request).store(), day=day, period=period, scope=scope)
        html = _hotspots_page(found, names, viewer) if wants_html(request) else None
        return _answer(request, found.as_dict(), html)

    @router.get("/data-docs", include_in_schema=False)
    def data_docs_bare(viewer: Viewer = admit) -> Response:
        return RedirectResponse("data-docs/", status_code=307)

    @router.get("/data-docs/", summary="The Great Expectations Data Docs site")
    def data_docs(request: Request, viewer: Viewer = admit) -> Response:
        """The site's validation results, newest first, and its suites, each linking to GX's own
        page (its `index.html` needs scripts from public CDNs, so the pages list them instead); a
        page saying how to build the site while `quality_daily` has not."""
        return _data_docs_index(request, viewer)

    @router.get(
        "/data-docs/{path:path}",
        summary="A file of the Data Docs site",
        responses=documented({404: "no such file in the Data Docs"}),
    )
    def data_docs_file(request: Request, path: str, viewer: Viewer = admit) -> Response:
        """A page or asset of the site; nothing outside it. A page gets a local stylesheet and a
        way back to the list of results."""
        from casehub.paths import data_docs_dir

        if path == "index.html":
            return _data_docs_index(request, viewer)
        found = _inside(data_docs_dir(), path)
        if found.suffix != ".html":
            return _file(found)
        from casehub.gateway.data_docs import offline

        back = "../" * path.count("/") or "./"
        return HTMLResponse(offline(found.read_bytes(), back), headers=_DATA_DOCS_HEADERS)

    return router


HOW_TO_BUILD = (
    "the quality_daily DAG builds it: trigger quality_daily in the Airflow UI (Dags), "
    "or run `airflow dags test quality_daily`"
)


def _inside(root: Path, path: str) -> Path:
    """`path` under `root`, or a 404: no `..`, no absolute path, no link out of the site."""
    base = root.resolve()
    if "\x00" in path or path.startswith(("/", "\\")):
        raise PageRefusal(404, "not-found", "Not found", "no such file in the Data Docs")
    target = (base / path).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise PageRefusal(404, "not-found", "Not found", "no such file in the Data Docs")
    return target


_DATA_DOCS_HEADERS = {"Content-Security-Policy": DATA_DOCS_CSP, "X-Content-Type-Options": "nosniff"}


def _file(path: Path) -> Response:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=kind, headers=_DATA_DOCS_HEADERS)


def _data_docs_index(request: Request, viewer: Viewer) -> Response:
    from casehub.gateway.data_docs import site
    from casehub.paths import data_docs_dir

    root = data_docs_dir()
    built = site(root)
    if built is None:
        data: dict[str, Any] = {"built": False, "where": str(root), "how": HOW_TO_BUILD}
        return _answer(request, data, _unbuilt_page(viewer))
    data = {
        "built": True,
        "built_at": built.built_at,
        "validations": [
            {
                "suite": r.suite,
                "run_time": r.run_time,
                "run_name": r.run_name,
                "batch": r.batch,
                "page": r.path,
            }
            for r in built.results
        ],
        "suites": [{"suite": name, "page": path} for name, path in built.suites],
    }
    return _answer(request, data, _data_docs_page(built, viewer) if wants_html(request) else None)


async def _form(request: Request) -> dict[str, list[str]]:
    """The POST body, urlencoded (a browser's form) or JSON (`{"ids": [...]}` or a filter)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Problem(413, "too-large", "Request too large", f"at most {MAX_FORM_BYTES} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            sent = json.loads(body or b"{}")
        except ValueError:
            raise Problem(400, "invalid-request", "Invalid request", "the body is not JSON") from None
        if not isinstance(sent, dict):
            raise Problem(400, "invalid-request", "Invalid request", "send a JSON object")
        ids = sent.get("ids") or []
        form = {
            k: [str(v)]
            for k, v in sent.items()
            if k in {"channel", "reason", "all", "token"} and v is not None
        }
        form["id"] = [str(i) for i in (ids if isinstance(ids, list) else [ids])]
        return form
    return parse_qs(body.decode("utf-8", "replace"), max_num_fields=1100)


def _one(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    return values[0] if values else None


def _selection(request: Request, form: dict[str, list[str]]) -> tuple[list[int], str, str]:
    """The entry ids to replay: those named, or every open one the filter matches (`all`)."""
    from casehub.quarantine_view import MAX_SHOWN, listing

    channel, reason = _one(form, "channel") or "", _one(form, "reason") or ""
    try:
        ids = sorted({int(i) for i in form.get("id", []) if i.strip()})
    except ValueError:
        raise Problem(400, "invalid-request", "Invalid request", "an id is not a number") from None
    if not ids and _one(form, "all"):
        chosen = listing(
            context_of(request).store(), channel=channel or None, reason=reason or None, limit=MAX_SHOWN
        )
        ids = [e.id for e in chosen.entries]
    if not ids:
        raise Problem(400, "nothing-chosen", "Nothing to replay", "name entries (id) or a filter with all=1")
    return ids, channel, reason


def _replay(request: Request, ids: list[int]) -> Any:
    from casehub.crypto import load_keyring
    from casehub.errors import ConfigurationError
    from casehub.quarantine_view import replay

    try:
        keyring = load_keyring()
    except ConfigurationError as exc:
        raise PageRefusal(503, "keyring-unavailable", "No key ring", str(exc)) from None
    try:
        return replay(context_of(request).store(), keyring, ids)
    except ConfigurationError as exc:  # a ring that is not the store's, a connector that will not load
        raise PageRefusal(503, "not-configured", "Cannot replay", str(exc)) from None


# --- HTML ------------------------------------------------------------------------------------


def _stats_page(data: dict[str, Any], viewer: Viewer) -> str:
    raw = data["raw_by_outcome"]
    verdict = (
        '<span class="ok">reconciled</span>'
        if data["reconciled"]
        else '<span class="bad">NOT reconciled</span>'
    )
    body = [
        render.notice(
            f"raw records <b>{data['raw']:,}</b> = accepted <b>{raw['accepted']:,}</b> + quarantined "
            f"<b>{raw['quarantined']:,}</b> + superseded <b>{raw['superseded']:,}</b>: {verdict}",
            error=not data["reconciled"],
        ),
        render.cards(
            {
                "raw records": data["raw"],
                "cases": data["cases"]["total"],
                "open quarantine": data["quarantined"]["total"],
                "reconciled": data["reconciled"],
            }
        ),
        "<h2>Reconciliation checks</h2>",
        render.table(["check", "holds"], [(k.replace("_", " "), v) for k, v in data["checks"].items()]),
    ]
    cases = data["cases"]
    statuses = sorted({s for per in cases["by_channel_status"].values() for s in per})
    body += [
        "<h2>Cases by channel and status</h2>",
        render.table(
            ["channel", "total", *statuses],
            [
                (ch, cases["by_channel"].get(ch, 0), *(per.get(s, 0) for s in statuses))
                for ch, per in cases["by_channel_status"].items()
            ],
            numeric=range(1, len(statuses) + 2),
            cls="channels",
        ),
        '<div style="display:flex;gap:2em;flex-wrap:wrap"><div><h2>By grade</h2>',
        render.table(["grade", "cases"], cases["by_grade"].items(), numeric=[1]),
        "</div><div><h2>By routed unit kind</h2>",
        render.table(["unit kind", "cases"], cases["by_unit_kind"].items(), numeric=[1]),
        "</div><div><h2>Quarantine by reason</h2>",
        render.table(["reason", "open entries"], data["quarantined"]["by_reason"].items(), numeric=[1]),
        "</div><div><h2>Quarantine by state</h2>",
        render.table(["state", "entries"], data["quarantined"]["by_state"].items(), numeric=[1]),
        "</div></div>",
        "<h2>Outbox</h2>",
        render.table(
            ["partner", "pending", "delivered", "dead"],
            [
                (p, c.get("pending", 0), c.get("delivered", 0), c.get("dead", 0))
                for p, c in data["outbox"].items()
            ],
            numeric=[1, 2, 3],
        ),
        "<h2>Webhook inbox</h2>",
        render.table(
            ["partner", "pending", "processed"],
            [(p, c.get("pending", 0), c.get("processed", 0)) for p, c in data["inbox"].items()],
            numeric=[1, 2],
        ),
        "<h2>Scheduled pushes (provision log)</h2>",
        render.table(
            ["recipient", "batches", "records", "provided until"],
            [(r, p["batches"], p["records"], p["provided_until"]) for r, p in data["provisions"].items()],
            numeric=[1, 2],
        ),
        "<h2>Cursors</h2>",
        render.table(["channel", "read up to"], data["cursors"].items()),
    ]
    return render.page("Store stats", "".join(body), here="stats", who=viewer.name)


def _quality_page(summary: Any, channels: tuple[str, ...], viewer: Viewer) -> str:
    chosen = summary.channel or ""
    filters = (
        '<form class="filters" method="get">'
        '<label>channel<select name="channel">'
        f"{render.options([('', 'all channels'), *((c, c) for c in channels)], chosen)}"
        "</select></label>"
        f'<label>days<input type="number" name="days" min="1" max="90" value="{len(summary.days)}"></label>'
        f'<label>until<input type="date" name="until" value="{summary.until}"></label>'
        "<button>Show</button></form>"
    )
    last = render.when(summary.last_validated_at)
    broken = sum(1 for c in summary.channel_days if c.rules_broken)
    body = [
        filters,
        render.cards(
            {
                "validations": summary.validations,
                "rows breaking a rule": sum(c.unexpected for c in summary.channel_days),
                "rules broken": len(summary.top),
                "channel-days with a broken rule": broken,
            }
        ),
        f'<p class="muted">{summary.since} – {summary.until} (Asia/Shanghai); '
        f"last validation {last or 'none'}"
        ". A day <code>quality_daily</code> validated is read from its trend; other days from the pages "
        "validated at ingest.</p>",
    ]
    kept_out = _kept_out(summary)
    if not summary.rules:
        body.append(
            render.notice(
                "No validation results in this window yet: they are written as pages are ingested and by "
                "the <code>quality_daily</code> DAG."
            )
        )
        body += kept_out
        return render.page("Data quality", "".join(body), here="quality", who=viewer.name)
    per_day: dict[tuple[str, str], list[str]] = {}
    for q in summary.quarantined:
        per_day.setdefault((q.day, q.channel), []).append(f"<code>{escape(q.reason)}</code> {q.records:,}")
    quarantined = {key: ", ".join(items) for key, items in per_day.items()}
    body += [
        "<h2>Rows breaking a rule, per day</h2>",
        render.line_chart(summary.days, summary.series(), title="rows breaking a rule per channel and day"),
        "<h2>Top failing rules</h2>",
        render.table(
            [
                "rule",
                "severity",
                "suite",
                "rows broken",
                "rows checked",
                "pass rate",
                "days broken",
                "channels",
                "last broken",
            ],
            [
                (
                    render.Raw(f"<code>{escape(r.rule)}</code>"),
                    render.Raw(f'<span class="{escape(r.severity)}">{escape(r.severity)}</span>'),
                    r.suite,
                    r.unexpected,
                    r.evaluated,
                    r.pass_rate,
                    r.days_broken,
                    ", ".join(r.channels),
                    r.last_broken,
                )
                for r in summary.top
            ],
            numeric=[3, 4, 5, 6],
            cls="top",
        )
        if summary.top
        else render.notice("No rule broken in this window."),
        "<h2>Per channel and day</h2>",
        render.table(
            [
                "day",
                "channel",
                "rules checked",
                "rules broken",
                "rows broken",
                "from",
                "quarantined at ingest",
            ],
            [
                (
                    render.Raw(f'<span class="t">{escape(c.day)}</span>'),
                    c.channel,
                    c.rules_checked,
                    render.Raw(", ".join(f"<code>{escape(r)}</code>" for r in c.rules_broken) or "none"),
                    c.unexpected,
                    c.source,
                    render.Raw(quarantined.get((c.day, c.channel), "")),
                )
                for c in reversed(summary.channel_days)
            ],
            numeric=[2, 4],
            cls="days",
        ),
        *kept_out,
    ]
    return render.page("Data quality", "".join(body), here="quality", who=viewer.name)


def _kept_out(summary: Any) -> list[str]:
    """The records quarantined at ingest in the window, by reason: what never reached a suite."""
    reasons = summary.quarantined_by_reason()
    if not reasons:
        return []
    return [
        "<h2>Kept out at ingest: records quarantined, by reason</h2>",
        render.table(
            ["reason", "records", "channels"],
            [(render.Raw(f"<code>{escape(r)}</code>"), n, ", ".join(ch)) for r, n, ch in reasons],
            numeric=[1],
            cls="kept-out",
        ),
    ]


def _quarantine_page(found: Any, viewer: Viewer, channel: str, reason: str) -> str:
    filters = (
        '<form class="filters" method="get">'
        f'<label>channel<select name="channel">'
        f"{render.options([('', 'all channels'), *_counted(found.channels)], channel)}"
        "</select></label>"
        f'<label>reason<select name="reason">'
        f"{render.options([('', 'all reasons'), *_counted(found.reasons)], reason)}"
        "</select></label><button>Filter</button></form>"
    )
    token = f'<input type="hidden" name="token" value="{escape(viewer.form_token())}">'
    body = [
        filters,
        f'<p><b class="matched">{found.matched:,}</b> open entries match; '
        f"{len(found.entries):,} shown, oldest first; times in Asia/Shanghai. "
        "Reasons name the field and the rule, never the value.</p>",
    ]
    if viewer.may_replay and found.matched:
        body.append(
            '<form method="post" action="quarantine/replay" class="filters">'
            f'{token}<input type="hidden" name="all" value="1">'
            f'<input type="hidden" name="channel" value="{escape(channel)}">'
            f'<input type="hidden" name="reason" value="{escape(reason)}">'
            f'<button class="replay-all">Replay these {len(found.entries):,} after a fix</button></form>'
        )
    rows = []
    for e in found.entries:
        reasons = "<br>".join(
            f"<code>{escape(r['code'])}</code> {escape(describe(r['field'], r['message']))}"
            for r in e.reasons
        )
        steps = "<br>".join(
            f"{render.when(s['at']) if s['at'] else ''} {escape(str(s['action']))} → "
            f"{escape(_outcome(s['outcome']))}"
            for s in e.history
        )
        action = (
            f'<form method="post" action="quarantine/replay">{token}'
            f'<input type="hidden" name="id" value="{e.id}">'
            f'<input type="hidden" name="channel" value="{escape(channel)}">'
            f'<input type="hidden" name="reason" value="{escape(reason)}"><button>Replay</button></form>'
            if viewer.may_replay
            else ""
        )
        rows.append(
            (
                e.id,
                e.channel,
                e.source_id,
                render.when(e.source_updated_at),
                render.when(e.quarantined_at),
                e.attempts,
                render.Raw(reasons),
                render.Raw(steps or '<span class="muted">—</span>'),
                render.Raw(action),
            )
        )
    body.append(
        render.table(
            [
                "id",
                "channel",
                "source id",
                "source updated",
                "quarantined",
                "attempts",
                "reasons",
                "history",
                "",
            ],
            rows,
            numeric=[0, 5],
            cls="entries",
        )
    )
    return render.page("Quarantine", "".join(body), here="quarantine", who=viewer.name)


def _outcome(outcome: object) -> str:
    return str(outcome).replace("_", " ")


def _counted(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(value, f"{value} ({number:,})") for value, number in counts.items()]


def _replayed_page(outcome: Any, viewer: Viewer, channel: str, reason: str) -> str:
    back = "../quarantine" + (
        "?" + urlencode({k: v for k, v in (("channel", channel), ("reason", reason)) if v})
        if channel or reason
        else ""
    )
    totals = render.table(
        ["channel", "replayed", "resolved", "superseded", "still quarantined"],
        [
            (
                ch,
                t.get("replayed", 0),
                t.get("resolved", 0),
                t.get("superseded", 0),
                t.get("still_quarantined", 0),
            )
            for ch, t in outcome.totals.items()
        ],
        numeric=[1, 2, 3, 4],
        cls="totals",
    )
    rows = [
        (
            e.id,
            e.channel,
            e.source_id,
            render.Raw(f'<span class="{"ok" if e.state != "open" else "bad"}">{escape(e.state)}</span>'),
            _outcome(e.history[-1]["outcome"]) if e.history else None,
            ", ".join(e.codes) or None,
        )
        for e in outcome.entries
    ]
    body = (
        "<h2>Per channel</h2>"
        + totals
        + "<h2>Each entry now</h2>"
        + render.table(
            ["id", "channel", "source id", "state", "last replay", "reasons left"],
            rows,
            numeric=[0],
            cls="entries",
        )
        + f'<p><a href="{escape(back)}">Back to the quarantine</a></p>'
    )
    return render.page("Replay", body, here="quarantine/replay", who=viewer.name)


def _data_docs_page(built: Any, viewer: Viewer, shown: int = 200) -> str:
    suites: dict[str, int] = {}
    for r in built.results:
        suites[r.suite] = suites.get(r.suite, 0) + 1
    body = [
        render.cards({"validation results": len(built.results), "suites": len(built.suites)}),
        f'<p class="muted">Built by <code>quality_daily</code>, last at {render.when(built.built_at)} '
        "(Asia/Shanghai). Each result opens Great Expectations' own page.</p>",
        "<h2>Validation results, newest first</h2>",
        render.table(
            ["validated", "suite", "run", "batch", ""],
            [
                (
                    render.when(r.run_time),
                    render.Raw(f"<code>{escape(r.suite)}</code>"),
                    None if r.run_name in ("", "__none__") else r.run_name,
                    r.batch,
                    render.Raw(f'<a href="{escape(r.path)}">open</a>'),
                )
                for r in built.results[:shown]
            ],
            cls="results",
        ),
        "<h2>Expectation suites</h2>",
        render.table(
            ["suite", "results", ""],
            [
                (
                    render.Raw(f"<code>{escape(name)}</code>"),
                    suites.get(name, 0),
                    render.Raw(f'<a href="{escape(path)}">the rules</a>'),
                )
                for name, path in built.suites
            ],
            numeric=[1],
            cls="suites",
        ),
    ]
    if len(built.results) > shown:
        body.insert(3, f'<p class="muted">The newest {shown:,} of {len(built.results):,}.</p>')
    return render.page("Data Docs", "".join(body), here="data-docs/", who=viewer.name)


def _unbuilt_page(viewer: Viewer) -> str:
    from casehub.paths import data_docs_dir

    body = render.notice(
        "<b>The Data Docs are not built yet.</b> They are the Great Expectations validation reports, "
        f"which the <code>quality_daily</code> DAG builds into <code>{escape(str(data_docs_dir()))}</code>."
        "<br>To build them now, trigger <code>quality_daily</code> in the Airflow UI (Dags → quality_daily "
        "→ Trigger), or run <code>airflow dags test quality_daily</code>. This page shows them once they "
        "exist."
    )
    return render.page("Data Docs", body, here="data-docs/", who=viewer.name)


def _hotspots_page(found: Any, names: dict[str, str], viewer: Viewer) -> str:
    from casehub.hotspots import PERIODS

    days = found.days if found.day in found.days or found.day is None else (found.day, *found.days)
    filters = (
        '<form class="filters" method="get">'
        '<label>district<select name="district">'
        f"{render.options(names.items(), found.scope)}</select></label>"
        '<label>period<select name="period">'
        f"{render.options([('day', 'day'), ('week', 'week (7 days)')], found.period)}</select></label>"
        f'<label>day<select name="day">{render.options(((d, d) for d in days), found.day)}</select></label>'
        "<button>Show</button></form>"
    )
    if found.day not in found.days:
        which = f"for {escape(found.day)} " if found.day else ""
        empty = filters + render.notice(
            f"No hotspots computed {which}yet: the <code>hotspots_daily</code> DAG computes each day's "
            "after midnight. Trigger it in the Airflow UI (Dags → hotspots_daily → Trigger, with a day), "
            "or run <code>casehub hotspots --day YYYY-MM-DD</code>."
        )
        return render.page("Hotspots", empty, here="hotspots", who=viewer.name)
    last = date.fromisoformat(found.day)
    length = PERIODS[found.period]
    first = last - timedelta(days=length - 1)
    now = found.day if length == 1 else f"{first:%m-%d} – {last:%m-%d}"
    before_last = first - timedelta(days=1)
    before = (
        before_last.isoformat()
        if length == 1
        else f"{before_last - timedelta(days=length - 1):%m-%d} – {before_last:%m-%d}"
    )
    where = names[found.scope]
    body = [
        filters,
        render.cards(
            {
                "cases": found.scope_cases,
                "cases the period before": found.previous_scope_cases,
                "top terms": len(found.top),
                "rising terms": len(found.rising),
            }
        ),
        f'<p class="muted">{escape(where)}, {escape(now)} (Asia/Shanghai, by when each case was reported) '
        f"against {escape(before)}. A case names a term when the term is among its strongest by TF-IDF; "
        "phone and ID numbers are masked before any term is drawn.</p>",
    ]
    if not found.top:
        body.append(render.notice(f"No case of {escape(where)} in this period."))
        return render.page("Hotspots", "".join(body), here="hotspots", who=viewer.name)
    top = render.table(
        ["#", "term", "cases", "cases before", "TF-IDF", "TextRank", "weight"],
        [
            (
                t.rank,
                t.term,
                t.cases,
                t.previous_cases,
                render.Raw(f"{t.tfidf:.3f}"),
                render.Raw(f"{t.textrank:.3f}"),
                render.Raw(f"{t.weight:.3f}"),
            )
            for t in found.top
        ],
        numeric=[0, 2, 3, 4, 5, 6],
        cls="top",
    )
    rising = (
        render.table(
            ["#", "term", "cases", "cases before", "rise"],
            [
                (t.rising_rank, t.term, t.cases, t.previous_cases, render.Raw(f"×{t.rise:.2f}"))
                for t in found.rising
            ],
            numeric=[0, 2, 3, 4],
            cls="rising",
        )
        if found.rising
        else render.notice("No term rising against the period before.")
    )
    body += [
        "<h2>Top terms (热点): cases naming each, against the period before</h2>",
        render.term_bars(
            [(t.term, t.cases, t.previous_cases) for t in found.top[:12]],
            title=f"cases naming each top term, {now} and {before}",
            now=f"cases {now}",
            before=f"cases {before}",
        ),
        '<div style="display:flex;gap:2.5em;flex-wrap:wrap;align-items:flex-start">',
        f"<div><h2>Rising terms (焦点)</h2>{rising}"
        '<p class="muted" style="max-width:28em">Rise = (cases + 1) / (expected + 1), the expected count '
        "being the period before's scaled to this period's cases; a term rises when at least 3 cases "
        "name it and its rise is 2 or more.</p></div>",
        f"<div><h2>Top terms (热点)</h2>{top}</div>",
        "</div>",
    ]
    return render.page("Hotspots", "".join(body), here="hotspots", who=viewer.name)

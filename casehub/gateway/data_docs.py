"""The Great Expectations Data Docs site, as the pages serve it offline.

GX builds a static site (`casehub.paths.data_docs_dir()`): `validations/<suite>/<run
name>/<run time>/<batch>.html` per validation, `expectations/<suite>.html` per suite, and an
`index.html` whose table of results is drawn by scripts it loads from public CDNs. The hub runs
where those cannot be reached (and its pages load nothing from elsewhere), so the pages list
the site's results themselves from its files (`site`), and give each page of the site a small
local stylesheet and a way back (`offline`); the pages' own content is GX's, unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RUN_TIME = re.compile(r"^(\d{8}T\d{6})(?:\.(\d+))?Z$")

STYLE = b"""<style id="casehub-offline">
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;color:#1b1f24;margin:0}
.casehub-bar{padding:.6em 1.2em;border-bottom:1px solid #d0d7de;background:#f6f8fa}
.casehub-bar a{color:#0b5cad;text-decoration:none}
.container,.container-fluid{padding:0 1.2em!important;max-width:1200px}
table{border-collapse:collapse;margin:.3em 0 1em}
th,td{border-bottom:1px solid #d8dee4;padding:.25em .6em;text-align:left;vertical-align:top}
.badge{display:inline-block;padding:0 .4em;border-radius:3px;background:#eaeef2;font-size:12px}
.text-success{color:#1a7f37}.text-danger{color:#cf222e}.text-warning{color:#9a6700}
.sticky,nav.navbar,.ge-breadcrumbs{position:static!important}
img[src^="http"]{display:none}
ul.nav{list-style:none;padding-left:0}ul.nav li{display:inline;margin-right:.8em}
</style>"""


@dataclass(frozen=True)
class Result:
    """One validation's page in the site."""

    suite: str
    run_name: str
    run_time: datetime | None
    batch: str
    path: str


@dataclass(frozen=True)
class Site:
    built_at: datetime
    results: tuple[Result, ...]
    suites: tuple[tuple[str, str], ...]
    """(suite, path) of each expectation suite's page."""


def _run_time(text: str) -> datetime | None:
    match = RUN_TIME.match(text)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(
        microsecond=int((match.group(2) or "0")[:6].ljust(6, "0")), tzinfo=UTC
    )


def site(root: Path) -> Site | None:
    """What the site at `root` holds, newest validation first; None while it is not built."""
    index = root / "index.html"
    if not index.is_file():
        return None
    results = []
    for page in (root / "validations").glob("**/*.html"):
        parts = page.relative_to(root).parts
        if len(parts) < 3:
            continue
        results.append(
            Result(
                suite=parts[1],
                run_name=parts[2] if len(parts) > 4 else "",
                run_time=_run_time(parts[-2]),
                batch=page.stem,
                path="/".join(parts),
            )
        )
    results.sort(key=lambda r: (r.run_time or datetime.min.replace(tzinfo=UTC), r.path), reverse=True)
    suites = tuple(
        sorted(
            (page.stem, "/".join(page.relative_to(root).parts))
            for page in (root / "expectations").glob("*.html")
        )
    )
    return Site(
        built_at=datetime.fromtimestamp(index.stat().st_mtime, UTC), results=tuple(results), suites=suites
    )


def offline(html: bytes, back: str) -> bytes:
    """A page of the site with a local stylesheet and a bar leading `back` to the pages' index."""
    bar = f'<div class="casehub-bar"><a href="{back}">← casehub · Data Docs</a></div>'.encode()
    head = html.find(b"</head>")
    html = html if head < 0 else html[:head] + STYLE + html[head:]
    body = re.search(rb"<body[^>]*>", html)
    return html if body is None else html[: body.end()] + bar + html[body.end() :]

"""HTML for the pages for people: one layout, tables and an inline SVG line chart.

Everything is server-rendered with no script and no asset from elsewhere (the pages are served
offline, inside the Airflow UI's frame); every value is escaped on the way in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

CITY_TIME = ZoneInfo("Asia/Shanghai")

PAGES = (
    ("data-docs/", "Data Docs"),
    ("quality", "Quality"),
    ("quarantine", "Quarantine"),
    ("stats", "Store stats"),
    ("reports", "Reports"),
    ("hotspots", "Hotspots"),
)

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
margin:0;color:#1b1f24;background:#fff}
header{display:flex;gap:1.2em;align-items:baseline;padding:.7em 1.2em;border-bottom:1px solid #d0d7de;
background:#f6f8fa}
header b{font-size:15px}header a{color:#0b5cad;text-decoration:none}
header a.here{font-weight:600;color:#1b1f24}
header .who{margin-left:auto;color:#57606a}
main{padding:1em 1.2em;max-width:1200px}
h1{font-size:20px;margin:.2em 0 .5em}h2{font-size:16px;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.3em 0 1em}th,td{border-bottom:1px solid #d8dee4;padding:.3em .7em;
text-align:left;vertical-align:top}th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.muted{color:#57606a}
.critical{color:#cf222e}.warning{color:#9a6700}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:.5em 0 1em}.card{border:1px solid #d0d7de;border-radius:6px;
padding:.5em .9em;min-width:9em}.card .v{font-size:22px;font-weight:600}
form.filters{display:flex;gap:.8em;align-items:end;flex-wrap:wrap;margin:.4em 0 1em}
label{display:flex;flex-direction:column;font-size:12px;color:#57606a}
select,input,button{font:inherit;padding:.25em .5em}button{cursor:pointer}
.notice{border:1px solid #d0d7de;border-left:4px solid #0969da;padding:.6em 1em;background:#f6f8fa;
margin:.6em 0}
.notice.error{border-left-color:#cf222e}
code{background:#f6f8fa;padding:0 .3em;border-radius:3px}.t{white-space:nowrap}
"""


def page(title: str, body: str, *, here: str, who: str | None = None) -> str:
    """A whole page: the casehub bar (links relative to the pages' root) and `body`."""
    current = here.rstrip("/")
    back = _root(here)
    links = " ".join(
        f'<a href="{back}{path}"{" class=here" if path.rstrip("/") == current else ""}>{escape(name)}</a>'
        for path, name in PAGES
    )
    person = f'<span class="who">{escape(who)}</span>' if who else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>casehub · {escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><header><b>casehub</b> {links}{person}</header><main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>"
    )


def _root(here: str) -> str:
    """The relative way back to the pages' root from the page `here` (`quarantine/replay` → `../`)."""
    return "../" * here.count("/")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (), cls: str = ""
) -> str:
    """A table; cells are escaped unless wrapped in `Raw`, columns in `numeric` right-aligned."""
    right = set(numeric)
    head = "".join(f"<th{' class=n' if i in right else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in right else ''}>{cell(v)}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    attribute = f' class="{escape(cls)}"' if cls else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Raw(str):
    """Markup already escaped, to put in a cell as it is."""


def cell(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool):
        return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def when(moment: datetime | str | None) -> Raw | None:
    """A moment as the city reads it, `2026-11-20 09:00:00` in Asia/Shanghai, on one line."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return Raw(f'<span class="t">{moment.astimezone(CITY_TIME):%Y-%m-%d %H:%M:%S}</span>')


def cards(items: Mapping[str, Any]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="muted">{escape(k)}</div><div class="v">{cell(v)}</div></div>'
            for k, v in items.items()
        )
        + "</div>"
    )


def notice(html_text: str, *, error: bool = False) -> str:
    return f'<div class="notice{" error" if error else ""}">{html_text}</div>'


def options(values: Iterable[tuple[str, str]], chosen: str | None) -> str:
    """`<option>`s of (value, label), the empty value meaning "all"."""
    return "".join(
        f'<option value="{escape(v)}"{" selected" if v == (chosen or "") else ""}>{escape(label)}</option>'
        for v, label in values
    )


PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83")


TICK_FONT = 11
TICK_CHARACTER = 0.62
"""A tick label's character, at most, as a share of the font size (digits and a dash in the
pages' sans-serif faces)."""
TICK_GAP = 8


def axis_ticks(count: int, step: float, characters: int) -> list[int]:
    """Which of `count` points `step` pixels apart get a label of `characters` characters: every
    n-th, n as small as keeps each label clear of the next, and the last point always — in place
    of the n-th before it when the two would be closer than n points."""
    if count <= 0:
        return []
    width = characters * TICK_FONT * TICK_CHARACTER + TICK_GAP
    every = max(1, math.ceil(width / step)) if step > 0 else count
    ticks = list(range(0, count, every))
    last = count - 1
    if ticks[-1] != last:
        if last - ticks[-1] < every and len(ticks) > 1:
            ticks[-1] = last
        elif last - ticks[-1] >= every:
            ticks.append(last)
    return ticks


def line_chart(labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str) -> str:
    """An SVG line chart: one line per series over `labels` (days), a legend, the peak on the axis."""
    width, height, left, right, top, bottom = 820, 240, 48, 210, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(v for values in series.values() for v in values)])
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> float:
        return left + (i * step if len(labels) > 1 else plot_w / 2)

    def y(v: int) -> float:
        return top + plot_h - v / peak * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#8c959f"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#8c959f"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11" fill="#57606a">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h + 4}" text-anchor="end" font-size="11" '
        'fill="#57606a">0</text>',
    ]
    shown = [label[5:] for label in labels]
    for i in axis_ticks(len(labels), step, max((len(label) for label in shown), default=0)):
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'font-size="{TICK_FONT}" fill="#57606a">{escape(shown[i])}</text>'
        )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(values):
            if v:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(name)} {escape(labels[i])}: {v:,}</title></circle>"
                )
        ly = top + 12 + n * 18
        parts.append(f'<rect x="{left + plot_w + 16}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        parts.append(
            f'<text x="{left + plot_w + 34}" y="{ly + 1}" font-size="12" fill="#1b1f24">{escape(name)} '
            f"({sum(values):,})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def term_bars(rows: Sequence[tuple[str, int, int]], *, title: str, now: str, before: str) -> str:
    """An SVG bar chart of terms (热点词): per term, a bar of its cases `now` and beneath it a
    thinner one of the period `before`, each with its count; longest first as given."""
    label_w, bar_w, row_h, top = 130, 560, 30, 28
    width, height = label_w + bar_w + 90, top + row_h * len(rows) + 8
    peak = max([1, *(max(n, p) for _, n, p in rows)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<rect x="{label_w}" y="6" width="12" height="12" fill="{PALETTE[0]}"/>'
        f'<text x="{label_w + 18}" y="16" font-size="12" fill="#1b1f24">{escape(now)}</text>',
        f'<rect x="{label_w + 200}" y="10" width="12" height="5" fill="#afb8c1"/>'
        f'<text x="{label_w + 218}" y="16" font-size="12" fill="#1b1f24">{escape(before)}</text>',
    ]
    for i, (term, cases, previous) in enumerate(rows):
        y = top + i * row_h
        wide, narrow = cases / peak * bar_w, previous / peak * bar_w
        parts += [
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" font-size="13" '
            f'fill="#1b1f24">{escape(term)}</text>',
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{wide:.1f}" height="15" fill="{PALETTE[0]}">'
            f"<title>{escape(term)} {escape(now)}: {cases:,}</title></rect>",
            f'<text x="{label_w + wide + 6:.1f}" y="{y + 14}" font-size="12" fill="#1b1f24">{cases:,}</text>',
            f'<rect class="before" x="{label_w}" y="{y + 19}" width="{narrow:.1f}" height="5" fill="#afb8c1">'
            f"<title>{escape(term)} {escape(before)}: {previous:,}</title></rect>",
            f'<text x="{label_w + narrow + 6:.1f}" y="{y + 25}" font-size="10" '
            f'fill="#57606a">{previous:,}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)

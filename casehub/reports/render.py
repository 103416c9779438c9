"""A report as files: HTML with inline SVG charts, CSV, and PDF (WeasyPrint, from the same HTML).

The HTML body is one fragment (`body`): the pages in the Airflow UI put it in their layout, the
file (`document`) in a print layout of its own. Nothing is loaded from elsewhere and every value
is escaped. The generation time appears once, in the file's last line, so a rerun of a period
gives the same files apart from it (the CSV not at all).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from html import escape

from casehub.gateway import render
from casehub.reports.figures import Tally
from casehub.reports.printing import print_pdf
from casehub.reports.report import Report
from casehub.supervision import LEVEL_NAMES, LEVELS

FIGURES = (
    ("received", "受理 received"),
    ("registered", "立案 registered"),
    ("due", "应结案 due"),
    ("closed", "结案 closed"),
    ("on_time", "按期结案 on time"),
    ("closure_rate", "结案率 closure rate"),
    ("on_time_rate", "按期结案率 on-time rate"),
    ("average_handling_days", "平均办理时长 working days"),
    ("satisfaction_rate", "满意率 satisfaction"),
    ("returns", "退回 returns"),
)
RATES = {"closure_rate", "on_time_rate", "satisfaction_rate"}
CSV_COLUMNS = (
    "section",
    "rank",
    "code",
    "name",
    "received",
    "registered",
    "due",
    "closed",
    "closed_on_time",
    "closure_rate",
    "on_time_rate",
    "average_handling_working_days",
    "evaluated",
    "satisfied",
    "satisfaction_rate",
    "returns",
    *(f"supervised_{level}" for level in LEVELS),
)

FONTS = "'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif"
"""The print's one typeface, for the text and the charts alike."""
PRINT_STYLE = f"""
@page{{size:A4 landscape;margin:14mm 12mm}}
body{{font:10px/1.4 {FONTS};color:#1b1f24;margin:0}}
h1{{font-size:20px;margin:0 0 .4em}}h2{{font-size:14px;margin:1.1em 0 .3em;break-after:avoid}}
table{{border-collapse:collapse;margin:.3em 0 .8em;width:100%;table-layout:fixed}}
th,td{{border-bottom:1px solid #d8dee4;padding:.2em .4em;text-align:left;vertical-align:top}}
th{{background:#f6f8fa}}
td.n,th.n{{text-align:right;font-variant-numeric:tabular-nums}}tr{{break-inside:avoid}}
table.categories,table.hotspots{{break-inside:avoid}}
.cards{{display:flex;gap:.6em;flex-wrap:wrap;margin:.4em 0 .8em}}.card{{border:1px solid #d0d7de;
border-radius:4px;padding:.3em .6em;min-width:7em}}.card .v{{font-size:17px}}
.muted{{color:#57606a}}.generated{{color:#57606a;margin-top:1.5em}}.charts{{display:flex;gap:1em;flex-wrap:wrap}}
code{{background:#f6f8fa;padding:0 .3em;font-family:inherit}}
@media print{{h1,h2,th,.card .v{{font-weight:normal}}h1,h2{{color:#0b3d91}}}}
@media screen{{h1,h2,th,.card .v{{font-weight:600}}}}
"""
"""The top categories and the hotspots (at most `TOP` and `TOP_TERMS` rows) are never split:
each goes whole, with its heading, to the next page when the page ends within it. One face, one
weight and no monospace in print: WeasyPrint embeds a subset of every face and weight a
document uses, and cutting a subset out of a CJK font is most of a report's printing (a bold or
a monospaced CJK face is another whole font to cut). Headings stand out by size and
colour instead; on screen the HTML file keeps its bold."""


def _value(tally: Tally, name: str) -> object:
    return getattr(tally, name)


def _cell(name: str, value: object) -> object:
    if name == "average_handling_days" and isinstance(value, float):
        return render.Raw(f"{value:.2f}")
    return value


def cards(tally: Tally) -> str:
    items = {label: _cell(name, _value(tally, name)) for name, label in FIGURES}
    items["催办 / 督办 / 挂牌督办 supervised"] = " / ".join(str(tally.supervised[level]) for level in LEVELS)
    return render.cards(items)


def figures_table(rows: Sequence[Tally], *, first: str, ranked: bool, cls: str) -> str:
    headers = [
        *(["名次 rank"] if ranked else []),
        first,
        *(label for _, label in FIGURES),
        *(f"{LEVEL_NAMES[level]} {level}" for level in LEVELS),
    ]
    offset = 1 if ranked else 0
    numeric = [*([0] if ranked else []), *range(offset + 1, len(headers))]
    return render.table(
        headers,
        [
            (
                *([row.rank] if ranked else []),
                render.Raw(f"{escape(row.name)} <span class=muted>{escape(row.code)}</span>"),
                *(_cell(name, _value(row, name)) for name, _ in FIGURES),
                *(row.supervised[level] for level in LEVELS),
            )
            for row in rows
        ],
        numeric=numeric,
        cls=cls,
    )


def bar_chart(items: Sequence[tuple[str, float | None]], *, title: str, percent: bool = False) -> str:
    """A horizontal SVG bar chart: one bar per item, its value at its end (— for none)."""
    width, bar, gap, left, right = 560, 16, 6, 170, 70
    height = 12 + len(items) * (bar + gap)
    peak = max([1e-9, *(v for _, v in items if v is not None)]) if not percent else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for n, (label, value) in enumerate(items):
        y = 6 + n * (bar + gap)
        length = (width - left - right) * ((value or 0) / peak)
        shown = "—" if value is None else f"{value:.1%}" if percent else f"{value:,.0f}"
        parts += [
            f'<text x="{left - 6}" y="{y + bar - 4}" text-anchor="end" font-size="11" fill="#1b1f24">'
            f"{escape(label)}</text>",
            f'<rect class="bar" x="{left}" y="{y}" width="{length:.1f}" height="{bar}" '
            f'fill="{render.PALETTE[n % len(render.PALETTE)] if not percent else render.PALETTE[0]}">'
            f"<title>{escape(label)}: {shown}</title></rect>",
            f'<text x="{left + length + 4:.1f}" y="{y + bar - 4}" font-size="11" '
            f'fill="#57606a">{shown}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def body(report: Report) -> str:
    """The report's content, without a page around it."""
    summary = report.summary
    period = report.period
    parts = [
        f'<p class="muted">{escape(period.title)}: {period.first} – {period.last} (Asia/Shanghai). '
        "Working days on the mainland calendar with its holidays and adjusted workdays; "
        "every figure as docs/reports.md defines it.</p>",
        cards(summary),
        "<h2>每日受理 received per day</h2>",
        render.line_chart(
            [day.isoformat() for day, _ in report.daily],
            {"受理 received": [n for _, n in report.daily]},
            title="cases received per day",
        ),
    ]
    if report.is_city:
        parts += [
            "<h2>各区按期结案率排名 districts ranked by on-time closure rate</h2>",
            bar_chart(
                [(row.name, row.on_time_rate) for row in report.rows],
                title="on-time closure rate per district",
                percent=True,
            ),
            "<h2>各区效能 districts</h2>",
            figures_table(report.rows, first="区 district", ranked=True, cls="districts"),
        ]
        if report.units:
            parts += [
                "<h2>市直部门 city departments</h2>",
                figures_table(report.units, first="单位 unit", ranked=False, cls="units"),
            ]
    else:
        parts += [
            "<h2>督办 supervised cases by level</h2>",
            bar_chart(
                [(f"{LEVEL_NAMES[level]} {level}", summary.supervised[level]) for level in LEVELS],
                title="supervised cases by level",
            ),
            "<h2>承办单位 handling units</h2>",
            figures_table(report.rows, first="单位 unit", ranked=False, cls="units")
            if report.rows
            else render.notice("No unit had a case in this period."),
        ]
    parts += [
        "<h2>热点类别 top categories</h2>",
        render.table(
            ["类别 category", "code", "受理 received"],
            [(c.name, render.Raw(f"<code>{escape(c.code)}</code>"), c.cases) for c in report.top_categories],
            numeric=[2],
            cls="categories",
        ),
        "<h2>热点 hotspots</h2>",
        render.table(
            ["名次 rank", "热点词 term", "案件 cases"],
            [(h.rank, h.term, h.cases) for h in report.hotspots],
            numeric=[0, 2],
            cls="hotspots",
        )
        + f'<p class="muted">{escape(report.hotspots_source)}.</p>'
        if report.hotspots
        else render.notice(escape(f"{report.hotspots_source[:1].upper()}{report.hotspots_source[1:]}.")),
    ]
    return "".join(parts)


def generated_line(report: Report) -> str:
    return f'<p class="generated">生成时间 generated at {render.when(report.generated_at)}</p>'


def document(report: Report) -> str:
    """The report as a file of its own, laid out for print (the PDF is made from it)."""
    content = body(report).replace("<svg ", f'<svg font-family="{FONTS}" ')  # the charts' text too
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        f"<title>{escape(report.title)}</title><style>{PRINT_STYLE}</style></head>"
        f"<body><h1>{escape(report.title)}</h1>{content}\n{generated_line(report)}\n</body></html>\n"
    )


def table_csv(report: Report) -> str:
    """The report's figures as one CSV: the scope's summary, its rows (districts or units), the
    city departments, then the top categories (code, name, cases received) and the hotspots (rank,
    term, cases naming it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def line(section: str, tally: Tally) -> list[object]:
        d = tally.as_dict()
        return [
            section,
            d.get("rank", ""),
            d["code"],
            d["name"],
            *(
                "" if d[k] is None else d[k]
                for k in (
                    "received",
                    "registered",
                    "due",
                    "closed",
                    "closed_on_time",
                    "closure_rate",
                    "on_time_rate",
                    "average_handling_working_days",
                    "evaluated",
                    "satisfied",
                    "satisfaction_rate",
                    "returns",
                )
            ),
            *(d["supervised"][level] for level in LEVELS),
        ]

    writer.writerow(line("city" if report.is_city else "district", report.summary))
    for row in report.rows:
        writer.writerow(line("district" if report.is_city else "unit", row))
    for unit in report.units:
        writer.writerow(line("unit", unit))
    blank = [""] * (len(CSV_COLUMNS) - 5)
    for c in report.top_categories:
        writer.writerow(["top_category", "", c.code, c.name, c.cases, *blank])
    for h in report.hotspots:
        writer.writerow(["hotspot", h.rank, "", h.term, h.cases, *blank])
    return out.getvalue()


def pdf(report: Report) -> bytes:
    return print_pdf(document(report))

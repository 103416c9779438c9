"""A report's short tables as WeasyPrint prints them: the top categories and the hotspots stay
whole on one page with their heading, wherever the page would end, as poppler reads the pages."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from casehub.gateway import render
from casehub.reports.figures import TOP
from casehub.reports.hotspots import TOP_TERMS
from casehub.reports.render import PRINT_STYLE, print_pdf

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not os.environ.get("CI"),
    reason="needs poppler-utils' pdftotext (make pdf installs it)",
)


def pages_of(html: str, tmp_path: Path) -> list[str]:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(print_pdf(html))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


@pytest.mark.parametrize(("cls", "rows"), [("hotspots", TOP_TERMS), ("categories", TOP)])
def test_a_short_table_is_never_split_from_its_rows_or_its_heading(
    cls: str, rows: int, tmp_path: Path
) -> None:
    table = render.table(
        ["名次 rank", "词 term", "案件 cases"],
        [(n, f"词条{n}号", n * 3) for n in range(1, rows + 1)],
        cls=cls,
    )
    split = []
    for lines in range(16, 44):  # the page ends before, within and after the table
        filler = "".join(f"<p>第{n}行 line</p>" for n in range(lines))
        html = (
            f"<!doctype html><html><head><meta charset=utf-8><style>{PRINT_STYLE}</style></head>"
            f"<body>{filler}<h2>热点 {cls}</h2>{table}</body></html>"
        )
        pages = pages_of(html, tmp_path)
        holding = [i for i, page in enumerate(pages) if any(f"词条{n}号" in page for n in range(1, rows + 1))]
        heading = [i for i, page in enumerate(pages) if f"热点 {cls}" in page]
        if len(holding) != 1 or heading != holding:
            split.append((lines, holding, heading))
    assert not split, (
        f"the {cls} table was split (filler lines, pages of its rows, page of its heading): {split}"
    )

"""The daily chart's day labels as WeasyPrint prints them: for every length of month and for a
week, the labels stand clear of each other, the first and the last day labelled, as poppler
reads the printed page."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from casehub.gateway.render import line_chart
from casehub.reports import Period
from casehub.reports.render import PRINT_STYLE, print_pdf

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not os.environ.get("CI"),
    reason="needs poppler-utils' pdftotext (make pdf installs it)",
)
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(\d\d-\d\d)</word>')


def printed_labels(period: Period, tmp_path: Path) -> list[tuple[str, float, float]]:
    """The day labels of `period`'s chart on the printed page: text, left and right edge."""
    days = [day.isoformat() for day in period.days()]
    chart = line_chart(days, {"受理 received": [n * 37 % 50 for n in range(len(days))]}, title="per day")
    html = f"<!doctype html><html><head><meta charset=utf-8><style>{PRINT_STYLE}</style></head><body>{chart}"
    pdf = tmp_path / f"{period.name}.pdf"
    pdf.write_bytes(print_pdf(html))
    page = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True)
    return sorted((text, float(left), float(right)) for left, right, text in WORD.findall(page.stdout))


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("monthly", "2026-02"),
        ("monthly", "2028-02"),
        ("monthly", "2026-11"),
        ("monthly", "2026-12"),
        ("weekly", "2026-W47"),
    ],
)
def test_the_day_labels_never_overlap(kind: str, name: str, tmp_path: Path) -> None:
    period = Period.parse(kind, name)
    labels = printed_labels(period, tmp_path)
    assert labels[0][0] == f"{period.first:%m-%d}" and labels[-1][0] == f"{period.last:%m-%d}"
    assert all(left[2] < right[1] for left, right in itertools.pairwise(labels)), labels
    if kind == "weekly":
        assert len(labels) == 7, "a week has room for every day"
    else:
        assert len(labels) >= 8, "a month keeps a label every few days"

"""A period's report files: read the figures once, assemble every scope's report, write its HTML,
CSV and JSON, and print its PDF (`build`; the package docstring says where they land)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from casehub.enrich import Rules, load_rules
from casehub.reference import Reference, load_reference
from casehub.reports import render
from casehub.reports.figures import load
from casehub.reports.period import Period
from casehub.reports.printing import print_pdf
from casehub.reports.report import Report, reports
from casehub.store.db import store_errors

FORMATS = ("html", "csv", "pdf", "json")
PDF_WORKERS = min(2, os.cpu_count() or 1)


def files_of(root: Path, period: Period, scope: str) -> dict[str, Path]:
    """Where a scope's files for `period` are: a stable name per period and format."""
    folder = root / period.kind / period.name
    return {kind: folder / f"{scope}.{kind}" for kind in FORMATS}


def _write(path: Path, content: bytes) -> None:
    """Replace `path` whole: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def write(report: Report, root: Path) -> list[Path]:
    """A report's HTML, CSV and JSON files."""
    paths = files_of(root, report.period, report.scope)
    _write(paths["html"], render.document(report).encode("utf-8"))
    _write(paths["csv"], render.table_csv(report).encode("utf-8"))
    document = json.dumps(report.as_dict(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    _write(paths["json"], document.encode("utf-8"))
    return [paths["html"], paths["csv"], paths["json"]]


def write_pdfs(made: list[Report], root: Path, workers: int = PDF_WORKERS) -> list[Path]:
    """Each report's PDF, printed from its HTML file a process per core: WeasyPrint lays out a
    district's table of some ninety units in seconds, and the reports do not depend on each other.
    A printer imports `casehub.reports.printing` alone (the package loads its names on first
    use), so starting one costs WeasyPrint's import and little else. The longest reports go
    first, so that no printer is left with a long one while the other has finished."""
    paths = [files_of(root, r.period, r.scope)["pdf"] for r in made]
    longest = sorted(made, key=lambda r: (-len(r.rows) - len(r.units), r.scope))
    ordered = [files_of(root, r.period, r.scope)["pdf"] for r in longest]
    documents = [render.document(r) for r in longest]
    if workers <= 1 or len(made) <= 1:
        printed: Iterable[bytes] = map(print_pdf, documents)
        for path, content in zip(ordered, printed, strict=True):
            _write(path, content)
        return paths
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for path, content in zip(ordered, pool.map(print_pdf, documents), strict=True):
            _write(path, content)
    return paths


def build(
    engine: Engine,
    period: Period,
    root: Path,
    *,
    generated_at: datetime | None = None,
    pdf: bool = True,
    scopes: Iterable[str] | None = None,
    reference: Reference | None = None,
    rules: Rules | None = None,
) -> dict[str, Any]:
    """Write `period`'s reports under `root` (every scope, or those named); the run's counts."""
    reference = reference or load_reference()
    started = time.monotonic()
    with store_errors(), engine.connect() as conn:
        figures = load(conn, period, reference, rules or load_rules())
    read = time.monotonic() - started
    chosen = None if scopes is None else set(scopes)
    made = [
        r
        for r in reports(figures, reference, generated_at or datetime.now(UTC))
        if chosen is None or r.scope in chosen
    ]
    files = [path for report in made for path in write(report, root)]
    if pdf:
        files += write_pdfs(made, root)
    city = figures.city
    return {
        "kind": period.kind,
        "period": period.name,
        "reports": len(made),
        "scopes": [r.scope for r in made],
        "files": len(files),
        "received": city.received,
        "due": city.due,
        "closed": city.closed,
        "closed_on_time": city.on_time,
        "read_seconds": round(read, 2),
        "seconds": round(time.monotonic() - started, 2),
        "folder": str(root / period.kind / period.name),
    }

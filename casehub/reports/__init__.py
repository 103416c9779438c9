"""The monthly and weekly efficiency reports (效能通报): per district and per handling unit, and a
city-wide overview ranking the districts, as HTML with charts, CSV, PDF and JSON.

`build` reads a period's figures from the store once (`figures.load`, set-wise), assembles the
city's report and each district's (`report.reports`) and writes them under
`var/reports/<kind>/<period>/<scope>.<html|csv|pdf|json>` (`casehub.paths.reports_dir`), each
file replaced whole, so a rerun of a period replaces its files with the same content apart from
the generation time, and picks up what arrived since. docs/reports.md defines every figure.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CITY": "casehub.reports.figures",
    "FORMATS": "casehub.reports.files",
    "KINDS": "casehub.reports.period",
    "Figures": "casehub.reports.figures",
    "Period": "casehub.reports.period",
    "Report": "casehub.reports.report",
    "Tally": "casehub.reports.figures",
    "build": "casehub.reports.files",
    "classify": "casehub.reports.figures",
    "files_of": "casehub.reports.files",
}

__all__ = [
    "CITY",
    "FORMATS",
    "KINDS",
    "Figures",
    "Period",
    "Report",
    "Tally",
    "build",
    "classify",
    "files_of",
]

if TYPE_CHECKING:
    from casehub.reports.figures import CITY, Figures, Tally, classify
    from casehub.reports.files import FORMATS, build, files_of
    from casehub.reports.period import KINDS, Period
    from casehub.reports.report import Report


def __getattr__(name: str) -> Any:
    """Load an exported name on first use: a PDF printer process, which imports
    `casehub.reports.printing` alone, then pays for nothing else here."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value

"""A report's HTML printed to PDF by WeasyPrint.

Its own module, importing nothing of the hub: each PDF printer process (`files.write_pdfs`)
imports this alone, so starting one costs WeasyPrint's import and no more.

WeasyPrint cuts each embedded font down to the glyphs used with HarfBuzz-Subset (Debian's
`libharfbuzz-subset0`) when the system has it, and otherwise with fontTools, in Python — most of
a report's printing time with a CJK font. Without the library it warns at import, as a
DeprecationWarning; that is said once here, in the log, as what it is: a missing system
library, not a fault of the caller.
"""

from __future__ import annotations

import logging
import os
import warnings
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["FONT_EPOCH", "print_pdf"]

FONT_EPOCH = "0"
"""The time the PDF's embedded font subsets are stamped with (their `head` table's modified
field). fontTools, which WeasyPrint subsets them with, stamps the clock's time unless
`SOURCE_DATE_EPOCH` says otherwise, and that alone would make each printing of a report differ."""


def print_pdf(html: str) -> bytes:
    """A report file's HTML printed by WeasyPrint: A4 landscape, the same tables and charts;
    the same HTML gives the same bytes."""
    html_type = _weasyprint()
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = FONT_EPOCH
    try:
        return bytes(html_type(string=html).write_pdf())
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


@cache
def _weasyprint() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset", category=DeprecationWarning)
        from weasyprint import HTML
        from weasyprint.text import ffi
    if ffi.harfbuzz_subset is None:
        log.warning(
            "PDF printing cuts fonts with fontTools, slowly: the system lacks HarfBuzz-Subset "
            "(Debian's libharfbuzz-subset0)"
        )
    return HTML

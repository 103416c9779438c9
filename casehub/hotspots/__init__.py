"""Hotspots (热点、焦点、痛点): what residents write about most, per district, and what is rising.

`terms` extracts the terms of case texts with jieba's TF-IDF and TextRank and the hub's
dictionaries (`dictionary`, contracts under `schemas/reference/hotspots/`); `ranking` orders a
period's terms and finds the rising ones against the period before (pure); `store` computes a
day for every district and the city, writes the `hotspots` table and reads it back for the
page. docs/hotspots.md explains the terms, the rising score and the dictionaries.
"""

from __future__ import annotations

from casehub.hotspots.ranking import MIN_CASES, MIN_RISE, Ranked, Term, rank
from casehub.hotspots.store import CITY, PERIODS, Shown, compute, day_before, hotspots_daily, shown, write
from casehub.hotspots.terms import Extractor, Weight, case_text, extractor, is_term

__all__ = [
    "CITY",
    "MIN_CASES",
    "MIN_RISE",
    "PERIODS",
    "Extractor",
    "Ranked",
    "Shown",
    "Term",
    "Weight",
    "case_text",
    "compute",
    "day_before",
    "extractor",
    "hotspots_daily",
    "is_term",
    "rank",
    "shown",
    "write",
]

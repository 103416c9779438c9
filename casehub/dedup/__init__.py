"""Duplicate detection (判重): one decision at intake, in the batch re-clustering and on files.

`score` compares two reports (pure); `cluster.decide` picks the cluster a report joins among
its blocked candidates; `store` applies it to the hub's cases (intake, re-clustering, splits);
`files` runs it over a JSON Lines file. docs/dedup.md explains the blocks, the score and the
thresholds, with the figures measured on `evaluation/dedup/`.
"""

from __future__ import annotations

from casehub.dedup.cluster import WINDOW, Clusterer, Decision, decide
from casehub.dedup.report import Report, report
from casehub.dedup.similarity import THRESHOLD, Match, score

__all__ = ["THRESHOLD", "WINDOW", "Clusterer", "Decision", "Match", "Report", "decide", "report", "score"]

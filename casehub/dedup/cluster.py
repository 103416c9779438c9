"""Which cluster a report joins: blocking by place and time, then the best earlier match.

Blocks. A report is compared only with reports of the same district within the time window
that share a block with it: the same community (a grid lies in one), a cell of about 300 m
(and the cells around it) when both have coordinates, the same minor category, or the same
reporter's blind index. A hotline call has no coordinates or community, so the category block
is what brings it beside the app's report of the same incident. No pair outside a block is
ever scored, so the work grows with the cases per block and window, not with the store.

Parent and child (as 311 systems do). A cluster is named by its parent, the earliest case:
`cluster_id` is the parent's case id, and each child's `duplicate_of` is that parent. A report
joins the cluster of its best-scoring earlier match at or above the threshold, unless a handler
split it away from that cluster (`apart`); otherwise it starts its own cluster.

`decide` is the one decision, made at intake (against the store's recent cases) and by the
batch re-clustering and the file run (`Clusterer`, the same decision over a time-ordered stream).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

from casehub.dedup.report import Report
from casehub.dedup.similarity import THRESHOLD, Scoring, score

PER_BLOCK = 24
"""Candidates taken from one block, the nearest in time first: in a mass incident (a district's
water cut, five hundred calls) a report meets the latest of its cluster, not all of it."""
WINDOW = timedelta(hours=72)
"""How far apart in time two reports of one incident may be (docs/dedup.md)."""
CELL_DEGREES = 0.003
"""A block cell's side, about 290 m of longitude and 330 m of latitude in Wuhan: with the cells
around it, a report meets those within 300 m at least, about 900 m at most."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a report goes: its cluster, its parent (None for a parent) and why."""

    case_id: str
    cluster_id: str
    duplicate_of: str | None
    score: float | None
    signals: tuple[str, ...]
    matched: str | None

    @classmethod
    def alone(cls, case_id: str) -> Decision:
        return cls(case_id, case_id, None, None, (), None)

    def as_event(self) -> dict[str, object]:
        """The history event of a duplicate found (codes and ids, no personal data)."""
        return {
            "kind": "duplicate_suspected",
            "duplicate_of": self.duplicate_of,
            "cluster_id": self.cluster_id,
            "matched": self.matched,
            "score": self.score,
            "signals": list(self.signals),
        }


def _cell(report: Report) -> tuple[int, int] | None:
    if report.lng is None or report.lat is None:
        return None
    return round(report.lng / CELL_DEGREES), round(report.lat / CELL_DEGREES)


def filed_under(report: Report) -> list[tuple[object, ...]]:
    """The blocks a report is filed under (module docstring)."""
    district = report.district_code
    keys: list[tuple[object, ...]] = []
    if report.community_code:
        keys.append(("community", report.community_code))
    cell = _cell(report)
    if cell is not None:
        keys.append(("cell", district, *cell))
    if report.category:
        keys.append(("category", district, report.category))
    if report.phone_index:
        keys.append(("reporter", district, report.phone_index))
    if not report.community_code and cell is None and not report.category:
        keys.append(("district", district))
    return keys


def looked_up(report: Report) -> list[tuple[object, ...]]:
    """The blocks searched for a report's candidates: its own, and the cells around its cell."""
    keys = [key for key in filed_under(report) if key[0] != "cell"]
    cell = _cell(report)
    if cell is not None:
        x, y = cell
        keys += [("cell", report.district_code, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    return keys


def decide(
    new: Report,
    candidates: Iterable[Report],
    cluster_of: Mapping[str, str] | Callable[[str], str],
    *,
    apart: Callable[[str, str], bool] | None = None,
) -> Decision:
    """The cluster `new` joins among `candidates` (earlier or nearby reports), by best score.

    `cluster_of` gives a candidate's cluster id; `apart(case_id, cluster_id)` is true when a
    handler split the case away from that cluster. Ties go to the earlier candidate.
    """
    lookup = cluster_of.__getitem__ if isinstance(cluster_of, Mapping) else cluster_of
    best: tuple[float, Report] | None = None
    scoring = Scoring(new)
    for candidate in candidates:
        if candidate.case_id == new.case_id or candidate.district_code != new.district_code:
            continue
        # A candidate below the best so far cannot win: the bound rules it out unscored.
        found = scoring.at_least(candidate, THRESHOLD if best is None else max(THRESHOLD, best[0]))
        if found is None:
            continue
        if best is not None and (found, _earlier(candidate, best[1])) <= (best[0], False):
            continue
        if apart is not None and apart(new.case_id, lookup(candidate.case_id)):
            continue
        best = (found, candidate)
    if best is None:
        return Decision.alone(new.case_id)
    candidate = best[1]
    match = score(new, candidate)
    cluster = lookup(candidate.case_id)
    return Decision(new.case_id, cluster, cluster, match.score, match.signals, candidate.case_id)


def _earlier(a: Report, b: Report) -> bool:
    if a.reported_at is None or b.reported_at is None:
        return False
    return a.reported_at < b.reported_at


class Clusterer:
    """`decide` over reports arriving in time order, each against the reports of its blocks
    within the window; memory holds one window of reports, not the stream.

    `splits` are the (case, case) pairs handlers separated (`casehub cluster split`): a case is
    never put back into a cluster holding one it was split from.
    """

    def __init__(self, splits: Iterable[tuple[str, str]] = (), window: timedelta = WINDOW) -> None:
        self.window = window
        self.blocks: dict[tuple[object, ...], deque[Report]] = {}
        self.clusters: dict[str, str] = {}
        self._alive: deque[Report] = deque()
        self._apart: dict[str, set[str]] = {}
        for a, b in splits:
            self._apart.setdefault(a, set()).add(b)
            self._apart.setdefault(b, set()).add(a)
        self._kept: dict[str, str] = {}

    def apart(self, case_id: str, cluster_id: str) -> bool:
        return any(self._cluster(other) == cluster_id for other in self._apart.get(case_id, ()))

    def _cluster(self, case_id: str) -> str | None:
        return self.clusters.get(case_id) or self._kept.get(case_id)

    def add(self, report: Report, fixed: str | None = None) -> Decision:
        """File `report` and decide its cluster; with `fixed`, it keeps that cluster (a case
        outside what is being re-clustered) and serves only as a candidate."""
        if report.reported_at is None:
            return Decision.alone(report.case_id)
        self._evict(report)
        if fixed is not None:
            parent = None if fixed == report.case_id else fixed
            decision = Decision(report.case_id, fixed, parent, None, (), None)
        else:
            seen: set[str] = set()
            candidates: list[Report] = []
            for key in looked_up(report):
                for other in islice(reversed(self.blocks.get(key, ())), PER_BLOCK):
                    if other.case_id not in seen:
                        seen.add(other.case_id)
                        candidates.append(other)
            decision = decide(report, candidates, self.clusters, apart=self.apart if self._apart else None)
        self.clusters[report.case_id] = decision.cluster_id
        if report.case_id in self._apart:
            self._kept[report.case_id] = decision.cluster_id
        self._alive.append(report)
        for key in filed_under(report):
            self.blocks.setdefault(key, deque()).append(report)
        return decision

    def _evict(self, report: Report) -> None:
        assert report.reported_at is not None
        horizon = report.reported_at - self.window
        while self._alive and self._alive[0].reported_at is not None and self._alive[0].reported_at < horizon:
            old = self._alive.popleft()
            self.clusters.pop(old.case_id, None)
            for key in filed_under(old):
                block = self.blocks.get(key)
                if block and block[0] is old:
                    block.popleft()
                    if not block:
                        del self.blocks[key]

"""Pairwise precision, recall and F1 of duplicate detection on the labelled set (make eval-dedup).

Runs `casehub.dedup.files` — what `casehub dedup` runs — over `cases.jsonl` and compares the
clusters it finds with the incidents the set was written from (`truth`): a pair of cases is a
true pair when both tell one incident, a found pair when both land in one cluster.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import orjson

from casehub.dedup import files

HERE = Path(__file__).parent


def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(pair)) for members in groups.values() for pair in combinations(members, 2)}  # type: ignore[misc]


def evaluate(path: Path, part: str | None = None) -> dict[str, Any]:
    """The figures on the whole set, or on one `part` of it run on its own."""
    raw = [line for line in path.read_bytes().splitlines() if part is None or orjson.loads(line)["part"] == part]
    truth = {row["case_id"]: row["truth"] for row in map(orjson.loads, raw)}
    decisions = files.cluster(files.read(raw, files.Run.fresh()))
    found: dict[str, list[str]] = defaultdict(list)
    true: dict[str, list[str]] = defaultdict(list)
    for decision in decisions:
        found[decision.cluster_id].append(decision.case_id)
        true[truth[decision.case_id]].append(decision.case_id)
    found_pairs, true_pairs = pairs(found), pairs(true)
    hits = len(found_pairs & true_pairs)
    precision = hits / len(found_pairs) if found_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "cases": len(truth),
        "incidents": len(true),
        "true_pairs": len(true_pairs),
        "found_pairs": len(found_pairs),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "missed": sorted(true_pairs - found_pairs),
        "wrong": sorted(found_pairs - true_pairs),
    }


def main() -> int:
    verbose = "-v" in sys.argv
    print(f"{'part':<12} {'cases':>6} {'incidents':>9} {'true pairs':>10} {'found':>6} "
          f"{'precision':>9} {'recall':>7} {'F1':>6}")
    for part in ("development", "held_out", None):
        result = evaluate(HERE / "cases.jsonl", part)
        print(
            f"{part or 'all':<12} {result['cases']:>6} {result['incidents']:>9} {result['true_pairs']:>10} "
            f"{result['found_pairs']:>6} {result['precision']:>9.3f} {result['recall']:>7.3f} {result['f1']:>6.3f}"
        )
        if verbose and part is None:
            for kind in ("missed", "wrong"):
                for a, b in result[kind]:
                    print(f"  {kind}: {a} ~ {b}")
    print("pairwise: a pair is found when both cases land in one cluster, true when both tell one incident")
    return 0


if __name__ == "__main__":
    sys.exit(main())

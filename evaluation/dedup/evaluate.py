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

import orjson

from casehub.dedup import files

HERE = Path(__file__).parent


def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(pair)) for members in groups.values() for pair in combinations(members, 2)}  # type: ignore[misc]


def evaluate(path: Path) -> dict[str, float]:
    raw = path.read_bytes().splitlines()
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
    result = evaluate(HERE / "cases.jsonl")
    verbose = "-v" in sys.argv
    print(
        f"{result['cases']} cases, {result['incidents']} incidents, {result['true_pairs']} true pairs, "
        f"{result['found_pairs']} found"
    )
    print(
        f"pairwise precision {result['precision']:.3f}  recall {result['recall']:.3f}  F1 {result['f1']:.3f}"
    )
    if verbose:
        for kind in ("missed", "wrong"):
            for a, b in result[kind]:  # type: ignore[attr-defined]
                print(f"  {kind}: {a} ~ {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Key rotation on a store of 100 000 cases: how many sealed values a second `casehub keys rotate`
seals again, and how many cases a second `casehub keys rotate --blind-index` indexes again.

    python benchmarks/bench_keys.py [--cases 100000] [--batch-size 1000] [--backends sqlite postgresql]

Each backend runs in a fresh process. The cases are realistic hotline work orders (the
simulator's generator) ingested by the pipeline, so each case brings its sealed raw record, its
reporter's name and phone (an ID number now and then) and its dispatch or transfer event. Then
a key is added and `casehub.keys.rotate` opens every value and seals it again under the new key,
a batch per transaction, as the command does; a blind-index key is added and
`casehub.keys.reindex` opens each case's reporter and writes its phone's index and fingerprint
under it. The ingest's time is shown beside them for scale.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent


def worker(backend: str, cases: int, batch_size: int) -> None:
    from bench_ingest import _drop, _engine, stream

    from casehub.crypto import KeyRing
    from casehub.keys import held, reindex, rotate
    from casehub.pipeline import Pipeline
    from casehub.store import migrate
    from connectors.hotline import MAPPER

    engine, handle = _engine(backend)
    try:
        migrate(engine)
        ring = KeyRing.generate()
        pipeline = Pipeline(engine, MAPPER, ring)
        began = time.perf_counter()
        for page in stream(cases):
            pipeline.ingest(page)
        ingest = time.perf_counter() - began
        values = sum(held(engine)["k1"].values())
        rotated = ring.with_new_key()
        resealed = rotate(engine, rotated, batch_size=batch_size)
        reindexed = reindex(engine, rotated.with_new_key(index=True), batch_size=batch_size)
    finally:
        engine.dispose()
        _drop(backend, handle)
    assert resealed.total == values, (resealed.total, values)
    print(
        json.dumps(
            {
                "cases": reindexed.total,
                "values": resealed.total,
                "ingest": ingest,
                "rotate": resealed.seconds,
                "reindex": reindexed.seconds,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "CASES", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    print(f"key rotation: {args.cases} hotline cases, batches of {args.batch_size}, a process per backend")
    print(
        f"{'backend':<11}{'cases':>8}{'values':>9}{'rotate s':>10}{'values/s':>10}"
        f"{'reindex s':>11}{'cases/s':>9}{'ingest s':>10}"
    )
    for backend in args.backends:
        done = subprocess.run(  # noqa: S603 - this script, fixed arguments
            [sys.executable, __file__, "--worker", backend, str(args.cases), str(args.batch_size)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{backend:<11}{result['cases']:>8}{result['values']:>9}{result['rotate']:>10.1f}"
            f"{result['values'] / result['rotate']:>10,.0f}{result['reindex']:>11.1f}"
            f"{result['cases'] / result['reindex']:>9,.0f}{result['ingest']:>10.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

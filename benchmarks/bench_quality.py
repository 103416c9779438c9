"""`quality_daily` on a day of 20 000 cases: how long the checkpoints take, against ingesting them.

    python benchmarks/bench_quality.py [--cases 20000] [--backends sqlite postgresql]

Each measurement runs in a fresh process. The day's records are realistic hotline work orders
(the simulator's generator), ingested with the hub's clock on that day, so they all belong to
it; then `casehub.quality.daily.validate_day` runs every inbound channel's checkpoints on it —
opening the raw records, the cases' phone and ID numbers, the history and the table figures,
keeping the results and the trend, rebuilding the Data Docs. The baseline is the ingest of the
same records in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent


def worker(backend: str, cases: int) -> None:
    from datetime import UTC, datetime

    from bench_ingest import _drop, _engine, stream

    from casehub.crypto import KeyRing
    from casehub.normalize import SHANGHAI
    from casehub.pipeline import Pipeline
    from casehub.quality import quality_context
    from casehub.quality.daily import validate_day
    from casehub.store import migrate
    from connectors.hotline import MAPPER

    engine, handle = _engine(backend)
    day = datetime(2026, 10, 2, tzinfo=SHANGHAI).date()
    noon = datetime(2026, 10, 2, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
    try:
        migrate(engine)
        quality_context()
        keyring = KeyRing.generate()
        pipeline = Pipeline(engine, MAPPER, keyring, clock=lambda: noon)
        began = time.perf_counter()
        for page in stream(cases):
            pipeline.ingest(page)
        ingest = time.perf_counter() - began
        began = time.perf_counter()
        summary = validate_day(engine, keyring, day, clock=lambda: noon).summary()
        daily = time.perf_counter() - began
    finally:
        engine.dispose()
        _drop(backend, handle)
    validated = summary["channels"]["hotline"]["cases"]
    print(json.dumps({"ingest": ingest, "daily": daily, "validated": validated}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "CASES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    print(f"quality_daily benchmark: one day of {args.cases} hotline cases, one process per backend")
    print(f"{'backend':<11}{'cases':>8}{'daily s':>9}{'ingest s':>10}{'daily/ingest':>14}")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as home:
            # Data Docs and GX results of the run go to a scratch home, not to var/.
            env = dict(os.environ, CASEHUB_HOME=home)
            done = subprocess.run(  # noqa: S603 - this script, fixed arguments
                [sys.executable, __file__, "--worker", backend, str(args.cases)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{backend:<11}{result['validated']:>8}{result['daily']:>9.1f}{result['ingest']:>10.1f}"
            f"{result['daily'] / result['ingest']:>14.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

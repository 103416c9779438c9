"""The backfill path at scale: a million records through `casehub.backfill`, by one and by two workers.

    python benchmarks/bench_backfill.py [--records 1000000] [--workers 1 2] [--backends postgresql]

The records are realistic hotline work orders (`bench_ingest.stream`'s pool: fresh work-order
numbers and update times, every record a distinct case), one each 7 s of partner time (the
reference city's 12 000 a day), served by a source of this process (no HTTP: the partner's own
speed is not the hub's) in pages of `--page` ordered by update time, as the hotline pages them,
and committed in batches of up to 5 000 records as the backfill commits them. The span is cut into `--windows`
windows (`casehub.backfill.plan`), and `--workers` processes take them one after another, each
running `casehub.backfill.run_window` — the same call the `backfill_<channel>` DAGs' mapped tasks
make — on a fresh PostgreSQL store.

Printed per run: records/s over the whole run and CPU µs per record in the workers; the mean
page time for every 100 000 records the store grew by (flat means a page does not cost more as
the store grows); each worker's peak resident memory when the store held 100 000, 400 000 and
1 000 000 records; and the 7.45 million-case backfill's time at the measured rate.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

BACKFILL = 7_450_000
"""The reference city's cases to backfill."""
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=7)
MARKS = (100_000, 400_000, 1_000_000)

_events: Any = None


class _Orders:
    """A `casehub.ports.Source` of `count` distinct work orders, record n updated at START + n·STEP."""

    channel = "hotline"

    def __init__(self, count: int, page: int) -> None:
        self.count, self.page = count, page
        self._pool: list[dict[str, Any]] | None = None

    def _order(self, n: int) -> dict[str, Any]:
        if self._pool is None:
            from bench_ingest import stream

            self._pool = next(stream(5_000))
        order = dict(self._pool[n % len(self._pool)])
        updated = (START + STEP * n).astimezone(UTC).replace(tzinfo=None) + timedelta(hours=8)
        order["GDBH"] = f"WF{n:014d}"
        order["LDSJ"] = (updated - timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        order["GXSJ"] = updated.strftime("%Y-%m-%d %H:%M:%S")
        if order.get("BJSJ"):
            order["BJSJ"] = (updated - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S")
        return order

    def pages(self, window: Any) -> Iterator[list[dict[str, Any]]]:
        first = max(0, -(-(window.start - START) // STEP))
        last = min(self.count, -(-(window.end - START) // STEP))
        for begin in range(first, last, self.page):
            yield [self._order(n) for n in range(begin, min(begin + self.page, last))]

    def close(self) -> None:
        pass


def _start(events: Any) -> None:
    global _events  # one queue per worker process, set once as it starts
    _events = events
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _window(url: str, ring: str, count: int, page: int, start: str, end: str) -> int:
    """In a worker: one window; each committed page's records, seconds, CPU and memory are sent."""
    from sqlalchemy import create_engine

    from casehub.backfill import run_window
    from casehub.crypto import KeyRing
    from casehub.partners import load_connector, partner
    from casehub.ports import Window
    from casehub.store.db import prepare

    spec = partner("hotline")
    postgres = url.startswith("postgresql")
    engine = prepare(create_engine(url, connect_args={"prepare_threshold": None} if postgres else {}))
    clock = {"wall": time.perf_counter(), "cpu": time.process_time()}

    def sent(result: Any) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _events.put((os.getpid(), result.accepted, now - clock["wall"], cpu - clock["cpu"], peak))
        clock.update(wall=now, cpu=cpu)

    try:
        summary = run_window(
            spec,
            _Orders(count, page),  # type: ignore[arg-type]
            load_connector(spec).MAPPER,
            engine=engine,
            keyring=KeyRing.from_json(ring),
            window=Window(datetime.fromisoformat(start), datetime.fromisoformat(end)),
            on_page=sent,
        )
    finally:
        engine.dispose()
    return int(summary["accepted"])


def run(backend: str, records: int, workers: int, windows: int, page: int) -> dict[str, Any]:
    from bench_ingest import _drop, _engine

    from casehub.backfill import plan
    from casehub.crypto import KeyRing
    from casehub.quality import quality_context
    from casehub.store import migrate

    engine, handle = _engine(backend)
    try:
        migrate(engine)
        url = engine.url.render_as_string(hide_password=False)
        ring = KeyRing.generate().to_json()
        quality_context()
        span = plan(START, START + STEP * records, (STEP * records) / windows)
        context = get_context("spawn")
        events = context.Queue()
        landed, cpu, pages = 0, 0.0, []
        peaks: dict[int, float] = {}
        at_marks: dict[int, dict[int, float]] = {}
        began = time.perf_counter()
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(events,)) as pool:
            futures = [
                pool.submit(_window, url, ring, records, page, w.start.isoformat(), w.end.isoformat())
                for w in span
            ]
            while landed < records and not all(f.done() for f in futures):
                try:
                    pid, accepted, seconds, spent, peak = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                landed += accepted
                cpu += spent
                pages.append((landed, seconds, spent, accepted))
                peaks[pid] = max(peaks.get(pid, 0.0), peak)
                for mark in MARKS:
                    if landed >= mark and mark not in at_marks:
                        at_marks[mark] = dict(peaks)
            accepted_total = sum(f.result() for f in futures)
        while True:
            try:
                pid, accepted, seconds, spent, peak = events.get_nowait()
            except queue.Empty:
                break
            landed += accepted
            cpu += spent
            pages.append((landed, seconds, spent, accepted))
            peaks[pid] = max(peaks.get(pid, 0.0), peak)
        for mark in MARKS:
            if landed >= mark and mark not in at_marks:
                at_marks[mark] = dict(peaks)
        elapsed = time.perf_counter() - began
    finally:
        engine.dispose()
        _drop(backend, handle)
    if accepted_total != records:
        raise SystemExit(f"only {accepted_total} of {records} records were accepted")
    marks = [m for m in MARKS if m <= records] or [records]
    per_100k, cpu_100k = [], []
    for k in range(0, records, 100_000):
        landed_here = [(s, c) for total, s, c, n in pages if k < total <= k + 100_000 and n]
        per_100k.append(statistics.mean(s for s, _ in landed_here) if landed_here else 0.0)
        cpu_100k.append(statistics.mean(c for _, c in landed_here) if landed_here else 0.0)
    return {
        "backend": backend,
        "workers": workers,
        "records": records,
        "seconds": elapsed,
        "per_s": records / elapsed,
        "cpu_us_per_record": cpu / records * 1e6,
        "page_seconds_per_100k": per_100k,
        "page_cpu_seconds_per_100k": cpu_100k,
        "peak_mib_at": {str(m): sorted(at_marks.get(m, peaks).values()) for m in marks},
        "projected_minutes": BACKFILL / (records / elapsed) / 60,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--windows", type=int, default=20, help="windows the span is cut into")
    parser.add_argument("--page", type=int, default=500, help="records per partner page (the hotline's cap)")
    parser.add_argument("--backends", nargs="+", default=["postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args(argv)
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(
        f"{'backend':<11} {'workers':>7} {'records':>9} {'seconds':>8} {'records/s':>10} {'CPU µs/rec':>10} "
        f"{'7.45 M in':>10}"
    )
    results = []
    for backend in args.backends:
        for workers in args.workers:
            found = run(backend, args.records, workers, args.windows, args.page)
            results.append(found)
            print(
                f"{backend:<11} {workers:>7} {args.records:>9} {found['seconds']:>8.1f} "
                f"{found['per_s']:>10,.0f} {found['cpu_us_per_record']:>10.0f} "
                f"{found['projected_minutes']:>8.1f} min"
            )
            pages = ", ".join(f"{s * 1000:.0f}" for s in found["page_seconds_per_100k"])
            print(f"{'':<11} mean page ms per 100 000 records landed: {pages}")
            pages = ", ".join(f"{s * 1000:.0f}" for s in found["page_cpu_seconds_per_100k"])
            print(f"{'':<11} mean page CPU ms per 100 000 records landed: {pages}")
            peaks = "; ".join(
                f"{m}: " + ", ".join(f"{v:.0f}" for v in each) + " MiB"
                for m, each in found["peak_mib_at"].items()
            )
            print(f"{'':<11} peak resident memory of each worker: {peaks}")
    out = Path(__file__).resolve().parent.parent / "var" / "bench" / "backfill.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

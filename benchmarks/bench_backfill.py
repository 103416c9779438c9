"""The backfill path at scale: a million records through `casehub.backfill`, by one and by two workers.

    python benchmarks/bench_backfill.py [--records 1000000] [--workers 1 2] [--backends postgresql]
    python benchmarks/bench_backfill.py --records 100000 --workers 1 --windows 4 --kill-after 40000
    python benchmarks/bench_backfill.py --records 150000 --workers 1 --trace var/bench/trace

The records are realistic hotline work orders (`bench_ingest.pool_of`'s pools: fresh
work-order numbers and update times, every record a distinct case), one each 7 s of partner time
(the reference city's 12 000 a day), each 5 000 from the next of `POOLS` generated pools, so a
text comes back only after 150 000 records — beyond duplicate detection's window, as in
`bench_ingest.stream` — and a duplicate is one the generator's templates make. The pools are
generated once per machine into `var/bench/pools` before the clock starts, and served by a source
of this process (no HTTP: the partner's own speed is not the hub's) in pages of `--page` ordered
by update time, as the hotline pages them,
and committed in batches of up to 5 000 records (`--batch`) as the backfill commits them. The
span is cut into `--windows` windows (`casehub.backfill.plan`), and `--workers` processes take
them one after another, each running `casehub.jobs.backfill_window` — the call the
`backfill_<channel>` DAGs' mapped tasks make — on a fresh PostgreSQL store.

Printed per run: records/s over the whole run and CPU µs per record in the workers; the mean
batch ("page") wall and CPU time for every 100 000 records the store grew by (flat means a batch
does not cost more as the store grows); each worker's peak resident memory when the store held
100 000, 400 000 and 1 000 000 records; and the 7.45 million-case backfill's time at the measured
rate.

`--kill-after N` times nothing: it kills the worker whose batch takes the store past N records
(SIGKILL, as it reads on into its next batch), runs every window again as a retried task would,
and prints where each unfinished window resumed and whether every record landed exactly once.
`--trace DIR` runs the workers under tracemalloc (several times slower) and writes, each
`--trace-every` records a worker lands, what holds its memory and what grew since the last.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import signal
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

POOLS = 30
"""Pools of `bench_ingest.POOL` work orders the records cycle through (12 days of partner time)."""
POOL_DIR = Path(__file__).resolve().parent.parent / "var" / "bench" / "pools"
BACKFILL = 7_450_000
"""The reference city's cases to backfill."""
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=7)
MARKS = (100_000, 400_000, 1_000_000)

_events: Any = None
_batch = 0
"""In a worker: records per committed batch (`--batch`; 0 for the backfill's own)."""
_trace: dict[str, Any] = {}
"""In a worker tracing its memory (`--trace`): where snapshots go, the records it landed, the
marks still to come and its last snapshot."""


class _Orders:
    """A `casehub.ports.Source` of `count` distinct work orders, record n updated at START + n·STEP."""

    channel = "hotline"

    def __init__(self, count: int, page: int, pools: Sequence[str]) -> None:
        from bench_ingest import POOL

        self.count, self.page, self.pools, self.size = count, page, pools, POOL
        self._pool: tuple[int, list[dict[str, Any]]] = (-1, [])

    def _order(self, n: int) -> dict[str, Any]:
        chosen = n // self.size % len(self.pools)
        if self._pool[0] != chosen:
            self._pool = (chosen, json.loads(Path(self.pools[chosen]).read_text(encoding="utf-8")))
        order = dict(self._pool[1][n % self.size])
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


def _pools(records: int) -> list[str]:
    """The pools the records of a run of `records` come from, generated into `POOL_DIR` once."""
    from bench_ingest import POOL, pool_of

    paths = []
    for seed in range(1, min(POOLS, -(-records // POOL)) + 1):
        path = POOL_DIR / f"hotline-{POOL}-{seed}.json"
        if not path.exists():
            POOL_DIR.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f"{path.name}.{os.getpid()}.part")  # another run may be writing it too
            part.write_text(json.dumps(pool_of(seed), ensure_ascii=False), encoding="utf-8")
            part.replace(path)
        paths.append(str(path))
    return paths


def _start(events: Any, batch: int, trace: str | None, every: int) -> None:
    global _events, _batch  # one queue per worker process, set once as it starts
    _events, _batch = events, batch
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if trace:
        import tracemalloc

        tracemalloc.start(1)
        _trace.update(dir=Path(trace), landed=0, every=every, next=every, last=None)


def _snapshot(accepted: int) -> None:
    """In a worker tracing its memory: each `--trace-every` records it lands, the biggest holders
    of the memory it allocated and what grew since the previous snapshot, written to `--trace`."""
    import tracemalloc

    _trace["landed"] += accepted
    if _trace["landed"] < _trace["next"]:
        return
    mark = _trace["next"]
    _trace["next"] += _trace["every"]
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    traced, _ = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"worker {os.getpid()}: {_trace['landed']} records landed, {traced / 2**20:.0f} MiB traced, "
        f"peak resident {rss:.0f} MiB",
        "",
        "largest by line:",
        *(str(s) for s in snapshot.statistics("lineno")[:40]),
    ]
    if _trace["last"] is not None:
        lines += ["", "grown since the previous mark:"]
        lines += [str(s) for s in snapshot.compare_to(_trace["last"], "lineno")[:30]]
    _trace["last"] = snapshot
    _trace["dir"].mkdir(parents=True, exist_ok=True)
    (_trace["dir"] / f"trace-{os.getpid()}-{mark}.txt").write_text("\n".join(lines) + "\n")


def _window(
    url: str, ring: str, count: int, page: int, pools: Sequence[str], start: str, end: str
) -> dict[str, Any]:
    """In a worker: one window, through the call the DAGs' mapped tasks make; each committed batch's
    records, seconds, CPU and the worker's peak memory are sent to the parent."""
    from sqlalchemy import create_engine

    from casehub.crypto import KeyRing
    from casehub.jobs import backfill_window
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
        if _trace:
            _snapshot(result.accepted)
        clock.update(wall=time.perf_counter(), cpu=time.process_time())

    try:
        return backfill_window(
            spec,
            _Orders(count, page, pools),
            load_connector(spec).MAPPER,
            engine=engine,
            keyring=KeyRing.from_json(ring),
            window=Window(datetime.fromisoformat(start), datetime.fromisoformat(end)),
            on_page=sent,
            batch_records=_batch or None,
        )
    finally:
        engine.dispose()


class _Pass:
    """One pool of `workers` processes over the windows, and what their batches reported."""

    def __init__(self) -> None:
        self.landed, self.cpu = 0, 0.0
        self.pages: list[tuple[int, float, float, int]] = []
        self.peaks: dict[int, float] = {}
        self.at_marks: dict[int, dict[int, float]] = {}
        self.summaries: list[dict[str, Any]] = []
        self.killed: int | None = None

    def take(self, event: tuple[int, int, float, float, float]) -> None:
        pid, accepted, seconds, spent, peak = event
        self.landed += accepted
        self.cpu += spent
        self.pages.append((self.landed, seconds, spent, accepted))
        self.peaks[pid] = max(self.peaks.get(pid, 0.0), peak)
        for mark in MARKS:
            if self.landed >= mark and mark not in self.at_marks:
                self.at_marks[mark] = dict(self.peaks)

    def run(
        self,
        url: str,
        ring: str,
        records: int,
        page: int,
        pools: Sequence[str],
        span: Sequence[Any],
        workers: int,
        *,
        batch: int = 0,
        trace: str | None = None,
        trace_every: int = 100_000,
        kill_after: int | None = None,
    ) -> None:
        """The windows of `span` by `workers` processes; with `kill_after`, the worker whose batch
        takes the store past that many records is killed (SIGKILL) as it reads on."""
        context = get_context("spawn")
        events = context.Queue()
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start, initargs=(events, batch, trace, trace_every)
        ) as pool:
            futures = [
                pool.submit(_window, url, ring, records, page, pools, w.start.isoformat(), w.end.isoformat())
                for w in span
            ]
            while not all(f.done() for f in futures):
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                self.take(event)
                if kill_after is not None and self.killed is None and self.landed >= kill_after:
                    self.killed = event[0]
                    os.kill(self.killed, signal.SIGKILL)
            for future in futures:
                try:
                    self.summaries.append(future.result())
                except BrokenProcessPool:
                    if self.killed is None:
                        raise
        while True:
            try:
                self.take(events.get_nowait())
            except queue.Empty:
                break
        for mark in MARKS:
            if self.landed >= mark and mark not in self.at_marks:
                self.at_marks[mark] = dict(self.peaks)


def _counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "select (select count(*) from raw_records),"
                " (select count(distinct source_id) from raw_records), (select count(*) from cases),"
                " (select count(distinct source_id) from cases),"
                " (select count(*) from case_history), (select count(*) from quarantine)"
            )
        ).one()
    return dict(
        zip(("raw", "raw_sources", "cases", "case_sources", "history", "quarantined"), row, strict=True)
    )


def run(
    backend: str,
    records: int,
    workers: int,
    windows: int,
    page: int,
    *,
    batch: int = 0,
    trace: str | None = None,
    trace_every: int = 100_000,
    kill_after: int | None = None,
) -> dict[str, Any]:
    from bench_ingest import _drop, _engine

    from casehub.backfill import plan, states
    from casehub.crypto import KeyRing
    from casehub.quality import quality_context
    from casehub.store import migrate

    pools = _pools(records)
    engine, handle = _engine(backend)
    resumed: dict[str, Any] = {}
    try:
        migrate(engine)
        url = engine.url.render_as_string(hide_password=False)
        ring = KeyRing.generate().to_json()
        quality_context()
        span = plan(START, START + STEP * records, (STEP * records) / windows)
        found = _Pass()
        began = time.perf_counter()
        found.run(
            url,
            ring,
            records,
            page,
            pools,
            span,
            workers,
            batch=batch,
            trace=trace,
            trace_every=trace_every,
            kill_after=kill_after,
        )
        elapsed = time.perf_counter() - began
        if found.killed is not None:
            left = [s for s in states(engine, "hotline", span) if not s.done]
            before = _counts(engine)
            again = _Pass()
            again.run(url, ring, records, page, pools, span, workers, batch=batch)
            by_start = {s["start"]: s for s in again.summaries}
            resumed = {
                "killed_at": found.landed,
                "unfinished": [s.as_dict() for s in left],
                "landed_before_rerun": before["raw"],
                "rerun_accepted": sum(int(s.get("accepted") or 0) for s in again.summaries),
                "rerun_skipped": sum(1 for s in again.summaries if s.get("skipped")),
                "resumed_from": {
                    s.start.isoformat(): by_start[s.start.isoformat()].get("resumed_from") for s in left
                },
                "positions": {
                    s.start.isoformat(): s.position.isoformat() if s.position else None for s in left
                },
                "after": _counts(engine),
            }
        else:
            after = _counts(engine)
    finally:
        engine.dispose()
        _drop(backend, handle)
    if resumed:
        return {"backend": backend, "workers": workers, "records": records, "resumed": resumed}
    accepted_total = sum(int(s["accepted"]) for s in found.summaries)
    if accepted_total != records or after["cases"] != records or after["raw"] != records:
        raise SystemExit(f"{accepted_total} of {records} records were accepted; the store holds {after}")
    marks = [m for m in MARKS if m <= records] or [records]
    per_100k, cpu_100k = [], []
    for k in range(0, records, 100_000):
        landed_here = [(s, c) for total, s, c, n in found.pages if k < total <= k + 100_000 and n]
        per_100k.append(statistics.mean(s for s, _ in landed_here) if landed_here else 0.0)
        cpu_100k.append(statistics.mean(c for _, c in landed_here) if landed_here else 0.0)
    return {
        "backend": backend,
        "workers": workers,
        "records": records,
        "seconds": elapsed,
        "per_s": records / elapsed,
        "cpu_us_per_record": found.cpu / records * 1e6,
        "page_seconds_per_100k": per_100k,
        "page_cpu_seconds_per_100k": cpu_100k,
        "peak_mib_at": {str(m): sorted(found.at_marks.get(m, found.peaks).values()) for m in marks},
        "projected_minutes": BACKFILL / (records / elapsed) / 60,
        "load_average": os.getloadavg(),
    }


def _report_resumed(backend: str, workers: int, records: int, resumed: dict[str, Any]) -> bool:
    """Print how the windows resumed after a worker was killed; whether every record landed once."""
    after = resumed["after"]
    print(
        f"{backend:<11} {workers:>7} {records:>9} killed at {resumed['killed_at']} records accepted; "
        f"{resumed['landed_before_rerun']} raw records in the store before the rerun"
    )
    for window in resumed["unfinished"]:
        start = window["start"]
        print(
            f"{'':<11} unfinished window {start}..{window['end']}: {window['pages']} batches committed, "
            f"position {window['position']}, resumed from {resumed['resumed_from'].get(start)}"
        )
    print(
        f"{'':<11} rerun: {resumed['rerun_skipped']} finished windows skipped, "
        f"{resumed['rerun_accepted']} records accepted"
    )
    print(f"{'':<11} the store after the rerun: " + ", ".join(f"{k} {v}" for k, v in after.items()))
    whole = all(after[name] == records for name in ("raw", "raw_sources", "cases", "case_sources", "history"))
    exact = (
        whole
        and after["quarantined"] == 0
        and all(
            resumed["resumed_from"].get(w["start"]) == w["position"]
            for w in resumed["unfinished"]
            if w["position"]
        )
    )
    print(f"{'':<11} " + ("every record landed exactly once" if exact else "RECORDS LOST OR LANDED TWICE"))
    return exact


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--windows", type=int, default=20, help="windows the span is cut into")
    parser.add_argument("--page", type=int, default=500, help="records per partner page (the hotline's cap)")
    parser.add_argument(
        "--batch", type=int, default=0, metavar="N", help="records per committed batch (the backfill's 5 000)"
    )
    parser.add_argument("--backends", nargs="+", default=["postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--kill-after",
        type=int,
        metavar="N",
        help="kill (SIGKILL) the worker whose batch takes the store past N records, run the windows "
        "again and check every record landed exactly once, instead of timing",
    )
    parser.add_argument(
        "--trace",
        metavar="DIR",
        help="trace the workers' memory (tracemalloc; slow): a snapshot of each worker each "
        "--trace-every records it lands, written to DIR",
    )
    parser.add_argument("--trace-every", type=int, default=100_000, metavar="N")
    args = parser.parse_args(argv)
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(
        f"{'backend':<11} {'workers':>7} {'records':>9} {'seconds':>8} {'records/s':>10} {'CPU µs/rec':>10} "
        f"{'7.45 M in':>10}"
    )
    results = []
    for backend in args.backends:
        for workers in args.workers:
            found = run(
                backend,
                args.records,
                workers,
                args.windows,
                args.page,
                batch=args.batch,
                trace=args.trace,
                trace_every=args.trace_every,
                kill_after=args.kill_after,
            )
            results.append(found)
            if "resumed" in found:
                if not _report_resumed(backend, workers, args.records, found["resumed"]):
                    return 1
                continue
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
            load = ", ".join(f"{v:.1f}" for v in found["load_average"])
            print(f"{'':<11} load average (1, 5, 15 min) as the run ended: {load}")
    out = Path(__file__).resolve().parent.parent / "var" / "bench" / "backfill.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

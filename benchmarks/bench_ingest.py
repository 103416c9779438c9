"""Ingest throughput and memory: the whole pipeline against a bare bulk insert of the same records.

    python benchmarks/bench_ingest.py [--records 100000 400000] [--backends sqlite postgresql]

Each measurement runs in a fresh process, so its peak memory (max RSS) is its own. Records are
realistic hotline work orders from the simulator's generator, with fresh work-order numbers and
update times, so every record is a distinct case and the stream never sits in memory as a whole.
They arrive at the reference city's rate (0.14 a second), a fresh generated pool for every 5 000;
`--dense` packs them four a second from one pool cycled, thirty times the city's density, with
every duplicate-detection block full (`stream`). `--stages` adds each stage's client CPU.

Baselines, on the same records and page size:
- SQLite: one executemany `INSERT … ON CONFLICT DO UPDATE` of (source id, payload) per page;
- PostgreSQL: `COPY` into a temporary stage, then one `INSERT … SELECT … ON CONFLICT DO UPDATE`.
The pipeline does everything a real run does: canonical JSON and hash, sealing, mapping, the
per-record contract, the GX suite per page, versioning against the store, upsert and history.
`CPU µs/rec` is the pipeline process's own CPU per record (the client's cost, which decides how
many records one worker can take; the database server's time is not in it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("CASEHUB_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
POOL = 5_000
PAGE = int(os.environ.get("CASEHUB_BENCH_PAGE", "10000"))
"""Records per page; `--page 200` measures at the hotline's own page size (connectors/partners.toml),
where the suites' fixed cost per page weighs more."""
RATE = 0.14
"""Calls a second in the default stream: the reference city's 7.45 million cases in 21 months."""
DENSE = os.environ.get("CASEHUB_BENCH_DENSE") == "1"
STAGES = os.environ.get("CASEHUB_BENCH_STAGES") == "1"
"""With `--stages`, each pipeline stage is timed by a CPU timer wrapped around its method from
here (the harness's `bench_pipeline.STAGES`), and the table of µs per record is printed."""
GX_BUDGET = 0.30
"""The data-quality suites may add at most 30 % to ingesting a page (docs/data-quality.md)."""


def pool_of(seed: int) -> list[dict[str, Any]]:
    """`POOL` valid work orders as the simulator generates them for `seed`."""
    from simulators.generator import generate
    from simulators.records import Options

    options = Options(seed=seed, records=POOL, defect_rate=0.0, anchor=datetime(2026, 11, 1, tzinfo=UTC))
    return [dict(r.versions[-1].payload) for r in generate("hotline", options)]


def stream(records: int) -> Iterator[list[dict[str, Any]]]:
    """Pages of distinct, valid work orders.

    By default the stream is the reference city's: one call every `1 / RATE` seconds, and a
    fresh pool of `POOL` generated work orders (the next seed) for every `POOL` records, so the
    texts vary as a city's do and a duplicate is one the generator's templates happen to make.
    `DENSE` (`--dense`) is the stream the first figures were taken on: four calls a second, one
    pool cycled, so each text comes back every 1 250 seconds and nearly every case is a
    duplicate of an earlier one — every duplicate-detection block full.
    """
    start = datetime(2026, 10, 1, 8, 0, 0, tzinfo=UTC).replace(tzinfo=None)  # partner local time
    if not DENSE:
        start -= timedelta(seconds=records / RATE)  # the stream ends before the hub's clock
    pool = pool_of(1)
    page: list[dict[str, Any]] = []
    for n in range(records):
        if not DENSE and n and n % POOL == 0:
            pool = pool_of(1 + n // POOL)
        order = dict(pool[n % len(pool)])
        order["GDBH"] = f"WB{n:014d}"
        called = start + (timedelta(seconds=n // 4) if DENSE else timedelta(seconds=round(n / RATE)))
        order["LDSJ"] = called.strftime("%Y-%m-%d %H:%M:%S")
        order["GXSJ"] = (called + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        if order.get("BJSJ"):
            order["BJSJ"] = (called + timedelta(minutes=20)).strftime("%Y-%m-%d %H:%M:%S")
        page.append(order)
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def _engine(backend: str) -> tuple[Any, str | None]:
    from sqlalchemy import create_engine, text

    from casehub.store.db import prepare

    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"{uuid.uuid4().hex}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return prepare(create_engine(f"sqlite:///{path}")), str(path)
    name = f"casehub_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    admin.dispose()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    return prepare(create_engine(url, connect_args={"prepare_threshold": None})), name


def _drop(backend: str, handle: str | None) -> None:
    from sqlalchemy import create_engine, text

    if backend == "sqlite" and handle:
        for suffix in ("", "-wal", "-shm"):
            Path(handle + suffix).unlink(missing_ok=True)
    elif handle:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{handle}" with (force)'))
        admin.dispose()


FIELDS = (
    "GDBH", "LDSJ", "LDRXM", "LDHM", "LXDH", "SFZHM", "SQLX", "BT", "SQNR", "SSQX", "FSDZ",
    "YWLBDM", "YWLBMC", "JJCD", "BLSX", "GDZT", "GXSJ", "BJSJ", "BLJG", "MYD",
)


def bare(engine: Any, records: int) -> float:
    """Seconds to bulk-load the same work orders, one column per field, upserted on the id.

    PostgreSQL: COPY into a stage and one INSERT … SELECT … ON CONFLICT; SQLite: one executemany
    INSERT … ON CONFLICT. No mapping, no checks, no sealing, no history: the floor of any ingest.
    """
    from sqlalchemy import text

    columns = ", ".join(f"{f} text" for f in FIELDS[1:])
    updates = ", ".join(f"{f} = excluded.{f}" for f in FIELDS[1:])
    with engine.begin() as conn:
        conn.execute(text(f"create table bare (GDBH varchar(64) primary key, {columns})"))
    elapsed = 0.0
    for page in stream(records):
        rows = [tuple(r.get(f) for f in FIELDS) for r in page]
        began = time.perf_counter()
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                with raw.cursor() as cursor:
                    cursor.execute("create temp table stage (like bare) on commit drop")
                    with cursor.copy(f"copy stage ({', '.join(FIELDS)}) from stdin") as copy:
                        for row in rows:
                            copy.write_row(row)
                    merge = f"insert into bare select * from stage on conflict (GDBH) do update set {updates}"  # noqa: S608
                    cursor.execute(merge)
                raw.commit()
            finally:
                raw.close()
        else:
            marks = ", ".join("?" for _ in FIELDS)
            with engine.begin() as conn:
                upsert = f"insert into bare values ({marks}) on conflict (GDBH) do update set {updates}"  # noqa: S608
                conn.exec_driver_sql(upsert, rows)
        elapsed += time.perf_counter() - began
    return elapsed


def pipeline(engine: Any, records: int, stages: dict[str, float] | None = None) -> tuple[float, float, float]:
    """Seconds for the whole ingest pipeline over the same pages, the part of them spent on the
    data-quality suites (building the frames, GX's validation, reading and keeping results), and
    the seconds of CPU the client spent (this process; the server's work is not in it).
    Given `stages`, each stage's own CPU seconds are added to it."""
    from casehub.crypto import KeyRing
    from casehub.pipeline import Pipeline
    from casehub.quality import quality_context
    from casehub.runtime import pace_collector
    from casehub.store import migrate
    from connectors.hotline import MAPPER

    class Timed(Pipeline):
        quality_seconds = 0.0

        def _check_quality(self, items: Any) -> Any:
            began = time.perf_counter()
            try:
                return super()._check_quality(items)
            finally:
                self.quality_seconds += time.perf_counter() - began

        def _record_validations(self, *args: Any) -> None:
            began = time.perf_counter()
            try:
                super()._record_validations(*args)
            finally:
                self.quality_seconds += time.perf_counter() - began

    clock = None
    if stages is not None:
        from bench_pipeline import StageClock, install

        clock = StageClock()
        install(clock)
    migrate(engine)
    quality_context()  # opening the GX context is a once-per-worker cost, not a per-record one
    pace_collector()  # as the jobs set it for a worker's process (casehub.runtime)
    ingest = Timed(engine, MAPPER, KeyRing.generate())
    elapsed = cpu = 0.0
    accepted = 0
    for page in stream(records):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = ingest.ingest(page)
        elapsed += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        accepted += result.accepted
    if accepted != records:
        raise SystemExit(f"only {accepted} of {records} benchmark records were accepted")
    if clock is not None and stages is not None:
        stages.update(clock.own)
    return elapsed, ingest.quality_seconds, cpu


def worker(backend: str, mode: str, records: int) -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    engine, handle = _engine(backend)
    stages: dict[str, float] | None = {} if STAGES and mode == "pipeline" else None
    try:
        seconds, quality, cpu = (
            pipeline(engine, records, stages) if mode == "pipeline" else (bare(engine, records), 0.0, 0.0)
        )
    finally:
        engine.dispose()
        _drop(backend, handle)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "backend": backend,
        "mode": mode,
        "records": records,
        "seconds": seconds,
        "quality_seconds": quality,
        "cpu_seconds": cpu,
        "peak_mib": peak_mib,
        "stages": stages or {},
    }
    print(json.dumps(result))


def measure(backend: str, mode: str, records: int) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--worker", backend, mode, str(records)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{backend} {mode} {records} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--page", type=int, help="records per page (default 10 000)")
    parser.add_argument(
        "--dense", action="store_true", help="four calls a second from one pool cycled (the first figures)"
    )
    parser.add_argument("--stages", action="store_true", help="print each stage's client CPU µs/record")
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "MODE", "RECORDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    if args.page:
        os.environ["CASEHUB_BENCH_PAGE"] = str(args.page)  # the worker processes read it
    if args.stages:
        os.environ["CASEHUB_BENCH_STAGES"] = "1"
    if args.dense:
        os.environ["CASEHUB_BENCH_DENSE"] = "1"
    arrivals = "4 a second, one pool cycled" if args.dense else f"{RATE} a second, a new pool every {POOL:,}"
    print(
        f"ingest benchmark: hotline work orders ({arrivals}), pages of {args.page or PAGE}, "
        "one process per measurement"
    )
    print(
        f"{'backend':<11}{'records':>9}{'pipeline/s':>12}{'bare/s':>10}{'ratio':>8}{'peak MiB':>10}"
        f"{'GX adds':>9}{'GX µs/rec':>11}{'CPU µs/rec':>12}"
    )
    for backend in args.backends:
        for records in args.records:
            full = measure(backend, "pipeline", records)
            base = measure(backend, "bare", records)
            rate, base_rate = records / full["seconds"], records / base["seconds"]
            # What validation adds: its time against the rest of the pipeline's, in the same run.
            adds = full["quality_seconds"] / (full["seconds"] - full["quality_seconds"])
            print(
                f"{backend:<11}{records:>9}{rate:>12,.0f}{base_rate:>10,.0f}{rate / base_rate:>8.2f}"
                f"{full['peak_mib']:>10,.0f}{adds:>8.0%} {1e6 * full['quality_seconds'] / records:>10,.0f}"
                f"{1e6 * full['cpu_seconds'] / records:>12,.0f}",
                flush=True,
            )
            if adds > GX_BUDGET:
                print(f"  GX adds {adds:.0%} to ingest, above the {GX_BUDGET:.0%} budget", flush=True)
            for stage, seconds in sorted(full["stages"].items(), key=lambda kv: -kv[1]):
                print(f"  {stage:<32}{1e6 * seconds / records:>8,.1f} µs/rec", flush=True)


if __name__ == "__main__":
    main()

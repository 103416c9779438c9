"""The efficiency reports of a month of 350 000 cases, and deadline supervision over 1 000 000 open
cases, each against one aggregate query over the same rows.

    python benchmarks/bench_reports.py [--cases 350000] [--open 1000000] [--backends sqlite postgresql]

Each backend runs in a fresh process over a fresh store. The cases are written straight into the
store set-wise (the benchmark measures the reports and supervision, not ingest): the month's
cases spread over November 2026 and the 13 districts, their units, categories and streets, most
closed — some late, some postponed, some evaluated —, the rest open; then 1 000 000 more open
cases whose deadlines run from three days past to forty days ahead, so that a run finds
a share to remind, supervise, raise and re-dispatch. Measured:

- `reports`: `casehub.reports.build` of November — the figures read and tallied, 14 reports
  written as HTML, CSV, JSON and PDF; baseline: one `GROUP BY district` query counting the
  month's received, due and closed cases over the same rows;
- `supervise`: `casehub.supervision.supervise` at a moment in the month — the candidates of each
  rule found, every due case's version, history, notices and outbox event written — and its
  rerun at the same moment (nothing left to fire); baseline: one query counting the open cases
  past their deadline.

Beside each wall time: the CPU the benchmark's process and its children (the PDF printers)
spent on it, and the load average of the minute before it began — the machine is shared, and
the wall time means little without the two.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
CHUNK = 50_000


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _rows(count: int, *, start: datetime, days: float, open_only: bool, seed: int) -> Any:
    """`count` cases as rows of `cases`, in chunks."""
    from casehub.enrich import load_rules
    from casehub.normalize import SHANGHAI

    rng = random.Random(seed)  # noqa: S311 - synthetic cases, not secrets
    rules = load_rules()
    communities = sorted((u for u in rules.units.values() if u.kind == "community"), key=lambda u: u.code)
    categories = ["120005", "020008", "010001", "030001", "110001", "060001", "100001", "070001"]
    chunk: list[dict[str, Any]] = []
    for n in range(count):
        unit = communities[rng.randrange(len(communities))]
        reported = start + timedelta(seconds=rng.uniform(0, days * 86400))
        if open_only:
            deadline = start + timedelta(days=rng.uniform(-3, 40))
            deadline = deadline.astimezone(SHANGHAI).replace(hour=18, minute=0, second=0).astimezone(UTC)
            status, closed, satisfaction = "accepted", None, None
        else:
            deadline = reported + timedelta(days=rng.choice((2, 4, 7, 14)))
            roll = rng.random()
            status = "closed" if roll < 0.8 else "processing" if roll < 0.93 else "returned"
            closed = reported + timedelta(days=rng.uniform(0.5, 16)) if status == "closed" else None
            satisfaction = (
                rng.choice(("satisfied", "basically_satisfied", "dissatisfied"))
                if closed and rng.random() < 0.6
                else None
            )
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=5))
        chunk.append(
            {
                "case_id": case_id,
                "channel": "hotline",
                "source_id": f"B{seed}{n:09d}",
                "source_status": "02",
                "version": 1,
                "title": "标题",
                "content": "内容",
                "nature": "help",
                "category": categories[n % len(categories)],
                "source_category": "HL0101",
                "health_related": False,
                "grade": "A",
                "district_code": unit.district_code,
                "street_code": str(unit.region_code)[:9],
                "community_code": unit.region_code,
                "status": status,
                "assigned_unit": unit.code,
                "time_limit_days": 3,
                "deadline_at": deadline,
                "satisfaction": satisfaction,
                "supervision": [],
                "reported_at": reported,
                "received_at": reported,
                "updated_at": closed or reported,
                "closed_at": closed,
                "pii_key_id": "k1",
                "reporter_fingerprint": "0" * 64,
                "reporter_index_key_id": "index",
                "raw_id": case_id,
            }
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load(engine: Any, rows: Any) -> None:
    from casehub.store.bulk import insert_rows
    from casehub.store.models import Case

    known = {c.name for c in Case.__table__.columns}
    for chunk in rows:
        with engine.begin() as conn:
            insert_rows(conn, Case.__table__, [{k: v for k, v in r.items() if k in known} for r in chunk])


def worker(backend: str, cases: int, open_cases: int) -> None:
    from bench_ingest import _drop, _engine
    from sqlalchemy import func, select, text

    from casehub import reports, supervision
    from casehub.crypto import KeyRing
    from casehub.normalize import SHANGHAI
    from casehub.reports import Period
    from casehub.store import migrate
    from casehub.store.models import Case

    november = Period.parse("monthly", "2026-11")
    engine, handle = _engine(backend)
    result: dict[str, Any] = {}
    try:
        migrate(engine)
        _load(engine, _rows(cases, start=november.start, days=30, open_only=False, seed=1))
        if backend == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE cases"))
        with tempfile.TemporaryDirectory() as out:
            result["reports_load"] = os.getloadavg()[0]
            began, cpu = time.perf_counter(), _cpu()
            summary = reports.build(engine, november, Path(out), generated_at=datetime.now(UTC))
            result["reports"] = time.perf_counter() - began
            result["reports_cpu"] = _cpu() - cpu
            result["read"] = summary["read_seconds"]
            result["received"] = summary["received"]
            result["files"] = summary["files"]
        began = time.perf_counter()
        with engine.connect() as conn:
            closed = Case.status.in_(("completed", "verified", "closed"))
            conn.execute(
                select(
                    Case.district_code,
                    func.count(),
                    func.sum((Case.reported_at >= november.start).cast(type_=Case.version.type)),
                    func.sum(closed.cast(type_=Case.version.type)),
                )
                .where(
                    ((Case.reported_at >= november.start) & (Case.reported_at < november.end))
                    | ((Case.deadline_at >= november.start) & (Case.deadline_at < november.end))
                )
                .group_by(Case.district_code)
            ).all()
        result["reports_baseline"] = time.perf_counter() - began

        moment = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
        _load(engine, _rows(open_cases, start=moment, days=1, open_only=True, seed=2))
        if backend == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE cases"))
        keyring = KeyRing.generate()
        result["supervise_load"] = os.getloadavg()[0]
        began, cpu = time.perf_counter(), _cpu()
        first = supervision.supervise(engine, keyring, clock=lambda: moment)
        result["supervise"] = time.perf_counter() - began
        result["supervise_cpu"] = _cpu() - cpu
        result["supervised"] = first["cases"]
        result["rerun_load"] = os.getloadavg()[0]
        began, cpu = time.perf_counter(), _cpu()
        again = supervision.supervise(engine, keyring, clock=lambda: moment)
        result["rerun"] = time.perf_counter() - began
        result["rerun_cpu"] = _cpu() - cpu
        result["rerun_cases"] = again["cases"]
        began = time.perf_counter()
        with engine.connect() as conn:
            result["open"] = conn.scalar(select(func.count()).where(Case.status.in_(supervision.OPEN)))
            conn.scalar(
                select(func.count()).where(Case.status.in_(supervision.OPEN), Case.deadline_at < moment)
            )
        result["supervise_baseline"] = time.perf_counter() - began
    finally:
        engine.dispose()
        _drop(backend, handle)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=350_000)
    parser.add_argument("--open", type=int, default=1_000_000)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "CASES", "OPEN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    print(
        f"reports and supervision benchmark: a month of {args.cases} cases, then {args.open} open cases, "
        "one process per backend"
    )
    print(
        f"{'backend':<11}{'what':<22}{'rows':>10}{'seconds':>9}{'cpu s':>7}{'load':>6}{'baseline s':>12}"
        f"{'result':>32}"
    )
    for backend in args.backends:
        done = subprocess.run(  # noqa: S603 - this script, fixed arguments
            [sys.executable, __file__, "--worker", backend, str(args.cases), str(args.open)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        r: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        rows = (
            (
                "reports (month)",
                args.cases,
                r["reports"],
                r["reports_cpu"],
                r["reports_load"],
                r["reports_baseline"],
                f"{r['files']} files, read {r['read']:.1f} s",
            ),
            (
                "supervise (open)",
                r["open"],
                r["supervise"],
                r["supervise_cpu"],
                r["supervise_load"],
                r["supervise_baseline"],
                f"{r['supervised']} cases supervised",
            ),
            (
                "supervise rerun",
                r["open"],
                r["rerun"],
                r["rerun_cpu"],
                r["rerun_load"],
                r["supervise_baseline"],
                f"{r['rerun_cases']} cases supervised",
            ),
        )
        for what, count, seconds, cpu, load, baseline, result in rows:
            print(
                f"{backend:<11}{what:<22}{count:>10}{seconds:>9.1f}{cpu:>7.1f}{load:>6.1f}{baseline:>12.2f}"
                f"{result:>32}",
                flush=True,
            )


if __name__ == "__main__":
    main()

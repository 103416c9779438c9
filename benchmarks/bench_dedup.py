"""Duplicate detection at scale: intake latency with a large store, and batch re-clustering.

    python benchmarks/bench_dedup.py [--cases 1000000] [--probes 500] [--backends postgresql sqlite]

The store is loaded with `--cases` cases straight through COPY (PostgreSQL) or one executemany
(SQLite): the density of the reference city (about 12 000 cases a day, so a million cases span
some 85 days), its districts weighted as the city's, the 597 communities of the regions, the
461 minor categories, four in five with a reporter's blind index, texts composed of a few
hundred phrases about places and problems, each its own cluster as intake would leave a store
with no duplicates found yet. Then:

- intake: `casehub.dedup.store.at_intake` for `--probes` new cases, one at a time, each in its
  own transaction (rolled back), as a page of one would run it — median and p99; the baseline
  is the plain candidate query alone (the same blocks, no scoring). Twice: `live`, the new
  cases reported in the store's last hour, as the live feed brings them (they are checked
  against the last three days, the ones the pages before them were checked against); and
  `anywhere`, reported at random over the store's span, as late arrivals of a backfill would
  be, each meeting a window nothing before it read;
- re-clustering: `casehub.dedup.store.recluster` over every case (on PostgreSQL in two
  processes, the districts shared out); the baseline is reading the same columns in the same
  order and doing nothing with them. The CPU seconds the hub's processes spent are printed too:
  on a shared machine a steadier figure than the wall clock.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

PER_DAY = 12_000
DISTRICT_WEIGHTS = (10, 8, 7, 8, 11, 5, 14, 6, 2, 4, 7, 6, 4)
CHANNELS, CHANNEL_WEIGHTS = ("hotline", "neighborhood_app", "message_board", "urban_mgmt"), (62, 27, 6, 5)
START = datetime(2026, 6, 1, tzinfo=UTC)
ROADS = ("解放大道", "中山大道", "建设大道", "珞喻路", "武珞路", "中北路", "雄楚大道", "汉阳大道", "和平大道")
PROBLEMS = (
    "门口井盖破损下陷，晚上看不清",
    "垃圾桶满溢两天没人清运，臭味很大",
    "路灯连续几晚不亮，出行不便",
    "电梯频繁故障停运，老人下不了楼",
    "工地夜间施工噪音扰民",
    "餐馆油烟直排影响楼上住户",
    "消防通道被私家车占用",
    "道路坑洼积水，车辆通行颠簸",
    "流动摊贩占道经营，行人走不了",
    "自来水发黄有异味",
    "小区突然停电，有人被困电梯",
    "楼上漏水，天花板发霉",
    "广场舞音响声音太大",
    "树枝压住电线，刮风很危险",
    "共享单车乱停放占用盲道",
    "化粪池满溢污水漫流",
)
OPENINGS = ("市民来电反映", "来电人称", "巡查发现", "", "各位领导好，我是这里的居民，", "网友反映")
CLOSINGS = ("要求尽快处理。", "希望相关部门解决。", "", "已拍照上传，请尽快派人来看看。", "已设置警示。")


def _engine(backend: str) -> tuple[Any, str | None]:
    from bench_ingest import _engine as made

    return made(backend)  # type: ignore[no-any-return]


def _places() -> tuple[list[str], dict[str, list[tuple[str, float, float, str]]], list[str]]:
    from casehub.reference import load_reference

    reference = load_reference()
    districts = sorted(reference.districts)
    communities: dict[str, list[tuple[str, float, float, str]]] = {d: [] for d in districts}
    for code, region in reference.regions.items():
        if region.level == "community":
            communities[code[:6]].append((code, region.lng or 0.0, region.lat or 0.0, region.name))
    return districts, communities, sorted(reference.categories)


def _text(rng: random.Random, community: str) -> tuple[str, str, str]:
    problem = rng.choice(PROBLEMS)
    building = rng.randint(1, 30)
    title = f"{community}{building}栋{problem[:8]}"
    content = f"{rng.choice(OPENINGS)}{community}{building}栋{problem}，{rng.choice(CLOSINGS)}"
    return title, content, f"{rng.choice(ROADS)}{rng.randint(1, 688)}号{community}{building}栋"


def rows(count: int, seed: int = 7) -> Any:
    """`count` synthetic cases in report-time order, as `cases` rows (module docstring)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    districts, communities, categories = _places()
    span = timedelta(days=count / PER_DAY)
    step = span / max(1, count)
    for n in range(count):
        district = rng.choices(districts, weights=DISTRICT_WEIGHTS)[0]
        code, lng, lat, name = rng.choice(communities[district])
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        located = channel != "hotline"
        title, content, address = _text(rng, name)
        at = START + step * n
        yield {
            "case_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{n}")),
            "channel": channel,
            "source_id": f"B{n:09d}",
            "source_status": "02",
            "version": 1,
            "title": title,
            "content": content,
            "nature": "投诉",
            "category": rng.choice(categories),
            "source_category": "X",
            "health_related": False,
            "grade": "A",
            "district_code": district,
            "community_code": code if located else None,
            "address": address,
            "lng": lng + rng.uniform(-0.002, 0.002) if located else None,
            "lat": lat + rng.uniform(-0.002, 0.002) if located else None,
            "status": "dispatched",
            "supervision": "[]",
            "reported_at": at,
            "received_at": at,
            "updated_at": at,
            "pii_key_id": "k1",
            "reporter_phone_index": f"{rng.getrandbits(64):016x}" * 4 if rng.random() < 0.8 else None,
            "cluster_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{n}")),
            "reporter_fingerprint": "f" * 64,
            "raw_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"raw/{n}")),
        }


COLUMNS = (
    "case_id", "channel", "source_id", "source_status", "version", "title", "content", "nature", "category",
    "source_category", "health_related", "grade", "district_code", "community_code", "address", "lng", "lat",
    "status", "supervision", "reported_at", "received_at", "updated_at", "pii_key_id", "reporter_phone_index",
    "reporter_fingerprint", "raw_id", "cluster_id",
)


def load(engine: Any, count: int) -> float:
    """Seconds to load `count` cases (COPY on PostgreSQL, executemany on SQLite)."""
    from sqlalchemy import insert

    from casehub.store.models import Case

    columns = [c for c in COLUMNS]
    fixed = {"reporter_index_key_id": "index"}
    columns += [name for name in fixed if name in Case.__table__.c]
    began = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = ", ".join(columns)
            with cursor.copy(f"COPY cases ({names}) FROM STDIN") as copy:
                for row in rows(count):
                    row.update(fixed)
                    copy.write_row([row[c] for c in columns])
            raw.commit()
        finally:
            raw.close()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("vacuum analyze cases")
    else:
        batch: list[dict[str, Any]] = []
        with engine.begin() as conn:
            for row in rows(count):
                batch.append({**row, **fixed, "supervision": []})
                if len(batch) == 10_000:
                    conn.execute(insert(Case), batch)
                    batch = []
            if batch:
                conn.execute(insert(Case), batch)
    return time.perf_counter() - began


def probes(count: int, store: int, *, live: bool) -> list[dict[str, Any]]:
    """New cases in the store's places (the same generator, later ids): reported in the store's
    last hour (`live`), or anywhere inside its span."""
    rng = random.Random(3)  # noqa: S311 - synthetic data
    made = list(rows(count, seed=13))
    span = timedelta(days=store / PER_DAY)
    for n, row in enumerate(made):
        if live:
            row["reported_at"] = START + span - timedelta(minutes=rng.uniform(0, 60))
        else:
            row["reported_at"] = START + span * rng.uniform(0.1, 0.9)
        row["case_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"probe/{n}"))
    return made


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def intake(engine: Any, new: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """Median and p99 ms of intake dedup per case, and of the bare candidate query."""
    from casehub.dedup import store as duplicates

    timings: dict[str, list[float]] = {"intake dedup": [], "candidate query": []}
    with engine.connect() as conn, conn.begin() as transaction:  # a running worker's caches, not a cold start
        duplicates.at_intake(conn, [dict(new[0], case_id=str(uuid.uuid4()))])
        transaction.rollback()
    for row in new:
        with engine.connect() as conn:
            transaction = conn.begin()
            began = time.perf_counter()
            duplicates.at_intake(conn, [dict(row)])
            timings["intake dedup"].append((time.perf_counter() - began) * 1000)
            transaction.rollback()
        with engine.connect() as conn:
            report = duplicates.as_report(row)
            began = time.perf_counter()
            duplicates._candidates(conn, str(row["district_code"]), [report])
            timings["candidate query"].append((time.perf_counter() - began) * 1000)
    return {name: _percentiles(values) for name, values in timings.items()}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the re-clustering's workers):
    on a shared machine a steadier figure than the wall clock."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bare_read(engine: Any) -> float:
    from sqlalchemy import select

    from casehub.dedup.store import _READ
    from casehub.store.models import Case

    began = time.perf_counter()
    query = select(*_READ, Case.duplicate_score, Case.version, Case.raw_id, Case.updated_at).order_by(
        Case.reported_at, Case.case_id
    )
    with engine.connect().execution_options(stream_results=True, yield_per=2000) as conn:
        for _ in conn.execute(query).mappings():
            pass
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--backends", nargs="+", default=["postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    from bench_ingest import _drop

    from casehub.dedup import store as duplicates
    from casehub.store import migrate

    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"{'backend':<11} {'what':<28} {'cases':>9} {'median ms':>10} {'p99 ms':>8} {'seconds':>8}")
    for backend in args.backends:
        engine, handle = _engine(backend)
        try:
            migrate(engine)
            loaded = load(engine, args.cases)
            print(f"{backend:<11} {'load (COPY)':<28} {args.cases:>9} {'':>10} {'':>8} {loaded:>8.1f}")
            for when in ("live", "anywhere"):
                new = probes(args.probes, args.cases, live=when == "live")
                for name, (median, p99) in intake(engine, new).items():
                    what = f"{name} ({when})"
                    print(f"{backend:<11} {what:<28} {args.cases:>9} {median:>10.2f} {p99:>8.2f} {'':>8}")
            read = bare_read(engine)
            print(f"{backend:<11} {'read in order':<28} {args.cases:>9} {'':>10} {'':>8} {read:>8.1f}")
            cpu = _cpu()
            run = duplicates.recluster(engine)
            summary = run.summary()
            print(
                f"{backend:<11} {'re-cluster':<28} {run.cases:>9} {'':>10} {'':>8} {run.seconds:>8.1f}"
                f"   ({summary['duplicates']} duplicates, {summary['changed']} changed; "
                f"{_cpu() - cpu:.0f} s of CPU in the hub's processes)"
            )
        finally:
            engine.dispose()
            _drop(backend, handle)
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

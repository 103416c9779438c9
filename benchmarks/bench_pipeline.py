"""The performance harness: every inbound channel's records through the whole pipeline, against the floor.

    python benchmarks/bench_pipeline.py [--records 100000] [--page 5000] [--seed 1] [--output PATH]

The records are what the partner simulators serve (`simulators.generator`, and the community
app's reports of `simulators.reports`), mixed across every inbound partner of
connectors/partners.toml in the reference city's volumes (DESIGN.md §1: hotline 4.62 M,
community app 2.0 M, message board 0.47 M, Open311 and the other doors 0.19 M, digital urban
management 0.15 M of 7.45 M cases) and at its density: about 12 000 cases a day, each day's
reports spread over the hours as calls to 12345 are, so 100 000 records span eight and a half
days. Open311 has no simulator that generates requests: its requests are made from community
app reports as the gateway lands them (token, WGS-84 point, the service the app's category is
filed under). Each record is served in its current version and arrives at its update time.

Planted on top, at known rates:
- defects (`DEFECT_RATE`, 2 %): a record the pipeline must quarantine with reasons — its update
  time unreadable, its complaint text missing, or its id empty, in turn;
- duplicates (`DUPLICATE_RATE`, 5 %): another resident reporting the same complaint again on the
  same channel within hours (a fresh record of that channel with the earlier one's text, place
  and category), and the simulators' own cross-channel twins (a hotline call and a community
  app report of one incident within the hour). Duplicate detection at intake should flag them.
The stream is generated a day at a time and handed over in pages of one channel, `--page`
records each (the backfill path's page by default); it is never in memory as a whole.

Two measurements, each in a fresh process on a PostgreSQL database of its own, created and
dropped (`bench_ingest._engine`): the whole pipeline (one `Pipeline` per channel, each with its
connector's MAPPER), and the floor of any ingest — the same records COPYed into a stage and
upserted in one statement into one table keyed on (channel, source id), the payload as jsonb.
Each pipeline stage is timed with a CPU timer wrapped around its method from here (`STAGES`),
its own time only: the time of the stages it calls is taken out. It prints records/s of both,
their ratio, client CPU µs/record per stage and in all, peak resident memory, and the counts to
check against what was planted; and writes the same figures to var/bench/latest.json, checked
against schemas/bench/latest.schema.json.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import inspect
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import _drop, _engine

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "var" / "bench" / "latest.json"
SCHEMA = ROOT / "schemas" / "bench" / "latest.schema.json"

VOLUMES: dict[str, float] = {
    "hotline": 4.62,
    "neighborhood_app": 2.0,
    "message_board": 0.47,
    "open311": 0.19,
    "urban_mgmt": 0.15,
}
"""Millions of cases in the reference city's 21 months, by channel (DESIGN.md §1; Open311 stands
for the other doors). Every inbound partner of the manifest must have a share."""
PER_DAY = 12_000
"""Cases a day: 7.45 M in 21 months is about 11 700."""
START = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)
"""The first day, at midnight in Asia/Shanghai: well before today, so no update time lies ahead
of the hub's clock for any N up to two million."""
DEFECT_RATE = 0.02
DUPLICATE_RATE = 0.05
RECENT = 400
"""A re-reported complaint is one of the last this many clean records of its channel."""

TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "hotline": ("SQLX", "BT", "SQNR", "SSQX", "FSDZ", "YWLBDM", "YWLBMC"),
    "message_board": (
        "title", "content", "msgType", "areaName", "address", "typeId", "typeName", "longitude", "latitude",
    ),
    "urban_mgmt": (
        "CaseType", "CategoryCode", "MajorName", "MinorName", "GridCode", "DistrictName", "StreetName",
        "CommunityName", "CoordX", "CoordY", "Address", "Description",
    ),
    "neighborhood_app": (
        "reportType", "categoryCode", "categoryName", "title", "content", "communityCode", "communityName",
        "address", "location",
    ),
    "open311": ("service_code", "description", "lat", "long", "address_string"),
}
"""What a complaint says and where, by channel: what a second resident's report of it repeats."""
CONTENT_FIELD = {
    "hotline": "SQNR",
    "message_board": "content",
    "urban_mgmt": "Description",
    "neighborhood_app": "content",
    "open311": "description",
}
DEFECTS = ("unreadable_update_time", "missing_content", "empty_id")

STAGES: tuple[tuple[str, str, str], ...] = (
    ("page", "casehub.pipeline:Pipeline", "ingest"),
    ("canonical JSON and hash", "casehub.pipeline:Pipeline", "_item"),
    ("transaction and batch row", "casehub.pipeline:Pipeline", "_commit"),
    ("look-up of landed hashes", "casehub.pipeline:Pipeline", "_landed"),
    ("mapping", "casehub.pipeline:Pipeline", "_map"),
    ("enrichment", "casehub.pipeline", "enrich"),
    ("JSON Schema", "casehub.contract:CaseContract", "problems"),
    ("GX suites", "casehub.pipeline:Pipeline", "_check_quality"),
    ("GX results stored", "casehub.pipeline:Pipeline", "_record_validations"),
    ("versioning and history", "casehub.pipeline:Pipeline", "_resolve_versions"),
    ("sealing personal data", "casehub.pipeline:Pipeline", "_seal_case"),
    ("workflow", "casehub.workflow", "on_ingest"),
    ("duplicate detection", "casehub.dedup.store", "at_intake"),
    ("quarantine superseded", "casehub.pipeline:Pipeline", "_supersede_quarantine"),
    ("database writes", "casehub.pipeline:Pipeline", "_write"),
    ("case upsert", "casehub.pipeline:Pipeline", "_upsert_cases"),
    ("outbox", "casehub.outbox", "write"),
    ("closing duplicates", "casehub.pipeline:Pipeline", "_close_children"),
    ("cursor", "casehub.pipeline:Pipeline", "_advance_cursor"),
    ("statistics (ANALYZE)", "casehub.pipeline:Pipeline", "_keep_statistics_fresh"),
)
"""Each stage: its name, where its function lives (`module` or `module:Class`) and the function.
Each is timed on its own, the stages it calls taken out; what a stage does between the stages it
calls (and the methods below it that are not listed) counts as its own."""


# -- the records -----------------------------------------------------------------------------------


@dataclass
class Planted:
    """What the stream holds on purpose, counted as it is made."""

    records: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    defects: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    twins: int = 0
    pairs: list[tuple[str, str]] = field(default_factory=list)
    """Each planted duplicate and the case it repeats, as case ids: found when either is flagged
    (a page decides in report-time order, and channels' pages arrive in any order)."""


def shares(total: int) -> dict[str, int]:
    """`total` split across the channels by volume, largest remainders first."""
    weight = sum(VOLUMES.values())
    exact = {code: total * v / weight for code, v in VOLUMES.items()}
    counts = {code: int(x) for code, x in exact.items()}
    short = total - sum(counts.values())
    for code in sorted(exact, key=lambda c: exact[c] - counts[c], reverse=True)[:short]:
        counts[code] += 1
    return counts


def check_channels() -> None:
    """Every inbound partner of the manifest has a share, and nothing else does."""
    from casehub.partners import load_partners

    inbound = {p.code for p in load_partners() if p.inbound}
    if inbound != set(VOLUMES):
        raise SystemExit(
            f"the benchmark's channels {sorted(VOLUMES)} are not the manifest's inbound partners "
            f"{sorted(inbound)}: give each a volume in VOLUMES and a line in TEXT_FIELDS and CONTENT_FIELD"
        )


def _open311(report: Mapping[str, Any], reference: Any, day: int, n: int) -> dict[str, Any]:
    """A community app report filed instead as an Open311 request, as the gateway lands it."""
    from prcoords import gcj_wgs

    services = reference.crosswalk("neighborhood_app", "category")
    location = report.get("location")
    lat = lng = None
    address = report.get("address")
    if isinstance(location, Mapping):
        lat, lng = (round(x, 6) for x in gcj_wgs((location["lat"], location["lng"])))
    else:
        community = reference.regions.get(str(report.get("communityCode")))
        district = reference.regions.get(str(report.get("communityCode"))[:6])
        address = "".join(r.name for r in (district, community) if r is not None) + str(address or "")
    name = str(report.get("reporterName") or "")
    return {
        "token": hashlib.sha256(f"open311:{day}:{n}".encode()).hexdigest()[:32],
        "key_id": "bench0311key",
        "requested_datetime": report["createdAt"],
        "service_code": services.get(str(report.get("categoryCode")), "020008"),
        "description": f"{report.get('title')}\n{report.get('content')}",
        "lat": lat,
        "long": lng,
        "address_string": address,
        "first_name": name[1:] or None,
        "last_name": name[:1] or None,
        "phone": report.get("reporterPhone") or None,
        "media_url": None,
        "attributes": [],
    }


Arrival = tuple[int, str, dict[str, Any], str | None]
"""A record as it arrives: (update time in epoch ms, channel, payload, the incident it tells)."""


def _day(seed: int, day: int, total: int, reference: Any) -> list[Arrival]:
    """One day's records of every channel, (arrival ms, channel, payload, incident), in arrival order."""
    from simulators import reports
    from simulators.generator import generate
    from simulators.records import Options, to_ms

    counts = shares(total)
    options = {
        code: Options(
            seed=seed * 100_000 + day,
            records=max(1, counts[code]),
            defect_rate=0.0,
            days=1,
            anchor=START + timedelta(days=day + 1),
        )
        for code in VOLUMES
    }
    found: list[Arrival] = []
    for code in ("hotline", "message_board", "urban_mgmt"):
        for n, record in enumerate(generate(code, options[code])[: counts[code]]):
            payload = dict(record.current.payload)
            if code == "message_board":  # its ids are drawn per seed: numbered per day, so days never collide
                payload["id"] = 10_000_000 + day * 100_000 + n
            found.append((record.current.updated_ms, code, payload, record.incident))
    app = options["neighborhood_app"]
    told = reports.generate(
        Options(app.seed, counts["neighborhood_app"] + counts["open311"], 0.0, app.days, app.anchor)
    )
    plain = [r for r in told if r.incident is None]
    filed = plain[: counts["open311"]]
    kept = {id(r) for r in filed}
    for record in [r for r in told if id(r) not in kept][: counts["neighborhood_app"]]:
        version = record.current
        found.append((version.updated_ms, "neighborhood_app", dict(version.payload), record.incident))
    for n, record in enumerate(filed):
        request = _open311(record.current.payload, reference, day, n)
        found.append((to_ms(datetime.fromisoformat(request["requested_datetime"])), "open311", request, None))
    found.sort(key=lambda r: (r[0], r[1]))
    return found


def _defective(channel: str, payload: dict[str, Any], kind: str, mapper: Any) -> None:
    if kind == "unreadable_update_time":
        payload[mapper.updated_field] = "2026-02-30 25:61:00"
    elif kind == "missing_content":
        payload.pop(CONTENT_FIELD[channel], None)
    else:
        payload[mapper.id_field] = ""


def records(seed: int, total: int, planted: Planted) -> Iterator[tuple[str, dict[str, Any]]]:
    """The stream, record by record in arrival order, counting what is planted in `planted`."""
    from casehub.identity import case_id
    from casehub.partners import load_connector, partner
    from casehub.reference import load_reference

    reference = load_reference()
    mappers = {code: load_connector(partner(code)).MAPPER for code in VOLUMES}
    rng = random.Random(f"bench_pipeline:{seed}")  # noqa: S311 - synthetic data
    recent: dict[str, deque[tuple[str, dict[str, Any]]]] = {code: deque(maxlen=RECENT) for code in VOLUMES}
    incidents: dict[str, tuple[str, str]] = {}
    day = 0
    while planted.records < total:
        arrivals = _day(seed, day, min(PER_DAY, total - planted.records), reference)
        for _, channel, payload, incident in arrivals:
            mapper = mappers[channel]
            key = case_id(channel, str(payload[mapper.id_field]))
            draw = rng.random()
            if incident is not None:
                if incident in incidents and incidents[incident][0] != channel:
                    planted.twins += 1
                    planted.pairs.append((key, incidents[incident][1]))
                incidents[incident] = (channel, key)
            elif draw < DEFECT_RATE:
                kind = DEFECTS[sum(planted.defects.values()) % len(DEFECTS)]
                _defective(channel, payload, kind, mapper)
                planted.defects[kind] += 1
            elif draw < DEFECT_RATE + DUPLICATE_RATE and recent[channel]:
                original, told = recent[channel][rng.randrange(len(recent[channel]))]
                payload.update({name: value for name, value in told.items() if name in payload})
                planted.duplicates += 1
                planted.pairs.append((key, original))
            else:
                recent[channel].append((key, {name: payload.get(name) for name in TEXT_FIELDS[channel]}))
            planted.records += 1
            planted.channels[channel] += 1
            yield channel, payload
        day += 1


def pages(seed: int, total: int, size: int, planted: Planted) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The stream as pages of one channel each, a channel's page handed over once it is full."""
    waiting: dict[str, list[dict[str, Any]]] = {code: [] for code in VOLUMES}
    for channel, payload in records(seed, total, planted):
        waiting[channel].append(payload)
        if len(waiting[channel]) >= size:
            yield channel, waiting[channel]
            waiting[channel] = []
    for channel, page in waiting.items():
        if page:
            yield channel, page


# -- the stage timer -------------------------------------------------------------------------------


class StageClock:
    """CPU seconds spent in each stage itself, the nested stages' time taken out."""

    def __init__(self) -> None:
        self.own: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._inner: list[float] = []

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        clock, inner, own, calls = time.process_time, self._inner, self.own, self.calls

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            calls[stage] += 1
            began = clock()
            inner.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                spent = clock() - began
                own[stage] += spent - inner.pop()
                if inner:
                    inner[-1] += spent

        return timed

    def overhead(self) -> float:
        """CPU seconds the timers themselves added to the run: its calls at the cost of timing a
        call that does nothing, measured here."""
        probe = StageClock()
        nothing = probe.wrap("probe", lambda: None)
        began = time.process_time()
        for _ in range(100_000):
            nothing()
        return (time.process_time() - began) / 100_000 * sum(self.calls.values())


def _owner(where: str) -> Any:
    module_name, _, class_name = where.partition(":")
    owner: Any = importlib.import_module(module_name)
    if class_name:
        owner = getattr(owner, class_name, None)
        if owner is None:
            raise SystemExit(f"stage table: {where} does not exist; update STAGES in {__file__}")
    return owner


def install(clock: StageClock) -> list[str]:
    """Wrap every stage of `STAGES`, failing on one that is gone; the pipeline's methods that no
    stage names (their time counts in their caller's)."""
    from casehub.pipeline import Pipeline

    found: list[tuple[str, Any, str, Callable[..., Any]]] = []
    for stage, where, name in STAGES:
        owner = _owner(where)
        function = owner.__dict__.get(name) if inspect.isclass(owner) else getattr(owner, name, None)
        if not callable(function):
            raise SystemExit(
                f"stage {stage!r}: {where.replace(':', '.')}.{name} is missing — renamed or removed? "
                f"Update STAGES in {__file__} so the stage is still measured"
            )
        found.append((stage, owner, name, function))
    for stage, owner, name, function in found:
        setattr(owner, name, clock.wrap(stage, function))
    named = {name for _, where, name in STAGES if where == "casehub.pipeline:Pipeline"}
    return sorted(
        name
        for name, value in vars(Pipeline).items()
        if callable(value) and name.startswith("_") and not name.startswith("__") and name not in named
    )


# -- the two measurements --------------------------------------------------------------------------


def pipeline(engine: Any, seed: int, total: int, size: int) -> dict[str, Any]:
    """The whole pipeline over the stream: wall and client CPU seconds, per-stage CPU, counts."""
    from sqlalchemy import text

    from casehub.crypto import KeyRing
    from casehub.partners import load_connector, partner
    from casehub.pipeline import Pipeline
    from casehub.quality import quality_context
    from casehub.runtime import pace_collector
    from casehub.store import migrate

    clock = StageClock()
    untimed = install(clock)
    migrate(engine)
    quality_context()  # opening the GX context is a once-per-worker cost, not a per-record one
    pace_collector()  # as the jobs set it for a worker's process (casehub.runtime)
    keyring = KeyRing.generate()
    ingest = {
        code: Pipeline(engine, load_connector(spec).MAPPER, keyring, future_tolerance=spec.future_tolerance)
        for code, spec in ((c, partner(c)) for c in VOLUMES)
    }
    planted = Planted()
    elapsed = cpu = 0.0
    accepted = quarantined = superseded = 0
    for channel, page in pages(seed, total, size, planted):
        began, began_cpu = time.perf_counter(), time.process_time()
        result = ingest[channel].ingest(page)
        elapsed += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        accepted, quarantined = accepted + result.accepted, quarantined + result.quarantined
        superseded += result.superseded
    with engine.connect() as conn:
        flagged = set(conn.scalars(text("select case_id from cases where duplicate_of is not null")))
        without_reasons = conn.execute(
            text("select count(*) from quarantine where jsonb_array_length(reasons::jsonb) = 0")
        ).scalar_one()
        raw = conn.execute(text("select count(*) from raw_records")).scalar_one()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "stages": dict(clock.own),
        "timer_seconds": clock.overhead(),
        "untimed": untimed,
        "raw": raw,
        "landed": accepted,
        "quarantined": quarantined,
        "quarantined_without_reasons": without_reasons,
        "superseded": superseded,
        "duplicates": len(flagged),
        "planted_duplicates_found": sum(1 for a, b in planted.pairs if a in flagged or b in flagged),
        "planted_defects": sum(planted.defects.values()),
        "planted_defect_kinds": dict(planted.defects),
        "planted_duplicates": planted.duplicates + planted.twins,
        "planted_twins": planted.twins,
        "channels": dict(planted.channels),
    }


def bare(engine: Any, seed: int, total: int, size: int) -> dict[str, Any]:
    """The floor: COPY each page into a stage, one upsert into a table keyed on (channel, source
    id) with the payload as jsonb. No mapping, checks, sealing or history."""
    import orjson

    from casehub.partners import load_connector, partner

    ids = {code: load_connector(partner(code)).MAPPER.id_field for code in VOLUMES}
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create table bare (channel text, source_id text, payload jsonb,"
            " primary key (channel, source_id))"
        )
    planted = Planted()
    elapsed = cpu = 0.0
    for channel, page in pages(seed, total, size, planted):
        rows = [(channel, str(r.get(ids[channel])), orjson.dumps(r).decode()) for r in page]
        began, began_cpu = time.perf_counter(), time.process_time()
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                cursor.execute("create temp table stage (like bare) on commit drop")
                with cursor.copy("copy stage (channel, source_id, payload) from stdin") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(
                    "insert into bare select distinct on (channel, source_id) * from stage "
                    "on conflict (channel, source_id) do update set payload = excluded.payload"
                )
            raw.commit()
        finally:
            raw.close()
        elapsed += time.perf_counter() - began
        cpu += time.process_time() - began_cpu
    return {"seconds": elapsed, "cpu_seconds": cpu, "channels": dict(planted.channels)}


def worker(mode: str, seed: int, total: int, size: int) -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    engine, handle = _engine("postgresql")
    try:
        result = (pipeline if mode == "pipeline" else bare)(engine, seed, total, size)
    finally:
        engine.dispose()
        _drop("postgresql", handle)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(mode: str, seed: int, total: int, size: int) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script, fixed arguments
        [sys.executable, __file__, "--worker", mode, str(seed), str(total), str(size)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} of {total} records failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the report ------------------------------------------------------------------------------------


def summary(
    total: int, size: int, seed: int, full: dict[str, Any], base: dict[str, Any], load: tuple[float, ...]
) -> dict[str, Any]:
    per = 1e6 / total
    stages = {stage: round(full["stages"].get(stage, 0.0) * per, 1) for stage, _, _ in STAGES}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git on the PATH
            cwd=ROOT, capture_output=True, text=True, check=False,
        ).stdout.strip() or None
    except OSError:
        commit = None
    return {
        "records": total,
        "page": size,
        "seed": seed,
        "backend": "postgresql",
        "pipeline_per_s": round(total / full["seconds"], 1),
        "bare_per_s": round(total / base["seconds"], 1),
        "ratio": round(base["seconds"] / full["seconds"], 5),
        "pipeline_seconds": round(full["seconds"], 3),
        "bare_seconds": round(base["seconds"], 3),
        "cpu_us_per_record": round(full["cpu_seconds"] * per, 1),
        "bare_cpu_us_per_record": round(base["cpu_seconds"] * per, 1),
        "peak_mib": round(full["peak_mib"], 1),
        "bare_peak_mib": round(base["peak_mib"], 1),
        "stages": stages,
        "timer_us_per_record": round(full["timer_seconds"] * per, 1),
        "landed": full["landed"],
        "quarantined": full["quarantined"],
        "superseded": full["superseded"],
        "planted_defects": full["planted_defects"],
        "duplicates": full["duplicates"],
        "planted_duplicates": full["planted_duplicates"],
        "planted_duplicates_found": full["planted_duplicates_found"],
        "channels": full["channels"],
        "machine": {
            "cpu_count": os.cpu_count() or 1,
            "load_average_start": [round(x, 2) for x in load],
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "commit": commit,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def validate(figures: Mapping[str, Any]) -> None:
    """The file's contract: its JSON Schema."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    problems = sorted(validator.iter_errors(figures), key=lambda e: list(e.path))
    if problems:
        raise SystemExit(
            "the figures break schemas/bench/latest.schema.json: "
            + "; ".join(f"/{'/'.join(map(str, e.path))}: {e.message}" for e in problems)
        )


def report(figures: Mapping[str, Any], full: Mapping[str, Any]) -> None:
    machine = figures["machine"]
    load = " → ".join(
        " ".join(f"{x:.2f}" for x in machine[k]) for k in ("load_average_start", "load_average")
    )
    mix = ", ".join(f"{code} {n}" for code, n in sorted(figures["channels"].items(), key=lambda c: -c[1]))
    print(f"pipeline benchmark: {figures['records']} records, pages of {figures['page']}, PostgreSQL")
    print(f"  channels: {mix}")
    print(f"  load average {load} on {machine['cpu_count']} CPUs (wall time is noisy; CPU is steadier)")
    print(f"{'':<26}{'records/s':>11}{'seconds':>10}{'CPU µs/rec':>12}{'peak MiB':>10}")
    print(
        f"{'pipeline':<26}{figures['pipeline_per_s']:>11,.0f}{figures['pipeline_seconds']:>10.1f}"
        f"{figures['cpu_us_per_record']:>12,.0f}{figures['peak_mib']:>10,.0f}"
    )
    print(
        f"{'bare COPY + upsert':<26}{figures['bare_per_s']:>11,.0f}{figures['bare_seconds']:>10.1f}"
        f"{figures['bare_cpu_us_per_record']:>12,.0f}{figures['bare_peak_mib']:>10,.0f}"
    )
    print(f"{'ratio pipeline / bare':<26}{figures['ratio']:>11.4f}")
    print("client CPU µs/record by stage (each stage's own time):")
    where = {stage: f"{w.split(':')[-1].split('.')[-1]}.{name}" for stage, w, name in STAGES}
    for stage, us in sorted(figures["stages"].items(), key=lambda s: -s[1]):
        print(f"  {stage:<28}{us:>9,.1f}   {where[stage]}")
    total = sum(figures["stages"].values())
    print(f"  {'sum of stages':<28}{total:>9,.1f}   (total {figures['cpu_us_per_record']:,.1f})")
    timers = figures["timer_us_per_record"]
    print(f"  {'of which the timers':<28}{timers:>9,.1f}   (about; spread over the stages)")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(full["planted_defect_kinds"].items()))
    if full["untimed"]:
        print(f"  not timed on their own (in their caller's time): {', '.join(full['untimed'])}")
    print(
        f"raw records {full['raw']}: landed {figures['landed']}, quarantined {figures['quarantined']}"
        f" (planted defects {figures['planted_defects']}: {kinds}), superseded {figures['superseded']}"
    )
    print(
        f"duplicates flagged {figures['duplicates']}, of the planted {figures['planted_duplicates']} "
        f"({full['planted_twins']} cross-channel twins) {figures['planted_duplicates_found']} found"
    )
    if figures["quarantined"] != figures["planted_defects"]:
        print(f"  ! quarantined {figures['quarantined']}, planted defects {figures['planted_defects']}")
    if full["quarantined_without_reasons"]:
        print(f"  ! {full['quarantined_without_reasons']} quarantined records have no reason")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page", type=int, help="records per page (default: the backfill path's, 5 000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default var/bench/latest.json")
    parser.add_argument(
        "--worker", nargs=4, metavar=("MODE", "SEED", "RECORDS", "PAGE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    check_channels()
    if args.worker:
        worker(args.worker[0], *(int(x) for x in args.worker[1:]))
        return
    from casehub.backfill import BATCH_RECORDS

    size = args.page or BATCH_RECORDS
    load = os.getloadavg()
    full = measure("pipeline", args.seed, args.records, size)
    base = measure("bare", args.seed, args.records, size)
    if base["channels"] != full["channels"]:
        raise SystemExit(f"the two runs read different streams: {full['channels']} and {base['channels']}")
    figures = summary(args.records, size, args.seed, full, base, load)
    report(figures, full)
    validate(figures)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {args.output}")


if __name__ == "__main__":
    main()

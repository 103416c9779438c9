"""`quality_daily`: each inbound channel's previous day validated, kept, and shown in Data Docs.

For a day (Asia/Shanghai) and each channel cases come in from, the suites' checkpoints run on
what the store took in that day, by the hub's own clock: the raw records that landed (opened in
memory), the cases that gained a version (as they stand now), the status changes recorded, and
the channel's table-level figures. Each checkpoint keeps
its GX result and rebuilds the Data Docs site; each rule's outcome is kept in `quality_results`
and its pass rate for the day in `quality_trend` (a rerun of the day replaces it). A critical
table-level rule that breaks fails the run (`DataQualityError`, naming the rule and channel)
after everything is recorded, so the failure is visible and the figures are not lost.

The same table-level suite runs after every ingest run on the channel so far (`gate`).
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select

from casehub.crypto import KeyRing, associated_data
from casehub.errors import DataQualityError
from casehub.normalize import SHANGHAI
from casehub.partners import Partner, load_partners
from casehub.quality import QualityContext, Validation, quality_context
from casehub.quality.frames import case_frame, raw_frame, table_frame
from casehub.store.db import store_errors
from casehub.store.models import (
    Batch,
    Case,
    CaseHistory,
    QualityResult,
    QualityTrend,
    Quarantine,
    RawRecord,
)

log = logging.getLogger(__name__)

FRESHNESS_HOURS = 26.0
"""How long a channel may be silent before `table_fresh` breaks, unless its manifest entry says
otherwise (`silent_hours`): a day and a margin."""
VOLUME_HISTORY_DAYS = 28
VOLUME_MIN_HISTORY = 7
"""The volume band is judged against the median of the 28 days before, once 7 of them exist."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def previous_day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date() - timedelta(days=1)


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def inbound() -> list[Partner]:
    return [p for p in load_partners() if p.inbound]


def _judged(spec: Partner, figures: dict[str, Any]) -> dict[str, Any]:
    """`channel_day`'s parameters for the partner: how long it may be silent (`silent_hours`;
    none judged for a partner that may be quiet for days, whose silence is then not a figure)."""
    if not spec.silent_hours:
        figures["hours_since_landing"] = float("nan")
        return {"freshness_hours": FRESHNESS_HOURS}
    return {"freshness_hours": float(spec.silent_hours)}


@dataclass
class DayResult:
    day: str
    validations: dict[str, dict[str, Any]] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"day": self.day, "channels": self.validations, "broken": self.broken}


def _raw_of_day(
    conn: Connection, keyring: KeyRing, channel: str, start: datetime, end: datetime
) -> list[Any]:
    records = []
    query = select(RawRecord.raw_id, RawRecord.key_id, RawRecord.payload).where(
        RawRecord.channel == channel, RawRecord.received_at >= start, RawRecord.received_at < end
    )
    for raw_id, key_id, payload in conn.execute(query):
        body = keyring.open(key_id, payload, associated_data("raw_records", "payload", raw_id))
        try:
            records.append(orjson.loads(body))
        except orjson.JSONDecodeError:
            continue  # an unreadable body is quarantined at landing; the raw suite judges objects
    return records


def _cases_of_day(
    conn: Connection, keyring: KeyRing, channel: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    cases = []
    changed = select(CaseHistory.case_id).where(
        CaseHistory.recorded_at >= start, CaseHistory.recorded_at < end
    )
    query = select(Case).where(Case.channel == channel, Case.case_id.in_(changed))
    for row in conn.execute(query).mappings():
        case = dict(row)
        for column in ("reported_at", "received_at", "updated_at", "closed_at", "deadline_at"):
            value = case[column]
            case[column] = value.isoformat() if isinstance(value, datetime) else None
        reporter = {}
        for name in ("phone", "id_number"):
            sealed = case.pop(f"reporter_{name}")
            aad = associated_data("cases", f"reporter_{name}", case["case_id"])
            reporter[name] = (
                keyring.open_text(case["pii_key_id"], sealed, aad) if sealed is not None else None
            )
        case["reporter"] = reporter
        cases.append(case)
    return cases


def _refused_on_day(conn: Connection, channel: str, start: datetime, end: datetime) -> Counter[str]:
    """Reason codes of the records quarantined that day: a rule the mapper enforces counts them."""
    query = select(Quarantine.reasons).where(
        Quarantine.channel == channel, Quarantine.quarantined_at >= start, Quarantine.quarantined_at < end
    )
    return Counter(code for (reasons,) in conn.execute(query) for code in {r["code"] for r in reasons})


def _transitions_of_day(conn: Connection, channel: str, start: datetime, end: datetime) -> Any:
    import pandas as pd

    query = (
        select(CaseHistory.changes)
        .join(Case, Case.case_id == CaseHistory.case_id)
        .where(Case.channel == channel, CaseHistory.recorded_at >= start, CaseHistory.recorded_at < end)
    )
    pairs = []
    for (changes,) in conn.execute(query):
        status = (changes or {}).get("status")
        if isinstance(status, list) and len(status) == 2:
            pairs.append({"from_status": status[0], "to_status": status[1]})
    return pd.DataFrame.from_records(pairs, columns=["from_status", "to_status"]).astype(object)


def channel_figures(
    conn: Connection, channel: str, *, start: datetime | None, end: datetime, now: datetime, day: date | None
) -> dict[str, Any]:
    """The table-level figures of a channel over [start, end) (all time when `start` is None)."""
    window = [RawRecord.channel == channel, RawRecord.received_at < end]
    if start is not None:
        window.append(RawRecord.received_at >= start)
    outcomes = dict(
        conn.execute(select(RawRecord.outcome, func.count()).where(*window).group_by(RawRecord.outcome)).all()
    )
    raw = sum(outcomes.values())
    accounted = sum(outcomes.get(k, 0) for k in ("accepted", "quarantined", "superseded"))
    last = conn.scalar(
        select(func.max(RawRecord.received_at)).where(
            RawRecord.channel == channel, RawRecord.received_at < end
        )
    )
    horizon = min(end, now)
    # A channel that never sent anything has no freshness to judge (NaN passes).
    hours = float("nan") if last is None else max((horizon - last).total_seconds() / 3600, 0.0)
    batch_window = [Batch.channel == channel, Batch.started_at < end]
    if start is not None:
        batch_window.append(Batch.started_at >= start)
    received, duplicates = conn.execute(
        select(
            func.coalesce(func.sum(Batch.received), 0), func.coalesce(func.sum(Batch.duplicates), 0)
        ).where(*batch_window)
    ).one()
    ratio = None
    if day is not None and start is not None:
        history = _daily_counts(conn, channel, start - timedelta(days=VOLUME_HISTORY_DAYS), start)
        if len(history) >= VOLUME_MIN_HISTORY:
            median = statistics.median(history)
            ratio = raw / median if median else None
    return {
        "channel": channel,
        "raw": raw,
        "accounted": accounted,
        "hours_since_landing": hours,
        "volume_ratio": ratio,
        "duplicate_rate": (duplicates / received) if received else None,
        "quarantine_rate": (outcomes.get("quarantined", 0) / raw) if raw else None,
    }


def _daily_counts(conn: Connection, channel: str, start: datetime, end: datetime) -> list[int]:
    """Raw records landed per day in [start, end) (day boundaries), days with none left out:
    one count per day in the store, no row read into Python."""
    counts = []
    day = start
    while day < end:
        following = day + timedelta(days=1)
        landed = conn.scalar(
            select(func.count())
            .select_from(RawRecord)
            .where(
                RawRecord.channel == channel, RawRecord.received_at >= day, RawRecord.received_at < following
            )
        )
        if landed:
            counts.append(int(landed))
        day = following
    return counts


def _record(
    conn: Connection, validations: Sequence[Validation], channel: str, day: str, at: datetime
) -> None:
    rows = [row for v in validations for row in v.rows_for_store(channel, at=at, day=day)]
    if rows:
        conn.execute(insert(QualityResult), rows)
    conn.execute(delete(QualityTrend).where(and_(QualityTrend.day == day, QualityTrend.channel == channel)))
    trend: dict[str, dict[str, Any]] = {}
    for validation in validations:
        for result in validation.results:
            trend[result.rule.rule] = {
                "day": day,
                "channel": channel,
                "rule": result.rule.rule,
                "suite": validation.suite,
                "severity": result.rule.severity,
                "evaluated": result.evaluated,
                "unexpected": result.unexpected,
                "pass_rate": 1.0 - result.unexpected / result.evaluated if result.evaluated else 1.0,
                "validated_at": at,
            }
    if trend:
        conn.execute(insert(QualityTrend), list(trend.values()))


def validate_day(
    engine: Engine,
    keyring: KeyRing,
    day: date,
    *,
    channels: Sequence[Partner] | None = None,
    quality: QualityContext | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> DayResult:
    """Validate `day` for every inbound channel; raise `DataQualityError` on a broken table rule."""
    quality = quality or quality_context()
    start, end = _bounds(day)
    result = DayResult(day=day.isoformat())
    for spec in channels if channels is not None else inbound():
        now = clock()
        with store_errors(), engine.connect() as conn:
            raw = _raw_of_day(conn, keyring, spec.code, start, end)
            cases = _cases_of_day(conn, keyring, spec.code, start, end)
            transitions = _transitions_of_day(conn, spec.code, start, end)
            figures = channel_figures(conn, spec.code, start=start, end=end, now=now, day=day)
            refused = _refused_on_day(conn, spec.code, start, end)
        validations: list[Validation] = []
        run_name = f"{spec.code}-{day.isoformat()}"
        raw_suite = f"raw_{spec.code}"
        if raw_suite in quality.specs:
            frame = raw_frame(raw, quality.spec(raw_suite))
            validations.append(quality.checkpoint(raw_suite, frame, run_name=run_name))
        parameters = {
            "future_tolerance_minutes": spec.future_tolerance.total_seconds() / 60,
        }
        checked = quality.checkpoint("case", case_frame(cases), parameters, run_name=run_name)
        checked.count_refused(refused)
        validations.append(checked)
        validations.append(quality.checkpoint("case_history", transitions, run_name=run_name))
        judged = _judged(spec, figures)
        table = quality.checkpoint("channel_day", table_frame([figures]), judged, run_name=run_name)
        validations.append(table)
        with store_errors(), engine.begin() as conn:
            _record(conn, validations, spec.code, day.isoformat(), now)
        result.validations[spec.code] = {
            "raw": len(raw),
            "cases": len(cases),
            "rules": sum(len(v.results) for v in validations),
            "failed": sorted(r.rule.rule for v in validations for r in v.results if not r.success),
        }
        result.broken += [f"{r.rule.rule} on {spec.code}" for r in table.broken()]
        log.info("quality %s %s: %s", day, spec.code, result.validations[spec.code])
    if result.broken:
        raise DataQualityError(
            f"quality_daily {day}: {'; '.join(result.broken)} (see the quality page and Data Docs)",
            suite="channel_day",
            expectations=result.broken,
        )
    return result


def gate(
    engine: Engine,
    channel: Partner,
    *,
    quality: QualityContext | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> dict[str, Any]:
    """The table-level suite on a channel after an ingest run: everything landed so far.

    Its results are kept (no day, no batch); a broken critical rule raises `DataQualityError`
    naming the rule and the channel, which fails the run.
    """
    quality = quality or quality_context()
    now = clock()
    today_start, _ = _bounds(now.astimezone(SHANGHAI).date())
    with store_errors(), engine.connect() as conn:
        figures = channel_figures(
            conn, channel.code, start=None, end=now + timedelta(seconds=1), now=now, day=None
        )
        today = channel_figures(
            conn, channel.code, start=today_start, end=now + timedelta(seconds=1), now=now, day=None
        )
    figures.update(duplicate_rate=today["duplicate_rate"], quarantine_rate=today["quarantine_rate"])
    judged = _judged(channel, figures)
    table = quality.validate("channel_day", table_frame([figures]), judged)
    with store_errors(), engine.begin() as conn:
        conn.execute(insert(QualityResult), table.rows_for_store(channel.code, at=now))
    broken = [r.rule.rule for r in table.broken()]
    if broken:
        raise DataQualityError(
            f"{channel.code}: {', '.join(broken)} broke after this run: "
            + "; ".join(r.rule.message for r in table.broken()),
            suite="channel_day",
            expectations=broken,
        )
    return {
        "channel": channel.code,
        "rules": len(table.results),
        "warnings": [w["reason"] for w in table.warnings()],
    }

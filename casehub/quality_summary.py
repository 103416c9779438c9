"""What the data broke, read back from the stored validation results: the quality page's data.

Two tables hold the results (`casehub/store/models.py`): `quality_trend`, one row per rule,
channel and day, kept by `quality_daily` when it validates a whole day; and `quality_results`,
one row per expectation per validation, written for every page at ingest as well. A day that
`quality_daily` has validated is read from the trend; a day it has not (today, or before the
job first ran) is summed from the ingest validations of that day, so the page is never empty
while cases arrive. Days are calendar days in Asia/Shanghai, the city's.

Beside the rules, the records quarantined at ingest are counted per reason, channel and day
(`quarantine`, by when each entry was opened): a record a critical rule refuses while it is
mapped never reaches a suite, so the page shows both what the suites counted and what was
kept out.

Counts only: no stored result holds a record's value, and nothing here reads one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from casehub.store.models import QualityResult, QualityTrend, Quarantine

CITY_TIME = ZoneInfo("Asia/Shanghai")
DAILY, INGEST = "daily", "ingest"
MAX_DAYS = 90


@dataclass(frozen=True)
class RuleDay:
    """One rule on one channel on one day: how many rows it saw and how many broke it."""

    day: str
    channel: str
    rule: str
    suite: str
    severity: str
    evaluated: int
    unexpected: int
    source: str
    """`daily` (the day validated whole by `quality_daily`) or `ingest` (its pages' validations)."""

    @property
    def pass_rate(self) -> float:
        return 1.0 if self.evaluated == 0 else 1.0 - self.unexpected / self.evaluated

    @property
    def broken(self) -> bool:
        return self.unexpected > 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pass_rate": round(self.pass_rate, 4)}


@dataclass(frozen=True)
class ChannelDay:
    """A channel's day: the rules it broke and how often (rows breaking them, summed over rules)."""

    day: str
    channel: str
    rules_checked: int
    rules_broken: tuple[str, ...]
    unexpected: int
    evaluated: int
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rules_broken": list(self.rules_broken)}


@dataclass(frozen=True)
class FailingRule:
    """A rule over the whole window: how often it broke, where, and its pass rate."""

    rule: str
    suite: str
    severity: str
    unexpected: int
    evaluated: int
    days_broken: int
    channels: tuple[str, ...]
    last_broken: str

    @property
    def pass_rate(self) -> float:
        return 1.0 if self.evaluated == 0 else 1.0 - self.unexpected / self.evaluated

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "channels": list(self.channels), "pass_rate": round(self.pass_rate, 4)}


@dataclass(frozen=True)
class QuarantinedReason:
    """Records of a channel quarantined on a day with this reason (an entry counts once per code)."""

    day: str
    channel: str
    reason: str
    records: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualitySummary:
    """The window `since`..`until` (inclusive), optionally one channel's."""

    since: str
    until: str
    channel: str | None
    channels: tuple[str, ...]
    days: tuple[str, ...]
    rules: tuple[RuleDay, ...]
    channel_days: tuple[ChannelDay, ...]
    top: tuple[FailingRule, ...]
    validations: int
    last_validated_at: datetime | None
    quarantined: tuple[QuarantinedReason, ...] = ()

    def quarantined_by_reason(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """Each reason over the window: records quarantined and the channels, most first."""
        records: dict[str, int] = defaultdict(int)
        channels: dict[str, set[str]] = defaultdict(set)
        for q in self.quarantined:
            records[q.reason] += q.records
            channels[q.reason].add(q.channel)
        return sorted(
            ((r, n, tuple(sorted(channels[r]))) for r, n in records.items()), key=lambda x: (-x[1], x[0])
        )

    def series(self) -> dict[str, list[int]]:
        """Per channel, the rows breaking a rule on each day of `days` (0 where none): the chart."""
        by_key = {(c.channel, c.day): c.unexpected for c in self.channel_days}
        return {ch: [by_key.get((ch, day), 0) for day in self.days] for ch in self.channels}

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "channel": self.channel,
            "channels": list(self.channels),
            "days": list(self.days),
            "validations": self.validations,
            "last_validated_at": None
            if self.last_validated_at is None
            else self.last_validated_at.isoformat(),
            "top_failing_rules": [r.as_dict() for r in self.top],
            "by_channel_day": [c.as_dict() for c in self.channel_days],
            "rules": [r.as_dict() for r in self.rules],
            "series": self.series(),
            "quarantined": [q.as_dict() for q in self.quarantined],
        }


def city_day(moment: datetime) -> str:
    """The calendar day in Asia/Shanghai of an aware moment, `YYYY-MM-DD`."""
    return moment.astimezone(CITY_TIME).date().isoformat()


def summarize(
    engine: Engine,
    *,
    channel: str | None = None,
    days: int = 14,
    until: date | None = None,
    top: int = 10,
    now: datetime | None = None,
) -> QualitySummary:
    """The last `days` days up to `until` (default: today in the city), every channel or one."""
    days = max(1, min(days, MAX_DAYS))
    last = until or (now or datetime.now(UTC)).astimezone(CITY_TIME).date()
    first = last - timedelta(days=days - 1)
    since, until_text = first.isoformat(), last.isoformat()
    rules = _daily(engine, channel, since, until_text)
    covered = {(r.channel, r.day) for r in rules}
    rules += [r for r in _ingest(engine, channel, first, last) if (r.channel, r.day) not in covered]
    rules.sort(key=lambda r: (r.day, r.channel, r.suite, r.rule))
    validations, last_at = _validations(engine, channel, first, last)
    quarantined = _quarantined(engine, channel, first, last)
    return QualitySummary(
        since=since,
        until=until_text,
        channel=channel,
        channels=tuple(sorted({r.channel for r in rules} | {q.channel for q in quarantined})),
        days=tuple((first + timedelta(days=n)).isoformat() for n in range(days)),
        rules=tuple(rules),
        channel_days=tuple(_channel_days(rules)),
        top=tuple(_top(rules)[:top]),
        validations=validations,
        last_validated_at=last_at,
        quarantined=tuple(quarantined),
    )


def _daily(engine: Engine, channel: str | None, since: str, until: str) -> list[RuleDay]:
    query = select(QualityTrend.__table__).where(QualityTrend.day >= since, QualityTrend.day <= until)
    if channel:
        query = query.where(QualityTrend.channel == channel)
    with engine.connect() as conn:
        found = conn.execute(query).mappings().all()
    return [
        RuleDay(
            day=row["day"],
            channel=row["channel"],
            rule=row["rule"],
            suite=row["suite"],
            severity=row["severity"],
            evaluated=int(row["evaluated"]),
            unexpected=int(row["unexpected"]),
            source=DAILY,
        )
        for row in found
    ]


def _window(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, time.min, CITY_TIME).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, CITY_TIME).astimezone(UTC)
    return start, end


def _ingest(engine: Engine, channel: str | None, first: date, last: date) -> list[RuleDay]:
    """The pages' validations summed per rule, channel and city day of validation."""
    start, end = _window(first, last)
    query = select(
        QualityResult.channel,
        QualityResult.rule,
        QualityResult.suite,
        QualityResult.severity,
        QualityResult.evaluated,
        QualityResult.unexpected,
        QualityResult.validated_at,
    ).where(
        QualityResult.batch_id.is_not(None),
        QualityResult.validated_at >= start,
        QualityResult.validated_at < end,
    )
    if channel:
        query = query.where(QualityResult.channel == channel)
    sums: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    with engine.connect() as conn:
        for ch, rule, suite, severity, evaluated, unexpected, at in conn.execute(query):
            counts = sums[(city_day(at), ch, rule, suite, severity)]
            counts[0] += int(evaluated)
            counts[1] += int(unexpected)
    return [
        RuleDay(day, ch, rule, suite, severity, evaluated, unexpected, INGEST)
        for (day, ch, rule, suite, severity), (evaluated, unexpected) in sums.items()
    ]


def _validations(engine: Engine, channel: str | None, first: date, last: date) -> tuple[int, datetime | None]:
    start, end = _window(first, last)
    query = select(
        func.count(func.distinct(QualityResult.validation_id)), func.max(QualityResult.validated_at)
    )
    query = query.where(QualityResult.validated_at >= start, QualityResult.validated_at < end)
    trend_last = select(func.max(QualityTrend.validated_at)).where(
        QualityTrend.day >= first.isoformat(), QualityTrend.day <= last.isoformat()
    )
    if channel:
        query = query.where(QualityResult.channel == channel)
        trend_last = trend_last.where(QualityTrend.channel == channel)
    with engine.connect() as conn:
        count, results_last = conn.execute(query).one()
        daily_last = conn.scalar(trend_last)
    moments = [m for m in (results_last, daily_last) if m is not None]
    return int(count or 0), max(moments) if moments else None


def _quarantined(engine: Engine, channel: str | None, first: date, last: date) -> list[QuarantinedReason]:
    start, end = _window(first, last)
    query = select(Quarantine.channel, Quarantine.reasons, Quarantine.quarantined_at).where(
        Quarantine.quarantined_at >= start, Quarantine.quarantined_at < end
    )
    if channel:
        query = query.where(Quarantine.channel == channel)
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        for ch, reasons, at in conn.execute(query):
            for code in {str(r.get("code")) for r in reasons or []}:
                counts[(city_day(at), ch, code)] += 1
    return [QuarantinedReason(day, ch, code, n) for (day, ch, code), n in sorted(counts.items())]


def _channel_days(rules: list[RuleDay]) -> list[ChannelDay]:
    grouped: dict[tuple[str, str], list[RuleDay]] = defaultdict(list)
    for r in rules:
        grouped[(r.day, r.channel)].append(r)
    return [
        ChannelDay(
            day=day,
            channel=ch,
            rules_checked=len(group),
            rules_broken=tuple(sorted(r.rule for r in group if r.broken)),
            unexpected=sum(r.unexpected for r in group),
            evaluated=sum(r.evaluated for r in group),
            source=group[0].source,
        )
        for (day, ch), group in sorted(grouped.items())
    ]


def _top(rules: list[RuleDay]) -> list[FailingRule]:
    grouped: dict[tuple[str, str, str], list[RuleDay]] = defaultdict(list)
    for r in rules:
        grouped[(r.rule, r.suite, r.severity)].append(r)
    failing = [
        FailingRule(
            rule=rule,
            suite=suite,
            severity=severity,
            unexpected=sum(r.unexpected for r in group),
            evaluated=sum(r.evaluated for r in group),
            days_broken=len({r.day for r in group if r.broken}),
            channels=tuple(sorted({r.channel for r in group if r.broken})),
            last_broken=max(r.day for r in group if r.broken),
        )
        for (rule, suite, severity), group in grouped.items()
        if any(r.broken for r in group)
    ]
    failing.sort(key=lambda f: (-f.unexpected, f.pass_rate, f.rule))
    return failing

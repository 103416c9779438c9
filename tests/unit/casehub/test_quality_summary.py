"""The quality page's read side: per channel and day, which rules broke, how often, the top ones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert

from casehub.crypto import KeyRing
from casehub.pipeline import Pipeline
from casehub.quality_summary import summarize
from casehub.store.models import QualityResult, QualityTrend
from connectors.hotline import MAPPER
from tests.samples import work_order

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Wuhan


def _page(engine: Engine, channel: str, at: datetime, results: dict[str, tuple[int, int]]) -> None:
    """One ingest validation of a page: rule → (evaluated, unexpected)."""
    validation, batch = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        {
            "validation_id": validation,
            "suite": "case",
            "rule": rule,
            "severity": "warning" if rule.startswith("dq_") else "critical",
            "channel": channel,
            "batch_id": batch,
            "day": None,
            "evaluated": evaluated,
            "unexpected": unexpected,
            "success": unexpected == 0,
            "validated_at": at,
        }
        for rule, (evaluated, unexpected) in results.items()
    ]
    with engine.begin() as conn:
        conn.execute(insert(QualityResult), rows)


def _trend(engine: Engine, day: str, channel: str, results: dict[str, tuple[int, int]]) -> None:
    rows = [
        {
            "day": day,
            "channel": channel,
            "rule": rule,
            "suite": "case",
            "severity": "critical",
            "evaluated": evaluated,
            "unexpected": unexpected,
            "pass_rate": 1.0 - unexpected / evaluated if evaluated else 1.0,
            "validated_at": NOW,
        }
        for rule, (evaluated, unexpected) in results.items()
    ]
    with engine.begin() as conn:
        conn.execute(insert(QualityTrend), rows)


def test_an_empty_store_has_no_rules_and_a_quiet_window(sqlite_engine: Engine) -> None:
    summary = summarize(sqlite_engine, days=7, now=NOW)
    assert (summary.since, summary.until) == ("2026-11-14", "2026-11-20")
    assert summary.days[0] == "2026-11-14" and len(summary.days) == 7
    assert summary.rules == () and summary.top == () and summary.validations == 0
    assert summary.last_validated_at is None
    assert summary.as_dict()["series"] == {}


def test_ingest_validations_are_summed_per_rule_channel_and_city_day(sqlite_engine: Engine) -> None:
    # 23:30 UTC on the 18th is 07:30 on the 19th in Wuhan.
    _page(sqlite_engine, "hotline", datetime(2026, 11, 18, 23, 30, tzinfo=UTC), {"unknown_district": (50, 3)})
    _page(sqlite_engine, "hotline", datetime(2026, 11, 19, 2, 0, tzinfo=UTC), {"unknown_district": (50, 2)})
    _page(sqlite_engine, "message_board", NOW, {"unknown_district": (10, 0), "dq_no_contact": (10, 4)})
    summary = summarize(sqlite_engine, days=7, now=NOW)
    by = {(r.day, r.channel, r.rule): (r.evaluated, r.unexpected, r.source) for r in summary.rules}
    assert by[("2026-11-19", "hotline", "unknown_district")] == (100, 5, "ingest")
    assert by[("2026-11-20", "message_board", "dq_no_contact")] == (10, 4, "ingest")
    days = {(c.day, c.channel): c for c in summary.channel_days}
    assert days[("2026-11-19", "hotline")].rules_broken == ("unknown_district",)
    assert days[("2026-11-20", "message_board")].rules_broken == ("dq_no_contact",)
    assert days[("2026-11-20", "message_board")].rules_checked == 2
    assert summary.validations == 3
    assert summary.series() == {
        "hotline": [0, 0, 0, 0, 0, 5, 0],
        "message_board": [0, 0, 0, 0, 0, 0, 4],
    }
    [first, second] = summary.top
    assert (first.rule, first.unexpected, first.evaluated, first.channels) == (
        "unknown_district",
        5,
        110,
        ("hotline",),
    )
    assert (second.rule, second.days_broken, second.last_broken) == ("dq_no_contact", 1, "2026-11-20")
    assert round(second.pass_rate, 2) == 0.6


def test_a_day_quality_daily_validated_is_read_from_the_trend_not_the_pages(sqlite_engine: Engine) -> None:
    _page(sqlite_engine, "hotline", datetime(2026, 11, 19, 2, 0, tzinfo=UTC), {"invalid_phone": (40, 9)})
    _trend(sqlite_engine, "2026-11-19", "hotline", {"invalid_phone": (400, 12), "unknown_grid": (400, 0)})
    _page(sqlite_engine, "hotline", NOW, {"invalid_phone": (40, 1)})
    summary = summarize(sqlite_engine, days=2, now=NOW)
    assert [(r.day, r.rule, r.unexpected, r.source) for r in summary.rules] == [
        ("2026-11-19", "invalid_phone", 12, "daily"),
        ("2026-11-19", "unknown_grid", 0, "daily"),
        ("2026-11-20", "invalid_phone", 1, "ingest"),
    ]
    [top] = summary.top
    assert (top.rule, top.unexpected, top.evaluated, top.days_broken) == ("invalid_phone", 13, 440, 2)


def test_one_channel_and_an_earlier_window(sqlite_engine: Engine) -> None:
    _trend(sqlite_engine, "2026-11-10", "hotline", {"unknown_district": (100, 7)})
    _trend(sqlite_engine, "2026-11-10", "urban_mgmt", {"unknown_district": (100, 1)})
    _trend(sqlite_engine, "2026-11-19", "hotline", {"unknown_district": (100, 2)})
    summary = summarize(sqlite_engine, channel="hotline", days=3, until=date(2026, 11, 11), now=NOW)
    assert summary.channels == ("hotline",)
    assert [(r.day, r.unexpected) for r in summary.rules] == [("2026-11-10", 7)]
    assert summary.as_dict()["top_failing_rules"][0]["pass_rate"] == 0.93


def test_records_kept_out_at_ingest_are_counted_per_reason_channel_and_day(
    sqlite_engine: Engine, keyring: KeyRing
) -> None:
    pipeline = Pipeline(sqlite_engine, MAPPER, keyring, clock=lambda: NOW)
    pipeline.ingest(
        [
            work_order(),
            work_order(GDBH="WH20261120000002", SSQX="火星区"),
            work_order(GDBH="WH20261120000003", SSQX="火星区", LDHM="12345"),
        ]
    )
    summary = summarize(sqlite_engine, days=3, now=NOW)
    counted = {(q.day, q.channel, q.reason): q.records for q in summary.quarantined}
    assert counted == {
        ("2026-11-20", "hotline", "unknown_district"): 2,
        ("2026-11-20", "hotline", "invalid_phone"): 1,
    }
    assert summary.quarantined_by_reason() == [
        ("unknown_district", 2, ("hotline",)),
        ("invalid_phone", 1, ("hotline",)),
    ]
    assert "hotline" in summary.channels
    assert summarize(sqlite_engine, channel="message_board", days=3, now=NOW).quarantined == ()

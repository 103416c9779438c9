"""`quality_daily` on a day the store holds: results kept, the trend and the stats filled, Data
Docs built, no personal value anywhere in them, and a broken table rule failing the run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from casehub.crypto import KeyRing
from casehub.errors import DataQualityError
from casehub.normalize import SHANGHAI
from casehub.partners import partner
from casehub.pipeline import Pipeline
from casehub.quality import quality_context
from casehub.quality.daily import channel_figures, gate, validate_day
from casehub.quality.frames import case_frame
from casehub.stats import collect
from casehub.store.models import QualityResult, QualityTrend, RawRecord
from connectors.hotline import MAPPER
from tests.samples import work_order

DAY = datetime(2026, 11, 20, tzinfo=SHANGHAI).date()
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=SHANGHAI).astimezone(UTC)
MARKERS = ("13987654321", "420102198507153210", "甄测试", "解放大道1000号")


def _ingest(engine: Engine, keyring: KeyRing) -> None:
    orders = [
        work_order(
            GDBH=f"WH2026112000{i:04d}",
            LXDH="13987654321",
            SFZHM="420102198507153210",
            LDRXM="甄测试",
            GXSJ=f"2026-11-20 09:{i:02d}:00",
        )
        for i in range(12)
    ]
    for number in ("9998", "9999"):  # no such district: quarantined
        orders.append(work_order(GDBH=f"WH2026112000{number}", SSQX="新城区"))
    Pipeline(engine, MAPPER, keyring, clock=lambda: NOON).ingest(orders)


def _files_text(directory: Path) -> str:
    return "".join(
        path.read_text(encoding="utf-8", errors="ignore") for path in directory.rglob("*") if path.is_file()
    )


def test_a_day_is_validated_kept_trended_and_shown_without_personal_data(
    engine: Engine, keyring: KeyRing
) -> None:
    _ingest(engine, keyring)
    summary = validate_day(engine, keyring, DAY, channels=[partner("hotline")], clock=lambda: NOON).summary()

    assert summary["channels"]["hotline"]["raw"] == 14
    assert summary["channels"]["hotline"]["cases"] == 12
    # 2 in 14 quarantined is above a tenth; the mapper refused both under the district rule.
    assert summary["channels"]["hotline"]["failed"] == ["table_quarantine_rate", "unknown_district"]
    with engine.connect() as conn:
        trend = {row.rule: row for row in conn.execute(select(QualityTrend)).all()}
        kept = conn.execute(select(QualityResult).where(QualityResult.day == DAY.isoformat())).all()
        dump = " ".join(str(row) for row in conn.execute(text("select * from quality_results")).all())
    assert trend["unknown_category"].evaluated == 12 and trend["unknown_category"].pass_rate == 1.0
    assert (trend["unknown_district"].evaluated, trend["unknown_district"].unexpected) == (14, 2)
    assert trend["table_reconciled"].pass_rate == 1.0
    assert {r.suite for r in kept} == {"raw_hotline", "case", "case_history", "channel_day"}
    stats = collect(engine)["quality"]
    assert stats["last_day"] == "2026-11-20"
    assert stats["by_channel"]["hotline"]["failing"] == ["table_quarantine_rate", "unknown_district"]
    assert stats["rules"]["total"] == sum(stats["rules"]["by_severity"].values())

    docs, results = quality_context().docs_dir, quality_context().results_dir
    assert (docs / "index.html").is_file()
    rendered = _files_text(docs)
    assert "raw_hotline" in rendered and "channel_day" in rendered
    assert "hotline-2026-11-20" in (docs / "index.html").read_text(encoding="utf-8")
    for marker in MARKERS:
        assert marker not in rendered
        assert marker not in _files_text(results)
        assert marker not in dump


def test_a_personal_value_a_rule_quotes_is_masked_in_the_results_and_the_data_docs() -> None:
    case = {
        "case_id": "c-marker",
        "channel": "hotline",
        "title": "t",
        "content": "c",
        "nature": "consult",
        "category": "020001",
        "district_code": "420102",
        "grade": "A",
        "status": "registered",
        "reported_at": "2026-11-20T08:00:00+08:00",
        "received_at": "2026-11-20T08:00:00+08:00",
        "updated_at": "2026-11-20T08:00:00+08:00",
        "reporter": {"phone": "+861398765432199", "id_number": "420102198507153219"},
    }
    checked = quality_context().checkpoint(
        "case",
        case_frame([case]),
        {"future_tolerance_minutes": 10},
    )
    assert {r.rule.rule for r in checked.results if not r.success} == {"invalid_phone", "invalid_id_number"}
    stored = _files_text(quality_context().results_dir)
    rendered = _files_text(quality_context().docs_dir)
    for text_ in (stored, rendered):
        assert "1398765432199" not in text_ and "420102198507153219" not in text_
    assert "+86139******2199" in stored and "420102***********9" in stored


def test_a_broken_table_rule_fails_the_day_naming_rule_and_channel_after_recording_it(
    engine: Engine, keyring: KeyRing
) -> None:
    _ingest(engine, keyring)
    with engine.begin() as conn:
        first = conn.scalar(select(RawRecord.raw_id).limit(1))
        conn.execute(update(RawRecord).where(RawRecord.raw_id == first).values(outcome="pending"))
    with pytest.raises(DataQualityError, match="table_reconciled on hotline"):
        validate_day(
            engine, keyring, DAY, channels=[partner("hotline")], clock=lambda: NOON + timedelta(hours=1)
        )
    with engine.connect() as conn:
        assert conn.scalar(
            select(QualityTrend.pass_rate).where(QualityTrend.rule == "table_reconciled")
        ) == pytest.approx(0.0)


def test_after_a_run_a_channel_silent_past_its_freshness_limit_fails_naming_rule_and_channel(
    engine: Engine, keyring: KeyRing
) -> None:
    _ingest(engine, keyring)
    assert gate(engine, partner("hotline"), clock=lambda: NOON + timedelta(hours=1))["warnings"] == [
        "table_quarantine_rate"
    ]
    with pytest.raises(DataQualityError, match=r"hotline: table_fresh broke after this run"):
        gate(engine, partner("hotline"), clock=lambda: NOON + timedelta(hours=27))
    with engine.connect() as conn:
        kept = select(QualityResult.rule, QualityResult.success).where(QualityResult.day.is_(None))
        assert {("table_fresh", True), ("table_fresh", False)} <= set(conn.execute(kept).all())
    # A door its manifest lets be quiet for days (`silent_hours = 0`, as Open311's) never breaks it.
    quiet = dataclasses.replace(partner("hotline"), silent_hours=0)
    assert gate(engine, quiet, clock=lambda: NOON + timedelta(days=9))["channel"] == "hotline"
    longer = dataclasses.replace(partner("hotline"), silent_hours=48)
    gate(engine, longer, clock=lambda: NOON + timedelta(hours=47))
    with pytest.raises(DataQualityError, match=r"table_fresh broke"):
        gate(engine, longer, clock=lambda: NOON + timedelta(hours=49))
    assert partner("open311").silent_hours == 0


def test_a_record_the_mapper_refuses_under_a_rule_counts_in_that_rules_result(
    engine: Engine, keyring: KeyRing
) -> None:
    orders = [work_order(GDBH=f"WH2026112000{i:04d}", GXSJ=f"2026-11-20 09:{i:02d}:00") for i in range(3)]
    orders.append(work_order(GDBH="WH20261120009997", LXDH="1390000"))  # no phone number of any form
    page = Pipeline(engine, MAPPER, keyring, clock=lambda: NOON).ingest(orders)
    assert (page.accepted, page.quarantined) == (3, 1)
    query = select(QualityResult).where(QualityResult.batch_id == page.batch_id)
    with engine.connect() as conn:
        kept = {row.rule: row for row in conn.execute(query).all()}
    assert (kept["invalid_phone"].evaluated, kept["invalid_phone"].unexpected) == (4, 1)
    assert not kept["invalid_phone"].success
    assert kept["unknown_district"].success and kept["unknown_district"].unexpected == 0


def test_a_days_volume_is_judged_against_the_median_of_the_days_before(
    engine: Engine, keyring: KeyRing
) -> None:
    for back in range(1, 9):  # eight days of three work orders each before DAY
        noon = NOON - timedelta(days=back)
        orders = [work_order(GDBH=f"WH2026{back:02d}00{n:04d}") for n in range(3)]
        Pipeline(engine, MAPPER, keyring, clock=lambda noon=noon: noon).ingest(orders)
    Pipeline(engine, MAPPER, keyring, clock=lambda: NOON).ingest([work_order(GDBH="WH20261120000001")])
    start = datetime(2026, 11, 20, tzinfo=SHANGHAI).astimezone(UTC)
    with engine.connect() as conn:
        figures = channel_figures(
            conn, "hotline", start=start, end=start + timedelta(days=1), now=NOON, day=DAY
        )
    assert figures["raw"] == 1 and figures["volume_ratio"] == pytest.approx(1 / 3)

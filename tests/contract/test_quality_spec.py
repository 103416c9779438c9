"""The data-quality specification: a GX suite file that loads, is complete and sees no personal data."""

from __future__ import annotations

import json

from casehub.quality import COLUMNS, SUITE_PATH, quality_suite
from casehub.reference import load_reference

SPEC = json.loads(SUITE_PATH.read_text(encoding="utf-8"))


def _columns(kwargs: dict) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + kwargs.get(
        "column_list", []
    )


def test_every_expectation_has_a_severity_and_a_reason_code() -> None:
    for expectation in SPEC["expectations"]:
        assert expectation["severity"] in {"critical", "warning"}, expectation["type"]
        assert expectation["meta"]["reason"], expectation["type"]


def test_expectations_use_only_validated_columns_and_no_personal_data() -> None:
    allowed = {*COLUMNS, "has_contact"}
    assert not any(name.startswith("reporter") for name in COLUMNS)
    for expectation in SPEC["expectations"]:
        assert set(_columns(expectation["kwargs"])) <= allowed, expectation["type"]


def test_suite_loads_in_great_expectations_and_quarantines_by_row() -> None:
    rows = [
        {
            "case_id": f"c{i}",
            "channel": "hotline",
            "title": "路灯不亮",
            "content": "晚上路灯不亮",
            "category": "020001",
            "district_code": "420102",
            "grade": "A",
            "status": "registered",
            "lng": 114.3,
            "lat": 30.6,
            "reported_at": "2026-11-20T08:00:00+08:00",
            "received_at": "2026-11-21T08:00:00+08:00",
            "updated_at": "2026-11-20T09:00:00+08:00",
            "closed_at": None,
            "has_contact": True,
        }
        for i in range(4)
    ]
    rows[1]["district_code"] = "310101"
    rows[2]["lat"] = 39.9
    rows[3]["updated_at"] = "2026-11-19T09:00:00+08:00"
    report = quality_suite().validate(rows, load_reference())
    assert {i: [r.code for r in reasons] for i, reasons in report.failures.items()} == {
        1: ["dq_unknown_district"],
        2: ["outside_city"],
        3: ["dq_time_order"],
    }
    assert report.warnings == []

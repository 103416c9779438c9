"""The data-quality specification: the GX file context loads, every rule is one expectation with
its id, dimension, severity and action, docs/data-quality.md states the same rules, and no
expectation but the masking ones sees a personal value."""

from __future__ import annotations

import json
import re
import subprocess

from casehub.paths import EXPECTATIONS_DIR, ROOT
from casehub.quality import CRITICAL, PERSONAL_COLUMNS, WARNING, load_specs, quality_context
from casehub.quality.expectations import PERSONAL_EXPECTATIONS
from casehub.quality.frames import case_frame

DIMENSIONS = {
    "completeness",
    "validity",
    "consistency",
    "timeliness",
    "uniqueness",
    "geographic accuracy",
    "volume",
}
ROW = re.compile(
    r"^\| `([a-z0-9_]+)` \| ([a-z ]+) \| (critical|warning) \| ([a-z_]+) \| `([a-z_]+)` \|", re.M
)


def test_every_rule_has_an_id_a_dimension_a_severity_and_the_action_its_severity_drives() -> None:
    rules = [rule for spec in load_specs().values() for rule in spec.rules]
    assert len({r.rule for r in rules}) == len(rules), "a rule id names exactly one expectation"
    assert {r.dimension for r in rules} == DIMENSIONS
    for rule in rules:
        assert rule.severity in {CRITICAL, WARNING}, rule.rule
        assert rule.message and rule.note, rule.rule
        if rule.severity == WARNING:
            assert rule.action == "report", rule.rule
        elif rule.action == "quarantine":
            assert rule.row_wise and rule.suite == "case", rule.rule
        else:
            assert rule.action in {"fail_run", "stop_push"}, rule.rule


def test_the_document_states_exactly_the_rules_of_the_suites() -> None:
    stated = {
        m[0]: (m[1], m[2], m[3], m[4])
        for m in ROW.findall((ROOT / "docs" / "data-quality.md").read_text(encoding="utf-8"))
    }
    enforced = {
        r.rule: (r.dimension, r.severity, r.action, r.type)
        for spec in load_specs().values()
        for r in spec.rules
    }
    assert stated == enforced


def test_each_suite_has_its_validation_definition_and_checkpoint() -> None:
    for name in load_specs():
        definition = json.loads((EXPECTATIONS_DIR / "validation_definitions" / f"{name}.json").read_text())
        checkpoint = json.loads((EXPECTATIONS_DIR / "checkpoints" / f"{name}.json").read_text())
        assert definition["suite"]["name"] == name
        assert [v["name"] for v in checkpoint["validation_definitions"]] == [name]
        assert any(a["type"] == "update_data_docs" for a in checkpoint["actions"])
    assert {"case", "channel_day", "case_history", "feed_city_brain", "feed_health_commission"} <= set(
        load_specs()
    )
    assert {n for n in load_specs() if n.startswith("raw_")} == {
        "raw_hotline",
        "raw_message_board",
        "raw_urban_mgmt",
        "raw_neighborhood_app",
    }


def test_only_the_masking_expectations_see_a_personal_column() -> None:
    case_columns = set(case_frame([]).columns)
    for rule in load_specs()["case"].rules:
        assert set(rule.columns) <= case_columns, rule.rule
        if set(rule.columns) & set(PERSONAL_COLUMNS):
            assert rule.type in PERSONAL_EXPECTATIONS, rule.rule
    for spec in load_specs().values():
        for rule in spec.rules:
            if rule.type in PERSONAL_EXPECTATIONS:
                assert set(rule.columns) <= set(PERSONAL_COLUMNS), rule.rule


def test_the_context_loads_and_opening_it_writes_nothing_into_the_repository() -> None:
    context = quality_context()
    assert set(context.specs) == set(load_specs())
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", "expectations"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "uncommitted" not in changed and ".ge_store_backend_id" not in changed


def _case(i: int, **changes: object) -> dict[str, object]:
    case: dict[str, object] = {
        "case_id": f"c{i}",
        "channel": "hotline",
        "title": "路灯不亮",
        "content": "晚上路灯不亮",
        "nature": "complaint",
        "category": "020001",
        "district_code": "420102",
        "grade": "A",
        "status": "registered",
        "address": "江岸区某路",
        "lng": 114.3,
        "lat": 30.6,
        "reported_at": "2026-11-20T08:00:00+08:00",
        "received_at": "2026-11-21T08:00:00+08:00",
        "updated_at": "2026-11-20T09:00:00+08:00",
        "closed_at": None,
        "deadline_at": None,
        "time_limit_days": None,
        "reporter": {"phone": "+8613800138000", "id_number": None},
    }
    case.update(changes)
    return case


def test_the_case_suite_quarantines_by_row_with_the_rule_id_and_masks_what_it_quotes() -> None:
    cases = [
        _case(0),
        _case(1, district_code="310101"),
        _case(2, lat=39.9),
        _case(3, updated_at="2026-11-19T09:00:00+08:00"),
        _case(4, reporter={"phone": "+8613912345678x", "id_number": "420102198507153219"}),
    ]
    checked = quality_context().validate(
        "case",
        case_frame(cases),
        {"future_tolerance_minutes": 10},
    )
    assert {i: sorted(r.code for r in reasons) for i, reasons in checked.failures().items()} == {
        1: ["unknown_district", "unknown_grid"],
        2: ["outside_city_lat"],
        3: ["dq_updated_before_reported"],
        4: ["invalid_id_number", "invalid_phone"],
    }
    assert checked.warnings() == []

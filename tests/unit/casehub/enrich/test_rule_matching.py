"""Rule tables: the most specific rule wins, in each table's documented order, and a table that
would leave a case without a unit or a deadline is refused when loaded."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from casehub.enrich.rules import (
    DeadlineRule,
    GradingRule,
    RoutingRule,
    Rules,
    Unit,
    load_rules,
)
from casehub.errors import ConfigurationError
from casehub.reference import REFERENCE_DIR

UNITS = [
    Unit("city.dispatch", "武汉市民呼我应分拨中心", "city_department", None, None, "dispatch"),
    Unit("city.health", "武汉市卫生健康委员会", "city_department", None, None, "health"),
    Unit(
        "district.420102.dispatch",
        "江岸区民呼我应分拨中心",
        "district_department",
        "420102",
        None,
        "dispatch",
    ),
    Unit("district.420102.health", "江岸区卫生健康局", "district_department", "420102", None, "health"),
    Unit("district.420102.market", "江岸区市场监督管理局", "district_department", "420102", None, "market"),
    Unit("street.420102001", "大智街道办事处", "street_office", "420102", "420102001", "street_office"),
]
ROUTING = [
    RoutingRule("community", "*", "A", "*", "community"),
    RoutingRule("street_office", "*", "B", "*", "street_office"),
    RoutingRule("dispatch", "*", "*", "*", "dispatch"),
    RoutingRule("health", "08", "*", "*", "health"),
]
DEADLINES = [DeadlineRule("other", "*", "*", 5), DeadlineRule("consult", "consult", "*", 2)]


def rules(
    *,
    grading: list[GradingRule] | None = None,
    units: list[Unit] = UNITS,
    routing: list[RoutingRule] = ROUTING,
    deadlines: list[DeadlineRule] = DEADLINES,
) -> Rules:
    return Rules.of(grading=grading or [], units=units, routing=routing, deadlines=deadlines)


def test_grading_order_is_category_then_nature_then_scope_then_default() -> None:
    table = rules(
        grading=[
            GradingRule("any", "*", "*", "*", "*", "A"),
            GradingRule("by_default", "*", "*", "*", "B", "B"),
            GradingRule("by_scope", "*", "*", "city", "*", "D"),
            GradingRule("by_nature", "*", "report", "*", "*", "C"),
            GradingRule("by_major", "08", "*", "*", "*", "C"),
            GradingRule("by_minor", "080001", "*", "*", "*", "D"),
        ]
    )

    def winner(minor: str, nature: str, scope: str, default: str) -> str | None:
        found = table.grading_rule(minor, minor[:2], nature, scope, default)
        return found.rule_id if found else None

    assert winner("080001", "report", "city", "B") == "by_minor"
    assert winner("080002", "report", "city", "B") == "by_major"
    assert winner("060001", "report", "city", "B") == "by_nature"
    assert winner("060001", "help", "city", "B") == "by_scope"
    assert winner("060001", "help", "street", "B") == "by_default"
    assert winner("060001", "help", "street", "A") == "any"
    assert rules().grading_rule("060001", "06", "help", "street", "A") is None


def test_routing_order_is_grade_then_category_then_district() -> None:
    table = rules(
        routing=[
            *ROUTING,
            RoutingRule("market_in_jiang_an", "08", "C", "420102", "market"),
            RoutingRule("city_health_for_080001", "080001", "D", "*", "health"),
        ]
    )
    assert table.routing_rule("080002", "08", "C", "420102").rule_id == "market_in_jiang_an"
    assert table.routing_rule("080002", "08", "C", "420103").rule_id == "health"
    assert table.routing_rule("080001", "08", "D", "420102").rule_id == "city_health_for_080001"
    assert table.routing_rule("080001", "08", "A", "420102").rule_id == "community"
    assert table.routing_rule("060001", "06", "C", "420102").rule_id == "dispatch"


def test_deadline_order_is_nature_then_grade() -> None:
    table = rules(deadlines=[*DEADLINES, DeadlineRule("any_a", "*", "A", 1)])
    assert table.deadline_rule("consult", "A").rule_id == "consult"
    assert table.deadline_rule("help", "A").rule_id == "any_a"
    assert table.deadline_rule("help", "B").rule_id == "other"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"routing": ROUTING[1:]}, r"\*,A,\* to community"),
        ({"routing": [r for r in ROUTING if r.rule_id != "dispatch"]}, r"catch-all rule \*,\*,\*"),
        (
            {"routing": [*ROUTING, RoutingRule("x", "06", "*", "*", "education")]},
            "no city unit for education",
        ),
        ({"routing": [*ROUTING, RoutingRule("x", "06", "C", "*", "community")]}, "goes to a department"),
        ({"routing": [*ROUTING, RoutingRule("x", "06", "A", "*", "market")]}, "goes to the community"),
        ({"routing": [*ROUTING, RoutingRule("x", "08", "*", "*", "market")]}, "duplicate key"),
        ({"routing": [*ROUTING, RoutingRule("health", "06", "*", "*", "market")]}, "duplicate rule id"),
        ({"deadlines": DEADLINES[1:]}, r"catch-all rule \*,\*"),
        ({"deadlines": [*DEADLINES, DeadlineRule("long", "help", "*", 400)]}, "1 to 365"),
        ({"units": UNITS[1:]}, "city's dispatch unit"),
        (
            {"units": [u for u in UNITS if u.code != "district.420102.health"]},
            "no health unit in district 420102",
        ),
        ({"units": [*UNITS, dataclasses.replace(UNITS[5], code="street.x")]}, "region with two units"),
        ({"units": [*UNITS, dataclasses.replace(UNITS[1], code="x", kind="ministry")]}, "kind"),
        ({"grading": [GradingRule("x", "8", "*", "*", "*", "A")]}, "2-digit major"),
        ({"grading": [GradingRule("x", "*", "*", "province", "*", "A")]}, "scope"),
        ({"grading": [GradingRule("Bad Id", "*", "*", "*", "*", "A")]}, "lower_case"),
    ],
)
def test_broken_tables_are_refused(change: dict[str, list[object]], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        rules(**change)  # type: ignore[arg-type]


def test_a_table_with_wrong_columns_is_refused(tmp_path: Path) -> None:
    for name in ("grading.csv", "units.csv", "routing.csv", "deadlines.csv"):
        shutil.copy(REFERENCE_DIR / name, tmp_path / name)
    (tmp_path / "deadlines.csv").write_text("rule_id,nature,days\nother,*,5\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="columns must be rule_id,nature,grade,working_days"):
        load_rules(tmp_path)


def test_loading_is_cached() -> None:
    assert load_rules(REFERENCE_DIR) is load_rules(REFERENCE_DIR)

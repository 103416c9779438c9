"""Contract tests for the enrichment rule tables in ``schemas/reference/``.

`grading.csv`, `units.csv`, `routing.csv` and `deadlines.csv` decide where every case goes and
when it is due. A rule naming a category the taxonomy lacks never fires, a unit for a street
that does not exist receives nothing, and a district missing a department would strand its
cases, all silently; so each table is read here as data, independently of the code that uses
it, and checked against the taxonomy and the regions.
"""

from __future__ import annotations

import csv
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from casehub.enrich.classify import CATCH_ALL
from casehub.enrich.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "schemas" / "reference"

HEADERS = {
    "grading.csv": ("rule_id", "category", "nature", "scope", "default_grade", "grade"),
    "units.csv": ("unit_code", "name", "kind", "district_code", "region_code", "department"),
    "routing.csv": ("rule_id", "category", "grade", "district_code", "department"),
    "deadlines.csv": ("rule_id", "nature", "grade", "working_days"),
}
OPTIONAL = {"units.csv": ("district_code", "region_code")}
KEYS = {
    "grading.csv": ("category", "nature", "scope", "default_grade"),
    "routing.csv": ("category", "grade", "district_code"),
    "deadlines.csv": ("nature", "grade"),
}
GRADES = {"A", "B", "C", "D"}
NATURES = {"consult", "help", "complaint", "report", "suggestion", "praise"}
SCOPES = {"community", "street", "district", "city"}
UNIT_KINDS = {"community", "street_office", "district_department", "urban_management", "city_department"}
TERRITORIAL_KINDS = {"community": "community", "street_office": "street"}


@cache
def read(name: str) -> tuple[tuple[str, ...], tuple[dict[str, str], ...]]:
    """Header and rows; the bytes must be UTF-8 without BOM, with Unix newlines."""
    raw = (REFERENCE / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} starts with a BOM"
    assert b"\r" not in raw, f"{name} has CR line endings"
    raw.decode("utf-8")
    with (REFERENCE / name).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = tuple(reader)
        return tuple(reader.fieldnames or ()), rows


def rows(name: str) -> tuple[dict[str, str], ...]:
    return read(name)[1]


def duplicates(values: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(values).items() if count > 1)


@cache
def taxonomy() -> dict[str, dict[str, str]]:
    return {row["minor_code"]: row for row in rows("taxonomy.csv")}


@cache
def regions() -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in rows("regions.csv")}


def districts() -> set[str]:
    return {code for code, row in regions().items() if row["level"] == "district"}


def category_exists(code: str) -> bool:
    majors = {row["major_code"] for row in taxonomy().values()}
    return code == "*" or code in taxonomy() or code in majors


# --- every table ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_table_has_its_documented_columns_and_rows(name: str) -> None:
    header, table = read(name)
    assert header == HEADERS[name]
    assert table, f"{name} is empty"
    for row in table:
        for column, value in row.items():
            assert value == value.strip(), row
            assert value or column in OPTIONAL.get(name, ()), row


@pytest.mark.parametrize("name", ["grading.csv", "routing.csv", "deadlines.csv"])
def test_rule_ids_unique(name: str) -> None:
    assert not duplicates([row["rule_id"] for row in rows(name)])


@pytest.mark.parametrize("name", sorted(KEYS))
def test_keys_unique(name: str) -> None:
    """Two rules with the same key would leave the winner to file order: one rule per key."""
    assert not duplicates([",".join(row[column] for column in KEYS[name]) for row in rows(name)])


def test_the_code_accepts_every_table() -> None:
    rules = load_rules(REFERENCE)
    assert len(rules.units) == len(rows("units.csv"))


# --- grading ----------------------------------------------------------------------------------


def test_grading_names_existing_codes() -> None:
    for row in rows("grading.csv"):
        assert category_exists(row["category"]), row
        assert row["nature"] in NATURES | {"*"}, row
        assert row["scope"] in SCOPES | {"*"}, row
        assert row["default_grade"] in GRADES | {"*"}, row
        assert row["grade"] in GRADES, row


def test_catch_all_category_is_a_general_minor_of_major_19() -> None:
    row = taxonomy()[CATCH_ALL]
    assert (row["major_code"], row["major_name"], row["minor_name"]) == ("19", "其他", "其他诉求")


# --- units ------------------------------------------------------------------------------------


def test_units_kinds_and_codes() -> None:
    units = rows("units.csv")
    assert not duplicates([row["unit_code"] for row in units])
    for row in units:
        assert row["kind"] in UNIT_KINDS, row
        assert len(row["unit_code"]) <= 200, row
        assert row["name"], row
        if row["kind"] == "city_department":
            assert row["district_code"] == row["region_code"] == "", row
        else:
            assert row["district_code"] in districts(), row


def test_territorial_units_stand_for_their_region() -> None:
    for row in rows("units.csv"):
        level = TERRITORIAL_KINDS.get(row["kind"])
        if level is None:
            assert row["region_code"] == "", row
            continue
        region = regions().get(row["region_code"])
        assert region is not None and region["level"] == level, row
        assert row["region_code"].startswith(row["district_code"]), row
        assert row["name"].startswith(region["name"]), row


def test_every_street_and_community_has_one_unit() -> None:
    served = Counter(row["region_code"] for row in rows("units.csv") if row["region_code"])
    for code, region in regions().items():
        if region["level"] in ("street", "community"):
            assert served[code] == 1, f"{code} {region['name']}"


def test_every_district_has_the_same_departments() -> None:
    departments: dict[str, set[str]] = {code: set() for code in districts()}
    for row in rows("units.csv"):
        if row["kind"] in ("district_department", "urban_management"):
            departments[row["district_code"]].add(row["department"])
    first = departments["420102"]
    assert "dispatch" in first
    assert all(found == first for found in departments.values())
    urban = [
        row for row in rows("units.csv") if row["department"] == "urban_management" and row["district_code"]
    ]
    assert {row["kind"] for row in urban} == {"urban_management"}
    assert len(urban) == 13


# --- routing ----------------------------------------------------------------------------------


def test_routing_names_existing_codes_and_departments() -> None:
    city = {row["department"] for row in rows("units.csv") if row["kind"] == "city_department"}
    district = {
        row["department"]
        for row in rows("units.csv")
        if row["kind"] in ("district_department", "urban_management")
    }
    for row in rows("routing.csv"):
        assert category_exists(row["category"]), row
        assert row["grade"] in GRADES | {"*"}, row
        assert row["district_code"] in districts() | {"*"}, row
        if row["grade"] == "A":
            assert row["department"] == "community", row
        elif row["grade"] == "B":
            assert row["department"] == "street_office", row
        else:
            assert row["department"] in city & district, row


def test_routing_has_a_rule_for_every_major() -> None:
    majors = {row["major_code"] for row in taxonomy().values()} - {"19"}
    routed = {row["category"] for row in rows("routing.csv") if len(row["category"]) == 2}
    assert routed == majors


def test_owning_departments_of_the_brief() -> None:
    """城市管理 goes to the urban management bureaus, 生态环境 to the ecology branches, 卫生健康
    to the health commission at city level."""
    owner = {row["category"]: row["department"] for row in rows("routing.csv") if row["grade"] == "*"}
    names = {row["unit_code"]: row["name"] for row in rows("units.csv")}
    assert owner["02"] == "urban_management"
    assert names["district.420106.ecology"] == "武汉市生态环境局武昌区分局"
    assert names[f"city.{owner['02']}"] == "武汉市城市管理执法委员会"
    assert names[f"city.{owner['08']}"] == "武汉市卫生健康委员会"


# --- deadlines --------------------------------------------------------------------------------


def test_deadlines_cover_every_nature_and_grade() -> None:
    table = {(row["nature"], row["grade"]): row for row in rows("deadlines.csv")}
    for row in table.values():
        assert row["nature"] in NATURES | {"*"}, row
        assert row["grade"] in GRADES | {"*"}, row
        assert row["working_days"].isdigit() and 1 <= int(row["working_days"]) <= 365, row
    for nature in NATURES:
        assert any((nature, grade) in table for grade in (*GRADES, "*")), nature
    assert ("*", "*") in table


def test_consultations_are_quickest_and_suggestions_slowest() -> None:
    rules = load_rules(REFERENCE)
    for grade in GRADES:
        days = {nature: rules.deadline_rule(nature, grade).working_days for nature in NATURES}
        assert days["consult"] == min(days.values()), grade
        assert days["suggestion"] == max(days.values()), grade

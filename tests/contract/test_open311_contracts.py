"""The Open311 door's contract files (`schemas/open311/`): every unified status is told as Open311
and mySociety tell it, every attribute belongs to a category of the taxonomy, the services are the
taxonomy's minors, the category crosswalk is the taxonomy's identity, and every JSON Schema is a
valid draft 2020-12 schema that allows nothing beyond its fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jsonschema
import pytest

from casehub.open311.contracts import DATATYPES, public_status, services, statuses
from casehub.reference import load_reference

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "schemas" / "open311"
CASE = json.loads((ROOT / "schemas" / "case.schema.json").read_text("utf-8"))
MYSOCIETY = {
    "open", "investigating", "action_scheduled", "in_progress", "fixed", "closed",
    "internal_referral", "no_further_action", "duplicate", "not_councils_responsibility",
}


def test_every_unified_status_has_one_row_open_or_closed_and_a_mysociety_status() -> None:
    table = statuses()
    assert set(table) == {*CASE["properties"]["status"]["enum"], "duplicate"}
    assert {row.status for row in table.values()} == {"open", "closed"}
    assert {row.extended for row in table.values()} <= MYSOCIETY
    assert public_status("completed", None).status == "closed"
    assert public_status("processing", "a-parent").extended == "duplicate"
    assert public_status("completed", "a-parent").extended == "fixed", "a closed duplicate tells its own end"


def test_the_services_are_the_taxonomy_and_their_attributes_are_well_formed() -> None:
    reference = load_reference()
    found = services()
    assert [s.service_code for s in found] == list(reference.categories)
    assert {s.group for s in found} == {c.major_name for c in reference.categories.values()}
    asked = [s for s in found if s.metadata]
    assert asked and all(s.attributes for s in asked)
    for each in asked:
        for attribute in each.attributes:
            assert attribute.datatype in DATATYPES
            assert bool(attribute.values) == attribute.datatype.endswith("valuelist")
    health = [s for s in found if s.group == "卫生健康"]
    assert all(any(a.code == "epidemic" and a.required for a in s.attributes) for s in health)


def test_the_category_crosswalk_is_the_taxonomy_itself() -> None:
    with (ROOT / "schemas" / "reference" / "crosswalk" / "open311_category.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    categories = load_reference().categories
    assert [(r["source_code"], r["category_code"]) for r in rows] == [(c, c) for c in categories]
    assert all(r["source_name"] == categories[r["source_code"]].name for r in rows)


@pytest.mark.parametrize("path", sorted(CONTRACTS.glob("*.schema.json")), ids=lambda p: p.name)
def test_each_schema_is_valid_versioned_and_closed(path: Path) -> None:
    schema = json.loads(path.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("/" + schema["x-version"])

    def closed(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, path.name
                assert set(node.get("required", [])) == set(node["properties"]), path.name
            for value in node.values():
                closed(value)
        elif isinstance(node, list):
            for value in node:
                closed(value)

    closed(schema)

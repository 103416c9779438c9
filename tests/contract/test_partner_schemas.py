"""The partners' request contracts (`schemas/partners/`): valid JSON Schemas, versioned, closed,
every field labelled — the files the event renderers are tested against and the simulators
check requests with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

PARTNER_SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas" / "partners").glob("*.json"))


def objects(schema: dict[str, Any], where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with its properties, however deep."""
    if "properties" in schema:
        yield where or "/", schema
        for name, child in schema["properties"].items():
            yield from objects(child, f"{where}/{name}")


def test_both_rest_partners_have_their_contract() -> None:
    assert [path.name for path in PARTNER_SCHEMAS] == [
        "message_board_reply.json",
        "neighborhood_app_callback.json",
    ]


@pytest.mark.parametrize("path", PARTNER_SCHEMAS, ids=lambda path: path.stem)
def test_a_contract_is_a_versioned_closed_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{path.stem}/{schema['x-version']}")
    assert f"Version {schema['x-version']}." in schema["description"]
    for where, shape in objects(schema):
        assert shape["additionalProperties"] is False, where
        assert set(shape["required"]) == set(shape["properties"]), where
        for name, field in shape["properties"].items():
            assert "title" in field or name == "data", f"{where}/{name}"

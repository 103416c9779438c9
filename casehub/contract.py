"""The per-record contract: `schemas/case.schema.json` (JSON Schema draft 2020-12).

Every unified case is checked on the fast path by a compiled validator (fastjsonschema, about
ten times the speed of a pure-Python one). Only a record that fails is run through `jsonschema`
to collect every error with its precise path. Error messages name the path and the rule, never
the value: the value may be a phone number.

The two validators must agree on every keyword. fastjsonschema reads `$ref` the draft-04 way,
ignoring the keywords beside it (`{"$ref": "#/$defs/nullable_text", "maxLength": 500}` would
check no length), so the fast path compiles a copy of the schema in which each such `$ref`
is moved into an `allOf` — the same meaning in draft 2020-12, which both validators honour.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator, ValidationError

from casehub.errors import Reason
from casehub.paths import SCHEMAS_DIR

SCHEMA_PATH = SCHEMAS_DIR / "case.schema.json"


@cache
def case_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path) if path else "/"


def _message(error: ValidationError) -> str:
    rule = str(error.validator)
    messages = {
        "pattern": "does not match the expected format",
        "enum": "is not one of the allowed values",
        "const": "is not the allowed value",
        "format": f"is not a valid {error.validator_value}",
        "minLength": "is empty or too short",
        "maxLength": "is too long",
        "minimum": "is below the allowed range",
        "maximum": "is above the allowed range",
        "anyOf": "matches none of the allowed forms",
        "oneOf": "matches none or several of the allowed forms",
    }
    if rule == "type":
        return f"must be of type {error.validator_value}"
    return messages.get(rule, f"breaks the '{rule}' rule")


def _reasons(error: ValidationError) -> list[Reason]:
    rule = str(error.validator)
    where = _pointer(error.absolute_path)
    if rule == "required" and isinstance(error.instance, Mapping):
        base = where.rstrip("/")
        return [
            Reason(code="schema_required", field=f"{base}/{name}", message="is required")
            for name in error.validator_value
            if name not in error.instance
        ]
    if rule == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(error.schema.get("properties", {}))
        base = where.rstrip("/")
        return [
            Reason(
                code="schema_additionalProperties",
                field=f"{base}/{name}",
                message="is not a property of the case",
            )
            for name in error.instance
            if name not in allowed
        ]
    return [Reason(code=f"schema_{rule}", field=where, message=_message(error))]


_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default"})


def without_ref_siblings(schema: Any) -> Any:
    """The schema with every `$ref` that has sibling keywords wrapped in an `allOf`."""
    if isinstance(schema, list):
        return [without_ref_siblings(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    rewritten = {key: without_ref_siblings(value) for key, value in schema.items()}
    if "$ref" in rewritten and set(rewritten) - _ANNOTATIONS - {"$ref"}:
        reference = rewritten.pop("$ref")
        rewritten["allOf"] = [{"$ref": reference}, *rewritten.get("allOf", [])]
    return rewritten


class CaseContract:
    def __init__(self, schema: Mapping[str, Any] | None = None) -> None:
        schema = dict(schema or case_schema())
        self._fast: Callable[[Any], Any] = fastjsonschema.compile(without_ref_siblings(schema))
        self._full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def problems(self, case: Mapping[str, Any]) -> list[Reason]:
        """Every way `case` breaks the contract; empty when it conforms."""
        try:
            self._fast(case)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            return []
        reasons: list[Reason] = []
        for error in sorted(self._full.iter_errors(case), key=lambda e: list(map(str, e.absolute_path))):
            reasons.extend(_reasons(error))
        # The fast validator and the full one can disagree on formats; trust the full one.
        return reasons


@cache
def case_contract() -> CaseContract:
    return CaseContract()

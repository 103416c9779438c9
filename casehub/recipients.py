"""The recipients' allow-lists (`schemas/recipients/<recipient>.json`), read as contracts.

Each file is a JSON Schema (draft 2020-12, `additionalProperties: false`) of one record the
recipient receives, and carries under `x-recipient`:

- `fields`: the allow-list, exactly the schema's properties, every one required;
- `personal`: the reporter fields (`name`, `phone`, `id_number`) the push job may open for the
  renderer — only these are ever decrypted for the recipient, the others never leave the store;
- `purpose`: why the recipient receives the data, written into every provision-log entry;
- `selection`: which cases it receives — `{"all": true}`, or the cases flagged
  `health_related` and those whose title or content holds one of the `keywords` (a CSV beside
  the schema);
- `free_text`: for each free-text field it receives (title, content, result), the form:
  `clear` as the resident wrote it, or `masked` — every phone and ID number in it masked
  (`casehub.masking.mask_free_text`);
- `address`: when it receives the `address`, its `precision`: `exact` as given, or `street`,
  cut to its road and street with no house number (`casehub.masking.street_level`).

Checking a record names the field and the rule it breaks, never the value; a record whose
masked text still shows a number whole, or whose street-level address points at a door,
breaks its contract as a schema violation would.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from casehub.errors import ConfigurationError
from casehub.masking import mask_free_text, street_level
from casehub.paths import SCHEMAS_DIR

RECIPIENTS_DIR = SCHEMAS_DIR / "recipients"
PERSONAL_FIELDS = ("name", "phone", "id_number")
FREE_TEXT_FIELDS = ("title", "content", "result")
"""The case's free text: what residents and handlers write, and so where their numbers are."""
TEXT_FORMS = ("clear", "masked")
PRECISIONS = ("exact", "street")


@dataclass(frozen=True)
class Recipient:
    """One recipient's contract: who, why, which fields, which cases, and the record's schema."""

    code: str
    purpose: str
    fields: tuple[str, ...]
    personal: tuple[str, ...]
    everything: bool
    health_related: bool
    keywords: tuple[str, ...]
    schema: Mapping[str, Any] = field(repr=False)
    free_text: Mapping[str, str] = field(default_factory=dict)
    address_precision: str | None = None

    def text(self, name: str, value: str | None) -> str | None:
        """The free-text field `name` in the form the recipient receives it."""
        if value is None or self.free_text[name] == "clear":
            return value
        return mask_free_text(value)

    def address(self, value: str | None) -> str | None:
        """The case's address at the precision the recipient receives it."""
        if value is None or self.address_precision == "exact":
            return value
        return street_level(value)

    def problems(self, record: Mapping[str, Any]) -> list[str]:
        """`/field: rule` for every way `record` breaks the schema or the forms of `x-recipient`;
        empty when it conforms."""
        found = _validator(self.code).iter_errors(record)
        broken = [
            "/" + "/".join(str(part) for part in error.absolute_path) + f": {error.validator}"
            for error in found
        ]
        for name, form in self.free_text.items():
            value = record.get(name)
            if form == "masked" and isinstance(value, str) and mask_free_text(value) != value:
                broken.append(f"/{name}: x-recipient.free_text")
        address = record.get("address")
        if (
            self.address_precision == "street"
            and isinstance(address, str)
            and street_level(address) != address
        ):
            broken.append("/address: x-recipient.address")
        return sorted(broken)


@cache
def _validator(code: str) -> Draft202012Validator:
    schema = load_recipient(code).schema
    return Draft202012Validator(schema, format_checker=FormatChecker())


def keywords(name: str) -> tuple[str, ...]:
    """The `keyword` column of a keyword list in `schemas/recipients/`."""
    path = RECIPIENTS_DIR / name
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            words = tuple(row["keyword"].strip() for row in csv.DictReader(handle))
    except (FileNotFoundError, KeyError):
        raise ConfigurationError(f"recipients: keyword list {name} is missing or has no keyword") from None
    if not all(words):
        raise ConfigurationError(f"recipients: keyword list {name} has an empty keyword")
    return words


@cache
def load_recipient(code: str) -> Recipient:
    """The contract of `code`; a file that is not a closed allow-list is a configuration error."""
    path = RECIPIENTS_DIR / f"{code}.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"recipient {code!r} has no allow-list ({path.name} is missing)") from None
    meta = schema.get("x-recipient") or {}
    fields = tuple(meta.get("fields") or ())
    properties = tuple(schema.get("properties") or ())
    if meta.get("code") != code:
        raise ConfigurationError(f"{path.name}: x-recipient.code is not {code!r}")
    if schema.get("additionalProperties") is not False:
        raise ConfigurationError(f"{path.name}: a record must allow no other properties")
    if set(fields) != set(properties) or set(schema.get("required") or ()) != set(fields):
        raise ConfigurationError(f"{path.name}: the allow-list, properties and required fields differ")
    personal = tuple(meta.get("personal") or ())
    if not set(personal) <= set(PERSONAL_FIELDS):
        raise ConfigurationError(f"{path.name}: personal may name only {', '.join(PERSONAL_FIELDS)}")
    free_text = dict(meta.get("free_text") or {})
    if set(free_text) != set(fields) & set(FREE_TEXT_FIELDS) or not set(free_text.values()) <= set(
        TEXT_FORMS
    ):
        raise ConfigurationError(
            f"{path.name}: free_text must give each free-text field it lists the form "
            f"{' or '.join(TEXT_FORMS)}"
        )
    precision = (meta.get("address") or {}).get("precision")
    if ("address" in fields) != (precision is not None) or precision not in (None, *PRECISIONS):
        raise ConfigurationError(
            f"{path.name}: an address in the allow-list needs address.precision, {' or '.join(PRECISIONS)}"
        )
    Draft202012Validator.check_schema(schema)
    selection = meta.get("selection") or {}
    words = keywords(selection["keywords"]) if selection.get("keywords") else ()
    return Recipient(
        code=code,
        purpose=str(meta.get("purpose") or ""),
        fields=fields,
        personal=personal,
        everything=selection.get("all") is True,
        health_related=selection.get("health_related") is True,
        keywords=words,
        schema=schema,
        free_text=free_text,
        address_precision=precision,
    )

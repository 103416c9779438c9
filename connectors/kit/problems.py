"""How a mapper collects every defect of one raw record, so the quarantine shows all of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from casehub.errors import InvalidRecord, Reason
from casehub.normalize import text
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference

T = TypeVar("T")

MAX_ID_LENGTH = 64
"""The longest source id the unified case holds (`source_id` in schemas/case.schema.json)."""


class Problems:
    """Every defect of one raw record, so the quarantine shows all of them, not just the first.

    A mapper reads each field through these helpers, which note a `Reason` and return None
    instead of raising; `check()` raises once at the end. Messages name the partner's field
    and what is wrong with it, never its value.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.reasons: list[Reason] = []

    def add(self, code: str, field: str, message: str) -> None:
        self.reasons.append(Reason(code=str(code), field=field, message=message))

    def check(self) -> None:
        """Raise `InvalidRecord` with every reason noted so far, if there is any."""
        if self.reasons:
            raise InvalidRecord(list(self.reasons))

    def optional(self, field: str, value: object) -> str | None:
        """The field's text, None for the partners' empty-string null."""
        try:
            return text(value)
        except ValueError as error:
            self.add(Code.INVALID_VALUE, field, f"{field}: {error}")
            return None

    def required(self, field: str, value: object, code: str = Code.MISSING_FIELD) -> str | None:
        """The field's text; an empty or absent value is noted as `code`."""
        found = self.optional(field, value)
        if found is None:
            self.add(code, field, f"{field} is empty or missing")
        return found

    def identifier(self, field: str, value: object) -> str | None:
        """The record's id: text of at most `MAX_ID_LENGTH` characters with no white space.

        An id is how every later version finds its case, so one that cannot be stored whole
        (or that differs only by spacing from another) is a defect of the record.
        """
        found = self.optional(field, value)
        if found is None:
            if not any(r.field == field for r in self.reasons):
                self.add(Code.MISSING_ID, field, f"{field} is empty or missing")
            return None
        if len(found) > MAX_ID_LENGTH or any(ch.isspace() for ch in found):
            self.add(Code.INVALID_ID, field, f"{field}: over {MAX_ID_LENGTH} characters or holds spaces")
            return None
        return found

    def parse(self, code: str, field: str, parse: Callable[[str], T], value: str | None) -> T | None:
        """`parse(value)`, noting `code` when it raises ValueError; None passes through.

        The normalizers' messages never contain the value, so they are safe to keep.
        """
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            self.add(code, field, f"{field}: {error}")
            return None

    def time(
        self, raw: Mapping[str, Any], field: str, parse: Callable[[str], datetime], *, required: bool = True
    ) -> datetime | None:
        """The field's time as the partner's `parse` reads it: empty is `missing_field` when
        required (None otherwise), unreadable is `invalid_time`."""
        value = self.required(field, raw.get(field)) if required else self.optional(field, raw.get(field))
        return self.parse(Code.INVALID_TIME, field, parse, value)

    def crosswalk(self, reference: Reference, kind: str, field: str, value: str | None) -> str | None:
        """The unified value for the channel's code from its `kind` crosswalk.

        An empty field is `missing_field`; a code the crosswalk does not know is
        `unknown_<kind>`, which usually means the partner published a new code.
        """
        if value is None:
            self.add(Code.MISSING_FIELD, field, f"{field} is empty or missing")
            return None
        found = reference.crosswalk(self.channel, kind).get(value)
        if found is None:
            self.add(f"unknown_{kind}", field, f"{field}: not in the {self.channel} {kind} crosswalk")
        return found

    def choice(self, field: str, value: str | None, choices: Mapping[str, str]) -> str | None:
        """The unified value of a closed list fixed by the partner's contract (urgency, satisfaction)."""
        if value is None:
            return None
        found = choices.get(value)
        if found is None:
            self.add(Code.INVALID_VALUE, field, f"{field}: not one of the values in the contract")
        return found


def source_key(
    channel: str, raw: Mapping[str, Any], id_field: str, updated_field: str, parse: Callable[[str], datetime]
) -> SourceKey:
    """Which record `raw` is a version of, and how new: the one way a partner's records are read
    for it, by the pipeline and the paginator alike. Any defect of either field is an
    `InvalidRecord` naming the field, never another exception."""
    problems = Problems(channel)
    source_id = problems.identifier(id_field, raw.get(id_field))
    updated_at = problems.time(raw, updated_field, parse)
    if source_id is None or updated_at is None:
        raise InvalidRecord(problems.reasons)
    return SourceKey(source_id=source_id, updated_at=updated_at)

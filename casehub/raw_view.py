"""A landed raw record as a person may see it: every personal value masked.

The raw payload is kept sealed (`raw_records.payload`, bound to its row); `casehub quarantine
show` opens it so a quality officer can see what the partner sent. Each connector's mapper
names its partner's personal fields by kind (`personal_fields`: name, phone, id_number,
address); those are masked with `casehub.masking`'s rules. Free text (a title, a description, a
handling note) can hold personal data too, so in every other value the record's own personal
values, every phone number and resident ID (`casehub.masking.mask_free_text`) and every house
number are masked as well. A mapper that names no personal fields has every value masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from casehub.masking import mask_free_text, mask_id_number, mask_name, mask_phone
from casehub.normalize import phone, resident_id

HIDDEN = "****"

_HOUSE_NUMBER = re.compile(r"\d+(?=号|栋|幢|单元|室|楼|层|弄)")
_ADMINISTRATIVE = re.compile(r"^(?:\D*?(?:省|市|区|县|街道|镇|乡))+")
"""The leading districts, streets and towns of an address: what stays readable of it."""


def mask_address(value: str) -> str:
    """江汉区民族街道友谊路58号门前 → 江汉区民族街道****: the administrative part only."""
    found = _ADMINISTRATIVE.match(value)
    kept = found.group() if found and _HOUSE_NUMBER.search(found.group()) is None else value[:2]
    return kept + HIDDEN


def _shape(value: str) -> str:
    """A value that is not what it should be, its letters and digits hidden: its form shows."""
    return "".join("*" if ch.isalnum() else ch for ch in value)


def _mask_phone(value: str) -> str:
    try:
        return mask_phone(phone(value)) or ""
    except ValueError:
        return _shape(value)


def _mask_id(value: str) -> str:
    try:
        return mask_id_number(resident_id(value)) or ""
    except ValueError:
        return _shape(value)


def _mask_name(value: str) -> str:
    return mask_name(value.strip()) or ""


_MASKS: dict[str, Callable[[str], str]] = {
    "name": _mask_name,
    "phone": _mask_phone,
    "id_number": _mask_id,
    "address": mask_address,
}


def _scrub(text: str, own: Mapping[str, str]) -> str:
    """Free text with the record's own personal values and anything shaped like one masked."""
    for value in sorted(own, key=len, reverse=True):
        text = text.replace(value, own[value])
    return _HOUSE_NUMBER.sub("*", mask_free_text(text))


def _own_values(raw: Mapping[str, Any], personal: Mapping[str, str]) -> dict[str, str]:
    """Each personal value of the record, in the forms it may recur in free text → its mask."""
    own: dict[str, str] = {}
    for field, kind in personal.items():
        value = raw.get(field)
        if not isinstance(value, str) or len(value.strip()) < 2:
            continue
        value = value.strip()
        masked = _MASKS[kind](value)
        if kind in ("phone", "id_number"):
            digits = "".join(ch for ch in value if ch.isdigit())
            if len(digits) < 7:
                continue  # too short to be anyone's number, and found inside other numbers
            own.update({value: masked, digits: masked})
            if digits.startswith("86") and len(digits) == 13:
                own[digits[2:]] = masked
            continue
        own[value] = masked
        if kind == "address":
            rest = value[len(masked) - len(HIDDEN) :]
            if len(rest) >= 4:
                own[rest] = HIDDEN
    return own


def masked_record(raw: Any, personal: Mapping[str, str] | None, *, plain: tuple[str, ...] = ()) -> Any:
    """`raw` with every personal value masked, the same shape otherwise.

    `personal` maps a top-level field to its kind; None (a connector that declares nothing)
    masks every value. `plain` names fields shown as they are (the record's id and update
    time, which identify the record and never a person).
    """
    if personal is None:
        return _walk(raw, _shape, numbers=True)
    if not isinstance(raw, Mapping):
        return _walk(raw, lambda text: _scrub(text, {}))
    own = _own_values(raw, personal)
    shown: dict[str, Any] = {}
    for field, value in raw.items():
        kind = personal.get(field)
        if field in plain:
            shown[field] = value
        elif kind is None:
            shown[field] = _walk(value, lambda text: _scrub(text, own))
        elif isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
            shown[field] = _MASKS[kind](str(value).strip())
        else:
            shown[field] = _walk(value, _shape, numbers=True)
    return shown


def _walk(value: Any, mask: Callable[[str], str], *, numbers: bool = False) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {key: _walk(item, mask, numbers=numbers) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, mask, numbers=numbers) for item in value]
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return _shape(str(value))
    return value


def flattened(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, value) for each leaf: `Progress.Step[0].Note`, as a table shows a nested record."""
    if isinstance(value, Mapping) and value:
        return [
            pair
            for key, item in value.items()
            for pair in flattened(item, f"{prefix}.{key}" if prefix else str(key))
        ]
    if isinstance(value, list) and value:
        return [pair for n, item in enumerate(value) for pair in flattened(item, f"{prefix}[{n}]")]
    return [(prefix, value)]

"""The contract files of the Open311 door, `schemas/open311/`, read once.

- services: every minor category of `schemas/reference/taxonomy.csv` is a service (its code the
  `service_code`), under its major category as the `group`; its `keywords` are the names of its
  major and minor category. A service has `metadata` when `attributes.csv` gives it attributes,
  by its own code or by its major's.
- `statuses.csv`: each unified status as Open311's `open`/`closed` and as mySociety's extended
  status (`in_progress`, `action_scheduled`, `fixed`, …); a probable duplicate still open is
  reported as `duplicate`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from casehub.errors import ConfigurationError
from casehub.paths import ROOT
from casehub.reference import load_reference

CONTRACTS = ROOT / "schemas" / "open311"
DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
"""The attribute datatypes of GeoReport v2's service definitions."""
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition; `values` are (key, name) for the lists."""

    code: str
    datatype: str
    required: bool
    order: int
    description: str
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Service:
    service_code: str
    service_name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    attributes: tuple[Attribute, ...]

    @property
    def metadata(self) -> bool:
        return bool(self.attributes)


@dataclass(frozen=True)
class PublicStatus:
    """How a unified status is told over Open311."""

    status: str  # open | closed
    extended: str  # mySociety's extended status
    meaning: str = ""  # what it means, in words (the table's last column)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise ConfigurationError(f"open311: contract file {path.name} is missing") from None


def _attribute(row: dict[str, str]) -> Attribute:
    if row["datatype"] not in DATATYPES or row["required"] not in ("true", "false"):
        where = f"{row['service']}/{row['code']}"
        raise ConfigurationError(f"attributes.csv: {where} has a wrong datatype or required")
    values = tuple(
        (key, name) for key, _, name in (pair.partition(":") for pair in row["values"].split("|") if pair)
    )
    if row["datatype"].endswith("valuelist") != bool(values):
        where = f"{row['service']}/{row['code']}"
        raise ConfigurationError(f"attributes.csv: {where}: values go with the lists only")
    return Attribute(row["code"], row["datatype"], row["required"] == "true", int(row["order"]),
                     row["description"], values)


@cache
def services() -> tuple[Service, ...]:
    """Every service, in the taxonomy's order."""
    attributes: dict[str, list[Attribute]] = {}
    for row in _rows(CONTRACTS / "attributes.csv"):
        attributes.setdefault(row["service"], []).append(_attribute(row))
    reference = load_reference()
    known = set(reference.categories) | {c.major_code for c in reference.categories.values()}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise ConfigurationError(f"attributes.csv: {unknown[0]} is no category of the taxonomy")
    found = []
    for category in reference.categories.values():
        asked = [*attributes.get(category.major_code, []), *attributes.get(category.code, [])]
        found.append(
            Service(
                service_code=category.code,
                service_name=category.name,
                description=f"{category.major_name} · {category.name}",
                group=category.major_name,
                keywords=(category.major_name, category.name),
                attributes=tuple(sorted(asked, key=lambda a: (a.order, a.code))),
            )
        )
    return tuple(found)


@cache
def service(code: str) -> Service | None:
    return next((s for s in services() if s.service_code == code), None)


@cache
def statuses() -> dict[str, PublicStatus]:
    """The status table, by unified status (and `duplicate`)."""
    table = {
        row["status"]: PublicStatus(row["open311_status"], row["extended_status"], row["meaning"])
        for row in _rows(CONTRACTS / "statuses.csv")
    }
    if any(s.status not in ("open", "closed") for s in table.values()) or DUPLICATE not in table:
        raise ConfigurationError("statuses.csv: every status is open or closed, and duplicate has a row")
    return table


def public_status(status: str, duplicate_of: str | None) -> PublicStatus:
    """The Open311 status of a case: by the table, `duplicate` for a probable duplicate still open."""
    table = statuses()
    try:
        own = table[status]
    except KeyError:
        raise ConfigurationError(f"statuses.csv has no row for {status!r}") from None
    if duplicate_of and own.status == "open":
        return PublicStatus(own.status, table[DUPLICATE].extended, table[DUPLICATE].meaning)
    return own

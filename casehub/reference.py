"""Reference data: the taxonomy, the Wuhan regions and each channel's crosswalks.

The CSV files under `schemas/reference/` are the contract (see `manifest.json` for their
version); this module only reads them. Loading is cached per directory, so mappers can ask
for the reference on every record at no cost.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from casehub.errors import ConfigurationError
from casehub.paths import SCHEMAS_DIR

REFERENCE_DIR = SCHEMAS_DIR / "reference"


@dataclass(frozen=True)
class Category:
    """A unified minor category (6 digits) under its major (2 digits)."""

    code: str
    name: str
    major_code: str
    major_name: str
    default_grade: str
    health_related: bool


@dataclass(frozen=True)
class Region:
    """A district, street (街道), community (社区) or grid (网格), with its WGS-84 centre."""

    code: str
    name: str
    level: str
    parent_code: str | None
    short_name: str | None
    lng: float
    lat: float


@dataclass(frozen=True)
class Reference:
    version: str
    categories: Mapping[str, Category]
    regions: Mapping[str, Region]
    crosswalks: Mapping[tuple[str, str], Mapping[str, str]]

    def crosswalk(self, channel: str, kind: str) -> Mapping[str, str]:
        """Source code or name → unified value, from `crosswalk/<channel>_<kind>.csv`."""
        try:
            return self.crosswalks[(channel, kind)]
        except KeyError:
            raise ConfigurationError(f"no crosswalk {channel}_{kind}.csv in {REFERENCE_DIR}") from None

    @property
    def districts(self) -> Mapping[str, Region]:
        return {code: r for code, r in self.regions.items() if r.level == "district"}


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise ConfigurationError(f"reference file missing: {path}") from None


@cache
def load_reference(directory: Path = REFERENCE_DIR) -> Reference:
    """Read every reference file once; later calls return the same frozen object."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    categories = {
        row["minor_code"]: Category(
            code=row["minor_code"],
            name=row["minor_name"],
            major_code=row["major_code"],
            major_name=row["major_name"],
            default_grade=row["default_grade"],
            health_related=row["health_related"] == "true",
        )
        for row in _rows(directory / "taxonomy.csv")
    }
    regions = {
        row["code"]: Region(
            code=row["code"],
            name=row["name"],
            level=row["level"],
            parent_code=row["parent_code"] or None,
            short_name=row["short_name"] or None,
            lng=float(row["lng"]),
            lat=float(row["lat"]),
        )
        for row in _rows(directory / "regions.csv")
    }
    crosswalks: dict[tuple[str, str], Mapping[str, str]] = {}
    for path in sorted((directory / "crosswalk").glob("*.csv")):
        channel, _, kind = path.stem.rpartition("_")
        rows = _rows(path)
        if rows:
            key, target = next(iter(rows[0])), list(rows[0])[-1]
            crosswalks[(channel, kind)] = MappingProxyType({r[key]: r[target] for r in rows})
    return Reference(
        version=str(manifest["version"]),
        categories=MappingProxyType(categories),
        regions=MappingProxyType(regions),
        crosswalks=MappingProxyType(crosswalks),
    )

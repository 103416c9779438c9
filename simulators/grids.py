"""The unit grids (单元网格) of Wuhan, read from schemas/reference/regions.csv.

Digital urban management locates every case file in a 14-digit unit grid: the 6-digit district,
3-digit street (街道), 3-digit community (社区) and 2-digit grid number. The simulator draws its
grids from the hub's own region table, so a clean case file always names a grid the hub knows,
and a defective one names a code that is, by construction, not in it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REGIONS_PATH = Path(__file__).resolve().parents[1] / "schemas" / "reference" / "regions.csv"


@dataclass(frozen=True)
class Grid:
    """One unit grid with the names of the community, street and district it lies in."""

    code: str  # 14 digits: district 6 + street 3 + community 3 + grid 2
    community: str
    street: str
    district: str
    centre: tuple[float, float]  # WGS-84 (lng, lat)

    @property
    def district_code(self) -> str:
        return self.code[:6]


@cache
def _regions() -> dict[str, dict[str, str]]:
    with REGIONS_PATH.open(encoding="utf-8", newline="") as handle:
        return {row["code"]: row for row in csv.DictReader(handle)}


@cache
def region_codes() -> frozenset[str]:
    """Every district, street, community and grid code of the region table."""
    return frozenset(_regions())


@cache
def grids_of(district_code: str) -> tuple[Grid, ...]:
    """The grids of one district, in code order."""
    regions = _regions()
    found = []
    for code, row in sorted(regions.items()):
        if row["level"] != "grid" or not code.startswith(district_code):
            continue
        community = regions[row["parent_code"]]
        street = regions[community["parent_code"]]
        district = regions[street["parent_code"]]
        found.append(Grid(code, community["name"], street["name"], district["name"],
                          (float(row["lng"]), float(row["lat"]))))
    return tuple(found)

"""Where a case is, as far as its codes tell, and so how far the matter reaches (its scope).

A case always names its district; a channel that knows more sends a street (9 digits),
community (12) or grid (14) code. The finest code that `schemas/reference/regions.csv` knows
locates the case, and the regions' parents fill in the coarser levels: a grid lies in one
community, a community under one street. Coarser codes that disagree with the finest are
ignored; a code the regions do not know is ignored with a warning, so the case is routed by
what is left rather than to a unit that does not exist.

Scope, as grading reads it:
- `community`: a community is known (from its code or a grid's);
- `street`: a street is known, but no community;
- `district`: only the district is known;
- `city`: the codes point into another district than the case's own, so the matter crosses
  district lines (跨区) and only the city can order both districts to act. The foreign codes
  locate nothing: the case's `district_code` is the one the channel vouches for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from casehub.errors import Reason
from casehub.reasons import Code
from casehub.reference import Reference, Region

LEVELS = (("grid_code", "grid"), ("community_code", "community"), ("street_code", "street"))
"""The case's place fields, finest first, with the regions' level each must have."""


@dataclass(frozen=True)
class Place:
    """The case's district, and its street and community when the codes show them."""

    district_code: str
    street_code: str | None
    community_code: str | None
    scope: str


def _chain(region: Region, regions: Mapping[str, Region]) -> dict[str, str]:
    """The region and its ancestors, by level."""
    chain = {region.level: region.code}
    while region.parent_code is not None and region.parent_code in regions:
        region = regions[region.parent_code]
        chain[region.level] = region.code
    return chain


def locate(case: Mapping[str, Any], reference: Reference) -> tuple[Place, list[Reason]]:
    """The case's place and scope, with a warning for each code the regions do not know."""
    district = case.get("district_code")
    district_code = district if isinstance(district, str) else ""
    warnings: list[Reason] = []
    finest: Region | None = None
    for field, level in LEVELS:
        code = case.get(field)
        if code is None:
            continue
        region = reference.regions.get(code) if isinstance(code, str) else None
        if region is None or region.level != level:
            warnings.append(
                Reason(
                    code=str(Code.UNKNOWN_REGION),
                    field=field,
                    message=f"{field}: not a {level} in the regions; the case is placed by its other codes",
                )
            )
        elif finest is None:
            finest = region
    if finest is None:
        return Place(district_code, None, None, "district"), warnings
    chain = _chain(finest, reference.regions)
    if chain.get("district") != district_code:
        return Place(district_code, None, None, "city"), warnings
    community, street = chain.get("community"), chain.get("street")
    scope = "community" if community else "street"
    return Place(district_code, street, community, scope), warnings

"""Open311 service request → unified case: a pure function of the landed request and the reference.

A GeoReport v2 `POST requests` carries a `service_code` (one of the taxonomy's minor
categories, which the hub publishes as its services), a description, a place as WGS-84
`lat`/`long` or an `address_string` (or both), optional reporter fields (`first_name`,
`last_name`, `phone`, `email`) and the service definition's `attribute[...]` answers. The
gateway checks the form before landing it and adds the `token` it answered with and the
`requested_datetime` it received the request at; both are the hub's own, so a landed request
has exactly one version.

Open311 knows no nature (诉求类型): a service request asks for a service, so it is filed as 求助
help. A point is placed in the community whose centre (`regions.csv`) is nearest, if that is
within `NEAREST_COMMUNITY_METRES`; an address alone is placed in the district it names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from casehub.cases import unified_case
from casehub.geo import inside_city
from casehub.normalize import offset_time, phone
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference, Region
from connectors.kit.problems import Problems, source_key

CHANNEL = "open311"
SOURCE_CRS = "EPSG:4326"  # WGS-84, as GeoReport v2 gives lat and long
NATURE = "help"  # 求助
STATUS = "received"  # 受理: what a newly filed request is
NEAREST_COMMUNITY_METRES = 3000.0
"""How far a point may lie from the nearest community centre and still be placed in it; a point
further from every centre is placed in its nearest community's district only."""
TITLE_CHARACTERS = 40
"""Open311 has no title: the case's is the description's first line, this long at most."""

_EARTH_RADIUS_METRES = 6_371_008.8


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lng, lat) points."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    haversine = (
        math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(haversine)))


_COMMUNITIES: dict[str, tuple[Region, ...]] = {}


def _communities(reference: Reference) -> tuple[Region, ...]:
    """The communities of the reference, listed once per reference version (which fixes them)."""
    found = _COMMUNITIES.get(reference.version)
    if found is None:
        found = _COMMUNITIES[reference.version] = tuple(
            r for r in reference.regions.values() if r.level == "community"
        )
    return found


def _parents(reference: Reference, community: Region) -> tuple[Region, Region]:
    street = reference.regions[community.parent_code or ""]
    return street, reference.regions[street.parent_code or ""]


def place_point(reference: Reference, lng: float, lat: float) -> tuple[str, str | None, str | None]:
    """(district, street, community) codes of a WGS-84 point inside the city."""
    nearest = min(_communities(reference), key=lambda c: _metres((lng, lat), (c.lng, c.lat)))
    street, district = _parents(reference, nearest)
    if _metres((lng, lat), (nearest.lng, nearest.lat)) > NEAREST_COMMUNITY_METRES:
        return district.code, None, None
    return district.code, street.code, nearest.code


def district_named(reference: Reference, address: str) -> str | None:
    """The district an address names (江岸区, or its short name 江岸), if exactly one."""
    found = {
        r.code
        for r in reference.regions.values()
        if r.level == "district" and (r.name in address or (r.short_name and r.short_name in address))
    }
    return found.pop() if len(found) == 1 else None


def _degrees(value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    degrees = float(value)
    if not math.isfinite(degrees) or not low <= degrees <= high:
        raise ValueError(f"not a number between {low:g} and {high:g}")
    return degrees


def _point(problems: Problems, raw: Mapping[str, Any]) -> tuple[float, float] | None:
    if raw.get("lat") in (None, "") and raw.get("long") in (None, ""):
        return None
    try:
        lat = _degrees(raw.get("lat"), -90, 90)
        lng = _degrees(raw.get("long"), -180, 180)
    except ValueError as error:
        problems.add(Code.INVALID_COORDINATES, "lat", f"lat/long: {error}")
        return None
    if not inside_city(lng, lat):
        problems.add(Code.OUTSIDE_CITY, "lat", "lat/long: outside Wuhan")
        return None
    return lng, lat


def _full_name(first: str | None, last: str | None) -> str:
    """A Chinese name is written family name first and without a space (张 + 明 → 张明); another as
    `first last`."""
    parts = [p for p in (first, last) if p]
    if all("\u4e00" <= ch <= "\u9fff" for part in parts for ch in part):
        return "".join(p for p in (last, first) if p)
    return " ".join(parts)


def _title(description: str) -> str:
    first = description.strip().splitlines()[0] if description.strip() else description
    return first[:TITLE_CHARACTERS]


def _with_answers(description: str, answers: object) -> str:
    """The description, followed by the service definition's answers, one line each."""
    if not isinstance(answers, list):
        return description
    lines = [
        f"{a['description']}：{a['value']}"
        for a in answers
        if isinstance(a, Mapping) and isinstance(a.get("description"), str)
        and isinstance(a.get("value"), str)
    ]
    return "\n".join([description, *lines])


class Open311Mapper:
    """Maps one landed Open311 service request to a unified case."""

    channel = CHANNEL
    id_field = "token"
    updated_field = "requested_datetime"
    personal_fields: ClassVar[Mapping[str, str]] = {
        "first_name": "name",
        "last_name": "name",
        "phone": "phone",
        "email": "name",
        "address_string": "address",
    }
    """The reporter's fields of a request, by kind: masked wherever a landed record is shown."""

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """The token the gateway answered with identifies the request; it is received once."""
        return source_key(CHANNEL, raw, self.id_field, self.updated_field, offset_time)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """The unified case, or `InvalidRecord` naming every defect of the request."""
        problems = Problems(CHANNEL)
        source_id = problems.identifier("token", raw.get("token"))
        service_code = problems.required("service_code", raw.get("service_code"))
        if service_code is not None and service_code not in reference.categories:
            problems.add(Code.UNKNOWN_CATEGORY, "service_code", "service_code: not a service of this hub")
        description = problems.required("description", raw.get("description"))
        address = problems.optional("address_string", raw.get("address_string"))
        point = _point(problems, raw)
        name = _full_name(problems.optional("first_name", raw.get("first_name")),
                          problems.optional("last_name", raw.get("last_name")))
        reporter_phone = problems.parse(
            Code.INVALID_PHONE, "phone", phone, problems.optional("phone", raw.get("phone"))
        )
        requested_at = problems.time(raw, "requested_datetime", offset_time)
        district, street, community = None, None, None
        if point is not None:
            district, street, community = place_point(reference, *point)
        elif address is not None:
            district = district_named(reference, address)
        if district is None and point is None and address is not None:
            problems.add(
                Code.UNKNOWN_DISTRICT, "address_string", "address_string: names no one district of Wuhan"
            )
        elif district is None and point is None and not problems.reasons:
            problems.add(Code.MISSING_FIELD, "lat", "lat/long or address_string: a location is required")
        problems.check()
        if source_id is None or service_code is None or description is None or requested_at is None:
            raise AssertionError("a required value is missing but no problem was noted")
        if district is None:
            raise AssertionError("no district and no problem noted")

        return unified_case(
            channel=CHANNEL,
            source_id=source_id,
            source_category=service_code,
            urgency=None,
            reported_at=requested_at,
            received_at=received_at,
            updated_at=requested_at,
            closed_at=None,
            reporter={"name": name or None, "phone": reporter_phone, "id_number": None},
            source_status="open",
            title=_title(description),
            content=_with_answers(description, raw.get("attributes")),
            nature=NATURE,
            district_code=district,
            street_code=street,
            community_code=community,
            address=address,
            lng=point[0] if point else None,
            lat=point[1] if point else None,
            source_crs=SOURCE_CRS if point else None,
            status=STATUS,
        )

"""Community app report (居民报事) → unified case: a pure function of the record and the reference.

The app (武汉微邻里) pushes each change of a report as a webhook whose `data` is the report:
camelCase JSON, times in ISO 8601 with their offset, its own category codes (`WLggnn`), status
names and natures (诉求类型), the resident's community by its 12-digit code, and the place the
phone's map pinned in GCJ-02, null when there is none (docs/partners.md). The crosswalks in
`schemas/reference/crosswalk/neighborhood_app_*.csv` translate status and nature; the category
is left to enrichment, which classifies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from casehub.cases import unified_case
from casehub.errors import ConfigurationError
from casehub.geo import inside_city, to_wgs84
from casehub.normalize import offset_time, phone
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference, Region
from connectors.kit.problems import Problems, source_key

CHANNEL = "neighborhood_app"
SOURCE_CRS = "GCJ-02"
CLOSED_STATUSES = frozenset({"completed", "closed"})
"""Unified statuses of 已办结 and 已评价: the version's update time is when the case was closed."""

SATISFACTION = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
"""满意度, a closed list in the app's contract; null until the resident rates the handling."""

PIN_TOLERANCE_METRES = 3000.0
"""How far from its community's centre (regions.csv) a pin may be.

The app promises a pin within about 200 m of the centre: residents report from where they live.
The tolerance is fifteen times that, so a large community or an imprecise centre costs no case;
a pin beyond it was taken in another part of the city, and either the pin or the community code
is wrong, which only a person can tell.
"""

_EARTH_RADIUS_METRES = 6_371_008.8  # the mean radius (IUGG)


def _community(
    problems: Problems, reference: Reference, raw: Mapping[str, Any]
) -> tuple[Region, Region, Region] | None:
    """The community of `communityCode`, with its street and district from the regions' parents."""
    code = problems.required("communityCode", raw.get("communityCode"))
    if code is None:
        return None
    community = reference.regions.get(code)
    if community is None or community.level != "community":
        problems.add(
            Code.UNKNOWN_COMMUNITY, "communityCode", "communityCode: not a community of the Wuhan regions"
        )
        return None
    street = reference.regions.get(community.parent_code or "")
    district = reference.regions.get(street.parent_code or "") if street else None
    if street is None or street.level != "street" or district is None or district.level != "district":
        raise ConfigurationError("regions.csv: a community is not under a street under a district")
    return community, street, district


def _degrees(value: object) -> float:
    """A JSON number, finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    try:
        degrees = float(value)
    except OverflowError:
        raise ValueError("not a finite number") from None
    if not math.isfinite(degrees):
        raise ValueError("not a finite number")
    return degrees


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lng, lat) points: to a few metres, ample for the tolerance."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    haversine = (
        math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * _EARTH_RADIUS_METRES * math.asin(min(1.0, math.sqrt(haversine)))


def _coordinates(location: object) -> tuple[float, float]:
    """The WGS-84 point of a GCJ-02 `{lng, lat}`; ValueError saying what is wrong with it."""
    if not isinstance(location, Mapping):
        raise ValueError("not an object with lng and lat")
    lng, lat = _degrees(location.get("lng")), _degrees(location.get("lat"))
    if not -90 <= lat <= 90 and inside_city(lat, lng):
        raise ValueError("lng and lat are exchanged")
    return to_wgs84(lng, lat, SOURCE_CRS)


def _place(
    problems: Problems, raw: Mapping[str, Any], community: Region | None
) -> tuple[float, float] | None:
    """The pinned place in WGS-84, checked against the city and the community; null is no pin."""
    location = raw.get("location")
    if location is None:
        return None
    try:
        point = _coordinates(location)
    except ValueError as error:
        problems.add(Code.INVALID_COORDINATES, "location", f"location: {error}")
        return None
    if not inside_city(*point):
        problems.add(Code.OUTSIDE_CITY, "location", "location: outside Wuhan")
    elif community is not None and _metres(point, (community.lng, community.lat)) > PIN_TOLERANCE_METRES:
        problems.add(
            Code.FAR_FROM_COMMUNITY,
            "location",
            f"location: over {PIN_TOLERANCE_METRES / 1000:g} km from the centre of the report's community",
        )
    return point


class NeighborhoodAppMapper:
    """Maps one report, the `data` of a community app webhook, to a unified case."""

    channel = CHANNEL
    id_field = "reportId"
    updated_field = "updatedAt"
    personal_fields: ClassVar[Mapping[str, str]] = {
        "reporterName": "name",
        "reporterPhone": "phone",
        "address": "address",
    }
    """The resident's fields of a report, by kind: masked wherever a landed record is shown."""

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """`reportId` identifies the report; `updatedAt` orders its versions."""
        return source_key(CHANNEL, raw, self.id_field, self.updated_field, offset_time)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """The unified case, or `InvalidRecord` naming every defect of the report.

        The app has no urgency and no time limit. The community code places the case in its
        street and district; the handling result is kept as the app wrote it, and the unit that
        wrote it (`handlingUnit`, a name of the community's own) is left to the raw record,
        since the hub routes by its own unit codes. A version at 已办结 or 已评价 is closed at its
        update time.
        """
        problems = Problems(CHANNEL)
        source_id = problems.identifier("reportId", raw.get("reportId"))
        source_status = problems.optional("status", raw.get("status"))
        status = problems.crosswalk(reference, "status", "status", source_status)
        nature = problems.crosswalk(
            reference, "nature", "reportType", problems.optional("reportType", raw.get("reportType"))
        )
        source_category = problems.required("categoryCode", raw.get("categoryCode"))
        title = problems.required("title", raw.get("title"))
        content = problems.required("content", raw.get("content"))
        name = problems.optional("reporterName", raw.get("reporterName"))
        reporter_phone = problems.parse(
            Code.INVALID_PHONE,
            "reporterPhone",
            phone,
            problems.optional("reporterPhone", raw.get("reporterPhone")),
        )
        region = _community(problems, reference, raw)
        address = problems.optional("address", raw.get("address"))
        place = _place(problems, raw, region[0] if region else None)
        result = problems.optional("handlingResult", raw.get("handlingResult"))
        satisfaction = problems.choice(
            "satisfaction", problems.optional("satisfaction", raw.get("satisfaction")), SATISFACTION
        )

        reported_at = problems.time(raw, "createdAt", offset_time)
        updated_at = problems.time(raw, "updatedAt", offset_time)
        problems.check()
        if (
            source_id is None
            or source_category is None
            or region is None
            or reported_at is None
            or updated_at is None
        ):
            raise AssertionError("a required value is missing but no problem was noted")
        community, street, district = region

        return unified_case(
            channel=CHANNEL,
            source_id=source_id,
            source_category=source_category,
            urgency=None,
            reported_at=reported_at,
            received_at=received_at,
            updated_at=updated_at,
            closed_at=updated_at if status in CLOSED_STATUSES else None,
            reporter={"name": name, "phone": reporter_phone, "id_number": None},
            source_status=source_status,
            title=title,
            content=content,
            nature=nature,
            district_code=district.code,
            street_code=street.code,
            community_code=community.code,
            address=address,
            lng=place[0] if place else None,
            lat=place[1] if place else None,
            source_crs=SOURCE_CRS if place else None,
            status=status,
            result=result,
            satisfaction=satisfaction,
        )

"""Digital urban management case file (案卷) → unified case: a pure function of the record and the
reference.

A case file is a `CaseFile` element of `schemas/wsdl/urban_mgmt.wsdl` as `UrbanMgmtSource` returns
it: the vendor's English element names, every value a string with "" for null, and `Progress`
(处置过程), its progress log, as `{"Step": [step, …]}` (docs/partners.md). The system's own codes
need these readings:

- category: a component (部件, a physical object) has a 16-digit `CategoryCode` — the 6-digit
  district, 2-digit major, 2-digit minor and the object's 6-digit serial (GB/T 30428.2); an event
  (事件) has its 4-digit major and minor. The two lists overlap, so the source category is keyed
  by both, `部件:0101` or `事件:0101`, as `urban_mgmt_category.csv` is; classification into the
  taxonomy is enrichment's (`casehub.enrich.classify`). The object's serial stays in the raw
  record;
- place: `GridCode` is the 14-digit unit grid (单元网格, district 6 + street 3 + community 3 +
  grid 2), so the district, street and community codes are its prefixes, and all four must be in
  `schemas/reference/regions.csv`; the names beside it (DistrictName …) only label it. A
  component's district prefix must be the grid's district: an object is catalogued where it
  stands;
- nature: a case file has none of its own; `urban_mgmt_nature.csv` gives it by `SourceCode`;
- status: `urban_mgmt_status.csv`, the code kept as `source_status`.

What the hub decides itself is left to enrichment: `Department` (处置部门) is the system's own
dispatch, and the hub routes the case to its own units (`casehub.enrich.route`). The progress log
has no place in the unified case (schemas/case.schema.json has no steps), so the mapper does not
read it: each version's whole log stays in its sealed raw record, and each new step arrives as a
new version with a later UpdateTime, so the case's history follows the steps. Nor are the names
beside the codes (StatusName, SourceName, DistrictName …) or RegisterTime 立案时间 read: the
codes say it, and the registration is a step of the history.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from casehub.cases import unified_case
from casehub.geo import inside_city, to_wgs84
from casehub.normalize import local_time, phone
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference
from connectors.kit.problems import Problems, source_key

CHANNEL = "urban_mgmt"
SOURCE_CRS = "EPSG:4547"
COMPONENT, EVENT = "部件", "事件"
WORKING_DAYS, HOURS = "工作日", "小时"
MAX_DAYS = 365
"""The longest time limit the unified case holds (`time_limit_days`), in working days."""

TITLE_PLACE_LENGTH = 40
MAX_TITLE_LENGTH = 200
"""The title's place is the address cut to 40 characters; the whole title fits the schema's 200."""

EASTINGS = (333_000.0, 667_000.0)
"""Every easting EPSG:4547 can have, in metres: its zone spans 1.5° either side of 114°E, at most
167 km from the false easting of 500 000 m (at the equator). A northing in Wuhan, about
3 320 000–3 475 000 m, is never one of them."""

_DIGITS = re.compile(r"[0-9]+")
_METRES = re.compile(r"-?[0-9]{1,9}(?:\.[0-9]{1,6})?")
_LEVELS = ((9, "street"), (12, "community"), (14, "grid"))
"""The regions a grid code holds, by the length of their code: street 9, community 12, grid 14."""
_CITY_PREFIXES = ("湖北省", "武汉市")


def _metres(value: str) -> float:
    """A coordinate as the system writes it: metres, to the centimetre, no exponent."""
    if not _METRES.fullmatch(value):
        raise ValueError("not a number of metres")
    return float(value)


def _projected(easting: float, northing: float) -> tuple[float, float] | None:
    """The WGS-84 point of an EPSG:4547 pair, None where the projection has none."""
    try:
        return to_wgs84(easting, northing, SOURCE_CRS)
    except ValueError:
        return None


def _place(problems: Problems, raw: Mapping[str, Any]) -> tuple[float, float] | None:
    """The case's point in WGS-84; both coordinates empty means the reporter gave no place.

    CoordX is the easting and CoordY the northing (the WSDL), but some handsets send the
    surveyors' order, X the northing. That is corrected, because it can be told for sure: when
    CoordX is no easting EPSG:4547 can have (`EASTINGS`), CoordY is one, and the pair read the
    other way round lies in Wuhan, that is its only reading — as sent, it is no point of the
    coordinate system at all. The raw record keeps the order as sent.
    """
    fields = "CoordX/CoordY"
    noted = len(problems.reasons)
    x, y = problems.optional("CoordX", raw.get("CoordX")), problems.optional("CoordY", raw.get("CoordY"))
    if len(problems.reasons) > noted:
        return None
    if x is None and y is None:
        return None
    if x is None or y is None:
        problems.add(Code.INVALID_COORDINATES, fields, f"{fields}: only one of the two is given")
        return None
    try:
        easting, northing = _metres(x), _metres(y)
    except ValueError as error:
        problems.add(Code.INVALID_COORDINATES, fields, f"{fields}: {error}")
        return None
    low, high = EASTINGS
    if not (low <= easting <= high) and low <= northing <= high:
        swapped = _projected(northing, easting)
        if swapped is not None and inside_city(*swapped):
            return swapped
    point = _projected(easting, northing)
    if point is None:
        problems.add(Code.INVALID_COORDINATES, fields, f"{fields}: outside the area of {SOURCE_CRS}")
        return None
    if not inside_city(*point):
        problems.add(Code.OUTSIDE_CITY, fields, f"{fields}: outside Wuhan")
    return point


def _regions(problems: Problems, reference: Reference, grid: str | None) -> dict[str, str] | None:
    """district_code, street_code, community_code and grid_code from the 14-digit grid code,
    each one a region of its level; None, with the defect noted, when one is not."""
    if grid is None:
        return None
    if not (len(grid) == 14 and _DIGITS.fullmatch(grid)):
        problems.add(Code.INVALID_VALUE, "GridCode", "GridCode: not a 14-digit unit grid code")
        return None
    if grid[:6] not in reference.districts:
        problems.add(
            Code.UNKNOWN_DISTRICT, "GridCode", "GridCode: its first six digits are not a Wuhan district"
        )
        return None
    codes = {"district_code": grid[:6]}
    for length, level in _LEVELS:
        region = reference.regions.get(grid[:length])
        if region is None or region.level != level:
            problems.add(
                Code.UNKNOWN_GRID,
                "GridCode",
                f"GridCode: its {level} (the first {length} digits) is not in the regions",
            )
            return None
        codes[f"{level}_code"] = region.code
    return codes


def _category(
    problems: Problems, case_type: str | None, code: str | None, district_code: str | None
) -> str | None:
    """The crosswalk key of the category: `部件:` + major and minor of a 16-digit component
    code, or `事件:` + an event's 4 digits."""
    if case_type is None or code is None:
        return None
    if case_type not in (COMPONENT, EVENT):
        problems.add(Code.INVALID_VALUE, "CaseType", "CaseType: neither 部件 nor 事件")
        return None
    if case_type == EVENT:
        if not (len(code) == 4 and _DIGITS.fullmatch(code)):
            problems.add(
                Code.INVALID_CATEGORY_CODE, "CategoryCode", "CategoryCode: an event code is not 4 digits"
            )
            return None
        return f"{EVENT}:{code}"
    if not (len(code) == 16 and _DIGITS.fullmatch(code)):
        problems.add(
            Code.INVALID_CATEGORY_CODE, "CategoryCode", "CategoryCode: a component code is not 16 digits"
        )
        return None
    if district_code is not None and code[:6] != district_code:
        problems.add(
            Code.INVALID_CATEGORY_CODE,
            "CategoryCode",
            "CategoryCode: the component's district is not the district of GridCode",
        )
        return None
    return f"{COMPONENT}:{code[6:10]}"


def _days(limit: str, unit: str) -> int:
    """TimeLimit 处置时限 in working days, whole ones, as the hub counts deadlines.

    `工作日` are working days already. `小时` are calendar hours (docs/partners.md), which the hub
    cannot count exactly; they become the working days that cover them as calendar days,
    ceil(hours / 24), so 1 to 24 hours is one working day: due at the close of the next
    working day (`casehub.enrich.deadline`). Not ceil(hours / 8): that reads the hours as
    working hours and would give a 24-hour limit three days. The exact hours stay in the raw
    record and in the system's own supervision.
    """
    if not (_DIGITS.fullmatch(limit) and len(limit) <= 6):
        raise ValueError("not a whole number")
    amount = int(limit)
    days = amount if unit == WORKING_DAYS else math.ceil(amount / 24)
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"not a limit from 1 hour to {MAX_DAYS} working days")
    return days


def _time_limit(problems: Problems, raw: Mapping[str, Any]) -> int | None:
    """The time limit in working days; none when the system gives none."""
    limit = problems.optional("TimeLimit", raw.get("TimeLimit"))
    unit = problems.optional("TimeLimitUnit", raw.get("TimeLimitUnit"))
    if limit is None:
        return None
    if unit is None:
        problems.add(Code.MISSING_FIELD, "TimeLimitUnit", "TimeLimitUnit is empty or missing")
        return None
    if unit not in (HOURS, WORKING_DAYS):
        problems.add(
            Code.INVALID_VALUE, "TimeLimitUnit", f"TimeLimitUnit: neither {HOURS} nor {WORKING_DAYS}"
        )
        return None
    return problems.parse(Code.INVALID_VALUE, "TimeLimit", lambda value: _days(value, unit), limit)


def _title(what: str | None, address: str | None, district: str | None, street: str | None) -> str | None:
    """The system has no title; this one is what (the minor category's name, else the major's,
    else the type) and where, as a list of cases reads: `店外经营：马影河大道清泉苑段`. Where is the
    short address: the address without the city, district and street it begins with (the grid
    says those), cut to `TITLE_PLACE_LENGTH` characters."""
    if address is None:
        return None
    place = address
    for prefix in (*_CITY_PREFIXES, district, street):
        if prefix and place.startswith(prefix) and len(place) > len(prefix):
            place = place[len(prefix) :]
    if len(place) > TITLE_PLACE_LENGTH:
        place = place[: TITLE_PLACE_LENGTH - 1] + "…"
    title = f"{what}：{place}" if what else place
    return title if len(title) <= MAX_TITLE_LENGTH else title[: MAX_TITLE_LENGTH - 1] + "…"


class UrbanMgmtMapper:
    """Maps one `CaseFile`, as `UrbanMgmtSource` returns it, to a unified case."""

    channel = CHANNEL
    id_field = "CaseNo"
    updated_field = "UpdateTime"
    personal_fields: ClassVar[Mapping[str, str]] = {
        "ReporterName": "name",
        "ReporterPhone": "phone",
        "Address": "address",
    }
    """The reporter's fields of a case file, by kind: masked wherever a landed record is shown
    (the supervisor's id is staff's, not personal)."""

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """CaseNo 案卷编号 identifies the case file; UpdateTime 更新时间 orders its versions."""
        return source_key(CHANNEL, raw, self.id_field, self.updated_field, local_time)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """The unified case, or `InvalidRecord` naming every defect of the case file.

        The content is the description (问题描述), which names the place and the problem in the
        words of its source; the title is made up (`_title`). Only residents' reports (公众举报)
        and calls forwarded by 12345 name a reporter: a supervisor's report (监督员上报) or a
        camera's has none, and the supervisor's id is staff, not the reporter, so it stays in
        the raw record. The system has no urgency: its short limits are a category's, and
        grading reads the category. CloseTime 结案时间 is the closing time; Result is the
        department's result, or why the case was voided.
        """
        problems = Problems(CHANNEL)
        source_id = problems.identifier("CaseNo", raw.get("CaseNo"))
        source_status = problems.optional("StatusCode", raw.get("StatusCode"))
        status = problems.crosswalk(reference, "status", "StatusCode", source_status)
        nature = problems.crosswalk(
            reference, "nature", "SourceCode", problems.optional("SourceCode", raw.get("SourceCode"))
        )
        grid = problems.required("GridCode", raw.get("GridCode"))
        regions = _regions(problems, reference, grid)
        case_type = problems.required("CaseType", raw.get("CaseType"))
        source_category = _category(
            problems,
            case_type,
            problems.required("CategoryCode", raw.get("CategoryCode")),
            regions["district_code"] if regions else None,
        )
        place = _place(problems, raw)

        address = problems.required("Address", raw.get("Address"))
        content = problems.required("Description", raw.get("Description"))
        minor, major, district, street = (
            problems.optional(field, raw.get(field))
            for field in ("MinorName", "MajorName", "DistrictName", "StreetName")
        )
        if regions is not None:
            district = reference.regions[regions["district_code"]].name
            street = reference.regions[regions["street_code"]].name
        title = _title(minor or major or case_type, address, district, street)

        name = problems.optional("ReporterName", raw.get("ReporterName"))
        reporter_phone = problems.parse(
            Code.INVALID_PHONE,
            "ReporterPhone",
            phone,
            problems.optional("ReporterPhone", raw.get("ReporterPhone")),
        )
        time_limit_days = _time_limit(problems, raw)
        result = problems.optional("Result", raw.get("Result"))

        reported_at = problems.time(raw, "ReportTime", local_time)
        updated_at = problems.time(raw, "UpdateTime", local_time)
        closed_at = problems.time(raw, "CloseTime", local_time, required=False)
        problems.check()
        if (
            source_id is None
            or source_category is None
            or regions is None
            or reported_at is None
            or updated_at is None
        ):
            raise AssertionError("a required value is missing but no problem was noted")

        return unified_case(
            channel=CHANNEL,
            source_id=source_id,
            source_category=source_category,
            urgency=None,
            reported_at=reported_at,
            received_at=received_at,
            updated_at=updated_at,
            closed_at=closed_at,
            reporter={"name": name, "phone": reporter_phone, "id_number": None},
            source_status=source_status,
            title=title,
            content=content,
            nature=nature,
            **regions,
            address=address,
            lng=place[0] if place else None,
            lat=place[1] if place else None,
            source_crs=SOURCE_CRS if place else None,
            status=status,
            time_limit_days=time_limit_days,
            result=result,
        )

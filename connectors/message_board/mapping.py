"""City message board message (留言) → unified case: a pure function of the record and the reference.

The board speaks camelCase JSON: an integer `id`, epoch-millisecond times, null or "" for a
missing value, its own type codes (`typeId`) and status names (待受理, 已受理, 已回复, 已关闭),
a district by full or short name (`areaName`), and the place the resident pinned in BD-09
(Baidu) coordinates, null when there is none (docs/partners.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from casehub.cases import unified_case
from casehub.geo import inside_city, to_wgs84
from casehub.normalize import epoch_ms, phone
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference
from connectors.kit.problems import Problems, source_key

CHANNEL = "message_board"
SOURCE_CRS = "BD-09"
CLOSED_STATUSES = frozenset({"completed", "closed"})
"""Unified statuses of 已回复 and 已关闭: the reply time is when the case was closed."""


def _degrees(value: object) -> float:
    """A JSON number, or a numeric string as some app versions send it; finite."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("not a number")
    try:
        degrees = float(value)
    except OverflowError:
        raise ValueError("not a finite number") from None
    except ValueError:
        raise ValueError("not a number") from None  # float()'s message quotes the value
    if not math.isfinite(degrees):
        raise ValueError("not a finite number")
    return degrees


def _place(problems: Problems, raw: Mapping[str, Any]) -> tuple[float, float] | None:
    """The pinned place in WGS-84; both coordinates null means the resident pinned none."""
    longitude, latitude = raw.get("longitude"), raw.get("latitude")
    if longitude in (None, "") and latitude in (None, ""):
        return None
    try:
        lng, lat = to_wgs84(_degrees(longitude), _degrees(latitude), SOURCE_CRS)
    except ValueError as error:
        problems.add(Code.INVALID_COORDINATES, "longitude/latitude", f"longitude/latitude: {error}")
        return None
    if not inside_city(lng, lat):
        problems.add(Code.OUTSIDE_CITY, "longitude/latitude", "longitude/latitude: outside Wuhan")
    return lng, lat


class MessageBoardMapper:
    """Maps one message, as `MessageBoardSource` returns it, to a unified case."""

    channel = CHANNEL
    id_field = "id"
    updated_field = "updateTime"
    personal_fields: ClassVar[Mapping[str, str]] = {
        "nickName": "name",
        "phone": "phone",
        "address": "address",
    }
    """The poster's fields of a message, by kind: masked wherever a landed record is shown."""

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """`id` identifies the message; `updateTime` orders its versions."""
        return source_key(CHANNEL, raw, self.id_field, self.updated_field, epoch_ms)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """The unified case, or `InvalidRecord` naming every defect of the message.

        The board has no urgency. The official reply is the result, headed by the office that
        wrote it (replyOrg：replyContent); the handling unit is the hub's own routing.
        """
        problems = Problems(CHANNEL)
        source_id = problems.identifier("id", raw.get("id"))
        source_status = problems.optional("status", raw.get("status"))
        status = problems.crosswalk(reference, "status", "status", source_status)
        nature = problems.crosswalk(
            reference, "nature", "msgType", problems.optional("msgType", raw.get("msgType"))
        )
        source_category = problems.required("typeId", raw.get("typeId"))
        district_code = problems.crosswalk(
            reference, "district", "areaName", problems.optional("areaName", raw.get("areaName"))
        )
        title = problems.required("title", raw.get("title"))
        content = problems.required("content", raw.get("content"))
        name = problems.optional("nickName", raw.get("nickName"))
        reporter_phone = problems.parse(
            Code.INVALID_PHONE, "phone", phone, problems.optional("phone", raw.get("phone"))
        )
        address = problems.optional("address", raw.get("address"))
        reply = problems.optional("replyContent", raw.get("replyContent"))
        replied_by = problems.optional("replyOrg", raw.get("replyOrg"))
        result = f"{replied_by}：{reply}" if reply and replied_by else reply
        place = _place(problems, raw)

        reported_at = problems.time(raw, "createTime", epoch_ms)
        updated_at = problems.time(raw, "updateTime", epoch_ms)
        replied_at = problems.time(raw, "replyTime", epoch_ms, required=False)
        problems.check()
        if source_id is None or source_category is None or reported_at is None or updated_at is None:
            raise AssertionError("a required value is missing but no problem was noted")

        return unified_case(
            channel=CHANNEL,
            source_id=source_id,
            source_category=source_category,
            urgency=None,
            reported_at=reported_at,
            received_at=received_at,
            updated_at=updated_at,
            closed_at=replied_at if replied_at and status in CLOSED_STATUSES else None,
            reporter={"name": name, "phone": reporter_phone, "id_number": None},
            source_status=source_status,
            title=title,
            content=content,
            nature=nature,
            district_code=district_code,
            address=address,
            lng=place[0] if place else None,
            lat=place[1] if place else None,
            source_crs=SOURCE_CRS if place else None,
            status=status,
            result=result,
        )

"""Mayor hotline work order (工单) → unified case: a pure function of the record and the reference.

The hotline names its elements by pinyin initials (GDBH 工单编号, LDSJ 来电时间 …, see
docs/partners.md), sends every value as a string with "" for null, and uses its own codes for
status (GDZT), nature (SQLX), category (YWLBDM) and district (SSQX, full or short name); the
crosswalks in `schemas/reference/crosswalk/hotline_*.csv` translate them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from casehub.cases import unified_case
from casehub.normalize import local_time, phone, resident_id
from casehub.ports import SourceKey
from casehub.reasons import Code
from casehub.reference import Reference
from connectors.kit.problems import Problems, source_key

CHANNEL = "hotline"

URGENCY = {"一般": "normal", "紧急": "urgent", "特急": "critical"}
"""JJCD 紧急程度, a closed list in the hotline's contract."""

SATISFACTION = {"满意": "satisfied", "基本满意": "basically_satisfied", "不满意": "dissatisfied"}
"""MYD 满意度, a closed list in the hotline's contract; empty until the resident is called back."""


def _days(value: str) -> int:
    """BLSX 办理时限: working days, as digits."""
    if not value.isdigit() or not 1 <= int(value) <= 365:
        raise ValueError("not a whole number of days from 1 to 365")
    return int(value)


class HotlineMapper:
    """Maps one `GD` element, as `HotlineSource` returns it, to a unified case."""

    channel = CHANNEL
    id_field = "GDBH"
    updated_field = "GXSJ"
    personal_fields: ClassVar[Mapping[str, str]] = {
        "LDRXM": "name",
        "LDHM": "phone",
        "LXDH": "phone",
        "SFZHM": "id_number",
        "FSDZ": "address",
    }
    """The reporter's fields of a work order (来电人姓名, 来电号码, 联系电话, 身份证号码, 发生地址), by
    kind: what is masked wherever a landed record is shown (`casehub.raw_view`)."""

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """GDBH identifies the work order; GXSJ (更新时间) orders its versions."""
        return source_key(CHANNEL, raw, self.id_field, self.updated_field, local_time)

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """The unified case, or `InvalidRecord` naming every defect of the work order.

        The contact number LXDH is the one to call back; the hotline leaves it empty when it is
        the calling number LDHM, so LDHM stands in. JJCD 紧急程度 becomes the urgency, which
        grading reads (特急 is handled one level up).
        """
        problems = Problems(CHANNEL)
        source_id = problems.identifier("GDBH", raw.get("GDBH"))
        source_status = problems.optional("GDZT", raw.get("GDZT"))
        status = problems.crosswalk(reference, "status", "GDZT", source_status)
        nature = problems.crosswalk(reference, "nature", "SQLX", problems.optional("SQLX", raw.get("SQLX")))
        source_category = problems.required("YWLBDM", raw.get("YWLBDM"))
        district_code = problems.crosswalk(
            reference, "district", "SSQX", problems.optional("SSQX", raw.get("SSQX"))
        )
        title = problems.required("BT", raw.get("BT"))
        content = problems.required("SQNR", raw.get("SQNR"))
        urgency = problems.choice("JJCD", problems.optional("JJCD", raw.get("JJCD")), URGENCY)
        satisfaction = problems.choice("MYD", problems.optional("MYD", raw.get("MYD")), SATISFACTION)
        time_limit_days = problems.parse(
            Code.INVALID_VALUE, "BLSX", _days, problems.optional("BLSX", raw.get("BLSX"))
        )

        contact = problems.optional("LXDH", raw.get("LXDH"))
        calling = contact or problems.optional("LDHM", raw.get("LDHM"))
        reporter_phone = problems.parse(Code.INVALID_PHONE, "LXDH" if contact else "LDHM", phone, calling)
        id_number = problems.parse(
            Code.INVALID_ID_NUMBER, "SFZHM", resident_id, problems.optional("SFZHM", raw.get("SFZHM"))
        )

        name = problems.optional("LDRXM", raw.get("LDRXM"))
        address = problems.optional("FSDZ", raw.get("FSDZ"))
        result = problems.optional("BLJG", raw.get("BLJG"))

        reported_at = problems.time(raw, "LDSJ", local_time)
        updated_at = problems.time(raw, "GXSJ", local_time)
        closed_at = problems.time(raw, "BJSJ", local_time, required=False)
        problems.check()
        if source_id is None or source_category is None or reported_at is None or updated_at is None:
            raise AssertionError("a required value is missing but no problem was noted")

        return unified_case(
            channel=CHANNEL,
            source_id=source_id,
            source_category=source_category,
            urgency=urgency,
            reported_at=reported_at,
            received_at=received_at,
            updated_at=updated_at,
            closed_at=closed_at,
            reporter={"name": name, "phone": reporter_phone, "id_number": id_number},
            source_status=source_status,
            title=title,
            content=content,
            nature=nature,
            district_code=district_code,
            address=address,
            status=status,
            time_limit_days=time_limit_days,
            result=result,
            satisfaction=satisfaction,
        )

"""The record a district platform receives for a dispatched case: pure, over the case's row.

The district handles the case: it sends someone to the place and calls the resident back, so
its allow-list (`schemas/recipients/district.json`) gives it the reporter's name and phone and
the title, content and address as the resident gave them — `x-recipient.free_text` clear,
`address.precision` exact, applied by the contract like every recipient's forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from casehub.enrich import load_rules
from casehub.normalize import iso
from casehub.recipients import Recipient, load_recipient

FIELDS = (
    "case_id",
    "channel",
    "source_id",
    "title",
    "content",
    "nature",
    "category",
    "grade",
    "status",
    "urgency",
    "district_code",
    "street_code",
    "community_code",
    "grid_code",
    "address",
    "lng",
    "lat",
    "assigned_unit",
    "time_limit_days",
)
TIMES = ("deadline_at", "reported_at")


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


class DistrictRenderer:
    recipient = "district"

    @cached_property
    def contract(self) -> Recipient:
        return load_recipient(self.recipient)

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {name: case.get(name) for name in FIELDS}
        for name in ("title", "content"):
            record[name] = self.contract.text(name, case.get(name))
        record["address"] = self.contract.address(case.get("address"))
        unit = load_rules().units.get(str(case.get("assigned_unit") or ""))
        record["unit_name"] = None if unit is None else unit.name
        record.update({name: _time(case.get(name)) for name in TIMES})
        record["reporter_name"] = case.get("reporter_name")
        record["reporter_phone"] = case.get("reporter_phone")
        return record

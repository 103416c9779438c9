"""Unified case → the health commission's record, by the allow-list
`schemas/recipients/health_commission.json`.

The commission handles health-related cases and watches for outbreaks, so it gets the case's
text — which keywords of `schemas/recipients/epidemic_keywords.csv` it holds, too —, where it
happened down to its street, and a way to call the resident back, but no more of the person
than that: the phone masked the way service desks print it (+86138****8000), never the name,
the ID number or the exact address. Residents write their numbers into the text as well, so
the title and content come in the form the allow-list's `x-recipient.free_text` gives them
(masked: every phone and ID number), and the address at its `x-recipient.address` precision
(street: no house number), both applied by the contract (`casehub.recipients.Recipient`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from casehub.masking import mask_phone
from casehub.normalize import iso
from casehub.recipients import Recipient, load_recipient

CASE_CODES = ("case_id", "channel", "category", "health_related")
HANDLING_CODES = ("nature", "grade", "status", "urgency")
PLACE_CODES = ("district_code", "street_code", "community_code")
TIMES = ("reported_at", "updated_at", "closed_at", "deadline_at")


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


class HealthCommissionRenderer:
    recipient = "health_commission"

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)

    @cached_property
    def contract(self) -> Recipient:
        return load_recipient(self.recipient)

    def matched(self, case: Mapping[str, Any]) -> list[str]:
        """The epidemic keywords in the case's title or content, in the list's order."""
        text = f"{case.get('title') or ''}\n{case.get('content') or ''}"
        return [word for word in self.keywords if word in text]

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {name: case.get(name) for name in CASE_CODES}
        record["matched_keywords"] = self.matched(case)
        record.update({name: case.get(name) for name in HANDLING_CODES})
        for name in ("title", "content"):
            record[name] = self.contract.text(name, str(case.get(name) or ""))
        record.update({name: case.get(name) for name in PLACE_CODES})
        record["address"] = self.contract.address(case.get("address"))
        record["contact_phone"] = mask_phone(case.get("reporter_phone"))
        record.update({name: _time(case.get(name)) for name in TIMES})
        return record

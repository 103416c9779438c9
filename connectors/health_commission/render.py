"""Unified case → the health commission's record, by the allow-list
`schemas/recipients/health_commission.json`.

The commission handles health-related cases and watches for outbreaks, so it gets the case's
text — which keywords of `schemas/recipients/epidemic_keywords.csv` it holds, too — and a way
to call the resident back, but no more of the person than that: the phone masked the way
service desks print it (+86138****8000), never the name, the ID number or the address.
Residents write their numbers into the text as well, so digits there that look like a mobile
number or a resident ID are masked the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from casehub.masking import mask_phone
from casehub.normalize import iso

CASE_CODES = ("case_id", "channel", "category", "health_related")
HANDLING_CODES = ("nature", "grade", "status", "urgency")
PLACE_CODES = ("district_code", "street_code", "community_code")
TIMES = ("reported_at", "updated_at", "closed_at", "deadline_at")

RESIDENT_ID = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{9}[0-9Xx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)86[ -]?)?(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
ID_MASK = "[证件号已隐去]"  # resident ID withheld


def masked_text(text: str) -> str:
    """`text` with resident IDs withheld and mobile numbers masked."""
    text = RESIDENT_ID.sub(ID_MASK, text)
    return MOBILE.sub(lambda match: f"{match[1]}****{match[3]}", text)


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


class HealthCommissionRenderer:
    recipient = "health_commission"

    def __init__(self, keywords: Sequence[str]) -> None:
        self.keywords = tuple(keywords)

    def matched(self, case: Mapping[str, Any]) -> list[str]:
        """The epidemic keywords in the case's title or content, in the list's order."""
        text = f"{case.get('title') or ''}\n{case.get('content') or ''}"
        return [word for word in self.keywords if word in text]

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {name: case.get(name) for name in CASE_CODES}
        record["matched_keywords"] = self.matched(case)
        record.update({name: case.get(name) for name in HANDLING_CODES})
        record["title"] = masked_text(str(case.get("title") or ""))
        record["content"] = masked_text(str(case.get("content") or ""))
        record.update({name: case.get(name) for name in PLACE_CODES})
        record["contact_phone"] = mask_phone(case.get("reporter_phone"))
        record.update({name: _time(case.get(name)) for name in TIMES})
        return record

"""Unified case → the city brain's record: de-identified, by the allow-list
`schemas/recipients/city_brain.json`.

The city brain watches the city run (where complaints gather, how fast they are handled), so it
gets codes, places down to the grid, times and states — and nothing that could name a person:
no reporter name, phone or ID number, no address, and no free text (title, content, result),
which residents fill with all three. Coordinates are rounded to 0.01° (about 1 km), a
neighbourhood rather than a door. The renderer reads only the fields it writes, so a personal
value in the case cannot reach the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from casehub.normalize import iso

COORDINATE_DIGITS = 2
"""Decimal places kept of a WGS-84 coordinate: 0.01° is about 1.1 km north–south in Wuhan."""

CODES = (
    "case_id",
    "channel",
    "category",
    "nature",
    "grade",
    "status",
    "urgency",
    "health_related",
    "district_code",
    "street_code",
    "community_code",
    "grid_code",
)
TIMES = ("reported_at", "received_at", "updated_at", "closed_at", "deadline_at")


def coarse(value: float | None) -> float | None:
    """A coordinate rounded to `COORDINATE_DIGITS` places."""
    return None if value is None else round(float(value), COORDINATE_DIGITS)


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


class CityBrainRenderer:
    recipient = "city_brain"

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {name: case.get(name) for name in CODES}
        record["lng"] = coarse(case.get("lng"))
        record["lat"] = coarse(case.get("lat"))
        record.update({name: _time(case.get(name)) for name in TIMES})
        return record

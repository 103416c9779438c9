"""The unified case as a mapper hands it to the pipeline: the one builder every connector uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from casehub.identity import case_id
from casehub.normalize import iso

UNSET = (
    "category",
    "health_related",
    "grade",
    "street_code",
    "community_code",
    "grid_code",
    "address",
    "lng",
    "lat",
    "source_crs",
    "assigned_unit",
    "time_limit_days",
    "deadline_at",
    "result",
    "satisfaction",
    "duplicate_of",
    "cluster_id",
    "duplicate_score",
    "duplicate_signals",
)
"""Fields a mapper may leave out; enrichment fills the first three and the unit and deadline."""


def unified_case(
    *,
    channel: str,
    source_id: str,
    source_category: str,
    urgency: str | None,
    reported_at: datetime,
    received_at: datetime,
    updated_at: datetime,
    closed_at: datetime | None,
    reporter: Mapping[str, str | None],
    **fields: Any,
) -> dict[str, Any]:
    """The unified case a mapper returns: what the channel said, and the rest of the contract empty.

    Computed here once for every channel: the deterministic case id and ISO times with offset.
    What the hub decides rather than the channel — the unified category and its health flag,
    the grade, the handling unit, the time limit and deadline — is left empty for enrichment
    (`casehub.enrich`) to fill; a channel's own time limit (`time_limit_days`) is kept, and wins.
    Fields no channel fills yet (supervision, duplicates) start empty, as
    `schemas/case.schema.json` allows.
    """
    case: dict[str, Any] = dict.fromkeys(UNSET)
    case["supervision"] = []
    case.update(fields)
    case.update(
        {
            "case_id": case_id(channel, source_id),
            "channel": channel,
            "source_id": source_id,
            "source_category": source_category,
            "urgency": urgency,
            "reporter": dict(reporter),
            "reported_at": iso(reported_at),
            "received_at": iso(received_at),
            "updated_at": iso(updated_at),
            "closed_at": iso(closed_at) if closed_at else None,
        }
    )
    return case

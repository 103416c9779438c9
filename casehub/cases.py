"""The unified case as a mapper hands it to the pipeline: the one builder every connector uses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from casehub.grading import grade
from casehub.identity import case_id
from casehub.normalize import iso
from casehub.reference import Category


def unified_case(
    *,
    channel: str,
    source_id: str,
    category: Category,
    urgency: str | None,
    reported_at: datetime,
    received_at: datetime,
    updated_at: datetime,
    closed_at: datetime | None,
    reporter: Mapping[str, str | None],
    **fields: Any,
) -> dict[str, Any]:
    """The unified case a mapper returns: what it knows, and the rest of the contract empty.

    Derived values are computed here once for every channel: the deterministic case id, the
    category's health flag and grade (escalated for critical urgency), ISO times with offset.
    Fields this release fills for no channel (grid codes, deadline, supervision, duplicates)
    start empty, as `schemas/case.schema.json` allows.
    """
    case: dict[str, Any] = {
        "street_code": None,
        "community_code": None,
        "grid_code": None,
        "address": None,
        "lng": None,
        "lat": None,
        "source_crs": None,
        "urgency": urgency,
        "assigned_unit": None,
        "time_limit_days": None,
        "deadline_at": None,
        "result": None,
        "satisfaction": None,
        "supervision": [],
        "duplicate_of": None,
        "cluster_id": None,
    }
    case.update(fields)
    case.update(
        {
            "case_id": case_id(channel, source_id),
            "channel": channel,
            "source_id": source_id,
            "category": category.code,
            "health_related": category.health_related,
            "grade": grade(category, urgency),
            "reporter": dict(reporter),
            "reported_at": iso(reported_at),
            "received_at": iso(received_at),
            "updated_at": iso(updated_at),
            "closed_at": iso(closed_at) if closed_at else None,
        }
    )
    return case

"""What a case version changed: the `cases` columns a unified case fills, and the history's diff."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from casehub.store.models import Case

TIME_FIELDS = ("reported_at", "received_at", "updated_at", "closed_at", "deadline_at")
# Columns of `cases` filled from the unified case as they are (personal data is sealed apart).
CASE_FIELDS = tuple(
    c.name
    for c in Case.__table__.columns
    if c.name
    not in {
        "version",
        "pii_key_id",
        "reporter_name",
        "reporter_phone",
        "reporter_id_number",
        "reporter_phone_index",
        "reporter_fingerprint",
        "reporter_index_key_id",
        "raw_id",
    }
)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Field → [old, new] for what changed; personal data only as 'changed', never its values.

    A new case records only that it was created and its first status: its full first state is
    the raw payload it came from, kept beside it.
    """
    if old is None:
        return {"created": True, "status": [None, new.get("status")]}
    changes: dict[str, Any] = {}
    for name in CASE_FIELDS:
        if name in ("received_at",):
            continue
        before = old.get(name)
        after = new.get(name)
        if before != after:
            changes[name] = [_jsonable(before), _jsonable(after)]
    if old.get("reporter_fingerprint") != new.get("reporter_fingerprint"):
        changes["reporter"] = "changed"
    return changes

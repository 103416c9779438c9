"""The frames the suites validate, built from what the hub holds: pure functions of records.

A frame holds the columns its suite names and nothing else. The unified case's frame carries
two derived flags (`has_contact`, `has_place`) instead of the reporter's name and the address,
and the phone and resident ID only for the masking expectations that judge them. Times become
naive UTC (GX's pair metrics compare no time zones); a raw record's values stay as the partner
sent them, except that an empty string is the partner's null and a nested value is compared as
its JSON text, so no value can break a metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from casehub.quality import CASE_COLUMNS, PERSONAL_COLUMNS, TIME_COLUMNS, SuiteSpec


def _times(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").dt.tz_convert(None)


def case_frame(cases: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Unified cases (as the pipeline holds them, reporter in clear) → the `case` suite's frame."""
    records = []
    for case in cases:
        reporter = case.get("reporter") or {}
        row = {column: case.get(column) for column in (*CASE_COLUMNS, *TIME_COLUMNS)}
        row["has_contact"] = bool(reporter.get("phone"))
        row["has_place"] = bool(case.get("address") or case.get("grid_code") or case.get("lng") is not None)
        row["reporter_phone"] = reporter.get("phone")
        row["reporter_id_number"] = reporter.get("id_number")
        records.append(row)
    columns = [*CASE_COLUMNS, *TIME_COLUMNS, "has_contact", "has_place", *PERSONAL_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=columns)
    _times(frame, TIME_COLUMNS)
    for column in ("lng", "lat"):
        frame[column] = frame[column].astype("float64")
    frame["time_limit_days"] = frame["time_limit_days"].astype("float64")
    return frame


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        return value if value.strip() else None
    if value is None or isinstance(value, bool | int | float):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def raw_frame(records: Sequence[Any], spec: SuiteSpec) -> pd.DataFrame:
    """Raw records (objects only) → the suite's columns that at least one record carries.

    A field no record has is left out of the frame, so the contract-fields rule sees it missing.
    """
    wanted = spec.columns()
    objects = [r for r in records if isinstance(r, Mapping)]
    present = [c for c in wanted if any(c in r for r in objects)]
    rows = [{c: _scalar(r.get(c)) for c in present} for r in objects]
    return pd.DataFrame.from_records(rows, columns=present).astype(object)


def table_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per-channel metrics (one row per channel) → the `channel_day` suite's frame."""
    columns = [
        "channel",
        "raw",
        "accounted",
        "hours_since_landing",
        "volume_ratio",
        "duplicate_rate",
        "quarantine_rate",
    ]
    frame = pd.DataFrame.from_records([dict(r) for r in rows], columns=columns)
    for column in columns[3:]:
        frame[column] = frame[column].astype("float64")
    return frame


def feed_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A rendered outbound batch → a frame of exactly the fields the records carry."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return pd.DataFrame.from_records(
        [{k: _scalar(r.get(k)) for k in names} for r in records], columns=list(names)
    )

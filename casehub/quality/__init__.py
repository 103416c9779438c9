"""The data-quality specification, run with Great Expectations Core on each page of cases.

The suite is a file (`expectations/case_batch.json`); this module only runs it. Expectations
marked `critical` quarantine the rows that break them, with the expectation's `meta.reason` as
the reason code; `warning` expectations are reported with the batch. Values that belong to the
reference data (the 461 categories, the 13 districts) are `$PARAMETER`s filled from
`schemas/reference/` at run time, so the suite never restates them.

Personal fields never enter the validated frame: GX results (and any Data Docs built from them)
may quote unexpected values.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from casehub.errors import ConfigurationError, Reason
from casehub.paths import EXPECTATIONS_DIR
from casehub.reference import Reference

SUITE_PATH = EXPECTATIONS_DIR / "case_batch.json"

# Columns of the unified case that the suite may see: no reporter data.
COLUMNS = (
    "case_id",
    "channel",
    "title",
    "content",
    "category",
    "district_code",
    "grade",
    "status",
    "lng",
    "lat",
    "reported_at",
    "received_at",
    "updated_at",
    "closed_at",
)
TIME_COLUMNS = ("reported_at", "received_at", "updated_at", "closed_at")


@dataclass(frozen=True)
class Warning_:
    """A warning-level expectation that failed on a batch."""

    expectation: str
    column: str
    reason: str
    unexpected_count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "column": self.column,
            "reason": self.reason,
            "unexpected_count": self.unexpected_count,
        }


@dataclass
class QualityReport:
    """Row failures by position in the page, and batch warnings."""

    failures: dict[int, list[Reason]] = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)


def _column_of(kwargs: Mapping[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return ",".join(kwargs.get("column_list", []))


def _raised(info: Mapping[str, Any] | None) -> str | None:
    """The message of an exception GX caught while computing a metric, if any.

    GX reports it either flat or keyed by metric; either way, an expectation that could not be
    computed must not pass for a data failure (or a success).
    """
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


class QualitySuite:
    """A loaded suite, ready to validate pages; build once per process (see `quality_suite`)."""

    def __init__(self, path: Path = SUITE_PATH) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigurationError(f"expectation suite missing: {path}") from None
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("casehub").add_dataframe_asset("cases")
        self._batches = asset.add_batch_definition_whole_dataframe("page")
        self.suite = context.suites.add(gx.ExpectationSuite(**spec))
        self.name = str(spec["name"])

    def validate(self, rows: Sequence[Mapping[str, Any]], reference: Reference) -> QualityReport:
        import pandas as pd

        frame = pd.DataFrame.from_records(
            [
                {column: row.get(column) for column in COLUMNS}
                | {"has_contact": bool(row.get("has_contact"))}
                for row in rows
            ],
            columns=[*COLUMNS, "has_contact"],
        )
        for column in TIME_COLUMNS:
            # Naive UTC: comparisons are the same, and GX's pair metrics handle no time zones.
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").dt.tz_convert(None)
        for column in ("lng", "lat"):
            frame[column] = frame[column].astype("float64")
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            self.suite,
            result_format={"result_format": "COMPLETE", "include_unexpected_rows": False},
            expectation_parameters={
                "categories": sorted(reference.categories),
                "districts": sorted(reference.districts),
            },
        )
        report = QualityReport()
        for outcome in result.results:
            if outcome.success:
                continue
            config = outcome.expectation_config
            if config is None:
                continue
            reason = str(config.meta.get("reason", config.type))
            column = _column_of(config.kwargs)
            severity = str(getattr(config, "severity", "critical")).split(".")[-1].lower()
            failed = _raised(outcome.exception_info)
            if failed is not None:
                raise ConfigurationError(f"expectation {config.type} on {column} could not run: {failed}")
            indexes = outcome.result.get("unexpected_index_list") or []
            if severity == "critical" and indexes:
                message = f"breaks {config.type}"
                for index in indexes:
                    position = int(index if not isinstance(index, Mapping) else index["index"])
                    report.failures.setdefault(position, []).append(
                        Reason(code=reason, field=column, message=message)
                    )
            else:
                report.warnings.append(
                    Warning_(
                        expectation=config.type,
                        column=column,
                        reason=reason,
                        unexpected_count=int(outcome.result.get("unexpected_count") or 0),
                    )
                )
        return report


@cache
def quality_suite(path: Path = SUITE_PATH) -> QualitySuite:
    return QualitySuite(path)

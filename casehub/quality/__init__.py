"""The data-quality specification, run with Great Expectations Core.

The specification is a committed GX file context, `expectations/` (docs/data-quality.md says it
in words): one suite per inbound channel's raw shape, one for the unified case, one per outbound
feed, and the table-level suites `channel_day` and `case_history`. Each expectation is one rule;
its `meta` names the rule id, the dimension, the action its severity drives and a message in
words. This package only runs them:

- `critical` on a record-level (map) rule: the rows that break it are quarantined, with the rule
  id as the reason code and the expectation's message — never the value;
- `warning`: recorded with the batch and reported;
- `critical` on a batch-level rule: the caller fails the run (`DataQualityError`) after the
  results are recorded.

Every validation's outcome per expectation (evaluated, unexpected, success) is kept in the store
(`quality_results`, see `casehub.quality.results`). Values that belong to the reference data (the
461 categories, the 13 districts, a recipient's allow-list) are `$PARAMETER`s filled at run time,
so the suites never restate them.

Personal fields enter a validated frame only as the columns the masking expectations of
`casehub.quality.expectations` judge; every other personal value stays out, since GX results
(and the Data Docs built from them) quote unexpected values.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from casehub.errors import ConfigurationError, Reason
from casehub.paths import EXPECTATIONS_DIR, data_docs_dir, var_dir

log = logging.getLogger(__name__)

CRITICAL, WARNING = "critical", "warning"
QUARANTINE = "quarantine"
"""The action of a critical row-wise rule; `fail_run` and `stop_push` stop the job instead."""
MAP_TYPES_PREFIXES = ("expect_column_values_", "expect_column_pair_values_", "expect_multicolumn_")
"""Expectation types judged row by row (their critical breaks quarantine rows); the rest judge
the batch as a whole."""
ROW_WISE = {
    "expect_compound_columns_to_be_unique",
    "expect_region_codes_to_nest",
    "expect_case_fields_required_by_nature",
    "expect_deadline_to_follow_working_days",
}

CASE_COLUMNS = (
    "case_id",
    "channel",
    "title",
    "content",
    "nature",
    "category",
    "district_code",
    "street_code",
    "community_code",
    "grid_code",
    "grade",
    "status",
    "lng",
    "lat",
    "time_limit_days",
)
TIME_COLUMNS = ("reported_at", "received_at", "updated_at", "closed_at", "deadline_at")
PERSONAL_COLUMNS = ("reporter_phone", "reporter_id_number")
"""The only personal values a frame holds: judged by masking expectations, never quoted."""


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, as the specification states it."""

    rule: str
    id: str
    suite: str
    type: str
    severity: str
    dimension: str
    action: str
    message: str
    note: str
    columns: tuple[str, ...]

    @property
    def column(self) -> str:
        return ",".join(self.columns)

    @property
    def row_wise(self) -> bool:
        return self.type in ROW_WISE or self.type.startswith(MAP_TYPES_PREFIXES)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    asset: str
    description: str
    rules: tuple[Rule, ...]

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for rule in self.rules:
            seen.update(dict.fromkeys(rule.columns))
        return list(seen)


def _columns_of(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    if "column_A" in kwargs:
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    if "column_list" in kwargs:
        return tuple(str(c) for c in kwargs["column_list"])
    if isinstance(kwargs.get("column_set"), list):
        return tuple(str(c) for c in kwargs["column_set"])
    return ()


@cache
def load_specs(directory: Path = EXPECTATIONS_DIR) -> dict[str, SuiteSpec]:
    """Every suite of the file context, read as plain JSON (no GX needed), by name."""
    suites_dir = directory / "expectations"
    definitions_dir = directory / "validation_definitions"
    if not suites_dir.is_dir():
        raise ConfigurationError(f"the data-quality specification is missing: {suites_dir}")
    specs: dict[str, SuiteSpec] = {}
    for path in sorted(suites_dir.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        name = str(suite["name"])
        definition = json.loads((definitions_dir / f"{name}.json").read_text(encoding="utf-8"))
        rules = tuple(
            Rule(
                rule=str(e["meta"]["rule"]),
                id=str(e["id"]),
                suite=name,
                type=str(e["type"]),
                severity=str(e.get("severity", CRITICAL)),
                dimension=str(e["meta"]["dimension"]),
                action=str(e["meta"]["action"]),
                message=str(e["meta"]["message"]),
                note=str(e["meta"]["note"]),
                columns=_columns_of(e["kwargs"]),
            )
            for e in suite["expectations"]
        )
        specs[name] = SuiteSpec(
            name=name,
            asset=str(definition["data"]["asset"]["name"]),
            description=str(suite["meta"].get("description", "")),
            rules=rules,
        )
    return specs


def rules_by_id(directory: Path = EXPECTATIONS_DIR) -> dict[str, Rule]:
    return {rule.rule: rule for spec in load_specs(directory).values() for rule in spec.rules}


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    evaluated: int
    unexpected: int
    success: bool
    rows: tuple[int, ...] = ()

    def as_warning(self) -> dict[str, Any]:
        """The shape of a batch's `warnings` entry (`batches.warnings`)."""
        return {
            "expectation": self.rule.type,
            "column": self.rule.column,
            "reason": self.rule.rule,
            "unexpected_count": self.unexpected,
        }


@dataclass
class Validation:
    """One suite run on one batch: every rule's result."""

    suite: str
    rows: int
    results: list[RuleResult] = field(default_factory=list)
    validation_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def failures(self) -> dict[int, list[Reason]]:
        """Row position → the reasons of the critical row-wise rules it breaks."""
        failed: dict[int, list[Reason]] = {}
        for result in self.results:
            if result.rule.severity != CRITICAL or result.rule.action != QUARANTINE:
                continue
            for position in result.rows:
                failed.setdefault(position, []).append(
                    Reason(code=result.rule.rule, field=result.rule.column, message=result.rule.message)
                )
        return failed

    def count_refused(self, refused: Mapping[str, int]) -> None:
        """Count records refused before the suite ran under one of its rules' ids (by code →
        records) as rows that rule judged and found broken."""
        for position, result in enumerate(self.results):
            extra = refused.get(result.rule.rule, 0)
            if extra and result.rule.row_wise:
                self.results[position] = RuleResult(
                    result.rule, result.evaluated + extra, result.unexpected + extra, False, result.rows
                )

    def warnings(self) -> list[dict[str, Any]]:
        return [r.as_warning() for r in self.results if not r.success and r.rule.severity != CRITICAL]

    def broken(self) -> list[RuleResult]:
        """Critical rules whose action is to fail the run or stop the push, that failed."""
        return [
            r
            for r in self.results
            if not r.success and r.rule.severity == CRITICAL and r.rule.action != QUARANTINE
        ]

    def rows_for_store(
        self, channel: str, *, at: datetime, batch_id: str | None = None, day: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            {
                "validation_id": self.validation_id,
                "suite": self.suite,
                "rule": r.rule.rule,
                "severity": r.rule.severity,
                "channel": channel,
                "batch_id": batch_id,
                "day": day,
                "evaluated": r.evaluated,
                "unexpected": r.unexpected,
                "success": r.success,
                "validated_at": at,
            }
            for r in self.results
        ]


def _raised(info: Mapping[str, Any] | None) -> str | None:
    """The message of an exception GX caught while computing a metric, if any."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _positions(indexes: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(i["index"] if isinstance(i, Mapping) else i) for i in indexes)


class QualityContext:
    """The file context of `expectations/`, opened once per process (see `quality_context`).

    Runtime output never lands in the repository: validation results go to
    `var/quality/results/` and the Data Docs site to `casehub.paths.data_docs_dir()`.
    """

    def __init__(self, directory: Path = EXPECTATIONS_DIR) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        self.results_dir = var_dir() / "quality" / "results"
        self.docs_dir = data_docs_dir()
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        import casehub.quality.expectations  # noqa: F401 - registers the hub's own expectations

        # GX marks a frame's batch with a fingerprint, an MD5 over every value hashed one by one,
        # for any frame under `HASH_THRESHOLD` bytes. The hub names its batches itself (batch id,
        # channel, run) and reads no marker, and on the ingest path the fingerprint cost as much
        # as the raw suite's own rules; GX has no setting for it but this constant.
        pandas_execution_engine.HASH_THRESHOLD = 0

        if not (directory / "great_expectations.yml").is_file():
            raise ConfigurationError(f"the data-quality specification is missing: {directory}")
        self.specs = load_specs(directory)
        self.context = gx.get_context(
            mode="file",
            context_root_dir=str(directory),
            # `great_expectations.yml` names these two places as variables: runtime output stays in var/.
            runtime_environment={
                "gx_results_dir": f"{self.results_dir}/",
                "gx_data_docs_dir": f"{self.docs_dir}/",
            },
        )
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._suites = {name: self.context.suites.get(name) for name in self.specs}
        source = self.context.data_sources.get("casehub")
        self._batches = {
            name: source.get_asset(spec.asset).get_batch_definition("batch")
            for name, spec in self.specs.items()
        }

    def spec(self, suite: str) -> SuiteSpec:
        try:
            return self.specs[suite]
        except KeyError:
            raise ConfigurationError(f"no expectation suite {suite!r} in expectations/") from None

    def validate(self, suite: str, frame: Any, parameters: Mapping[str, Any] | None = None) -> Validation:
        """Run `suite` on `frame` in memory (nothing stored by GX): the ingest path's check."""
        spec = self.spec(suite)
        batch = self._batches[suite].get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(
            self._suites[suite],
            result_format={"result_format": "COMPLETE", "include_unexpected_rows": False},
            expectation_parameters=dict(parameters or {}),
        )
        return self._read(spec, frame, outcome.results)

    def checkpoint(
        self,
        suite: str,
        frame: Any,
        parameters: Mapping[str, Any] | None = None,
        *,
        run_name: str | None = None,
    ) -> Validation:
        """Run the suite's checkpoint on `frame`: the results are kept and the Data Docs rebuilt.
        `run_name` (e.g. `hotline-2026-11-20`) is what Data Docs list the result under."""
        from great_expectations.core.run_identifier import RunIdentifier

        spec = self.spec(suite)
        checkpoint = self.context.checkpoints.get(suite)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=dict(parameters or {}),
            run_id=RunIdentifier(run_name=run_name) if run_name else None,
        )
        (run,) = result.run_results.values()
        return self._read(spec, frame, run.results)

    def _read(self, spec: SuiteSpec, frame: Any, outcomes: Sequence[Any]) -> Validation:
        validation = Validation(suite=spec.name, rows=len(frame))
        absent = set(spec.columns()) - set(frame.columns)
        by_id = {str(o.expectation_config.id): o for o in outcomes if o.expectation_config is not None}
        for rule in spec.rules:
            outcome = by_id.get(rule.id)
            if outcome is None:
                raise ConfigurationError(f"rule {rule.rule} of suite {spec.name} was not run")
            failed = _raised(outcome.exception_info)
            if failed is not None:
                if rule.row_wise and set(rule.columns) & absent:
                    # The batch lacks the field altogether: every record breaks the rule.
                    validation.results.append(RuleResult(rule, len(frame), len(frame), len(frame) == 0))
                    continue
                raise ConfigurationError(f"rule {rule.rule} ({rule.type}) could not run: {failed}")
            details = outcome.result or {}
            if rule.row_wise:
                rows = int(details.get("element_count") or 0) - int(details.get("missing_count") or 0)
                unexpected = int(details.get("unexpected_count") or 0)
                positions = _positions(details.get("unexpected_index_list") or [])
            else:
                rows, unexpected, positions = 1, int(not outcome.success), ()
            validation.results.append(
                RuleResult(rule, max(rows, 0), unexpected, bool(outcome.success), positions)
            )
        return validation


@cache
def quality_context(directory: Path = EXPECTATIONS_DIR) -> QualityContext:
    return QualityContext(directory)

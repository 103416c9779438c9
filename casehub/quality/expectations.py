"""The hub's own Great Expectations: the rules the core expectations cannot state.

Importing this module registers them with GX (an expectation type is its class's snake-case
name), so the suites in `expectations/` can name them like any core expectation. Each is a pure
row-wise condition on a pandas frame, built from the same functions the mappers and enrichment
use — `casehub.normalize` reads a phone number or a resident ID for both, `casehub.enrich`
counts working days for both — so a rule is stated once and meant the same everywhere.

Two of them judge personal fields (the reporter's phone and ID number). Their results never
carry a value in clear: every value GX would quote (the unexpected list, its counts, the index
list) is masked before the result leaves the expectation, so no validation result, stored or
rendered into Data Docs, can hold one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, ClassVar

import pandas as pd
from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
    ColumnMapMetricProvider,
)
from great_expectations.expectations.metrics.map_metric_provider.multicolumn_condition_partial import (
    multicolumn_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.multicolumn_map_metric_provider import (
    MulticolumnMapMetricProvider,
)

from casehub import normalize
from casehub.masking import mask_id_number, mask_phone
from casehub.reference import Reference, load_reference

# ---------------------------------------------------------------------------------------------
# Personal fields: valid, and never quoted


def _passes(check: Callable[[str], object], value: object) -> bool:
    """Whether `check` accepts the value (and returns it unchanged: already normalized)."""
    if not isinstance(value, str):
        return False
    try:
        return check(value) == value
    except ValueError:
        return False


def _masked_id_number(value: object) -> str:
    return mask_id_number(str(value)) or ""


def _masked_phone(value: object) -> str:
    return mask_phone(str(value)) or ""


def _mask_result(result: dict[str, Any], mask: Callable[[object], str]) -> dict[str, Any]:
    """The result with every quoted value masked (the lists, the counts, the index rows)."""
    inner = result.get("result")
    if not isinstance(inner, dict):
        return result
    for key in ("partial_unexpected_list", "unexpected_list"):
        if isinstance(inner.get(key), list):
            inner[key] = [mask(v) if v is not None else None for v in inner[key]]
    if isinstance(inner.get("partial_unexpected_counts"), list):
        inner["partial_unexpected_counts"] = [
            {**entry, "value": mask(entry.get("value"))} for entry in inner["partial_unexpected_counts"]
        ]
    if isinstance(inner.get("unexpected_index_list"), list):
        inner["unexpected_index_list"] = [
            {k: (v if k == "index" else mask(v)) for k, v in entry.items()}
            if isinstance(entry, dict)
            else entry
            for entry in inner["unexpected_index_list"]
        ]
    inner.pop("unexpected_index_query", None)
    return result


class _MaskedColumnExpectation(ColumnMapExpectation):
    """A column map expectation on a personal column: its results quote masked values only."""

    mask: ClassVar[Callable[[object], str]]

    def _validate(
        self,
        metrics: dict[str, Any],
        runtime_configuration: dict[str, Any] | None = None,
        execution_engine: Any = None,
    ) -> Any:
        result = super()._validate(metrics, runtime_configuration, execution_engine)
        return _mask_result(result, type(self).mask) if isinstance(result, dict) else result


class ColumnValuesCnPhone(ColumnMapMetricProvider):
    condition_metric_name = "column_values.cn_phone"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_: Any) -> pd.Series:
        return column.map(lambda value: _passes(normalize.phone, value)).astype(bool)


class ExpectColumnValuesToBeCnPhoneNumbers(_MaskedColumnExpectation):
    """A mainland China phone number in E.164 (`+86…`) that `casehub.normalize.phone` accepts."""

    map_metric = "column_values.cn_phone"
    success_keys = ("mostly",)
    mask = _masked_phone


class ColumnValuesResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **_: Any) -> pd.Series:
        return column.map(lambda value: _passes(normalize.resident_id, value)).astype(bool)


class ExpectColumnValuesToBeResidentIdNumbers(_MaskedColumnExpectation):
    """An 18-character resident ID (GB 11643): ISO 7064 MOD 11-2 check character, a real birth date."""

    map_metric = "column_values.resident_id"
    success_keys = ("mostly",)
    mask = _masked_id_number


# ---------------------------------------------------------------------------------------------
# Places


@cache
def _reference() -> Reference:
    return load_reference()


def _reference_values(name: str) -> frozenset[str]:
    reference = _reference()
    if name == "categories":
        return frozenset(reference.categories)
    if name == "districts":
        return frozenset(reference.districts)
    raise ValueError(f"no reference table {name!r} (categories, districts)")


class ColumnValuesInReference(ColumnMapMetricProvider):
    condition_metric_name = "column_values.in_reference"
    condition_value_keys = ("reference",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, reference: str, **_: Any) -> pd.Series:
        return column.isin(_reference_values(reference))


class ExpectColumnValuesToBeInReference(ColumnMapExpectation):
    """A code of `schemas/reference/` (`reference`: `categories`, the taxonomy's 461 minors, or
    `districts`, the 13 districts of regions.csv). The values are read from the reference data
    when the rule runs, so neither the suite nor any result restates the list."""

    map_metric = "column_values.in_reference"
    reference: str
    success_keys = ("mostly", "reference")
    args_keys = ("column", "reference")


def _nested(district: object, street: object, community: object, grid: object) -> bool:
    """Each code present is a region of its level, under the code before it."""
    regions = _reference().regions
    chain = [
        (district, "district", 6),
        (street, "street", 9),
        (community, "community", 12),
        (grid, "grid", 14),
    ]
    parent: str | None = None
    for code, level, length in chain:
        if code is None or (isinstance(code, float) and pd.isna(code)):
            continue
        text = str(code)
        if len(text) != length or not text.isdigit():
            return False
        region = regions.get(text)
        if level != "grid" and (region is None or region.level != level):
            return False
        if parent is not None and not text.startswith(parent):
            return False
        parent = text
    return True


class MulticolumnRegionsNest(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.regions_nest"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @multicolumn_condition_partial(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
    def _pandas(cls, column_list: pd.DataFrame, **_: Any) -> pd.Series:
        return pd.Series(
            [_nested(*row) for row in column_list.itertuples(index=False, name=None)],
            index=column_list.index,
            dtype=bool,
        )


class ExpectRegionCodesToNest(MulticolumnMapExpectation):
    """District ⊃ street ⊃ community ⊃ grid: each code present has its level's length, is a
    region of `schemas/reference/regions.csv` (a grid's first 12 digits are its community), and
    starts with the code of the level above it."""

    map_metric = "multicolumn_values.regions_nest"
    success_keys = ("mostly",)


# ---------------------------------------------------------------------------------------------
# Requirements by nature, and deadlines


class MulticolumnNatureRequirements(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.nature_requirements"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("required",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
    def _pandas(cls, column_list: pd.DataFrame, required: Mapping[str, list[str]], **_: Any) -> pd.Series:
        natures = column_list.iloc[:, 0]
        ok = pd.Series(True, index=column_list.index)
        for nature, columns in required.items():
            rows = natures == nature
            for column in columns:
                present = column_list[column].notna() & (column_list[column] != False)  # noqa: E712
                ok &= ~rows | present
        return ok


class ExpectCaseFieldsRequiredByNature(MulticolumnMapExpectation):
    """The fields a case of each nature needs (`required`: nature → columns) are present; the
    first column of `column_list` is the nature. A boolean column counts as present when true."""

    map_metric = "multicolumn_values.nature_requirements"
    required: dict[str, list[str]]
    success_keys = ("mostly", "required")
    args_keys = ("column_list", "required")


def _close_of_business(day: date, days: int) -> pd.Timestamp:
    """Close of business on the `days`-th working day after `day`, as naive UTC."""
    from casehub.enrich.deadline import CLOSE_OF_BUSINESS, add_working_days

    last, _ = add_working_days(day, days)
    due = datetime.combine(last, CLOSE_OF_BUSINESS, normalize.SHANGHAI).astimezone(UTC).replace(tzinfo=None)
    return pd.Timestamp(due)


class MulticolumnDeadlineFollowsRules(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.deadline_follows_rules"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @multicolumn_condition_partial(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
    def _pandas(cls, column_list: pd.DataFrame, **_: Any) -> pd.Series:
        received, days, deadline = (column_list.iloc[:, i] for i in range(3))
        local_day = pd.to_datetime(received).dt.tz_localize("UTC").dt.tz_convert(normalize.SHANGHAI).dt.date
        known = received.notna() & days.notna()
        # One calendar walk per (day received, working days), not per case.
        due_of = {
            (d, int(n)): _close_of_business(d, int(n))
            for d, n in set(zip(local_day[known], days[known], strict=True))
        }
        due = pd.Series(
            [
                due_of.get((d, int(n))) if k else pd.NaT
                for d, n, k in zip(local_day, days.fillna(0), known, strict=True)
            ],
            index=column_list.index,
            dtype="datetime64[ns]",
        )
        on_time = pd.to_datetime(deadline) >= due - pd.Timedelta(seconds=1)
        return (known & on_time) | (~known & deadline.isna())


class ExpectDeadlineToFollowWorkingDays(MulticolumnMapExpectation):
    """`column_list` = received time, working days, deadline (naive UTC): the deadline is not
    before close of business on the last of the working days after receipt (Chinese holiday
    calendar, `casehub.enrich.deadline`). A postponed case's later deadline passes."""

    map_metric = "multicolumn_values.deadline_follows_rules"
    success_keys = ("mostly",)


# ---------------------------------------------------------------------------------------------
# Times


class ColumnPairNotAfter(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.not_after"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("tolerance_minutes",)

    @multicolumn_condition_partial(engine=PandasExecutionEngine)  # type: ignore[untyped-decorator]
    def _pandas(cls, column_list: pd.DataFrame, tolerance_minutes: float = 0, **_: Any) -> pd.Series:
        first, second = column_list.iloc[:, 0], column_list.iloc[:, 1]
        allowed = second + pd.Timedelta(minutes=float(tolerance_minutes))
        return (first <= allowed) | first.isna() | second.isna()


class ExpectColumnValuesToNotBeAfter(MulticolumnMapExpectation):
    """`column_list` = [A, B]: A is not after B by more than `tolerance_minutes` (rows missing
    either pass): a time the channel sent is not in the hub's future."""

    map_metric = "multicolumn_values.not_after"
    tolerance_minutes: float | dict[str, Any] = 0
    success_keys = ("mostly", "tolerance_minutes")
    args_keys = ("column_list", "tolerance_minutes")


PERSONAL_EXPECTATIONS = (
    "expect_column_values_to_be_cn_phone_numbers",
    "expect_column_values_to_be_resident_id_numbers",
)
"""The only expectation types a suite may run on a personal column (they mask what they quote)."""

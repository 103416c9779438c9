"""The enrichment rule tables: grading, handling units, routing and deadlines.

Each table is a CSV in `schemas/reference/` (`grading.csv`, `units.csv`, `routing.csv`,
`deadlines.csv`, described in docs/enrichment.md); this module reads them, refuses a table that
breaks its own contract, and indexes the rows so that a step asks a dictionary, not a loop.
A broken table is a broken reference release, so it fails the deployment with
`ConfigurationError` when loaded, never a case later.

Matching is by specificity: a rule names a value or `*` in each of its key columns, every rule
whose named values all equal the case's is a candidate, and the candidate that is most specific
wins, column by column in the order each table documents. No two rules may share a key, so two
candidates can never tie.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from casehub.errors import ConfigurationError
from casehub.reference import REFERENCE_DIR

ANY = "*"
"""A key column that matches every value."""

GRADES = ("A", "B", "C", "D")
"""A community 社区处置, B street 街道, C district 区级, D city 市级 / cross-district."""

NATURES = ("consult", "help", "complaint", "report", "suggestion", "praise")
SCOPES = ("community", "street", "district", "city")
UNIT_KINDS = ("community", "street_office", "district_department", "urban_management", "city_department")

COMMUNITY = "community"
STREET_OFFICE = "street_office"
DISPATCH = "dispatch"
"""The district's and the city's dispatch centre (民呼我应分拨中心): where a case goes whose
handler below cannot be told from what the case shows."""

TERRITORIAL = {"A": COMMUNITY, "B": STREET_OFFICE}
"""Grades handled where the case is, by the community or the street office, not by a department."""

HEADERS = {
    "grading.csv": ("rule_id", "category", "nature", "scope", "default_grade", "grade"),
    "units.csv": ("unit_code", "name", "kind", "district_code", "region_code", "department"),
    "routing.csv": ("rule_id", "category", "grade", "district_code", "department"),
    "deadlines.csv": ("rule_id", "nature", "grade", "working_days"),
}

MAX_WORKING_DAYS = 365
"""The longest time limit the case schema holds (`time_limit_days`)."""

_CATEGORY = re.compile(r"\d{2}|\d{6}")
_DISTRICT = re.compile(r"4201\d{2}")
_RULE_ID = re.compile(r"[a-z][a-z0-9_]*")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class GradingRule:
    """Cases of `category` (a minor, a major or `*`), `nature`, `scope` and taxonomy
    `default_grade` (each a value or `*`) are graded `grade`."""

    rule_id: str
    category: str
    nature: str
    scope: str
    default_grade: str
    grade: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.category, self.nature, self.scope, self.default_grade)


@dataclass(frozen=True)
class Unit:
    """A handling unit (承办单位). Communities and street offices stand for their region;
    departments serve a district, or the whole city when `district_code` is None."""

    code: str
    name: str
    kind: str
    district_code: str | None
    region_code: str | None
    department: str


@dataclass(frozen=True)
class RoutingRule:
    """Cases of `category` at `grade` in `district_code` (each a value or `*`) go to
    `department`: the community or street office of the case for grades A and B, otherwise the
    district's unit of that department for grade C and the city's for grade D."""

    rule_id: str
    category: str
    grade: str
    district_code: str
    department: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.category, self.grade, self.district_code)


@dataclass(frozen=True)
class DeadlineRule:
    """Cases of `nature` at `grade` (each a value or `*`) are due in `working_days`."""

    rule_id: str
    nature: str
    grade: str
    working_days: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.nature, self.grade)


def _options(value: str) -> tuple[str, str]:
    return (value, ANY)


def _categories(minor: str, major: str) -> tuple[str, str, str]:
    return (minor, major, ANY)


@dataclass(frozen=True)
class Rules:
    """The four tables, checked and indexed; build one with `Rules.of` or `load_rules`."""

    grading: Mapping[tuple[str, str, str, str], GradingRule]
    units: Mapping[str, Unit]
    routing: Mapping[tuple[str, str, str], RoutingRule]
    deadlines: Mapping[tuple[str, str], DeadlineRule]
    territorial_units: Mapping[str, Unit]
    district_units: Mapping[tuple[str, str], Unit]
    city_units: Mapping[str, Unit]

    @classmethod
    def of(
        cls,
        *,
        grading: Iterable[GradingRule],
        units: Iterable[Unit],
        routing: Iterable[RoutingRule],
        deadlines: Iterable[DeadlineRule],
    ) -> Rules:
        """The tables as rules, or `ConfigurationError` naming the first row that breaks them."""
        grading, units, routing, deadlines = list(grading), list(units), list(routing), list(deadlines)
        for table, rows in (("grading", grading), ("routing", routing), ("deadlines", deadlines)):
            _unique((row.rule_id for row in rows), f"rule id in {table}.csv")
        for grading_rule in grading:
            _check_grading(grading_rule)
        for unit in units:
            _check_unit(unit)
        for routing_rule in routing:
            _check_routing(routing_rule)
        for deadline_rule in deadlines:
            _check_deadline(deadline_rule)
        by_code = _index(units, lambda unit: unit.code, "unit code in units.csv")
        territorial = _index(
            (u for u in units if u.kind in (COMMUNITY, STREET_OFFICE)),
            lambda unit: unit.region_code or "",
            "region with two units in units.csv",
        )
        departments = [u for u in units if u.kind not in (COMMUNITY, STREET_OFFICE)]
        district_units = _index(
            (u for u in departments if u.district_code),
            lambda unit: (unit.district_code or "", unit.department),
            "district department in units.csv",
        )
        city_units = _index(
            (u for u in departments if not u.district_code),
            lambda unit: unit.department,
            "city department in units.csv",
        )
        rules = cls(
            grading=_index(grading, lambda rule: rule.key, "key in grading.csv"),
            units=by_code,
            routing=_index(routing, lambda rule: rule.key, "key in routing.csv"),
            deadlines=_index(deadlines, lambda rule: rule.key, "key in deadlines.csv"),
            territorial_units=territorial,
            district_units=district_units,
            city_units=city_units,
        )
        rules._check_totality()
        return rules

    def grading_rule(
        self, minor: str, major: str, nature: str, scope: str, default_grade: str
    ) -> GradingRule | None:
        """The most specific grading rule: category (minor, major, `*`) first, then nature,
        then scope, then the taxonomy's default grade; None when no rule matches."""
        for category in _categories(minor, major):
            for each_nature in _options(nature):
                for each_scope in _options(scope):
                    for default in _options(default_grade):
                        rule = self.grading.get((category, each_nature, each_scope, default))
                        if rule is not None:
                            return rule
        return None

    def routing_rule(self, minor: str, major: str, grade: str, district_code: str) -> RoutingRule:
        """The most specific routing rule: grade (the case's, then `*`) first, then category
        (minor, major, `*`), then district. Always found: `of` requires the catch-alls."""
        for each_grade in _options(grade):
            for category in _categories(minor, major):
                for district in _options(district_code):
                    rule = self.routing.get((category, each_grade, district))
                    if rule is not None:
                        return rule
        return self.routing[(ANY, ANY, ANY)]

    def deadline_rule(self, nature: str, grade: str) -> DeadlineRule:
        """The most specific deadline rule: nature first, then grade; `*,*` catches the rest."""
        for each_nature in _options(nature):
            for each_grade in _options(grade):
                rule = self.deadlines.get((each_nature, each_grade))
                if rule is not None:
                    return rule
        return self.deadlines[(ANY, ANY)]

    def dispatch_unit(self, district_code: str) -> Unit:
        """The district's dispatch centre, or the city's for a district without units."""
        return self.district_units.get((district_code, DISPATCH)) or self.city_units[DISPATCH]

    def _check_totality(self) -> None:
        """Refuse tables under which some case would route nowhere or have no deadline."""
        for grade, department in TERRITORIAL.items():
            rule = self.routing.get((ANY, grade, ANY))
            if rule is None or rule.department != department:
                raise ConfigurationError(f"routing.csv needs a rule *,{grade},* to {department}")
        if (ANY, ANY, ANY) not in self.routing:
            raise ConfigurationError("routing.csv needs a catch-all rule *,*,*")
        if (ANY, ANY) not in self.deadlines:
            raise ConfigurationError("deadlines.csv needs a catch-all rule *,*")
        if DISPATCH not in self.city_units:
            raise ConfigurationError(f"units.csv needs the city's {DISPATCH} unit")
        districts = sorted({unit.district_code for unit in self.units.values() if unit.district_code})
        for rule in self.routing.values():
            if rule.grade in TERRITORIAL:
                continue
            if rule.grade in (ANY, "D") and rule.department not in self.city_units:
                raise ConfigurationError(f"routing.csv {rule.rule_id}: no city unit for {rule.department}")
            if rule.grade in (ANY, "C"):
                served = districts if rule.district_code == ANY else [rule.district_code]
                missing = [d for d in served if (d, rule.department) not in self.district_units]
                if missing:
                    raise ConfigurationError(
                        f"routing.csv {rule.rule_id}: no {rule.department} unit in district {missing[0]}"
                    )
        for district in districts:
            if (district, DISPATCH) not in self.district_units:
                raise ConfigurationError(f"units.csv needs a {DISPATCH} unit in district {district}")


def _index(rows: Iterable[V], key: Callable[[V], K], what: str) -> Mapping[K, V]:
    index: dict[K, V] = {}
    for row in rows:
        value = key(row)
        if value in index:
            raise ConfigurationError(f"duplicate {what}: {value}")
        index[value] = row
    return MappingProxyType(index)


def _unique(values: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigurationError(f"duplicate {what}: {value}")
        seen.add(value)


def _one_of(value: str, allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise ConfigurationError(f"{what}: {value!r} is not one of {sorted(allowed)}")


def _check_category(value: str, where: str) -> None:
    if value != ANY and not _CATEGORY.fullmatch(value):
        raise ConfigurationError(f"{where}: category must be a 2-digit major, a 6-digit minor or *")


def _check_rule_id(rule_id: str, table: str) -> None:
    if not _RULE_ID.fullmatch(rule_id):
        raise ConfigurationError(f"{table}: rule id {rule_id!r} is not lower_case_with_underscores")


def _check_grading(rule: GradingRule) -> None:
    where = f"grading.csv {rule.rule_id}"
    _check_rule_id(rule.rule_id, "grading.csv")
    _check_category(rule.category, where)
    _one_of(rule.nature, (*NATURES, ANY), f"{where} nature")
    _one_of(rule.scope, (*SCOPES, ANY), f"{where} scope")
    _one_of(rule.default_grade, (*GRADES, ANY), f"{where} default_grade")
    _one_of(rule.grade, GRADES, f"{where} grade")


def _check_unit(unit: Unit) -> None:
    where = f"units.csv {unit.code}"
    _one_of(unit.kind, UNIT_KINDS, f"{where} kind")
    if not unit.code or len(unit.code) > 200 or not unit.name:
        raise ConfigurationError(f"{where}: a unit needs a code of at most 200 characters and a name")
    if unit.district_code is not None and not _DISTRICT.fullmatch(unit.district_code):
        raise ConfigurationError(f"{where}: district_code is not a Wuhan district code")
    territorial = unit.kind in (COMMUNITY, STREET_OFFICE)
    if territorial != (unit.region_code is not None):
        raise ConfigurationError(f"{where}: region_code is for communities and street offices only")
    if territorial and unit.department != unit.kind:
        raise ConfigurationError(f"{where}: a {unit.kind} unit's department is {unit.kind}")
    if not territorial and unit.department in (COMMUNITY, STREET_OFFICE):
        raise ConfigurationError(f"{where}: department {unit.department} is for territorial units")
    if (unit.kind == "city_department") != (unit.district_code is None):
        raise ConfigurationError(f"{where}: city departments, and only they, have no district")


def _check_routing(rule: RoutingRule) -> None:
    where = f"routing.csv {rule.rule_id}"
    _check_rule_id(rule.rule_id, "routing.csv")
    _check_category(rule.category, where)
    _one_of(rule.grade, (*GRADES, ANY), f"{where} grade")
    if rule.district_code != ANY and not _DISTRICT.fullmatch(rule.district_code):
        raise ConfigurationError(f"{where}: district_code is not a Wuhan district code or *")
    territorial = TERRITORIAL.get(rule.grade)
    if territorial is not None and rule.department != territorial:
        raise ConfigurationError(f"{where}: grade {rule.grade} goes to the {territorial}")
    if territorial is None and rule.department in (COMMUNITY, STREET_OFFICE):
        raise ConfigurationError(f"{where}: grade {rule.grade} goes to a department")


def _check_deadline(rule: DeadlineRule) -> None:
    where = f"deadlines.csv {rule.rule_id}"
    _check_rule_id(rule.rule_id, "deadlines.csv")
    _one_of(rule.nature, (*NATURES, ANY), f"{where} nature")
    _one_of(rule.grade, (*GRADES, ANY), f"{where} grade")
    if not 1 <= rule.working_days <= MAX_WORKING_DAYS:
        raise ConfigurationError(f"{where}: working_days must be 1 to {MAX_WORKING_DAYS}")


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of one rule table, after checking that its header is the documented one."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = tuple(reader.fieldnames or ())
    except FileNotFoundError:
        raise ConfigurationError(f"reference file missing: {path}") from None
    if header != HEADERS[path.name]:
        raise ConfigurationError(f"{path.name}: columns must be {','.join(HEADERS[path.name])}")
    return rows


def _days(row: dict[str, str]) -> int:
    value = row["working_days"]
    if not value.isdigit():
        raise ConfigurationError(f"deadlines.csv {row['rule_id']}: working_days is not a whole number")
    return int(value)


@cache
def load_rules(directory: Path = REFERENCE_DIR) -> Rules:
    """Read and check the four tables once; later calls return the same frozen object."""
    return Rules.of(
        grading=(
            GradingRule(
                rule_id=row["rule_id"],
                category=row["category"],
                nature=row["nature"],
                scope=row["scope"],
                default_grade=row["default_grade"],
                grade=row["grade"],
            )
            for row in read_table(directory / "grading.csv")
        ),
        units=(
            Unit(
                code=row["unit_code"],
                name=row["name"],
                kind=row["kind"],
                district_code=row["district_code"] or None,
                region_code=row["region_code"] or None,
                department=row["department"],
            )
            for row in read_table(directory / "units.csv")
        ),
        routing=(
            RoutingRule(
                rule_id=row["rule_id"],
                category=row["category"],
                grade=row["grade"],
                district_code=row["district_code"],
                department=row["department"],
            )
            for row in read_table(directory / "routing.csv")
        ),
        deadlines=(
            DeadlineRule(
                rule_id=row["rule_id"],
                nature=row["nature"],
                grade=row["grade"],
                working_days=_days(row),
            )
            for row in read_table(directory / "deadlines.csv")
        ),
    )

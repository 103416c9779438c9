"""`casehub stats` on a real store: cases by grade and by kind of handling unit, every key present."""

from __future__ import annotations

from sqlalchemy import update

from casehub.crypto import KeyRing
from casehub.pipeline import Pipeline
from casehub.stats import collect
from casehub.store.models import Case
from connectors.hotline import MAPPER
from tests.samples import work_order

ALL_KINDS = ("community", "street_office", "district_department", "urban_management", "city_department")


def ingest(engine, count: int) -> list[str]:
    orders = [work_order(GDBH=f"WH2026112000{number:04d}") for number in range(1, count + 1)]
    Pipeline(engine, MAPPER, KeyRing.generate()).ingest(orders)
    return [order["GDBH"] for order in orders]


def enrich_as(engine, source_id: str, grade: str, unit: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Case).where(Case.source_id == source_id).values(grade=grade, assigned_unit=unit))


def test_every_grade_and_unit_kind_is_counted(engine) -> None:
    first, second, third, fourth = ingest(engine, 4)
    enrich_as(engine, first, "A", "community.420102001001")
    enrich_as(engine, second, "A", "community.420102001002")
    enrich_as(engine, third, "C", "district.420102.urban_management")
    enrich_as(engine, fourth, "D", "city.health")
    cases = collect(engine)["cases"]
    assert cases["by_grade"] == {"A": 2, "B": 0, "C": 1, "D": 1}
    assert cases["by_unit_kind"] == {
        "community": 2,
        "street_office": 0,
        "district_department": 0,
        "urban_management": 1,
        "city_department": 1,
    }


def test_unrouted_cases_are_counted_apart_and_only_when_there_are_some(engine) -> None:
    assert collect(engine)["cases"]["by_unit_kind"] == dict.fromkeys(ALL_KINDS, 0)
    assert collect(engine)["cases"]["by_grade"] == {"A": 0, "B": 0, "C": 0, "D": 0}
    first, second = ingest(engine, 2)
    enrich_as(engine, first, "B", None)
    enrich_as(engine, second, "B", "江岸区城管执法局")  # a partner's own name for its unit, not a unit code
    by_kind = collect(engine)["cases"]["by_unit_kind"]
    assert list(by_kind) == [*ALL_KINDS, "unrouted"]
    assert by_kind["unrouted"] == 2

"""A store with something in every sealed column, written by the hub's own writers, and ways to
read all of it back: what the key-management tests rotate, re-index, scan and refuse on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from stdnum.cn import ric

from casehub import credentials, inbox
from casehub.crypto import KeyRing
from casehub.keys import SEALED
from casehub.pipeline import Pipeline
from casehub.store.models import Case
from connectors.hotline import MAPPER
from tests.samples import work_order

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
APP = "neighborhood_app"


def resident_id(area: str, born: str, sequence: str) -> str:
    body = f"{area}{born}{sequence}"
    return body + ric.calc_check_digit(body + "0")


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    """As the partner wrote it."""
    e164: str
    id_number: str


def people(count: int, *, marker: str = "") -> list[Person]:
    """Reporters with a name, a mobile and a resident ID each, distinct; `marker` goes into the
    names, so a scan can look for values no other data holds."""
    return [
        Person(
            name=f"欧阳{marker}{n}",
            phone=f"139 {7100 + n:04d} {n % 10000:04d}",
            e164=f"+86139{7100 + n:04d}{n % 10000:04d}",
            id_number=resident_id("420102", f"198{n % 10}0{1 + n % 9}1{n % 10}", f"{n % 1000:03d}"),
        )
        for n in range(count)
    ]


def orders(reporters: Sequence[Person], *, start: int = 0) -> list[dict[str, Any]]:
    """A work order per reporter, numbered from `start`: every other one a city-management case
    (transferred to urban management), the others noise complaints (dispatched to a district)."""
    return [
        work_order(
            GDBH=f"WH2026112{start + n:07d}",
            LDRXM=person.name,
            LDHM=person.phone,
            SFZHM=person.id_number,
            **({} if (start + n) % 2 == 0 else {"YWLBDM": "HL0201", "YWLBMC": "噪声扰民"}),
        )
        for n, person in enumerate(reporters)
    ]


def populate(engine: Engine, ring: KeyRing, reporters: Sequence[Person]) -> None:
    """Cases (with their raw records and dispatches to their districts), two webhooks in the
    inbox and two districts' SOAP credentials: a value in every sealed column."""
    result = Pipeline(engine, MAPPER, ring).ingest(orders(reporters))
    assert result.accepted == len(reporters), result
    for n, person in enumerate(reporters[:2]):
        body = json.dumps(
            {"type": "report.created", "data": {"reportId": f"WL{n}", "reporterPhone": person.e164}},
            ensure_ascii=False,
        ).encode()
        inbox.land(engine, ring, APP, f"msg_{n}", "report.created", body, NOW)
    for district in ("420102", "420106"):
        credentials.issue(engine, ring, district, kind="soap", now=NOW)


def opened(engine: Engine, ring: KeyRing) -> dict[tuple[str, Any, str], bytes]:
    """Every sealed value of the store opened with `ring`, by (table, row, column)."""
    found: dict[tuple[str, Any, str], bytes] = {}
    with engine.connect() as conn:
        for spec in SEALED:
            table = spec.table
            columns = [spec.row_id, spec.key_column, *spec.columns, *spec.binds]
            for row in conn.execute(select(*(table.c[name] for name in columns))).mappings():
                for name in spec.columns:
                    if row[name] is not None:
                        aad = spec.binding(row, name)
                        found[(table.name, row[spec.row_id], name)] = ring.open(
                            row[spec.key_column], row[name], aad
                        )
    return found


def key_ids(engine: Engine) -> dict[str, set[str]]:
    """Table → the key ids its sealed values are under."""
    found: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for spec in SEALED:
            column = spec.table.c[spec.key_column]
            found[spec.table.name] = set(conn.scalars(select(column).where(column.is_not(None)).distinct()))
    return found


def cases_of(engine: Engine, ring: KeyRing, e164: str) -> list[str]:
    """The cases a look-up by phone finds: its blind index under every index key of the ring."""
    with engine.connect() as conn:
        return sorted(
            conn.scalars(select(Case.case_id).where(Case.reporter_phone_index.in_(ring.blind_indexes(e164))))
        )


def case_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Case)) or 0)

"""Where the pipeline dispatches a case and what a channel's later version does to it, on SQLite and
PostgreSQL: the events each partner hears, and those it must not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from casehub.crypto import KeyRing
from casehub.partners import load_connector, partner
from casehub.pipeline import Pipeline
from casehub.store.models import Case, OutboxEvent
from tests.samples import work_order

NOISE = {"YWLBDM": "HL0201", "YWLBMC": "噪声扰民"}  # the district's to handle
VENDING = {"YWLBDM": "HL0101", "YWLBMC": "占道经营"}  # 城市管理: urban management's


def pipeline(engine: Engine, keyring: KeyRing) -> Pipeline:
    return Pipeline(engine, load_connector(partner("hotline")).MAPPER, keyring)


def events(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(OutboxEvent.partner, OutboxEvent.kind, OutboxEvent.target).order_by(OutboxEvent.id)
        )
        return [tuple(row) for row in rows]


def status(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Case.source_id, Case.status)).all())


def test_a_new_case_is_dispatched_to_its_district_or_transferred_to_urban_management(
    engine: Engine, keyring: KeyRing
) -> None:
    page = pipeline(engine, keyring).ingest(
        [work_order(GDZT="01", **NOISE), work_order(GDBH="WH20261120000002", GDZT="01", **VENDING)]
    )
    assert page.accepted == 2
    assert sorted(events(engine)) == [("district", "dispatch", "420102"), ("urban_mgmt", "transfer", None)]
    assert set(status(engine).values()) == {"dispatched"}


def test_a_case_ended_at_its_channel_later_cancels_the_district_but_tells_urban_management_nothing(
    engine: Engine, keyring: KeyRing
) -> None:
    flow = pipeline(engine, keyring)
    flow.ingest([work_order(GDZT="01", **NOISE), work_order(GDBH="WH20261120000002", GDZT="01", **VENDING)])
    ended = {"GDZT": "09", "GXSJ": "2026-11-20 10:00:00"}  # 已撤销 at the hotline
    flow.ingest([work_order(**NOISE, **ended), work_order(GDBH="WH20261120000002", **VENDING, **ended)])
    assert sorted(events(engine)) == [
        ("district", "cancel", "420102"),
        ("district", "dispatch", "420102"),
        ("urban_mgmt", "transfer", None),  # urban management hears no cancellations (its manifest kinds)
    ]
    assert set(status(engine).values()) == {"cancelled"}


def test_a_page_that_dispatches_and_ends_a_case_sends_neither(engine: Engine, keyring: KeyRing) -> None:
    page = pipeline(engine, keyring).ingest(
        [
            work_order(GDZT="01", **NOISE),
            work_order(
                GDZT="04",
                GXSJ="2026-11-20 11:00:00",
                BJSJ="2026-11-20 11:00:00",
                BLJG="已联系商户整改。",
                **NOISE,
            ),
        ]
    )
    assert page.accepted == 2
    assert events(engine) == []
    assert status(engine) == {"WH20261120000001": "completed"}


def test_a_channels_later_version_keeps_the_hubs_workflow(engine: Engine, keyring: KeyRing) -> None:
    flow = pipeline(engine, keyring)
    flow.ingest([work_order(GDZT="01", **NOISE)])
    flow.ingest(
        [work_order(GDZT="03", GXSJ="2026-11-20 10:00:00", BT="楼下烧烤店油烟噪音扰民（补充）", **NOISE)]
    )
    with engine.connect() as conn:
        case = conn.execute(select(Case.status, Case.title, Case.version)).one()
    assert tuple(case) == ("dispatched", "楼下烧烤店油烟噪音扰民（补充）", 2)
    assert events(engine) == [("district", "dispatch", "420102")]

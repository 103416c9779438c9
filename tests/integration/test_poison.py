"""Hostile and malformed records on the ingest path, on SQLite and on PostgreSQL, for every channel.

Whatever one record holds, it lands (sealed) and ends accepted or quarantined with a reason that
names its field; the good records of its page land beside it, and the store reconciles. Each
page here mixes good records with poison: a sweep of every JSON type and every troublesome value
in every field, and the cases seen in the field (NUL in text, unpaired surrogates, integers
beyond 64 bits, times at the ends of the calendar or in the future, ids and addresses over
their limits, records that are not objects or not JSON at all).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from casehub.crypto import KeyRing
from casehub.pipeline import Pipeline, content_hash, landing_body
from casehub.ports import Mapper, PageRecord, UnreadableRecord
from casehub.stats import collect
from casehub.store import Case, Quarantine, RawRecord
from connectors.hotline import MAPPER as HOTLINE
from connectors.message_board import MAPPER as BOARD
from connectors.neighborhood_app import MAPPER as APP
from connectors.urban_mgmt import MAPPER as URBAN
from tests.samples import board_message, case_file, report, work_order

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LONG = "长" * 10_001
"""Longer than any text the unified case holds (content: 10 000)."""

UNIFIED = {
    "hotline": {
        "GDBH": "/source_id",
        "LDRXM": "/reporter/name",
        "BT": "/title",
        "SQNR": "/content",
        "FSDZ": "/address",
        "BLJG": "/result",
        "GDZT": "/source_status",
        "YWLBDM": "/source_category",
    },
    "message_board": {
        "id": "/source_id",
        "nickName": "/reporter/name",
        "title": "/title",
        "content": "/content",
        "address": "/address",
        "replyContent": "/result",
        "replyOrg": "/result",
        "status": "/source_status",
        "typeId": "/source_category",
    },
    "urban_mgmt": {
        "CaseNo": "/source_id",
        "ReporterName": "/reporter/name",
        "MinorName": "/title",
        "Description": "/content",
        "Address": "/address",
        "Result": "/result",
        "StatusCode": "/source_status",
        "CategoryCode": "/source_category",
    },
    "neighborhood_app": {
        "reportId": "/source_id",
        "reporterName": "/reporter/name",
        "title": "/title",
        "content": "/content",
        "address": "/address",
        "handlingResult": "/result",
        "status": "/source_status",
        "categoryCode": "/source_category",
    },
}
"""Partner field → the unified case's path, as the schema's reasons name it."""

HOTLINE_VALUES: list[Any] = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01",
    "\ud800",
    "x" * 65,
    "x" * 201,
    "x" * 501,
    LONG,
    "9999-12-31 23:00:00Z",
    "0001-01-01 00:00:00",
    "2026-02-30 10:00:00",
    "99999999999999999999",
    "-1",
    "NaN",
    "１２３",
    "\u202e反转",
    "'; drop table cases; --",
    None,
    0,
    2**70,
    [],
    {},
]
"""What the hotline's strings can hold, and what a broken SOAP stack might hand on instead."""

BOARD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    2**64 + 1,
    -(2**70),
    1.5,
    1e308,
    "",
    " ",
    "\x00",
    "title\x00",
    "\ud800",
    "x" * 65,
    "x" * 501,
    LONG,
    "abc",
    "２０２６",
    "9" * 30,
    [],
    [1],
    {},
    {"a": 1},
    [[[[[]]]]],
]
"""Every JSON type, and the values of each type that break naive code."""

MUST_QUARANTINE = ("\x00", "\ud800", LONG, 2**64 + 1, -(2**70))
"""Values that may never reach a case whatever the field (NUL, surrogates, limits, big ints)."""

UNREAD = {
    "hotline": {"YWLBMC"},
    "message_board": {"typeName"},
    "urban_mgmt": {
        "MajorName",  # read only for a title when MinorName is empty
        "SourceName",
        "DistrictName",
        "StreetName",
        "CommunityName",
        "SupervisorId",
        "StatusName",
        "Department",
        "RegisterTime",
        "Progress",
    },
    "neighborhood_app": {"categoryName", "communityName", "handlingUnit"},
}
"""Fields no mapper reads (names beside codes, the partner's own routing and log): kept in the
sealed raw only."""

CUT = {"urban_mgmt": {"MinorName"}}
"""Fields the hub composes into a longer text of its own and cuts to length (the case file's
title, from its category name and address): an over-long one is cut, not a defect."""

SWEEPS: dict[str, tuple[Any, str, list[Any]]] = {
    "hotline": (work_order, "GDBH", HOTLINE_VALUES),
    "message_board": (board_message, "id", BOARD_VALUES),
    "urban_mgmt": (case_file, "CaseNo", HOTLINE_VALUES),
    "neighborhood_app": (report, "reportId", BOARD_VALUES),
}
"""Each channel's record builder, id field and the values its fields may be swept with: the
SOAP partners' strings, the JSON partners' every type."""
MAPPERS = [HOTLINE, BOARD, URBAN, APP]
IDS = [mapper.channel for mapper in MAPPERS]


def _names_field(reason: Mapping[str, str], field: str, channel: str) -> bool:
    where = reason["field"]
    return field in where or where == UNIFIED[channel].get(field) or where == f"/{field}"


def _outcomes(engine: Engine, page: list[PageRecord], channel: str) -> list[tuple[str, list[dict[str, str]]]]:
    """(outcome, open reasons) for each record of `page`, found by its landed content hash."""
    hashes = []
    for record in page:
        body = record.body if isinstance(record, UnreadableRecord) else landing_body(record)[0]
        hashes.append(content_hash(channel, body))
    with engine.connect() as conn:
        landed = {
            row.content_hash: (row.outcome, row.reasons or [])
            for row in conn.execute(
                select(RawRecord.content_hash, RawRecord.outcome, Quarantine.reasons)
                .outerjoin(Quarantine, Quarantine.raw_id == RawRecord.raw_id)
                .where(RawRecord.channel == channel)
            )
        }
    return [landed[digest] for digest in hashes]


def _sweep(channel: str) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    build, id_field, values = SWEEPS[channel]
    records, what = [], []
    for field in sorted(build()):
        for number, value in enumerate(values):
            unique = f"P{field}{number}"[:60]
            records.append(build(**{id_field: unique, field: value}))
            what.append((field, value))
    return records, what


def _good(channel: str, count: int) -> list[dict[str, Any]]:
    build, id_field, _ = SWEEPS[channel]
    if channel == "message_board":
        return [build(id=990000 + n) for n in range(count)]
    return [build(**{id_field: f"GOOD{n:04d}"}) for n in range(count)]


def _pipeline(engine: Engine, mapper: Mapper, keyring: KeyRing) -> Pipeline:
    return Pipeline(engine, mapper, keyring, clock=lambda: NOW)


@pytest.mark.parametrize("mapper", MAPPERS, ids=IDS)
def test_every_value_in_every_field_costs_at_most_its_own_record(
    engine: Engine, keyring: KeyRing, mapper: Mapper
) -> None:
    channel = mapper.channel
    poison, what = _sweep(channel)
    good = _good(channel, 6)
    page: list[PageRecord] = [*good[:2], *poison[: len(poison) // 2], *good[2:4], *poison[len(poison) // 2 :]]
    page.extend(good[4:])

    result = _pipeline(engine, mapper, keyring).ingest(page)

    assert result.received == len(page)
    outcomes = dict(zip((id(r) for r in page), _outcomes(engine, page, channel), strict=True))
    assert all(outcomes[id(record)][0] == "accepted" for record in good)
    for record, (field, value) in zip(poison, what, strict=True):
        outcome, reasons = outcomes[id(record)]
        label = f"{field}={value!r:.40}"
        assert outcome in ("accepted", "quarantined"), label
        if outcome == "quarantined":
            assert any(_names_field(r, field, channel) for r in reasons), (label, reasons)
            if isinstance(value, str) and len(value) >= 5:
                assert all(value not in r["message"] for r in reasons), label
        poisonous = any(value == bad for bad in MUST_QUARANTINE if type(bad) is type(value))
        cut = value is LONG and field in CUT.get(channel, set())
        if poisonous and field not in UNREAD[channel] and not cut:
            assert outcome == "quarantined", label
    with engine.connect() as conn:
        landed = set(conn.scalars(select(Case.source_id)))
    assert {str(r[SWEEPS[channel][1]]) for r in good} <= landed
    assert collect(engine)["reconciled"]


def _field_cases(channel: str) -> list[tuple[str, PageRecord, str, str]]:
    """(name, record, reason code, field) for each poison case seen in the field."""
    if channel == "hotline":
        w = work_order
        return [
            ("id over 64 characters", w(GDBH="WH" + "9" * 63), "invalid_id", "GDBH"),
            ("address over 500", w(GDBH="P2", FSDZ="江" * 501), "schema_maxLength", "/address"),
            ("name over 100", w(GDBH="P3", LDRXM="王" * 101), "schema_maxLength", "/reporter/name"),
            (
                "update time 9999-12-31 23:00Z",
                w(GDBH="P4", GXSJ="9999-12-31 23:00:00Z"),
                "invalid_time",
                "GXSJ",
            ),
            ("update time 0001-01-01", w(GDBH="P5", GXSJ="0001-01-01 00:00:00"), "invalid_time", "GXSJ"),
            ("update time next year", w(GDBH="P6", GXSJ="2027-11-28 20:00:00"), "future_time", "GXSJ"),
            ("NUL in the content", w(GDBH="P7", SQNR="有\x00人"), "invalid_value", "SQNR"),
            ("days as a huge number", w(GDBH="P8", BLSX="9" * 40), "invalid_value", "BLSX"),
        ]
    b = board_message
    deep = UnreadableRecord(
        body=b"[" * 200_000 + b"]" * 200_000,
        code="unreadable_record",
        message="nested deeper than the parser allows",
    )
    not_utf8 = UnreadableRecord(
        body=b'{"id": 1, "title": "\xff\xfe"}', code="unreadable_record", message="not valid UTF-8"
    )
    return [
        ("NUL in the title", b(id=1, title="路灯\x00不亮"), "invalid_value", "title"),
        ("NUL in the content", b(id=2, content="\x00"), "invalid_value", "content"),
        ("NUL in the address", b(id=3, address="江汉路\x00"), "invalid_value", "address"),
        ("NUL in the reply", b(id=4, replyContent="已\x00处理"), "invalid_value", "replyContent"),
        ("NUL in the id", b(id="88\x000"), "invalid_value", "id"),
        ("unpaired surrogate", b(id=6, title="\udc80"), "unencodable_value", "/title"),
        ("id above 2^64", b(id=2**64 + 7), "unencodable_value", "/id"),
        ("updateTime as a string", b(id=8, updateTime="yesterday"), "invalid_time", "updateTime"),
        ("updateTime as an object", b(id=9, updateTime={"ms": 1}), "invalid_value", "updateTime"),
        ("id over 64 characters", b(id="9" * 65), "invalid_id", "id"),
        ("address over 500", b(id=11, address="汉" * 501), "schema_maxLength", "/address"),
        ("update time 9999-12-31 23:00Z", b(id=12, updateTime=253402297200000), "invalid_time", "updateTime"),
        ("update time before 1970", b(id=13, updateTime=-62135596800000), "invalid_time", "updateTime"),
        ("update time next year", b(id=14, updateTime=1827316800000), "future_time", "updateTime"),
        ("nested 300 deep", b(id=15, title=_nested(300)), "unencodable_value", "/title"),
        ("a number, not an object", 5, "not_an_object", "/"),
        ("a string, not an object", "留言", "not_an_object", "/"),
        ("null, not an object", None, "not_an_object", "/"),
        ("nested 200 000 deep", deep, "unreadable_record", "/"),
        ("not UTF-8", not_utf8, "unreadable_record", "/"),
    ]


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("mapper", [HOTLINE, BOARD], ids=["hotline", "message_board"])
def test_each_poison_case_seen_in_the_field_is_quarantined_with_its_reason(
    engine: Engine, keyring: KeyRing, mapper: Mapper
) -> None:
    channel = mapper.channel
    cases = _field_cases(channel)
    good = _good(channel, 3)
    page: list[PageRecord] = [good[0], *(record for _, record, _, _ in cases), good[1], good[2]]

    result = _pipeline(engine, mapper, keyring).ingest(page)

    assert (result.accepted, result.quarantined) == (3, len(cases))
    outcomes = _outcomes(engine, page, channel)
    for (name, _, code, field), (outcome, reasons) in zip(cases, outcomes[1:-2], strict=True):
        assert outcome == "quarantined", name
        assert (code, field) in {(r["code"], r["field"]) for r in reasons}, (name, reasons)
    assert [o for o, _ in outcomes[:1] + outcomes[-2:]] == ["accepted"] * 3
    assert collect(engine)["reconciled"]


@pytest.mark.parametrize("mapper", [HOTLINE, BOARD], ids=["hotline", "message_board"])
def test_replaying_poison_keeps_it_quarantined_and_breaks_nothing(
    engine: Engine, keyring: KeyRing, mapper: Mapper
) -> None:
    channel = mapper.channel
    cases = _field_cases(channel)
    pipeline = _pipeline(engine, mapper, keyring)
    pipeline.ingest([record for _, record, _, _ in cases])

    counts = pipeline.replay()

    assert counts["replayed"] == len(cases)
    assert counts["still_quarantined"] == len(cases)
    assert collect(engine)["reconciled"]


def test_duplicated_ids_within_a_page_are_versions_applied_in_time_order(
    engine: Engine, keyring: KeyRing
) -> None:
    older = board_message(id=7, status="已受理", updateTime=1764200000000)
    newer = board_message(id=7, status="已回复", updateTime=1764207000000)
    page: list[PageRecord] = [newer, older, dict(newer), board_message(id=8)]

    result = _pipeline(engine, BOARD, keyring).ingest(page)

    assert (result.received, result.duplicates, result.accepted, result.superseded) == (4, 1, 3, 0)
    with engine.connect() as conn:
        case = conn.execute(select(Case.source_status, Case.version).where(Case.source_id == "7")).one()
    assert tuple(case) == ("已回复", 2)
    assert collect(engine)["reconciled"]


@pytest.mark.parametrize(
    ("mapper", "first", "second"),
    [
        (
            BOARD,
            board_message(updateTime=1764207000000),
            board_message(updateTime=1764207000600, title="路灯已修好"),
        ),
        (
            HOTLINE,
            work_order(GXSJ="2026-11-20 09:00:00.250"),
            work_order(GXSJ="2026-11-20 09:00:00.850", BT="已修好"),
        ),
    ],
    ids=["message_board", "hotline"],
)
def test_two_versions_within_one_second_are_ordered_exactly(
    engine: Engine, keyring: KeyRing, mapper: Mapper, first: dict[str, Any], second: dict[str, Any]
) -> None:
    pipeline = _pipeline(engine, mapper, keyring)
    pipeline.ingest([first])
    assert pipeline.ingest([second]).accepted == 1
    assert pipeline.ingest([first]).accepted == 0
    with engine.connect() as conn:
        case = conn.execute(select(Case.title, Case.version, Case.updated_at)).one()
    assert case.title == second.get("title", second.get("BT"))
    assert case.version == 2
    assert case.updated_at.microsecond in (600_000, 850_000)
    assert collect(engine)["reconciled"]


def test_a_future_version_never_freezes_its_case(engine: Engine, keyring: KeyRing) -> None:
    pipeline = _pipeline(engine, BOARD, keyring)
    far = int((NOW + timedelta(days=365)).timestamp() * 1000)
    near = int((NOW + timedelta(minutes=2)).timestamp() * 1000)
    pipeline.ingest([board_message(updateTime=far, title="来自未来")])
    assert collect(engine)["quarantined"]["by_reason"] == {"future_time": 1}

    assert pipeline.ingest([board_message(updateTime=near, title="时钟略快")]).accepted == 1
    with engine.connect() as conn:
        assert conn.scalar(select(Case.title)) == "时钟略快"
    stats = collect(engine)
    assert stats["quarantined"]["total"] == 0, "the accepted version supersedes the future one"
    assert stats["reconciled"]

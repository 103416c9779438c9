"""Generated partner data is reproducible, realistic, and its defects are what the truth says."""

from __future__ import annotations

import random
from datetime import date, datetime

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from simulators import people
from simulators.gazetteer import DISTRICTS
from simulators.generator import dump, generate
from simulators.records import SHANGHAI, Options, Record, parse_local, to_ms
from simulators.reference import hotline_categories, message_board_statuses, message_board_types

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
DISTRICT_NAMES = {name for d in DISTRICTS for name in (d.name, d.short_name)}


def _hotline(seed: int = 42, **options: object) -> tuple[Record, ...]:
    return generate("hotline", Options(seed=seed, anchor=ANCHOR, **options))  # type: ignore[arg-type]


def _board(seed: int = 42, **options: object) -> tuple[Record, ...]:
    return generate("message_board", Options(seed=seed, records=200, anchor=ANCHOR, **options))  # type: ignore[arg-type]


def _valid_phone(text: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, "CN"))
    except phonenumbers.NumberParseException:
        return False


@pytest.mark.parametrize("partner", ["hotline", "message_board"])
def test_the_same_seed_gives_the_same_bytes(partner: str) -> None:
    options = Options(seed=7, records=120, anchor=ANCHOR)
    assert dump(generate(partner, options)) == dump(generate(partner, options))
    other = Options(seed=8, records=120, anchor=ANCHOR)
    assert dump(generate(partner, options)) != dump(generate(partner, other))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.dates(date(2000, 1, 1), date(2035, 12, 31)))
def test_resident_ids_pass_or_fail_gb11643_as_meant(seed: int, today: date) -> None:
    rng = random.Random(seed)
    assert ric.is_valid(people.resident_id(rng, today))
    broken = people.bad_resident_id(rng, today)
    with pytest.raises(ric.InvalidChecksum):
        ric.validate(broken)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_phone_numbers_are_valid_in_every_written_form_and_bad_ones_are_not(seed: int) -> None:
    rng = random.Random(seed)
    assert _valid_phone(people.written_form(people.mobile(rng), rng))
    assert _valid_phone(people.written_form(people.landline(rng), rng))
    assert not _valid_phone(people.bad_phone(rng))


@pytest.mark.parametrize("seed", [1, 42, 2025])
def test_hotline_defects_are_what_the_truth_says(seed: int) -> None:
    published = {category.code for category in hotline_categories()}
    for record in _hotline(seed, defect_rate=0.1):
        order, defects = record.current.payload, record.defects
        if order["SFZHM"]:
            assert ric.is_valid(order["SFZHM"]) != ("bad_id_number" in defects)
        assert (order["YWLBDM"] not in published) == ("unknown_category" in defects)
        assert (order["SSQX"] not in DISTRICT_NAMES) == ("unknown_district" in defects)
        assert (not order["BT"] or not order["SQNR"]) == ("missing_field" in defects)
        assert _valid_phone(order["LDHM"]) != ("bad_phone" in defects)
        if "stale_resend" in defects:
            assert len(record.versions) >= 2
        assert "outside_city" not in defects


@pytest.mark.parametrize("seed", [1, 42, 2025])
def test_message_board_defects_are_what_the_truth_says(seed: int) -> None:
    published = {int(kind.code) for kind in message_board_types()}
    for record in _board(seed, defect_rate=0.1):
        message, defects = record.current.payload, record.defects
        assert (message["typeId"] not in published) == ("unknown_category" in defects)
        assert (message["areaName"] not in DISTRICT_NAMES) == ("unknown_district" in defects)
        assert (not message["title"] or not message["content"]) == ("missing_field" in defects)
        if message["phone"]:
            assert _valid_phone(message["phone"]) != ("bad_phone" in defects)
        if "outside_city" in defects:
            assert message["longitude"] is not None


def test_work_order_times_and_fields_agree_with_status() -> None:
    start, end = to_ms(datetime(2025, 3, 3, tzinfo=SHANGHAI)), to_ms(ANCHOR)
    for record in _hotline():
        assert 1 <= len(record.versions) <= 3
        updates = [parse_local(v.payload["GXSJ"]) for v in record.versions]
        assert updates == sorted(set(updates))
        assert start <= updates[0]
        assert updates[-1] < end
        for version in record.versions:
            order = version.payload
            assert order["LDSJ"] <= order["GXSJ"]
            assert bool(order["BJSJ"]) == (order["GDZT"] in ("04", "05"))
            assert not order["BJSJ"] or order["LDSJ"] <= order["BJSJ"] <= order["GXSJ"]
            assert bool(order["MYD"]) == (order["GDZT"] == "05")
            assert set(order) == {
                "GDBH",
                "LDSJ",
                "LDRXM",
                "LDHM",
                "LXDH",
                "SFZHM",
                "SQLX",
                "BT",
                "SQNR",
                "SSQX",
                "FSDZ",
                "YWLBDM",
                "YWLBMC",
                "JJCD",
                "BLSX",
                "GDZT",
                "GXSJ",
                "BJSJ",
                "BLJG",
                "MYD",
            }
            assert all(isinstance(value, str) for value in order.values())


def test_work_orders_look_like_wuhan_calls() -> None:
    orders = [record.current.payload for record in _hotline()]
    assert len({order["GDBH"] for order in orders}) == len(orders)
    assert all(order["GDBH"][2:10] == order["LDSJ"][:10].replace("-", "") for order in orders)
    assert len({order["BT"] for order in orders}) > 250
    with_id = sum(1 for order in orders if order["SFZHM"])
    assert 5 <= with_id <= 60
    assert any(order["LDHM"].startswith("027") for order in orders)
    assert any(order["LDHM"].startswith(("+86", "0086")) for order in orders)


def test_messages_move_through_statuses_with_replies() -> None:
    waiting = set(message_board_statuses()[:2])
    messages = [record.current.payload for record in _board()]
    pinned = [m for m in messages if m["longitude"] is not None]
    assert 0.65 < len(pinned) / len(messages) < 0.95
    for message in messages:
        assert message["createTime"] <= message["updateTime"]
        assert (message["replyTime"] is None) == (message["status"] in waiting)
        assert message["replyTime"] is None or message["replyTime"] <= message["updateTime"]

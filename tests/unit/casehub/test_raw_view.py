"""A landed record as a person sees it: personal values masked wherever they stand."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from casehub.partners import load_connector, load_partners
from casehub.raw_view import flattened, mask_address, masked_record

KINDS = {"name", "phone", "id_number", "address"}


def test_every_channel_cases_come_in_from_names_its_personal_fields() -> None:
    for spec in load_partners():
        if spec.pull or spec.push_in:
            personal = load_connector(spec).MAPPER.personal_fields
            assert set(personal.values()) <= KINDS, spec.code
            assert {"name", "phone", "address"} <= set(personal.values()), spec.code


def test_an_address_keeps_its_district_and_street_only() -> None:
    assert mask_address("江汉区民族街道友谊路58号门前") == "江汉区民族街道****"
    assert mask_address("武汉市洪山区珞喻路1037号") == "武汉市洪山区****"
    assert mask_address("江汉路步行街附近") == "江汉****"


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
spellings = st.sampled_from(["{n}", "+86 {a} {b} {c}", "0086{n}", "{a}-{b}-{c}"])
words = st.text(alphabet="请联系我电话小区楼下，。的", max_size=8)


@given(mobiles, spellings, words, words)
def test_a_mobile_number_in_free_text_never_shows_whole(
    number: str, spelling: str, before: str, after: str
) -> None:
    written = spelling.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    shown = masked_record({"SQNR": before + written + after}, {"LDHM": "phone"})["SQNR"]
    assert number not in re.sub(r"[^0-9]", "", shown) and "****" in shown
    assert shown.startswith(before) and shown.endswith(after)


def test_the_records_own_values_are_masked_in_its_other_fields() -> None:
    raw = {
        "name": "李娟",
        "tel": "+86 139 0712 3456",
        "at": "江汉区民族街道友谊路58号门前",
        "text": "李娟在友谊路58号门前",
    }
    shown = masked_record(raw, {"name": "name", "tel": "phone", "at": "address"})
    assert shown == {"name": "李*", "tel": "+86139****3456", "at": "江汉区民族街道****", "text": "李*在****"}


def test_a_connector_that_names_nothing_has_everything_masked() -> None:
    shown = masked_record({"id": "A1", "who": "张明", "n": 13800138000, "at": {"lng": 114.3}}, None)
    assert shown == {"id": "**", "who": "**", "n": "***********", "at": {"lng": "***.*"}}


def test_a_nested_record_flattens_to_paths() -> None:
    assert flattened({"a": {"b": [{"c": 1}, {"c": 2}]}, "d": ""}) == [
        ("a.b[0].c", 1),
        ("a.b[1].c", 2),
        ("d", ""),
    ]

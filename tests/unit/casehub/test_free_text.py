"""Free text as it leaves the hub: the phone and ID numbers residents write into titles,
contents and addresses masked in every form they write them, ordinary numbers left alone, and an
address cut to its street where a recipient may have no more."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casehub.masking import mask_free_text, mask_id_number, street_level


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("LDHM is not a valid phone number", "LDHM is not a valid phone number"),
        ("called from 13800138000", "called from 138****8000"),
        ("called from +86 138 0013 8000", "called from +86138****8000"),
        ("电话：0086-138-0013-8000。", "电话：+86138****8000。"),
        ("手机１３８００１３８０００", "手机138****8000"),
        ("座机027-85123456转8001", "座机027****3456转8001"),
        ("（０２７）８５１２ ３４５６", "027****3456"),
        ("+86 27 8512 3456", "027****3456"),
        ("ID 42010219900307123X", "ID 420102***********X"),
        ("身份证 420102 19900307 123x", "身份证 420102***********X"),
        ("老身份证420102900307123", f"老身份证{mask_id_number('420102900307123')}"),
        ("工资卡6222021234567890123", "工资卡***************0123"),
        ("grid 420102 and page 12345", "grid 420102 and page 12345"),
    ],
)
def test_numbers_in_free_text_are_masked_in_every_form_residents_write_them(text: str, shown: str) -> None:
    assert mask_free_text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "2026年11月20日下午3点，2026-11-20 15:30:00，20261120",
        "江岸区解放大道1000号3栋2单元502室，楼下58号门面",
        "拖欠工资12000元，共计1,234,567.89元，退款¥3500",
        "网格42010200100201，社区420102001002，工单WH20261120000002",
        "2019年1月至2020年9月共745万件，满意率98.5%",
        "时间戳1732000000000，第13期",
    ],
)
def test_ordinary_numbers_are_left_as_written(text: str) -> None:
    assert mask_free_text(text) == text


WORDS = "请联系我电话小区楼下反映情况，。、：的家门口"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

prose = st.text(alphabet=WORDS, max_size=12)
mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
wuhan_lines = st.from_regex(r"\A[2-9][0-9]{7}\Z")
regions = st.from_regex(r"\A[1-9][0-9]{5}\Z")
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)).map(
    lambda day: day.strftime("%Y%m%d")
)
id_numbers = st.builds(
    lambda region, birth, sequence, check: region + birth + sequence + check,
    regions,
    births,
    st.from_regex(r"\A[0-9]{3}\Z"),
    st.sampled_from("0123456789X"),
)


def _separated(digits: str, groups: tuple[int, ...], separator: str) -> str:
    parts, at = [], 0
    for size in groups:
        parts.append(digits[at : at + size])
        at += size
    return separator.join(parts + ([digits[at:]] if at < len(digits) else []))


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str]:
    number = draw(mobiles)
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "(+86)"]))
    separator = draw(st.sampled_from(["", " ", "-", " - ", "\u3000"]))
    written = prefix + _separated(number, (3, 4), separator)
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return number, written


@st.composite
def written_landlines(draw: st.DrawFn) -> tuple[str, str]:
    subscriber = draw(wuhan_lines)
    area = draw(
        st.sampled_from(["027", "027-", "027 ", "(027)", "（027）", "+86 27 ", "+86-27-", "0086 027 "])
    )
    written = area + _separated(subscriber, (4,), draw(st.sampled_from(["", " ", "-"])))
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return subscriber, written


@st.composite
def written_ids(draw: st.DrawFn) -> tuple[str, str]:
    number = draw(id_numbers)
    groups = draw(st.sampled_from([(), (6, 8), (4, 4, 4, 4), (3, 3, 4, 4), (6, 4, 4, 4)]))
    written = _separated(number, groups, draw(st.sampled_from([" ", "-", "\u3000"])))
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH).replace("X", "Ｘ")
    if draw(st.booleans()):
        written = written.replace("X", "x")
    return number, written


def _digits(text: str) -> str:
    folded = text.translate(str.maketrans("０１２３４５６７８９Ｘｘx", "0123456789XXX"))
    return re.sub(r"[^0-9X]", "", folded)


@settings(max_examples=300)
@given(written_mobiles(), prose, prose)
def test_a_mobile_number_never_shows_whole_however_it_is_written(
    mobile: tuple[str, str], before: str, after: str
) -> None:
    number, written = mobile
    shown = mask_free_text(before + written + after)
    assert shown.startswith(before) and shown.endswith(after)
    masked = shown.removeprefix(before).removesuffix(after)
    assert "****" in masked
    assert _digits(masked) in {number[:3] + number[-4:], "86" + number[:3] + number[-4:]}


@settings(max_examples=300)
@given(written_landlines(), prose, prose)
def test_a_wuhan_landline_never_shows_whole_however_it_is_written(
    landline: tuple[str, str], before: str, after: str
) -> None:
    subscriber, written = landline
    shown = mask_free_text(before + written + after)
    assert shown == f"{before}027****{subscriber[-4:]}{after}"


@settings(max_examples=300)
@given(written_ids(), prose, prose)
def test_a_resident_id_shows_its_region_and_check_character_only(
    id_number: tuple[str, str], before: str, after: str
) -> None:
    number, written = id_number
    shown = mask_free_text(before + written + after)
    assert shown == f"{before}{mask_id_number(number)}{after}"
    assert shown.count("*") == 11 and number[6:17] not in _digits(shown)


@st.composite
def ordinary_numbers(draw: st.DrawFn) -> str:
    """Numbers free text holds that are no one's: dates, times, doors, amounts, counts, codes."""
    day = draw(st.dates(min_value=date(1990, 1, 1)))
    return draw(
        st.sampled_from(
            [
                day.strftime("%Y-%m-%d"),
                day.strftime("%Y年%m月%d日"),
                day.strftime("%Y%m%d"),
                day.strftime("%Y/%m/%d %H:%M"),
                f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
                f"{draw(st.integers(1, 9999))}号",
                f"{draw(st.integers(1, 99))}栋{draw(st.integers(1, 9))}单元{draw(st.integers(101, 3299))}室",
                f"{draw(st.integers(1, 99_999_999))}元",
                f"{draw(st.integers(1, 999_999)):,}.{draw(st.integers(0, 99)):02d}元",
                f"{draw(st.floats(0, 100, allow_nan=False)):.1f}%",
                f"420102{draw(st.integers(0, 99_999_999)):08d}",
            ]
        )
    )


@settings(max_examples=300)
@given(st.lists(st.tuples(prose, ordinary_numbers()), max_size=6), prose)
def test_ordinary_numbers_in_free_text_are_never_changed(parts: list[tuple[str, str]], end: str) -> None:
    text = "".join(words + "，" + number for words, number in parts) + end
    assert mask_free_text(text) == text


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_masking_adds_no_digit_and_a_second_pass_changes_nothing(text: str) -> None:
    once = mask_free_text(text)
    assert mask_free_text(once) == once
    assert len(_digits(once)) <= len(_digits(text))


@pytest.mark.parametrize(
    ("address", "street"),
    [
        ("武汉市江汉区民族街道友谊路58号门前", "武汉市江汉区民族街道友谊路"),
        ("江岸区解放大道1000号3栋502室", "江岸区解放大道"),
        ("洪山区卓刀泉街花山新城３１栋３单元", "洪山区卓刀泉街"),
        ("友谊大道中南小区附近", "友谊大道"),
        ("三阳路与惠济路交叉口", "三阳路与惠济路"),
        ("一元街二七路五十八号", "一元街二七路"),
        ("南湖花园23栋顶楼", None),
        ("花山社区5栋", None),
        ("", None),
        (None, None),
    ],
)
def test_an_address_at_street_level_keeps_the_road_and_drops_the_door(
    address: str | None, street: str | None
) -> None:
    assert street_level(address) == street


doors = st.builds(
    lambda number, unit: f"{number}{unit}",
    st.integers(1, 9999),
    st.sampled_from(["号", "栋", "号院", "号3栋2单元501室", "号门前"]),
)
places = st.sampled_from(["江岸区", "武汉市江汉区民族街道", "洪山区关山街", "", "东湖新技术开发区"])
roads = st.sampled_from(["解放大道", "友谊路", "中山大道", "二七路", "汉正街", "珞喻路"])


@settings(max_examples=300)
@given(places, roads, doors, st.text(alphabet="小区花园新城附近旁对面", max_size=6))
def test_no_door_number_survives_the_street_level(place: str, road: str, door: str, rest: str) -> None:
    street = street_level(place + road + door + rest)
    assert street == place + road
    assert not re.search(r"[0-9号栋室]", street)

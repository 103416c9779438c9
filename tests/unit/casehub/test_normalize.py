"""The normalizers repair the partners' legacy values and never leak a value into an error."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from casehub.crypto import KeyRing
from casehub.normalize import SHANGHAI, epoch_ms, iso, local_time, phone, resident_id, text

FULL_WIDTH = str.maketrans("0123456789+-X", "０１２３４５６７８９＋－Ｘ")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
"""The case schema's timestamp pattern."""

WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
RING = KeyRing.generate()


def full_width(value: str) -> str:
    return value.translate(FULL_WIDTH)


def check_character(body: str) -> str:
    """GB 11643 check character, computed here independently of the code under test."""
    remainder = (12 - sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11) % 11
    return "X" if remainder == 10 else str(remainder)


mobiles = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)


@st.composite
def partner_forms(draw: st.DrawFn, number: str) -> str:
    """One of the ways partners write a mainland mobile number."""
    spaced = f"{number[:3]} {number[3:7]} {number[7:]}"
    dashed = f"{number[:3]}-{number[3:7]}-{number[7:]}"
    form = draw(
        st.sampled_from(
            [
                number,
                f"+86{number}",
                f"+86 {spaced}",
                f"0086{number}",
                f"0086-{dashed}",
                f"86{number}",
                f"+86-{dashed}",
                f"(+86) {spaced}",
                f"+86\u3000{number[:3]}\u3000{number[3:7]}\u3000{number[7:]}",
                dashed,
                spaced,
                f"  {number} ",
            ]
        )
    )
    return full_width(form) if draw(st.booleans()) else form


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(["420102", "420106", "420111", "420117", "110105", "440305"]))
    born = draw(st.dates(min_value=datetime(1920, 1, 1).date(), max_value=datetime(2020, 12, 31).date()))
    body = f"{area}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + check_character(body)


@st.composite
def legacy_resident_ids(draw: st.DrawFn) -> tuple[str, str]:
    """A first-generation card's 15 digits (two-digit year), and the 18 characters they stand for."""
    area = draw(st.sampled_from(["420102", "420104", "110105", "440305"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)))
    sequence = f"{draw(st.integers(0, 999)):03d}"
    body = f"{area}{born:%Y%m%d}{sequence}"
    return f"{area}{born:%y%m%d}{sequence}", body + check_character(body)


@st.composite
def permanent_residence_ids(draw: st.DrawFn) -> str:
    """A foreign permanent resident ID of 2023: 9, the issuing province, the nationality (ISO
    3166-1 numeric), the birth date, a sequence and the check character."""
    province = draw(st.sampled_from(["11", "31", "42", "44"]))
    nationality = draw(st.sampled_from(["840", "392", "410", "276", "036"]))
    born = draw(st.dates(min_value=date(1930, 1, 1), max_value=date(2020, 12, 31)))
    body = f"9{province}{nationality}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return body + check_character(body)


def any_form_of(number: str, variant: int) -> str:
    """The ways partners write an ID: as is, lower-case x, full-width, grouped, padded."""
    return [
        number,
        number.lower(),
        full_width(number),
        f"{number[:6]} {number[6:14]} {number[14:]}",
        f"{number[:6]}-{number[6:14]}-{number[14:]}",
        f"\u3000{number} ",
    ][variant]


class TestText:
    @pytest.mark.parametrize("value", [None, "", "   ", "\u3000", "\t\n"])
    def test_partners_null_is_none(self, value: str | None) -> None:
        assert text(value) is None

    def test_full_width_is_folded_and_stripped(self) -> None:
        assert text(" ＷＨ２０２４ ") == "WH2024"

    def test_chinese_punctuation_stays_as_written(self) -> None:
        assert text("您好，路灯不亮！请处理：谢谢。①号楼") == "您好，路灯不亮！请处理：谢谢。①号楼"

    def test_text_is_brought_to_nfc(self) -> None:
        assert text("Cafe\u0301") == "Café"

    def test_integer_ids_become_text(self) -> None:
        assert text(1024) == "1024"

    @pytest.mark.parametrize("value", [True, 1.5, ["x"], {"a": 1}])
    def test_non_text_is_refused(self, value: object) -> None:
        with pytest.raises(ValueError, match="expected text"):
            text(value)


class TestPhone:
    @given(data=st.data(), number=mobiles)
    def test_every_partner_form_gives_the_same_e164(self, data: st.DataObject, number: str) -> None:
        assert phone(data.draw(partner_forms(number))) == f"+86{number}"

    @given(data=st.data(), number=mobiles)
    def test_every_partner_form_gives_one_blind_index(self, data: st.DataObject, number: str) -> None:
        first, second = data.draw(partner_forms(number)), data.draw(partner_forms(number))
        assert RING.blind_index(phone(first)) == RING.blind_index(phone(second))
        assert RING.blind_index(phone(first)) == RING.blind_index(f"+86{number}")

    @given(data=st.data(), number=mobiles | st.sampled_from(["02785551234", "(027) 8555 1234"]))
    def test_normalising_twice_changes_nothing(self, data: st.DataObject, number: str) -> None:
        once = phone(data.draw(partner_forms(number)) if number.isdigit() and len(number) == 11 else number)
        assert phone(once) == once

    @pytest.mark.parametrize(
        "value",
        [
            "027-85551234",
            "(027) 8555 1234",
            "+86 27 8555 1234",
            "0086 27 85551234",
            "０２７－８５５５１２３４",
        ],
    )
    def test_wuhan_landline(self, value: str) -> None:
        assert phone(value) == "+862785551234"

    @settings(deadline=None)
    @given(
        st.text(alphabet="0123456789", min_size=1, max_size=6) | st.text(alphabet="0123456789", min_size=17)
    )
    @example("12345678901")
    def test_invalid_number_is_refused_without_echo(self, value: str) -> None:
        with pytest.raises(ValueError, match="phone") as caught:
            phone(value)
        assert value not in str(caught.value)

    def test_foreign_number_is_refused(self) -> None:
        with pytest.raises(ValueError, match=r"\+86"):
            phone("+1 650 253 0000")

    @pytest.mark.parametrize("value", ["", "  ", "not a number"])
    def test_empty_or_words_are_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="phone"):
            phone(value)


class TestResidentId:
    @given(resident_ids())
    def test_valid_ids_pass_in_any_partner_form(self, number: str) -> None:
        assert resident_id(number) == number
        assert resident_id(f" {number.lower()} ") == number
        assert resident_id(full_width(number)) == number

    @given(number=resident_ids(), position=st.integers(0, 16), replacement=st.characters(codec="ascii"))
    def test_any_single_change_in_the_first_17_fails(
        self, number: str, position: int, replacement: str
    ) -> None:
        assume(replacement != number[position])
        changed = number[:position] + replacement + number[position + 1 :]
        assume(changed.strip().upper() != number)
        with pytest.raises(ValueError, match="resident ID") as caught:
            resident_id(changed)
        assert changed not in str(caught.value)
        assert number not in str(caught.value)

    def test_impossible_birth_date_fails(self) -> None:
        body = "42010219900230123"
        with pytest.raises(ValueError, match="birth date"):
            resident_id(body + check_character(body))

    @given(number=resident_ids() | permanent_residence_ids(), variant=st.integers(0, 5))
    def test_normalising_twice_changes_nothing(self, number: str, variant: int) -> None:
        once = resident_id(any_form_of(number, variant))
        assert once == number and resident_id(once) == once

    @given(pair=legacy_resident_ids(), variant=st.integers(0, 5))
    def test_the_legacy_15_digits_become_their_18_characters(
        self, pair: tuple[str, str], variant: int
    ) -> None:
        legacy, full = pair
        assert resident_id(any_form_of(legacy, variant)) == full == resident_id(full)

    @given(permanent_residence_ids())
    def test_a_foreign_permanent_residents_id_is_accepted(self, number: str) -> None:
        assert resident_id(number) == number

    def test_a_permanent_residence_id_names_a_real_issuing_province(self) -> None:
        body = "999840198001010011"[:17]
        with pytest.raises(ValueError, match="province") as caught:
            resident_id(body + check_character(body))
        assert body not in str(caught.value)

    @pytest.mark.parametrize("area", ["000000", "100000", "990000", "780101"])
    def test_a_region_of_no_province_fails(self, area: str) -> None:
        body = f"{area}19900101123"
        with pytest.raises(ValueError, match="province"):
            resident_id(body + check_character(body))

    def test_a_birth_date_after_today_fails_and_today_passes(self) -> None:
        today = date(2026, 12, 1)
        for born, accepted in ((today, True), (today + timedelta(days=1), False)):
            body = f"420102{born:%Y%m%d}123"
            number = body + check_character(body)
            if accepted:
                assert resident_id(number, today=today) == number
            else:
                with pytest.raises(ValueError, match="future"):
                    resident_id(number, today=today)

    def test_a_birth_date_before_1900_fails(self) -> None:
        body = "42010218991231123"
        with pytest.raises(ValueError, match="before 1900"):
            resident_id(body + check_character(body))

    @pytest.mark.parametrize(
        "value", ["", "4201021990", "42010219900101123Y", "4201021990010112345", "42010290010112X"]
    )
    def test_malformed_fails(self, value: str) -> None:
        with pytest.raises(ValueError, match="17 digits"):
            resident_id(value)


class TestLocalTime:
    @given(
        moment=st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2099, 12, 31)),
        date_separator=st.sampled_from("-/"),
        time_separator=st.sampled_from(" T"),
        wide=st.booleans(),
    )
    def test_partner_format_round_trips(
        self, moment: datetime, date_separator: str, time_separator: str, wide: bool
    ) -> None:
        moment = moment.replace(microsecond=0)
        written = moment.strftime(f"%Y{date_separator}%m{date_separator}%d{time_separator}%H:%M:%S")
        parsed = local_time(full_width(written) if wide else written)
        assert parsed == moment.replace(tzinfo=SHANGHAI)
        assert parsed.tzinfo is SHANGHAI

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-01-02T00:00:00Z", datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)),
            ("2024-01-02 00:00:00+00:00", datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)),
            ("2024-01-02 09:30:00+0930", datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)),
            ("2024-01-02 08:00:00+08:00", datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)),
            ("2024/1/2 8:00:00", datetime(2024, 1, 2, 8, tzinfo=SHANGHAI)),
        ],
    )
    def test_explicit_offsets_are_honoured(self, value: str, expected: datetime) -> None:
        parsed = local_time(value)
        assert parsed == expected
        assert parsed.utcoffset() == timedelta(hours=8)

    @pytest.mark.parametrize(
        "value",
        ["", "2024-13-01 00:00:00", "2024-02-30 10:00:00", "2024-01-02", "yesterday", "2024-01/02 10:00:00"],
    )
    def test_unusable_times_are_refused_without_echo(self, value: str) -> None:
        with pytest.raises(ValueError, match="time") as caught:
            local_time(value)
        assert not value or value not in str(caught.value)


class TestEpochMs:
    def test_integer_and_digit_string_agree_to_the_millisecond(self) -> None:
        expected = datetime(2023, 11, 15, 6, 13, 20, 123000, tzinfo=SHANGHAI)
        assert epoch_ms(1700000000123) == expected
        assert epoch_ms("1700000000123") == expected
        assert epoch_ms("１７００００００００１２３") == expected

    @pytest.mark.parametrize("value", [-1, True, "12a", "", "1.5", 1.5])
    def test_non_integers_are_refused(self, value: object) -> None:
        with pytest.raises(ValueError, match="epoch milliseconds"):
            epoch_ms(value)  # type: ignore[arg-type]

    def test_out_of_range_is_refused(self) -> None:
        with pytest.raises(ValueError, match="range"):
            epoch_ms(10**20)


class TestIso:
    def test_written_in_shanghai_with_the_fraction_the_partner_sent(self) -> None:
        assert iso(datetime(2024, 1, 2, 0, 0, 0, 600000, tzinfo=UTC)) == "2024-01-02T08:00:00.600000+08:00"
        assert iso(datetime(2024, 1, 2, 0, 0, 0, tzinfo=UTC)) == "2024-01-02T08:00:00+08:00"

    @given(
        st.datetimes(
            min_value=datetime(1950, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.just(timezone(timedelta(hours=-5))),
        )
    )
    def test_matches_the_case_schema(self, moment: datetime) -> None:
        written = iso(moment)
        assert TIMESTAMP.match(written)
        assert datetime.fromisoformat(written) == moment

    def test_naive_time_is_refused(self) -> None:
        with pytest.raises(ValueError, match="offset"):
            iso(datetime(2024, 1, 2))

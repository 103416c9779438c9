"""Masks of a reporter's name, phone and resident ID: whatever the value, the mask shows what a
desk needs to recognise a resident and never the part that would identify or reach one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from casehub.masking import HIDDEN_DIGITS, mask_id_number, mask_name, mask_phone
from casehub.normalize import phone, resident_id
from tests.unit.casehub.test_normalize import (
    legacy_resident_ids,
    mobiles,
    partner_forms,
    permanent_residence_ids,
    resident_ids,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=16)


@given(mobiles)
def test_a_mobile_shows_its_first_three_and_last_four_digits(number: str) -> None:
    assert mask_phone(f"+86{number}") == f"+86{number[:3]}****{number[-4:]}"
    assert mask_phone(number) == f"{number[:3]}****{number[-4:]}"


@given(data=st.data(), number=mobiles)
def test_every_form_of_a_number_masks_alike(data: st.DataObject, number: str) -> None:
    assert mask_phone(phone(data.draw(partner_forms(number)))) == mask_phone(f"+86{number}")


@given(number=digits, international=st.booleans())
def test_a_phone_mask_hides_four_digits_or_all(number: str, international: bool) -> None:
    shown = mask_phone(("+86" if international else "") + number)
    assert shown is not None
    national = shown.removeprefix("+86") if international else shown
    assert len(national) == len(number)
    visible = [(i, ch) for i, ch in enumerate(national) if ch != "*"]
    assert all(number[i] == ch for i, ch in visible)
    assert len(number) - len(visible) >= min(HIDDEN_DIGITS, len(number))
    assert len(visible) <= 7 and (len(visible) == 0 or len(number) >= 2 * HIDDEN_DIGITS)


@given(number=mobiles, middle=st.text(alphabet="0123456789", min_size=4, max_size=4))
def test_numbers_differing_only_in_the_hidden_digits_mask_alike(number: str, middle: str) -> None:
    other = number[:3] + middle + number[7:]
    assert mask_phone(f"+86{number}") == mask_phone(f"+86{other}")


@given(resident_ids() | permanent_residence_ids())
def test_an_id_shows_its_region_and_check_character_only(number: str) -> None:
    shown = mask_id_number(number)
    assert shown == number[:6] + "*" * 11 + number[-1]


@given(first=resident_ids(), second=resident_ids())
def test_ids_of_one_region_and_check_character_mask_alike(first: str, second: str) -> None:
    same = first[:6] == second[:6] and first[-1] == second[-1]
    assert (mask_id_number(first) == mask_id_number(second)) == same


@given(legacy_resident_ids())
def test_a_legacy_id_as_written_shows_its_region_only(pair: tuple[str, str]) -> None:
    legacy, full = pair
    assert mask_id_number(legacy) == legacy[:6] + "*" * 9
    assert mask_id_number(resident_id(legacy)) == full[:6] + "*" * 11 + full[-1]


@given(st.text(min_size=1, max_size=40))
def test_no_id_mask_shows_a_birth_date_or_a_sequence(value: str) -> None:
    shown = mask_id_number(value)
    assert shown is not None and len(shown) == len(value)
    visible = sum(ch != "*" for ch in shown)
    assert visible <= 7 and (visible == 0 or len(value) - visible >= 9)
    assert shown[6:-1].strip("*") == ""


@given(st.text(min_size=1, max_size=12))
def test_a_name_shows_at_most_its_first_character_and_never_its_length(name: str) -> None:
    shown = mask_name(name)
    assert shown in (name[0] + "*", "*")
    assert shown == ("*" if len(name) == 1 else name[0] + "*")

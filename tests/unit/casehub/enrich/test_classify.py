"""Classification: the channel's crosswalk places a code; anything else is 其他诉求 with a warning."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from casehub.enrich.classify import CATCH_ALL, classify
from casehub.reference import load_reference

REFERENCE = load_reference()
HOTLINE = REFERENCE.crosswalk("hotline", "category")


def test_crosswalk_code_is_classified_with_its_health_flag() -> None:
    found = classify("hotline", "HL0601", REFERENCE)  # 食品安全
    assert (found.category.code, found.category.health_related, found.rule) == ("060001", True, "crosswalk")
    assert found.warnings == []
    assert found.event() == {"kind": "classified", "category": "060001", "rule": "crosswalk"}


def test_unmapped_code_goes_to_the_catch_all_with_a_warning() -> None:
    found = classify("hotline", "HL9999", REFERENCE)
    assert found.category.code == CATCH_ALL
    assert found.category.name == "其他诉求"
    assert found.rule == "catch_all"
    [warning] = found.warnings
    assert (warning.code, warning.field) == ("unmapped_category", "source_category")
    assert "HL9999" not in warning.message


def test_a_channel_without_a_crosswalk_is_classified_too() -> None:
    found = classify("city_hall_letters", "A-17", REFERENCE)
    assert found.category.code == CATCH_ALL
    assert "no category crosswalk" in found.warnings[0].message


@given(st.text(max_size=40))
def test_total_over_arbitrary_source_codes(code: str) -> None:
    found = classify("hotline", code, REFERENCE)
    assert found.category.code in REFERENCE.categories
    if code in HOTLINE:
        assert (found.category.code, found.warnings) == (HOTLINE[code], [])
    else:
        assert found.category.code == CATCH_ALL
        assert [w.code for w in found.warnings] == ["unmapped_category"]


@given(
    st.one_of(st.none(), st.integers(), st.text(max_size=12)), st.one_of(st.none(), st.integers(), st.text())
)
def test_total_over_any_channel_and_value(channel: object, code: object) -> None:
    found = classify(channel, code, REFERENCE)
    assert found.category.code in REFERENCE.categories
    assert found.rule in ("crosswalk", "catch_all")
    assert (found.rule == "catch_all") == bool(found.warnings)

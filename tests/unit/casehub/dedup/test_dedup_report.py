"""casehub.dedup.report: how a case's text is folded and cut into what is compared."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from casehub.dedup.report import (
    BOILERPLATE,
    EMPTY,
    MAX_TEXT,
    buildings,
    normalized,
    place_name_of,
    report,
    with_text,
)

WIDE = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
TEXT = st.text(
    alphabet=st.sampled_from(
        WIDE + "0123456789abcXYZ _-,.栋幢号楼井盖破损东门路灯不亮小区" + "".join(BOILERPLATE[:8])
    ),
    max_size=60,
)


def _every_form_folded(text: str) -> str:
    """What the comparison meant before it skipped folding: every full-width form to ASCII."""
    folded = text[:MAX_TEXT].translate({0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20})
    return folded.lower()


def _reference_normalized(text: str) -> str:
    genre = re.compile("|".join(sorted(BOILERPLATE, key=len, reverse=True)))
    return re.sub(r"[\W_]+", "", genre.sub(" ", _every_form_folded(text)))


@given(TEXT)
def test_a_text_compares_as_if_every_full_width_form_were_folded(text: str) -> None:
    assert normalized(text) == _reference_normalized(text)
    assert buildings(text) == buildings(_every_form_folded(text))


def test_full_width_digits_letters_and_punctuation_fold_to_one_comparison() -> None:
    assert normalized("５栋ＡＢ，楼下＿井盖") == normalized("5栋ab,楼下_井盖") == "5栋ab楼下井盖"
    assert buildings("１２号楼，友谊大道１０２号") == {"12栋", "102号"}


def test_a_report_keeps_its_buildings_apart_from_its_doors() -> None:
    found = report("c1", title="5栋和12号楼之间", content="友谊大道102号门口", address="3幢")
    assert found.towers == {"5栋", "12栋", "3栋"}
    assert found.doors == {"102号"}
    nothing = report("c2", title="井盖破损", content="东门")
    assert nothing.towers == nothing.doors == frozenset()


@given(TEXT, TEXT, st.one_of(st.none(), TEXT), st.sampled_from([None, "420102001001", "420102001002"]))
def test_a_placed_report_given_its_text_is_the_report_of_the_same_fields(
    title: str, content: str, address: str | None, community: str | None
) -> None:
    """A stored case is filed by its place first and its text prepared when it is compared."""
    fields = {
        "channel": "hotline",
        "category": "020008",
        "district_code": "420102",
        "community_code": community,
        "lng": 114.3,
        "lat": 30.6,
        "reported_at": datetime(2026, 11, 1, 8, tzinfo=UTC),
        "phone_index": "index",
    }
    whole = report(
        "case", title=title, content=content, address=address,
        place_name=place_name_of(community), **fields,  # type: ignore[arg-type]
    )
    placed = replace(whole, words=EMPTY, address=EMPTY, towers=EMPTY, doors=EMPTY)
    assert with_text(placed, title, content, address) == whole

"""`enrich`: every mapped case comes out classified, graded, routed and timed, and never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from casehub.contract import case_contract
from casehub.enrich import Enriched, enrich, load_rules
from casehub.enrich.rules import GRADES, NATURES
from casehub.normalize import SHANGHAI
from casehub.reference import load_reference
from connectors.hotline import MAPPER as HOTLINE
from connectors.message_board import MAPPER as BOARD
from tests.samples import board_message, work_order

REFERENCE = load_reference()
RULES = load_rules()
RECEIVED = datetime(2026, 11, 20, 9, 5, tzinfo=SHANGHAI)
FILLED = ("category", "health_related", "grade", "assigned_unit", "time_limit_days", "deadline_at")
REGIONS = sorted(REFERENCE.regions.values(), key=lambda region: region.code)
PLACE_FIELDS = {"street": "street_code", "community": "community_code", "grid": "grid_code"}


def mapped(case: dict[str, Any]) -> dict[str, Any]:
    """A mapper's case as the core's builder now leaves it: enrichment's fields empty."""
    return {**case, "category": None, "health_related": None, "grade": None, "assigned_unit": None}


HOTLINE_CASE = mapped(HOTLINE.to_case(work_order(), REFERENCE, received_at=RECEIVED))
BOARD_CASE = mapped(BOARD.to_case(board_message(), REFERENCE, received_at=RECEIVED))


def test_a_hotline_work_order_is_enriched() -> None:
    enriched = enrich(HOTLINE_CASE, REFERENCE)
    assert {field: enriched.case[field] for field in FILLED} == {
        "category": "020001",
        "health_related": False,
        "grade": "A",
        "assigned_unit": "district.420102.dispatch",
        "time_limit_days": 5,
        "deadline_at": "2026-11-27T18:00:00+08:00",
    }
    assert enriched.events == [
        {"kind": "classified", "category": "020001", "rule": "crosswalk"},
        {
            "kind": "graded",
            "grade": "A",
            "rule": "taxonomy_default",
            "scope": "district",
            "raised_for_urgency": False,
        },
        {
            "kind": "routed",
            "unit": "district.420102.dispatch",
            "unit_kind": "district_department",
            "rule": "community",
        },
        {
            "kind": "deadline",
            "working_days": 5,
            "deadline_at": "2026-11-27T18:00:00+08:00",
            "rule": "source",
            "calendar": "official",
        },
    ]
    assert enriched.warnings == []
    assert case_contract().problems(enriched.case) == []


def test_a_board_message_gets_the_tables_limit() -> None:
    enriched = enrich(BOARD_CASE, REFERENCE)
    assert enriched.case["time_limit_days"] == 3  # 求助, graded A
    assert enriched.case["deadline_at"] == "2026-11-25T18:00:00+08:00"
    assert case_contract().problems(enriched.case) == []


def test_a_case_in_a_known_community_goes_to_that_community() -> None:
    case = {**HOTLINE_CASE, "source_category": "HL1001", "grid_code": "42010200100102"}  # 物业服务
    enriched = enrich(case, REFERENCE)
    assert (enriched.case["grade"], enriched.case["assigned_unit"]) == ("A", "community.420102001001")


def test_an_unmapped_category_is_accepted_as_other_with_a_warning() -> None:
    enriched = enrich({**HOTLINE_CASE, "source_category": "HL7777"}, REFERENCE, RULES)
    assert enriched.case["category"] == "190004"
    assert [w.as_dict()["code"] for w in enriched.warnings] == ["unmapped_category"]


def test_the_input_is_left_as_it_was() -> None:
    before = json.dumps(HOTLINE_CASE, sort_keys=True, ensure_ascii=False)
    enrich(HOTLINE_CASE, REFERENCE)
    assert json.dumps(HOTLINE_CASE, sort_keys=True, ensure_ascii=False) == before


def places() -> st.SearchStrategy[dict[str, str | None]]:
    """No code, a consistent code of the regions, or a code the regions do not know."""
    known = st.sampled_from([r for r in REGIONS if r.level in PLACE_FIELDS]).map(
        lambda region: {PLACE_FIELDS[region.level]: region.code}
    )
    unknown = st.sampled_from(sorted(PLACE_FIELDS.values())).flatmap(
        lambda field: st.from_regex(
            {
                "street_code": r"\A4201[0-9]{5}\Z",
                "community_code": r"\A4201[0-9]{8}\Z",
                "grid_code": r"\A4201[0-9]{10}\Z",
            }[field]
        ).map(lambda code: {field: code})
    )
    return st.one_of(st.just({}), known, unknown)


times = st.datetimes(
    min_value=datetime(1990, 1, 2),
    max_value=datetime(8999, 12, 30),
    timezones=st.sampled_from([SHANGHAI, UTC, timezone(timedelta(hours=-10)), timezone(timedelta(hours=14))]),
).map(lambda moment: moment.isoformat())

cases = st.builds(
    lambda base, overrides, place: {**base, **overrides, **place},
    st.sampled_from([HOTLINE_CASE, BOARD_CASE]),
    st.fixed_dictionaries(
        {
            "channel": st.sampled_from(["hotline", "message_board", "neighborhood_app", "urban_mgmt"]),
            "source_category": st.one_of(
                st.sampled_from(sorted(REFERENCE.crosswalk("hotline", "category"))),
                st.sampled_from(sorted(REFERENCE.crosswalk("message_board", "category"))),
                st.text(min_size=1, max_size=32),
            ),
            "nature": st.sampled_from(NATURES),
            "urgency": st.sampled_from(["normal", "urgent", "critical", None]),
            "district_code": st.sampled_from(sorted(REFERENCE.districts)),
            "received_at": times,
            "time_limit_days": st.one_of(st.none(), st.integers(min_value=1, max_value=365)),
        }
    ),
    places(),
)


def assert_enriched(enriched: Enriched, case: dict[str, Any]) -> None:
    out = enriched.case
    category = REFERENCE.categories[out["category"]]
    assert out["health_related"] is category.health_related
    assert out["grade"] in GRADES
    unit = RULES.units[out["assigned_unit"]]
    assert len(unit.code) <= 200
    assert 1 <= out["time_limit_days"] <= 365
    if case["time_limit_days"] is not None:
        assert out["time_limit_days"] == case["time_limit_days"]
    assert datetime.fromisoformat(out["deadline_at"]) > datetime.fromisoformat(case["received_at"])
    assert [event["kind"] for event in enriched.events] == ["classified", "graded", "routed", "deadline"]
    assert {w.code for w in enriched.warnings} <= {"unmapped_category", "unknown_region", "calendar_unknown"}


@settings(max_examples=300)
@given(cases)
def test_enrichment_never_raises_and_fills_every_field(case: dict[str, Any]) -> None:
    enriched = enrich(case, REFERENCE, RULES)
    assert_enriched(enriched, case)
    assert {key: value for key, value in enriched.case.items() if key not in FILLED} == {
        key: value for key, value in case.items() if key not in FILLED
    }


@given(cases)
def test_events_and_warnings_carry_no_personal_data(case: dict[str, Any]) -> None:
    enriched = enrich(case, REFERENCE, RULES)
    out = json.dumps([enriched.events, [w.as_dict() for w in enriched.warnings]], ensure_ascii=False)
    personal = [*case["reporter"].values(), case["title"], case["content"], case["address"]]
    assert all(value not in out for value in personal if value)
    keys = {key for event in enriched.events for key in event}
    assert keys.isdisjoint(
        {"reporter", "name", "phone", "id_number", "title", "content", "address", "lng", "lat"}
    )


@given(cases)
def test_the_enriched_case_keeps_the_schema(case: dict[str, Any]) -> None:
    assert case_contract().problems(enrich(case, REFERENCE, RULES).case) == []

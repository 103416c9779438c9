"""Duplicate detection's decision on hand-made reports: one incident told twice is a duplicate,
the hard negatives are not, and whatever a field holds the function answers sanely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.dedup import THRESHOLD, Clusterer, decide, report, score
from casehub.dedup.report import place_name_of

AT = datetime(2025, 3, 4, 1, 2, tzinfo=UTC)
COMMUNITY = "420102003002"  # 中山路社区, 车站街道, 江岸区


def _hotline(case_id: str = "h1", **changes: object) -> object:
    fields: dict[str, object] = {
        "channel": "hotline",
        "title": "市民来电反映中山路社区东门外井盖破损",
        "content": "来电人称车站街道中山路社区东门外人行道上有一个井盖碎裂下陷，晚上看不清，要求尽快更换。",
        "category": "010014",
        "district_code": "420102",
        "address": "江岸区车站路中山路社区东门外人行道",
        "reported_at": AT,
        "phone_index": "a" * 64,
    }
    fields.update(changes)
    return report(case_id, **fields)  # type: ignore[arg-type]


def _app(case_id: str = "a1", **changes: object) -> object:
    fields: dict[str, object] = {
        "channel": "neighborhood_app",
        "title": "东门井盖碎了",
        "content": "小区东门出去人行道上那个井盖碎了一大块，晚上黑漆漆的太危险了，赶紧来修一下吧",
        "category": "010014",
        "district_code": "420102",
        "community_code": COMMUNITY,
        "lng": 114.2982,
        "lat": 30.5922,
        "reported_at": AT + timedelta(minutes=38),
        "phone_index": "b" * 64,
        "place_name": place_name_of(COMMUNITY),
    }
    fields.update(changes)
    return report(case_id, **fields)  # type: ignore[arg-type]


def test_a_phone_call_and_an_app_report_of_one_manhole_are_duplicates() -> None:
    match = score(_app(), _hotline())  # type: ignore[arg-type]
    assert match.score >= THRESHOLD
    assert "same_address" in match.signals and "same_category" in match.signals
    assert score(_hotline(), _app()).score == match.score  # type: ignore[arg-type]


def test_the_same_place_with_another_problem_is_not_a_duplicate() -> None:
    light = _app(
        "a2",
        title="东门路灯不亮",
        content="东门外那排路灯全黑了，晚上回家摸黑走，希望物业或者城管看看",
        category="020015",
    )
    assert score(light, _app()).score < THRESHOLD  # type: ignore[arg-type]


def test_the_operators_template_about_another_community_is_not_a_duplicate() -> None:
    other = _hotline(
        "h2",
        title="市民来电反映桃园社区门口井盖破损",
        content="来电人称台北街道桃园社区门口人行道井盖破损，有踩空危险，要求尽快更换。",
        address="江岸区台北路桃园社区门口",
    )
    match = score(other, _hotline())  # type: ignore[arg-type]
    assert match.score < THRESHOLD and "other_place" in match.signals


def test_the_same_phone_about_something_else_is_not_a_duplicate() -> None:
    noise = _hotline(
        "h3",
        title="市民来电反映楼下饭店夜间噪音",
        content="来电人称中山路社区楼下饭店每晚营业到凌晨，噪音很大，影响休息。",
        category="030007",
    )
    match = score(noise, _hotline())  # type: ignore[arg-type]
    assert "same_reporter" in match.signals and match.score < THRESHOLD


def test_two_peoples_own_pensions_are_not_one_case() -> None:
    first = _hotline(
        "p1", title="市民来电咨询养老金未到账", content="来电人称本人养老金本月未到账。", category="070013"
    )
    second = _hotline(
        "p2",
        title="市民来电咨询养老金未到账",
        content="来电人称其养老金本月未到账。",
        category="070013",
        phone_index="c" * 64,
    )
    assert "personal_matter" in score(first, second).signals  # type: ignore[arg-type]
    assert score(first, second).score < THRESHOLD  # type: ignore[arg-type]


def test_the_earliest_case_is_the_parent_and_a_child_joins_its_cluster() -> None:
    clusterer = Clusterer()
    first = clusterer.add(_hotline())  # type: ignore[arg-type]
    second = clusterer.add(_app())  # type: ignore[arg-type]
    assert (first.cluster_id, first.duplicate_of) == ("h1", None)
    assert (second.cluster_id, second.duplicate_of, second.matched) == ("h1", "h1", "h1")
    assert second.as_event()["kind"] == "duplicate_suspected"


def test_months_later_the_same_words_start_a_new_cluster() -> None:
    clusterer = Clusterer()
    clusterer.add(_hotline())  # type: ignore[arg-type]
    later = clusterer.add(_app(reported_at=AT + timedelta(days=120)))  # type: ignore[arg-type]
    assert later.duplicate_of is None and later.cluster_id == "a1"


def test_a_split_pair_is_never_joined_again() -> None:
    clusterer = Clusterer(splits=[("a1", "h1")])
    clusterer.add(_hotline())  # type: ignore[arg-type]
    assert clusterer.add(_app()).duplicate_of is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"title": 5}, "title: must be text or None, not int"),
        ({"content": ["井盖"]}, "content: must be text or None, not list"),
        ({"lng": "114.3"}, "lng: must be a number or None, not str"),
        ({"lat": True}, "lat: must be a number or None, not bool"),
        ({"reported_at": "2025-03-04"}, "reported_at: must be an aware datetime"),
        ({"reported_at": datetime(2025, 3, 4)}, "reported_at: must be an aware datetime"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_clear_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        _app("odd", **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"title": None, "content": None},
        {"title": "", "content": ""},
        {"title": "井" * 2_000_000, "content": "盖" * 2_000_000},
        {"category": None, "district_code": None, "address": "", "reported_at": None},
        {"lng": float("nan"), "lat": 30.5},
        {"lng": float("inf"), "lat": float("-inf")},
        {"title": "\u0000\ud800", "content": "🚧" * 100},
    ],
    ids=["nulls", "empty", "huge", "nothing_known", "nan", "infinite", "odd_characters"],
)
def test_whatever_a_report_holds_the_decision_is_sane(changes: dict[str, object]) -> None:
    odd = _app("odd", **changes)
    match = score(odd, _hotline())  # type: ignore[arg-type]
    assert 0.0 <= match.score <= 1.0
    decision = decide(odd, [_hotline()], {"h1": "h1"})  # type: ignore[arg-type, list-item]
    assert decision.cluster_id in ("odd", "h1")


def test_the_bound_that_skips_unlikely_candidates_never_changes_a_score() -> None:
    from casehub.dedup.similarity import value, value_at_least

    reports = [
        _hotline(),
        _app(),
        _app("a2", title="东门路灯不亮", content="东门的路灯坏了好几天"),
        _hotline("h2", category="070001", phone_index="c" * 64),
        _hotline("h3", title="井盖", content="", address=None),
        _app("a3", lng=114.40, lat=30.50),
    ]
    for a in reports:
        for b in reports:
            for floor in (THRESHOLD, 0.6, 0.9):
                found = value(a, b)  # type: ignore[arg-type]
                assert value_at_least(a, b, floor) == (found if found >= floor else None)  # type: ignore[arg-type]


_PHRASES = ("东门外", "人行道上", "井盖碎裂下陷", "路灯不亮", "5栋楼下", "12号楼", "102号门口", "下水道堵塞")
_TEXTS = st.lists(st.sampled_from(_PHRASES), max_size=4).map("".join)
_REPORTS = st.builds(
    report,
    st.sampled_from(["r1", "r2"]),
    title=_TEXTS,
    content=_TEXTS,
    category=st.sampled_from([None, "010014", "010015", "020001", "070001", "050003"]),
    district_code=st.just("420102"),
    community_code=st.sampled_from([None, COMMUNITY, "420102003003"]),
    grid_code=st.sampled_from([None, COMMUNITY + "01", COMMUNITY + "02"]),
    address=st.sampled_from([None, "", "车站路中山路社区东门外人行道", "解放大道1号", "中山路社区东门"]),
    lng=st.sampled_from([None, 114.2982, 114.2990, 114.32]),
    lat=st.sampled_from([None, 30.5922, 30.5930]),
    reported_at=st.just(AT),
    phone_index=st.sampled_from([None, "a" * 64, "b" * 64]),
)


@given(_REPORTS, _REPORTS, st.sampled_from([0.2, THRESHOLD, 0.6, 0.75, 0.9]))
def test_scoring_one_report_against_many_gives_each_pair_its_score(a: Any, b: Any, floor: float) -> None:
    from casehub.dedup.similarity import Scoring, value

    found = value(a, b)
    assert Scoring(a).at_least(b, floor) == (found if found >= floor else None)

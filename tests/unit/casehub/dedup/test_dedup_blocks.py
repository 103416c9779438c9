"""A block's candidates for a new case at intake: those within the window, and of more than a
block's share the nearest in time — found by bisection, answering what a pass over the whole
block would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from casehub.dedup.cluster import PER_BLOCK
from casehub.dedup.report import Report, report
from casehub.dedup.store import _WINDOW, _Block

HOUR = 3_600_000_000


def _report(number: int) -> Report:
    return report(f"c{number}")


def _by_a_full_pass(filed: list[tuple[int, Report]], now: int) -> list[Report]:
    """The definition: the reports within the window in time order (a time's by case id), or
    the PER_BLOCK nearest, nearest first, the earlier of two as near."""
    timed = sorted(filed, key=lambda item: (item[0], item[1].case_id))
    near = [(moment, r) for moment, r in timed if abs(moment - now) <= _WINDOW]
    if len(near) <= PER_BLOCK:
        return [r for _, r in near]
    ranked = sorted(near, key=lambda item: (abs(item[0] - now), item[0], item[1].case_id))
    return [r for _, r in ranked[:PER_BLOCK]]


@settings(max_examples=300, deadline=None)
@given(
    moments=st.lists(st.integers(min_value=0, max_value=200).map(lambda h: h * HOUR), max_size=120),
    at=st.integers(min_value=-80, max_value=280).map(lambda h: h * HOUR),
)
def test_a_blocks_nearest_reports_are_those_a_full_pass_finds(moments: list[int], at: int) -> None:
    block = _Block()
    filed = [(moment, _report(number)) for number, moment in enumerate(moments)]
    for moment, filed_report in filed:
        block.add(filed_report, moment)

    assert [r.case_id for r in block.nearest(at)] == [r.case_id for r in _by_a_full_pass(filed, at)]


def test_a_full_block_yields_its_share_nearest_first_and_nothing_outside_the_window() -> None:
    block = _Block()
    for hour in range(0, 400):  # filed out of time order: late reports arrive in a later page
        block.add(_report(hour), ((hour * 37) % 400) * HOUR)

    nearest = block.nearest(200 * HOUR)

    hours = [int(r.case_id[1:]) * 37 % 400 for r in nearest]
    assert len(nearest) == PER_BLOCK
    assert hours[:3] == [200, 199, 201]
    assert max(abs(h - 200) for h in hours) == 12
    assert block.nearest(1_000 * HOUR) == []


@settings(max_examples=200, deadline=None)
@given(
    moments=st.lists(st.integers(min_value=0, max_value=200).map(lambda h: h * HOUR), max_size=120),
    gone=st.sets(st.integers(min_value=0, max_value=119)),
    span=st.tuples(st.integers(0, 200), st.integers(0, 200)).map(lambda s: (min(s) * HOUR, max(s) * HOUR)),
    at=st.integers(min_value=-80, max_value=280).map(lambda h: h * HOUR),
)
def test_a_block_kept_between_pages_answers_as_one_filed_afresh(
    moments: list[int], gone: set[int], span: tuple[int, int], at: int
) -> None:
    """Reports taken out (changed or gone) and the block cut to the next page's window leave it
    answering as a block filed with the remaining reports only."""
    block = _Block()
    filed = [(moment, _report(number)) for number, moment in enumerate(moments)]
    for moment, filed_report in filed:
        block.add(filed_report, moment)
    for number in sorted(gone & set(range(len(filed)))):
        block.remove(filed[number][1], filed[number][0])
    block.keep(*span)

    remaining = [
        (moment, r)
        for number, (moment, r) in enumerate(filed)
        if number not in gone and span[0] <= moment <= span[1]
    ]
    assert [r.case_id for r in block.reports] == [
        r.case_id for _, r in sorted(remaining, key=lambda m: (m[0], m[1].case_id))
    ]
    assert [r.case_id for r in block.nearest(at)] == [r.case_id for r in _by_a_full_pass(remaining, at)]

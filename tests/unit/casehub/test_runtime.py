"""The collector's pace a worker process sets before it runs pages (casehub.runtime)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from casehub.runtime import FULL_PASS_EVERY, pace_collector


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_full_passes_are_held_back_and_the_young_generations_keep_their_pace() -> None:
    gc.set_threshold(700, 10, 10)
    pace_collector()
    assert gc.get_threshold() == (700, 10, FULL_PASS_EVERY)
    pace_collector()
    assert gc.get_threshold() == (700, 10, FULL_PASS_EVERY)


def test_a_slower_pace_set_for_the_process_is_kept() -> None:
    gc.set_threshold(2000, 20, 500)
    pace_collector()
    assert gc.get_threshold() == (2000, 20, 500)

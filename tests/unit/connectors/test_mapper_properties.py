"""Every mapper, any JSON-like value in any of its fields: what comes out is a valid unified case or
an `InvalidRecord` with reasons, never another exception — the pipeline's mapping and
validation stage as one record meets it (key, mapping, enrichment, the case contract).

A record starts as a good one of its channel (`tests.samples`), and any of its fields may be
given any JSON value (null, booleans, numbers of any size, text of any kind, lists and objects,
nested) or be left out. Runs are derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casehub.contract import case_contract
from casehub.enrich import enrich, load_rules
from casehub.errors import InvalidRecord
from casehub.ports import Mapper
from casehub.reference import load_reference
from connectors.hotline import MAPPER as HOTLINE
from connectors.message_board import MAPPER as BOARD
from connectors.neighborhood_app import MAPPER as APP
from connectors.urban_mgmt import MAPPER as URBAN
from tests.samples import board_message, case_file, report, work_order

RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHANNELS: dict[str, tuple[Mapper, Callable[..., dict[str, Any]]]] = {
    "hotline": (HOTLINE, work_order),
    "message_board": (BOARD, board_message),
    "urban_mgmt": (URBAN, case_file),
    "neighborhood_app": (APP, report),
}
LEFT_OUT = object()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.text(alphabet="0123456789-: ０１２３+", max_size=25)
    | st.sampled_from(["", " ", "\x00", "9999-12-31 23:59:59", "2026-02-30 10:00:00", "420102", "1e400"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _outcome(mapper: Mapper, raw: dict[str, Any]) -> str:
    """'case' or 'reasons', as the pipeline's mapping stage would end with `raw`."""
    reference, rules, contract = load_reference(), load_rules(), case_contract()
    try:
        key = mapper.key(raw)
        mapped = mapper.to_case(raw, reference, received_at=RECEIVED)
    except InvalidRecord as error:
        reasons = error.reasons
    else:
        reasons = []
    if reasons:
        assert all(reason.code and reason.field for reason in reasons)
        return "reasons"
    enriched = enrich(mapped, reference, rules)
    if contract.problems(enriched.case):
        return "reasons"
    assert enriched.case["channel"] == mapper.channel and enriched.case["source_id"] == key.source_id
    return "case"


@pytest.mark.parametrize("channel", sorted(CHANNELS))
@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data())
def test_any_json_value_in_any_field_gives_a_valid_case_or_reasons(channel: str, data: st.DataObject) -> None:
    mapper, build = CHANNELS[channel]
    record = build()
    changes = data.draw(
        st.dictionaries(st.sampled_from(sorted(record)), json_values | st.just(LEFT_OUT), max_size=5)
    )
    raw = {name: value for name, value in {**record, **changes}.items() if value is not LEFT_OUT}
    assert _outcome(mapper, raw) in ("case", "reasons")


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_the_good_record_of_each_channel_gives_a_case(channel: str) -> None:
    mapper, build = CHANNELS[channel]
    assert _outcome(mapper, build()) == "case"

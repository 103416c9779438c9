"""Case ids are deterministic, so re-ingesting a record updates the case it already is."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.identity import NAMESPACE, case_id

CASE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
"""The case schema's case_id pattern."""

channels = st.sampled_from(["hotline", "message_board", "urban_mgmt", "neighborhood_app", "district"])
source_ids = st.text(min_size=1, max_size=64)


def test_namespace_never_changes() -> None:
    """Changing the namespace would give every stored case a second id."""
    assert uuid.UUID("dfd3355c-ec68-4946-ad2e-cfe5bede0fbf") == NAMESPACE
    assert case_id("hotline", "WH20240102000123") == "016260a9-f4ac-5b03-aeeb-84e6df2d5870"


@given(channels, source_ids)
def test_same_record_same_id_in_schema_form(channel: str, source_id: str) -> None:
    first = case_id(channel, source_id)
    assert first == case_id(channel, source_id)
    assert CASE_ID.match(first)


@given(channels, source_ids)
def test_the_id_is_the_rfc_uuid5_of_channel_and_source_id(channel: str, source_id: str) -> None:
    assert case_id(channel, source_id) == str(uuid.uuid5(NAMESPACE, f"{channel}:{source_id}"))


@given(channels, channels, source_ids)
def test_channels_do_not_collide(a: str, b: str, source_id: str) -> None:
    assert (case_id(a, source_id) == case_id(b, source_id)) is (a == b)


@given(channels, source_ids, source_ids)
def test_source_ids_do_not_collide(channel: str, a: str, b: str) -> None:
    assert (case_id(channel, a) == case_id(channel, b)) is (a == b)


@pytest.mark.parametrize(("channel", "source_id"), [("", "1"), ("hotline", "")])
def test_empty_parts_are_refused(channel: str, source_id: str) -> None:
    with pytest.raises(ValueError, match="channel and a source id"):
        case_id(channel, source_id)

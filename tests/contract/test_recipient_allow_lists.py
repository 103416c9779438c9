"""Every outbound payload builder — the city brain's and the health commission's feeds, the
district platforms' dispatches — sends exactly its allow-list: every file in
`schemas/recipients/` is a closed schema (`additionalProperties: false`) of exactly its
`x-recipient.fields`, a renderer's record holds those fields and no other whatever the case row
carries beside them, and a record that breaks its schema is refused before it leaves, by the
push and by the district listing alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, select

from casehub.crypto import KeyRing
from casehub.districts import DistrictService
from casehub.pipeline import Pipeline
from casehub.recipients import RECIPIENTS_DIR, load_recipient
from casehub.store.models import OutboxEvent
from connectors.city_brain import RENDERER as CITY_BRAIN
from connectors.district import RENDERER as DISTRICT
from connectors.health_commission import RENDERER as HEALTH_COMMISSION
from connectors.hotline import MAPPER
from tests.contract.test_recipients import case_row
from tests.samples import work_order

RENDERERS = {"city_brain": CITY_BRAIN, "health_commission": HEALTH_COMMISSION, "district": DISTRICT}
MARKER = "标记值13977770123"


def test_every_recipient_file_has_a_renderer() -> None:
    assert sorted(path.stem for path in RECIPIENTS_DIR.glob("*.json")) == sorted(RENDERERS)


@pytest.mark.parametrize("code", sorted(RENDERERS))
def test_every_allow_list_file_is_a_closed_schema_of_exactly_its_fields(code: str) -> None:
    schema = json.loads((RECIPIENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    fields = schema["x-recipient"]["fields"]
    assert len(set(fields)) == len(fields)
    assert set(schema["properties"]) == set(schema["required"]) == set(fields)
    assert set(load_recipient(code).fields) == set(fields)


extra_columns = st.dictionaries(
    st.sampled_from(
        [
            "reporter_id_number",
            "reporter_fingerprint",
            "reporter_phone_index",
            "reporter_index_key_id",
            "pii_key_id",
            "raw_id",
            "duplicate_score",
            "duplicate_signals",
            "supervision",
            "a_column_added_later",
        ]
    ),
    st.just(MARKER),
    min_size=1,
)


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from(sorted(RENDERERS)), extra=extra_columns)
def test_a_renderer_sends_its_allow_list_and_nothing_the_row_holds_beside_it(
    code: str, extra: dict[str, Any]
) -> None:
    contract = load_recipient(code)
    record = RENDERERS[code].render(case_row(**extra))
    assert set(record) == set(contract.fields)
    assert contract.problems(record) == []
    assert MARKER not in json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("code", sorted(RENDERERS))
def test_a_record_with_a_field_beyond_its_allow_list_breaks_its_schema(code: str) -> None:
    record = RENDERERS[code].render(case_row())
    assert load_recipient(code).problems({**record, "reporter_id_number": MARKER}) == [
        "/: additionalProperties"
    ]


class Overreaching:
    """The district's renderer, but sending the reporter's ID number too: a builder's bug."""

    recipient = "district"

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]:
        return {**DISTRICT.render(case), "reporter_id_number": "420102199003071232"}


def test_the_district_listing_refuses_a_record_beyond_its_allow_list(
    sqlite_engine: Engine, keyring: KeyRing
) -> None:
    order = work_order(YWLBDM="HL0201", YWLBMC="噪声扰民", SFZHM="420102199003071232")
    assert Pipeline(sqlite_engine, MAPPER, keyring).ingest([order]).accepted == 1
    assert DistrictService(sqlite_engine, keyring).dispatches("420102")
    assert DistrictService(sqlite_engine, keyring, renderer=Overreaching()).dispatches("420102") == []
    with sqlite_engine.connect() as conn:
        state, error = conn.execute(select(OutboxEvent.state, OutboxEvent.last_error)).one()
    assert state == "dead" and error["code"] == "recipient_contract"
    assert "breaks schemas/recipients/district.json at /: additionalProperties" in error["message"]
    assert "420102199003071232" not in json.dumps(error)

"""The recipients' allow-lists (`schemas/recipients/`) and the records rendered by them.

Every record a renderer builds is checked against its recipient's schema; the city brain's is
shown, over generated cases, never to carry a personal value; the health commission's carries
a masked call-back phone, its text with every number masked, the address at street level and
never an ID number; a district gets the text and the address as the resident gave them, which
its allow-list says in so many words.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from casehub.masking import mask_free_text, street_level
from casehub.partners import delivered, load_connector
from casehub.recipients import FREE_TEXT_FIELDS, RECIPIENTS_DIR, load_recipient
from connectors.city_brain import RENDERER as CITY_BRAIN
from connectors.district import RENDERER as DISTRICT
from connectors.health_commission import RENDERER as HEALTH_COMMISSION

RECIPIENTS = [spec.recipient for spec in delivered()]
RENDERERS = {"city_brain": CITY_BRAIN, "health_commission": HEALTH_COMMISSION, "district": DISTRICT}
"""Every allow-list and the renderer that builds its records: the scheduled feeds and the
district platforms' dispatches."""
NEVER_TO_THE_CITY_BRAIN = {
    "reporter_name",
    "reporter_phone",
    "reporter_id_number",
    "address",
    "title",
    "content",
    "result",
    "source_id",
    "assigned_unit",
}
SHANGHAI_NOON = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)

surnames = st.sampled_from("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗欧阳")
given_names = st.text(alphabet="明华建国丽娟秀英志强文军敏静伟芳磊洋艳勇杰娜涛", min_size=1, max_size=2)
names = st.builds(lambda family, personal: family + personal, surnames, given_names)
phones = st.from_regex(r"\A\+861[3-9][0-9]{9}\Z")
id_numbers = st.from_regex(
    r"\A4201[0-9]{2}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[0-9]{3}[0-9X]\Z"
)
texts = st.text(min_size=1, max_size=80)


def case_row(**changes: Any) -> dict[str, Any]:
    """A case as the push job hands it to a renderer: the `cases` columns, times aware."""
    row: dict[str, Any] = {
        "case_id": "252f98ec-e0d8-57ea-8238-31111914adcf",
        "channel": "hotline",
        "source_id": "WH20261120000002",
        "source_status": "02",
        "version": 1,
        "title": "小区有人发热咳嗽",
        "content": "邻居一家发热咳嗽多日，担心是传染病，请卫生部门上门排查。",
        "nature": "report",
        "category": "080009",
        "source_category": "HL0802",
        "health_related": True,
        "grade": "C",
        "district_code": "420102",
        "street_code": "420102001",
        "community_code": "420102001002",
        "grid_code": "42010200100201",
        "address": "江岸区解放大道1000号3栋502室",
        "lng": 114.305391,
        "lat": 30.593574,
        "source_crs": "EPSG:4326",
        "status": "dispatched",
        "urgency": "urgent",
        "assigned_unit": "江岸区卫生健康局",
        "time_limit_days": 5,
        "deadline_at": SHANGHAI_NOON + timedelta(days=7),
        "result": None,
        "satisfaction": None,
        "supervision": [],
        "duplicate_of": None,
        "cluster_id": None,
        "reported_at": SHANGHAI_NOON,
        "received_at": SHANGHAI_NOON + timedelta(minutes=5),
        "updated_at": SHANGHAI_NOON + timedelta(minutes=30),
        "closed_at": None,
        "reporter_name": "张明",
        "reporter_phone": "+8613800138000",
        "reporter_id_number": "420102199001011234",
    }
    row.update(changes)
    return row


@pytest.mark.parametrize("code", RECIPIENTS)
def test_every_allow_list_is_a_closed_schema_of_exactly_its_fields(code: str) -> None:
    schema = json.loads((RECIPIENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    recipient = load_recipient(code)
    assert list(schema["properties"]) == list(recipient.fields) == schema["x-recipient"]["fields"]
    assert set(schema["required"]) == set(recipient.fields)
    assert recipient.purpose
    for name, rule in schema["properties"].items():
        assert rule.get("title") and rule.get("description"), f"{code}.{name} is undocumented"


def test_every_partner_delivered_to_has_an_allow_list_and_a_renderer_for_it() -> None:
    for spec in delivered():
        assert load_connector(spec).RENDERER.recipient == load_recipient(spec.recipient).code


def test_the_city_brain_gets_no_personal_field_no_address_and_no_free_text() -> None:
    brain = load_recipient("city_brain")
    assert brain.personal == ()
    assert brain.everything
    assert not NEVER_TO_THE_CITY_BRAIN & set(brain.fields)


def test_the_health_commission_may_get_a_phone_but_never_a_name_or_an_id_number() -> None:
    health = load_recipient("health_commission")
    assert health.personal == ("phone",)
    assert health.health_related and not health.everything
    assert {"疫情", "发热", "传染"} <= set(health.keywords)
    assert not {"reporter_name", "reporter_id_number", "id_number"} & set(health.fields)
    assert health.free_text == {"title": "masked", "content": "masked"}
    assert health.address_precision == "street"


def test_a_district_gets_the_text_and_the_address_as_given_and_its_allow_list_says_so() -> None:
    district = load_recipient("district")
    assert district.personal == ("name", "phone")
    assert district.free_text == {"title": "clear", "content": "clear"}
    assert district.address_precision == "exact"


@pytest.mark.parametrize("code", sorted(RENDERERS))
def test_every_allow_list_states_the_form_of_each_free_text_field_and_of_the_address(code: str) -> None:
    meta = json.loads((RECIPIENTS_DIR / f"{code}.json").read_text(encoding="utf-8"))["x-recipient"]
    recipient = load_recipient(code)
    assert set(meta.get("free_text") or {}) == set(recipient.fields) & set(FREE_TEXT_FIELDS)
    assert ("address" in recipient.fields) == ("address" in meta)
    assert recipient.address_precision == (meta.get("address") or {}).get("precision")


def test_the_city_brain_record_of_a_case() -> None:
    record = CITY_BRAIN.render(case_row())
    assert load_recipient("city_brain").problems(record) == []
    assert record == {
        "case_id": "252f98ec-e0d8-57ea-8238-31111914adcf",
        "channel": "hotline",
        "category": "080009",
        "nature": "report",
        "grade": "C",
        "status": "dispatched",
        "urgency": "urgent",
        "health_related": True,
        "district_code": "420102",
        "street_code": "420102001",
        "community_code": "420102001002",
        "grid_code": "42010200100201",
        "lng": 114.31,
        "lat": 30.59,
        "reported_at": "2026-11-20T12:00:00+08:00",
        "received_at": "2026-11-20T12:05:00+08:00",
        "updated_at": "2026-11-20T12:30:00+08:00",
        "closed_at": None,
        "deadline_at": "2026-11-27T12:00:00+08:00",
    }


def test_the_health_commission_record_of_a_case() -> None:
    row = case_row(content="我电话13912345678，身份证420102199001011234，座机027-85123456，全家发热。")
    record = HEALTH_COMMISSION.render(row)
    assert load_recipient("health_commission").problems(record) == []
    assert record["contact_phone"] == "+86138****8000"
    assert record["content"] == "我电话139****5678，身份证420102***********4，座机027****3456，全家发热。"
    assert record["matched_keywords"] == ["发热", "咳嗽"]
    assert record["title"] == "小区有人发热咳嗽"
    assert record["address"] == "江岸区解放大道"
    assert set(record) == set(load_recipient("health_commission").fields)


def test_the_district_record_of_a_case_keeps_what_the_resident_wrote() -> None:
    content = "我电话13912345678，家住3栋502室。"
    record = DISTRICT.render(case_row(content=content))
    assert load_recipient("district").problems(record) == []
    assert (record["content"], record["address"]) == (content, "江岸区解放大道1000号3栋502室")
    assert (record["reporter_name"], record["reporter_phone"]) == ("张明", "+8613800138000")


def test_a_record_that_breaks_its_schema_names_the_field_never_the_value() -> None:
    record = CITY_BRAIN.render(case_row())
    record["address"] = "江岸区解放大道1000号"
    record["lat"] = "30.59"
    problems = load_recipient("city_brain").problems(record)
    assert problems == ["/: additionalProperties", "/lat: type"]
    assert "解放大道" not in " ".join(problems)


def test_a_record_that_shows_what_its_allow_list_masks_breaks_its_contract() -> None:
    """The push checks every record before it is sent: a number left whole in masked text, or a
    door in a street-level address, stops it like a field outside the allow-list."""
    record = HEALTH_COMMISSION.render(case_row())
    record["content"] = "电话13912345678"
    record["address"] = "江岸区解放大道"
    assert load_recipient("health_commission").problems(record) == ["/content: x-recipient.free_text"]
    record["content"] = "电话139****5678"
    assert load_recipient("health_commission").problems(record) == []
    record["address"] = "江岸区解放大道汉口花园"
    assert load_recipient("health_commission").problems(record) == ["/address: x-recipient.address"]
    record["address"] = "江岸区解放大道1000号"
    problems = load_recipient("health_commission").problems(record)
    assert problems == ["/address: pattern", "/address: x-recipient.address"]
    assert "1000" not in " ".join(problems)


personal_changes = st.fixed_dictionaries(
    {
        "reporter_name": st.one_of(st.none(), names),
        "reporter_phone": st.one_of(st.none(), phones),
        "reporter_id_number": st.one_of(st.none(), id_numbers),
        "address": st.one_of(st.none(), texts),
        "title": texts,
        "content": texts,
        "result": st.one_of(st.none(), texts),
        "assigned_unit": st.one_of(st.none(), texts),
        "source_id": st.from_regex(r"\AWH[0-9]{14}\Z"),
    }
)
coordinates = st.tuples(
    st.one_of(st.none(), st.floats(min_value=113.68, max_value=115.08)),
    st.one_of(st.none(), st.floats(min_value=29.97, max_value=31.37)),
)


@settings(max_examples=300, deadline=None)
@given(first=personal_changes, second=personal_changes, place=coordinates)
def test_no_personal_value_ever_reaches_the_city_brain(
    first: dict[str, Any], second: dict[str, Any], place: tuple[float | None, float | None]
) -> None:
    """The record does not depend on the reporter, the address or the text at all, so no value
    of theirs can reach it; its coordinates are within 0.005° of the case's, to 0.01°."""
    lng, lat = place
    one = CITY_BRAIN.render(case_row(**first, lng=lng, lat=lat))
    other = CITY_BRAIN.render(case_row(**second, lng=lng, lat=lat))
    assert one == other
    assert load_recipient("city_brain").problems(one) == []
    sent = json.dumps(one, ensure_ascii=False)
    for name in ("reporter_name", "reporter_phone", "reporter_id_number"):
        value = first[name]
        assert value is None or value not in sent
        assert value is None or value.removeprefix("+86") not in sent
    for original, coarse in ((lng, one["lng"]), (lat, one["lat"])):
        assert (original is None) == (coarse is None)
        if original is not None:
            assert abs(original - coarse) <= 0.005 + 1e-9
            assert round(coarse, 2) == coarse


@settings(max_examples=200, deadline=None)
@given(phone=st.one_of(st.none(), phones), id_number=id_numbers, before=texts, after=texts)
def test_the_health_commission_never_gets_an_id_number_and_only_masked_phones(
    phone: str | None, id_number: str, before: str, after: str
) -> None:
    national = (phone or "+8613912345678").removeprefix("+86")
    content = f"{before}身份证{id_number}，电话{national}。{after}"
    record = HEALTH_COMMISSION.render(case_row(reporter_phone=phone, content=content, title=before))
    assert load_recipient("health_commission").problems(record) == []
    sent = json.dumps(record, ensure_ascii=False)
    assert id_number not in sent
    assert f"电话{national[:3]}****{national[-4:]}。" in record["content"]
    assert phone is None or phone not in sent
    assert record["contact_phone"] is None or "****" in record["contact_phone"]


written_numbers = st.sampled_from(
    [
        "13912345678",
        "+86 139 1234 5678",
        "027-85123456",
        "420102199001011234",
        "４２０１０２１９９００１０１１２３４",
    ]
)
doors = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(1, 9999), st.sampled_from(["号", "栋", "号3栋502室"])
)


@settings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from(sorted(RENDERERS)),
    title=texts,
    content=texts,
    number=written_numbers,
    road=st.sampled_from(["江岸区解放大道", "友谊路", "武汉市江汉区民族街道友谊路", "南湖花园"]),
    door=doors,
)
def test_every_renderer_gives_its_free_text_and_address_in_the_form_its_allow_list_states(
    code: str, title: str, content: str, number: str, road: str, door: str
) -> None:
    recipient = load_recipient(code)
    address = road + door
    row = case_row(title=f"{title}，{number}", content=f"{number}，{content}", address=address)
    record = RENDERERS[code].render(row)
    assert recipient.problems(record) == []
    for name, form in recipient.free_text.items():
        expected = row[name] if form == "clear" else mask_free_text(row[name])
        assert record[name] == expected, name
        if form == "masked":
            assert number not in record[name]
    if recipient.address_precision == "exact":
        assert record["address"] == address
    if recipient.address_precision == "street":
        assert record["address"] == street_level(address)
        assert record["address"] is None or (record["address"] == road and door not in record["address"])

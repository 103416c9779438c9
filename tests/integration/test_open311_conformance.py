"""Open311 GeoReport v2 over real HTTP on loopback, on SQLite and PostgreSQL: the PyPI client
`georeport`, used unchanged, reads the gateway in both formats; every JSON answer validates
against the schemas written from the specification (`schemas/open311/`); every XML answer
parses with a plain XML parser (the hub's hardened one) and round-trips to the same records as
the JSON; a filed request comes back through its token once the pipeline has made it a case; and
no answer holds a marker value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from georeport import GeoReport
from sqlalchemy import Engine, func, select

from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.open311 import keys
from casehub.open311.intake import process_requests
from casehub.partners import load_connector, partner
from casehub.safexml import parse
from casehub.store.models import Case, InboundWebhook
from tests.markers import ADDRESS, ID_NUMBER, NAME, PHONE, leaked
from tests.threaded import serving

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "open311"
POINT = {"lat": "30.6248", "long": "114.3152"}  # 江岸区, near the district's centre
MARKED = f"我是{NAME}，电话{PHONE}，身份证{ID_NUMBER}，住{ADDRESS}，门口路灯坏了一周。"


def schema(name: str) -> jsonschema.Draft202012Validator:
    loaded = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(loaded, format_checker=jsonschema.FormatChecker())


def valid_list(name: str, body: Any) -> None:
    assert isinstance(body, list)
    for item in body:
        errors = [e.message for e in schema(name).iter_errors(item)]
        assert errors == [], errors


class Recorder:
    """A session that keeps every answer, for the marker scan at the end."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.bodies: list[str] = []

    def get(self, path: str, **params: str) -> requests.Response:
        response = requests.get(f"{self.base}/open311/v2/{path}", params=params, timeout=10)
        self.bodies.append(response.text)
        return response

    def post(self, path: str, form: dict[str, str]) -> requests.Response:
        response = requests.post(f"{self.base}/open311/v2/{path}", data=form, timeout=10)
        self.bodies.append(response.text)
        return response


@pytest.fixture
def gateway(
    engine: Engine, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Recorder, Engine, KeyRing]]:
    """The gateway on each backend (SQLite, PostgreSQL), with a key ring."""
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    with serving(create_app(engine)) as url:
        yield Recorder(url), engine, keyring


def process(engine: Engine, ring: KeyRing) -> dict[str, Any]:
    spec = partner("open311")
    return process_requests(spec, load_connector(spec).MAPPER, engine=engine, keyring=ring)


def xml_records(body: bytes, item: str) -> list[dict[str, Any]]:
    """The items of an XML list document, each a dict of its fields' texts (None when empty)."""
    root = parse(body)
    return [{child.tag: child.text for child in element} for element in root.findall(item)]


def typed(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON record as its XML form reads: every value its text, null as None."""
    return {
        name: None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in record.items()
    }


def file_request(client: Recorder, api_key: str, fmt: str = "json", **fields: str) -> requests.Response:
    form = {
        "api_key": api_key,
        "service_code": "020015",
        "description": MARKED,
        "first_name": NAME[1:],
        "last_name": NAME[0],
        "phone": PHONE,
        "email": "resident@example.com",
        "address_string": ADDRESS,
        **POINT,
        **fields,
    }
    return client.post(f"requests.{fmt}", form)


def test_georeport_reads_the_services_and_their_definitions_in_both_formats(
    gateway: tuple[Recorder, Engine, KeyRing],
) -> None:
    client, _, _ = gateway
    as_json = GeoReport(client.base + "/open311/v2").get_service_list()
    as_xml = GeoReport(client.base + "/open311/v2", output_format="xml").get_service_list()
    schema("services").validate(as_json)
    assert len(as_json) == 461 and {s["group"] for s in as_json} >= {"城市管理", "卫生健康", "其他"}
    assert [typed(s) for s in as_json] == as_xml
    health = next(s for s in as_json if s["group"] == "卫生健康")
    assert health["metadata"] is True and health["keywords"].startswith("卫生健康,")
    definition = GeoReport(client.base + "/open311/v2").get_service_definition(health["service_code"])
    schema("service_definition").validate(definition)
    [epidemic] = [a for a in definition["attributes"] if a["code"] == "epidemic"]
    assert epidemic["required"] is True and {v["key"] for v in epidemic["values"]} == {"yes", "no", "unknown"}
    xml_definition = GeoReport(client.base + "/open311/v2", output_format="xml").get_service_definition(
        health["service_code"]
    )
    assert xml_definition["service_code"] == health["service_code"]
    assert xml_definition["attributes"]["attribute"]["code"] == "epidemic"
    discovery = client.get("discovery.json")
    schema("discovery").validate(discovery.json())
    assert discovery.headers["content-type"] == "application/json"
    xml = client.get("discovery.xml")
    assert xml.headers["content-type"] == "text/xml; charset=utf-8"
    assert parse(xml.content).findtext("endpoints/endpoint/url") == discovery.json()["endpoints"][0]["url"]


def test_a_filed_request_lands_sealed_and_comes_back_through_its_token_once_a_case(
    gateway: tuple[Recorder, Engine, KeyRing],
) -> None:
    client, engine, ring = gateway
    api_key = keys.issue(engine, "FixMyStreet 武汉").api_key
    filed = file_request(client, api_key)
    assert filed.status_code == 200, filed.text
    valid_list("token", filed.json())
    [answer] = filed.json()
    token = answer["token"]
    assert answer["service_request_id"] is None
    again = file_request(client, api_key, fmt="xml")
    assert xml_records(again.content, "request") == [{"token": token, "service_request_id": None}]
    with engine.connect() as conn:
        [sealed] = conn.execute(
            select(InboundWebhook.payload).where(InboundWebhook.partner == "open311")
        ).all()
    assert leaked(sealed.payload.decode("latin-1")) == [], "the inbox holds the request sealed"
    waiting = client.get(f"tokens/{token}.json")
    assert waiting.json() == [{"token": token, "service_request_id": None}]

    summary = process(engine, ring)
    assert summary["accepted"] == 1 and summary["quarantined"] == 0, json.dumps(summary, default=str)

    made = client.get(f"tokens/{token}.json").json()
    valid_list("token", made)
    case_id = made[0]["service_request_id"]
    assert case_id is not None
    assert xml_records(client.get(f"tokens/{token}.xml").content, "request") == [typed(made[0])]
    with engine.connect() as conn:
        case = conn.execute(select(Case.__table__).where(Case.case_id == case_id)).one()
    assert case.channel == "open311" and case.category == "020015" and case.district_code == "420102"

    georeport = GeoReport(client.base + "/open311/v2")
    record = georeport.get_service_request(case_id)
    valid_list("request", [record])
    assert record["service_code"] == "020015" and record["status"] == "open"
    assert case.status == "dispatched", "routed to its community and dispatched by the pipeline"
    assert record["external_status_code"] == "open" and record["extended_status"] == "action_scheduled"
    assert record["expected_datetime"] is not None and case.deadline_at is not None
    assert record["expected_datetime"] == case.deadline_at.isoformat()
    assert "门口路灯坏了一周" in record["description"] and record["address"] == "江岸区解放大道"
    xml_record = GeoReport(client.base + "/open311/v2", output_format="xml").get_service_request(case_id)
    assert xml_record == typed(record)
    listed = georeport.get_service_requests(service_request_id=case_id)
    assert listed == [record]
    by_code = georeport.get_service_requests(service_code="020015", status="open")
    assert by_code == [record]
    assert georeport.get_service_requests(status="closed") == []
    assert leaked(*client.bodies, record, xml_record, listed) == []


def test_updates_are_listed_by_window_and_a_posted_update_is_idempotent_on_its_update_id(
    gateway: tuple[Recorder, Engine, KeyRing],
) -> None:
    client, engine, ring = gateway
    api_key = keys.issue(engine, "FixMyStreet 武汉").api_key
    token = file_request(client, api_key).json()[0]["token"]
    process(engine, ring)
    case_id = client.get(f"tokens/{token}.json").json()[0]["service_request_id"]
    form = {
        "api_key": api_key,
        "update_id": "fms-7731",
        "service_request_id": case_id,
        "status": "OPEN",
        "updated_datetime": "2026-12-01T10:00:00+08:00",
        "description": f"{NAME}补充：电话{PHONE}，灯还是不亮",
        "first_name": NAME[1:],
        "last_name": NAME[0],
    }
    first = client.post("servicerequestupdates.json", form)
    assert first.status_code == 200, first.text
    valid_list("update_created", first.json())
    assert client.post("servicerequestupdates.json", form).json() == first.json()
    changed = client.post("servicerequestupdates.xml", {**form, "description": "另一段话"})
    assert changed.status_code == 400 and parse(changed.content).findtext("error/code") == "400"
    updates = client.get("servicerequestupdates.json")
    valid_list("update", updates.json())
    mine = [u for u in updates.json() if u["service_request_id"] == case_id]
    assert [u["update_id"][0] for u in mine] == ["h", "c"], "its creation, then the client's update"
    assert mine[0]["description"].startswith("派遣 dispatched"), "a status change says it in words"
    assert mine[1]["update_id"] == first.json()[0]["update_id"] and "灯还是不亮" in mine[1]["description"]
    assert xml_records(client.get("servicerequestupdates.xml").content, "request_update") == [
        typed(u) for u in updates.json()
    ]
    window = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00Z"}
    past = client.get("servicerequestupdates.json", **window)
    assert past.json() == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Case)).scalar_one() == 1
    assert leaked(*client.bodies) == []


def test_no_answer_shows_a_marker_of_a_case_from_any_channel(
    gateway: tuple[Recorder, Engine, KeyRing],
) -> None:
    """A hotline work order whose caller, number, ID and address are the markers, repeated in its
    text, read through every Open311 resource in both formats: none of them shows a marker."""
    from casehub.pipeline import Pipeline
    from connectors.hotline import MAPPER as HOTLINE
    from tests.markers import marked_order

    client, engine, ring = gateway
    assert Pipeline(engine, HOTLINE, ring).ingest([marked_order()]).accepted == 1
    with engine.connect() as conn:
        case_id, content = conn.execute(
            select(Case.case_id, Case.content).where(Case.channel == "hotline")
        ).one()
    assert set(leaked(content)) >= {NAME, PHONE, ID_NUMBER}, "the store's text holds them"
    api_key = keys.issue(engine, "a civic app").api_key
    update = {
        "api_key": api_key, "update_id": "u-1", "service_request_id": case_id, "status": "OPEN",
        "updated_datetime": "2026-12-01T10:00:00+08:00", "description": f"{NAME}说：打{PHONE}找我",
        "first_name": NAME[1:], "last_name": NAME[0],
    }
    assert client.post("servicerequestupdates.json", update).status_code == 200
    for fmt in ("json", "xml"):
        client.get(f"requests/{case_id}.{fmt}")
        client.get(f"requests.{fmt}")
        client.get(f"requests.{fmt}", service_request_id=case_id)
        client.get(f"servicerequestupdates.{fmt}")
    [shown] = client.get(f"requests/{case_id}.json").json()
    valid_list("request", [shown])
    assert shown["description"] and shown["address"] == "江岸区解放大道"
    assert NAME[0] + "*" in shown["description"], "the name is masked where the text repeats it"
    assert leaked(*client.bodies) == [], [body for body in client.bodies if leaked(body)][:1]

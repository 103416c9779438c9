"""The district standard interface over SOAP, as a district platform uses it: zeep, built from the
WSDL the gateway serves and nothing else, signing with a UsernameToken PasswordDigest, against the
gateway under uvicorn on a loopback port, on SQLite and PostgreSQL. Cases reach the district the
way they do in production: a hotline work order ingested by the pipeline is dispatched to it."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from sqlalchemy import Engine, create_engine, select
from zeep.exceptions import Fault
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from casehub import credentials
from casehub.crypto import KeyRing
from casehub.gateway import create_app
from casehub.gateway.soap.wssecurity import digest
from casehub.paths import SCHEMAS_DIR
from casehub.pipeline import Pipeline
from casehub.store.db import prepare
from casehub.store.models import Case, OutboxEvent
from connectors.hotline import MAPPER
from tests.samples import work_order
from tests.threaded import serving

DISTRICT = "420102"  # 江岸区, where the sample work orders happen
OTHER_DISTRICT = "420106"
PATH = "/soap/district"
NAMESPACE = "urn:casehub:district:v1"
WSDL_FILE = SCHEMAS_DIR / "wsdl" / "district.wsdl"
REPORTER, PHONE = "张明", "13800138000"
NOISE, FUMES = "HL0201", "HL0202"  # 噪声扰民, 餐饮油烟: handled in the district, not by urban management


@pytest.fixture
def ring_env(keyring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> KeyRing:
    monkeypatch.setenv("CASEHUB_KEYRING", keyring.to_json())
    monkeypatch.delenv("CASEHUB_KEYRING_FILE", raising=False)
    return keyring


@pytest.fixture
def gateway(engine: Engine, ring_env: KeyRing) -> Iterator[str]:
    with serving(create_app(engine)) as url:
        yield url


@pytest.fixture
def cases(engine: Engine, ring_env: KeyRing) -> list[str]:
    """Two hotline cases dispatched to the district, oldest first."""
    pipeline = Pipeline(engine, MAPPER, ring_env)
    ids = []
    for number, category in ((1, NOISE), (2, FUMES)):
        page = pipeline.ingest([work_order(GDBH=f"WH2026112000000{number}", YWLBDM=category)])
        assert page.accepted == 1
    with engine.connect() as conn:
        ids = list(conn.scalars(select(OutboxEvent.case_id).where(OutboxEvent.target == DISTRICT)))
    assert len(ids) == 2
    return ids


@pytest.fixture
def credential(engine: Engine, ring_env: KeyRing) -> credentials.Issued:
    return credentials.issue(engine, ring_env, DISTRICT, kind="soap")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


Client = Callable[..., zeep.proxy.ServiceProxy]


@pytest.fixture
def district(gateway: str, credential: credentials.Issued, http: requests.Session) -> Client:
    """A generic WSDL-driven client of the served contract, signing as the district (or as told)."""

    def build(username: str = credential.key_id, password: str = credential.secret, **token: Any) -> Any:
        client = zeep.Client(
            f"{gateway}{PATH}?wsdl",
            wsse=UsernameToken(username, password, use_digest=True, **token),
            transport=Transport(session=http, operation_timeout=30),
            settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
        )
        return client.service

    return build


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def refused(call: Callable[[], object]) -> tuple[str, list[dict[str, str | None]], str]:
    """The faultcode, the DistrictFault details and the faultstring of a refused call."""
    with pytest.raises(Fault) as fault:
        call()
    detail = fault.value.detail
    assert detail is not None
    entries = [
        {name: entry.findtext(f"{{{NAMESPACE}}}{name}") for name in ("Code", "Field", "Message")}
        for entry in detail.iter(f"{{{NAMESPACE}}}DistrictFault")
    ]
    assert entries, "a fault without a DistrictFault detail"
    message = str(fault.value.message)
    assert REPORTER not in message and PHONE not in message
    return str(fault.value.code), entries, message


def status_of(engine: Engine, case_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(select(Case.status).where(Case.case_id == case_id)))


def test_the_served_wsdl_points_at_the_gateway_and_is_the_contract_file(
    gateway: str, http: requests.Session
) -> None:
    response = http.get(f"{gateway}{PATH}?wsdl", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    served = etree.fromstring(response.content)
    [address] = served.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == f"{gateway}{PATH}"
    original = etree.parse(str(WSDL_FILE)).getroot()
    for node in original.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
        node.set("location", f"{gateway}{PATH}")
    assert etree.tostring(served) == etree.tostring(original)
    plain = http.get(f"{gateway}{PATH}", timeout=30)
    assert plain.status_code == 400 and plain.json()["type"] == "urn:casehub:problem:wsdl-expected"


def test_the_contract_declares_what_docs_and_the_district_record_say() -> None:
    """Every operation of docs/district-interface.md, and a Case element for every field of the
    district record, in its order (schemas/recipients/district.json)."""
    tree = etree.parse(str(WSDL_FILE))
    xs = {"xs": "http://www.w3.org/2001/XMLSchema", "wsdl": "http://schemas.xmlsoap.org/wsdl/"}
    operations = tree.xpath("//wsdl:portType/wsdl:operation/@name", namespaces=xs)
    assert operations == [
        "GetDispatches",
        "AckDispatch",
        "AcceptCase",
        "ReportProgress",
        "CompleteCase",
        "ApplyPostponement",
        "ReturnCase",
    ]
    faults = tree.xpath("//wsdl:portType/wsdl:operation/wsdl:fault/@message", namespaces=xs)
    assert faults == ["tns:DistrictFault"] * len(operations)
    record = json.loads((SCHEMAS_DIR / "recipients" / "district.json").read_text(encoding="utf-8"))
    fields = record["x-recipient"]["fields"]
    elements = tree.xpath("//xs:complexType[@name='DistrictCase']/xs:sequence/xs:element", namespaces=xs)
    assert [e.get("name") for e in elements] == [
        "".join(p.capitalize() for p in f.split("_")) for f in fields
    ]
    assert all(e.get("minOccurs") == "0" for e in elements)


def test_a_district_lists_its_dispatches_with_the_case_and_confirms_them(
    district: Client, cases: list[str]
) -> None:
    service = district()
    listed = service.GetDispatches(DistrictCode=DISTRICT, Limit=10)
    assert [d.CaseId for d in listed] == cases
    first = listed[0]
    assert first.Kind == "dispatch" and first.DispatchedAt.tzinfo is not None
    case = first.Case
    assert (case.CaseId, case.Channel, case.DistrictCode, case.Status) == (
        cases[0],
        "hotline",
        DISTRICT,
        "dispatched",
    )
    assert case.ReporterName == REPORTER and case.ReporterPhone.endswith(PHONE)  # to call back
    assert case.DeadlineAt.tzinfo is not None and case.TimeLimitDays == 5
    assert case.StreetCode is None  # no value: left out
    assert [d.CaseId for d in service.GetDispatches(DistrictCode=DISTRICT, Limit=1)] == cases[:1]
    assert len(service.GetDispatches(DistrictCode=DISTRICT)) == 2  # Limit may be left out
    receipt = service.AckDispatch(DistrictCode=DISTRICT, EventId=first.EventId)
    assert (receipt.EventId, receipt.State) == (first.EventId, "delivered")
    assert [d.CaseId for d in service.GetDispatches(DistrictCode=DISTRICT)] == cases[1:]


def test_a_case_is_accepted_progressed_and_completed(
    district: Client, cases: list[str], engine: Engine
) -> None:
    service, case_id = district(), cases[0]
    accept = {
        "DistrictCode": DISTRICT,
        "CaseId": case_id,
        "OperationId": "accept-1",
        "At": now(),
        "Handler": "王五",
    }
    accepted = service.AcceptCase(**accept)
    assert (accepted.CaseId, accepted.Status, accepted.Duplicate) == (case_id, "accepted", False)
    again = service.AcceptCase(**accept)  # the same request, sent again
    assert again.Duplicate is True and again.Version == accepted.Version
    progress = service.ReportProgress(
        DistrictCode=DISTRICT, CaseId=case_id, OperationId="progress-1", At=now(), Note="已联系商户整改"
    )
    assert progress.Status == "processing" and progress.Version == accepted.Version + 1
    done = service.CompleteCase(
        DistrictCode=DISTRICT, CaseId=case_id, OperationId="complete-1", At=now(), Result="已整改到位"
    )
    assert done.Status == "completed" and status_of(engine, case_id) == "completed"
    assert service.GetDispatches(DistrictCode=DISTRICT)[0].CaseId == cases[1]  # accepting confirmed it


def test_a_postponement_moves_the_deadline_once(district: Client, cases: list[str]) -> None:
    service, case_id = district(), cases[0]
    accepted = service.AcceptCase(DistrictCode=DISTRICT, CaseId=case_id, OperationId="accept-1", At=now())
    postpone = {
        "DistrictCode": DISTRICT,
        "CaseId": case_id,
        "At": now(),
        "Days": 3,
        "Reason": "需协调环保部门",
    }
    postponed = service.ApplyPostponement(OperationId="postpone-1", **postpone)
    assert postponed.Status == "accepted" and postponed.DeadlineAt > accepted.DeadlineAt
    code, details, _ = refused(lambda: service.ApplyPostponement(OperationId="postpone-2", **postpone))
    assert code == "soap:Client" and details[0]["Field"] == "Days"


def test_a_case_returned_to_another_district_is_dispatched_there(
    district: Client, cases: list[str], engine: Engine
) -> None:
    service = district()
    moved = service.ReturnCase(
        DistrictCode=DISTRICT,
        CaseId=cases[0],
        OperationId="return-1",
        At=now(),
        ReasonCode="not_in_jurisdiction",
        Reason="地址属于武昌区",
        SuggestedDistrict=OTHER_DISTRICT,
    )
    assert moved.Status == "dispatched"
    with engine.connect() as conn:
        targets = set(conn.scalars(select(OutboxEvent.target).where(OutboxEvent.case_id == cases[0])))
    assert OTHER_DISTRICT in targets
    back = service.ReturnCase(
        DistrictCode=DISTRICT,
        CaseId=cases[1],
        OperationId="return-2",
        At=now(),
        ReasonCode="not_our_department",
        Reason="不属于本区职责",
    )
    assert back.Status == "returned"
    assert service.GetDispatches(DistrictCode=DISTRICT) is None  # zeep reads an empty list as None


def test_an_invalid_action_names_each_element_at_fault(
    district: Client, cases: list[str], engine: Engine
) -> None:
    service = district()
    code, details, message = refused(
        lambda: service.ApplyPostponement(
            DistrictCode=DISTRICT, CaseId=cases[0], OperationId="not valid!", At=now(), Days=99, Reason="x"
        )
    )
    assert code == "soap:Client"
    assert {(d["Field"], d["Code"]) for d in details} == {
        ("Days", "schema_maximum"),
        ("OperationId", "schema_pattern"),
    }
    assert "Days:" in message and "OperationId:" in message and "99" not in message
    code, details, _ = refused(
        lambda: service.AcceptCase(
            DistrictCode=DISTRICT, CaseId=cases[0], OperationId="late", At=now() + timedelta(hours=1)
        )
    )
    assert code == "soap:Client" and details[0]["Field"] == "At"
    assert status_of(engine, cases[0]) == "dispatched"


def test_an_unknown_case_or_event_is_not_found(district: Client, cases: list[str]) -> None:
    service = district()
    code, details, _ = refused(
        lambda: service.AcceptCase(DistrictCode=DISTRICT, CaseId="no-such-case", OperationId="a-1", At=now())
    )
    assert code == "soap:Client" and details[0]["Code"] == "not_found"
    code, details, _ = refused(lambda: service.AckDispatch(DistrictCode=DISTRICT, EventId="no-such-event"))
    assert code == "soap:Client" and (details[0]["Code"], details[0]["Field"]) == ("not_found", "EventId")


def test_an_action_the_status_does_not_allow_or_a_reused_operation_id_conflicts(
    district: Client, cases: list[str]
) -> None:
    service = district()
    code, details, _ = refused(
        lambda: service.CompleteCase(
            DistrictCode=DISTRICT, CaseId=cases[0], OperationId="c-1", At=now(), Result="x"
        )
    )
    assert code == "soap:Client" and details[0]["Code"]
    service.AcceptCase(DistrictCode=DISTRICT, CaseId=cases[0], OperationId="same-id", At=now())
    code, details, _ = refused(
        lambda: service.ReportProgress(
            DistrictCode=DISTRICT, CaseId=cases[0], OperationId="same-id", At=now(), Note="进展"
        )
    )
    assert code == "soap:Client" and details[0]["Field"] == "OperationId"


def test_a_credential_acts_only_for_its_own_district(
    district: Client, cases: list[str], engine: Engine, ring_env: KeyRing
) -> None:
    code, details, message = refused(lambda: district().GetDispatches(DistrictCode=OTHER_DISTRICT))
    assert code == "wsse:FailedAuthentication" and "not this district's credential" in message
    assert details[0]["Code"] == "failed_authentication"
    other = credentials.issue(engine, ring_env, OTHER_DISTRICT, kind="soap")
    service = district(other.key_id, other.secret)
    assert service.GetDispatches(DistrictCode=OTHER_DISTRICT) is None  # nothing dispatched there
    code, details, _ = refused(
        lambda: service.AcceptCase(DistrictCode=OTHER_DISTRICT, CaseId=cases[0], OperationId="x-1", At=now())
    )
    assert details[0]["Code"] == "not_found"  # a case dispatched elsewhere does not exist for it


@pytest.mark.parametrize(
    ("token", "named"),
    [
        ({"password": "wrong"}, "unknown user or wrong password digest"),
        ({"username": "district-420102-000000000000"}, "unknown user or wrong password digest"),
        ({"created": -timedelta(minutes=10)}, "stale"),
        ({"created": timedelta(minutes=10)}, "in the future"),
    ],
    ids=["wrong password", "unknown user", "stale", "future"],
)
def test_a_refused_token_is_a_failed_authentication_naming_why(
    district: Client, cases: list[str], token: dict[str, Any], named: str, credential: credentials.Issued
) -> None:
    if isinstance(token.get("created"), timedelta):  # relative to when the test runs, not to collection
        token = {**token, "created": datetime.now(UTC) + token["created"]}
    code, _, message = refused(lambda: district(**token).GetDispatches(DistrictCode=DISTRICT))
    assert code == "wsse:FailedAuthentication" and named in message
    assert credential.secret not in message


def test_a_replayed_request_is_refused(district: Client, cases: list[str]) -> None:
    """The same nonce and Created sent twice, as a captured request replayed would be."""
    token = {"nonce": base64.b64encode(os.urandom(12)).decode(), "created": now()}
    assert len(district(**token).GetDispatches(DistrictCode=DISTRICT)) == 2
    code, _, message = refused(lambda: district(**token).GetDispatches(DistrictCode=DISTRICT))
    assert code == "wsse:FailedAuthentication" and "replayed" in message


def test_a_request_without_a_token_is_refused(gateway: str, http: requests.Session) -> None:
    body = (
        f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:d="{NAMESPACE}">'
        f"<soap:Body><d:GetDispatches><d:DistrictCode>{DISTRICT}</d:DistrictCode></d:GetDispatches>"
        "</soap:Body></soap:Envelope>"
    )
    response = http.post(
        f"{gateway}{PATH}", data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=30
    )
    assert response.status_code == 500
    assert "wsse:FailedAuthentication" in response.text and "no wsse:Security" in response.text


def test_unknown_repeated_or_missing_elements_are_refused_by_name(
    gateway: str, http: requests.Session, credential: credentials.Issued
) -> None:
    def signed(operation: str) -> requests.Response:
        nonce, created = os.urandom(16), now().isoformat()
        wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
        wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
        kind = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
        body = (
            f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:d="{NAMESPACE}" '
            f'xmlns:wsse="{wsse}" xmlns:wsu="{wsu}"><soap:Header><wsse:Security><wsse:UsernameToken>'
            f"<wsse:Username>{credential.key_id}</wsse:Username>"
            f'<wsse:Password Type="{kind}">{digest(nonce, created, credential.secret)}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
            f"</wsse:UsernameToken></wsse:Security></soap:Header><soap:Body>{operation}</soap:Body></soap:Envelope>"
        )
        return http.post(
            f"{gateway}{PATH}", data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=30
        )

    def details(response: requests.Response) -> list[tuple[str | None, str | None]]:
        assert response.status_code == 500
        root = etree.fromstring(response.content)
        return [
            (e.findtext(f"{{{NAMESPACE}}}Field"), e.findtext(f"{{{NAMESPACE}}}Code"))
            for e in root.iter(f"{{{NAMESPACE}}}DistrictFault")
        ]

    assert details(
        signed(
            f"<d:GetDispatches><d:DistrictCode>{DISTRICT}</d:DistrictCode><d:Lmit>5</d:Lmit>"
            "</d:GetDispatches>"
        )
    ) == [("Lmit", "unknown_element")]
    assert details(
        signed(
            f"<d:GetDispatches><d:DistrictCode>{DISTRICT}</d:DistrictCode><d:Limit>900</d:Limit>"
            "</d:GetDispatches>"
        )
    ) == [("Limit", "invalid_value")]
    assert details(signed("<d:GetDispatches><d:DistrictCode/></d:GetDispatches>")) == [
        ("DistrictCode", "missing_field")
    ]
    assert details(
        signed(
            f"<d:AcceptCase><d:DistrictCode>{DISTRICT}</d:DistrictCode><d:CaseId>x</d:CaseId><d:CaseId>y</d:CaseId>"
            "</d:AcceptCase>"
        )
    ) == [("CaseId", "repeated_element")]
    assert details(
        signed(
            f"<d:ApplyPostponement><d:DistrictCode>{DISTRICT}</d:DistrictCode><d:CaseId>x</d:CaseId>"
            "<d:OperationId>p-1</d:OperationId><d:Days>three</d:Days></d:ApplyPostponement>"
        )
    ) == [("Days", "invalid_value")]


def test_a_gateway_without_a_store_or_a_key_ring_answers_a_server_fault(
    ring_env: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http: requests.Session
) -> None:
    """soap:Server: the caller may try again later; nothing of the hub's failure is shown."""
    unreachable = prepare(create_engine(f"sqlite:///{tmp_path / 'missing' / 'casehub.db'}"))

    def get_dispatches(url: str) -> Callable[[], object]:
        service = zeep.Client(
            f"{url}{PATH}?wsdl",
            wsse=UsernameToken("district-420102-aaaaaaaaaaaa", "x", use_digest=True),
            transport=Transport(session=http, operation_timeout=30),
            settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
        ).service
        return lambda: service.GetDispatches(DistrictCode=DISTRICT)

    with serving(create_app(unreachable)) as url:
        code, details, message = refused(get_dispatches(url))
    assert (code, details[0]["Code"]) == ("soap:Server", "store_unavailable")
    assert "Traceback" not in message and "sqlite" not in message.lower()
    monkeypatch.delenv("CASEHUB_KEYRING")
    with serving(create_app(unreachable)) as url:
        code, details, _ = refused(get_dispatches(url))
    assert (code, details[0]["Code"]) == ("soap:Server", "not_configured")


def test_nothing_personal_is_logged(
    district: Client, cases: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="casehub")
    service = district()
    service.GetDispatches(DistrictCode=DISTRICT)
    refused(
        lambda: service.ReportProgress(
            DistrictCode=DISTRICT, CaseId=cases[0], OperationId="p-1", At=now(), Note=f"{REPORTER} {PHONE}"
        )
    )
    refused(lambda: district(password=PHONE).GetDispatches(DistrictCode=DISTRICT))
    assert REPORTER not in caplog.text and PHONE not in caplog.text
    assert "district SOAP ReportProgress refused" in caplog.text

"""The urban management simulator takes transferred cases (CreateCase): each event id applied once
and counted at /_admin/effects, each case worked step by step and listed by
QueryTransferProgress, never served back through QueryCaseFiles, hostile requests refused with
a fault naming the element."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.settings import Settings
from zeep.wsse.username import UsernameToken

from simulators import testing
from simulators.records import SHANGHAI
from simulators.transfers import TransferBook
from tests.simulators.soap_requests import signed_envelope

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WSDL = Path(__file__).resolve().parents[2] / "schemas" / "wsdl" / "urban_mgmt.wsdl"
BINDING = "{urn:wuhan:szcg:casefile:v1}CaseFileBinding"
TNS = "urn:wuhan:szcg:casefile:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PASSWORD = "urban-demo-secret"
EVER = ("2000-01-01 00:00:00", "2999-01-01 00:00:00")
FINAL = ("08", "99")


def _case(
    event_id: str = "evt-1", external_no: str = "a3c1e7f0-1c2d-5e6f-8a9b-0c1d2e3f4a5b", **fields: Any
) -> dict[str, Any]:
    case = {
        "EventId": event_id,
        "ExternalNo": external_no,
        "Title": "解放大道暴露垃圾未清运",
        "Description": "解放大道与三阳路交叉口路边有暴露垃圾，已三天未清运。",
        "UnifiedCategoryCode": "020001",
        "UnifiedCategoryName": "暴露垃圾",
        "Address": "江岸区解放大道与三阳路交叉口",
        "DistrictCode": "420102",
        "ReportTime": "2025-03-09 10:00:00",
        "DeadlineTime": "2025-03-12 18:00:00",
        "Urgency": "一般",
        "CoordX": "528770.24",
        "CoordY": "3386666.25",
    }
    case.update(fields)
    return case


def _service(simulator: testing.RunningSimulator) -> zeep.proxy.ServiceProxy:
    client = zeep.Client(
        str(WSDL),
        wsse=UsernameToken("casehub", PASSWORD, use_digest=True),
        settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
    )
    return client.create_service(BINDING, simulator.url + "/ws/casefile")


def _progress(
    service: zeep.proxy.ServiceProxy, size: int = 500, window: tuple[str, str] = EVER
) -> list[dict[str, Any]]:
    """Every progress entry of the window, page by page."""
    first = service.QueryTransferProgress(StartTime=window[0], EndTime=window[1], PageNo=1, PageSize=size)
    pages = [first] + [
        service.QueryTransferProgress(StartTime=window[0], EndTime=window[1], PageNo=page, PageSize=size)
        for page in range(2, -(-first.Total // size) + 1)
    ]
    entries = [
        entry for page in pages if page.ProgressEntries for entry in page.ProgressEntries.ProgressEntry
    ]
    assert len(entries) == first.Total
    return [zeep.helpers.serialize_object(entry, dict) for entry in entries]


def _post(simulator: testing.RunningSimulator, body: str) -> requests.Response:
    return requests.post(
        simulator.url + "/ws/casefile",
        data=signed_envelope(body, prefix="cg", namespace=TNS, password=PASSWORD),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )


def _create_body(fields: dict[str, Any]) -> str:
    inner = "".join(f"<cg:{name}>{value}</cg:{name}>" for name, value in fields.items() if value is not None)
    return f"<cg:CreateCase>{inner}</cg:CreateCase>"


def _fault_of(answer: requests.Response) -> tuple[str, str, str]:
    fault = etree.fromstring(answer.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, answer.text
    error = fault.findtext(f"detail/{{{TNS}}}ServiceFault/{{{TNS}}}ErrorCode") or ""
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or "", error


@pytest.fixture(scope="module")
def at_once_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.RunningSimulator]:
    """Urban management taking every step of a transferred case the moment it is created."""
    var_dir = tmp_path_factory.mktemp("transfers")
    with testing.start("urban_mgmt", anchor=ANCHOR, var_dir=var_dir, transfer_step_seconds=0) as simulator:
        yield simulator


@pytest.fixture
def at_once(at_once_session: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield at_once_session
    at_once_session.reset()


def _full_path_event(prefix: str) -> str:
    """An event id whose transfer goes the whole way (not handed back), as the seed decides."""
    for number in range(100):
        event_id = f"{prefix}-{number}"
        transfer, _ = TransferBook(seed=42, step_ms=0).create(_case(event_id), 0)
        if transfer.steps[-1].status == "08":
            return event_id
    raise AssertionError("no event id of a full path among 100")


# --- CreateCase, once per event -------------------------------------------------------------


def test_a_transferred_case_gets_a_case_number_once(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    first = service.CreateCase(**_case())
    again = service.CreateCase(**_case(Title="重发时改动的标题"))
    assert re.fullmatch(r"CG\d{6}9\d{5}", first.CaseNo)
    assert (first.Duplicate, again.Duplicate, again.CaseNo) == (False, True, first.CaseNo)
    assert at_once.effects() == {"evt-1": 1}
    [_, received] = at_once.received()
    assert received["outcome"] == {"CaseNo": first.CaseNo, "Duplicate": True}


def test_a_second_event_for_the_same_case_creates_nothing(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    first = service.CreateCase(**_case("evt-1"))
    second = service.CreateCase(**_case("evt-2"))
    other = service.CreateCase(**_case("evt-3", external_no="b3c1e7f0-1c2d-5e6f-8a9b-0c1d2e3f4a5b"))
    assert (second.CaseNo, second.Duplicate) == (first.CaseNo, True)
    assert (other.CaseNo != first.CaseNo, other.Duplicate) == (True, False)
    assert at_once.effects() == {"evt-1": 1, "evt-3": 1}
    at_once.reset()
    assert at_once.effects() == {}


# --- progress ----------------------------------------------------------------------------


def test_the_progress_lists_every_step_of_a_transferred_case(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    event_id = _full_path_event("evt-full")
    case = _case(event_id)
    created = service.CreateCase(**case)
    entries = _progress(service)
    assert {entry["CaseNo"] for entry in entries} == {created.CaseNo}
    assert {entry["ExternalNo"] for entry in entries} == {case["ExternalNo"]}
    assert [entry["StepNo"] for entry in entries] == [str(n) for n in range(1, len(entries) + 1)]
    statuses = [entry["StatusCode"] for entry in entries]
    assert statuses[:3] == ["01", "02", "03"]
    assert statuses[-3:] == ["06", "07", "08"]
    closed = entries[-1]
    assert closed["Result"] and closed["Result"] == entries[-3]["Note"]
    assert closed["Department"].endswith("城市管理监督指挥中心")
    assert entries[3]["Department"] == "江岸区城市管理执法局"
    assert all(not entry["Result"] for entry in entries[:-3])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["UpdateTime"]) for entry in entries)


def test_a_case_may_be_handed_back_with_a_reason(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    for number in range(60):
        service.CreateCase(**_case(f"evt-{number}", external_no=f"case-{number}"))
    entries = _progress(service)
    last = {}
    for entry in entries:
        last[entry["CaseNo"]] = entry
    assert {entry["StatusCode"] for entry in last.values()} <= set(FINAL)
    handed_back = [entry for entry in last.values() if entry["StatusCode"] == "99"]
    assert handed_back, "one transfer in twelve is handed back; none of 60 was"
    assert all(entry["ReasonCode"] in ("01", "02", "03") and entry["Result"] for entry in handed_back)


def test_the_progress_pages_completely_in_order(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    for number in range(8):
        service.CreateCase(**_case(f"evt-{number}", external_no=f"case-{number}"))
    whole = _progress(service, size=500)
    paged = _progress(service, size=7)
    assert paged == whole
    keys = [(entry["UpdateTime"], entry["CaseNo"], int(entry["StepNo"])) for entry in whole]
    assert keys == sorted(keys)
    empty = service.QueryTransferProgress(StartTime=EVER[0], EndTime=EVER[1], PageNo=99, PageSize=7)
    assert empty.ProgressEntries is None


def test_the_same_event_takes_the_same_path_on_every_run(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    for number in range(5):
        service.CreateCase(**_case(f"evt-{number}", external_no=f"case-{number}"))
    first = [(entry["StatusCode"], entry["Department"], entry["Note"]) for entry in _progress(service)]
    at_once.reset()
    for number in range(5):
        service.CreateCase(**_case(f"evt-{number}", external_no=f"case-{number}"))
    assert [
        (entry["StatusCode"], entry["Department"], entry["Note"]) for entry in _progress(service)
    ] == first


def test_transferred_cases_are_not_case_files(at_once: testing.RunningSimulator) -> None:
    service = _service(at_once)
    before = service.QueryCaseFiles(StartTime=EVER[0], EndTime=EVER[1], PageNo=1, PageSize=1).Total
    created = service.CreateCase(**_case())
    after = service.QueryCaseFiles(StartTime=EVER[0], EndTime=EVER[1], PageNo=1, PageSize=500)
    assert after.Total == before
    served = [case.CaseNo for case in after.CaseFiles.CaseFile]
    assert created.CaseNo not in served
    with pytest.raises(zeep.exceptions.Fault) as missing:
        service.GetCaseFile(CaseNo=created.CaseNo)
    assert missing.value.message.startswith("NotFound")


def test_a_transfer_progresses_at_the_configured_pace(tmp_path: Path) -> None:
    with testing.start(
        "urban_mgmt", anchor=ANCHOR, var_dir=tmp_path, records=10, transfer_step_seconds=0.5
    ) as paced:
        service = _service(paced)
        service.CreateCase(**_case(_full_path_event("evt-paced")))
        early = _progress(service)
        deadline = time.monotonic() + 30
        while (late := _progress(service))[-1]["StatusCode"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
    assert early[0]["StatusCode"] == "01"
    assert early[-1]["StatusCode"] not in FINAL
    assert late[-1]["StatusCode"] == "08"
    assert late[: len(early)] == early
    assert late[-1]["UpdateTime"] > early[0]["UpdateTime"]


# --- hostile requests ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"Title": None}, "missing element Title"),
        ({"EventId": ""}, "missing element EventId"),
        ({"ReportTime": "2025/03/09 10:00"}, "ReportTime must be a local time"),
        ({"DeadlineTime": "2025-03-01 00:00:00"}, "DeadlineTime must not be earlier than ReportTime"),
        ({"Title": "标" * 201}, "Title is over 200 characters"),
        ({"Description": "述" * 10_001}, "Description is over 10000 characters"),
        ({"EventId": "evt 1"}, "EventId must not hold spaces"),
        ({"UnifiedCategoryCode": "0200"}, "UnifiedCategoryCode must be 6 digits"),
        ({"GridCode": "42010600100101"}, "GridCode does not lie in DistrictCode"),
        ({"StreetCode": "420102999"}, "StreetCode is not a region of Wuhan"),
        ({"CoordY": None}, "CoordX and CoordY come together"),
        ({"CoordX": "5.2e5"}, "CoordX and CoordY must be metres"),
        ({"Urgency": "很急"}, "Urgency must be one of"),
    ],
    ids=[
        "missing-title",
        "empty-event-id",
        "bad-time",
        "deadline-before-report",
        "long-title",
        "long-description",
        "spaced-event-id",
        "short-category",
        "grid-elsewhere",
        "unknown-street",
        "one-coordinate",
        "exponent",
        "unknown-urgency",
    ],
)
def test_a_hostile_case_is_refused_naming_the_element(
    at_once: testing.RunningSimulator, fields: dict[str, Any], named: str
) -> None:
    answer = _post(at_once, _create_body(_case(**fields)))
    code, reason, error = _fault_of(answer)
    assert (answer.status_code, code, error) == (500, "soap:Client", "BadRequest")
    assert named in reason
    assert "标标" not in reason and "述述" not in reason
    assert at_once.effects() == {}
    assert _progress(_service(at_once)) == []


def test_an_oversized_case_is_refused(at_once: testing.RunningSimulator) -> None:
    answer = _post(at_once, _create_body(_case(Description="述" * 400_000)))
    code, reason, _ = _fault_of(answer)
    assert (answer.status_code, code) == (500, "soap:Client")
    assert "exceeds" in reason
    assert at_once.effects() == {}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (
            "<cg:QueryTransferProgress><cg:StartTime>2025-03-03</cg:StartTime><cg:EndTime>2025-03-10 00:00:00"
            "</cg:EndTime><cg:PageNo>1</cg:PageNo><cg:PageSize>10</cg:PageSize></cg:QueryTransferProgress>",
            "StartTime must be",
        ),
        (
            "<cg:QueryTransferProgress><cg:StartTime>2025-03-03 00:00:00</cg:StartTime>"
            "<cg:EndTime>2025-03-10 00:00:00</cg:EndTime><cg:PageNo>1</cg:PageNo>"
            "<cg:PageSize>501</cg:PageSize></cg:QueryTransferProgress>",
            "PageSize must be",
        ),
        (
            "<cg:QueryTransferProgress><cg:StartTime>2025-03-03 00:00:00</cg:StartTime>"
            "<cg:PageNo>1</cg:PageNo><cg:PageSize>10</cg:PageSize></cg:QueryTransferProgress>",
            "missing element EndTime",
        ),
    ],
    ids=["bad-time", "page-too-large", "missing-end"],
)
def test_a_malformed_progress_query_is_a_client_fault(
    at_once: testing.RunningSimulator, body: str, named: str
) -> None:
    code, reason, error = _fault_of(_post(at_once, body))
    assert (code, error) == ("soap:Client", "BadRequest")
    assert named in reason


def test_the_fault_plan_applies_to_create_case(at_once: testing.RunningSimulator) -> None:
    at_once.faults("429", retry_after=9)
    throttled = _post(at_once, _create_body(_case()))
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "9")
    at_once.faults("5xx")
    assert _post(at_once, _create_body(_case())).status_code == 503
    assert at_once.effects() == {}
    assert _post(at_once, _create_body(_case())).status_code == 200
    assert at_once.effects() == {"evt-1": 1}

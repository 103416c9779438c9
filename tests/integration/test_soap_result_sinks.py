"""The SOAP partners' event sinks and urban management's progress source against their real
simulators, over loopback HTTP: requests the WSDL's schema takes, one effect per event however
often it is sent, every failure in the right branch of the error tree, and the progress of a
transferred case coming back as the hub's workflow actions."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zeep
from jsonschema import Draft202012Validator
from lxml import etree
from pyproj import Geod

from casehub.errors import ContractError, PermanentPartnerError, TransientPartnerError
from casehub.geo import to_wgs84
from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from casehub.ports import EventSink, OutboundEvent, Window
from connectors import hotline, urban_mgmt
from connectors.kit import Endpoint
from connectors.kit.sink import Destination
from simulators import testing

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
HOTLINE = ("/ws/workorder", "hotline-demo-secret")
URBAN = ("/ws/casefile", "urban-demo-secret")
CASE_ID = "252f98ec-e0d8-57ea-8238-31111914adcf"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def hotline_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.RunningSimulator]:
    var_dir = tmp_path_factory.mktemp("hotline")
    with testing.start("hotline", anchor=ANCHOR, var_dir=var_dir, records=40, hang_seconds=5) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def urban_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.RunningSimulator]:
    var_dir = tmp_path_factory.mktemp("urban")
    with testing.start(
        "urban_mgmt", anchor=ANCHOR, var_dir=var_dir, records=40, hang_seconds=5, transfer_step_seconds=0
    ) as simulator:
        yield simulator


@pytest.fixture
def work_orders(hotline_simulator: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield hotline_simulator
    hotline_simulator.reset()


@pytest.fixture
def urban(urban_simulator: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield urban_simulator
    urban_simulator.reset()


def destination(simulator: testing.RunningSimulator, service: tuple[str, str], **options: Any) -> Destination:
    path, secret = service
    return Destination(
        url=simulator.url + path,
        login="casehub",
        secret=options.pop("secret", secret),
        timeout=options.pop("timeout", 5.0),
    )


def result_event(number: str, event_id: str = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b") -> OutboundEvent:
    completed = datetime.now(UTC).replace(microsecond=0)
    return OutboundEvent(
        event_id=event_id,
        partner="hotline",
        kind="result",
        case_id=CASE_ID,
        case_version=4,
        target=None,
        source_id=number,
        data={
            "status": "completed",
            "result": "经现场核查，路灯已修复并恢复照明。",
            "unit": "江岸区城市管理执法局",
            "unit_code": "420102-CG",
            "completed_at": completed.isoformat(),
        },
        created_at=completed,
    )


def transfer_event(event_id: str = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", **data: Any) -> OutboundEvent:
    return OutboundEvent(
        event_id=event_id,
        partner="urban_mgmt",
        kind="transfer",
        case_id=data.pop("case_id", CASE_ID),
        case_version=2,
        target=None,
        source_id="WH20250303000123",
        data={
            "title": "解放大道暴露垃圾未清运",
            "content": "解放大道与三阳路交叉口路边有暴露垃圾，已三天未清运。",
            "category": "020001",
            "category_name": "暴露垃圾",
            "address": "江岸区解放大道与三阳路交叉口",
            "district_code": "420102",
            "street_code": None,
            "community_code": None,
            "grid_code": None,
            "lng": 114.3,
            "lat": 30.6,
            "reported_at": "2025-03-09T10:00:00+08:00",
            "deadline_at": "2025-03-12T18:00:00+08:00",
            "urgency": "normal",
            **data,
        },
        created_at=datetime.now(UTC),
    )


def first_order(simulator: testing.RunningSimulator) -> str:
    return sorted(simulator.truth())[0]


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@cache
def body_schema(wsdl: str) -> etree.XMLSchema:
    """The schema inside a vendored WSDL, which every request body must follow."""
    tree = etree.parse(str(SCHEMAS_DIR / "wsdl" / wsdl))
    return etree.XMLSchema(tree.find(".//{http://www.w3.org/2001/XMLSchema}schema"))


def request_body(wsdl: str, binding: str, operation: str, fields: dict[str, Any]) -> etree._Element:
    """The body element zeep builds from the WSDL for `fields`, as the sinks send it."""
    client = zeep.Client(str(SCHEMAS_DIR / "wsdl" / wsdl))
    service = client.create_service(binding, "http://127.0.0.1:9/unused")
    envelope = client.create_message(service, operation, **fields)
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    return body[0]


def sent_fault(
    simulator: testing.RunningSimulator, mode: str, sink: EventSink, event: OutboundEvent
) -> Exception:
    simulator.faults(mode, retry_after=7)
    with pytest.raises((TransientPartnerError, PermanentPartnerError)) as failed:
        sink.send(event)
    return failed.value


# --- the hotline's handling results -------------------------------------------------------


def test_a_rendered_result_is_a_request_the_hotline_wsdl_takes(work_orders: testing.RunningSimulator) -> None:
    fields = hotline.EVENT_RENDERER.render(result_event(first_order(work_orders)))
    body = request_body(
        "hotline.wsdl", "{urn:wuhan:12345:workorder:v1}WorkOrderBinding", "SubmitHandlingResult", fields
    )
    schema = body_schema("hotline.wsdl")
    assert schema.validate(body), schema.error_log
    assert [etree.QName(child).localname for child in body] == [
        "GDBH",
        "BLDW",
        "BLJG",
        "BJSJ",
        "CLZT",
        "SJBH",
    ]


def test_a_result_sent_twice_has_one_effect(work_orders: testing.RunningSimulator) -> None:
    number = first_order(work_orders)
    event = result_event(number)
    with hotline.build_event_sink(destination(work_orders, HOTLINE)) as sink:
        first, again = sink.send(event), sink.send(event)
    assert (first.event_id, first.duplicate, again.duplicate) == (event.event_id, False, True)
    assert work_orders.effects() == {event.event_id: 1}
    [applied, repeated] = work_orders.received()
    assert applied["request"]["BLJG"] == "经现场核查，路灯已修复并恢复照明。"
    assert applied["request"]["SJBH"] == repeated["request"]["SJBH"] == event.event_id


def test_a_refused_result_is_permanent_and_names_its_code(work_orders: testing.RunningSimulator) -> None:
    with (
        hotline.build_event_sink(destination(work_orders, HOTLINE)) as sink,
        pytest.raises(PermanentPartnerError) as refused,
    ):
        sink.send(result_event("WH19990101000001"))
    assert "JGDM 1002" in str(refused.value)
    assert "WH19990101000001" not in str(refused.value)
    assert work_orders.effects() == {}


def test_an_event_the_hotline_cannot_take_is_permanent_before_any_call(
    work_orders: testing.RunningSimulator,
) -> None:
    event = result_event(first_order(work_orders))
    broken = OutboundEvent(**{**event.__dict__, "data": {**event.data, "completed_at": "昨天"}})
    with (
        hotline.build_event_sink(destination(work_orders, HOTLINE)) as sink,
        pytest.raises(PermanentPartnerError, match=r"data\.completed_at"),
    ):
        sink.send(broken)
    assert work_orders.received() == []


@pytest.mark.parametrize(("mode", "status"), [("429", 429), ("5xx", 503), ("fault", 500)])
def test_a_partner_failure_is_transient(
    work_orders: testing.RunningSimulator, mode: str, status: int
) -> None:
    event = result_event(first_order(work_orders))
    with hotline.build_event_sink(destination(work_orders, HOTLINE)) as sink:
        error = sent_fault(work_orders, mode, sink, event)
        assert isinstance(error, TransientPartnerError)
        assert error.status == status
        assert error.retry_after == (7.0 if mode == "429" else None)
        assert work_orders.effects() == {}
        assert sink.send(event).duplicate is False
    assert work_orders.effects() == {event.event_id: 1}


def test_a_hung_hotline_is_transient_within_the_timeout(work_orders: testing.RunningSimulator) -> None:
    work_orders.faults("hang", hang_seconds=5)
    started = time.monotonic()
    with (
        hotline.build_event_sink(destination(work_orders, HOTLINE, timeout=0.5)) as sink,
        pytest.raises(TransientPartnerError, match="timed out"),
    ):
        sink.send(result_event(first_order(work_orders)))
    assert time.monotonic() - started < 3
    work_orders.faults("none")


def test_a_refused_credential_is_permanent(work_orders: testing.RunningSimulator) -> None:
    with (
        hotline.build_event_sink(destination(work_orders, HOTLINE, secret="not-the-secret")) as sink,
        pytest.raises(PermanentPartnerError, match="credentials refused") as refused,
    ):
        sink.send(result_event(first_order(work_orders)))
    assert "not-the-secret" not in str(refused.value)
    assert work_orders.effects() == {}


def test_a_partner_that_is_not_there_is_transient() -> None:
    gone = Destination(
        url=f"http://127.0.0.1:{closed_port()}/ws/workorder", login="casehub", secret="x", timeout=2
    )
    with (
        hotline.build_event_sink(gone) as sink,
        pytest.raises(TransientPartnerError, match="connection failed"),
    ):
        sink.send(result_event("WH20250303000123"))


# --- transfers to urban management -------------------------------------------------------


def test_a_rendered_transfer_is_a_request_the_urban_mgmt_wsdl_takes() -> None:
    fields = urban_mgmt.EVENT_RENDERER.render(transfer_event())
    body = request_body(
        "urban_mgmt.wsdl", "{urn:wuhan:szcg:casefile:v1}CaseFileBinding", "CreateCase", fields
    )
    schema = body_schema("urban_mgmt.wsdl")
    assert schema.validate(body), schema.error_log
    sent = {etree.QName(child).localname for child in body}
    assert "StreetCode" not in sent and {"CoordX", "CoordY", "DeadlineTime"} <= sent


def test_a_transfer_sent_twice_creates_one_case(urban: testing.RunningSimulator) -> None:
    event = transfer_event()
    with urban_mgmt.build_event_sink(destination(urban, URBAN)) as sink:
        first, again = sink.send(event), sink.send(event)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.reference is not None and first.reference == again.reference
    assert urban.effects() == {event.event_id: 1}
    request = urban.received()[0]["request"]
    assert request["ExternalNo"] == CASE_ID
    back = to_wgs84(float(request["CoordX"]), float(request["CoordY"]), "EPSG:4547")
    assert GEOD.inv(114.3, 30.6, *back)[2] < 0.15


def test_a_transfer_urban_management_refuses_is_permanent(urban: testing.RunningSimulator) -> None:
    with (
        urban_mgmt.build_event_sink(destination(urban, URBAN)) as sink,
        pytest.raises(PermanentPartnerError, match="request refused") as refused,
    ):
        sink.send(transfer_event(title="标" * 201))
    assert not isinstance(refused.value, ContractError)
    assert "标标" not in str(refused.value)
    assert urban.effects() == {}


@pytest.mark.parametrize(("mode", "status"), [("429", 429), ("5xx", 503), ("fault", 500)])
def test_urban_management_failing_is_transient(
    urban: testing.RunningSimulator, mode: str, status: int
) -> None:
    event = transfer_event()
    with urban_mgmt.build_event_sink(destination(urban, URBAN)) as sink:
        error = sent_fault(urban, mode, sink, event)
        assert isinstance(error, TransientPartnerError)
        assert (error.status, error.retry_after) == (status, 7.0 if mode == "429" else None)
        assert urban.effects() == {}
        assert sink.send(event).duplicate is False
    assert urban.effects() == {event.event_id: 1}


def test_a_refused_credential_at_urban_management_is_permanent(urban: testing.RunningSimulator) -> None:
    with (
        urban_mgmt.build_event_sink(destination(urban, URBAN, secret="not-the-secret")) as sink,
        pytest.raises(PermanentPartnerError, match="credentials refused"),
    ):
        sink.send(transfer_event())
    assert urban.effects() == {}


# --- progress back from urban management --------------------------------------------------


@cache
def _action_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / "district" / "actions.schema.json").read_text("utf-8"))
    return schema


def test_the_progress_of_transferred_cases_becomes_workflow_actions(urban: testing.RunningSimulator) -> None:
    cases = [f"{CASE_ID[:-2]}{number:02d}" for number in range(6)]
    with urban_mgmt.build_event_sink(destination(urban, URBAN)) as sink:
        numbers = {
            sink.send(transfer_event(f"evt-{number}", case_id=case)).reference: case
            for number, case in enumerate(cases)
        }
    endpoint = Endpoint(url=urban.url + URBAN[0], login="casehub", secret=URBAN[1], timeout=5, page_size=4)
    now = datetime.now(UTC)
    source = urban_mgmt.build_progress_source(endpoint)
    try:
        window = Window(now - timedelta(hours=1), now + timedelta(hours=1))
        records = [record for page in source.pages(window) for record in page]
    finally:
        source.close()
    actions = [urban_mgmt.progress_action(record) for record in records]
    assert {action["case_id"] for action in actions} == set(cases)
    assert len({action["operation_id"] for action in actions}) == len(actions)
    schema = _action_schema()
    for case in cases:
        mine = [action for action in actions if action["case_id"] == case]
        assert mine[0]["action"] == "accept"
        assert mine[-1]["action"] in ("complete", "return")
        assert {action["action"] for action in mine[1:-1]} <= {"progress"}
        assert all(action["operation_id"].split(":")[0] in numbers for action in mine)
        for action in mine:
            body = {key: value for key, value in action.items() if key not in ("case_id", "action")}
            validator = Draft202012Validator(
                {**schema["$defs"][action["action"]], "$schema": schema["$schema"]}
            )
            assert not list(validator.iter_errors(body))
            assert action["at"].endswith("+08:00")


def test_the_progress_source_fails_as_the_case_file_source_does(urban: testing.RunningSimulator) -> None:
    endpoint = Endpoint(
        url=urban.url + URBAN[0], login="casehub", secret="not-the-secret", timeout=5, page_size=4
    )
    now = datetime.now(UTC)
    source = urban_mgmt.build_progress_source(endpoint)
    try:
        with pytest.raises(PermanentPartnerError, match="credentials refused"):
            list(source.pages(Window(now - timedelta(hours=1), now)))
    finally:
        source.close()


def test_progress_is_read_with_the_source_s_retries(urban: testing.RunningSimulator, tmp_path: Path) -> None:
    with urban_mgmt.build_event_sink(destination(urban, URBAN)) as sink:
        sink.send(transfer_event())
    urban.faults("5xx", count=1)
    endpoint = Endpoint(url=urban.url + URBAN[0], login="casehub", secret=URBAN[1], timeout=5, page_size=500)
    now = datetime.now(UTC)
    source = urban_mgmt.build_progress_source(endpoint)
    try:
        records = [
            record
            for page in source.pages(Window(now - timedelta(hours=1), now + timedelta(hours=1)))
            for record in page
        ]
    finally:
        source.close()
    assert records and {record["ExternalNo"] for record in records} == {CASE_ID}

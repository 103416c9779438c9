"""The hotline simulator takes the hub's handling results: each event id applied once, counted
at /_admin/effects, completed orders called back (回访) as the hotline's workflow does, hostile
submissions refused with their JGDM, and the fault plan applying to submissions too."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests
import zeep
from lxml import etree
from zeep.settings import Settings
from zeep.wsse.username import UsernameToken

from simulators import testing
from simulators.records import SHANGHAI
from tests.simulators.soap_requests import signed_envelope

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WSDL = Path(__file__).resolve().parents[2] / "schemas" / "wsdl" / "hotline.wsdl"
BINDING = "{urn:wuhan:12345:workorder:v1}WorkOrderBinding"
TNS = "urn:wuhan:12345:workorder:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PASSWORD = "hotline-demo-secret"
WINDOW = ("2025-03-03 00:00:00", "2025-03-10 00:00:00")
ServiceFactory = Callable[..., zeep.proxy.ServiceProxy]


def _now() -> str:
    return datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _first_order(service: zeep.proxy.ServiceProxy) -> str:
    number: str = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1).GDLB.GD[0].GDBH
    return number


def _submit(
    service: zeep.proxy.ServiceProxy, number: str, event_id: str | None = "evt-1", **fields: str
) -> object:
    values = {
        "GDBH": number,
        "BLDW": "江岸区城市管理执法局",
        "BLJG": "已现场处置完毕",
        "BJSJ": _now(),
        "CLZT": "04",
    }
    values.update(fields)
    if event_id is not None:
        values["SJBH"] = event_id
    return service.SubmitHandlingResult(**values)


def _post(simulator: testing.RunningSimulator, payload: bytes) -> requests.Response:
    return requests.post(
        simulator.url + "/ws/workorder",
        data=payload,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )


def _submission(number: str, **fields: str) -> bytes:
    """A raw, signed SubmitHandlingResult of the given elements (in the WSDL's order)."""
    values = {"GDBH": number, "BLDW": "单位", "BLJG": "结果", "BJSJ": _now(), "CLZT": "04", **fields}
    inner = "".join(f"<wo:{name}>{value}</wo:{name}>" for name, value in values.items() if value is not None)
    return signed_envelope(
        f"<wo:SubmitHandlingResult>{inner}</wo:SubmitHandlingResult>",
        prefix="wo",
        namespace=TNS,
        password=PASSWORD,
    )


def _answer(response: requests.Response) -> tuple[str, str]:
    body = etree.fromstring(response.content).find(
        f"{{{SOAP_ENV}}}Body/{{{TNS}}}SubmitHandlingResultResponse"
    )
    assert body is not None, response.text
    return body.findtext(f"{{{TNS}}}JGDM") or "", body.findtext(f"{{{TNS}}}JGXX") or ""


@pytest.fixture(scope="module")
def slow_callbacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[testing.RunningSimulator]:
    """A hotline that calls residents back a second and a half after a completed result."""
    var_dir = tmp_path_factory.mktemp("slow-callbacks")
    with testing.start("hotline", anchor=ANCHOR, var_dir=var_dir, evaluation_delay_seconds=1.5) as simulator:
        yield simulator


def _service_of(simulator: testing.RunningSimulator) -> zeep.proxy.ServiceProxy:
    client = zeep.Client(
        str(WSDL),
        wsse=UsernameToken("casehub", PASSWORD, use_digest=True),
        settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True),
    )
    return client.create_service(BINDING, simulator.url + "/ws/workorder")


# --- one effect per event ---------------------------------------------------------------------


def test_an_event_is_applied_once_and_its_repeat_is_a_duplicate(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = _first_order(service)
    first = _submit(service, number, BLJG="第一次提交的结果")
    again = _submit(service, number, BLJG="重发时改动的结果")
    assert (first.JGDM, first.JGXX) == ("0", "接收成功 accepted")
    assert again.JGDM == "0"
    assert again.JGXX.startswith("重复提交 duplicate")
    assert hotline.effects() == {"evt-1": 1}
    assert service.GetWorkOrder(GDBH=number).BLJG == "第一次提交的结果"
    assert [entry["request"]["SJBH"] for entry in hotline.received()] == ["evt-1", "evt-1"]


def test_effects_count_each_applied_event_and_nothing_refused(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = _first_order(service)
    _submit(service, number, event_id="evt-a")
    _submit(service, number, event_id="evt-b", CLZT="03", BJSJ="")
    refused = _submit(service, "WH19990101000001", event_id="evt-unknown-order")
    legacy = _submit(service, number, event_id=None)
    assert (refused.JGDM, legacy.JGDM) == ("1002", "0")
    assert hotline.effects() == {"evt-a": 1, "evt-b": 1}
    hotline.reset()
    assert hotline.effects() == {}


# --- the callback (回访) --------------------------------------------------------------------


def test_a_completed_result_is_called_back_with_an_evaluation(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = _first_order(service)
    completed = _now()
    _submit(service, number, BLJG="路灯已修复", BJSJ=completed)
    order = service.GetWorkOrder(GDBH=number)
    served = (order.GDZT, order.BLJG, order.BJSJ)
    assert served == ("05", "路灯已修复", completed)
    assert order.MYD in ("满意", "基本满意", "不满意")
    page = service.QueryEvaluations(KSSJ=WINDOW[1], JSSJ="2999-01-01 00:00:00", YM=1, MYTS=10)
    [evaluation] = [item for item in page.PJLB.PJ if item["GDBH"] == number]
    assert (evaluation.MYD, evaluation.HFSJ) == (order.MYD, order.GXSJ)
    assert evaluation.HFNR


def test_the_callback_is_the_same_on_every_run(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = _first_order(service)
    _submit(service, number)
    first = service.GetWorkOrder(GDBH=number)
    first_page = service.QueryEvaluations(KSSJ=WINDOW[1], JSSJ="2999-01-01 00:00:00", YM=1, MYTS=10)
    hotline.reset()
    _submit(work_orders(), number)
    again = work_orders().GetWorkOrder(GDBH=number)
    again_page = work_orders().QueryEvaluations(KSSJ=WINDOW[1], JSSJ="2999-01-01 00:00:00", YM=1, MYTS=10)
    assert (first.GDZT, first.MYD) == (again.GDZT, again.MYD)
    assert [item.HFNR for item in first_page.PJLB.PJ] == [item.HFNR for item in again_page.PJLB.PJ]


def test_a_result_that_does_not_complete_the_order_is_not_called_back(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = _first_order(service)
    _submit(service, number, CLZT="03", BJSJ="")
    order = service.GetWorkOrder(GDBH=number)
    assert (order.GDZT, order.MYD) == ("03", None)
    page = service.QueryEvaluations(KSSJ=WINDOW[1], JSSJ="2999-01-01 00:00:00", YM=1, MYTS=10)
    assert not (page.PJLB and page.PJLB.PJ)


def test_the_callback_follows_after_its_delay(slow_callbacks: testing.RunningSimulator) -> None:
    slow_callbacks.reset()
    service = _service_of(slow_callbacks)
    number = _first_order(service)
    submitted = time.monotonic()
    _submit(service, number)
    assert service.GetWorkOrder(GDBH=number).GDZT == "04"
    deadline = submitted + 15
    while (order := service.GetWorkOrder(GDBH=number)).GDZT == "04" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert order.GDZT == "05"
    assert time.monotonic() - submitted >= 1.5
    assert order.MYD


# --- hostile submissions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code", "named"),
    [
        ({"GDBH": ""}, "1001", "GDBH"),
        ({"BLJG": None}, "1001", "BLJG"),
        ({"BJSJ": "2025/03/09 16:30"}, "1004", "BJSJ"),
        ({"BJSJ": "1999-01-01 00:00:00"}, "1004", "LDSJ"),
        ({"SJBH": "e" * 65}, "1005", "SJBH"),
        ({"SJBH": "evt 1"}, "1005", "SJBH"),
        ({"BLJG": "结" * 10_001}, "1006", "BLJG"),
        ({"BLDW": "单" * 201}, "1006", "BLDW"),
    ],
    ids=[
        "empty-id",
        "missing-result",
        "bad-time",
        "before-the-call",
        "long-event-id",
        "spaced-event-id",
        "long-result",
        "long-unit",
    ],
)
def test_a_hostile_submission_is_refused_by_its_code_and_applies_nothing(
    work_orders: ServiceFactory,
    hotline: testing.RunningSimulator,
    fields: dict[str, str | None],
    code: str,
    named: str,
) -> None:
    number = _first_order(work_orders())
    versions = hotline.truth()[number]["versions"]
    answer = _post(hotline, _submission(number, **{"SJBH": "evt-hostile", **fields}))
    jgdm, jgxx = _answer(answer)
    assert (answer.status_code, jgdm) == (200, code)
    assert named in jgxx
    assert "结结结" not in jgxx and "单单单" not in jgxx
    assert hotline.effects() == {}
    assert hotline.truth()[number]["versions"] == versions


def test_an_oversized_submission_is_a_client_fault(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    number = _first_order(work_orders())
    answer = _post(hotline, _submission(number, BLJG="结" * 400_000, SJBH="evt-huge"))
    fault = etree.fromstring(answer.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert answer.status_code == 500 and fault is not None
    assert (fault.findtext("faultcode"), "exceeds" in (fault.findtext("faultstring") or "")) == (
        "soap:Client",
        True,
    )
    assert hotline.effects() == {}


# --- faults apply to submissions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status"), [("5xx", 503), ("429", 429), ("fault", 500)], ids=["5xx", "429", "soap-server-fault"]
)
def test_the_fault_plan_applies_to_submissions(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator, mode: str, status: int
) -> None:
    number = _first_order(work_orders())
    hotline.faults(mode, retry_after=7)
    answer = _post(hotline, _submission(number, SJBH="evt-faulted"))
    assert answer.status_code == status
    if mode == "429":
        assert answer.headers["Retry-After"] == "7"
    assert hotline.effects() == {}
    assert hotline.received() == []
    assert _answer(_post(hotline, _submission(number, SJBH="evt-faulted")))[0] == "0"
    assert hotline.effects() == {"evt-faulted": 1}


def test_a_hung_submission_is_held_past_the_clients_timeout(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    number = _first_order(work_orders())
    hotline.faults("hang", hang_seconds=30)
    with pytest.raises(requests.Timeout):
        requests.post(
            hotline.url + "/ws/workorder",
            data=_submission(number, SJBH="evt-hung"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=1,
        )
    hotline.faults("none")
    assert hotline.effects() == {}

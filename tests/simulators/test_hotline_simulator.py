"""The hotline simulator answers a zeep client built from the vendored WSDL, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import zeep
from lxml import etree

from simulators import testing
from simulators.reference import hotline_categories
from tests.simulators.soap_requests import signed_envelope

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:wuhan:12345:workorder:v1"
PASSWORD = "hotline-demo-secret"
WINDOW = ("2025-03-03 00:00:00", "2025-03-10 00:00:00")  # the 7 days before the tests' anchor
ServiceFactory = Callable[..., zeep.proxy.ServiceProxy]


def _all_pages(service: zeep.proxy.ServiceProxy, size: int) -> tuple[int, list[dict[str, str]]]:
    """Every GD of the window, page by page, with the total the first page announced."""
    first = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=size)
    orders = list(first.GDLB.GD)
    pages = -(-first.ZS // size)
    for page in range(2, pages + 1):
        orders += service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=page, MYTS=size).GDLB.GD
    return first.ZS, [zeep.helpers.serialize_object(order, dict) for order in orders]


def _signed_envelope(body: str, password: str = PASSWORD) -> bytes:
    """A raw SOAP 1.1 request with a fresh UsernameToken, for payloads zeep would not send."""
    return signed_envelope(body, prefix="wo", namespace=TNS, password=password)


def _fault_of(answer: requests.Response) -> tuple[str, str]:
    fault = etree.fromstring(answer.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, answer.text
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def test_zeep_client_reads_work_orders(work_orders: ServiceFactory) -> None:
    service = work_orders()
    page = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=5)
    assert page.YM == 1
    assert page.MYTS == 5
    assert len(page.GDLB.GD) == 5
    first = page.GDLB.GD[0]
    assert first.GDBH.startswith("WH2025030")
    assert WINDOW[0] <= first.GXSJ
    assert service.GetWorkOrder(GDBH=first.GDBH).GDBH == first.GDBH
    times = [order.GXSJ for order in page.GDLB.GD]
    assert times == sorted(times)


def test_a_window_pages_completely(work_orders: ServiceFactory, hotline: testing.RunningSimulator) -> None:
    total, orders = _all_pages(work_orders(), size=37)
    truth = hotline.truth()
    resent = [number for number, facts in truth.items() if "stale_resend" in facts["defects"]]
    assert len(orders) == total == len(truth) + len(resent)
    assert {order["GDBH"] for order in orders} == set(truth)
    in_order = orders[: len(truth)]
    assert [o["GXSJ"] for o in in_order] == sorted(o["GXSJ"] for o in in_order)
    assert len({o["GDBH"] for o in in_order}) == len(truth)


def test_stale_resends_come_after_the_current_version(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    _, orders = _all_pages(work_orders(), size=500)
    current = {order["GDBH"]: order for order in orders[: len(hotline.truth())]}
    resent = orders[len(current) :]
    assert resent
    for stale in resent:
        assert stale["GXSJ"] < current[stale["GDBH"]]["GXSJ"]


def test_defects_in_the_truth_are_what_is_served(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    _, orders = _all_pages(work_orders(), size=500)
    served = {order["GDBH"]: order for order in orders[: len(hotline.truth())]}
    published = {category.code for category in hotline_categories()}
    for number, facts in hotline.truth().items():
        code = served[number]["YWLBDM"]
        assert (code not in published) == ("unknown_category" in facts["defects"]), number
        if "missing_field" in facts["defects"]:
            assert not served[number]["BT"] or not served[number]["SQNR"]


def test_a_wrong_password_is_refused(work_orders: ServiceFactory) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        work_orders(password="not-the-password").GetWorkOrder(GDBH="WH20250303000001")
    assert refused.value.code == "wsse:FailedAuthentication"


def test_a_replayed_nonce_is_refused(work_orders: ServiceFactory) -> None:
    replaying = work_orders(nonce="the-same-nonce-every-time")
    replaying.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        replaying.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1)
    assert refused.value.code == "wsse:FailedAuthentication"
    assert "already been used" in refused.value.message


def test_an_old_created_time_is_refused(work_orders: ServiceFactory) -> None:
    late = datetime.now(UTC) - timedelta(seconds=301)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        work_orders(created=late).QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1)
    assert refused.value.code == "wsse:FailedAuthentication"


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<wo:GetWorkOrder xmlns:wo="urn:wuhan:12345:workorder:v1"><wo:GDBH>&lol2;</wo:GDBH>'
        b"</wo:GetWorkOrder></soap:Body></soap:Envelope>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<wo:GetWorkOrder xmlns:wo="urn:wuhan:12345:workorder:v1"><wo:GDBH>&xxe;</wo:GDBH>'
        b"</wo:GetWorkOrder></soap:Body></soap:Envelope>",
    ],
    ids=["entity-expansion", "external-entity"],
)
def test_a_doctype_is_refused(
    hotline: testing.RunningSimulator, http: requests.Session, payload: bytes
) -> None:
    answer = http.post(
        hotline.url + "/ws/workorder",
        data=payload,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=5,
    )
    assert answer.status_code == 500
    code, reason = _fault_of(answer)
    assert code == "soap:Client"
    assert "DOCTYPE" in reason
    assert "root:" not in answer.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "<wo:QueryWorkOrders><wo:JSSJ>2025-03-10 00:00:00</wo:JSSJ><wo:YM>1</wo:YM>"
            "<wo:MYTS>10</wo:MYTS></wo:QueryWorkOrders>",
            "missing element KSSJ",
        ),
        (
            "<wo:QueryWorkOrders><wo:KSSJ>2025-03-03T00:00:00</wo:KSSJ><wo:JSSJ>2025-03-10 00:00:00"
            "</wo:JSSJ><wo:YM>1</wo:YM><wo:MYTS>10</wo:MYTS></wo:QueryWorkOrders>",
            "KSSJ must be",
        ),
        (
            "<wo:QueryWorkOrders><wo:KSSJ>2025-03-03 00:00:00</wo:KSSJ><wo:JSSJ>2025-03-10 00:00:00"
            "</wo:JSSJ><wo:YM>1</wo:YM><wo:MYTS>501</wo:MYTS></wo:QueryWorkOrders>",
            "MYTS must be",
        ),
        ("<wo:DeleteWorkOrder><wo:GDBH>x</wo:GDBH></wo:DeleteWorkOrder>", "unknown operation"),
    ],
    ids=["missing-start", "bad-time", "page-too-large", "unknown-operation"],
)
def test_malformed_requests_get_a_precise_client_fault(
    hotline: testing.RunningSimulator, http: requests.Session, body: str, expected: str
) -> None:
    answer = http.post(
        hotline.url + "/ws/workorder",
        data=_signed_envelope(body),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=5,
    )
    code, reason = _fault_of(answer)
    assert (answer.status_code, code) == (500, "soap:Client")
    assert expected in reason


def test_an_unknown_work_order_is_not_found(work_orders: ServiceFactory) -> None:
    with pytest.raises(zeep.exceptions.Fault) as missing:
        work_orders().GetWorkOrder(GDBH="WH19990101000001")
    assert missing.value.code == "soap:Client"
    assert missing.value.message.startswith("NotFound")


def test_a_handling_result_is_recorded_and_applied(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator, var_dir: Path
) -> None:
    service = work_orders()
    number = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1).GDLB.GD[0].GDBH
    versions = hotline.truth()[number]["versions"]
    answer = service.SubmitHandlingResult(
        GDBH=number, BLDW="江岸区城管执法局", BLJG="已现场处置完毕", BJSJ="2025-03-09 16:30:00", CLZT="04"
    )
    assert answer.JGDM == "0"
    assert hotline.truth()[number]["versions"] == versions + 1
    [received] = hotline.received()
    assert received["operation"] == "SubmitHandlingResult"
    assert received["request"]["GDBH"] == number
    assert received["outcome"]["JGDM"] == "0"
    assert number in (var_dir / "simulators" / "hotline" / "received.ndjson").read_text("utf-8")
    updated = service.GetWorkOrder(GDBH=number)  # completed, and called back at once (no delay set)
    assert (updated.GDZT, updated.BLJG, updated.BJSJ) == ("05", "已现场处置完毕", "2025-03-09 16:30:00")
    assert WINDOW[1] < updated.GXSJ


def test_a_handling_result_with_an_unknown_status_is_rejected(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    number = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1).GDLB.GD[0].GDBH
    answer = service.SubmitHandlingResult(GDBH=number, BLDW="单位", BLJG="结果", BJSJ="", CLZT="77")
    assert answer.JGDM == "1003"
    assert hotline.received()[0]["outcome"]["JGDM"] == "1003"


def test_touched_orders_move_to_a_later_window(
    work_orders: ServiceFactory, hotline: testing.RunningSimulator
) -> None:
    service = work_orders()
    before = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1).ZS
    touched = hotline.touch(3)
    after = service.QueryWorkOrders(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=1).ZS
    assert before - after >= 3
    later = service.QueryWorkOrders(KSSJ=WINDOW[1], JSSJ="2999-01-01 00:00:00", YM=1, MYTS=10)
    assert {order.GDBH for order in later.GDLB.GD} == set(touched)


def test_evaluations_are_those_of_evaluated_orders(work_orders: ServiceFactory) -> None:
    service = work_orders()
    _, orders = _all_pages(service, size=500)
    evaluated = {order["GDBH"] for order in orders if order["GDZT"] == "05" and order["MYD"]}
    page = service.QueryEvaluations(KSSJ=WINDOW[0], JSSJ=WINDOW[1], YM=1, MYTS=500)
    assert page.ZS == len(page.PJLB.PJ) == len(evaluated)
    assert {item.GDBH for item in page.PJLB.PJ} == evaluated
    assert all(item.MYD in ("满意", "基本满意", "不满意") and item.HFSJ for item in page.PJLB.PJ)


def test_the_wsdl_names_the_address_the_caller_used(
    hotline: testing.RunningSimulator, http: requests.Session
) -> None:
    answer = http.get(hotline.url + "/ws/workorder?wsdl", timeout=5)
    location = (
        etree.fromstring(answer.content)
        .find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        .get("location")
    )
    assert location == hotline.url + "/ws/workorder"

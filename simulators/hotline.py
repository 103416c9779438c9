"""The mayor hotline 12345 (市长专线) simulator: the work-order SOAP service of hotline.wsdl.

POST /ws/workorder takes SOAP 1.1 document/literal requests signed with a WS-Security
UsernameToken PasswordDigest; GET /ws/workorder?wsdl serves the contract file with its address
pointed at the host the caller used. Window queries page the records by GXSJ, so a work order the
hotline updates while the hub pages moves to a later page, as it does in production; work orders
injected through the admin surface are served, as given, after every window's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from lxml import etree

from simulators import soap, workorders
from simulators.controls import (
    FaultPlan,
    FaultResponses,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
    repeated,
)
from simulators.generator import generate
from simulators.records import Options, Version, now_ms, parse_local
from simulators.reference import hotline_statuses
from simulators.store import RecordStore
from simulators.wssecurity import UsernameTokenVerifier

PARTNER = "hotline"
WSDL_PATH = Path(__file__).resolve().parents[1] / "schemas" / "wsdl" / "hotline.wsdl"
ENDPOINT = "/ws/workorder"
SOAP_ACTION_PREFIX = f"{soap.TNS}/"
MAX_PAGE_SIZE = 500
DEMO_PASSWORD = "hotline-demo-secret"  # noqa: S105 - the documented demo credential, not a secret
XML = "text/xml; charset=utf-8"

Operation = Callable[[SimulatorState, etree._Element], etree._Element]


def create_app(*, seed: int = 42, records: int = 400, defect_rate: float = 0.05, days: int = 7,
               anchor: datetime | None = None, var_dir: str | Path = "var",
               username: str = "casehub", password: str = DEMO_PASSWORD,
               hang_seconds: float = 30.0, retry_after: int = 1) -> FastAPI:
    """A hotline serving `records` seeded work orders over the `days` before `anchor`."""
    options = Options(seed, records, defect_rate, days, anchor)
    store = RecordStore(generate(PARTNER, options), resolution_ms=1000, seed=seed)
    state = SimulatorState(
        partner=PARTNER,
        store=store,
        faults=FaultPlan(hang_seconds=hang_seconds, retry_after=retry_after),
        received=ReceivedLog(received_path(var_dir, PARTNER)),
        responses=FaultResponses(
            fault=_service_fault,
            throttled=_throttled,
            oversized=lambda count, declare_length: _oversized(_sample(store), count, declare_length),
            bad_total=_bad_total,
            hostile_xml=_hostile_xml,
        ),
        injection=Injection(accept=_injectable, listing=dict),
        step=workorders.touched,
        busy=lambda version: workorders.next_status(str(version.payload["GDZT"])) != version.payload["GDZT"],
    )
    verifier = UsernameTokenVerifier(username, password)
    state.on_reset.append(verifier.forget)
    app = FastAPI(title="12345 hotline simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(state))

    @app.get(ENDPOINT)
    async def wsdl(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return PlainTextResponse("POST SOAP 1.1 requests here; the contract is at ?wsdl", 405,
                                     headers={"Allow": "GET, POST"})
        return Response(_wsdl_for(str(request.base_url).rstrip("/") + ENDPOINT), media_type=XML)

    @app.post(ENDPOINT)
    async def endpoint(request: Request) -> Response:
        async def answer() -> Response:
            try:
                body = await _read_capped(request)
                parsed = soap.parse_request(body)
                verifier.verify(parsed.header)
                operation = _operation(parsed.operation, request.headers.get("SOAPAction"))
                return Response(soap.response(operation(state, parsed.operation)), media_type=XML)
            except soap.SoapFault as error:
                return Response(soap.fault(error), status_code=500, media_type=XML)

        return await state.serve(answer)

    return app


def _sample(store: RecordStore) -> dict[str, str]:
    """A work order to repeat: the first one's current version."""
    _, version = next(store.currents())
    return {name: str(value) for name, value in version.payload.items()}


def _oversized(work_order: dict[str, str], count: int, declare_length: bool) -> Response:
    """A QueryWorkOrders answer of `count` copies of one work order, ZS saying so."""
    page = _page_response("QueryWorkOrdersResponse", "GDLB", "GD", [work_order], 1, 1)
    for name in ("ZS", "MYTS"):
        for element in page.iter(f"{{{soap.TNS}}}{name}"):
            element.text = str(count)
    head, rest = soap.response(page).split(b"<wo:GDLB>", 1)
    record, tail = rest.split(b"</wo:GDLB>", 1)
    return repeated(head + b"<wo:GDLB>", record, count, b"</wo:GDLB>" + tail, media_type=XML,
                    declare_length=declare_length)


def _bad_total(response: Response) -> Response:
    """The real answer with ZS written as legacy systems sometimes do, "60条": not an xs:int."""
    body = re.sub(rb"<wo:ZS>(\d+)</wo:ZS>", "<wo:ZS>\\1条</wo:ZS>".encode(), bytes(response.body), count=1)
    return Response(body, status_code=response.status_code, media_type=XML)


def _hostile_xml() -> Response:
    """A work-order page whose DOCTYPE declares nested entities ("billion laughs"): expanded,
    the one title would be 3 GB of "lol"."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    prolog = ['<?xml version="1.0" encoding="utf-8"?>', "<!DOCTYPE soap:Envelope [", *entities, "]>"]
    title = {"GDBH": "WH20250101000001", "BT": "LAUGHS"}
    page = _page_response("QueryWorkOrdersResponse", "GDLB", "GD", [title], 1, 1)
    envelope = soap.response(page).split(b"?>", 1)[1].replace(b">LAUGHS<", b">&lol9;<")
    return Response("\n".join(prolog).encode() + envelope, media_type=XML)


def _injectable(record: Any) -> dict[str, str]:
    """A work order to serve as given: element names and string values XML can carry (no NUL)."""
    if not isinstance(record, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in record.items()
    ):
        raise ValueError("a work order is an object of element names and string values")
    soap.element("GD", dict(record))  # lxml refuses names and text that XML cannot hold
    return dict(record)


def _service_fault() -> Response:
    error = soap.SoapFault("soap:Server", "service temporarily unavailable", "ServiceUnavailable")
    return Response(soap.fault(error), status_code=500, media_type=XML)


def _throttled(retry_after: int) -> Response:
    return PlainTextResponse("Too Many Requests", status_code=429,
                             headers={"Retry-After": str(retry_after)})


async def _read_capped(request: Request) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES rather than read whole first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > soap.MAX_BODY_BYTES:
        raise soap.client_fault(f"request body exceeds {soap.MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > soap.MAX_BODY_BYTES:
            raise soap.client_fault(f"request body exceeds {soap.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _wsdl_for(location: str) -> bytes:
    tree = etree.parse(str(WSDL_PATH), etree.XMLParser(resolve_entities=False, no_network=True))
    for address in tree.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
        address.set("location", location)
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))


def _operation(element: etree._Element, soap_action: str | None) -> Operation:
    """The handler for the body element; a SOAPAction, when sent, must name the same one."""
    namespace, _, name = element.tag.lstrip("{").partition("}")
    if namespace != soap.TNS or name not in OPERATIONS:
        raise soap.client_fault(f"unknown operation {element.tag}; expected one of "
                                f"{', '.join(OPERATIONS)} in {soap.TNS}")
    action = (soap_action or "").strip().strip('"')
    if action and action != SOAP_ACTION_PREFIX + name:
        raise soap.client_fault(f"SOAPAction {action!r} does not match the body element {name}")
    return OPERATIONS[name]


def _required(operation: etree._Element, name: str) -> str:
    value = soap.child_text(operation, name)
    if value is None:
        raise soap.client_fault(f"missing element {name} in {etree.QName(operation).localname}")
    return value


def _local_time(operation: etree._Element, name: str) -> int:
    value = _required(operation, name)
    try:
        return parse_local(value)
    except ValueError:
        raise soap.client_fault(f"{name} must be a local time yyyy-MM-dd HH:mm:ss, got {value!r}") from None


def _integer(operation: etree._Element, name: str, low: int, high: int) -> int:
    value = _required(operation, name)
    if not value.isdigit() or not low <= int(value) <= high:
        raise soap.client_fault(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return int(value)


def _window(operation: etree._Element) -> tuple[int, int, int, int]:
    """KSSJ, JSSJ, YM, MYTS of a window query, checked."""
    start = _local_time(operation, "KSSJ")
    end = _local_time(operation, "JSSJ")
    if start > end:
        raise soap.client_fault("KSSJ must not be later than JSSJ")
    page = _integer(operation, "YM", 1, 10**9)
    size = _integer(operation, "MYTS", 1, MAX_PAGE_SIZE)
    return start, end, page, size


def _page_response(name: str, list_name: str, item_name: str, items: list[dict[str, str]],
                   page: int, size: int) -> etree._Element:
    response = soap.element(name, {"ZS": str(len(items)), "YM": str(page), "MYTS": str(size)})
    listing = etree.SubElement(response, f"{{{soap.TNS}}}{list_name}")
    for item in items[(page - 1) * size: page * size]:
        listing.append(soap.element(item_name, item))
    return response


def query_work_orders(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """QueryWorkOrders: work orders with GXSJ in [KSSJ, JSSJ), stale re-sends at the end."""
    start, end, page, size = _window(operation)
    items = [{k: str(v) for k, v in payload.items()} for payload in state.store.window(start, end)]
    return _page_response("QueryWorkOrdersResponse", "GDLB", "GD", items + state.injected, page, size)


def get_work_order(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """GetWorkOrder: the current version of one work order."""
    number = _required(operation, "GDBH")
    version = state.store.current(number)
    if version is None:
        raise soap.client_fault(f"NotFound: no work order with GDBH {number!r}", "NotFound")
    response = soap.element("GetWorkOrderResponse")
    response.append(soap.element("GD", {k: str(v) for k, v in version.payload.items()}))
    return response


def query_evaluations(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """QueryEvaluations: 回访 evaluations with HFSJ in [KSSJ, JSSJ), by HFSJ then GDBH."""
    start, end, page, size = _window(operation)
    hits = [
        (parse_local(version.evaluation["HFSJ"]), record.order, dict(version.evaluation))
        for record, version in state.store.currents()
        if version.evaluation is not None
    ]
    items = [item for at, _, item in sorted(hits, key=lambda hit: hit[:2]) if start <= at < end]
    return _page_response("QueryEvaluationsResponse", "PJLB", "PJ", items, page, size)


def submit_handling_result(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """SubmitHandlingResult: the hub's result, recorded, and applied as a new version."""
    fields = {name: soap.child_text(operation, name) or ""
              for name in ("GDBH", "BLDW", "BLJG", "BJSJ", "CLZT")}
    current = state.store.current(fields["GDBH"])
    code, message = _judge(current, fields)
    state.received.record("SubmitHandlingResult", fields, {"JGDM": code, "JGXX": message})
    if current is not None and code == "0":
        at_ms = state.store.next_time(fields["GDBH"], now_ms())
        state.store.append(fields["GDBH"], workorders.with_handling_result(
            current, at_ms, fields["BLJG"], fields["BJSJ"], fields["CLZT"]))
    return soap.element("SubmitHandlingResultResponse", {"JGDM": code, "JGXX": message})


def _judge(current: Version | None, fields: dict[str, str]) -> tuple[str, str]:
    """结果代码 JGDM and 结果信息 JGXX, as docs/partners.md lists them."""
    empty = [name for name in ("GDBH", "BLDW", "BLJG", "CLZT") if not fields[name]]
    if fields["CLZT"] in workorders.COMPLETED and not fields["BJSJ"]:
        empty.append("BJSJ")
    if empty:
        return "1001", f"必填项为空 required field empty: {', '.join(empty)}"
    if current is None:
        return "1002", f"工单不存在 no work order {fields['GDBH']}"
    if fields["CLZT"] not in hotline_statuses():
        return "1003", f"状态代码无效 unknown status code {fields['CLZT']}"
    if fields["BJSJ"]:
        try:
            completed = parse_local(fields["BJSJ"])
        except ValueError:
            return "1004", "时间格式错误 BJSJ must be yyyy-MM-dd HH:mm:ss"
        if completed < parse_local(str(current.payload["LDSJ"])):
            return "1004", "时间格式错误 BJSJ is earlier than LDSJ"
    return "0", "接收成功 accepted"


OPERATIONS: dict[str, Operation] = {
    "QueryWorkOrders": query_work_orders,
    "GetWorkOrder": get_work_order,
    "SubmitHandlingResult": submit_handling_result,
    "QueryEvaluations": query_evaluations,
}

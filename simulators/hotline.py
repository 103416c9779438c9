"""The mayor hotline 12345 (市长专线) simulator: the work-order SOAP service of hotline.wsdl.

POST /ws/workorder takes SOAP 1.1 document/literal requests signed with a WS-Security
UsernameToken PasswordDigest; GET /ws/workorder?wsdl serves the contract file with its address
pointed at the host the caller used. Window queries page the records by GXSJ, so a work order the
hotline updates while the hub pages moves to a later page, as it does in production; work orders
injected through the admin surface are served, as given, after every window's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from lxml import etree

from simulators import soap, workorders
from simulators.controls import (
    FaultPlan,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
)
from simulators.generator import generate
from simulators.records import Options, Version, now_ms, parse_local
from simulators.reference import hotline_statuses
from simulators.store import RecordStore
from simulators.wssecurity import UsernameTokenVerifier

PARTNER = "hotline"
SERVICE = soap.Service(
    uri="urn:wuhan:12345:workorder:v1",
    prefix="wo",
    fault_detail=("CWDM", "CWXX"),  # 错误代码 error code, 错误信息 error message
    wsdl=Path(__file__).resolve().parents[1] / "schemas" / "wsdl" / "hotline.wsdl",
    endpoint="/ws/workorder",
)
MAX_PAGE_SIZE = 500
DEMO_PASSWORD = "hotline-demo-secret"  # noqa: S105 - the documented demo credential, not a secret


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
        responses=SERVICE.fault_responses(
            oversized=lambda count, declare_length: _oversized(store, count, declare_length),
            total="ZS",
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
    SERVICE.mount(app, state, OPERATIONS, verifier.verify)
    return app


def _sample(store: RecordStore) -> dict[str, str]:
    """A work order to repeat: the first one's current version."""
    _, version = next(store.currents())
    return {name: str(value) for name, value in version.payload.items()}


def _oversized(store: RecordStore, count: int, declare_length: bool) -> Response:
    """A QueryWorkOrders answer of `count` copies of one work order, ZS saying so."""
    page = _page_response("QueryWorkOrdersResponse", "GDLB", "GD", [_sample(store)], 1, 1)
    return SERVICE.oversized(page, "GDLB", ("ZS", "MYTS"), count, declare_length)


def _hostile_xml() -> Response:
    """A work-order page whose one title is the billion laughs."""
    title = {"GDBH": "WH20250101000001", "BT": soap.LAUGHS}
    return SERVICE.billion_laughs(_page_response("QueryWorkOrdersResponse", "GDLB", "GD", [title], 1, 1))


def _injectable(record: Any) -> dict[str, str]:
    """A work order to serve as given: element names and string values XML can carry (no NUL)."""
    if not isinstance(record, Mapping) or not all(
        isinstance(name, str) and isinstance(value, str) for name, value in record.items()
    ):
        raise ValueError("a work order is an object of element names and string values")
    SERVICE.element("GD", dict(record))  # lxml refuses names and text that XML cannot hold
    return dict(record)


def _window(operation: etree._Element) -> tuple[int, int, int, int]:
    """开始时间 KSSJ, 结束时间 JSSJ, 页码 YM, 每页条数 MYTS of a window query, checked."""
    return SERVICE.window(operation, "KSSJ", "JSSJ", "YM", "MYTS", MAX_PAGE_SIZE)


def _page_response(name: str, list_name: str, item_name: str, items: list[dict[str, str]],
                   page: int, size: int) -> etree._Element:
    response = SERVICE.element(name, {"ZS": str(len(items)), "YM": str(page), "MYTS": str(size)})
    listing = etree.SubElement(response, SERVICE.tag(list_name))
    for item in items[(page - 1) * size: page * size]:
        listing.append(SERVICE.element(item_name, item))
    return response


def query_work_orders(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """QueryWorkOrders: work orders with GXSJ in [KSSJ, JSSJ), stale re-sends at the end."""
    start, end, page, size = _window(operation)
    items = [{k: str(v) for k, v in payload.items()} for payload in state.store.window(start, end)]
    return _page_response("QueryWorkOrdersResponse", "GDLB", "GD", items + state.injected, page, size)


def get_work_order(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """GetWorkOrder: the current version of one work order."""
    version = SERVICE.current(state, operation, "GDBH", "work order")
    response = SERVICE.element("GetWorkOrderResponse")
    response.append(SERVICE.element("GD", {k: str(v) for k, v in version.payload.items()}))
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
    fields = {name: SERVICE.child_text(operation, name) or ""
              for name in ("GDBH", "BLDW", "BLJG", "BJSJ", "CLZT")}
    current = state.store.current(fields["GDBH"])
    code, message = _judge(current, fields)
    state.received.record("SubmitHandlingResult", fields, {"JGDM": code, "JGXX": message})
    if current is not None and code == "0":
        at_ms = state.store.next_time(fields["GDBH"], now_ms())
        state.store.append(fields["GDBH"], workorders.with_handling_result(
            current, at_ms, fields["BLJG"], fields["BJSJ"], fields["CLZT"]))
    return SERVICE.element("SubmitHandlingResultResponse", {"JGDM": code, "JGXX": message})


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


OPERATIONS: dict[str, soap.Operation] = {
    "QueryWorkOrders": query_work_orders,
    "GetWorkOrder": get_work_order,
    "SubmitHandlingResult": submit_handling_result,
    "QueryEvaluations": query_evaluations,
}

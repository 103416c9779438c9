"""The mayor hotline 12345 (市长专线) simulator: the work-order SOAP service of hotline.wsdl.

POST /ws/workorder takes SOAP 1.1 document/literal requests signed with a WS-Security
UsernameToken PasswordDigest; GET /ws/workorder?wsdl serves the contract file with its address
pointed at the host the caller used. Window queries page the records by GXSJ, so a work order the
hotline updates while the hub pages moves to a later page, as it does in production; work orders
injected through the admin surface are served, as given, after every window's own.

The hub's handling results (SubmitHandlingResult) carry its event id as SJBH 事件编号, and each
event is applied once (`simulators.effects`): a repeat is acknowledged as a duplicate. A completed
order is then called back as the hotline's own workflow does (回访): after
`evaluation_delay_seconds` it is 已回访 with a satisfaction, drawn from the seed and the order's
number, so a rerun sees the same evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from functools import partial
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
from simulators.effects import Effects
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
MAX_EVENT_ID = 64  # SJBH 事件编号: the hub's event ids are UUIDs, 36 characters
MAX_LENGTHS = {"BLDW": 200, "BLJG": 10_000}  # the hotline's columns for the unit and the result
DEMO_PASSWORD = "hotline-demo-secret"  # noqa: S105 - the documented demo credential, not a secret


def create_app(*, seed: int = 42, records: int = 400, defect_rate: float = 0.05, days: int = 7,
               anchor: datetime | None = None, var_dir: str | Path = "var",
               username: str = "casehub", password: str = DEMO_PASSWORD,
               hang_seconds: float = 30.0, retry_after: int = 1,
               evaluation_delay_seconds: float = 0.0) -> FastAPI:
    """A hotline serving `records` seeded work orders over the `days` before `anchor`; an order
    the hub completes is called back `evaluation_delay_seconds` later."""
    if evaluation_delay_seconds < 0:
        raise ValueError("evaluation_delay_seconds must not be negative")
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
    effects = Effects()
    callbacks = Callbacks(seed, int(evaluation_delay_seconds * 1000))
    state.on_reset.extend((verifier.forget, effects.reset, callbacks.clear))
    operations = {**OPERATIONS, "SubmitHandlingResult": partial(submit_handling_result, effects=effects,
                                                                 callbacks=callbacks)}
    app = FastAPI(title="12345 hotline simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(state))
    app.include_router(effects.router())
    SERVICE.mount(app, state, {name: callbacks.first(handler) for name, handler in operations.items()},
                  verifier.verify)
    return app


class Callbacks:
    """The 回访 callbacks the hotline owes: each order the hub completed, due `delay_ms` after.

    They are made when due, before the next protocol request is answered, and dated when they
    fell due, so every answer sees exactly the callbacks due by then. An order that is no longer
    04 已办结 by then (touched on, or given another result) is not called back.
    """

    def __init__(self, seed: int, delay_ms: int) -> None:
        self.seed = seed
        self.delay_ms = delay_ms
        self._due: dict[str, int] = {}

    def schedule(self, number: str, submitted_ms: int) -> None:
        """Owe order `number` a callback `delay_ms` after its result was submitted."""
        self._due[number] = submitted_ms + self.delay_ms

    def clear(self) -> None:
        self._due.clear()

    def run(self, store: RecordStore, now: int) -> None:
        """Call back every order due by `now`, earliest first."""
        for number, due_ms in sorted(self._due.items(), key=lambda item: (item[1], item[0])):
            if due_ms > now:
                break
            del self._due[number]
            current = store.current(number)
            if current is None or current.payload["GDZT"] != "04":
                continue
            rng = random.Random(f"{self.seed}:callback:{number}")
            store.append(number, workorders.called_back(current, store.next_time(number, due_ms), rng))

    def first(self, handler: soap.Operation) -> soap.Operation:
        """`handler`, answering once the callbacks due have been made."""

        def answer(state: SimulatorState, operation: etree._Element) -> etree._Element:
            self.run(state.store, now_ms())
            return handler(state, operation)

        return answer


def _sample(store: RecordStore) -> dict[str, str]:
    """A work order to repeat: the first one's current version."""
    _, version = next(store.currents())
    return {name: str(value) for name, value in version.payload.items()}


def _oversized(store: RecordStore, count: int, declare_length: bool) -> Response:
    """A QueryWorkOrders answer of `count` copies of one work order, ZS saying so."""
    page = _page_response("QueryWorkOrdersResponse", "GDLB", "GD", [_sample(store)], 1, 1)
    return SERVICE.oversized(page, "GDLB", ("ZS", "MYTS"), count, declare_length)


def _hostile_xml(document: str, target: str) -> Response:
    """A work-order page made the hostile `document`, the attack in its one title."""
    title = {"GDBH": "WH20250101000001", "BT": soap.MARK}
    page = _page_response("QueryWorkOrdersResponse", "GDLB", "GD", [title], 1, 1)
    return SERVICE.hostile(page, document, target)


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


def submit_handling_result(state: SimulatorState, operation: etree._Element, *, effects: Effects,
                           callbacks: Callbacks) -> etree._Element:
    """SubmitHandlingResult: the hub's result, recorded, and applied as a new version once per
    SJBH 事件编号; a completed order (04) is then called back."""
    fields = {name: SERVICE.child_text(operation, name) or ""
              for name in ("GDBH", "BLDW", "BLJG", "BJSJ", "CLZT", "SJBH")}
    current = state.store.current(fields["GDBH"])
    code, message = _judge(current, fields)
    if current is not None and code == "0":
        if fields["SJBH"] and not effects.apply(fields["SJBH"]):
            message = "重复提交 duplicate: this SJBH was applied before; nothing changed"
        else:
            submitted_ms = now_ms()
            at_ms = state.store.next_time(fields["GDBH"], submitted_ms)
            state.store.append(fields["GDBH"], workorders.with_handling_result(
                current, at_ms, fields["BLJG"], fields["BJSJ"], fields["CLZT"]))
            if fields["CLZT"] == "04":
                callbacks.schedule(fields["GDBH"], submitted_ms)
    state.received.record("SubmitHandlingResult", fields, {"JGDM": code, "JGXX": message})
    return SERVICE.element("SubmitHandlingResultResponse", {"JGDM": code, "JGXX": message})


def _judge(current: Version | None, fields: dict[str, str]) -> tuple[str, str]:
    """结果代码 JGDM and 结果信息 JGXX, as docs/partners.md lists them, checked in that order."""
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
    event_id = fields["SJBH"]
    if len(event_id) > MAX_EVENT_ID or any(ch.isspace() for ch in event_id):
        return "1005", f"事件编号无效 SJBH must be at most {MAX_EVENT_ID} characters without spaces"
    long = [name for name, limit in MAX_LENGTHS.items() if len(fields[name]) > limit]
    if long:
        return "1006", "内容超长 too long: " + ", ".join(f"{name} over {MAX_LENGTHS[name]} characters"
                                                      for name in long)
    return "0", "接收成功 accepted"


OPERATIONS: dict[str, soap.Operation] = {
    "QueryWorkOrders": query_work_orders,
    "GetWorkOrder": get_work_order,
    "QueryEvaluations": query_evaluations,
}
"""The operations that only read; `create_app` adds SubmitHandlingResult, bound to the app's
effects and callbacks."""

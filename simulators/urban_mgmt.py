"""The digital urban management (数字城管) simulator: the case-file SOAP service of urban_mgmt.wsdl.

POST /ws/casefile takes SOAP 1.1 document/literal requests signed with a WS-Security
UsernameToken PasswordDigest, checked as the hotline checks them; GET /ws/casefile?wsdl serves the
contract file with its address pointed at the host the caller used. Window queries page the case
files by UpdateTime, so a case the system works on while the hub pages moves to a later page;
each case file carries its progress log inline, so one raw record is one case file. Case files
injected through the admin surface are served, as given, after every window's own.

The envelope reading and the faults' wording are the hotline's (simulators/soap.py); the
elements, including the fault detail, are in this service's own namespace.
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

from simulators import casefiles, soap
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
from simulators.records import Options, parse_local
from simulators.store import RecordStore
from simulators.wssecurity import UsernameTokenVerifier

PARTNER = "urban_mgmt"
TNS = "urn:wuhan:szcg:casefile:v1"
NSMAP = {"soap": soap.SOAP_ENV, "cg": TNS}
WSDL_PATH = Path(__file__).resolve().parents[1] / "schemas" / "wsdl" / "urban_mgmt.wsdl"
ENDPOINT = "/ws/casefile"
SOAP_ACTION_PREFIX = f"{TNS}/"
MAX_PAGE_SIZE = 500
DEMO_PASSWORD = "urban-demo-secret"  # noqa: S105 - the documented demo credential, not a secret
XML = "text/xml; charset=utf-8"
LIST_ITEM = "Step"  # the element each item of a list-valued field (Progress) is served as

Operation = Callable[[SimulatorState, etree._Element], etree._Element]


def create_app(*, seed: int = 42, records: int = 300, defect_rate: float = 0.05, days: int = 7,
               anchor: datetime | None = None, var_dir: str | Path = "var",
               username: str = "casehub", password: str = DEMO_PASSWORD,
               hang_seconds: float = 30.0, retry_after: int = 1) -> FastAPI:
    """A case-file service of `records` seeded case files over the `days` before `anchor`."""
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
        step=casefiles.touched,
        busy=lambda version: casefiles.next_status(str(version.payload["StatusCode"]))
        != version.payload["StatusCode"],
    )
    verifier = UsernameTokenVerifier(username, password)
    state.on_reset.append(verifier.forget)
    app = FastAPI(title="digital urban management simulator", docs_url=None, redoc_url=None,
                  openapi_url=None)
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
                return Response(_envelope(operation(state, parsed.operation)), media_type=XML)
            except soap.SoapFault as error:
                return Response(_fault(error), status_code=500, media_type=XML)

        return await state.serve(answer)

    return app


def _element(name: str, children: Mapping[str, Any] | None = None) -> etree._Element:
    """An element of the service namespace with children in the order given: a string is a
    text element (empty for ''), a list an element holding one `Step` per item."""
    node = etree.Element(f"{{{TNS}}}{name}")
    for child, value in (children or {}).items():
        if isinstance(value, list):
            holder = etree.SubElement(node, f"{{{TNS}}}{child}")
            for item in value:
                holder.append(_element(LIST_ITEM, item))
        else:
            etree.SubElement(node, f"{{{TNS}}}{child}").text = str(value) or None
    return node


def _envelope(content: etree._Element, extra_namespaces: dict[str, str] | None = None) -> bytes:
    envelope = etree.Element(f"{{{soap.SOAP_ENV}}}Envelope", nsmap={**NSMAP, **(extra_namespaces or {})})
    etree.SubElement(envelope, f"{{{soap.SOAP_ENV}}}Body").append(content)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _fault(error: soap.SoapFault) -> bytes:
    """A SOAP 1.1 Fault with the ServiceFault detail the WSDL declares."""
    element = etree.Element(f"{{{soap.SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = error.code
    etree.SubElement(element, "faultstring").text = error.reason
    detail = etree.SubElement(element, "detail")
    detail.append(_element("ServiceFault", {"ErrorCode": error.error, "ErrorMessage": error.reason}))
    return _envelope(element, {"wsse": soap.WSSE})


def _sample(store: RecordStore) -> dict[str, Any]:
    """A case file to repeat: the first one's current version."""
    _, version = next(store.currents())
    return dict(version.payload)


def _oversized(case_file: dict[str, Any], count: int, declare_length: bool) -> Response:
    """A QueryCaseFiles answer of `count` copies of one case file, Total saying so."""
    page = _page_response([case_file], 1, 1)
    for name in ("Total", "PageSize"):
        for element in page.iter(f"{{{TNS}}}{name}"):
            element.text = str(count)
    head, rest = _envelope(page).split(b"<cg:CaseFiles>", 1)
    record, tail = rest.split(b"</cg:CaseFiles>", 1)
    return repeated(head + b"<cg:CaseFiles>", record, count, b"</cg:CaseFiles>" + tail,
                    media_type=XML, declare_length=declare_length)


def _bad_total(response: Response) -> Response:
    """The real answer with Total written as legacy systems sometimes do, "60条": not an xs:int."""
    body = re.sub(rb"<cg:Total>(\d+)</cg:Total>", "<cg:Total>\\1条</cg:Total>".encode(),
                  bytes(response.body), count=1)
    return Response(body, status_code=response.status_code, media_type=XML)


def _hostile_xml() -> Response:
    """A case-file page whose DOCTYPE declares nested entities ("billion laughs"): expanded,
    the one description would be 3 GB of "lol"."""
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    prolog = ['<?xml version="1.0" encoding="utf-8"?>', "<!DOCTYPE soap:Envelope [", *entities, "]>"]
    page = _page_response([{"CaseNo": "CG250101000001", "Description": "LAUGHS"}], 1, 1)
    envelope = _envelope(page).split(b"?>", 1)[1].replace(b">LAUGHS<", b">&lol9;<")
    return Response("\n".join(prolog).encode() + envelope, media_type=XML)


def _injectable(record: Any) -> dict[str, Any]:
    """A case file to serve as given: element names with strings, or for a list of steps
    (`Progress`) a list of objects of element names and strings; all what XML can carry."""
    if not isinstance(record, Mapping) or not all(
        isinstance(name, str) and (isinstance(value, str) or _is_steps(value))
        for name, value in record.items()
    ):
        raise ValueError("a case file is an object of element names and string values "
                         "(or lists of such objects, for steps)")
    _element("CaseFile", record)  # lxml refuses names and text that XML cannot hold
    return dict(record)


def _is_steps(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(step, Mapping)
        and all(isinstance(name, str) and isinstance(text, str) for name, text in step.items())
        for step in value
    )


def _service_fault() -> Response:
    error = soap.SoapFault("soap:Server", "service temporarily unavailable", "ServiceUnavailable")
    return Response(_fault(error), status_code=500, media_type=XML)


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
    if namespace != TNS or name not in OPERATIONS:
        raise soap.client_fault(f"unknown operation {element.tag}; expected one of "
                                f"{', '.join(OPERATIONS)} in {TNS}")
    action = (soap_action or "").strip().strip('"')
    if action and action != SOAP_ACTION_PREFIX + name:
        raise soap.client_fault(f"SOAPAction {action!r} does not match the body element {name}")
    return OPERATIONS[name]


def _required(operation: etree._Element, name: str) -> str:
    child = operation.find(f"{{{TNS}}}{name}")
    if child is None:
        raise soap.client_fault(f"missing element {name} in {etree.QName(operation).localname}")
    return (child.text or "").strip()


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


def _page_response(items: list[Mapping[str, Any]], page: int, size: int) -> etree._Element:
    response = _element("QueryCaseFilesResponse", {"Total": str(len(items)), "PageNo": str(page),
                                                   "PageSize": str(size)})
    listing = etree.SubElement(response, f"{{{TNS}}}CaseFiles")
    for item in items[(page - 1) * size: page * size]:
        listing.append(_element("CaseFile", item))
    return response


def query_case_files(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """QueryCaseFiles: case files with UpdateTime in [StartTime, EndTime), stale re-sends and
    injected ones at the end."""
    start = _local_time(operation, "StartTime")
    end = _local_time(operation, "EndTime")
    if start > end:
        raise soap.client_fault("StartTime must not be later than EndTime")
    page = _integer(operation, "PageNo", 1, 10**9)
    size = _integer(operation, "PageSize", 1, MAX_PAGE_SIZE)
    return _page_response([*state.store.window(start, end), *state.injected], page, size)


def get_case_file(state: SimulatorState, operation: etree._Element) -> etree._Element:
    """GetCaseFile: the current version of one case file."""
    number = _required(operation, "CaseNo")
    version = state.store.current(number)
    if version is None:
        raise soap.client_fault(f"NotFound: no case file with CaseNo {number!r}", "NotFound")
    response = _element("GetCaseFileResponse")
    response.append(_element("CaseFile", version.payload))
    return response


OPERATIONS: dict[str, Operation] = {
    "QueryCaseFiles": query_case_files,
    "GetCaseFile": get_case_file,
}

"""SOAP 1.1 services as the partners run them: envelopes read safely, answers and faults
written in the service's own namespace, and the one endpoint both SOAP partners serve.

Requests are parsed by lxml with entities unresolved, no network, no DTD loading and no huge
trees, and any DOCTYPE is refused outright: a SOAP message never needs one, and refusing it
closes the door to entity expansion and external entity attacks (DESIGN.md §7). Every problem
becomes a `SoapFault` whose faultstring says precisely what was wrong.

The hotline and digital urban management serve the same shape of service: one POST endpoint of
document/literal requests under a WS-Security header, the contract at `?wsdl`, request bodies
capped, a ServiceFault detail in every fault. That shape is `Service`; a partner module gives it
only what is its own: the namespace and prefix, the names of the fault detail's two children,
the contract file and path, and the operations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import PlainTextResponse, Response
from lxml import etree

from simulators import hostile
from simulators.controls import FaultResponses, SimulatorState, repeated
from simulators.records import Version, parse_local

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
MAX_BODY_BYTES = 1024 * 1024
XML = "text/xml; charset=utf-8"
MARK = hostile.MARK  # the text a hostile answer's page carries where the attack goes

Operation = Callable[[SimulatorState, etree._Element], etree._Element]
"""One operation: the state and the request's body element in, the response's body element out."""
HeaderCheck = Callable[[etree._Element | None], None]
"""A check of the SOAP header (the WS-Security token) that raises a SoapFault to refuse."""


class SoapFault(Exception):
    """A fault to answer with: `code` is the faultcode QName (`soap:Client`, `wsse:…`), `reason`
    the faultstring, and `error` the code of the ServiceFault detail (the hotline's CWDM)."""

    def __init__(self, code: str, reason: str, error: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error


def client_fault(reason: str, error: str = "BadRequest") -> SoapFault:
    return SoapFault("soap:Client", reason, error)


@dataclass(frozen=True)
class Request:
    """A parsed SOAP 1.1 request: its header (if any) and the one element in its body."""

    header: etree._Element | None
    operation: etree._Element


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        dtd_validation=False, remove_comments=True, remove_pis=True,
    )


def parse_request(body: bytes) -> Request:
    """The envelope's header and body element, or a `soap:Client` fault saying what is wrong."""
    if not body.strip():
        raise client_fault("empty request body: expected a SOAP 1.1 envelope")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        raise client_fault(f"request is not well-formed XML: {error.msg}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise client_fault("DOCTYPE is not allowed in SOAP messages")
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("soap:VersionMismatch", "SOAP 1.2 envelope received; this service speaks "
                        "SOAP 1.1 (http://schemas.xmlsoap.org/soap/envelope/)", "BadRequest")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise client_fault(f"root element must be soap:Envelope, got {root.tag}")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body_element = root.find(f"{{{SOAP_ENV}}}Body")
    if body_element is None:
        raise client_fault("soap:Envelope has no soap:Body")
    children = [child for child in body_element if isinstance(child.tag, str)]
    if len(children) != 1:
        raise client_fault(f"soap:Body must hold exactly one element, found {len(children)}")
    return Request(header, children[0])


async def _read_capped(request: HttpRequest) -> bytes:
    """The body, refused once it passes MAX_BODY_BYTES rather than read whole first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise client_fault(f"request body exceeds {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise client_fault(f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def throttled(retry_after: int) -> Response:
    """How the SOAP partners say "slow down" (docs/partners.md): HTTP 429 with Retry-After
    and a text body, not a SOAP Fault."""
    return PlainTextResponse("Too Many Requests", status_code=429,
                             headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True)
class Service:
    """One partner's SOAP service: its target namespace `uri`, written with `prefix` in every
    answer (the contract-breaking answers find their elements by that prefix); `fault_detail`,
    the names of the ServiceFault detail's code and message children its WSDL declares; its
    contract file `wsdl` and the `endpoint` path it is served at; and `list_item`, the element
    each item of a list-valued child is written as, for a service whose records carry lists."""

    uri: str
    prefix: str
    fault_detail: tuple[str, str]
    wsdl: Path
    endpoint: str
    list_item: str | None = None

    def mount(self, app: FastAPI, state: SimulatorState, operations: Mapping[str, Operation],
              check_header: HeaderCheck) -> None:
        """GET `endpoint?wsdl` serves the contract, POST `endpoint` answers `operations`.

        A request is read (capped), parsed, its header checked by `check_header`, and its body
        element dispatched, in that order, each refusal a SOAP Fault with HTTP 500; the fault
        plan of `state` comes first. The header check is a hook so that this module knows no
        credentials, and the WS-Security module can build on its faults.
        """

        @app.get(self.endpoint)
        async def wsdl(request: HttpRequest) -> Response:
            if "wsdl" not in request.query_params:
                return PlainTextResponse("POST SOAP 1.1 requests here; the contract is at ?wsdl", 405,
                                         headers={"Allow": "GET, POST"})
            return Response(self._wsdl_for(str(request.base_url).rstrip("/") + self.endpoint),
                            media_type=XML)

        @app.post(self.endpoint)
        async def endpoint(request: HttpRequest) -> Response:
            async def answer() -> Response:
                try:
                    parsed = parse_request(await _read_capped(request))
                    check_header(parsed.header)
                    operation = self._operation(parsed.operation, request.headers.get("SOAPAction"),
                                                operations)
                    return Response(self.response(operation(state, parsed.operation)), media_type=XML)
                except SoapFault as error:
                    return Response(self.fault(error), status_code=500, media_type=XML)

            return await state.serve(answer)

    def _wsdl_for(self, location: str) -> bytes:
        """The contract with its soap:address pointed at `location`, so that a client built from
        `?wsdl` calls the host it fetched the contract from."""
        tree = etree.parse(str(self.wsdl), etree.XMLParser(resolve_entities=False, no_network=True))
        for address in tree.iter(f"{{{WSDL_SOAP}}}address"):
            address.set("location", location)
        return bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))

    def _operation(self, element: etree._Element, soap_action: str | None,
                   operations: Mapping[str, Operation]) -> Operation:
        """The handler for the body element; a SOAPAction, when sent, must name the same one."""
        namespace, _, name = element.tag.lstrip("{").partition("}")
        if namespace != self.uri or name not in operations:
            raise client_fault(f"unknown operation {element.tag}; expected one of "
                               f"{', '.join(operations)} in {self.uri}")
        action = (soap_action or "").strip().strip('"')
        if action and action != f"{self.uri}/{name}":
            raise client_fault(f"SOAPAction {action!r} does not match the body element {name}")
        return operations[name]

    def tag(self, name: str) -> str:
        """The qualified name of an element of this service."""
        return f"{{{self.uri}}}{name}"

    def element(self, name: str, children: Mapping[str, Any] | None = None) -> etree._Element:
        """An element of this service with children in the order given: a value is a text
        child (empty for ''), a list a child holding one `list_item` per item."""
        node = etree.Element(self.tag(name))
        for child, value in (children or {}).items():
            holder = etree.SubElement(node, self.tag(child))
            if not isinstance(value, list):
                holder.text = str(value) or None
            elif self.list_item is None:
                raise TypeError(f"{child} is a list, and {self.uri} has no list-valued elements")
            else:
                for item in value:
                    holder.append(self.element(self.list_item, item))
        return node

    def child_text(self, operation: etree._Element, name: str) -> str | None:
        """The text of a request parameter (a qualified child), '' if empty, None if absent."""
        child = operation.find(self.tag(name))
        if child is None:
            return None
        return (child.text or "").strip()

    def required(self, operation: etree._Element, name: str) -> str:
        """A request parameter that must be present, or a soap:Client fault naming it."""
        value = self.child_text(operation, name)
        if value is None:
            raise client_fault(f"missing element {name} in {etree.QName(operation).localname}")
        return value

    def local_time(self, operation: etree._Element, name: str) -> int:
        """A required time parameter, written in Shanghai local time as both partners write
        theirs (yyyy-MM-dd HH:mm:ss), as epoch milliseconds."""
        value = self.required(operation, name)
        try:
            return parse_local(value)
        except ValueError:
            raise client_fault(f"{name} must be a local time yyyy-MM-dd HH:mm:ss, got {value!r}") from None

    def integer(self, operation: etree._Element, name: str, low: int, high: int) -> int:
        """A required whole-number parameter from `low` to `high`."""
        value = self.required(operation, name)
        if not value.isdigit() or not low <= int(value) <= high:
            raise client_fault(f"{name} must be an integer from {low} to {high}, got {value!r}")
        return int(value)

    def window(self, operation: etree._Element, start: str, end: str, page: str, size: str,
               max_size: int) -> tuple[int, int, int, int]:
        """A window query's parameters, checked, under the names this service gives them: from
        and to times (from not later than to), page number, and page size up to `max_size`."""
        start_ms = self.local_time(operation, start)
        end_ms = self.local_time(operation, end)
        if start_ms > end_ms:
            raise client_fault(f"{start} must not be later than {end}")
        return (start_ms, end_ms, self.integer(operation, page, 1, 10**9),
                self.integer(operation, size, 1, max_size))

    def current(self, state: SimulatorState, operation: etree._Element, key: str, noun: str) -> Version:
        """The current version of the record a Get operation names by its `key` parameter, or a
        soap:Client fault with the detail code NotFound."""
        number = self.required(operation, key)
        version = state.store.current(number)
        if version is None:
            raise client_fault(f"NotFound: no {noun} with {key} {number!r}", "NotFound")
        return version

    def _envelope(self, content: etree._Element, extra_namespaces: dict[str, str] | None = None) -> bytes:
        nsmap = {"soap": SOAP_ENV, self.prefix: self.uri, **(extra_namespaces or {})}
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(content)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))

    def response(self, content: etree._Element) -> bytes:
        """A response envelope around one body element."""
        return self._envelope(content)

    def fault(self, error: SoapFault) -> bytes:
        """A SOAP 1.1 Fault, with the ServiceFault detail the WSDL declares."""
        element = etree.Element(f"{{{SOAP_ENV}}}Fault")
        etree.SubElement(element, "faultcode").text = error.code
        etree.SubElement(element, "faultstring").text = error.reason
        code, message = self.fault_detail
        etree.SubElement(element, "detail").append(
            self.element("ServiceFault", {code: error.error, message: error.reason}))
        return self._envelope(element, {"wsse": WSSE})

    def fault_responses(self, *, oversized: Callable[[int, bool], Response], total: str,
                        hostile_xml: Callable[[str, str], Response]) -> FaultResponses:
        """The fault plan's answers: this service's soap:Server fault and the plain 429 shared by
        the SOAP partners; the partner's own oversized answer, `total` element (for a total that
        is not a number) and hostile page."""
        return FaultResponses(
            fault=self.server_fault,
            throttled=throttled,
            oversized=oversized,
            bad_total=lambda response: self.bad_total(response, total),
            hostile_xml=hostile_xml,
        )

    def server_fault(self) -> Response:
        """The fault the service answers while it is down: soap:Server, ServiceUnavailable."""
        error = SoapFault("soap:Server", "service temporarily unavailable", "ServiceUnavailable")
        return Response(self.fault(error), status_code=500, media_type=XML)

    def bad_total(self, response: Response, total: str) -> Response:
        """The real answer with its `total` element written as legacy systems sometimes do,
        "60条": not an xs:int."""
        name = f"{self.prefix}:{total}".encode()
        body = re.sub(rb"<%b>(\d+)</%b>" % (name, name), b"<%b>\\1%b</%b>" % (name, "条".encode(), name),
                      bytes(response.body), count=1)
        return Response(body, status_code=response.status_code, media_type=XML)

    def oversized(self, page: etree._Element, listing: str, counts: Iterable[str], count: int,
                  declare_length: bool) -> Response:
        """`page`, whose `listing` holds one record, answered with that record `count` times and
        each of its `counts` elements saying so; streamed, never held whole."""
        for name in counts:
            for element in page.iter(self.tag(name)):
                element.text = str(count)
        opening, closing = f"<{self.prefix}:{listing}>".encode(), f"</{self.prefix}:{listing}>".encode()
        head, rest = self.response(page).split(opening, 1)
        record, tail = rest.split(closing, 1)
        return repeated(head + opening, record, count, closing + tail, media_type=XML,
                        declare_length=declare_length)

    def hostile(self, page: etree._Element, document: str, target: str) -> Response:
        """`page`, whose text MARK marks where the attack goes, as the hostile `document` of
        `simulators.hostile` referring to `target`, with HTTP 200 as a real answer has."""
        return Response(hostile.document(document, self.response(page), target), media_type=XML)

"""The district standard interface on SOAP: the operations of `schemas/wsdl/district.wsdl`, read
from request elements into calls of `casehub.districts.DistrictService`, and its answers written
back as the contract's elements.

The contract is the file: the elements a dispatched case is written with, and their order, are
read from its `DistrictCase` type; a district record field is written as its name in PascalCase
(`case_id` → `CaseId`), and one without a value is left out. A request element the contract does
not declare, or one given twice, is refused rather than ignored, so a misspelt element cannot
pass for an absent one. Required fields of an action are checked by the service against
`schemas/district/actions.schema.json`, like REST's, and its JSON Pointers are named back here as
the elements they came from (`/operation_id` → `OperationId`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from lxml import etree

from casehub.gateway.soap.envelope import CLIENT, Reason, SoapFault, client_fault
from casehub.paths import SCHEMAS_DIR

if TYPE_CHECKING:
    from casehub.districts import Dispatch, DistrictService, Outcome

NAMESPACE = "urn:casehub:district:v1"
PREFIX = "district"
FAULT_DETAIL = "DistrictFault"
WSDL = SCHEMAS_DIR / "wsdl" / "district.wsdl"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
INTEGER = re.compile(r"[+-]?[0-9]+")  # xs:int's lexical form

ELEMENTS = {
    "operation_id": "OperationId",
    "at": "At",
    "handler": "Handler",
    "note": "Note",
    "result": "Result",
    "days": "Days",
    "reason": "Reason",
    "reason_code": "ReasonCode",
    "suggested_district": "SuggestedDistrict",
}
"""An action's body field → its request element; the service takes the fields, snake_case."""
COMMON = ("DistrictCode", "CaseId", "OperationId", "At")
"""What every action on a case carries (the contract's `CaseAction`)."""

ACTIONS = {
    "AcceptCase": ("accept", ("Handler",)),
    "ReportProgress": ("progress", ("Note",)),
    "CompleteCase": ("complete", ("Result",)),
    "ApplyPostponement": ("postpone", ("Days", "Reason")),
    "ReturnCase": ("return", ("ReasonCode", "Reason", "SuggestedDistrict")),
}
"""Each action operation → the service's action and the elements of its own."""
LISTING = {"GetDispatches": ("DistrictCode", "Limit"), "AckDispatch": ("DistrictCode", "EventId")}
OPERATIONS = (*LISTING, *ACTIONS)

Run = Callable[["DistrictService"], etree._Element]
"""An operation, read and checked: given the service, it does the work and returns the answer."""


@dataclass(frozen=True)
class Call:
    """A request read: its operation, the district it says it acts for, and the work to do."""

    operation: str
    district_code: str
    run: Run


def pascal(field: str) -> str:
    """The element a snake_case field is written as: `time_limit_days` → `TimeLimitDays`."""
    return "".join(part.capitalize() for part in field.split("_"))


def element_of(pointer: str) -> str:
    """The request element a JSON Pointer into the action body names ('' for the whole body)."""
    first = pointer.removeprefix("/").split("/", 1)[0]
    return ELEMENTS.get(first) or pascal(first)


def tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def operation_of(element: etree._Element, soap_action: str | None) -> str:
    """The operation the body element names, or a `soap:Client` fault; a SOAPAction header, when
    sent, must name the same one."""
    qname = etree.QName(element)
    if qname.namespace != NAMESPACE or qname.localname not in OPERATIONS:
        raise client_fault(
            "unknown_operation",
            f"unknown operation {element.tag}; expected one of {', '.join(OPERATIONS)} in {NAMESPACE}",
        )
    action = (soap_action or "").strip().strip('"')
    if action and action != f"{NAMESPACE}/{qname.localname}":
        raise client_fault(
            "soap_action_mismatch", f"the SOAPAction header names another operation than {qname.localname}"
        )
    return str(qname.localname)


def read(element: etree._Element, operation: str) -> Call:
    """The call `operation`'s body element asks for, or a `soap:Client` fault naming what is wrong."""
    values = _children(element, LISTING.get(operation) or (*COMMON, *ACTIONS[operation][1]))
    district = _required(values, "DistrictCode")
    if operation == "GetDispatches":
        limit = _limit(values.get("Limit"))
        return Call(
            operation, district, lambda service: dispatches(service.dispatches(district, limit=limit))
        )
    if operation == "AckDispatch":
        event_id = _required(values, "EventId")
        return Call(
            operation,
            district,
            lambda service: acknowledged(event_id, service.acknowledge(district, event_id)),
        )
    action, _ = ACTIONS[operation]
    case_id = _required(values, "CaseId")
    body = _body(values)
    return Call(
        operation, district, lambda service: outcome(operation, service.act(district, case_id, action, body))
    )


def _children(element: etree._Element, allowed: tuple[str, ...]) -> dict[str, str]:
    """The operation's parameters by element name; an unknown, repeated or structured one is refused."""
    found: dict[str, str] = {}
    reasons: list[Reason] = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        name = str(qname.localname)
        if qname.namespace != NAMESPACE or name not in allowed:
            reasons.append(Reason("unknown_element", f"not an element of {element.tag}", name))
        elif name in found:
            reasons.append(Reason("repeated_element", "given more than once", name))
        elif any(isinstance(grandchild.tag, str) for grandchild in child):
            reasons.append(Reason("invalid_value", "text expected, not elements", name))
        else:
            found[name] = child.text or ""
    if reasons:
        raise SoapFault(CLIENT, reasons)
    return found


def _required(values: Mapping[str, str], name: str) -> str:
    value = values.get(name, "").strip()
    if not value:
        raise client_fault("missing_field", "required, and missing or empty", name)
    return value


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    value = text.strip()
    if not INTEGER.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise client_fault("invalid_value", f"an integer from 1 to {MAX_LIMIT} expected", "Limit")
    return int(value)


def _body(values: Mapping[str, str]) -> dict[str, Any]:
    """The action's body as the service takes it: the elements given, by their field names."""
    body: dict[str, Any] = {}
    for field, name in ELEMENTS.items():
        if name not in values:
            continue
        text = values[name]
        if name == "Days":
            number = text.strip()
            if not INTEGER.fullmatch(number):
                raise client_fault("invalid_value", "a whole number of working days expected", name)
            body[field] = int(number)
        elif name in ("OperationId", "At"):
            body[field] = text.strip()  # xs:string and xs:dateTime values may be padded with spaces
        else:
            body[field] = text
    return body


def _element(name: str, children: Mapping[str, Any]) -> etree._Element:
    node = etree.Element(tag(name))
    for child, value in children.items():
        if value is not None:
            etree.SubElement(node, tag(child)).text = _text(value)
    return node


def _text(value: Any) -> str:
    """A JSON or Python value as its XML Schema lexical form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # xs:decimal has no exponent
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def dispatches(events: list[Dispatch]) -> etree._Element:
    """`GetDispatchesResponse`: each event, its case written with the contract's elements."""
    response = etree.Element(tag("GetDispatchesResponse"))
    holder = etree.SubElement(response, tag("Dispatches"))
    for event in events:
        item = _element(
            "Dispatch",
            {
                "EventId": event.event_id,
                "Kind": event.kind,
                "CaseId": event.case_id,
                "DispatchedAt": event.dispatched_at,
            },
        )
        named = {pascal(field): value for field, value in event.case.items()}
        item.append(_element("Case", {name: named.get(name) for name in case_elements()}))
        if event.notice is not None:
            item.append(_notice(event.notice))
        holder.append(item)
    return response


def _notice(notice: Mapping[str, Any]) -> etree._Element:
    """An urge's `Notice`: its level, each rule and action repeated, the working days."""
    node = _element("Notice", {"Level": notice.get("level"), "LevelName": notice.get("level_name")})
    for rule in notice.get("rules") or []:
        etree.SubElement(node, tag("Rule")).text = str(rule)
    for action in notice.get("actions") or []:
        etree.SubElement(node, tag("Action")).text = str(action)
    for name, value in (
        ("DeadlineAt", notice.get("deadline_at")),
        ("WorkingDays", notice.get("working_days")),
        ("RedispatchedTo", notice.get("redispatched_to")),
    ):
        if value is not None:
            etree.SubElement(node, tag(name)).text = _text(value)
    return node


def acknowledged(event_id: str, state: str) -> etree._Element:
    return _element("AckDispatchResponse", {"EventId": event_id, "State": state})


def outcome(operation: str, result: Outcome) -> etree._Element:
    """`<operation>Response`, holding the case's `ActionResult`."""
    response = etree.Element(tag(f"{operation}Response"))
    response.append(
        _element(
            "ActionResult",
            {
                "CaseId": result.case_id,
                "Status": result.status,
                "Version": result.version,
                "DeadlineAt": result.deadline_at,
                "Duplicate": result.duplicate,
            },
        )
    )
    return response


@cache
def _contract() -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(WSDL), parser)


@cache
def case_elements() -> tuple[str, ...]:
    """The elements of the contract's `DistrictCase`, in their order."""
    names = _contract().xpath(
        "//xs:complexType[@name='DistrictCase']/xs:sequence/xs:element/@name", namespaces={"xs": XSD}
    )
    return tuple(str(name) for name in names)


def wsdl_for(location: str) -> bytes:
    """The contract with its soap:address at `location`, so a client built from `?wsdl` calls
    the host and path it fetched the contract from."""
    tree = copy.deepcopy(_contract())
    for address in tree.iter(f"{{{WSDL_SOAP}}}address"):
        address.set("location", location)
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))

"""The SOAP request readers under any input: arbitrary bytes, and XML that is well-formed but wrong
(any elements, namespaces, text and nesting where an envelope and an operation belong).

`casehub.safexml.parse` gives an element or an `UnsafeXml`; `parse_envelope` an `Envelope` or a
`SoapFault`; `operation_of` and `district.read` an operation and a call, or a `SoapFault` — and a
fault never quotes what was sent. Runs are derandomized, so CI sees the same examples each time.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from casehub import safexml
from casehub.gateway.soap import district
from casehub.gateway.soap.envelope import SOAP12_ENV, SOAP_ENV, WSSE, Envelope, SoapFault, parse_envelope

SETTINGS = settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NAMESPACES = [SOAP_ENV, SOAP12_ENV, district.NAMESPACE, WSSE, "urn:other", ""]
NAMES = ["Envelope", "Header", "Body", "Security", "UsernameToken", *district.OPERATIONS,
         *district.COMMON, "Limit", "EventId", "Days", "Handler", "x"]
MARKER = "泄露标记"
"""Text put into generated documents; no fault may repeat it."""

texts = st.none() | st.sampled_from(["", " 1 ", "420106", "abc", "-5", "999", MARKER]) | st.text(max_size=12)
attributes = st.dictionaries(
    st.sampled_from([f"{{{SOAP_ENV}}}mustUnderstand", "Type", "id"]),
    st.sampled_from(["0", "1", "x"]),
    max_size=2,
)


@st.composite
def elements(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    namespace, name = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(NAMES))
    node = etree.Element(f"{{{namespace}}}{name}" if namespace else name, draw(attributes))
    text = draw(texts)
    if text is not None:
        node.text = "".join(ch for ch in text if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF)
    if depth < 4:
        for child in draw(st.lists(elements(depth + 1), max_size=3)):
            node.append(child)
    return node


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """An envelope-shaped document: mostly the right outer elements, anything inside them."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope") if draw(st.booleans()) else draw(elements())
    if draw(st.booleans()):
        root.append(draw(elements()))
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body") if draw(st.booleans()) else root
    for child in draw(st.lists(elements(), max_size=2)):
        body.append(child)
    return bytes(etree.tostring(root, xml_declaration=draw(st.booleans()), encoding="utf-8"))


def _named(refused: safexml.UnsafeXml) -> None:
    assert refused.code and refused.message


def _quiet(fault: SoapFault) -> None:
    assert fault.reasons and MARKER not in fault.faultstring


@SETTINGS
@given(st.binary(max_size=600), st.none() | st.sampled_from(["utf-8", "utf-16", "latin-1", "x-none"]))
def test_any_bytes_are_an_element_or_refused(data: bytes, charset: str | None) -> None:
    try:
        root = safexml.parse(data, charset=charset)
    except safexml.UnsafeXml as refused:
        _named(refused)
    else:
        assert isinstance(root.tag, str)


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes_are_an_envelope_or_a_fault(data: bytes) -> None:
    try:
        assert isinstance(parse_envelope(data), Envelope)
    except SoapFault as fault:
        _quiet(fault)


@SETTINGS
@given(envelopes(), st.none() | st.text(max_size=40))
def test_any_well_formed_document_is_a_call_or_a_fault(document: bytes, soap_action: str | None) -> None:
    try:
        parsed = parse_envelope(document)
        operation = district.operation_of(parsed.body, soap_action)
        call = district.read(parsed.body, operation)
    except SoapFault as fault:
        _quiet(fault)
        return
    assert operation in district.OPERATIONS and call.operation == operation and call.district_code

"""SOAP 1.1 envelopes, read safely and written plainly.

Requests are parsed by lxml with entities unresolved, no network, no DTD loading and no huge
trees, and any DOCTYPE is refused outright: a SOAP message never needs one, and refusing it
closes the door to entity expansion and external entity attacks (DESIGN.md §7). Every problem
becomes a `SoapFault` whose faultstring says precisely what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TNS = "urn:wuhan:12345:workorder:v1"
MAX_BODY_BYTES = 1024 * 1024
NSMAP = {"soap": SOAP_ENV, "wo": TNS}


class SoapFault(Exception):
    """A fault to answer with: `code` is the faultcode QName (`soap:Client`, `wsse:…`), `reason`
    the faultstring, and `error` the CWDM code of the ServiceFault detail."""

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


def _envelope(content: etree._Element, extra_namespaces: dict[str, str] | None = None) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={**NSMAP, **(extra_namespaces or {})})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(content)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def response(content: etree._Element) -> bytes:
    """A response envelope around one body element."""
    return _envelope(content)


def fault(error: SoapFault) -> bytes:
    """A SOAP 1.1 Fault, with the ServiceFault detail the WSDL declares."""
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = error.code
    etree.SubElement(element, "faultstring").text = error.reason
    detail = etree.SubElement(etree.SubElement(element, "detail"), f"{{{TNS}}}ServiceFault")
    etree.SubElement(detail, f"{{{TNS}}}CWDM").text = error.error
    etree.SubElement(detail, f"{{{TNS}}}CWXX").text = error.reason
    return _envelope(element, {"wsse": WSSE})


def element(name: str, children: dict[str, str] | None = None) -> etree._Element:
    """An element of the service namespace with string children in the order given."""
    node = etree.Element(f"{{{TNS}}}{name}")
    for child, text in (children or {}).items():
        etree.SubElement(node, f"{{{TNS}}}{child}").text = text or None
    return node


def child_text(operation: etree._Element, name: str) -> str | None:
    """The text of a request parameter (a qualified child), '' if empty, None if absent."""
    child = operation.find(f"{{{TNS}}}{name}")
    if child is None:
        return None
    return (child.text or "").strip()

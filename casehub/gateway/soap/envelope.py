"""SOAP 1.1 envelopes as the hub serves them: requests read safely, answers and faults written.

A request is refused before lxml sees it once it passes `MAX_BODY_BYTES` (checked while it is
read, so a sender that declares no length, or lies, is cut off). It is then read by
`casehub.safexml`, as every XML document from outside is: a DOCTYPE (so any entity, external or
parameter entity, external DTD), an XInclude, an encoding its bytes, its declaration or the
Content-Type's charset contradict, nesting over 256 levels and text nodes over 10 MB are
refused, each under its own code (DESIGN.md §7). Every problem is a `SoapFault` whose message
names what was wrong and never quotes what was sent.

A fault is answered with HTTP 500, as the SOAP 1.1 HTTP binding requires (§6.2), and carries
one detail entry per reason, each a `<Code>`, `<Field>` (when one element is concerned) and
`<Message>` in the service's namespace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from starlette.requests import Request

from casehub import safexml

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
MAX_BODY_BYTES = 1024 * 1024
XML_MEDIA_TYPE = "text/xml; charset=utf-8"
FAULT_STATUS = 500

CLIENT = "soap:Client"  # the caller must change the request
SERVER = "soap:Server"  # the hub could not answer now: try again later
VERSION_MISMATCH = "soap:VersionMismatch"
MUST_UNDERSTAND = "soap:MustUnderstand"
FAILED_AUTHENTICATION = "wsse:FailedAuthentication"

UNDERSTOOD_HEADERS = frozenset({f"{{{WSSE}}}Security"})
"""The header entries the hub acts on; any other marked mustUnderstand is refused (SOAP 1.1 §4.2.3)."""


@dataclass(frozen=True)
class Reason:
    """One thing wrong with a request: a stable `code`, the element it concerns, and words."""

    code: str
    message: str
    field: str = ""


class SoapFault(Exception):
    """A fault to answer with: `faultcode` a QName (`soap:Client`, `wsse:FailedAuthentication` …),
    `reasons` the detail entries, the first being the one the faultstring starts with.

    Messages name elements and say what is wrong with them; they never repeat a value sent.
    """

    def __init__(self, faultcode: str, reasons: Sequence[Reason]) -> None:
        if not reasons:
            raise ValueError("a SoapFault needs at least one reason")
        self.faultcode = faultcode
        self.reasons = tuple(reasons)
        super().__init__(self.faultstring)

    @property
    def faultstring(self) -> str:
        return "; ".join(f"{r.field}: {r.message}" if r.field else r.message for r in self.reasons)

    @property
    def code(self) -> str:
        return self.reasons[0].code


def fault(faultcode: str, code: str, message: str, field: str = "") -> SoapFault:
    """A fault of one reason."""
    return SoapFault(faultcode, [Reason(code, message, field)])


def client_fault(code: str, message: str, field: str = "") -> SoapFault:
    return fault(CLIENT, code, message, field)


def server_fault(code: str, message: str) -> SoapFault:
    return fault(SERVER, code, message)


@dataclass(frozen=True)
class Envelope:
    """A parsed SOAP 1.1 request: its header (if any) and the one element of its body."""

    header: etree._Element | None
    body: etree._Element


def _too_large(limit: int) -> SoapFault:
    return client_fault("body_too_large", f"the request body exceeds {limit} bytes")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, read no further than `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def charset_of(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if it has one."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip()
    return None


def parse_envelope(data: bytes, *, charset: str | None = None) -> Envelope:
    """The envelope's header and body element, or a `SoapFault` saying what is wrong; `charset`
    is the one the request's Content-Type names, which must be the document's."""
    if not data.strip():
        raise client_fault("empty_body", "the request body is empty: a SOAP 1.1 envelope expected")
    try:
        root = safexml.parse(data, charset=charset)
    except safexml.UnsafeXml as error:
        raise client_fault(error.code, f"the request is refused: {error.message}") from None
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise fault(
            VERSION_MISMATCH,
            "soap_version",
            f"a SOAP 1.2 envelope; this service speaks SOAP 1.1 ({SOAP_ENV})",
        )
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise client_fault("not_an_envelope", f"the root element must be {{{SOAP_ENV}}}Envelope")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    if header is not None:
        _check_understood(header)
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None:
        raise client_fault("missing_body", "the envelope has no soap:Body")
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1:
        raise client_fault(
            "invalid_body", f"soap:Body must hold exactly one element, it holds {len(children)}"
        )
    return Envelope(header, children[0])


def _check_understood(header: etree._Element) -> None:
    for entry in header:
        if not isinstance(entry.tag, str) or entry.tag in UNDERSTOOD_HEADERS:
            continue
        if entry.get(f"{{{SOAP_ENV}}}mustUnderstand", "0").strip() == "1":
            raise fault(
                MUST_UNDERSTAND,
                "header_not_understood",
                f"the header entry {entry.tag} is marked mustUnderstand and this service does not act on it",
            )


def _envelope(content: etree._Element, namespaces: dict[str, str]) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, **namespaces})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(content)
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def response_envelope(content: etree._Element, *, prefix: str) -> bytes:
    """An answer: `content`, an element of the service, in an envelope naming its namespace `prefix`."""
    return _envelope(content, {prefix: etree.QName(content).namespace or ""})


def fault_envelope(error: SoapFault, *, namespace: str, prefix: str, detail: str) -> bytes:
    """A SOAP 1.1 Fault of `error`, each reason a `detail` element of `namespace`.

    The faultcode's prefix is declared on the envelope: `soap` always, `wsse` for an
    authentication fault.
    """
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = error.faultcode
    etree.SubElement(element, "faultstring").text = error.faultstring
    holder = etree.SubElement(element, "detail")
    for reason in error.reasons:
        entry = etree.SubElement(holder, f"{{{namespace}}}{detail}")
        etree.SubElement(entry, f"{{{namespace}}}Code").text = reason.code
        if reason.field:
            etree.SubElement(entry, f"{{{namespace}}}Field").text = reason.field
        etree.SubElement(entry, f"{{{namespace}}}Message").text = reason.message
    return _envelope(element, {prefix: namespace, "wsse": WSSE})

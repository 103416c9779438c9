"""XML from outside the hub, read so that no document can make it fetch, expand or exhaust anything.

Both ends of the hub's SOAP read through `parse`: the gateway's endpoints read requests with it
(`casehub.gateway.soap.envelope`), and the SOAP clients vet every partner reply with it before
zeep sees one (`connectors.kit.soap`). A document is refused, with an `UnsafeXml` whose `code`
is stable and whose message never quotes the document, when

- it has a DOCTYPE (`doctype_forbidden`): a SOAP message never needs one (SOAP 1.1 §3), and
  without it there are no entities to expand (billion laughs, quadratic blow-up) and no
  external entities, parameter entities or external DTDs to fetch. It is found in the bytes,
  before lxml reads the internal subset, and again in what lxml parsed;
- it holds an XInclude element (`xinclude_forbidden`): lxml never processes one unless asked,
  but a document that carries one is an attack, not a message;
- what its bytes are and what it says it is disagree (`encoding_mismatch`): a UTF-16 document
  declaring utf-8, a byte order mark contradicting the declaration, a UTF-16 document with
  neither (XML 1.0 §4.3.3), or a transport charset (the Content-Type's) naming another encoding;
  it is in UTF-32 or EBCDIC (`unsupported_encoding`: the WS-I Basic Profile allows UTF-8 and
  UTF-16, R1012), declares an encoding no one knows, or holds bytes invalid in the encoding it
  declares (`invalid_encoding`);
- it nests elements deeper than `MAX_DEPTH` (`too_deep`), holds a text node over
  `MAX_TEXT_BYTES` (`text_too_large`) or hits another of libxml2's limits (`resource_limit`):
  lxml parses with `huge_tree` off, and stops at the limit rather than after it;
- or it is not well-formed (`malformed_xml`, by line and column).

All but the last are `hostile`: a client refuses such a reply whatever its HTTP status, while a
reply that is merely not XML is judged by its status first. lxml parses with entities
unresolved, no network, no DTD loaded, and comments and processing instructions dropped.

The size of a document is capped before it gets here, where it is read (the gateway's request
body, the client's reply): a parser must never be handed an unbounded one.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

MAX_DEPTH = 256
"""libxml2's nesting limit without `huge_tree` (xmlParserMaxDepth)."""
MAX_TEXT_BYTES = 10_000_000
"""libxml2's limit on one text node without `huge_tree` (XML_MAX_TEXT_LENGTH)."""
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_UNMARKED = (  # XML 1.0 Appendix F: the first bytes of "<?" or "<" without a byte order mark
    (b"\x00\x00\x00<", "utf-32"),
    (b"<\x00\x00\x00", "utf-32"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "ebcdic"),
)
_DECLARATION = re.compile(r"""^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]{0,39})\1""")
_ELEMENT_START = re.compile(rb"<[A-Za-z_]")
_LIMITS = frozenset({etree.ErrorTypes.ERR_RESOURCE_LIMIT, etree.ErrorTypes.ERR_NAME_TOO_LONG})


class UnsafeXml(ValueError):
    """A document refused: a stable `code`, words saying what is wrong (never quoting it), and
    whether it is `hostile` (an attack on its reader) or merely not well-formed XML."""

    def __init__(self, code: str, message: str, *, hostile: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hostile = hostile


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes, *, charset: str | None = None) -> etree._Element:
    """The root element of `data`, or an `UnsafeXml` saying why it is refused.

    `charset` is what the transport said the document is in (a Content-Type's charset), if it
    said anything: it must agree with the document.
    """
    encoding = _check_encoding(data, charset)
    if _declares_doctype(data, encoding):
        raise _doctype_forbidden()
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_error(error) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _doctype_forbidden()
    for namespace in XINCLUDE_NAMESPACES:
        if next(root.iter(f"{{{namespace}}}*"), None) is not None:
            raise UnsafeXml("xinclude_forbidden", "an XInclude element is not allowed in a SOAP message")
    return root


def _doctype_forbidden() -> UnsafeXml:
    return UnsafeXml("doctype_forbidden", "a DOCTYPE is not allowed in a SOAP message")


def _canonical(name: str) -> str | None:
    """The codec's name for an encoding label, UTF-16's and UTF-32's byte orders folded; None if unknown."""
    try:
        found = codecs.lookup(name).name
    except LookupError:
        return None
    return found[:6] if found.startswith(("utf-16", "utf-32")) else found


def _check_encoding(data: bytes, charset: str | None) -> str:
    """The codec the document's bytes are in, once its byte order mark, its bytes, its
    declaration and the transport's charset are found to agree."""
    marked = next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)
    found = marked or next((encoding for start, encoding in _UNMARKED if data.startswith(start)), "utf-8")
    if found in ("utf-32", "ebcdic"):
        raise UnsafeXml(
            "unsupported_encoding", f"the document is in {found.upper()}; SOAP messages are UTF-8 or UTF-16"
        )
    match = _DECLARATION.match(data[:512].decode(found, errors="replace").lstrip("\ufeff"))
    declared = None
    if match:
        declared = _canonical(match.group(2))
        if declared is None:
            raise UnsafeXml("unsupported_encoding", "the declaration names an encoding that does not exist")
    if found.startswith("utf-16"):
        if declared is None and marked is None:
            raise UnsafeXml(
                "encoding_mismatch", "a UTF-16 document with neither a byte order mark nor a declaration"
            )
        if declared not in (None, "utf-16"):
            raise UnsafeXml("encoding_mismatch", f"the document is in UTF-16 but declares {declared}")
        effective = "utf-16"
    else:
        if marked and declared not in (None, "utf-8"):
            raise UnsafeXml("encoding_mismatch", f"a UTF-8 byte order mark, but a declaration of {declared}")
        if declared in ("utf-16", "utf-32"):
            raise UnsafeXml("encoding_mismatch", f"the document declares {declared} but is not in it")
        effective = declared or "utf-8"
    if charset:
        transported = _canonical(charset.strip().strip('"'))
        if transported is None:
            raise UnsafeXml("unsupported_encoding", "the Content-Type names a charset that does not exist")
        if transported != effective and {transported, effective} != {"ascii", "utf-8"}:
            raise UnsafeXml(
                "encoding_mismatch", f"the Content-Type says {transported} but the document is in {effective}"
            )
    return found


def _declares_doctype(data: bytes, encoding: str) -> bool:
    """Whether a DOCTYPE comes before the root element, looked for in the document's own
    encoding: refused before lxml reads its internal subset."""
    if encoding == "utf-8":  # or any ASCII-compatible encoding
        at = data.find(b"<!DOCTYPE")
        return at >= 0 and _ELEMENT_START.search(data, 0, at) is None
    text = data.decode(encoding, errors="replace")
    at = text.find("<!DOCTYPE")
    return at >= 0 and re.search(r"<[A-Za-z_]", text[:at]) is None


def _syntax_error(error: etree.XMLSyntaxError) -> UnsafeXml:
    """lxml's refusal in words of our own: its message can quote the bytes it stumbled on."""
    line, column = error.position
    where = f"(line {line}, column {column})"
    if error.code == etree.ErrorTypes.ERR_INVALID_ENCODING:
        return UnsafeXml("invalid_encoding", f"the document holds bytes invalid in its encoding {where}")
    if error.code == etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING:
        return UnsafeXml("unsupported_encoding", "the document's encoding is one the XML parser cannot read")
    message = (error.msg or "").lower()
    if error.code in _LIMITS or "xml_parse_huge" in message:
        if "depth" in message:
            return UnsafeXml("too_deep", f"elements are nested deeper than {MAX_DEPTH} levels {where}")
        if "text node" in message:
            return UnsafeXml("text_too_large", f"a text node is longer than {MAX_TEXT_BYTES} bytes {where}")
        return UnsafeXml("resource_limit", f"the document exceeds a limit of the XML parser {where}")
    return UnsafeXml("malformed_xml", f"not well-formed XML {where}", hostile=False)

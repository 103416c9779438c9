"""Hostile XML documents: the attacks a SOAP partner turned hostile (or a caller of the hub's own
SOAP endpoint) can send, each built around a real envelope so that the attack is its only defect.

An envelope given to `document` is UTF-8, opens with an XML declaration naming utf-8 (each
document writes its own), and holds
the text `MARK` once, as the whole text of one element: that is where the attack goes.

    billion_laughs               ten nested entities, the outermost in place of the mark: 3 GB
                                 of "lol" if expanded
    quadratic_blowup             one 100 kB entity referred to 200 000 times: 20 GB if expanded,
                                 700 kB as sent (no nesting for a nesting limit to catch)
    external_entity              an entity whose value is `target` (a file:// or http:// URL)
    parameter_entity             a parameter entity fetching `target` as more DTD (out-of-band XXE)
    external_dtd                 a DOCTYPE whose external subset is `target`
    xinclude                     an XInclude of `target` as text, in place of the mark
    deep_nesting                 2 000 000 nested elements in place of the mark (14 MB)
    huge_text                    a text node of 15 000 000 characters in place of the mark
    utf16_declared_utf8          the envelope in UTF-16 (no byte order mark), still declaring utf-8
    bom_contradicts_declaration  a UTF-8 byte order mark before a declaration of utf-16
    invalid_bytes                bytes that are not UTF-8 in a document declaring utf-8
    unknown_encoding             a declaration of an encoding that does not exist
    truncated                    the envelope cut off in the middle

`target` is what the entity, DTD or XInclude documents refer to; the others ignore it.
"""

from __future__ import annotations

from collections.abc import Callable

MARK = "HOSTILE"
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
DEPTH = 2_000_000
TEXT_CHARACTERS = 15_000_000
QUADRATIC_ENTITY_BYTES = 100_000
QUADRATIC_REFERENCES = 200_000


def _split(envelope: bytes) -> tuple[bytes, bytes]:
    """The envelope's root element onwards, cut at the mark: (before, after)."""
    declaration, end, body = envelope.partition(b"?>")
    if not end or not declaration.startswith(b"<?xml") or b"utf-8" not in declaration.lower():
        raise ValueError("the envelope must open with an XML declaration naming utf-8")
    mark = f">{MARK}<".encode()
    if body.count(mark) != 1:
        raise ValueError(f"the envelope must hold the text {MARK} once, as an element's whole text")
    before, after = body.split(mark)
    return before + b">", b"<" + after


def _doctype(envelope: bytes, subset: str, replacement: bytes, external: str = "") -> bytes:
    before, after = _split(envelope)
    root = before.lstrip().split(b" ", 1)[0].lstrip(b"<").decode()
    internal = f" [\n{subset}\n]" if subset else ""
    doctype = f"<!DOCTYPE {root}{external}{internal}>".encode()
    return DECLARATION + b"\n" + doctype + b"\n" + before.lstrip() + replacement + after


def billion_laughs(envelope: bytes, target: str = "") -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return _doctype(envelope, "\n".join(entities), b"&lol9;")


def quadratic_blowup(envelope: bytes, target: str = "") -> bytes:
    entity = f'<!ENTITY a "{"a" * QUADRATIC_ENTITY_BYTES}">'
    return _doctype(envelope, entity, b"&a;" * QUADRATIC_REFERENCES)


def external_entity(envelope: bytes, target: str) -> bytes:
    return _doctype(envelope, f'<!ENTITY xxe SYSTEM "{target}">', b"&xxe;")


def parameter_entity(envelope: bytes, target: str) -> bytes:
    return _doctype(envelope, f'<!ENTITY % remote SYSTEM "{target}">\n%remote;', b"&leak;")


def external_dtd(envelope: bytes, target: str) -> bytes:
    return _doctype(envelope, "", b"&leak;", external=f' SYSTEM "{target}"')


def xinclude(envelope: bytes, target: str) -> bytes:
    before, after = _split(envelope)
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{target}" parse="text"/>'
    return DECLARATION + before + include.encode() + after


def deep_nesting(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return DECLARATION + before + b"<a>" * DEPTH + b"</a>" * DEPTH + after


def huge_text(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return DECLARATION + before + b"x" * TEXT_CHARACTERS + after


def utf16_declared_utf8(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return (DECLARATION + before + MARK.encode() + after).decode("utf-8").encode("utf-16-le")


def bom_contradicts_declaration(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return b"\xef\xbb\xbf" + b'<?xml version="1.0" encoding="utf-16"?>' + before + MARK.encode() + after


def invalid_bytes(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return DECLARATION + before + b"\xc3\x28\xa0\xa1\xff\xfe" + after


def unknown_encoding(envelope: bytes, target: str = "") -> bytes:
    before, after = _split(envelope)
    return b'<?xml version="1.0" encoding="x-no-such-encoding"?>' + before + MARK.encode() + after


def truncated(envelope: bytes, target: str = "") -> bytes:
    return envelope[: len(envelope) // 2]


DOCUMENTS: dict[str, Callable[[bytes, str], bytes]] = {
    "billion_laughs": billion_laughs,
    "quadratic_blowup": quadratic_blowup,
    "external_entity": external_entity,
    "parameter_entity": parameter_entity,
    "external_dtd": external_dtd,
    "xinclude": xinclude,
    "deep_nesting": deep_nesting,
    "huge_text": huge_text,
    "utf16_declared_utf8": utf16_declared_utf8,
    "bom_contradicts_declaration": bom_contradicts_declaration,
    "invalid_bytes": invalid_bytes,
    "unknown_encoding": unknown_encoding,
    "truncated": truncated,
}
REFERRING = frozenset({"external_entity", "parameter_entity", "external_dtd", "xinclude"})
"""The documents that refer to a `target`."""


def document(name: str, envelope: bytes, target: str = "") -> bytes:
    """The hostile document `name` (one of `DOCUMENTS`) made of `envelope`, referring to `target`."""
    if name not in DOCUMENTS:
        raise ValueError(f"no hostile document {name!r}; known: {', '.join(DOCUMENTS)}")
    if name in REFERRING and not target:
        raise ValueError(f"the hostile document {name} refers to a target: give one")
    return DOCUMENTS[name](envelope, target)

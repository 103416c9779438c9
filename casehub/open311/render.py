"""The GeoReport v2 formats: XML, which the spec requires, and JSON, by the path's suffix.

A document is a value of plain dicts, lists and scalars; in XML a list is a container element
holding one element per item (`ITEMS` names it: `<services><service>…`), null is an empty
element, a boolean `true`/`false`. Errors are the spec's `<errors><error><code/><description/>`,
in JSON an array of `{code, description}`.
"""

from __future__ import annotations

from typing import Any

import orjson
from lxml import etree

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json"
FORMATS = ("xml", "json")
ITEMS = {
    "services": "service",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
}


def media_type(fmt: str) -> str:
    return XML_TYPE if fmt == "xml" else JSON_TYPE


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: etree._Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _fill(etree.SubElement(element, name), inner)
    elif isinstance(value, list):
        item = ITEMS[element.tag]
        for inner in value:
            _fill(etree.SubElement(element, item), inner)
    else:
        element.text = _text(value)


def xml(root: str, value: Any) -> bytes:
    """`value` as the document `<root>`: a list fills it with items, a dict with fields."""
    element = etree.Element(root)
    _fill(element, value)
    return bytes(etree.tostring(element, xml_declaration=True, encoding="utf-8"))


def document(fmt: str, root: str, value: Any) -> bytes:
    """The body in `fmt`: JSON is `value` itself, XML is it under `<root>`."""
    return xml(root, value) if fmt == "xml" else orjson.dumps(value)


def errors(fmt: str, code: int, description: str) -> bytes:
    return document(fmt, "errors", [{"code": code, "description": description}])

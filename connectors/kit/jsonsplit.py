"""Find the members and items of a JSON document in its bytes, without decoding it.

When one record of a page cannot be decoded — invalid UTF-8, a NaN, nesting deeper than a
parser goes — the whole body fails to decode, and with it every good record beside it. A
connector then falls back to this: it finds where each record's bytes are and decodes each one
on its own, so only the broken record is lost, and it is kept as the bytes it was.

The scanner only tracks strings (with their escapes) and bracket depth, never what values
mean: it does not recurse, so a record nested 200 000 deep is skipped as quickly as a flat one,
and regular expressions jump from one structural byte to the next. UTF-8 never uses bytes below
0x80 inside a multi-byte character, so scanning bytes is safe for any text, even invalid text.
"""

from __future__ import annotations

import json
import re

Span = tuple[int, int]
"""Where a value lies in the document: `body[start:end]`."""

_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRUCTURE = re.compile(_STRING.pattern + rb'|"|[\[{]+|[\]}]+', re.DOTALL)
"""The next string (whole), unterminated string (a lone quote), or run of brackets."""
_SCALAR = re.compile(rb"[^ \t\n\r,\]}\[{\"]*")
_QUOTE = ord('"')
_OPENERS = frozenset(b"[{")
_BOM = b"\xef\xbb\xbf"


class Unsplittable(ValueError):
    """The bytes do not have the shape asked for: not an object or array, or unterminated."""


def members(body: bytes, start: int | None = None) -> dict[str, Span]:
    """The members of the object starting at `start`, by name; a later duplicate wins, as in
    `json.loads`. Without `start`, the object is the whole body (after an optional UTF-8 byte
    order mark and whitespace), and nothing but whitespace may follow it.

    A name that is not valid JSON text (invalid UTF-8, a bad escape) is left out: it cannot be
    one a caller looks for.
    """
    whole = start is None
    if start is None:
        start = _skip(body, len(_BOM) if body.startswith(_BOM) else 0)
    found: dict[str, Span] = {}
    end = _entries(body, start, found, named=True)
    if whole and _skip(body, end) != len(body):
        raise Unsplittable("bytes follow the document")
    return found


def elements(body: bytes, start: int) -> list[Span]:
    """The items of the array starting at `start`, in order."""
    found: list[Span] = []
    _entries(body, start, found, named=False)
    return found


def _entries(body: bytes, start: int, found: dict[str, Span] | list[Span], *, named: bool) -> int:
    """Collect the entries of the container at `start` into `found`; returns its end."""
    opener, closer = (b"{", b"}") if named else (b"[", b"]")
    if body[start : start + 1] != opener:
        raise Unsplittable(f"expected {opener.decode()}")
    at = _skip(body, start + 1)
    if body[at : at + 1] == closer:
        return at + 1
    while True:
        name = None
        if named:
            name_end = _string_end(body, at)
            name = _name(body[at:name_end])
            at = _skip(body, name_end)
            if body[at : at + 1] != b":":
                raise Unsplittable("expected :")
            at = _skip(body, at + 1)
        value = (at, _value_end(body, at))
        if isinstance(found, list):
            found.append(value)
        elif name is not None:
            found[name] = value
        at = _skip(body, value[1])
        separator = body[at : at + 1]
        if separator == closer:
            return at + 1
        if separator != b",":
            raise Unsplittable(f"expected , or {closer.decode()}")
        at = _skip(body, at + 1)


def _name(raw: bytes) -> str | None:
    try:
        name = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    return name if isinstance(name, str) else None


def _skip(body: bytes, at: int) -> int:
    match = _WHITESPACE.match(body, at)
    return match.end() if match else at


def _string_end(body: bytes, at: int) -> int:
    """The end of the string starting at `at` (its quote included)."""
    match = _STRING.match(body, at)
    if match is None:
        raise Unsplittable("expected a string that ends")
    return match.end()


def _value_end(body: bytes, at: int) -> int:
    """The end of the value starting at `at`: a string, a container, or a bare scalar."""
    if at >= len(body):
        raise Unsplittable("a value is missing")
    first = body[at]
    if first == _QUOTE:
        return _string_end(body, at)
    if first not in _OPENERS:
        match = _SCALAR.match(body, at)
        end = match.end() if match else at
        if end == at:
            raise Unsplittable("a value is missing")
        return end
    depth = 0
    while True:
        mark = _STRUCTURE.search(body, at)
        if mark is None:
            raise Unsplittable("a container does not end")
        at, first = mark.end(), body[mark.start()]
        if first == _QUOTE:
            if at - mark.start() == 1:
                raise Unsplittable("a string does not end")
            continue
        run = at - mark.start()
        if first in _OPENERS:
            depth += run
        elif run >= depth:
            return mark.start() + depth
        else:
            depth -= run

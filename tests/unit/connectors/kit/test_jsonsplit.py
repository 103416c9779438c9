"""The byte-level splitter finds exactly the bytes of each member and item, whatever they hold."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.kit import jsonsplit

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
LAYOUTS = st.sampled_from(
    [
        {"separators": (",", ":")},
        {"separators": (", ", ": ")},
        {"indent": 2},
        {"indent": "\t", "separators": (" ,", " : ")},
    ]
)


def listing(body: bytes) -> list[bytes]:
    """The bytes of each item of `data.list`, found as the message board client finds them."""
    data = jsonsplit.members(body, jsonsplit.members(body)["data"][0])
    return [body[start:end] for start, end in jsonsplit.elements(body, data["list"][0])]


@given(items=st.lists(VALUES, max_size=8), ascii_only=st.booleans(), layout=LAYOUTS)
def test_splitting_an_envelope_gives_back_each_item(
    items: list[Any], ascii_only: bool, layout: dict[str, Any]
) -> None:
    envelope = {"code": 0, "msg": "success", "data": {"total": len(items), "page": 1, "list": items}}
    body = json.dumps(envelope, ensure_ascii=ascii_only, **layout).encode()
    found = listing(body)
    assert [json.loads(item) for item in found] == items
    if "indent" not in layout:
        assert found == [json.dumps(item, ensure_ascii=ascii_only, **layout).encode() for item in items]


def test_an_item_that_does_not_decode_is_found_as_its_bytes() -> None:
    broken = [b'{"title": "\xff\xfe"}', b'{"x": NaN}', b"[" * 200_000 + b"]" * 200_000, b'{"a": 1,}']
    body = b'{"code": 0, "data": {"list": [1, ' + b", ".join(broken) + b', "\\"]"]}}'
    assert listing(body) == [b"1", *broken, b'"\\"]"']


def test_deep_nesting_is_split_quickly() -> None:
    deep = b'[{"a":' * 100_000 + b"1" + b"}]" * 100_000
    body = b'{"code":0,"data":{"list":[' + deep + b"," + b"[" * 200_000 + b"]" * 200_000 + b"]}}"
    started = time.monotonic()
    assert listing(body) == [deep, b"[" * 200_000 + b"]" * 200_000]
    assert time.monotonic() - started < 2.0


def test_a_byte_order_mark_and_surrounding_whitespace_are_allowed() -> None:
    assert listing(b'\xef\xbb\xbf \n{"data": {"list": [true]}}\r\n') == [b"true"]


def test_a_later_duplicate_member_wins_and_undecodable_names_are_left_out() -> None:
    body = b'{"data": 1, "\xff": 2, "data": {"list": []}}'
    members = jsonsplit.members(body)
    assert set(members) == {"data"}
    assert body[slice(*members["data"])] == b'{"list": []}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"list": ["unterminated]}}',
        b'{"data": {"list": [1, 2}}',
        b'{"data": {"list": [1 2]}}',
        b'{"data" {"list": []}}',
        b'{"data": }',
        b'{"data": {"list": []}} trailing',
        b"[1, 2]",
        b"",
    ],
    ids=["open-string", "mismatched", "no-comma", "no-colon", "no-value", "trailing", "not-object", "empty"],
)
def test_a_body_without_the_shape_is_unsplittable(body: bytes) -> None:
    with pytest.raises(jsonsplit.Unsplittable):
        listing(body)

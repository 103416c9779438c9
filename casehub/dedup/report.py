"""A case as duplicate detection sees it: its words as character bigrams, its place, time,
category and reporter's blind index — nothing else, and nothing personal in clear.

Chinese has no spaces between words, and residents, operators and inspectors name one incident
in different words; overlapping character pairs (bigrams) carry most of what two such texts
share without a segmenter (a dictionary would miss place names like 丽水路社区 anyway). What
every report says — 市民来电反映, 希望相关部门尽快处理 — is removed first, so the bigrams left
are about the incident.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

MAX_TEXT = 4000
"""Characters of title and content kept: a resident's long post tells the incident in its first
paragraphs, and a huge text must not cost more than a long one."""

BOILERPLATE = (
    "市民来电反映",
    "来电人反映",
    "市民来电",
    "来电反映",
    "市民反映",
    "网友反映",
    "群众反映",
    "居民反映",
    "反映人",
    "来电人",
    "诉求人",
    "市民",
    "网友",
    "您好",
    "你好",
    "请问",
    "希望相关部门",
    "希望有关部门",
    "请相关部门",
    "请有关部门",
    "相关部门",
    "有关部门",
    "尽快处理",
    "尽快解决",
    "及时处理",
    "予以处理",
    "给予解决",
    "核实处理",
    "处理一下",
    "解决一下",
    "谢谢",
    "感谢",
    "麻烦",
    "希望",
    "要求",
    "诉求",
    "问题",
    "情况",
    "反映",
    "一下",
    "现在",
    "目前",
    "已经",
    "我们",
    "我家",
    "这个",
    "那个",
    "非常",
    "特别",
    "一直",
    "没有人",
    "没人",
    "武汉市",
)
"""Phrases of the genre, not of the incident, longest first so a phrase goes before its parts."""

PLACE_WORDS = (
    "武汉市",
    "街道办事处",
    "街道",
    "社区",
    "小区",
    "附近",
    "门口",
    "旁边",
    "周边",
    "一带",
    "江岸区",
    "江汉区",
    "硚口区",
    "汉阳区",
    "武昌区",
    "青山区",
    "洪山区",
    "东西湖区",
    "汉南区",
    "蔡甸区",
    "江夏区",
    "黄陂区",
    "新洲区",
)
"""Words every address in a district shares: left out when addresses are compared."""

_GENRE = re.compile("|".join(sorted(BOILERPLATE, key=len, reverse=True)))
_PLACE = re.compile("|".join(sorted(PLACE_WORDS, key=len, reverse=True)))
_BUILDING = re.compile(r"(\d{1,4})\s*(栋|幢|号楼|号)")
_NOT_WORD = re.compile(r"[\W_]+")

EMPTY: frozenset[Any] = frozenset()
"""The one empty set the reports share: most name no building, a stored candidate's text waits."""


_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}
"""Full-width forms (`１２栋`, `ＡＢ`, `，`) to ASCII: what NFKC does to them, at a fraction of its cost."""
_WIDE_WORD = re.compile("[" + "".join(chr(c) for c in _HALF_WIDTH if re.match(r"\w", chr(c))) + "]")
"""The full-width forms that are word characters: digits and letters. Full-width punctuation and
spaces are not words either way — the comparison removes them and a building number's pattern
skips them — so a text without these is compared unfolded: almost every Chinese text has a `，`,
and `str.translate` costs eight times what finding none of these does."""


def _folded(text: str) -> str:
    """Text within `MAX_TEXT`, lower case, its full-width word characters folded to ASCII."""
    text = text[:MAX_TEXT]
    return (text.translate(_HALF_WIDTH) if _WIDE_WORD.search(text) else text).lower()


def normalized(text: str) -> str:
    """Text folded for comparison: full-width forms to ASCII, lower case, the genre's phrases,
    punctuation and spaces removed."""
    return _NOT_WORD.sub("", _GENRE.sub(" ", _folded(text)))


def buildings(text: str) -> frozenset[str]:
    """Building and door numbers named (`5栋`, `12号楼`, `友谊大道102号`): two reports naming
    only other buildings or doors are about other doors, whatever else they share."""
    found = _BUILDING.findall(_folded(text))
    return (
        frozenset(number + ("栋" if kind in ("栋", "幢", "号楼") else "号") for number, kind in found)
        if found
        else EMPTY
    )


def bigrams(text: str) -> frozenset[int]:
    """The character bigrams of normalized text (a one-character text is its own), each coded
    as one integer: the two code points as one 64-bit word.

    A stored candidate is kept prepared between pages (`casehub.dedup.store`): an integer takes
    a third of the memory of a two-character string and hashes at once. The codes are read in C
    from the text's UTF-32 bytes: the even pairs from offset 0, the odd ones from offset 4.
    """
    if len(text) < 2:
        return frozenset((ord(text),)) if text else EMPTY
    data = text.encode("utf-32-le")
    even = memoryview(data[: len(data) // 8 * 8]).cast("Q")
    odd = memoryview(data[4 : 4 + (len(data) - 4) // 8 * 8]).cast("Q")
    return frozenset(itertools.chain(even, odd))


@dataclass(frozen=True, slots=True)
class Report:
    """What is compared of one case. `towers` and `doors` are the buildings (`5栋`) and doors
    (`102号`) it names (`buildings`); `category` is the 6-digit minor category; `phone_index`
    the reporter's blind index (`KeyRing.blind_index` of the E.164 number)."""

    case_id: str
    channel: str | None
    words: frozenset[int]
    address: frozenset[int]
    towers: frozenset[str]
    doors: frozenset[str]
    category: str | None
    district_code: str | None
    community_code: str | None
    grid_code: str | None
    lng: float | None
    lat: float | None
    reported_at: datetime | None
    phone_index: str | None


def report(
    case_id: str,
    *,
    channel: str | None = None,
    title: str | None = None,
    content: str | None = None,
    category: str | None = None,
    district_code: str | None = None,
    community_code: str | None = None,
    grid_code: str | None = None,
    address: str | None = None,
    lng: float | None = None,
    lat: float | None = None,
    reported_at: datetime | None = None,
    phone_index: str | None = None,
    place_name: str | None = None,
) -> Report:
    """A report from a case's fields; missing ones stay None (they fire no signal).

    `place_name` is the name of the case's community and street (`place_name_of`): an app
    report names its community by code, a hotline operator types the name into the address,
    and both are then compared as address text.
    """
    named = {"title": title, "content": content, "address": address, "place_name": place_name}
    for field, given in {**named, "category": category, "district_code": district_code}.items():
        if given is not None and not isinstance(given, str):
            raise TypeError(f"{field}: must be text or None, not {type(given).__name__}")
    for field, number in (("lng", lng), ("lat", lat)):
        if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
            raise TypeError(f"{field}: must be a number or None, not {type(number).__name__}")
    if reported_at is not None and (not isinstance(reported_at, datetime) or reported_at.tzinfo is None):
        raise TypeError("reported_at: must be an aware datetime or None")
    if lng is not None and lat is not None and not (math.isfinite(lng) and math.isfinite(lat)):
        lng = lat = None
    words, where, towers, doors = _texts(title, content, address, place_name)
    return Report(
        case_id=case_id,
        channel=channel,
        words=words,
        address=where,
        towers=towers,
        doors=doors,
        category=category or None,
        district_code=district_code or None,
        community_code=community_code or None,
        grid_code=grid_code or None,
        lng=lng if lat is not None else None,
        lat=lat if lng is not None else None,
        reported_at=reported_at,
        phone_index=phone_index or None,
    )


def with_text(placed: Report, title: str | None, content: str | None, address: str | None) -> Report:
    """`placed` — a report of a case's place, category, reporter and time only — with its text:
    as `report` of the same fields makes it."""
    place_name = place_name_of(placed.community_code, placed.grid_code)
    words, where, towers, doors = _texts(title, content, address, place_name)
    return replace(placed, words=words, address=where, towers=towers, doors=doors)


def _texts(
    title: str | None, content: str | None, address: str | None, place_name: str | None
) -> tuple[frozenset[int], frozenset[int], frozenset[str], frozenset[str]]:
    """A report's words, address, towers and doors from its texts."""
    text = normalized(f"{title or ''}\n{content or ''}")
    numbered = buildings(f"{title or ''} {content or ''} {address or ''}")
    towers = frozenset(n for n in numbered if n.endswith("栋")) if numbered else EMPTY
    where = " ".join(part for part in (address, place_name) if part)
    placed = bigrams(normalized(_PLACE.sub(" ", where))) if where else EMPTY
    return bigrams(text), placed, towers, numbered - towers if towers else numbered


@lru_cache(maxsize=8192)
def place_name_of(community_code: str | None, grid_code: str | None = None) -> str | None:
    """The names of the community (a grid's, when only the grid is known) and its street, from
    `schemas/reference/regions.csv`; None for a code the regions do not know."""
    from casehub.reference import load_reference

    regions = load_reference().regions
    code = community_code or (grid_code[:12] if grid_code else None)
    names: list[str] = []
    while code and code in regions and regions[code].level in ("community", "street"):
        names.append(regions[code].name)
        code = regions[code].parent_code
    return " ".join(names) or None

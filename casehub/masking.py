"""Personal data as it may be shown: masked so a desk can recognise a resident, not identify one.

Used wherever a decrypted value leaves the hub in part — the gateway's case reads, the health
commission's call-back number — and wherever free text does, since residents type their phone
and ID numbers into titles, contents and addresses (`mask_free_text`).
"""

from __future__ import annotations

import re


def mask_name(name: str | None) -> str | None:
    """The first character only (欧阳明华 → 欧*): a caller is recognisable to staff, not
    identifiable. A one-character name shows nothing (*): its first character is all of it."""
    if not name:
        return None
    return name[0] + "*" if len(name) > 1 else "*"


HIDDEN_DIGITS = 4
"""The fewest digits of a phone number a mask hides: a mobile's middle four (138****8000)."""


def mask_phone(phone: str | None) -> str | None:
    """+8613800138000 → +86138****8000, 13800138000 → 138****8000, the way Chinese service desks
    print a number: the last four digits, and as many as three first ones as leave four hidden
    (+862785551234 → +8627****1234); a number of fewer than eight digits shows none."""
    if not phone:
        return None
    prefix, national = ("+86", phone[3:]) if phone.startswith("+86") else ("", phone)
    if len(national) < 2 * HIDDEN_DIGITS:
        return prefix + "*" * len(national)
    head = min(3, len(national) - 2 * HIDDEN_DIGITS)
    return prefix + national[:head] + "*" * (len(national) - head - 4) + national[-4:]


def mask_id_number(number: str | None) -> str | None:
    """420102198507153210 → 420102***********0: the issuing region and the check character only,
    as a desk needs to tell two residents apart; the birth date and sequence never show. The
    legacy 15 digits, which have no check character, show their region only; anything shorter
    is not a resident ID and shows nothing."""
    if not number:
        return None
    if len(number) == 18:
        return number[:6] + "*" * 11 + number[-1]
    return number[:6] + "*" * (len(number) - 6) if len(number) >= 15 else "*" * len(number)


# ---------------------------------------------------------------------------------------------
# Free text: the numbers residents type into titles, contents, addresses and notes

_FOLDED = str.maketrans(
    {
        **{chr(0xFF10 + digit): str(digit) for digit in range(10)},
        "\uff38": "X",  # Ｘ
        "\uff58": "x",  # ｘ
        "\uff0b": "+",  # ＋
        "\uff08": "(",  # （
        "\uff09": ")",  # ）
        "\uff0d": "-",  # －
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u3000": " ",
        "\u00a0": " ",
    }
)
"""Full-width digits and signs to ASCII, one character for one, so a match's span in the folded
text is its span in the text as written."""


def _spaced(template: str) -> str:
    """`~` between two digits of a template: up to three spaces or hyphens, as people group numbers."""
    return template.replace("~", r"[ \-]{0,3}")


_MONTH = r"(?:0~[1-9]|1~[0-2])"
_DAY = r"(?:0~[1-9]|[12]~\d|3~[01])"
_ID_18 = _spaced(rf"[1-9]~\d~\d~\d~\d~\d~(?:1~[89]|2~0)~\d~\d~{_MONTH}~{_DAY}~\d~\d~\d~[\dXx]")
"""A resident ID: the issuing region, the birth date (18xx–20xx), a sequence and the check
character — also the permanent-residence IDs beginning with 9, which keep that layout."""
_ID_15 = _spaced(rf"[1-9]~\d~\d~\d~\d~\d~\d~\d~{_MONTH}~{_DAY}~\d~\d~\d")
"""The legacy 15-digit form: the region, a two-digit birth year, month, day and a sequence."""
_LONG = r"\d{15,}[Xx]?"
"""A contiguous run of fifteen or more digits is no ordinary number: a bank card, an account."""
_COUNTRY = r"(?:\+ ?86|0086|\(\+?86\))[ \-]{0,2}"
_MOBILE = rf"(?:{_COUNTRY}|86(?=1[3-9]))?" + _spaced(r"1~[3-9]~\d~\d~\d~\d~\d~\d~\d~\d~\d")
_AREA = r"(?:1~0|2~\d|[3-9]~\d~\d)"
"""An area code after its 0: 010 and 02x (Wuhan's 027) have three digits, the others four."""
_SUBSCRIBER = r"[2-9]~\d~\d~\d~\d~\d~\d(?:~\d)?"
_LANDLINE = _spaced(rf"(?:{_COUNTRY}\(?~0?~{_AREA}~\)?|\(~0~{_AREA}~\)|0~{_AREA})~{_SUBSCRIBER}")
_NUMBER = re.compile(
    rf"(?<![0-9])(?:(?P<id>{_ID_18}|{_ID_15})|(?P<mobile>{_MOBILE})|(?P<landline>{_LANDLINE})|(?P<long>{_LONG}))"
    r"(?![0-9])"
)


def _masked_number(kind: str, written: str) -> str:
    digits = "".join(ch for ch in written if ch.isdigit() or ch in "Xx").upper()
    international = written.startswith(("+", "(", "00")) or (kind == "mobile" and len(digits) == 13)
    if kind == "id":
        return mask_id_number(digits) or ""
    if kind == "long":
        return "*" * (len(digits) - 4) + digits[-4:]
    if international:
        digits = digits.removeprefix("00").removeprefix("86")
    if kind == "landline":
        return mask_phone(digits if digits.startswith("0") else "0" + digits) or ""
    return mask_phone("+86" + digits if international else digits) or ""


def mask_free_text(text: str) -> str:
    """`text` with every phone number and resident ID in it masked, the rest as written.

    Residents type their numbers into titles, contents and addresses in every form: mobiles
    bare, with +86 or 0086, grouped by spaces or hyphens; landlines with an area code (027…,
    in brackets or not); resident IDs of 18 characters, the legacy 15 digits, grouped, in
    full-width digits. Each becomes its mask (138****8000, 027****3456, 420102***********0);
    a run of fifteen digits or more shows its last four only. Ordinary numbers — dates, times,
    house and room numbers, amounts, counts, codes of fourteen digits or fewer — stay as they are.
    """
    folded = text.translate(_FOLDED)
    parts: list[str] = []
    end = 0
    for match in _NUMBER.finditer(folded):
        kind = match.lastgroup or "mobile"
        parts += [text[end : match.start()], _masked_number(kind, match.group())]
        end = match.end()
    return "".join(parts) + text[end:] if parts else text


# ---------------------------------------------------------------------------------------------
# Addresses at street level

_NUMBERED = re.compile(r"[0-9]|[一二三四五六七八九十百千零〇两]+(?:号|栋|幢|单元|室|楼|层|弄|门|座|期|组|排)")
"""Where an address starts to point at one door: its first number (58号, 3栋, 501室, 五十八号)."""
_STREET_UNIT = re.compile(r"街道|大道|大街|路|街|巷|镇|乡|县|市|省|(?<![小社园景校厂片院矿营])区")
"""The names a street-level address ends with: roads and administrative units down to the
street (街道) — not a residential compound (小区) or a community (社区), which are finer."""


def street_level(address: str | None) -> str | None:
    """The address cut to its street: 江汉区民族街道友谊路58号门前 → 江汉区民族街道友谊路.

    What is kept runs from the start to the last road or administrative unit named before the
    first house, building or room number; the number, the compound and whatever follows are
    dropped. An address that names no road or unit before its number has no street level (None).
    """
    if not address:
        return None
    folded = address.translate(_FOLDED)
    cut = _NUMBERED.search(folded)
    head = folded[: cut.start()] if cut else folded
    ends = [unit.end() for unit in _STREET_UNIT.finditer(head)]
    return address[: ends[-1]].strip() or None if ends else None

"""Personal data as it may be shown: masked so a desk can recognise a resident, not identify one.

Used wherever a decrypted value leaves the hub in part — the gateway's case reads, the health
commission's call-back number.
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


_DIGIT_RUN = re.compile(r"\+?\d[\d -]{5,}\d[\dXx]?")


def mask_digits(text: str) -> str:
    """Every run of seven or more digits in free text masked as a phone is (an ID number too).

    A reason's message names a field and a rule, never a value; this is the guard for a page
    that shows one anyway, should a message ever quote a number.
    """

    def masked(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        if sum(c.isdigit() for c in digits) < 7:
            return match.group()
        return mask_phone(digits) or ""

    return _DIGIT_RUN.sub(masked, text)

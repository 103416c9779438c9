"""Personal data as it may be shown: masked so a desk can recognise a resident, not identify one.

Used wherever a decrypted value leaves the hub in part — the gateway's case reads, the health
commission's call-back number.
"""

from __future__ import annotations

import re


def mask_name(name: str | None) -> str | None:
    """The first character only (欧阳明华 → 欧*): a caller is recognisable to staff, not identifiable."""
    return name[0] + "*" if name else None


def mask_phone(phone: str | None) -> str | None:
    """+8613800138000 → +86138****8000, the way Chinese service desks print a number."""
    if not phone:
        return None
    prefix, national = ("+86", phone[3:]) if phone.startswith("+86") else ("", phone)
    if len(national) < 8:
        return prefix + "*" * len(national)
    return prefix + national[:3] + "*" * (len(national) - 7) + national[-4:]


def mask_id_number(number: str | None) -> str | None:
    """420102198507153210 → 420102***********0: the issuing region and the check character only,
    as a desk needs to tell two residents apart; the birth date and sequence never show."""
    if not number:
        return None
    return number[:6] + "*" * (len(number) - 7) + number[-1] if len(number) > 8 else "*" * len(number)


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

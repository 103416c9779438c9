"""Personal data as it may be shown: masked so a desk can recognise a resident, not identify one.

Used wherever a decrypted value leaves the hub in part — the gateway's case reads, the health
commission's call-back number.
"""

from __future__ import annotations


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

"""Personal details of synthetic callers: phone numbers and resident IDs, valid or broken.

Valid values must pass the checks the hub runs (phonenumbers for phones, GB 11643 for resident
IDs) and broken ones must fail them, otherwise a defect's ground truth would lie. The legacy
forms a valid number may take (`+86 138 …`, `0086…`, dashes, full-width digits) are written here
too, because they are what the connectors have to normalise.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from stdnum.cn import ric

MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150",
    "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177",
    "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199",
)

_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Region codes (行政区划代码) with the first and last birth year they could be issued for, as the
# national code table dates them; a Wuhan district code did not exist before the district did.
_ID_REGIONS: tuple[tuple[str, int, int], ...] = (
    ("420100", 1900, 2100), ("420102", 1983, 2100), ("420103", 1983, 2100),
    ("420104", 1983, 2100), ("420105", 1983, 2100), ("420106", 1983, 2100),
    ("420107", 1983, 2100), ("420111", 1983, 2100), ("420112", 1983, 2100),
    ("420113", 1984, 2100), ("420114", 1992, 2100), ("420115", 1995, 2100),
    ("420116", 1998, 2100), ("420117", 1998, 2100), ("420122", 1900, 1995),
    ("420200", 1900, 2100), ("420300", 1900, 2100),
)


def fullwidth(text: str) -> str:
    """Replace ASCII digits with full-width ones (全角), as some legacy input methods type them."""
    return text.translate(_FULLWIDTH)


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number with a prefix carriers really issue."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def landline(rng: random.Random) -> str:
    """A Wuhan fixed-line number in its usual written form, 027-8xxxxxxx."""
    return f"027-8{rng.randrange(10**7):07d}"


def written_form(number: str, rng: random.Random) -> str:
    """One of the ways the legacy channels write a valid number; about half keep it plain."""
    if number.startswith("027-"):
        local = number[4:]
        return rng.choice((number, number, "027" + local, f"027 {local}", f"(027){local}"))
    roll = rng.random()
    if roll < 0.5:
        return number
    if roll < 0.6:
        return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
    if roll < 0.68:
        return "+86" + number
    if roll < 0.76:
        return rng.choice(("0086", "0086 ")) + number
    if roll < 0.86:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if roll < 0.93:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return fullwidth(number)


def bad_phone(rng: random.Random) -> str:
    """A number no carrier issues: a digit short or long, a service prefix, a short landline."""
    number = mobile(rng)
    return rng.choice(
        (
            number[:-1],
            number + str(rng.randrange(10)),
            rng.choice(("100", "110", "120", "122")) + number[3:],
            f"027-8{rng.randrange(10**5):05d}",
        )
    )


def _birth_date(rng: random.Random, today: date) -> date:
    age_days = rng.randrange(18 * 365, 80 * 365)
    return today - timedelta(days=age_days)


def resident_id(rng: random.Random, today: date) -> str:
    """An 18-digit resident ID (居民身份证号码) that satisfies GB 11643-1999 in full.

    The region must have existed in the birth year, as stdnum (and the hub) check that too.
    """
    born = _birth_date(rng, today)
    regions = [code for code, first, last in _ID_REGIONS if first <= born.year <= last]
    body = f"{rng.choice(regions)}{born:%Y%m%d}{rng.randrange(1, 1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def bad_resident_id(rng: random.Random, today: date) -> str:
    """A resident ID that is right in every part but its check digit (校验码)."""
    valid = resident_id(rng, today)
    wrong = [digit for digit in "0123456789X" if digit != valid[-1]]
    return valid[:-1] + rng.choice(wrong)

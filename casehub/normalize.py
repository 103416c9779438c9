"""Pure functions that absorb the partners' legacy quirks in single values.

Every partner sends empty strings for null, full-width digits (`１３８…`), phone numbers in
several forms and local times without an offset (docs/partners.md). Mappers run each raw value
through one of these before it reaches the unified case.

A value that cannot be repaired raises `ValueError`. Its message says what is wrong and never
repeats the value: these values are personal data, and error messages end up in logs and in the
quarantine. Nothing here raises anything else, whatever the value: a mapper turns each
`ValueError` into a quarantine reason, so one hostile value can only ever cost its own record.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import phonenumbers
from stdnum.cn import ric

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""The zone every partner's local time is in, and the zone the hub writes its times in."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_PREFIXES = (("+86", 14), ("0086", 15), ("86", 13))
_PHONE_SEPARATORS = str.maketrans("", "", " -().")
"""What people write between a number's digits, `(+86) 138-0013.8000`."""
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_LEGACY_RESIDENT_ID = re.compile(r"[0-9]{15}")
_PROVINCE_RANGES = ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54), (61, 65), (71, 71), (81, 83))
PROVINCES = frozenset(str(code) for first, last in _PROVINCE_RANGES for code in range(first, last + 1))
"""The provinces' codes of GB/T 2260 that begin a region (71 Taiwan; 81, 82 and 83 the
residence permits of Hong Kong, Macao and Taiwan residents)."""
EARLIEST_BIRTH_YEAR = 1900
_LOCAL_TIME = re.compile(
    r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})[ T]([0-9]{1,2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,6}))?[ ]?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_OFFSET_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
"""C0 controls but tab and line breaks, DEL, and lone surrogates: no partner means them as text,
PostgreSQL refuses NUL in a text column, and a lone surrogate cannot be written as UTF-8."""

EARLIEST = datetime(1990, 1, 1, tzinfo=SHANGHAI)
LATEST = datetime(9000, 1, 1, tzinfo=SHANGHAI)
"""The range of times a partner can mean. Outside it a time is a defect (`0001-01-01` for
"unknown", `9999-12-31` for "never"), and near the ends of Python's calendar a conversion
between zones would overflow. A time in the future is judged by the pipeline, which knows now."""


def _half_width(value: str) -> str:
    """Fold full-width forms (`１３８`, `ＡＢ`) to ASCII; ASCII input skips the costly step."""
    return value if value.isascii() else unicodedata.normalize("NFKC", value)


_FULL_WIDTH_ALPHANUMERIC = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
}
_HAS_FULL_WIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
"""Whether a text holds a full-width digit or letter: most do not, and one scan finds it faster
than translating every character."""


def text(value: object) -> str | None:
    """A partner's text value, or None where the partner meant null.

    Partners send "" or blanks (the ideographic space included) for a missing value, and
    full-width digits and letters in codes and names (`ＷＨ２０２４`), which are folded to ASCII.
    Everything else stays as the resident wrote it: full-width punctuation (，。：？) is how
    Chinese is written, which NFKC would turn into ASCII; the text is only brought to NFC, so that
    equal text compares equal. Integers (the message board's ids and type codes) become their
    decimal text. Codes, numbers and times are read further by their own parsers below, which
    fold every full-width form.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise ValueError("contains a control character or an unpaired surrogate")
        if value.isascii():
            folded = value.strip()
        else:
            if _HAS_FULL_WIDTH.search(value):
                value = value.translate(_FULL_WIDTH_ALPHANUMERIC)
            folded = unicodedata.normalize("NFC", value).strip()
    elif isinstance(value, int) and not isinstance(value, bool):
        folded = str(value)
    else:
        raise ValueError(f"expected text, got {_json_type(value)}")
    return folded or None


def _json_type(value: object) -> str:
    """The JSON name of a value's type, for messages that must not show the value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _in_range(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError("time is outside the years a case can have (1990 to 8999)")
    return moment


def phone(value: str) -> str:
    """A phone number in E.164 (`+86…`), from any of the forms partners send.

    Residents' mobiles arrive as `+86 138…`, `(+86) 138…`, `0086138…`, `86138…`, `138-…` or
    in full-width digits and spaces; those take a fast path, since this runs on every record.
    Anything else (a Wuhan landline `027-8…`, other spellings) is parsed by `phonenumbers` for
    region CN. Numbers outside mainland China cannot be stored (the schema holds `+86` only).
    """
    folded = _half_width(value).strip()
    if not folded:
        raise ValueError("phone number is empty")
    compact = folded.translate(_PHONE_SEPARATORS)
    for prefix, length in _MOBILE_PREFIXES:
        if len(compact) == length and compact.startswith(prefix):
            compact = compact[len(prefix) :]
            break
    if _MOBILE.fullmatch(compact):
        return "+86" + compact
    try:
        number = phonenumbers.parse(folded, "CN")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    if number.country_code != 86:
        raise ValueError("phone number is not a mainland China (+86) number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def resident_id(value: str, *, today: date | None = None) -> str:
    """An 18-character resident identity number (公民身份号码, GB 11643-1999), verified, in
    the one form the hub keeps.

    Accepted are the 18-character form — the 6-digit region, the birth date, a 3-digit sequence
    and the ISO 7064 MOD 11-2 check character (0-9 or X); the first-generation cards' legacy
    15 digits — the region, a two-digit birth year of the 1900s, the sequence and no check
    character —, converted to 18 as GB 11643 does (the century written, the check character
    computed); and the foreign permanent resident ID card of 2023 (外国人永久居留身份证), of the
    same layout, beginning with 9 and the issuing province. The region's province (for the 9
    form, the issuing one) must exist; the county is not checked, as counties are renamed and
    merged while their residents keep their numbers. The birth date must be a calendar date,
    from 1900 and not after `today` (Asia/Shanghai). Partners send a lower-case `x`, full-width
    digits, spaces and hyphens now and then; the check character and the date come from
    `stdnum.cn.ric`.
    """
    number = _half_width(value).strip().upper().replace(" ", "").replace("-", "")
    if _LEGACY_RESIDENT_ID.fullmatch(number):
        body = number[:6] + "19" + number[6:]
        number = body + ric.calc_check_digit(body + "0")
    elif not _RESIDENT_ID.fullmatch(number):
        raise ValueError(
            "resident ID must be 17 digits and a check character (0-9 or X), or the legacy 15 digits"
        )
    province = number[1:3] if number[0] == "9" else number[:2]
    if province not in PROVINCES:
        raise ValueError("resident ID region is not a province's code")
    if ric.calc_check_digit(number) != number[17]:
        raise ValueError("resident ID check character does not match")
    try:
        born = ric.get_birth_date(number)
    except ValueError:
        raise ValueError("resident ID birth date is not a calendar date") from None
    if born > (today or datetime.now(SHANGHAI).date()):
        raise ValueError("resident ID birth date is in the future")
    if born.year < EARLIEST_BIRTH_YEAR:
        raise ValueError(f"resident ID birth date is before {EARLIEST_BIRTH_YEAR}")
    return number


def local_time(value: str) -> datetime:
    """A partner's local time (`yyyy-MM-dd HH:mm:ss`) as an aware datetime in Asia/Shanghai.

    Legacy systems also write `/` between date parts, `T` before the time and full-width digits.
    A time without an offset is Asia/Shanghai local time; an explicit offset (`Z`, `+08:00`,
    `+0800`) is honoured and the result converted to Asia/Shanghai.
    """
    match = _LOCAL_TIME.fullmatch(_half_width(value).strip())
    if match is None:
        raise ValueError("time is not in the form yyyy-MM-dd HH:mm:ss")
    year, _, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = SHANGHAI if offset is None else _offset(offset)
    moment = _moment((year, month, day, hour, minute, second), fraction, zone)
    return _in_range(moment if zone is SHANGHAI else moment.astimezone(SHANGHAI))


def offset_time(value: str) -> datetime:
    """An ISO 8601 time with its offset (`2025-03-05T08:42:02+08:00`), in Asia/Shanghai.

    Newer partners (the community app) write every time so, the RFC 3339 profile. Unlike the
    legacy partners' local times (`local_time`), a time without an offset is refused, not read as
    Shanghai time: such a partner always sends one, so a missing offset means a broken client.
    Offsets beyond ±14:00, which no time zone has, are refused too.
    """
    match = _OFFSET_TIME.fullmatch(value)
    if match is None:
        raise ValueError("time is not ISO 8601 yyyy-MM-ddTHH:mm:ss with an offset")
    *parts, fraction, offset = match.groups()
    zone = _offset(offset)
    if offset != "Z" and (int(offset[1:3]) > 14 or int(offset[4:]) > 59):
        raise ValueError("time offset is out of range")
    return _in_range(_moment(tuple(parts), fraction, zone).astimezone(SHANGHAI))


def _moment(parts: tuple[str, ...], fraction: str | None, zone: tzinfo) -> datetime:
    """Year, month, day, hour, minute and second as matched, within the hub's years."""
    year, month, day, hour, minute, second = (int(part) for part in parts)
    if not EARLIEST.year <= year < LATEST.year:
        raise ValueError("time is outside the years a case can have (1990 to 8999)")
    microsecond = int(fraction.ljust(6, "0")) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=zone)
    except ValueError:
        raise ValueError("time is not a calendar date and time") from None


def _offset(offset: str) -> tzinfo:
    """`Z`, `+08:00` or `+0800` as a fixed offset."""
    if offset == "Z":
        return UTC
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if delta >= timedelta(hours=24):
        raise ValueError("time offset is out of range")
    return timezone(-delta if offset[0] == "-" else delta)


def epoch_ms(value: int | str) -> datetime:
    """Milliseconds since the Unix epoch (the message board's times) in Asia/Shanghai.

    Integer arithmetic keeps the milliseconds exact; a float division would not.
    """
    if isinstance(value, bool):
        raise ValueError("epoch milliseconds must be an integer")
    if isinstance(value, str):
        digits = _half_width(value).strip()
        if not _DIGITS.fullmatch(digits):
            raise ValueError("epoch milliseconds must be digits")
        value = int(digits)
    elif not isinstance(value, int):
        raise ValueError("epoch milliseconds must be an integer")
    if value < 0:
        raise ValueError("epoch milliseconds must not be negative")
    try:
        moment = (_EPOCH + timedelta(milliseconds=value)).astimezone(SHANGHAI)
    except OverflowError:
        raise ValueError("epoch milliseconds out of range") from None
    return _in_range(moment)


def iso(moment: datetime) -> str:
    """ISO 8601 with the Asia/Shanghai offset, as the case schema writes times.

    The fraction is kept as the partner sent it (the board's milliseconds): versions are ordered
    by these times, and two updates within one second must not compare equal.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time has no offset")
    return moment.astimezone(SHANGHAI).isoformat()

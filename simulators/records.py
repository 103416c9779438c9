"""The shape of simulated data: records with versions and injected defects, and partner time.

A record is what a partner holds for one source id: the versions it has served over time (the
last one is current) and the defects that were injected into it on purpose. Versions carry their
update time as epoch milliseconds, so the hotline's local-time strings and the message board's
epoch times sort and window the same way.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
_LOCAL_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")

HOTLINE_DEFECTS: tuple[str, ...] = (
    "missing_field", "unknown_category", "bad_phone", "bad_id_number", "unknown_district",
    "stale_resend",
)
MESSAGE_BOARD_DEFECTS: tuple[str, ...] = (
    "missing_field", "unknown_category", "bad_phone", "outside_city", "unknown_district",
    "stale_resend",
)


@dataclass(frozen=True)
class Version:
    """One state of a record as the partner serves it.

    `payload` is exactly what goes on the wire (element or field names are the partner's);
    `evaluation` is the hotline's 回访 evaluation once the work order has one.
    """

    updated_ms: int
    payload: Mapping[str, Any]
    evaluation: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Record:
    """All versions of one source record, oldest first, and the defects injected into it."""

    source_id: str
    order: int  # the partner's id as a number, the tie-breaker of window ordering
    versions: tuple[Version, ...]
    defects: tuple[str, ...]
    incident: str | None = None  # the incident it tells, when another channel tells it too

    @property
    def current(self) -> Version:
        return self.versions[-1]


@dataclass(frozen=True)
class Options:
    """What a data set is generated from; equal options give byte-identical data."""

    seed: int = 42
    records: int = 400
    defect_rate: float = 0.05
    days: int = 7
    anchor: datetime | None = None  # end of the data span; default today 00:00 Asia/Shanghai

    def window(self) -> tuple[int, int]:
        """The span the data lies in, as epoch ms: `days` before the anchor, up to it."""
        anchor = self.anchor or default_anchor()
        start = anchor - timedelta(days=self.days)
        return to_ms(start), to_ms(anchor)


def default_anchor() -> datetime:
    """Today at 00:00 in Asia/Shanghai, so a demo started today serves the last `days` days."""
    now = datetime.now(SHANGHAI)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def parse_anchor(text: str) -> datetime:
    """An ISO date or date-time; without an offset it means Asia/Shanghai, like partner times."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def local_text(ms: int) -> str:
    """Epoch ms as the hotline writes times: local Asia/Shanghai, no offset, whole seconds."""
    return datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime(LOCAL_FORMAT)


def parse_local(text: str) -> int:
    """The inverse of `local_text`; raises ValueError on anything but `yyyy-MM-dd HH:mm:ss`."""
    if not _LOCAL_PATTERN.fullmatch(text):
        raise ValueError(f"expected yyyy-MM-dd HH:mm:ss, got {text!r}")
    return to_ms(datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=SHANGHAI))


def draw_defects(rng: random.Random, kinds: tuple[str, ...], rate: float) -> tuple[str, ...]:
    """A record is defective with probability `rate`, as docs/partners.md specifies.

    A defective record gets one kind, and one in five a second, as real bad records often are
    wrong in more than one way.
    """
    if rng.random() >= rate:
        return ()
    chosen = {rng.choice(kinds)}
    if len(kinds) > 1 and rng.random() < 0.2:
        chosen.add(rng.choice([kind for kind in kinds if kind not in chosen]))
    return tuple(kind for kind in kinds if kind in chosen)


_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 10, 12, 13, 13, 12, 11, 10, 10, 9, 7, 4, 2)


def reported_time(rng: random.Random, start_ms: int, end_ms: int, margin_ms: int) -> int:
    """A report time in [start, end - margin), most in the day as calls to 12345 are.

    Days are counted from the start of the span, so the result is stable for one span. The
    margin leaves room after the report for the record's later versions before the span ends.
    """
    days = max(1, (end_ms - start_ms) // 86_400_000)
    while True:
        day = rng.randrange(days)
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
        moment = (start_ms + day * 86_400_000 + hour * 3_600_000
                  + rng.randrange(3_600) * 1000 + rng.randrange(1000))
        if start_ms <= moment < end_ms - margin_ms:
            return moment


def later_times(rng: random.Random, first_ms: int, end_ms: int, count: int) -> list[int]:
    """`count` increasing times after `first_ms` and before `end_ms`, the later gaps shorter.

    Each step covers a random share of the time left, as work orders move quickly at first
    and then wait; steps are at least a minute.
    """
    times: list[int] = []
    previous = first_ms
    for _ in range(count):
        remaining = end_ms - 1000 - previous
        step = max(60_000, int(remaining * rng.uniform(0.1, 0.6)))
        previous = min(previous + step, end_ms - 1000)
        times.append(previous)
    return times

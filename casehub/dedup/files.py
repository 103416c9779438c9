"""Duplicate detection over a file (`casehub dedup --input cases.jsonl --output clusters.jsonl`).

Each input line is one JSON object with the unified field names `case_id, channel, title,
content, category_minor, district_code, community_code, address, lng, lat, reported_at,
reporter_phone`; any may be missing or null but `case_id`, and other fields are ignored. The
phone is used only through a blind index under a key made for the run and never kept, so the
output and the errors hold no phone. Each output line is `case_id, cluster_id, duplicate_of,
score`, in input order. A line that cannot be read is a `BadLine` naming its line and field.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from casehub.dedup.cluster import Clusterer, Decision
from casehub.dedup.report import Report, place_name_of, report

FIELDS = (
    "case_id",
    "channel",
    "title",
    "content",
    "category_minor",
    "district_code",
    "community_code",
    "address",
    "lng",
    "lat",
    "reported_at",
    "reporter_phone",
)
TEXT_FIELDS = ("channel", "title", "content", "category_minor", "district_code", "community_code", "address")
MAX_LINE = 1_000_000
"""Bytes of one input line: far more than any case, far less than memory."""
MAX_ID = 200


class BadLine(ValueError):
    """An input line that is not a case: `line` (1-based) and the `field` at fault."""

    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}: {field}: {message}")
        self.line, self.field = line, field


@dataclass(frozen=True)
class Run:
    """The run's blind-index key, made fresh and kept only in memory."""

    key: bytes

    @classmethod
    def fresh(cls) -> Run:
        return cls(secrets.token_bytes(32))

    def index(self, phone: str) -> str:
        return hmac.new(self.key, phone.encode(), hashlib.sha256).hexdigest()


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _text(record: Mapping[str, Any], name: str, line: int) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadLine(line, name, f"must be a string or null, not {_type_name(value)}")
    return value.strip() or None


def _number(record: Mapping[str, Any], name: str, line: int) -> float | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadLine(line, name, f"must be a number or null, not {_type_name(value)}")
    try:
        number = float(value)
    except ValueError:
        raise BadLine(line, name, "is not a number") from None
    if not math.isfinite(number):
        raise BadLine(line, name, "is not a finite number")
    return number


def _time(record: Mapping[str, Any], line: int) -> datetime | None:
    value = _text(record, "reported_at", line)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadLine(line, "reported_at", "is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise BadLine(line, "reported_at", "has no UTC offset (e.g. 2025-03-04T09:02:00+08:00)")
    return moment


def _phone_index(record: Mapping[str, Any], line: int, run: Run) -> str | None:
    from casehub import normalize

    value = record.get("reporter_phone")
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BadLine(line, "reporter_phone", f"must be a string or null, not {_type_name(value)}")
    try:
        return run.index(normalize.phone(str(value)))
    except ValueError:
        # A number that is not a phone matches nothing, as in the store; the value is not shown.
        return None


def parse(line: bytes, number: int, run: Run) -> Report:
    """One input line as a report, or `BadLine` naming the field at fault (never its value)."""
    if len(line) > MAX_LINE:
        raise BadLine(number, "/", f"is longer than {MAX_LINE} bytes")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise BadLine(number, "/", "is not JSON") from None
    if not isinstance(record, dict):
        raise BadLine(number, "/", f"must be a JSON object, not {_type_name(record)}")
    case_id = record.get("case_id")
    if isinstance(case_id, int) and not isinstance(case_id, bool):
        case_id = str(case_id)
    if not isinstance(case_id, str) or not case_id.strip():
        raise BadLine(number, "case_id", "is required: a non-empty string")
    if len(case_id) > MAX_ID:
        raise BadLine(number, "case_id", f"is longer than {MAX_ID} characters")
    texts = {name: _text(record, name, number) for name in TEXT_FIELDS}
    return report(
        case_id.strip(),
        channel=texts["channel"],
        title=texts["title"],
        content=texts["content"],
        category=texts["category_minor"],
        district_code=texts["district_code"],
        community_code=texts["community_code"],
        address=texts["address"],
        lng=_number(record, "lng", number),
        lat=_number(record, "lat", number),
        reported_at=_time(record, number),
        phone_index=_phone_index(record, number, run),
        place_name=place_name_of(texts["community_code"]),
    )


def read(lines: Iterable[bytes], run: Run) -> list[Report]:
    """Every non-blank line as a report; the first bad line raises `BadLine`. A case id given
    twice is a bad line too: the output could not say which is which."""
    reports: list[Report] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        item = parse(line, number, run)
        if item.case_id in seen:
            raise BadLine(number, "case_id", "appears on an earlier line")
        seen.add(item.case_id)
        reports.append(item)
    return reports


def cluster(reports: list[Report]) -> list[Decision]:
    """Each report's decision, in input order: the reports are taken in time order, as intake
    would have seen them; one without a time is its own cluster."""
    clusterer = Clusterer()
    earliest = datetime.min.replace(tzinfo=UTC)
    order = sorted(
        range(len(reports)),
        key=lambda i: (reports[i].reported_at is None, reports[i].reported_at or earliest, i),
    )
    decisions: dict[int, Decision] = {}
    for i in order:
        decisions[i] = clusterer.add(reports[i])
    return [decisions[i] for i in range(len(reports))]


def lines(decisions: Iterable[Decision]) -> Iterator[bytes]:
    for d in decisions:
        line = {"case_id": d.case_id, "cluster_id": d.cluster_id, "duplicate_of": d.duplicate_of}
        yield orjson.dumps({**line, "score": d.score}) + b"\n"

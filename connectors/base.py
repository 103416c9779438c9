"""What every connector shares: where a partner is, how its records' defects are collected,
how its pages are walked, and how a failed call is retried.

The retry policy is the one place that decides, per call, between "ask again" and "give up":
429 and 503 wait for the partner's Retry-After (an ask beyond the cap ends the call at once),
other 5xx, timeouts and dropped connections back off exponentially with jitter; after the last
attempt the call fails with `TransientPartnerError`, so that Airflow retries the task later.
Permanent errors (401, 403 and every other 4xx, a reply that breaks the contract) fail at once.
What one HTTP exchange's failure means is decided in `connectors.transport`; all attempts of a
call share the request id sent as `X-Request-ID`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from casehub.errors import (
    ConfigurationError,
    InvalidRecord,
    Reason,
    TransientPartnerError,
)
from casehub.grading import grade
from casehub.identity import case_id
from casehub.normalize import iso, text
from casehub.reasons import Code
from casehub.reference import Category, Reference

logger = logging.getLogger(__name__)

T = TypeVar("T")

_jitter = random.SystemRandom()

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""16 MiB: a page of 500 work orders is about 0.5 MB, so a reply past this is not a page."""

MAX_ID_LENGTH = 64
"""The longest source id the unified case holds (`source_id` in schemas/case.schema.json)."""


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where a partner is and how to sign in; `secret` is a password or bearer token.

    `timeout` bounds a whole call in seconds (connecting, the headers and the whole reply), and
    `max_reply_bytes` the size of one reply; a reply over it breaks the partner's contract.
    """

    url: str
    login: str
    secret: str = field(repr=False)
    timeout: float = 30.0
    page_size: int
    max_reply_bytes: int = MAX_REPLY_BYTES

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("endpoint timeout must be positive")
        if self.page_size < 1:
            raise ValueError("endpoint page size must be at least 1")
        if self.max_reply_bytes < 1:
            raise ValueError("endpoint reply size limit must be at least 1 byte")


class Problems:
    """Every defect of one raw record, so the quarantine shows all of them, not just the first.

    A mapper reads each field through these helpers, which note a `Reason` and return None
    instead of raising; `check()` raises once at the end. Messages name the partner's field
    and what is wrong with it, never its value.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.reasons: list[Reason] = []

    def add(self, code: str, field: str, message: str) -> None:
        self.reasons.append(Reason(code=str(code), field=field, message=message))

    def check(self) -> None:
        """Raise `InvalidRecord` with every reason noted so far, if there is any."""
        if self.reasons:
            raise InvalidRecord(list(self.reasons))

    def optional(self, field: str, value: object) -> str | None:
        """The field's text, None for the partners' empty-string null."""
        try:
            return text(value)
        except ValueError as error:
            self.add(Code.INVALID_VALUE, field, f"{field}: {error}")
            return None

    def required(self, field: str, value: object, code: str = Code.MISSING_FIELD) -> str | None:
        """The field's text; an empty or absent value is noted as `code`."""
        found = self.optional(field, value)
        if found is None:
            self.add(code, field, f"{field} is empty or missing")
        return found

    def identifier(self, field: str, value: object) -> str | None:
        """The record's id: text of at most `MAX_ID_LENGTH` characters with no white space.

        An id is how every later version finds its case, so one that cannot be stored whole
        (or that differs only by spacing from another) is a defect of the record.
        """
        found = self.optional(field, value)
        if found is None:
            if not any(r.field == field for r in self.reasons):
                self.add(Code.MISSING_ID, field, f"{field} is empty or missing")
            return None
        if len(found) > MAX_ID_LENGTH or any(ch.isspace() for ch in found):
            self.add(Code.INVALID_ID, field, f"{field}: over {MAX_ID_LENGTH} characters or holds spaces")
            return None
        return found

    def parse(self, code: str, field: str, parse: Callable[[str], T], value: str | None) -> T | None:
        """`parse(value)`, noting `code` when it raises ValueError; None passes through.

        The normalizers' messages never contain the value, so they are safe to keep.
        """
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as error:
            self.add(code, field, f"{field}: {error}")
            return None

    def crosswalk(self, reference: Reference, kind: str, field: str, value: str | None) -> str | None:
        """The unified value for the channel's code from its `kind` crosswalk.

        An empty field is `missing_field`; a code the crosswalk does not know is
        `unknown_<kind>`, which usually means the partner published a new code.
        """
        if value is None:
            self.add(Code.MISSING_FIELD, field, f"{field} is empty or missing")
            return None
        found = reference.crosswalk(self.channel, kind).get(value)
        if found is None:
            self.add(f"unknown_{kind}", field, f"{field}: not in the {self.channel} {kind} crosswalk")
        return found

    def category(self, reference: Reference, field: str, value: str | None) -> Category | None:
        """The unified category for the channel's category code, with its taxonomy entry.

        A crosswalk row pointing outside the taxonomy is a broken reference release, not a bad
        record, so it fails the deployment check rather than quarantining the record.
        """
        code = self.crosswalk(reference, "category", field, value)
        if code is None:
            return None
        try:
            return reference.categories[code]
        except KeyError:
            raise ConfigurationError(
                f"crosswalk {self.channel}_category.csv points to a category missing from the taxonomy"
            ) from None

    def choice(self, field: str, value: str | None, choices: Mapping[str, str]) -> str | None:
        """The unified value of a closed list fixed by the partner's contract (urgency, satisfaction)."""
        if value is None:
            return None
        found = choices.get(value)
        if found is None:
            self.add(Code.INVALID_VALUE, field, f"{field}: not one of the values in the contract")
        return found


class ClosingSource:
    """A source usable in a `with` block: leaving it calls `close()`, which each source defines."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def unified_case(
    *,
    channel: str,
    source_id: str,
    category: Category,
    urgency: str | None,
    reported_at: datetime,
    received_at: datetime,
    updated_at: datetime,
    closed_at: datetime | None,
    reporter: Mapping[str, str | None],
    **fields: Any,
) -> dict[str, Any]:
    """The unified case a mapper returns: what it knows, and the rest of the contract empty.

    Derived values are computed here once for every channel: the deterministic case id, the
    category's health flag and grade (escalated for critical urgency), ISO times with offset.
    Fields this release fills for no channel (grid codes, deadline, supervision, duplicates)
    start empty, as `schemas/case.schema.json` allows.
    """
    case: dict[str, Any] = {
        "street_code": None,
        "community_code": None,
        "grid_code": None,
        "address": None,
        "lng": None,
        "lat": None,
        "source_crs": None,
        "urgency": urgency,
        "assigned_unit": None,
        "time_limit_days": None,
        "deadline_at": None,
        "result": None,
        "satisfaction": None,
        "supervision": [],
        "duplicate_of": None,
        "cluster_id": None,
    }
    case.update(fields)
    case.update(
        {
            "case_id": case_id(channel, source_id),
            "channel": channel,
            "source_id": source_id,
            "category": category.code,
            "health_related": category.health_related,
            "grade": grade(category, urgency),
            "reporter": dict(reporter),
            "reported_at": iso(reported_at),
            "received_at": iso(received_at),
            "updated_at": iso(updated_at),
            "closed_at": iso(closed_at) if closed_at else None,
        }
    )
    return case


@dataclass
class Paginator:
    """Page-number paging (page from 1, a page size, a total) as the pulling partners do it.

    Walking stops on an empty page or once the pages read cover the partner's total. Records
    change while being paged: an update moves a record to the end of the window or out of it,
    every later record slides up one place, and one of them lands on a page already read. Signs
    of it — the total on a page moved, or a record read this pass comes back on a later page
    as the same or a newer version — make the paginator walk the window again from page 1
    (what was already landed is recognised and skipped by the pipeline), up to `max_passes`.
    An older version coming back is a partner's re-send, not a move.
    """

    page_size: int
    max_passes: int = 3
    page: int = 1
    passes: int = 1
    done: bool = False
    _total: int | None = None
    _moved: bool = False
    _seen: dict[str, int] = field(default_factory=dict)

    def advance(self, received: int, total: int, versions: Sequence[tuple[str, int]] = ()) -> None:
        """Record that the current page held `received` records of `total`.

        `versions` gives each record on the page as (id, update time as a number).
        """
        if self._total is None:
            self._total = total
        elif total != self._total:
            self._moved = True
        for record_id, updated in versions:
            earlier = self._seen.get(record_id)
            if earlier is not None and updated >= earlier:
                self._moved = True
            self._seen[record_id] = max(updated, earlier or updated)
        if received and self.page * self.page_size < total:
            self.page += 1
            return
        if self._moved and self.passes < self.max_passes:
            self.passes += 1
            self.page, self._total, self._moved = 1, None, False
            self._seen.clear()
            return
        if self._moved:
            logger.warning(
                "the window kept changing over %d passes; the next run's lookback re-reads it", self.passes
            )
        self.done = True


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call to a partner is repeated."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed `attempt` (from 1), or None to stop retrying now.

        The partner's Retry-After is obeyed as asked; one that exceeds `max_retry_after` ends
        the call, carrying the ask to the scheduler rather than holding a worker that long.
        Otherwise the back-off doubles per attempt, with "equal jitter" (half fixed, half
        random) so that parallel tasks do not return to a recovering partner in step.
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + _jitter.uniform(0, ceiling / 2)


def new_request_id() -> str:
    """A correlation id for one call, sent as `X-Request-ID` and kept on its errors."""
    return uuid.uuid4().hex


def with_retries(
    attempt: Callable[[str], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt(request_id)` until it succeeds, fails permanently or the policy gives up.

    `attempt` raises `TransientPartnerError` for what may pass and `PermanentPartnerError`
    for what will not. All attempts of one call share a request id, so the partner's logs
    show them as one call.
    """
    request_id = new_request_id()
    number = 1
    while True:
        try:
            return attempt(request_id)
        except TransientPartnerError as error:
            wait = policy.delay(number, error.retry_after) if number < policy.attempts else None
            if wait is None:
                raise
            logger.warning(
                "%s; attempt %d of %d, retrying in %.1f s (request id %s)",
                error,
                number,
                policy.attempts,
                wait,
                request_id,
            )
            sleep(wait)
            number += 1

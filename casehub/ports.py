"""What the core needs from a partner connector.

A connector (`connectors/<partner>/`) is a transport plus a pure function. Inbound, a `Source`
brings pages in and a `Mapper` turns each raw record into a unified case; outbound, a
`Renderer` turns a unified case into the partner's record and a `Sink` delivers a batch of
them. The core drives them through these protocols and never imports a connector: the DAGs
hand one in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from casehub.reference import Reference

RawRecord = dict[str, Any]
"""One record as the partner sent it, as plain JSON-able values (strings, numbers, None)."""


@dataclass(frozen=True)
class UnreadableRecord:
    """A record of a partner's page that could not be decoded into JSON values.

    The rest of the page could be: a source splits the reply into records and hands this one on
    as the bytes it received (invalid UTF-8, nesting deeper than a parser goes, a NaN), so the
    pipeline lands it sealed and quarantines it with `code` and `message` — nothing is lost and
    the rest of the page lands. `field` names where the defect is, `/` for the whole record.
    """

    body: bytes
    code: str
    message: str
    field: str = "/"


PageRecord = RawRecord | UnreadableRecord
"""What a source yields in a page: a decoded record, or one it could not decode."""


@dataclass(frozen=True)
class Window:
    """A half-open interval of the partner's update time: start inclusive, end exclusive."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must carry an offset")
        if self.start >= self.end:
            raise ValueError("window start must be before its end")


@dataclass(frozen=True)
class SourceKey:
    """Which record a raw payload is a version of, and how new that version is."""

    source_id: str
    updated_at: datetime


class Source(Protocol):
    """A channel the hub pulls from, page by page."""

    @property
    def channel(self) -> str: ...

    def pages(self, window: Window) -> Iterator[Sequence[PageRecord]]:
        """Yield the records updated in `window`, one page at a time, in the partner's order.

        A record that cannot be decoded comes as an `UnreadableRecord`, never as a failed page.
        Raises `TransientPartnerError` or `PermanentPartnerError` (`ContractError` for a reply
        that cannot be split into records) on failure.
        """
        ...

    def close(self) -> None:
        """Release connections; the caller that built the source closes it."""
        ...


class Mapper(Protocol):
    """The pure half of a connector: raw record → unified case.

    `id_field` and `updated_field` name the partner's fields that `key` reads, so that the
    pipeline's own reasons about them (an update time in the future) name the field as the
    partner knows it.
    """

    channel: str
    id_field: str
    updated_field: str

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """Identify the record; raises `InvalidRecord` when its id or update time is unusable."""
        ...

    def to_case(
        self, raw: Mapping[str, Any], reference: Reference, *, received_at: datetime
    ) -> dict[str, Any]:
        """Return the unified case (without `version`), or raise `InvalidRecord` with every reason found."""
        ...


@dataclass(frozen=True)
class OutboundBatch:
    """One batch for a recipient: rendered records and the id that makes its delivery idempotent.

    `batch_id` is derived from (recipient, window, batch number), so a rerun of a window sends
    the same ids and the recipient recognises what it already has.
    """

    recipient: str
    batch_id: str
    records: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Receipt:
    """What a recipient answered for one batch: how many records it took, whether it had the
    batch already (a repeated batch id has no second effect), and its own reference."""

    batch_id: str
    accepted: int
    duplicate: bool
    reference: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "duplicate": self.duplicate,
            "reference": self.reference,
        }


class Renderer(Protocol):
    """The pure half of an outbound connector: unified case row → the recipient's record.

    A case row is the `cases` table's columns (times as aware datetimes); the personal fields a
    recipient's allow-list permits (`schemas/recipients/<recipient>.json`, `x-recipient.personal`)
    come opened as `reporter_<field>`, the others never come at all. The record holds exactly the
    allow-listed fields.
    """

    recipient: str

    def render(self, case: Mapping[str, Any]) -> dict[str, Any]: ...


class Sink(Protocol):
    """A partner the hub pushes to, one signed batch at a time."""

    @property
    def recipient(self) -> str: ...

    def deliver(self, batch: OutboundBatch) -> Receipt:
        """Deliver `batch` and return the partner's receipt; sending the same batch id again is
        safe. Raises `TransientPartnerError` (retried later) or `PermanentPartnerError`."""
        ...

    def close(self) -> None:
        """Release connections; the caller that built the sink closes it."""
        ...


@dataclass(frozen=True)
class OutboundEvent:
    """One change a partner must hear about, as the outbox holds it (`casehub.outbox`).

    `event_id` is stable: every attempt to deliver the event sends the same id, so the partner
    applies it once. `kind` says what happened (`dispatch`, `transfer`, `status`, `result`,
    `urge`, `cancel`); `target` narrows the partner where it stands for several systems (the
    district code for `district`). `source_id` is the case's id at the channel it came from
    (the hotline's GDBH, the board's message id, the app's reportId), which a result is
    addressed by. `data` is what the renderer needs beyond that: the status, the handling
    result, the handling unit, times as ISO 8601 strings — opened from the sealed outbox row,
    so it never reaches a log.
    """

    event_id: str
    partner: str
    kind: str
    case_id: str
    case_version: int
    target: str | None
    source_id: str
    data: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EventReceipt:
    """What a partner answered for one event: whether it had the event already (a repeated
    event id has no second effect) and its own reference for it, if it gives one."""

    event_id: str
    duplicate: bool = False
    reference: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "duplicate": self.duplicate, "reference": self.reference}


class EventRenderer(Protocol):
    """The pure half of a partner's event delivery: outbox event → the partner's request body."""

    partner: str

    def render(self, event: OutboundEvent) -> dict[str, Any]: ...


class EventSink(Protocol):
    """A partner the outbox delivers single events to, one attempt per call.

    The sink never sleeps and never retries: the outbox stores when to try again. A failure
    raises `TransientPartnerError` (with the partner's `retry_after` when it sent one) or
    `PermanentPartnerError` (the event goes to the dead letter with the reason).
    """

    @property
    def partner(self) -> str: ...

    def send(self, event: OutboundEvent) -> EventReceipt: ...

    def close(self) -> None: ...

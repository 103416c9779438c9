"""What the core needs from a channel connector.

A connector (`connectors/<channel>/`) is a transport plus a mapping. The core drives it through
these two protocols and never imports a connector: the DAGs hand one in.
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

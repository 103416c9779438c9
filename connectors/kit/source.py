"""The pulled stream every connector builds on: where the partner is, and how its pages are walked.

A connector's source names its operation or path and how to ask for one page; `PagedSource`
owns the rest — the page loop, the re-walk when records move while being paged, the retries —
and reads each record's id and update time with the partner's one key parser, its mapper's
`key`, so that a value the mapper would refuse is never read another way here. A stream read
back that holds no cases (the health commission's feedback) declares a key parser of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self

from casehub.errors import ContractError, InvalidRecord
from casehub.ports import PageRecord, SourceKey, Window
from connectors.kit.paging import Paginator
from connectors.kit.retry import RetryPolicy, with_retries

MAX_REPLY_BYTES = 16 * 1024 * 1024
"""16 MiB: a page of 500 work orders is about 0.5 MB, so a reply past this is not a page."""


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


class RecordKeys(Protocol):
    """The partner's one parser of a record's id and update time: a channel's `Mapper`, or the
    key of a stream whose records are not cases."""

    @property
    def channel(self) -> str: ...

    def key(self, raw: Mapping[str, Any]) -> SourceKey:
        """Identify the record; raises `InvalidRecord` when its id or update time is unusable."""
        ...


class Closing(ABC):
    """A source or sink used in a `with` block: leaving it calls `close()`."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections it holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class PagedSource(Closing):
    """A partner's records by update time, page by page, as a `casehub.ports.Source`.

    Subclasses declare `mapper` (a `RecordKeys`: its `key` is the partner's one parser of id
    and update time), `operation` (named in errors) and `max_page_size` (the contract's limit), and
    implement `fetch`, one attempt at one page. A page holding more records than asked for
    breaks the contract.
    """

    mapper: ClassVar[RecordKeys]
    operation: ClassVar[str]
    max_page_size: ClassVar[int]

    def __init__(self, endpoint: Endpoint, *, retry: RetryPolicy | None = None) -> None:
        self.endpoint = endpoint
        self.retry = retry or RetryPolicy()

    @property
    def channel(self) -> str:
        return self.mapper.channel

    @abstractmethod
    def fetch(self, window: Window, page: int, size: int, request_id: str) -> tuple[list[PageRecord], int]:
        """One attempt at page `page` (from 1) of `size` records: the records and the total.

        Raises `TransientPartnerError` for what may pass and `PermanentPartnerError` for what
        will not; `ContractError` for a reply that cannot be read as a page.
        """

    def pages(self, window: Window) -> Iterator[list[PageRecord]]:
        """The records updated in `window`, one partner page at a time, in the partner's order."""
        paginator = Paginator(min(self.endpoint.page_size, self.max_page_size))
        while not paginator.done:
            page, size = paginator.page, paginator.page_size

            def attempt(request_id: str, page: int = page, size: int = size) -> tuple[list[PageRecord], int]:
                records, total = self.fetch(window, page, size, request_id)
                if len(records) > size:
                    raise ContractError(
                        f"page holds {len(records)} records, more than the {size} asked for",
                        partner=self.channel,
                        operation=self.operation,
                        request_id=request_id,
                    )
                return records, total

            records, total = with_retries(attempt, self.retry)
            paginator.advance(len(records), total, self.versions(records))
            if records:
                yield records

    def versions(self, records: Sequence[PageRecord]) -> list[tuple[str, datetime]]:
        """(id, update time) of the records whose key the mapper can read; the others are left
        out here, and the mapper quarantines them."""
        found = []
        for record in records:
            if not isinstance(record, dict):
                continue
            try:
                key = self.mapper.key(record)
            except InvalidRecord:
                continue
            found.append((key.source_id, key.updated_at))
        return found

"""Page-number paging as the pulling partners do it, and the re-walk when records move under it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

logger = logging.getLogger(__name__)


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
    _seen: dict[str, datetime] = field(default_factory=dict)

    def advance(self, received: int, total: int, versions: Sequence[tuple[str, datetime]] = ()) -> None:
        """Record that the current page held `received` records of `total`.

        `versions` gives each record on the page as (id, update time), as the partner's one
        key parser reads them; a record it cannot read is left out.
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

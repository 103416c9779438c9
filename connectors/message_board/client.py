"""Pull messages from the city message board (城市留言板) over REST/JSON.

`GET /api/v1/messages` takes a window of updateTime as epoch milliseconds (updatedFrom,
updatedTo), a page number and a pageSize (1–200), and answers the envelope `{code, msg, data:
{total, list}}`. Codes 40100/40101 mean the token is missing or wrong (permanent), 50000 an
internal failure (transient, retried). Paging, retries, bounds, decoding and the mapping of
every failure onto the error tree are the kit's (`connectors.kit.rest`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from casehub.ports import Window
from connectors.kit.rest import RestSource
from connectors.message_board.mapping import MessageBoardMapper

MESSAGES = "/api/v1/messages"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ms(moment: datetime) -> int:
    """A moment as the board's epoch milliseconds (window bounds, reply times), in integer arithmetic."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class MessageBoardSource(RestSource):
    """The board's messages, page by page: each record the board's JSON value, untouched."""

    mapper = MessageBoardMapper()
    operation = f"GET {MESSAGES}"
    path = MESSAGES
    max_page_size = 200
    authentication_codes = frozenset({40100, 40101})
    transient_codes = frozenset({50000})

    def params(self, window: Window, page: int, size: int) -> dict[str, int]:
        return {
            "updatedFrom": to_epoch_ms(window.start),
            "updatedTo": to_epoch_ms(window.end),
            "page": page,
            "pageSize": size,
        }

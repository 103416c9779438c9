"""City message board (城市留言板): REST messages in, as every channel exposes them to the DAGs."""

from __future__ import annotations

from casehub.ports import Source
from connectors.kit import Endpoint
from connectors.message_board.client import MessageBoardSource
from connectors.message_board.mapping import MessageBoardMapper

__all__ = ["MAPPER", "build_source"]

MAPPER = MessageBoardMapper()


def build_source(endpoint: Endpoint) -> Source:
    """The message board's source with the shared retry policy and its own HTTP session."""
    return MessageBoardSource(endpoint)

"""City message board (城市留言板): REST messages in, as every channel exposes them to the DAGs,
and official replies out, one outbox event at a time."""

from __future__ import annotations

from casehub.ports import EventSink, Source
from connectors.kit import Endpoint
from connectors.kit.sink import Destination
from connectors.message_board.client import MessageBoardSource
from connectors.message_board.events import BoardReplyRenderer, BoardReplySink
from connectors.message_board.mapping import MessageBoardMapper

__all__ = ["EVENT_RENDERER", "MAPPER", "build_event_sink", "build_source"]

MAPPER = MessageBoardMapper()
EVENT_RENDERER = BoardReplyRenderer()


def build_source(endpoint: Endpoint) -> Source:
    """The message board's source with the shared retry policy and its own HTTP session."""
    return MessageBoardSource(endpoint)


def build_event_sink(destination: Destination) -> EventSink:
    """The board's reply endpoint (`destination.url` its base URL, `secret` its bearer token),
    one attempt per event, with its own HTTP session."""
    return BoardReplySink(destination, EVENT_RENDERER)

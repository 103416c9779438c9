"""Community app (武汉微邻里): resident reports pushed as signed webhooks, mapped to unified cases;
status callbacks sent back, signed the same way, one outbox event at a time.

The app is not pulled, so there is no source here: the gateway lands each webhook in the hub's
inbox, and the processing step hands each envelope's `data` to `MAPPER`.
"""

from __future__ import annotations

from casehub.ports import EventSink
from connectors.kit.sink import Destination
from connectors.neighborhood_app.events import AppCallbackSink, AppStatusRenderer
from connectors.neighborhood_app.mapping import NeighborhoodAppMapper

__all__ = ["EVENT_RENDERER", "MAPPER", "build_event_sink"]

MAPPER = NeighborhoodAppMapper()
EVENT_RENDERER = AppStatusRenderer()


def build_event_sink(destination: Destination) -> EventSink:
    """The app's callback receiver (`destination.url` its base URL, `secret` the whsec_
    callback secret), one attempt per event, with its own HTTP session."""
    return AppCallbackSink(destination, EVENT_RENDERER)

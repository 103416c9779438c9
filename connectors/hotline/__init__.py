"""Mayor hotline 12345 (市长专线): SOAP work orders in, handling results back, as every channel
exposes them to the DAGs."""

from __future__ import annotations

from casehub.ports import EventSink, Source
from connectors.hotline.events import HotlineResultRenderer
from connectors.hotline.mapping import HotlineMapper
from connectors.kit import Endpoint
from connectors.kit.sink import Destination

__all__ = ["EVENT_RENDERER", "MAPPER", "build_event_sink", "build_source"]

MAPPER = HotlineMapper()
EVENT_RENDERER = HotlineResultRenderer()


def build_source(endpoint: Endpoint) -> Source:
    """The hotline's source; zeep is imported here, not when a DAG file imports the package."""
    from connectors.hotline.client import HotlineSource

    return HotlineSource(endpoint)


def build_event_sink(destination: Destination) -> EventSink:
    """SubmitHandlingResult for the outbox's `result` events, one attempt per call; `destination`
    is the service address the source pulls from and the same credentials."""
    from connectors.hotline.events import HotlineResultSink

    return HotlineResultSink(destination)

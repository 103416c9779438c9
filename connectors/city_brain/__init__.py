"""City brain (城市大脑): the hub pushes its de-identified case feed, NDJSON in gzip, signed."""

from __future__ import annotations

from casehub.ports import Sink
from connectors.city_brain.render import CityBrainRenderer
from connectors.kit.sink import Destination

__all__ = ["RENDERER", "build_sink"]

RENDERER = CityBrainRenderer()


def build_sink(destination: Destination) -> Sink:
    """The city brain's batch upload with the shared retry policy and its own HTTP session."""
    from connectors.city_brain.transport import CityBrainSink

    return CityBrainSink(destination)

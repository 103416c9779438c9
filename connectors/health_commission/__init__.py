"""Health commission (卫健委): the hub pushes its health-related cases, JSON, signed."""

from __future__ import annotations

from casehub.ports import Sink
from casehub.recipients import load_recipient
from connectors.health_commission.render import HealthCommissionRenderer
from connectors.kit.sink import Destination

__all__ = ["RENDERER", "build_sink"]

RENDERER = HealthCommissionRenderer(load_recipient("health_commission").keywords)


def build_sink(destination: Destination) -> Sink:
    """The commission's case upload with the shared retry policy and its own HTTP session."""
    from connectors.health_commission.transport import HealthCommissionSink

    return HealthCommissionSink(destination)

"""Health commission (卫健委): the hub pushes its health-related cases, JSON, signed, and reads
back the commission's handling feedback on them as case history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casehub.ports import Sink, Source
from casehub.recipients import load_recipient
from connectors.health_commission.render import HealthCommissionRenderer
from connectors.kit import Endpoint
from connectors.kit.sink import Destination

__all__ = ["RENDERER", "build_feedback_source", "build_sink", "feedback_action"]

RENDERER = HealthCommissionRenderer(load_recipient("health_commission").keywords)


def build_sink(destination: Destination) -> Sink:
    """The commission's case upload with the shared retry policy and its own HTTP session."""
    from connectors.health_commission.transport import HealthCommissionSink

    return HealthCommissionSink(destination)


def build_feedback_source(endpoint: Endpoint) -> Source:
    """The commission's handling feedback (GET /api/v1/feedback), paged by feedbackAt and signed
    with the hub's key id and secret; each record becomes an action through `feedback_action`."""
    from connectors.health_commission.feedback import FeedbackSource

    return FeedbackSource(endpoint)


def feedback_action(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The hub's `feedback` action for one entry (`connectors.health_commission.feedback.to_action`);
    `casehub.errors.InvalidRecord` naming each defective field."""
    from connectors.health_commission.feedback import to_action

    return to_action(raw)

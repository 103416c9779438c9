"""Digital urban management (数字城管): SOAP case files in, city-management cases transferred out
(CreateCase) and their progress pulled back, as every channel exposes them to the DAGs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casehub.ports import EventSink, Source
from connectors.kit import Endpoint
from connectors.kit.sink import Destination
from connectors.urban_mgmt.events import UrbanMgmtTransferRenderer
from connectors.urban_mgmt.mapping import UrbanMgmtMapper

__all__ = [
    "EVENT_RENDERER",
    "MAPPER",
    "build_event_sink",
    "build_progress_source",
    "build_source",
    "progress_action",
]

MAPPER = UrbanMgmtMapper()
EVENT_RENDERER = UrbanMgmtTransferRenderer()


def build_source(endpoint: Endpoint) -> Source:
    """The case-file source; zeep is imported here, not when a DAG file imports the package."""
    from connectors.urban_mgmt.client import UrbanMgmtSource

    return UrbanMgmtSource(endpoint)


def build_event_sink(destination: Destination) -> EventSink:
    """CreateCase for the outbox's `transfer` events, one attempt per call; `destination` is the
    service address the case-file source pulls from and the same credentials."""
    from connectors.urban_mgmt.events import UrbanMgmtTransferSink

    return UrbanMgmtTransferSink(destination)


def build_progress_source(endpoint: Endpoint) -> Source:
    """The progress of transferred cases (QueryTransferProgress), paged by UpdateTime; each record
    becomes an action through `progress_action`."""
    from connectors.urban_mgmt.progress import TransferProgressSource

    return TransferProgressSource(endpoint)


def progress_action(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The hub's workflow action for one progress entry (`connectors.urban_mgmt.progress.to_action`);
    `casehub.errors.InvalidRecord` naming each defective field."""
    from connectors.urban_mgmt.progress import to_action

    return to_action(raw)

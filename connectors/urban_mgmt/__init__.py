"""Digital urban management (数字城管): SOAP case files in, as every channel exposes them to the DAGs."""

from __future__ import annotations

from casehub.ports import Source
from connectors.kit import Endpoint
from connectors.urban_mgmt.mapping import UrbanMgmtMapper

__all__ = ["MAPPER", "build_source"]

MAPPER = UrbanMgmtMapper()


def build_source(endpoint: Endpoint) -> Source:
    """The case-file source; zeep is imported here, not when a DAG file imports the package."""
    from connectors.urban_mgmt.client import UrbanMgmtSource

    return UrbanMgmtSource(endpoint)

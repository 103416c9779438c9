"""Mayor hotline 12345 (市长专线): SOAP work orders in, as every channel exposes them to the DAGs."""

from __future__ import annotations

from casehub.ports import Source
from connectors.hotline.mapping import HotlineMapper
from connectors.kit import Endpoint

__all__ = ["MAPPER", "build_source"]

MAPPER = HotlineMapper()


def build_source(endpoint: Endpoint) -> Source:
    """The hotline's source; zeep is imported here, not when a DAG file imports the package."""
    from connectors.hotline.client import HotlineSource

    return HotlineSource(endpoint)

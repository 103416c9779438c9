"""Open311 GeoReport v2 clients: service requests filed through the gateway, mapped to unified cases.

Open311 is not pulled and sends no webhooks: the gateway's `/open311/v2/` routes land each
`POST requests` sealed in the hub's inbox and answer with a token; the processing step hands
each landed request to `MAPPER` (docs/open311.md).
"""

from __future__ import annotations

from connectors.open311.mapping import Open311Mapper

__all__ = ["MAPPER"]

MAPPER = Open311Mapper()

"""Community app (武汉微邻里): resident reports pushed as signed webhooks, mapped to unified cases.

The app is not pulled, so there is no source here: the gateway lands each webhook in the hub's
inbox, and the processing step hands each envelope's `data` to `MAPPER`.
"""

from __future__ import annotations

from connectors.neighborhood_app.mapping import NeighborhoodAppMapper

__all__ = ["MAPPER"]

MAPPER = NeighborhoodAppMapper()

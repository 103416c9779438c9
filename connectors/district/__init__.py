"""District platforms (区级平台): the hub's own standard interface, REST and SOAP.

The districts fetch what the hub dispatches to them from the gateway and act on it there
(docs/district-interface.md), so there is no transport here: only the pure renderer of the
record a district receives (`schemas/recipients/district.json`).
"""

from __future__ import annotations

from connectors.district.render import DistrictRenderer

__all__ = ["RENDERER"]

RENDERER = DistrictRenderer()

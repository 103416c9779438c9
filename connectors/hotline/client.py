"""Pull work orders from the mayor hotline 12345 (市长专线) over SOAP 1.1.

The contract is the vendored WSDL `schemas/wsdl/hotline.wsdl`: `QueryWorkOrders` takes a window
of GXSJ 更新时间 as local times (KSSJ, JSSJ), a page number (YM) and a page size (MYTS, 1–500),
and answers the total (ZS) and the page's work orders (GDLB/GD). Its own fault detail code CWDM
says `ServiceUnavailable` (transient) or `FailedAuthentication` (permanent). Paging, retries,
bounds and the mapping of every failure onto the error tree are the kit's (`connectors.kit.soap`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casehub.normalize import SHANGHAI
from casehub.paths import SCHEMAS_DIR
from casehub.ports import Window
from connectors.hotline.mapping import HotlineMapper
from connectors.kit.soap import SoapSource

NAMESPACE = "urn:wuhan:12345:workorder:v1"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _local_time(moment: datetime) -> str:
    """A window bound as the hotline writes times: Asia/Shanghai local time, no offset."""
    return moment.astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


class HotlineSource(SoapSource):
    """The hotline's QueryWorkOrders, page by page: each record the `GD` elements as strings."""

    mapper = HotlineMapper()
    operation = "QueryWorkOrders"
    max_page_size = 500
    wsdl = SCHEMAS_DIR / "wsdl" / "hotline.wsdl"
    binding = f"{{{NAMESPACE}}}WorkOrderBinding"
    record_type = f"{{{NAMESPACE}}}WorkOrder"
    total_element = "ZS"
    list_elements = ("GDLB", "GD")
    detail_element = "CWDM"
    transient_details = frozenset({"ServiceUnavailable"})
    authentication_details = frozenset({"FailedAuthentication"})

    def request(self, window: Window, page: int, size: int) -> dict[str, Any]:
        return {"KSSJ": _local_time(window.start), "JSSJ": _local_time(window.end), "YM": page, "MYTS": size}

"""City-management cases transferred into digital urban management: outbox `transfer` events →
CreateCase.

A case the hub received on another channel whose category is city management is created in
urban management as an external case (外部转办): the event id (EventId), the hub's case id as the
external number (ExternalNo) that urban management names in the case's progress, what and where
the case is, and no personal data: urban management handles the place, not the resident, so the
title and description leave with every phone and ID number in them masked
(`casehub.masking.mask_free_text`) and the address exactly as given, for the inspector to find
it. The system's own forms are rendered here:

- times in Asia/Shanghai local time without offset, as every time of this partner;
- coordinates back in CGCS2000 3° Gauss-Krüger, central meridian 114°E (EPSG:4547), easting
  CoordX and northing CoordY in metres to the centimetre, projected with pyproj: the inverse of
  what the mapper does with `casehub.geo.to_wgs84`;
- the category as the hub's unified 6-digit code and name (UnifiedCategoryCode /
  UnifiedCategoryName). The crosswalk `urban_mgmt_category.csv` runs one way and is many to one
  (部件:0101, 0102 and 0103 are all 010014), and a component's 16-digit code needs the serial of
  a catalogued object a transferred case does not have, so no 部件/事件 code is made up;
- the urgency in the system's words (一般, 紧急, 特急).

The sink makes one attempt per call, the outbox decides when to try again: it speaks through the
case-file service's SOAP client (`UrbanMgmtSource`: the vendored WSDL, WS-Security
PasswordDigest, one call bounded in time and size, Faults and HTTP errors mapped onto the error
tree by the kit). A refused request is a `soap:Client` Fault (permanent); the answer is the case
file number (CaseNo 案卷编号), kept as the receipt's reference, and whether the system had the
event already.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

import requests
from pyproj import Transformer

from casehub.masking import mask_free_text
from casehub.normalize import SHANGHAI
from casehub.ports import EventReceipt, OutboundEvent
from connectors.kit.events import EventDataError, choice, kind, moment, optional_text, text
from connectors.kit.soap_events import SoapEventCall
from connectors.kit.source import Endpoint

if TYPE_CHECKING:
    from collections.abc import Mapping

    from connectors.urban_mgmt.client import UrbanMgmtSource

PARTNER = "urban_mgmt"
OPERATION = "CreateCase"
TARGET_CRS = "EPSG:4547"
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
URGENCY = {"normal": "一般", "urgent": "紧急", "critical": "特急"}
"""The unified urgency in the system's words, as the hotline and the system write it."""
REGIONS = (
    ("district_code", "DistrictCode"),
    ("street_code", "StreetCode"),
    ("community_code", "CommunityCode"),
    ("grid_code", "GridCode"),
)
COORDINATES = "data.lng/data.lat"


@cache
def _to_gauss_kruger() -> Transformer:
    """Built once: creating a Transformer costs milliseconds, using one microseconds."""
    return Transformer.from_crs("EPSG:4326", TARGET_CRS, always_xy=True)


def gauss_kruger(lng: float, lat: float) -> tuple[str, str]:
    """CoordX easting and CoordY northing of a WGS-84 point, metres to the centimetre."""
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        raise EventDataError(COORDINATES, "must be degrees of longitude and latitude")
    easting, northing = _to_gauss_kruger().transform(lng, lat)
    if not (math.isfinite(easting) and math.isfinite(northing)):
        raise EventDataError(COORDINATES, f"must lie in the area of {TARGET_CRS}")
    return f"{easting:.2f}", f"{northing:.2f}"


def _coordinates(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    lng, lat = data.get("lng"), data.get("lat")
    if lng is None and lat is None:
        return None, None
    if (
        isinstance(lng, bool)
        or isinstance(lat, bool)
        or not (isinstance(lng, int | float) and isinstance(lat, int | float))
    ):
        raise EventDataError(COORDINATES, "must be two numbers, or both null")
    return gauss_kruger(float(lng), float(lat))


def _local_time(data: Mapping[str, Any], name: str) -> str:
    """An ISO 8601 time of the event as the system writes times: Asia/Shanghai, no offset."""
    return moment(data, name).astimezone(SHANGHAI).strftime(LOCAL_TIME_FORMAT)


class UrbanMgmtTransferRenderer:
    """Outbox `transfer` event → the elements of CreateCase (an absent one is None); pure."""

    partner = PARTNER
    kinds = ("transfer",)

    def render(self, event: OutboundEvent) -> dict[str, Any]:
        """`EventDataError` naming the field for an event that cannot be a transfer (never its
        value)."""
        kind(event, self.kinds)
        data = event.data
        category = text(data, "category")
        if not (len(category) == 6 and category.isascii() and category.isdigit()):
            raise EventDataError("data.category", "must be a 6-digit unified category code")
        urgency = None if data.get("urgency") is None else choice(data, "urgency", URGENCY)
        coord_x, coord_y = _coordinates(data)
        return {
            "EventId": event.event_id,
            "ExternalNo": event.case_id,
            "Title": mask_free_text(text(data, "title")),
            "Description": mask_free_text(text(data, "content")),
            "UnifiedCategoryCode": category,
            "UnifiedCategoryName": optional_text(data, "category_name"),
            "Address": optional_text(data, "address"),
            **{element: optional_text(data, field) for field, element in REGIONS},
            "CoordX": coord_x,
            "CoordY": coord_y,
            "ReportTime": _local_time(data, "reported_at"),
            "DeadlineTime": None if data.get("deadline_at") is None else _local_time(data, "deadline_at"),
            "Urgency": None if urgency is None else URGENCY[urgency],
        }


class UrbanMgmtTransferSink(SoapEventCall):
    """CreateCase, one attempt per event; the system's answer is the case file number."""

    partner = PARTNER
    operation = OPERATION
    default_renderer = UrbanMgmtTransferRenderer

    def client(self, endpoint: Endpoint, session: requests.Session | None) -> UrbanMgmtSource:
        from connectors.urban_mgmt.client import UrbanMgmtSource

        return UrbanMgmtSource(endpoint, session=session)

    def receipt(self, reply: Any, event: OutboundEvent) -> EventReceipt:
        """The CaseNo as the receipt's reference, and whether the system had the event already;
        a refusal came as a `BadRequest` Fault, before any reply."""
        case_no = getattr(reply, "CaseNo", None)
        duplicate = getattr(reply, "Duplicate", None)
        if not isinstance(case_no, str) or not case_no.strip() or not isinstance(duplicate, bool):
            raise self.broken("reply has no CaseNo or no Duplicate", event)
        return EventReceipt(event.event_id, duplicate=duplicate, reference=case_no.strip())

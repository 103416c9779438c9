"""Coordinates: every channel's coordinate system to WGS-84, and the city bounds.

The hub meets three Chinese systems besides WGS-84 (EPSG:4326):
- BD-09, Baidu's obfuscated system (the message board),
- GCJ-02, the national obfuscation (国测局, the community app),
- EPSG:4547, CGCS2000 3-degree Gauss-Krüger, central meridian 114°E, in metres (数字城管).
The obfuscated systems are undone with prcoords' iterative ("bored") inverses, which are
precise to about a millimetre; the projected one with pyproj.
"""

from __future__ import annotations

import math
from functools import cache

import prcoords
from pyproj import Transformer

CITY_BOUNDS = (113.68, 29.97, 115.08, 31.37)
"""Wuhan's bounding box: west, south, east, north, in degrees."""

CRS_CODES = ("BD-09", "GCJ-02", "EPSG:4547", "EPSG:4326")


@cache
def _gauss_kruger() -> Transformer:
    """Built once: creating a Transformer costs milliseconds, using one microseconds."""
    return Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True)


def to_wgs84(lng: float, lat: float, crs: str) -> tuple[float, float]:
    """(longitude, latitude) in WGS-84, rounded to 6 decimals (about 0.1 m).

    For EPSG:4547, `lng` and `lat` are the easting and northing in metres. Outside China
    the obfuscations are not applied by the map providers, so BD-09 loses only Baidu's own
    offset there and GCJ-02 is returned as it is.
    """
    if not (math.isfinite(lng) and math.isfinite(lat)):
        raise ValueError("coordinates must be finite numbers")
    if crs == "EPSG:4547":
        x, y = _gauss_kruger().transform(lng, lat)
    elif crs in ("BD-09", "GCJ-02", "EPSG:4326"):
        if not (-180 <= lng <= 180 and -90 <= lat <= 90):
            raise ValueError("coordinates are outside the range of degrees")
        point = prcoords.Coords(lat, lng)
        in_china = prcoords.sanity_in_china_p(point)
        if crs == "BD-09":
            point = prcoords.bd_wgs_bored(point) if in_china else prcoords.bd_gcj_bored(point)
        elif crs == "GCJ-02" and in_china:
            point = prcoords.gcj_wgs_bored(point)
        x, y = point.lon, point.lat
    else:
        raise ValueError(f"unknown coordinate system; expected one of {', '.join(CRS_CODES)}")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError("coordinates fall outside the coordinate system's area")
    return round(x, 6), round(y, 6)


def inside_city(lng: float, lat: float) -> bool:
    """True when a WGS-84 point lies within Wuhan's bounding box."""
    west, south, east, north = CITY_BOUNDS
    return west <= lng <= east and south <= lat <= north

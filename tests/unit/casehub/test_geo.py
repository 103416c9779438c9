"""Coordinates from every channel's system land in WGS-84 where they were meant to be."""

from __future__ import annotations

import math

import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from casehub.geo import CITY_BOUNDS, inside_city, to_wgs84

EARTH_RADIUS_M = 6_371_000

places = st.tuples(
    st.floats(min_value=100.0, max_value=122.0),
    st.floats(min_value=22.0, max_value=42.0),
)
"""WGS-84 (lng, lat) well inside China, where the obfuscations apply."""

TO_GAUSS_KRUGER = Transformer.from_crs("EPSG:4326", "EPSG:4547", always_xy=True)


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lng, lat) points."""
    (lng1, lat1), (lng2, lat2) = a, b
    dlat, dlng = math.radians(lat2 - lat1), math.radians(lng2 - lng1)
    h = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlng / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@given(places)
def test_bd09_round_trips_within_a_metre(place: tuple[float, float]) -> None:
    lng, lat = place
    baidu = prcoords.wgs_bd((lat, lng))
    assert metres(to_wgs84(baidu.lon, baidu.lat, "BD-09"), place) < 1.0


@given(places)
def test_gcj02_round_trips_within_a_metre(place: tuple[float, float]) -> None:
    lng, lat = place
    mars = prcoords.wgs_gcj((lat, lng))
    assert metres(to_wgs84(mars.lon, mars.lat, "GCJ-02"), place) < 1.0


@settings(deadline=None)  # the first call builds the cached pyproj Transformer
@given(st.floats(min_value=112.5, max_value=115.5), st.floats(min_value=29.0, max_value=32.0))
def test_gauss_kruger_round_trips(lng: float, lat: float) -> None:
    easting, northing = TO_GAUSS_KRUGER.transform(lng, lat)
    back = to_wgs84(easting, northing, "EPSG:4547")
    assert metres(back, (lng, lat)) < 0.2


def test_central_meridian_of_the_projection_is_114_east() -> None:
    lng, lat = to_wgs84(500_000.0, 3_385_000.0, "EPSG:4547")
    assert lng == 114.0
    assert 30.5 < lat < 30.7


def test_wgs84_is_kept_and_rounded_to_six_decimals() -> None:
    assert to_wgs84(114.123456789, 30.987654321, "EPSG:4326") == (114.123457, 30.987654)


def test_obfuscated_systems_shift_wuhan_by_hundreds_of_metres() -> None:
    """A reminder of why the conversion matters: BD-09 read as WGS-84 is off by streets."""
    baidu = (114.30, 30.58)
    assert 500 < metres(to_wgs84(*baidu, "BD-09"), baidu) < 1500


def test_points_outside_china_convert_without_warnings() -> None:
    assert to_wgs84(2.35, 48.85, "GCJ-02") == (2.35, 48.85)
    lng, lat = to_wgs84(2.35, 48.85, "BD-09")
    assert metres((lng, lat), (2.35, 48.85)) < 1500


@pytest.mark.parametrize("crs", ["WGS84", "EPSG:3857", "", "bd-09"])
def test_unknown_crs_is_refused(crs: str) -> None:
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(114.3, 30.6, crs)


@pytest.mark.parametrize(("lng", "lat"), [(math.nan, 30.0), (114.0, math.inf), (200.0, 30.0), (114.0, -95.0)])
def test_impossible_coordinates_are_refused(lng: float, lat: float) -> None:
    with pytest.raises(ValueError, match="coordinates"):
        to_wgs84(lng, lat, "BD-09")


@pytest.mark.parametrize(
    ("lng", "lat", "inside"),
    [
        (114.305, 30.593, True),  # 江汉路
        (CITY_BOUNDS[0], CITY_BOUNDS[1], True),
        (CITY_BOUNDS[2], CITY_BOUNDS[3], True),
        (116.397, 39.909, False),  # Beijing
        (113.67, 30.5, False),
        (114.3, 31.38, False),
    ],
)
def test_inside_city(lng: float, lat: float, inside: bool) -> None:
    assert inside_city(lng, lat) is inside

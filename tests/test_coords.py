"""Tests for lifecircle.sources.coords (WGS84 / GCJ-02 / BD-09)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from lifecircle.errors import ConfigError
from lifecircle.sources import coords

GEOD = Geod(ellps="WGS84")

# Stay a little inside the GCJ-02 box: a point within ~0.01 degree of its
# edge can be shifted across it, and the inverse then (correctly, by the
# published convention) leaves it alone. The box edges lie at sea or abroad.
_MARGIN = 0.02
LONS = st.floats(coords.CHINA_BOX[0] + _MARGIN, coords.CHINA_BOX[1] - _MARGIN)
LATS = st.floats(coords.CHINA_BOX[2] + _MARGIN, coords.CHINA_BOX[3] - _MARGIN)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between WGS84-like point arrays."""
    _, _, d = GEOD.inv(np.atleast_1d(lon1), np.atleast_1d(lat1), np.atleast_1d(lon2), np.atleast_1d(lat2))
    return np.asarray(d)


# --- published reference values -------------------------------------------

def test_wgs84_to_gcj02_reference_pair():
    # Pair from /work/shared/NOTES.md (widely reproduced GCJ-02 test vector).
    lon, lat = coords.wgs84_to_gcj02(116.377817, 39.911954)
    assert abs(lon - 116.38404722455657) < 1e-9
    assert abs(lat - 39.91334545536069) < 1e-9


# Reference results printed in the README of wandergis/coordtransform
# (https://github.com/wandergis/coordtransform, README.md "result" block), all
# for the input (116.404, 39.915):
#   bd09togcj02:  [116.39762729119315, 39.90865673957631]
#   gcj02tobd09:  [116.41036949371029, 39.92133699351021]
#   wgs84togcj02: [116.41024449916938, 39.91640428150164]
#   gcj02towgs84: [116.39775550083061, 39.91359571849836]  (one-step inverse)
WANDERGIS_IN = (116.404, 39.915)


def test_bd09_to_gcj02_wandergis():
    lon, lat = coords.bd09_to_gcj02(*WANDERGIS_IN)
    assert abs(lon - 116.39762729119315) < 1e-9
    assert abs(lat - 39.90865673957631) < 1e-9


def test_gcj02_to_bd09_wandergis():
    lon, lat = coords.gcj02_to_bd09(*WANDERGIS_IN)
    assert abs(lon - 116.41036949371029) < 1e-9
    assert abs(lat - 39.92133699351021) < 1e-9


def test_wgs84_to_gcj02_wandergis():
    lon, lat = coords.wgs84_to_gcj02(*WANDERGIS_IN)
    assert abs(lon - 116.41024449916938) < 1e-9
    assert abs(lat - 39.91640428150164) < 1e-9


def test_gcj02_to_wgs84_improves_on_one_step_inverse():
    one_step = (116.39775550083061, 39.91359571849836)
    lon, lat = coords.gcj02_to_wgs84(*WANDERGIS_IN)
    # Same answer to within the one-step method's metre-level error ...
    assert metres(lon, lat, *one_step)[0] < 2.0
    # ... but ours maps back exactly, and the one-step answer does not.
    back = coords.wgs84_to_gcj02(lon, lat)
    back_one_step = coords.wgs84_to_gcj02(*one_step)
    assert metres(*back, *WANDERGIS_IN)[0] < 1e-6
    assert metres(*back_one_step, *WANDERGIS_IN)[0] > 1e-3


def test_wgs84_to_bd09_composes():
    lon, lat = coords.wgs84_to_bd09(*WANDERGIS_IN)
    expected = coords.gcj02_to_bd09(116.41024449916938, 39.91640428150164)
    assert abs(lon - expected[0]) < 1e-9 and abs(lat - expected[1]) < 1e-9


# --- outside China ---------------------------------------------------------

@pytest.mark.parametrize("fn", [
    coords.wgs84_to_gcj02, coords.gcj02_to_wgs84,
])
def test_outside_china_unchanged(fn):
    lon, lat = fn(24.94, 60.17)  # Helsinki
    assert lon == 24.94 and lat == 60.17


def test_outside_china_mask():
    lon = np.array([24.94, 116.4, 72.0, 137.9, 100.0, 100.0, np.nan])
    lat = np.array([60.17, 39.9, 30.0, 30.0, 0.5, 56.0, 30.0])
    mask = coords.out_of_china(lon, lat)
    assert mask.tolist() == [True, False, True, True, True, True, True]
    assert bool(coords.out_of_china(24.94, 60.17)) is True


def test_mixed_array_only_china_shifted():
    lon = np.array([24.94, 116.377817])
    lat = np.array([60.17, 39.911954])
    g_lon, g_lat = coords.wgs84_to_gcj02(lon, lat)
    assert g_lon[0] == 24.94 and g_lat[0] == 60.17
    assert abs(g_lon[1] - 116.38404722455657) < 1e-9


def test_outside_china_bd09_is_wgs84_as_gcj02_is():
    # Baidu uses WGS84 abroad ("在海外地区，统一使用WGS84坐标", Baidu Maps SDK guide):
    # a Helsinki point read as BD-09 stays where it is, as one read as GCJ-02 does
    for system in ("bd09", "gcj02"):
        lon, lat = coords.to_wgs84(24.94, 60.17, system)
        assert (float(lon), float(lat)) == (24.94, 60.17)
    assert coords.wgs84_to_bd09(24.94, 60.17) == (24.94, 60.17)
    # the formulas without the box would have moved it by hundreds of metres
    assert metres(*coords.bd09_to_gcj02(24.94, 60.17), 24.94, 60.17)[0] > 500
    # inside China both still shift (Beijing)
    assert metres(*coords.to_wgs84(116.404, 39.915, "bd09"), 116.404, 39.915)[0] > 500


def test_outside_warning_counts_the_points_abroad():
    lon, lat = np.array([24.94, 116.404, np.nan]), np.array([60.17, 39.915, 1.0])
    (warning,) = coords.outside_warning(lon, lat, "BD-09", "user POI file x.csv", "--pois-crs")
    assert warning.text("en") == ("user POI file x.csv: 1 of 2 points lie outside China, where --pois-crs bd09 "
                                  "does not apply: those points are read as given (WGS-84)")
    assert "境外" in warning.text("zh")
    assert coords.outside_warning(lon[1:2], lat[1:2], "bd09", "f", "--pois-crs") == []
    assert coords.outside_warning(lon, lat, "wgs84", "f", "--pois-crs") == []


# --- shapes and types ------------------------------------------------------

def test_scalar_in_scalar_out():
    lon, lat = coords.gcj02_to_wgs84(116.4, 39.9)
    assert np.ndim(lon) == 0 and isinstance(lon, float)


def test_array_shape_kept():
    lon = np.full((3, 4), 116.4)
    lat = np.full((3, 4), 39.9)
    for fn in (coords.wgs84_to_gcj02, coords.gcj02_to_wgs84, coords.gcj02_to_bd09,
               coords.bd09_to_gcj02, coords.wgs84_to_bd09, coords.bd09_to_wgs84):
        out_lon, out_lat = fn(lon, lat)
        assert out_lon.shape == (3, 4) and out_lat.shape == (3, 4)


def test_lists_accepted():
    lon, lat = coords.wgs84_to_gcj02([116.377817], [39.911954])
    assert lon.shape == (1,) and abs(lon[0] - 116.38404722455657) < 1e-9


def test_nan_passes_through():
    lon, lat = coords.gcj02_to_wgs84(np.array([np.nan, 116.4]), np.array([39.9, 39.9]))
    assert np.isnan(lon[0]) and np.isfinite(lon[1])


# --- to_wgs84 --------------------------------------------------------------

@pytest.mark.parametrize("crs, forward", [
    ("wgs84", lambda lon, lat: (lon, lat)),
    ("gcj02", coords.wgs84_to_gcj02),
    ("GCJ-02", coords.wgs84_to_gcj02),
    ("bd09", coords.wgs84_to_bd09),
    ("BD-09", coords.wgs84_to_bd09),
])
def test_to_wgs84(crs, forward):
    lon, lat = np.array([112.4540, 112.4612]), np.array([34.6197, 34.6236])  # Luoyang
    back = coords.to_wgs84(*forward(lon, lat), crs)
    assert metres(*back, lon, lat).max() < 1.0


@pytest.mark.parametrize("crs", ["epsg:4326", "gcj", "", "wgs 84"])
def test_to_wgs84_rejects_unknown_crs(crs):
    with pytest.raises(ConfigError, match="coordinate system"):
        coords.to_wgs84(116.4, 39.9, crs)


# --- round trips (hypothesis over the China box) ---------------------------

@settings(max_examples=300, deadline=None)
@given(LONS, LATS)
def test_round_trip_gcj02(lon, lat):
    back = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(lon, lat))
    assert metres(*back, lon, lat)[0] < 1e-3  # sub-millimetre


@settings(max_examples=300, deadline=None)
@given(LONS, LATS)
def test_round_trip_bd09(lon, lat):
    back = coords.bd09_to_wgs84(*coords.wgs84_to_bd09(lon, lat))
    assert metres(*back, lon, lat)[0] < 1.0


@settings(max_examples=300, deadline=None)
@given(LONS, LATS)
def test_inverse_of_gcj02_maps_back(lon, lat):
    # Reading a point as GCJ-02: the inverse must be a true preimage.
    w = coords.gcj02_to_wgs84(lon, lat)
    again = coords.wgs84_to_gcj02(*w)
    assert metres(*again, lon, lat)[0] < 1e-3


def test_round_trip_vectorized_grid():
    lon, lat = np.meshgrid(np.linspace(73.5, 135.0, 200), np.linspace(3.9, 53.5, 200))
    back = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(lon, lat))
    assert metres(back[0].ravel(), back[1].ravel(), lon.ravel(), lat.ravel()).max() < 1e-3
    # The offset itself is real: hundreds of metres, not a no-op.
    g = coords.wgs84_to_gcj02(lon, lat)
    assert metres(g[0].ravel(), g[1].ravel(), lon.ravel(), lat.ravel()).max() > 100


@pytest.mark.parametrize("geometry, crs", [
    (shapely.Point(24.94, 60.17), "EPSG:4326"),            # Helsinki: UTM 35N
    (shapely.Point(116.38, 39.91), "EPSG:4326"),           # Beijing: UTM 50N
    (shapely.Point(-58.38, -34.60), "EPSG:4326"),          # Buenos Aires: UTM 21S
    (shapely.box(119.9, 30.1, 120.4, 30.4), "EPSG:4326"),  # a box across a zone edge (120°E)
    (shapely.Point(15.0, 85.0), "EPSG:4326"),              # north of UTM: UPS north
    (shapely.Point(0.0, -85.0), "EPSG:4326"),              # south of UTM: UPS south
    (shapely.Point(385000, 6672000), "EPSG:3067"),         # projected (Finland) input
])
def test_local_utm_is_osmnx_choice(geometry, crs):
    """local_utm follows osmnx's projection rule without importing osmnx: same CRS."""
    import osmnx as ox
    import pyproj

    expected = pyproj.CRS.from_user_input(ox.projection.project_geometry(geometry, crs=crs)[1])
    assert coords.local_utm(geometry, crs=crs) == expected

"""Conversions between WGS84, GCJ-02 ("Mars" coordinates) and BD-09.

Chinese web maps publish coordinates with a deliberate, non-linear offset:
Amap (Gaode), Tencent and Google's China tiles use GCJ-02, Baidu adds a
second offset on top of it (BD-09). OpenStreetMap and GPS use WGS84, so user
POIs exported from those services must be brought back before they can be
snapped to an OSM street network.

Every function takes longitudes and latitudes in degrees, as scalars or
numpy-compatible arrays of the same shape, and returns a ``(lon, lat)`` pair
of the same shape (numpy float64 scalars for scalar input).

GCJ-02 is only applied inside a bounding box around China
(:func:`out_of_china`); points outside it pass through unchanged, as every
published implementation does, and so do BD-09 points converted to or from
WGS84 (Baidu, too, publishes WGS84 abroad). :func:`outside_warning` tells
the planner when a file said to be GCJ-02 or BD-09 lies outside.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyproj
from numpy.typing import ArrayLike, NDArray

from ..errors import ConfigError

#: Krasovsky 1940 ellipsoid used by GCJ-02: semi-major axis (m) and e².
A = 6378245.0
EE = 0.00669342162296594323

#: Baidu's scale factor for its BD-09 polar perturbation.
X_PI = math.pi * 3000.0 / 180.0

#: The box in which GCJ-02 applies (lon_min, lon_max, lat_min, lat_max).
CHINA_BOX = (72.004, 137.8347, 0.8293, 55.8271)

#: Coordinate systems accepted by :func:`to_wgs84`.
CRS_NAMES = ("wgs84", "gcj02", "bd09")

# One GCJ-02 offset is at most ~700 m, and its derivative is far below one,
# so the fixed-point inverse gains ~3 digits per step; 1e-12 degrees is
# ~0.1 µm and is reached in 4-6 steps.
_INVERSE_TOL_DEG = 1e-12
_INVERSE_MAX_ITER = 30

Pair = tuple[NDArray[np.float64] | np.float64, NDArray[np.float64] | np.float64]


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a


def _result(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Pair:
    # 0-d arrays become numpy scalars so that scalar callers get floats back.
    if lon.ndim == 0:
        return lon[()], lat[()]
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_] | np.bool_:
    """Return True where a point lies outside the GCJ-02 bounding box.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays.

    Returns
    -------
    numpy.ndarray of bool, or numpy.bool_ for scalar input
        True where GCJ-02 does not apply (NaN counts as outside).

    Notes
    -----
    The box (lon 72.004–137.8347, lat 0.8293–55.8271) is the one used by most
    public implementations; it is a rectangle, not the national border.
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    lon_min, lon_max, lat_min, lat_max = CHINA_BOX
    with np.errstate(invalid="ignore"):
        inside = (lon_a >= lon_min) & (lon_a <= lon_max) & (lat_a >= lat_min) & (lat_a <= lat_max)
    mask = ~inside
    return mask[()] if mask.ndim == 0 else mask


def _transform_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    pi = math.pi
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    pi = math.pi
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the GCJ-02 offset (degrees) at WGS84 points, ignoring the box."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert WGS84 coordinates to GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        GCJ-02 degrees; points outside China are returned unchanged.
    """
    lon_a, lat_a = _as_arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon_a, lat_a)
    inside = ~np.asarray(out_of_china(lon_a, lat_a))
    return _result(np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a))


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert GCJ-02 coordinates to WGS84 by fixed-point iteration.

    The usual one-step inverse (subtracting the offset computed at the GCJ-02
    point) is off by up to a few metres; iterating ``w <- w - (f(w) - g)``
    converges to well below a millimetre.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        WGS84 degrees; points outside China are returned unchanged.
    """
    g_lon, g_lat = _as_arrays(lon, lat)
    # The box is tested on the given (GCJ-02) point and the offset applied
    # without the box inside the loop, so points near its edge cannot
    # oscillate between "shifted" and "unshifted".
    inside = ~np.asarray(out_of_china(g_lon, g_lat))
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_offset(w_lon, w_lat)
        err_lon = w_lon + dlon - g_lon
        err_lat = w_lat + dlat - g_lat
        w_lon = w_lon - err_lon
        w_lat = w_lat - err_lat
        err = np.maximum(np.abs(err_lon), np.abs(err_lat))
        if not np.any(inside & (err > _INVERSE_TOL_DEG)):
            break
    return _result(np.where(inside, w_lon, g_lon), np.where(inside, w_lat, g_lat))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert GCJ-02 coordinates to Baidu's BD-09.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        BD-09 degrees (applied everywhere: Baidu has no box).
    """
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * X_PI)
    return _result(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert Baidu BD-09 coordinates to GCJ-02.

    This is the published closed-form inverse (kept so that results match
    other tools digit for digit); it misses the exact inverse of
    :func:`gcj02_to_bd09` by at most ~0.25 m, far below the precision of
    any POI.

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        GCJ-02 degrees.
    """
    b_lon, b_lat = _as_arrays(lon, lat)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    return _result(z * np.cos(theta), z * np.sin(theta))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert WGS84 coordinates to BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        BD-09 degrees; points outside China are returned unchanged: abroad
        Baidu uses WGS84 ("在海外地区，统一使用WGS84坐标", Baidu Maps SDK
        guide, lbs.baidu.com/faq/api?title=androidsdk/guide/tool/coordinate).
    """
    w_lon, w_lat = _as_arrays(lon, lat)
    inside = ~np.asarray(out_of_china(w_lon, w_lat))
    b_lon, b_lat = gcj02_to_bd09(*wgs84_to_gcj02(w_lon, w_lat))
    return _result(np.where(inside, b_lon, w_lon), np.where(inside, b_lat, w_lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """Convert BD-09 coordinates to WGS84 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays.

    Returns
    -------
    (lon, lat)
        WGS84 degrees; points outside China are returned unchanged, as
        :func:`gcj02_to_wgs84` does (without the box, a Baidu export read
        abroad would move every point about 700 m).
    """
    b_lon, b_lat = _as_arrays(lon, lat)
    inside = ~np.asarray(out_of_china(b_lon, b_lat))
    w_lon, w_lat = gcj02_to_wgs84(*bd09_to_gcj02(b_lon, b_lat))
    return _result(np.where(inside, w_lon, b_lon), np.where(inside, w_lat, b_lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> Pair:
    """Convert coordinates given in ``crs`` to WGS84.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays.
    crs
        "wgs84", "gcj02" (Amap, Tencent) or "bd09" (Baidu); case and
        ``-``/``_`` are ignored ("GCJ-02" works).

    Returns
    -------
    (lon, lat)
        WGS84 degrees.

    Raises
    ------
    ConfigError
        For any other ``crs``.
    """
    name = normalize_crs(crs)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    return _result(*_as_arrays(lon, lat))


def normalize_crs(crs: str) -> str:
    """Return the canonical name ("wgs84", "gcj02", "bd09") of ``crs``.

    Raises
    ------
    ConfigError
        If ``crs`` is not one of them.
    """
    name = str(crs).strip().lower().replace("-", "").replace("_", "")
    if name not in CRS_NAMES:
        raise ConfigError(f"unknown coordinate system {crs!r}; use one of {', '.join(CRS_NAMES)}")
    return name


def local_utm(geometry: Any, crs: Any = "EPSG:4326") -> pyproj.CRS:
    """Return the projected CRS for work in metres around ``geometry``.

    The one rule for the whole package (the walk network, the download
    buffer, duplicate detection of user POIs): the UTM zone of the centre
    of ``geometry``'s bounds (UPS beyond 84°N / 80°S), as
    ``osmnx.projection.project_geometry`` chooses it, so that a graph
    projected by osmnx and one projected here agree.

    Parameters
    ----------
    geometry
        A shapely geometry in longitude/latitude.
    crs
        Its geographic CRS.

    Returns
    -------
    pyproj.CRS
    """
    # osmnx's rule (projection.project_gdf) without importing osmnx, which costs
    # a second of every run's start-up; tests/test_coords.py checks the two agree
    import geopandas as gpd

    given = gpd.GeoSeries([geometry], crs=crs)
    centre = geometry.centroid
    if given.crs.is_projected:
        centre = gpd.GeoSeries([centre], crs=crs).to_crs("EPSG:4326").iloc[0]
    if centre.y < -80:
        return pyproj.CRS.from_user_input("EPSG:32761")
    if centre.y > 84:
        return pyproj.CRS.from_user_input("EPSG:32661")
    return pyproj.CRS.from_user_input(given.estimate_utm_crs())


#: Columns that only exports of Chinese web maps carry (compared
#: case-insensitively): Amap's POI/AOI search results and Baidu's place API.
AMAP_COLUMNS = ("typecode", "location", "adcode", "pcode", "citycode", "pname", "adname", "gridcode", "navi_poiid")
BAIDU_COLUMNS = ("uid", "street_id", "detail_info", "baidu_uid")


def looks_like_export(columns: Any) -> str | None:
    """Name the web map a table of ``columns`` seems exported from, or None.

    Parameters
    ----------
    columns
        The file's column names.

    Returns
    -------
    str or None
        "Amap (GCJ-02)" or "Baidu (BD-09)" when a column only those
        services' exports carry is present, else None.
    """
    names = {str(c).strip().casefold() for c in columns}
    if names & set(AMAP_COLUMNS):
        return "Amap (GCJ-02)"
    if names & set(BAIDU_COLUMNS):
        return "Baidu (BD-09)"
    return None


def export_warning(columns: Any, lon: ArrayLike, lat: ArrayLike, what: str, option: str) -> list[str]:
    """A warning for a file read as WGS84 that looks exported from Amap or Baidu.

    Parameters
    ----------
    columns
        The file's column names (see :func:`looks_like_export`).
    lon, lat
        Its coordinates; outside China the web maps do not shift them.
    what, option
        How to name the file, and the option that gives its coordinate system.

    Returns
    -------
    list of str
        One warning, or none.
    """
    source = looks_like_export(columns)
    lon_a, lat_a = _as_arrays(lon, lat)
    if source is None or lon_a.size == 0 or bool(np.all(out_of_china(lon_a, lat_a))):
        return []
    name = "gcj02" if source.startswith("Amap") else "bd09"
    from ..i18n import Message

    return [Message("warn_export_crs", what=what, source=source, option=option, name=name)]


def outside_warning(lon: ArrayLike, lat: ArrayLike, crs: str, what: str, option: str) -> list[str]:
    """A warning when points said to be GCJ-02 or BD-09 lie outside China, where neither applies.

    Parameters
    ----------
    lon, lat
        The points as given.
    crs
        The coordinate system they were said to be in.
    what, option
        How to name the file, and the option that gave ``crs``.

    Returns
    -------
    list of str
        One warning (those points are kept as given), or none.
    """
    name = normalize_crs(crs)
    lon_a, lat_a = _as_arrays(lon, lat)
    known = np.isfinite(lon_a) & np.isfinite(lat_a)
    outside = int(np.count_nonzero(known & np.asarray(out_of_china(lon_a, lat_a))))
    if name == "wgs84" or outside == 0:
        return []
    from ..i18n import Message

    return [Message("warn_crs_outside_china", what=what, n=outside, total=int(np.count_nonzero(known)),
                    name=name, option=option)]


def transform_geometries(geoms: Any, crs: str) -> NDArray[np.object_]:
    """Convert every vertex of shapely geometries given in ``crs`` to WGS84.

    Parameters
    ----------
    geoms
        Array-like of shapely geometries in longitude/latitude degrees
        (polygons keep their holes; rings stay closed, since the first and
        last vertex are converted alike).
    crs
        "wgs84", "gcj02" or "bd09" (see :func:`to_wgs84`).

    Returns
    -------
    numpy.ndarray of shapely geometries
        The converted geometries (the input itself for "wgs84").

    Raises
    ------
    ConfigError
        For an unknown ``crs``.
    """
    import shapely

    name = normalize_crs(crs)
    geoms = np.asarray(geoms, dtype=object)
    if name == "wgs84":
        return geoms

    def convert(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], name)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, convert)

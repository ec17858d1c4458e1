"""Facilities: OSM features sorted into categories, and their access points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .config import Config, folded_name

POI_COLUMNS = ["poi_id", "osm_type", "osm_id", "name", "category", "source", "geometry"]

# A park or school is entered along its edge, not at its middle: polygons
# are routed from points along their outline, at most this far apart.
_ACCESS_SPACING_M = 50.0
_MAX_ACCESS_POINTS = 64


def categorize(features: gpd.GeoDataFrame, config: Config) -> gpd.GeoDataFrame:
    """One row per (feature, category) for features matching a category.

    Parameters
    ----------
    features
        The features table from an OSM source (``tags`` column of dicts).
    config
        The run's categories.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns :data:`POI_COLUMNS`; geometry as in ``features`` (points and
        polygons), same CRS.
    """
    rows = []
    names = features["tags"].map(folded_name)
    for cat in config.categories:
        hit = features[np.array([cat.matches(t, n) for t, n in zip(features["tags"], names)], dtype=bool)]
        if len(hit):
            part = hit[["osm_type", "osm_id", "name", "geometry"]].copy()
            part["category"] = cat.key
            rows.append(part)
    if not rows:
        return gpd.GeoDataFrame(columns=POI_COLUMNS, geometry="geometry", crs=features.crs)
    pois = pd.concat(rows, ignore_index=True)
    pois["poi_id"] = pois["osm_type"] + "/" + pois["osm_id"].astype(str)
    pois["source"] = "osm"
    pois["name"] = pois["name"].fillna("").astype(str)
    return gpd.GeoDataFrame(pois[POI_COLUMNS], geometry="geometry", crs=features.crs)


def access_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points from which each facility is reached.

    A point stays itself; a polygon gives points along its outline, at most
    ``_ACCESS_SPACING_M`` apart (projected CRS), so a large park counts from
    its nearest gate-side, not from its centre; the visible outline of an
    area cut by the extract's edge (lines) likewise.

    Returns
    -------
    points, owner
        Shapely points and the index of the facility each belongs to.
    """
    pts, owner = [], []
    for i, g in enumerate(geoms):
        if g.geom_type == "Point":
            pts.append(g)
            owner.append(i)
            continue
        # normalized rings start at the same vertex whatever the source
        # wrote, so the access points do not depend on the input's order.
        # An area cut by the extract's edge arrives as the lines of its
        # visible outline: it is entered along those.
        g = shapely.normalize(g)
        ring = g if g.geom_type in ("LineString", "MultiLineString") else shapely.boundary(g)
        n = int(min(_MAX_ACCESS_POINTS, max(4, np.ceil(ring.length / _ACCESS_SPACING_M))))
        along = shapely.line_interpolate_point(ring, np.linspace(0, 1, n, endpoint=False), normalized=True)
        parts = shapely.get_parts(along) if along.ndim == 0 else along
        pts.extend(np.ravel(parts))
        owner.extend([i] * len(np.ravel(parts)))
    return np.array(pts, dtype=object), np.array(owner, dtype=np.int64)


def display_points(pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``pois`` with polygons replaced by a point inside them."""
    out = pois.copy()
    poly = ~out.geom_type.eq("Point")
    out.loc[poly, "geometry"] = out.loc[poly].representative_point()
    return out

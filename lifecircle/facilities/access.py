"""Where a facility is entered from the street: its access points.

A point facility is entered where it stands. An area facility (a park, a
school's grounds) is entered where a walkable way meets or crosses its
outline, at its mapped entrances, and — since an open edge can be stepped
over anywhere along a street — from points along its outline at most
:data:`lifecircle.settings.access_spacing_m` apart. The spacing is small
enough that a finer one moves no walk by more than a few metres (tested on
the bundled extract).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from .. import settings

if TYPE_CHECKING:
    import geopandas as gpd

    from ..core.network import StreetNetwork

#: An entrance node counts for an area whose outline passes this close (metres).
ENTRANCE_TOLERANCE_M = 5.0


def _outline(g: shapely.Geometry) -> shapely.Geometry:
    """The line an area is entered along: its boundary, or the visible lines of a clipped one.

    Normalised, so that the points along it start at the same vertex whatever
    order the source wrote the ring in.
    """
    g = shapely.normalize(g)
    return g if g.geom_type in ("LineString", "MultiLineString") else shapely.boundary(g)


def _along(ring: shapely.Geometry, spacing_m: float) -> np.ndarray:
    n = int(max(4, np.ceil(ring.length / spacing_m)))
    along = shapely.line_interpolate_point(ring, np.linspace(0, 1, n, endpoint=False), normalized=True)
    return np.ravel(shapely.get_parts(along) if along.ndim == 0 else along)


def _crossings(ring: shapely.Geometry, net: StreetNetwork) -> np.ndarray:
    """Points where walkable ways meet or cross ``ring`` (both ends of a stretch they share)."""
    edges = net.tree.query(ring, predicate="intersects")
    if not len(edges):
        return np.empty(0, dtype=object)
    meet = shapely.intersection(net.geoms[edges], ring)
    xy = shapely.get_coordinates(meet)
    if not len(xy):
        return np.empty(0, dtype=object)
    xy = np.unique(np.round(xy, 3), axis=0)  # sorted: the same points in the same order every run
    return shapely.points(xy)


def _entrances_on(ring: shapely.Geometry, entrances: np.ndarray | None, tree: shapely.STRtree | None) -> np.ndarray:
    if entrances is None or tree is None or not len(entrances):
        return np.empty(0, dtype=object)
    idx = tree.query(ring, predicate="dwithin", distance=ENTRANCE_TOLERANCE_M)
    return entrances[np.sort(idx)]


def access_points(geoms: np.ndarray, net: StreetNetwork | None = None, entrances: np.ndarray | None = None,
                  spacing_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Points from which each facility is reached.

    Parameters
    ----------
    geoms
        Facility geometries (projected CRS): points, polygons, or the lines
        of an area cut by the extract's edge.
    net
        The walk network: where its ways meet an area's outline are access
        points too. None: the outline alone.
    entrances
        Points of mapped entrances (``entrance=*``, gates); those within
        :data:`ENTRANCE_TOLERANCE_M` of an area's outline are its access points.
    spacing_m
        Largest distance between points along an outline (default
        :data:`lifecircle.settings.access_spacing_m`).

    Returns
    -------
    points, owner
        Shapely points and the index of the facility each belongs to.
    """
    spacing = settings.access_spacing_m if spacing_m is None else float(spacing_m)
    tree = shapely.STRtree(entrances) if entrances is not None and len(entrances) else None
    pts, owner = [], []
    for i, g in enumerate(np.asarray(geoms, dtype=object)):
        if g.geom_type == "Point":
            pts.append(np.array([g], dtype=object))
            owner.append(i)
            continue
        ring = _outline(g)
        mine = [_along(ring, spacing), _entrances_on(ring, entrances, tree)]
        if net is not None:
            mine.append(_crossings(ring, net))
        found = np.concatenate(mine)
        pts.append(found)
        owner.extend([i] * len(found))
    if not pts:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    return np.concatenate(pts), np.asarray(owner, dtype=np.int64)


def display_points(pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``pois`` with polygons replaced by a point inside them."""
    out = pois.copy()
    poly = ~out.geom_type.eq("Point")
    out.loc[poly, "geometry"] = out.loc[poly].representative_point()
    return out

"""Where a facility stands: the areas it lies inside (a hospital, a campus, a compound).

A department node inside a hospital's area is part of that hospital, not a
clinic; a pitch inside a university is the university's, not the public's.
:func:`containers` finds the areas of the config's ``within`` kinds in the
features, and :func:`enclosing` tells, for every candidate facility, which of
them it lies in.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from ..config import Config
from ..core.areas import close_runs

#: Columns of :func:`containers`.
CONTAINER_COLUMNS = ["container_id", "name", "kind", "public", "area_m2", "geometry"]


def containers(features: gpd.GeoDataFrame, cfg: Config, crs) -> gpd.GeoDataFrame:
    """The areas of every ``within`` kind in ``features``, projected to ``crs``.

    An area of several kinds (a university hospital tagged both) is listed once per kind.
    An area cut by the extract's edge (its visible lines) is closed along the edge
    (:func:`lifecircle.core.areas.close_runs`): the part of it inside the data.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`CONTAINER_COLUMNS`: ``container_id`` ("way/1"), ``name``, ``kind`` (a
        ``within`` key), ``public`` (bool), ``area_m2``; sorted by area, smallest first.
    """
    clipped = features["clipped"].to_numpy(bool) if "clipped" in features else np.zeros(len(features), bool)
    polygonal = features.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy() | clipped
    rows = []
    if polygonal.any() and cfg.within:
        areas = features[polygonal]
        for kind in cfg.within.values():
            hit = np.fromiter((kind.matches(t) for t in areas["tags"]), bool, len(areas))
            if hit.any():
                part = areas[hit]
                geoms = part.geometry.to_numpy().copy()
                cut = clipped[polygonal][hit]
                geoms[cut] = [close_runs(g)[0] for g in geoms[cut]]
                ok = np.array([g is not None for g in geoms], dtype=bool)
                rows.append(gpd.GeoDataFrame({
                    "container_id": (part["osm_type"] + "/" + part["osm_id"].astype(str)).to_numpy()[ok],
                    "name": part["name"].fillna("").astype(str).to_numpy()[ok],
                    "kind": kind.key, "public": kind.public,
                }, geometry=list(geoms[ok]), crs=features.crs))
    if not rows:
        return gpd.GeoDataFrame(columns=CONTAINER_COLUMNS, geometry="geometry", crs=crs)
    import pandas as pd

    out = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=features.crs).to_crs(crs)
    out["geometry"] = shapely.make_valid(out.geometry.to_numpy())
    out["area_m2"] = out.geometry.area
    return out.sort_values(["area_m2", "container_id", "kind"], kind="stable").reset_index(drop=True)[CONTAINER_COLUMNS]


@dataclass
class Enclosure:
    """For each point, the containers it lies in, smallest first.

    ``pairs``: (point position, container row) sorted by point, then container area.
    """

    points: int
    pairs: np.ndarray

    def of(self, i: int) -> np.ndarray:
        """Container rows around point ``i``, smallest first."""
        lo, hi = np.searchsorted(self.pairs[:, 0], [i, i + 1])
        return self.pairs[lo:hi, 1]


def enclosing(points: np.ndarray, boxes: gpd.GeoDataFrame, exclude_ids: np.ndarray | None = None) -> Enclosure:
    """Which of the areas in ``boxes`` each point lies in (its own area excluded).

    Parameters
    ----------
    points
        Shapely points, in the CRS of ``boxes``.
    boxes
        Areas sorted smallest first (:func:`containers`), with a ``container_id`` column.
    exclude_ids
        Per point, the id of the feature it stands for: an area never encloses itself.
    """
    if len(points) == 0 or len(boxes) == 0:
        return Enclosure(len(points), np.empty((0, 2), dtype=np.int64))
    tree = shapely.STRtree(boxes.geometry.to_numpy())
    pt, box = tree.query(points, predicate="within")
    if exclude_ids is not None and len(pt):
        keep = boxes["container_id"].to_numpy()[box] != np.asarray(exclude_ids, dtype=object)[pt]
        pt, box = pt[keep], box[keep]
    # boxes are sorted smallest first, so their row order is their size order
    order = np.lexsort((box, pt))
    return Enclosure(len(points), np.column_stack([pt[order], box[order]]).astype(np.int64))


def anchor_points(geoms: np.ndarray) -> np.ndarray:
    """A point standing for each geometry: itself, or a point inside a polygon (on a line)."""
    geoms = np.asarray(geoms, dtype=object)
    points = geoms.copy()
    other = shapely.get_type_id(geoms) != 0
    if other.any():
        points[other] = shapely.point_on_surface(geoms[other])
    return points

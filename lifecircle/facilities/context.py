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

from ..config import Config, Within, tag_hit
from ..core.areas import close_runs

#: Columns of :func:`containers`.
CONTAINER_COLUMNS = ["container_id", "name", "kind", "public", "area_m2", "geometry"]


def _extend_to(line: shapely.LineString, edge: shapely.Geometry) -> shapely.LineString:
    """``line`` with straight pieces from each end to the nearest point of ``edge``, a metre past it
    (so that noding the two splits the extent there, float rounding whatever)."""
    xy = shapely.get_coordinates(line)

    def beyond(end: np.ndarray, inner: np.ndarray) -> np.ndarray:
        at = shapely.get_coordinates(shapely.shortest_line(shapely.Point(end), edge))[-1]
        step = at - end if np.hypot(*(at - end)) > 1e-9 else end - inner
        norm = np.hypot(*step)
        return at + (step / norm if norm > 0 else 0.0)

    return shapely.LineString(np.vstack([beyond(xy[0], xy[min(1, len(xy) - 1)]), xy,
                                         beyond(xy[-1], xy[max(len(xy) - 2, 0)])]))


def close_on_its_side(runs: shapely.Geometry, extent: shapely.Geometry, own: np.ndarray) -> shapely.Geometry | None:
    """An area cut by the data's edge, closed along that edge on the side where its own features stand.

    The visible runs of the area's outline, each carried to the edge of the data, cut the
    data's extent into faces; the area is the face holding the most of ``own`` (points of
    the area's own buildings and named parts: a campus's ``building=university``). None
    when no face holds more than the others: the side cannot be told.

    Needed where the extract lacks nodes of the outline well inside its edge (an Overpass
    export of some tags only): chords between the visible runs then cut across the area.
    """
    if runs is None or not len(own) or extent is None or extent.is_empty:
        return None
    edge = shapely.boundary(extent)
    lines = [_extend_to(r, edge) for r in shapely.get_parts(runs) if len(shapely.get_coordinates(r)) >= 2]
    if not lines:
        return None
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all([*lines, edge]))))
    faces = faces[shapely.area(faces) > 0]
    if len(faces) < 2:
        return None
    counts = np.array([int(shapely.contains_xy(f, shapely.get_x(own), shapely.get_y(own)).sum()) for f in faces])
    best = np.flatnonzero(counts == counts.max())
    if counts.max() == 0 or len(best) > 1:
        return None
    face = faces[best[0]]
    # no farther than the evidence: the hull of the visible outline and the own features in the
    # face, a little wider (what lies beyond them in the face may be the area's, or not)
    inside = own[shapely.contains_xy(face, shapely.get_x(own), shapely.get_y(own))]
    hull = shapely.convex_hull(shapely.union_all([runs, *inside]))
    margin = 0.05 * max(np.sqrt(max(shapely.area(hull), 0.0)), 1e-9)
    closed = shapely.intersection(face, shapely.buffer(hull, margin))
    return None if closed.is_empty else closed


#: Own features of a cut area count as evidence of its side only this close to its visible outline (m).
OWN_EVIDENCE_M = 1000.0


@dataclass(frozen=True)
class _Table:
    """The features' ids, names, tags and clipped flags as arrays, read once for every cut area."""

    ids: np.ndarray
    names: np.ndarray
    tags: np.ndarray
    clipped: np.ndarray

    @classmethod
    def of(cls, features: gpd.GeoDataFrame, clipped: np.ndarray) -> "_Table":
        return cls((features["osm_type"] + "/" + features["osm_id"].astype(str)).to_numpy(),
                   features["name"].fillna("").astype(str).to_numpy(), features["tags"].to_numpy(object), clipped)


def _own_points(table: _Table, points: np.ndarray, kind: Within, name: str, ident: str,
                runs: shapely.Geometry) -> np.ndarray:
    """Points (projected, as ``points``) of an institution's own features near its visible outline:
    its buildings (``own_tags``: ``building=university``) or features named after it (東海大學壘球場
    of 東海大學). Other areas merely of its kind (any ``access=private`` lot) say nothing of its side."""
    core = name.strip()
    near = np.flatnonzero(shapely.dwithin(points, runs, OWN_EVIDENCE_M) & ~table.clipped & (table.ids != ident))
    rows = [i for i in near
            if _first_own(kind, table.tags[i]) or (len(core) >= 2 and table.names[i].startswith(core))]
    return points[rows]


def _first_own(kind: Within, tags: dict) -> bool:
    return any(tag_hit(tags, k, v) for k, v in kind.own_tags.items())


def _close(table: _Table, points: np.ndarray, runs: shapely.Geometry, kind: Within, tags: dict,
           name: str, ident: str, extent: shapely.Geometry | None) -> shapely.Geometry | None:
    """A cut area closed: on the side of its own features if they tell, else by chords (close_runs).

    Only an area such as a campus is closed on its side: a cut building is small, its chords do.
    """
    area_kind = any(tag_hit(tags, k, v) for k, v in kind.tags.items() if k != "building")
    if extent is not None and area_kind:
        closed = close_on_its_side(runs, extent, _own_points(table, points, kind, name, ident, runs))
        if closed is not None:
            return closed
    return close_runs(runs)[0]


def containers(features: gpd.GeoDataFrame, cfg: Config, crs,
               extent: shapely.Geometry | None = None) -> gpd.GeoDataFrame:
    """The areas of every ``within`` kind in ``features``, projected to ``crs``.

    An area of several kinds (a university hospital tagged both) is listed once per kind.
    An area cut by the extract's edge (its visible lines) is closed along the edge of the
    data (``extent``, EPSG:4326; default the features' bounds) on the side where its own
    features stand (:func:`close_on_its_side`), else by chords between its visible runs
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
    if not (polygonal.any() and cfg.within):
        return gpd.GeoDataFrame(columns=CONTAINER_COLUMNS, geometry="geometry", crs=crs)
    projected = gpd.GeoSeries(features.geometry.to_numpy(), crs=features.crs).to_crs(crs).to_numpy()
    points = anchor_points(projected) if clipped.any() else projected
    if clipped.any():
        box = extent if extent is not None else shapely.box(*features.total_bounds)
        extent = gpd.GeoSeries([box], crs="EPSG:4326").to_crs(crs).iloc[0]
    areas = features[polygonal]
    at = np.flatnonzero(polygonal)
    table = _Table.of(features, clipped) if clipped.any() else None
    for kind in cfg.within.values():
        hit = np.fromiter((kind.matches(t) for t in areas["tags"]), bool, len(areas))
        if not hit.any():
            continue
        part = areas[hit]
        geoms = projected[at[hit]].copy()
        idents = (part["osm_type"] + "/" + part["osm_id"].astype(str)).to_numpy()
        names = part["name"].fillna("").astype(str).to_numpy()
        for j in np.flatnonzero(clipped[at[hit]]):
            geoms[j] = _close(table, points, geoms[j], kind, part["tags"].iat[j], names[j], idents[j], extent)
        ok = np.array([g is not None for g in geoms], dtype=bool)
        rows.append(gpd.GeoDataFrame({"container_id": idents[ok], "name": names[ok], "kind": kind.key,
                                      "public": kind.public}, geometry=list(geoms[ok]), crs=crs))
    if not rows:
        return gpd.GeoDataFrame(columns=CONTAINER_COLUMNS, geometry="geometry", crs=crs)
    import pandas as pd

    out = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)
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

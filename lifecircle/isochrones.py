"""Isochrone polygons that follow the streets.

A street point at offset ``p`` on edge (u, v) is reached when
``d(u) + p <= T`` or ``d(v) + L - p <= T`` (or, on a source's own edge,
``|p - a| + h <= T``). Reached points are sampled along the edges at a fixed
spacing, burnt into a small raster, dilated by the frontage depth and traced
with contourpy (marching squares). The cell size and dilation radius are
chosen so every reached segment lies inside the result; nodes beyond the
threshold that the frontage would swallow are then cut out with small holes,
so a polygon never claims a street corner that is out of reach. Rivers, rail
yards and inlets without reached streets stay outside, unlike a convex hull.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np
import scipy.ndimage as ndi
import shapely
from shapely.ops import substring

from . import settings
from .engine import Snapped
from .network import StreetNetwork

# Dilation half-width in cells (a square, so it is two fast 1-D passes). A
# street point is at most one cell (the sample spacing) from a burnt sample,
# and the four cell centres around the point are at most one cell from it in
# x and in y; the sample's own cell centre is half a cell from the sample.
# So those four centres lie within 1 + 1 + 0.5 = 2.5 cells (per axis) of a
# burnt cell: a half-width of 3 burns all four, and the marching-squares
# polygon covers the point.
_HALF_WIDTH = 3


@dataclass
class EdgeSamples:
    """Points along every edge at a spacing of at most one cell.

    Attributes
    ----------
    start
        First sample of each edge (edge i owns ``start[i]:start[i + 1]``).
    pos
        Position of each sample along its edge, in ``length`` units (0 = u).
    xy
        Sample coordinates (m, 2).
    cell
        Spacing used (metres).
    """

    start: np.ndarray
    pos: np.ndarray
    xy: np.ndarray
    cell: float


def edge_samples(net: StreetNetwork, cell: float) -> EdgeSamples:
    """Sample every edge of ``net`` at most ``cell`` metres apart (cached)."""
    cache = net.__dict__.setdefault("_samples", {})
    if cell in cache:
        return cache[cell]
    count = np.ceil(net.geom_length / cell).astype(np.int64) + 1
    start = np.concatenate([[0], np.cumsum(count)])
    edge = np.repeat(np.arange(len(count)), count)
    rank = np.arange(start[-1]) - start[edge]
    frac = rank / (count[edge] - 1)
    pts = shapely.line_interpolate_point(net.geoms[edge], frac, normalized=True)
    samples = EdgeSamples(start, frac * net.length[edge], shapely.get_coordinates(pts), cell)
    cache[cell] = samples
    return samples


def _gather(samples: EdgeSamples, edges: np.ndarray) -> np.ndarray:
    """Indices of the samples of ``edges`` (concatenated)."""
    counts = samples.start[edges + 1] - samples.start[edges]
    base = np.repeat(samples.start[edges] - np.cumsum(np.concatenate([[0], counts[:-1]])), counts)
    return base + np.arange(counts.sum())


def reached_pieces(
    net: StreetNetwork, node_dist: np.ndarray, limit: float, sources: Snapped | None = None,
    edges: np.ndarray | None = None,
) -> list[tuple[int, float, float]]:
    """Reached parts of edges as (edge, from, to) offsets in ``length`` units.

    Parameters
    ----------
    net
        The indexed network.
    node_dist
        Distance from the source(s) to every node.
    limit
        The threshold (metres).
    sources
        Snapped sources whose own edge is reached directly around them.
    edges
        Only report pieces of these edges (default: all).

    Returns
    -------
    list of tuple
        Possibly overlapping intervals; an edge may appear several times.
    """
    L = net.length
    ru = limit - node_dist[net.eu]
    rv = limit - node_dist[net.ev]
    wanted = np.ones(len(L), dtype=bool) if edges is None else np.isin(np.arange(len(L)), edges)
    pieces = []
    for i in np.flatnonzero(((ru >= 0) | (rv >= 0)) & wanted).tolist():
        if ru[i] >= 0 and rv[i] >= 0 and ru[i] + rv[i] >= L[i]:
            pieces.append((i, 0.0, float(L[i])))
            continue
        if ru[i] >= 0:
            pieces.append((i, 0.0, float(min(ru[i], L[i]))))
        if rv[i] >= 0:
            pieces.append((i, float(max(L[i] - rv[i], 0.0)), float(L[i])))
    if sources is not None:
        s = sources.subset(sources.ok)
        for e, a, h in zip(s.edge.tolist(), s.offset.tolist(), s.leg.tolist()):
            r = limit - h
            if r >= 0 and wanted[e]:
                pieces.append((e, max(a - r, 0.0), min(a + r, float(L[e]))))
    return pieces


def piece_geometries(net: StreetNetwork, pieces: list[tuple[int, float, float]]) -> list[shapely.Geometry]:
    """LineStrings (or Points, for zero-length pieces) of reached pieces."""
    out = []
    for e, a, b in pieces:
        scale = net.geom_length[e] / net.length[e] if net.length[e] > 0 else 0.0
        out.append(substring(net.geoms[e], a * scale, b * scale))
    return out


def _vertices(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge vertices (cached): coordinates, start index per edge, and the
    distance along the edge geometry of each vertex."""
    cache = net.__dict__.setdefault("_vertices", None)
    if cache is None:
        xy, owner = shapely.get_coordinates(net.geoms, return_index=True)
        start = np.searchsorted(owner, np.arange(len(net.geoms) + 1))
        step = np.hypot(*np.diff(xy, axis=0).T)
        step[np.diff(owner) != 0] = 0.0  # no length across two edges
        along = np.concatenate([[0.0], np.cumsum(step)])
        along -= along[start[owner]]
        cache = net.__dict__["_vertices"] = (xy, start, along)
    return cache


def distance_to_pieces(
    net: StreetNetwork, points: np.ndarray, pieces: list[tuple[int, float, float]]
) -> np.ndarray:
    """Exact distance from each point (m, 2) to the union of edge pieces.

    Each piece is cut out of its edge's polyline (offsets in ``length``
    units, scaled to the geometry) and measured segment by segment.
    """
    if not pieces:
        return np.full(len(points), np.inf)
    xy, start, along = _vertices(net)
    e, a, b = (np.array(c) for c in zip(*pieces))
    e = e.astype(np.int64)
    scale = np.where(net.length[e] > 0, net.geom_length[e] / np.maximum(net.length[e], 1e-300), 0.0)
    a, b = a * scale, b * scale
    nseg = start[e + 1] - start[e] - 1
    owner = np.repeat(np.arange(len(e)), nseg)
    k = np.repeat(start[e], nseg) + (np.arange(nseg.sum()) - np.repeat(np.cumsum(nseg) - nseg, nseg))
    lo, hi = along[k], along[k + 1]
    use = (hi >= a[owner]) & (lo <= b[owner])
    k, lo, hi, owner = k[use], lo[use], hi[use], owner[use]
    span = np.where(hi > lo, hi - lo, 1.0)
    t0 = np.clip((a[owner] - lo) / span, 0, 1)[:, None]
    t1 = np.clip((b[owner] - lo) / span, 0, 1)[:, None]
    p, q = xy[k], xy[k + 1]
    A, B = p + t0 * (q - p), p + t1 * (q - p)
    d = B - A
    dd = np.maximum((d * d).sum(axis=1), 1e-300)
    rel = points[:, None, :] - A[None, :, :]
    t = np.clip((rel * d[None]).sum(axis=2) / dd[None], 0, 1)
    foot = A[None] + t[..., None] * d[None]
    return np.sqrt(((points[:, None, :] - foot) ** 2).sum(axis=2)).min(axis=1)


def _reached_samples(
    net: StreetNetwork, samples: EdgeSamples, node_dist: np.ndarray, limit: float,
    sources: Snapped | None,
) -> np.ndarray:
    """Coordinates of the reached samples, plus each source's street point."""
    near = np.flatnonzero(np.minimum(node_dist[net.eu], node_dist[net.ev]) <= limit)
    idx = _gather(samples, near)
    edge = np.repeat(near, samples.start[near + 1] - samples.start[near])
    pos = samples.pos[idx]
    hit = (node_dist[net.eu[edge]] + pos <= limit) | (
        node_dist[net.ev[edge]] + net.length[edge] - pos <= limit
    )
    parts = [samples.xy[idx[hit]]]
    if sources is not None:
        s = sources.subset(sources.ok & (sources.leg <= limit))
        if len(s):
            # a source's own edge, reached around it without passing a node
            on_edge = _gather(samples, s.edge)
            owner = np.repeat(np.arange(len(s)), samples.start[s.edge + 1] - samples.start[s.edge])
            direct = np.abs(samples.pos[on_edge] - s.offset[owner]) + s.leg[owner] <= limit
            frac = s.offset / net.length[s.edge].clip(min=1e-12)
            foot = shapely.line_interpolate_point(net.geoms[s.edge], frac, normalized=True)
            parts += [samples.xy[on_edge[direct]], shapely.get_coordinates(foot)]
    return np.concatenate(parts)


@dataclass
class _Raster:
    burnt: np.ndarray  # cells holding a reached sample
    x0: float
    y0: float
    cell: float

    def cells(self, xy: np.ndarray) -> np.ndarray:
        return np.floor((xy - (self.x0, self.y0)) / self.cell).astype(np.int64)


def _burn(xy: np.ndarray, cell: float) -> _Raster:
    """Mark the cells holding reached samples, with room to dilate."""
    pad = _HALF_WIDTH + 3
    x0, y0 = xy.min(axis=0) - pad * cell
    raster = _Raster(np.zeros((1, 1), dtype=bool), float(x0), float(y0), cell)
    ij = raster.cells(xy)
    nx_, ny_ = ij.max(axis=0) + pad + 1
    raster.burnt = np.zeros((ny_, nx_), dtype=bool)
    raster.burnt[ij[:, 1], ij[:, 0]] = True
    return raster


def _trace(raster: _Raster) -> shapely.Geometry:
    """Dilate the burnt cells and trace their outline (marching squares)."""
    grid = ndi.maximum_filter(raster.burnt.view(np.uint8), size=2 * _HALF_WIDTH + 1)
    ny_, nx_ = grid.shape
    xs = raster.x0 + (np.arange(nx_) + 0.5) * raster.cell
    ys = raster.y0 + (np.arange(ny_) + 0.5) * raster.cell
    gen = contourpy.contour_generator(
        xs, ys, grid.astype(np.float64), fill_type=contourpy.FillType.OuterOffset
    )
    points, offsets = gen.filled(0.5, 1.5)
    polys = []
    for pts, offs in zip(points, offsets):
        rings = [pts[offs[k] : offs[k + 1]] for k in range(len(offs) - 1)]
        polys.append(shapely.Polygon(rings[0], rings[1:]))
    return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]


def _cut_unreached_nodes(
    net: StreetNetwork, poly: shapely.Geometry, raster: _Raster, node_dist: np.ndarray,
    limit: float, sources: Snapped | None,
) -> shapely.Geometry:
    """Punch small holes at nodes beyond ``limit`` that the frontage covers.

    A hole never touches a reached street: its radius is at most half the
    node's distance to the nearest reached point. When no burnt cell lies
    within two cells of the node, every reached point is more than one cell
    away (each lies within a cell of a sample), so half a cell is safe
    without measuring; only nodes closer than that are measured exactly.
    """
    cell = raster.cell
    x0, y0, x1, y1 = poly.bounds
    x, y = net.xy[:, 0], net.xy[:, 1]
    cand = np.flatnonzero((node_dist > limit) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    cand = cand[shapely.contains_xy(poly, x[cand], y[cand])] if len(cand) else cand
    if len(cand) == 0:
        return poly
    near = ndi.maximum_filter(raster.burnt.view(np.uint8), size=5).astype(bool)
    ij = raster.cells(net.xy[cand])
    close = near[ij[:, 1], ij[:, 0]]
    radius = np.full(len(cand), cell / 2)
    if close.any():
        pts = net.xy[cand[close]]
        edges = np.unique(net.tree.query(shapely.points(pts), predicate="dwithin", distance=2 * cell)[1])
        gap = distance_to_pieces(net, pts, reached_pieces(net, node_dist, limit, sources, edges=edges))
        radius[close] = np.minimum(cell / 2, gap / 2)
    keep = radius > 0
    if not keep.any():
        return poly
    centres, radius = net.xy[cand[keep]], radius[keep]
    # shrink discs so no two overlap: disjoint discs make a valid
    # MultiPolygon as they are, where a union of many would be slow
    _, nn = shapely.STRtree(shapely.points(centres)).query_nearest(
        shapely.points(centres), exclusive=True, return_distance=True, all_matches=False)
    if len(nn) == len(centres):
        radius = np.minimum(radius, nn / 2.01)
    keep = radius > 0
    holes = shapely.buffer(shapely.points(centres[keep]), radius[keep], quad_segs=2)
    return poly.difference(shapely.MultiPolygon(list(holes))) if len(holes) else poly


def reach_polygon(
    net: StreetNetwork,
    node_dist: np.ndarray,
    limit: float,
    sources: Snapped | None = None,
    frontage_m: float | None = None,
) -> shapely.Geometry:
    """Polygon of the street frontage reachable within ``limit``.

    Parameters
    ----------
    net
        The indexed network.
    node_dist
        Distance from the source(s) to every node (metres).
    limit
        The threshold (metres).
    sources
        The snapped source point(s), whose own edges are reached directly.
    frontage_m
        Depth of the frontage drawn on each side of a reached street
        (default ``settings.frontage_m``).

    Returns
    -------
    shapely.Polygon or MultiPolygon
        Empty when nothing is reached.
    """
    cell = (frontage_m or settings.frontage_m) / _HALF_WIDTH
    samples = edge_samples(net, cell)
    xy = _reached_samples(net, samples, node_dist, limit, sources)
    if len(xy) == 0:
        return shapely.Polygon()
    raster = _burn(xy, cell)
    poly = _trace(raster)
    return _cut_unreached_nodes(net, poly, raster, node_dist, limit, sources)

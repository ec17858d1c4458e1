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

# Dilation radius in cells. A street point is at most one cell (sample
# spacing) from a burnt sample, a sample at most sqrt(2)/2 cell from its cell
# centre, and the four cell centres around the point at most sqrt(2) cells
# away: 1 + 0.71 + 1.41 = 3.12 < 3.5, so all four corners are burnt and the
# marching-squares polygon covers the point.
_RADIUS_CELLS = 3.5


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


def _trace(xy: np.ndarray, cell: float) -> shapely.Geometry:
    """Burn points into a raster, dilate and trace the outline."""
    pad = int(np.ceil(_RADIUS_CELLS)) + 2
    x0, y0 = xy.min(axis=0) - pad * cell
    ij = np.floor((xy - (x0, y0)) / cell).astype(np.int64)
    nx_, ny_ = ij.max(axis=0) + pad + 1
    grid = np.zeros((ny_, nx_), dtype=bool)
    grid[ij[:, 1], ij[:, 0]] = True
    r = int(np.floor(_RADIUS_CELLS))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (xx**2 + yy**2) <= _RADIUS_CELLS**2
    grid = ndi.binary_dilation(grid, structure=disk)
    xs = x0 + (np.arange(nx_) + 0.5) * cell
    ys = y0 + (np.arange(ny_) + 0.5) * cell
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
    net: StreetNetwork, poly: shapely.Geometry, node_dist: np.ndarray, limit: float,
    sources: Snapped | None, cell: float,
) -> shapely.Geometry:
    """Punch small holes at nodes beyond ``limit`` that the frontage covers."""
    x0, y0, x1, y1 = poly.bounds
    x, y = net.xy[:, 0], net.xy[:, 1]
    cand = np.flatnonzero((node_dist > limit) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if len(cand) == 0:
        return poly
    cand = cand[shapely.contains_xy(poly, x[cand], y[cand])]
    if len(cand) == 0:
        return poly
    pts = shapely.points(net.xy[cand])
    near = np.unique(net.tree.query(shapely.buffer(pts, cell))[1])
    lines = piece_geometries(net, reached_pieces(net, node_dist, limit, sources, edges=near))
    reached = shapely.union_all(lines) if lines else shapely.GeometryCollection()
    # a hole may not touch a reached street, however close the node is to it
    gap = shapely.distance(pts, reached) if lines else np.full(len(pts), cell)
    radius = np.minimum(cell / 2, gap / 2)
    holes = shapely.buffer(pts[radius > 0], radius[radius > 0], quad_segs=2)
    return poly.difference(shapely.union_all(holes)) if len(holes) else poly


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
    cell = (frontage_m or settings.frontage_m) / _RADIUS_CELLS
    samples = edge_samples(net, cell)
    xy = _reached_samples(net, samples, node_dist, limit, sources)
    if len(xy) == 0:
        return shapely.Polygon()
    poly = _trace(xy, cell)
    return _cut_unreached_nodes(net, poly, node_dist, limit, sources, cell)

"""Isochrone polygons that follow the streets.

A street point at offset ``p`` on edge (u, v) is reached when
``d(u) + p <= T`` or ``d(v) + L - p <= T`` (or, on a source's own edge,
``|p - a| + h <= T``). Reached points are sampled along the edges at a fixed
spacing, burnt into a small raster, dilated by a disc of the frontage depth
and traced with contourpy (marching squares). The cell size and dilation radius are
chosen so every reached segment lies inside the result; nodes beyond the
threshold that the frontage would swallow are then cut out with small holes,
so a polygon never claims a street corner that is out of reach. Rivers, rail
yards and inlets without reached streets stay outside, unlike a convex hull.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np
import shapely
from shapely.ops import substring

from .. import settings
from .engine import Snapped
from .network import StreetNetwork

# Dilation radius in cells: a disc (Euclidean distance to the nearest burnt
# cell centre), so the frontage is as deep across a street at 45° as at 0°;
# a square of this half-width reached 44 m for a 25 m frontage, 1.1-1.2x
# the area of an exact buffer, which shrank the "area" gaps. A street point
# is at most half a cell (half the sample spacing) from a sample along its
# street, and a sample at most 0.71 cells from its cell's centre; the four
# cell centres around the point are at most 0.71 cells from it. So those four
# lie within 0.5 + 0.71 + 0.71 = 1.92 cells of a burnt centre: a radius of 3
# fills all four, and the marching-squares polygon covers the point. With
# cells of frontage / 3, the band is within a few per cent of an exact
# buffer's area and reaches at most about 1.35x the frontage.
_HALF_WIDTH = 3


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated: the position inside each run."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _runs(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges starts[i] .. starts[i] + counts[i] - 1."""
    return np.repeat(starts, counts) + _ranks(counts)


def _near_edges(net: StreetNetwork, node_dist: np.ndarray, limit: float) -> np.ndarray:
    """Edges with an end within ``limit``, found from the reached nodes only."""
    ptr, inc = net.incidence
    r = np.flatnonzero(node_dist <= limit)
    if 8 * len(r) > net.n:  # a large share is reached: one scan of all edges is cheaper
        return np.flatnonzero(np.minimum(node_dist[net.eu], node_dist[net.ev]) <= limit)
    cnt = ptr[r + 1] - ptr[r]
    return np.unique(inc[_runs(ptr[r], cnt)])


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
    e, a, b = _piece_arrays(net, node_dist, limit, sources, edges)
    return list(zip(e.tolist(), a.tolist(), b.tolist()))


def _piece_arrays(
    net: StreetNetwork, node_dist: np.ndarray, limit: float, sources: Snapped | None = None,
    edges: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`reached_pieces` as three arrays (edge, from, to), in the same order."""
    L = net.length
    if edges is None:
        cand = _near_edges(net, node_dist, limit)
    else:
        # those of _near_edges among them, without a pass over the whole network
        edges = np.unique(edges)
        cand = edges[np.minimum(node_dist[net.eu[edges]], node_dist[net.ev[edges]]) <= limit]
    length = L[cand]
    ru = limit - node_dist[net.eu[cand]]
    rv = limit - node_dist[net.ev[cand]]
    whole = (ru >= 0) & (rv >= 0) & (ru + rv >= length)
    # per edge: the whole edge, or the part reached from u and/or the part reached from v
    kinds = np.stack([whole, ~whole & (ru >= 0), ~whole & (rv >= 0)], axis=1)
    row, kind = np.nonzero(kinds)  # row-major: edge after edge, in that order
    lo = np.where(kind == 2, np.maximum(length[row] - rv[row], 0.0), 0.0)
    hi = np.where(kind == 1, np.minimum(ru[row], length[row]), length[row])
    e, a, b = [cand[row]], [lo], [hi]
    if sources is not None:
        s = sources.subset(sources.ok)
        if edges is not None:
            s = s.subset(np.isin(s.edge, edges))
        r = limit - s.leg
        s, r = s.subset(r >= 0), r[r >= 0]
        e.append(s.edge)
        a.append(np.maximum(s.offset - r, 0.0))
        b.append(np.minimum(s.offset + r, L[s.edge]))
    return np.concatenate(e).astype(np.int64), np.concatenate(a).astype(float), np.concatenate(b).astype(float)


def piece_geometries(net: StreetNetwork, pieces: list[tuple[int, float, float]]) -> list[shapely.Geometry]:
    """LineStrings (or Points, for zero-length pieces) of reached pieces."""
    out = []
    for e, a, b in pieces:
        scale = net.geom_length[e] / net.length[e] if net.length[e] > 0 else 0.0
        out.append(substring(net.geoms[e], a * scale, b * scale))
    return out


def _points_along(net: StreetNetwork, edges: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Coordinates of the points at ``pos`` (``length`` units) along ``edges``."""
    v = net.vertices
    g = pos * (net.geom_length[edges] / np.maximum(net.length[edges], 1e-300))
    k = np.searchsorted(v.key, edges * v.span + g, side="right") - 1
    k = np.clip(k, v.start[edges], np.maximum(v.start[edges + 1] - 2, v.start[edges]))
    seg = v.along[k + 1] - v.along[k]
    t = np.clip(np.where(seg > 0, (g - v.along[k]) / np.where(seg > 0, seg, 1.0), 0.0), 0.0, 1.0)
    return v.xy[k] + t[:, None] * (v.xy[k + 1] - v.xy[k])


def _samples(net: StreetNetwork, edges: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along ``edges`` at most ``cell`` apart, both ends included.

    Returns the edge of each sample and its position (``length`` units).
    """
    count = np.ceil(net.geom_length[edges] / cell).astype(np.int64) + 1
    owner = np.repeat(np.arange(len(edges)), count)
    rank = _ranks(count)
    e = edges[owner]
    return e, rank / (count[owner] - 1) * net.length[e]


def distance_to_pieces(
    net: StreetNetwork, points: np.ndarray,
    pieces: list[tuple[int, float, float]] | tuple[np.ndarray, np.ndarray, np.ndarray],
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Exact distance from each point (m, 2) to the union of edge pieces
    (a list of (edge, from, to), or those as three arrays).

    Each piece is cut out of its edge's polyline (offsets in ``length``
    units, scaled to the geometry) and measured segment by segment.
    ``pairs`` (point index, edge index) limits the work to the edges each
    point needs; points with no pair get ``inf``.
    """
    if not isinstance(pieces, tuple):  # a list of (edge, from, to)
        pieces = tuple(np.array(c) for c in zip(*pieces)) if pieces else (np.zeros(0, np.int64),) * 3
    e, a, b = pieces
    if not len(e):
        return np.full(len(points), np.inf)
    v = net.vertices
    xy, start, along = v.xy, v.start, v.along
    e = e.astype(np.int64)
    scale = np.where(net.length[e] > 0, net.geom_length[e] / np.maximum(net.length[e], 1e-300), 0.0)
    a, b = a * scale, b * scale
    nseg = start[e + 1] - start[e] - 1
    owner = np.repeat(np.arange(len(e)), nseg)
    k = _runs(start[e], nseg)
    lo, hi = along[k], along[k + 1]
    use = (hi >= a[owner]) & (lo <= b[owner])
    k, lo, hi, owner = k[use], lo[use], hi[use], owner[use]
    span = np.where(hi > lo, hi - lo, 1.0)
    t0 = np.clip((a[owner] - lo) / span, 0, 1)[:, None]
    t1 = np.clip((b[owner] - lo) / span, 0, 1)[:, None]
    p, q = xy[k], xy[k + 1]
    A, B = p + t0 * (q - p), p + t1 * (q - p)
    seg_edge = e[owner]
    if pairs is None:
        pi = np.repeat(np.arange(len(points)), len(A))
        si = np.tile(np.arange(len(A)), len(points))
    else:
        # join (point, edge) pairs with the segments of that edge
        order = np.argsort(seg_edge, kind="stable")
        lo_i = np.searchsorted(seg_edge[order], pairs[1], side="left")
        hi_i = np.searchsorted(seg_edge[order], pairs[1], side="right")
        n = hi_i - lo_i
        pi = np.repeat(pairs[0], n)
        si = order[_runs(lo_i, n)]
    a_, d = A[si], (B - A)[si]
    dd = np.maximum((d * d).sum(axis=1), 1e-300)
    t = np.clip(((points[pi] - a_) * d).sum(axis=1) / dd, 0, 1)
    dist = np.hypot(*(points[pi] - (a_ + t[:, None] * d)).T)
    out = np.full(len(points), np.inf)
    np.minimum.at(out, pi, dist)
    return out


def _reached_samples(
    net: StreetNetwork, node_dist: np.ndarray, limit: float, sources: Snapped | None, cell: float
) -> np.ndarray:
    """Coordinates of reached street points at most ``cell`` apart, plus each
    source's own point on its street."""
    near = _near_edges(net, node_dist, limit)
    edge, pos = _samples(net, near, cell)
    hit = (node_dist[net.eu[edge]] + pos <= limit) | (
        node_dist[net.ev[edge]] + net.length[edge] - pos <= limit
    )
    parts = [_points_along(net, edge[hit], pos[hit])]
    if sources is not None:
        s = sources.subset(sources.ok & (sources.leg <= limit))
        if len(s):
            # a source's own edge, reached around it without passing a node
            own, opos = _samples(net, s.edge, cell)
            owner = np.repeat(np.arange(len(s)), np.ceil(net.geom_length[s.edge] / cell).astype(np.int64) + 1)
            direct = np.abs(opos - s.offset[owner]) + s.leg[owner] <= limit
            parts += [_points_along(net, own[direct], opos[direct]), _points_along(net, s.edge, s.offset)]
    return np.concatenate(parts)


@dataclass
class _Raster:
    burnt: np.ndarray  # cells holding a reached sample
    x0: float
    y0: float
    cell: float
    filled: np.ndarray | None = None  # burnt cells after dilation
    # a window of a larger raster: its first column and row there; cell
    # coordinates are always computed from the larger raster's origin, so a
    # window's cells and outline have bit for bit the same coordinates
    i0: int = 0
    j0: int = 0

    def cells(self, xy: np.ndarray) -> np.ndarray:
        return np.floor((xy - (self.x0, self.y0)) / self.cell).astype(np.int64) - (self.i0, self.j0)

    def window(self, bounds: tuple[float, float, float, float], margin: int) -> "_Raster":
        """The cells over ``bounds`` and ``margin`` cells around them (clipped to this raster)."""
        lo = np.floor((np.array(bounds[:2]) - (self.x0, self.y0)) / self.cell).astype(np.int64) - margin
        hi = np.floor((np.array(bounds[2:]) - (self.x0, self.y0)) / self.cell).astype(np.int64) + margin + 1
        ny_, nx_ = self.burnt.shape
        i0, j0 = int(np.clip(lo[0], 0, nx_)), int(np.clip(lo[1], 0, ny_))
        i1, j1 = int(np.clip(hi[0], i0, nx_)), int(np.clip(hi[1], j0, ny_))
        return _Raster(self.burnt[j0:j1, i0:i1], self.x0, self.y0, self.cell, i0=self.i0 + i0, j0=self.j0 + j0)

    def box(self) -> shapely.Geometry:
        """The rectangle this raster's cells cover."""
        ny_, nx_ = self.burnt.shape
        x, y = self.x0 + self.i0 * self.cell, self.y0 + self.j0 * self.cell
        return shapely.box(x, y, x + nx_ * self.cell, y + ny_ * self.cell)


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


# The cell offsets within _HALF_WIDTH of a cell centre: the disc dilated with.
_DISC = [(int(dy), int(dx)) for dy, dx in np.argwhere(
    np.hypot(*np.mgrid[-_HALF_WIDTH:_HALF_WIDTH + 1, -_HALF_WIDTH:_HALF_WIDTH + 1]) <= _HALF_WIDTH)]


def _dilate(burnt: np.ndarray) -> np.ndarray:
    """The cells within ``_HALF_WIDTH`` of a burnt cell (centre to centre).

    The same cells as ``distance_transform_edt(~burnt) <= _HALF_WIDTH``, as
    an OR of the 29 shifted copies of the raster: 2-5x faster on the rasters
    isochrones have.
    """
    h = _HALF_WIDTH
    ny_, nx_ = burnt.shape
    padded = np.pad(burnt, h)
    out = np.zeros_like(burnt)
    for dy, dx in _DISC:
        out |= padded[dy: dy + ny_, dx: dx + nx_]
    return out


def _trace(raster: _Raster) -> shapely.Geometry:
    """Dilate the burnt cells by a disc and trace their outline (marching squares)."""
    raster.filled = _dilate(raster.burnt)
    grid = raster.filled.view(np.uint8)
    ny_, nx_ = grid.shape
    xs = raster.x0 + (raster.i0 + np.arange(nx_) + 0.5) * raster.cell
    ys = raster.y0 + (raster.j0 + np.arange(ny_) + 0.5) * raster.cell
    gen = contourpy.contour_generator(
        xs, ys, grid.astype(np.float64), fill_type=contourpy.FillType.OuterOffset
    )
    points, offsets = gen.filled(0.5, 1.5)
    polys = []
    for pts, offs in zip(points, offsets):
        rings = [pts[offs[k] : offs[k + 1]] for k in range(len(offs) - 1)]
        polys.append(shapely.Polygon(rings[0], rings[1:]))
    if not polys:  # a window without burnt cells
        return shapely.Polygon()
    return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]


def _cut_unreached_nodes(
    net: StreetNetwork, poly: shapely.Geometry, raster: _Raster, node_dist: np.ndarray,
    limit: float, sources: Snapped | None, nodes: np.ndarray | None = None,
) -> shapely.Geometry:
    """Punch small holes at nodes beyond ``limit`` that the frontage covers.

    A hole never touches a reached street: its radius is at most half the
    node's distance to the nearest reached point. When no burnt cell lies
    within two cells of the node, every reached point is more than one cell
    away (each lies within a cell of a sample), so half a cell is safe
    without measuring; only nodes closer than that are measured exactly.
    ``nodes``, when given, are all the nodes that could lie in ``poly``.
    """
    if poly.is_empty:
        return poly
    cell = raster.cell
    x0, y0, x1, y1 = poly.bounds
    x, y = net.xy[:, 0], net.xy[:, 1]
    if nodes is not None:
        box_nodes = nodes
    elif 8 * len(box_nodes := np.flatnonzero(node_dist <= limit)) > net.n:
        box_nodes = np.arange(net.n)
    else:
        box_edges = net.tree.query(shapely.box(x0, y0, x1, y1))
        box_nodes = np.unique(np.concatenate([net.eu[box_edges], net.ev[box_edges]]))
    cand = box_nodes[(node_dist[box_nodes] > limit) & (x[box_nodes] >= x0) & (x[box_nodes] <= x1)
                     & (y[box_nodes] >= y0) & (y[box_nodes] <= y1)]
    cand = cand[shapely.contains_xy(poly, x[cand], y[cand])] if len(cand) else cand
    if len(cand) == 0:
        return poly
    ij = raster.cells(net.xy[cand])
    close = _window_count(raster.burnt, ij, 2)[0] > 0
    radius = np.full(len(cand), cell / 2)
    if close.any():
        pts = net.xy[cand[close]]
        # envelopes are cheaper to query than dwithin; extra edges only cost
        # a few more segment distances
        pi, ej = net.tree.query(shapely.box(*(pts - 2 * cell).T, *(pts + 2 * cell).T))
        pieces = _piece_arrays(net, node_dist, limit, sources, edges=np.unique(ej))
        gap = distance_to_pieces(net, pts, pieces, pairs=(pi, ej))
        radius[close] = np.minimum(cell / 2, np.minimum(gap, cell) / 2)
    # a node whose 5 x 5 cells are all filled is at least a cell from the
    # polygon's boundary; only the others are measured against it
    filled, cells = _window_count(raster.filled, ij, 2)
    inner = filled == cells
    if not inner.all():
        edge_pts = shapely.points(net.xy[cand[~inner]])
        radius[~inner] = np.minimum(radius[~inner], 0.99 * shapely.distance(edge_pts, shapely.boundary(poly)))
    return _punch(poly, net.xy[cand], radius)


def _window_count(mask: np.ndarray, ij: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """True cells of ``mask`` in the (2r + 1)-square around each cell ``ij``
    (column, row), and the number of cells of that square inside ``mask``.

    From a summed-area table: the same answers as a maximum or minimum
    filter (whose reflected border adds no cell the square lacks), read only
    where asked.
    """
    ny_, nx_ = mask.shape
    table = np.zeros((ny_ + 1, nx_ + 1), np.int32)
    np.cumsum(np.cumsum(mask, axis=0, dtype=np.int32), axis=1, out=table[1:, 1:])
    i0, i1 = np.clip(ij[:, 0] - r, 0, nx_), np.clip(ij[:, 0] + r + 1, 0, nx_)
    j0, j1 = np.clip(ij[:, 1] - r, 0, ny_), np.clip(ij[:, 1] + r + 1, 0, ny_)
    return table[j1, i1] - table[j0, i1] - table[j1, i0] + table[j0, i0], (i1 - i0) * (j1 - j0)


_OCTAGON = np.stack([np.cos(np.linspace(0, 2 * np.pi, 9)), np.sin(np.linspace(0, 2 * np.pi, 9))], axis=1)
_OCTAGON[-1] = _OCTAGON[0]  # closed ring, exactly


def _punch(poly: shapely.Geometry, centres: np.ndarray, radius: np.ndarray) -> shapely.Geometry:
    """Cut octagons around ``centres`` out of ``poly`` as interior rings.

    The caller keeps each octagon strictly inside the polygon; here they are
    shrunk until no two overlap, so each becomes a ring as it is, with no
    overlay (which would cost more than the rest of the isochrone).
    """
    # one hole per distinct centre, the first of equal ones (np.unique(axis=0), 3x faster)
    order = np.lexsort((centres[:, 1], centres[:, 0]))
    centres = centres[order]
    first = np.concatenate([[True], np.any(centres[1:] != centres[:-1], axis=1)])
    centres, radius = centres[first], radius[order[first]]
    if 1 < len(centres) <= 1000:
        gap = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(gap, np.inf)
        radius = np.minimum(radius, gap.min(axis=1) / 2.01)
    elif len(centres) > 1000:  # a pairwise matrix would be too large
        pts = shapely.points(centres)
        _, nn = shapely.STRtree(pts).query_nearest(pts, exclusive=True, return_distance=True, all_matches=False)
        radius = np.minimum(radius, nn / 2.01)
    keep = radius > 0
    centres, radius = centres[keep], radius[keep]
    rings = shapely.linearrings(centres[:, None, :] + radius[:, None, None] * _OCTAGON[None])
    parts = []
    for part in shapely.get_parts(poly):
        mine = shapely.contains_xy(part, centres[:, 0], centres[:, 1]) if len(centres) else []
        if np.any(mine):
            old = shapely.get_interior_ring(part, range(shapely.get_num_interior_rings(part)))
            part = shapely.polygons(shapely.get_exterior_ring(part), holes=np.concatenate([old, rings[mine]]))
        parts.append(part)
    return shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]


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
    xy = _reached_samples(net, node_dist, limit, sources, cell)
    if len(xy) == 0:
        return shapely.Polygon()
    raster = _burn(xy, cell)
    poly = _trace(raster)
    return _cut_unreached_nodes(net, poly, raster, node_dist, limit, sources)


# How far (in cells) a window reaches beyond the polygons it is traced for.
# The traced outline is exact where every burnt cell within the dilation
# radius (3 cells) lies in the window, plus one cell for marching squares: 4
# cells in from the window's edge. Holes are cut at nodes up to half a cell
# beyond a polygon; their radii depend on the outline and on other nodes
# within about a cell of them. 10 cells keep all of that out of reach of the
# window's own (artificial) edge.
_WINDOW_MARGIN = 10


class ReachArea:
    """A reach polygon traced only around the places asked about.

    The same samples, raster, outline and holes as :func:`reach_polygon`,
    but each query traces a small window around one polygon instead of the
    whole district: :meth:`outside` gives exactly
    ``shapely.difference(polygons, reach_polygon(...))`` (to floating-point
    rounding) at a cost that follows the polygons' size, not the district's.

    Parameters
    ----------
    net, node_dist, limit, sources, frontage_m
        As for :func:`reach_polygon`.
    """

    def __init__(
        self, net: StreetNetwork, node_dist: np.ndarray, limit: float, sources: Snapped | None = None,
        frontage_m: float | None = None,
    ) -> None:
        self.net, self.node_dist, self.limit, self.sources = net, node_dist, limit, sources
        cell = (frontage_m or settings.frontage_m) / _HALF_WIDTH
        xy = _reached_samples(net, node_dist, limit, sources, cell)
        self.raster = _burn(xy, cell) if len(xy) else None

    def near(self, bounds: tuple[float, float, float, float]) -> shapely.Geometry:
        """The reach polygon around ``bounds`` (x0, y0, x1, y1): equal to
        :func:`reach_polygon`'s within them, cut off some cells beyond."""
        if self.raster is None or not np.all(np.isfinite(bounds)):  # nothing reached, or an empty polygon
            return shapely.Polygon()
        window = self.raster.window(bounds, _WINDOW_MARGIN)
        if not window.burnt.any():
            return shapely.Polygon()
        poly = _trace(window)
        edges = self.net.tree.query(window.box())
        nodes = np.unique(np.concatenate([self.net.eu[edges], self.net.ev[edges]]))
        return _cut_unreached_nodes(self.net, poly, window, self.node_dist, self.limit, self.sources, nodes=nodes)

    def outside(self, polygons: np.ndarray) -> np.ndarray:
        """The parts of ``polygons`` out of reach (empty where all is reached)."""
        polygons = np.asarray(polygons, dtype=object)
        reach = np.array([self.near(p.bounds) for p in polygons], dtype=object)
        return shapely.difference(polygons, reach) if len(polygons) else polygons

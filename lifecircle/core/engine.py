"""Walking distances to the nearest facility: exact, edge-snapped, one pass per category.

Points (facilities, homes, community centres) are snapped to the nearest
point of the nearest street edge. A facility at offset ``a`` on edge (u, v)
of length ``L`` with an off-street leg ``h`` is ``a + h`` from u and
``L - a + h`` from v; joining every facility of a category to a virtual
source with those weights, one bounded Dijkstra from the source gives every
node's distance to the nearest facility of the category. A home at offset
``b`` on edge (u', v') with leg ``h'`` is then
``min(d(u') + b, d(v') + L' - b) + h'``, or ``|a - b| + h + h'`` when it
shares the facility's edge.

Which facility is nearest comes from the same search: the tree of shortest
paths it leaves roots every node at one edge end joined to the source, and
that join's facility is the node's nearest (:func:`nearest_node_facilities`,
:func:`nearest_point_facilities`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse.csgraph as csgraph
import shapely
from shapely.ops import substring

from .network import Region, StreetNetwork, with_source


@dataclass
class Snapped:
    """Points snapped onto street edges.

    Attributes
    ----------
    edge
        Index into the network's edge arrays, -1 where the point is farther
        than the snapping limit from every street.
    offset
        Distance along the edge from its ``u`` end, metres.
    leg
        Straight-line distance from the point to the street (NaN if
        unsnapped).
    """

    edge: np.ndarray
    offset: np.ndarray
    leg: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Mask of the points that were snapped."""
        return self.edge >= 0

    def subset(self, mask: np.ndarray) -> "Snapped":
        """Return the snapped points selected by ``mask``."""
        return Snapped(self.edge[mask], self.offset[mask], self.leg[mask])

    def __len__(self) -> int:
        return len(self.edge)


# Most homes and facilities lie this close to a street. Their nearest edge is
# found among the edges whose boxes meet a box this size around them, several
# times faster than the tree's nearest-neighbour search, which is left for the
# rest.
_NEAR_M = 30.0


def snap_points(net: StreetNetwork, points: np.ndarray, max_snap_m: float) -> Snapped:
    """Snap points to the nearest point on the nearest street edge.

    Of edges at exactly the same distance, the lowest-indexed wins, so runs
    repeat exactly.

    Parameters
    ----------
    net
        The indexed network.
    points
        Array of shapely Points (or an (m, 2) coordinate array) in the
        network's CRS.
    max_snap_m
        Points farther than this from every edge are left unsnapped.

    Returns
    -------
    Snapped
    """
    pts = np.asarray(points)
    if pts.ndim == 2:
        pts = shapely.points(pts)
    m = len(pts)
    edge = np.full(m, -1, dtype=np.int64)
    offset = np.zeros(m)
    leg = np.full(m, np.nan)
    if m == 0:
        return Snapped(edge, offset, leg)
    # every edge within r of a point meets the 2r box around it
    r = min(_NEAR_M, max_snap_m)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    src, idx = net.tree.query(shapely.box(x - r, y - r, x + r, y + r))
    dist = shapely.distance(net.geoms[idx], pts[src])
    near = dist <= r
    src, idx, dist = src[near], idx[near], dist[near]
    rest = np.setdiff1d(np.arange(m), src)
    if len(rest):
        s2, i2 = net.tree.query_nearest(pts[rest], max_distance=max_snap_m, all_matches=True)
        src = np.concatenate([src, rest[s2]])
        idx = np.concatenate([idx, i2])
        dist = np.concatenate([dist, shapely.distance(net.geoms[i2], pts[rest[s2]])])
    order = np.lexsort((idx, dist, src))
    src, idx, dist = src[order], idx[order], dist[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = src[1:] != src[:-1]
    src, idx = src[first], idx[first]
    frac = shapely.line_locate_point(net.geoms[idx], pts[src]) / net.geom_length[idx]
    edge[src] = idx
    offset[src] = np.clip(frac, 0.0, 1.0) * net.length[idx]
    leg[src] = dist[first]
    return Snapped(edge, offset, leg)


def source_weights(net: StreetNetwork, snapped: Snapped) -> tuple[np.ndarray, np.ndarray]:
    """Return (node indices, metres) joining snapped points to edge ends."""
    s = snapped.subset(snapped.ok)
    e = s.edge
    targets = np.concatenate([net.eu[e], net.ev[e]])
    weights = np.concatenate([s.offset + s.leg, net.length[e] - s.offset + s.leg])
    return targets, weights


def node_distances(
    net: StreetNetwork, facilities: Snapped, limit: float = np.inf, region: Region | None = None
) -> np.ndarray:
    """Distance (metres) from every node to the nearest snapped facility.

    One bounded single-source Dijkstra from a virtual source joined to the
    facilities' edge ends. Nodes beyond ``limit`` get ``inf``.

    Parameters
    ----------
    net
        The indexed network.
    facilities
        Snapped facilities of one category (unsnapped ones are ignored).
    limit
        Stop the search at this distance.
    region
        Search only this part of the network (from
        :meth:`StreetNetwork.region` with ``limit`` as its distance): exact
        for every node and point of its places; nodes outside it get
        ``inf``.

    Returns
    -------
    numpy.ndarray
        Shape (n,).
    """
    out = np.full(net.n, np.inf)
    if not facilities.ok.any():
        return out
    targets, weights = source_weights(net, facilities)
    if region is None:
        csr, nodes = net.csr, slice(None)
    else:
        csr, nodes = region.csr, region.nodes
        targets = region.local[targets]
        weights = weights[targets >= 0]
        targets = targets[targets >= 0]
    k = csr.shape[0] - 1
    dist = csgraph.dijkstra(with_source(csr, targets, weights), directed=True, indices=k, limit=limit)
    out[nodes] = dist[:k]
    return out


def _owner_ids(owner: np.ndarray, facilities: Snapped) -> np.ndarray:
    """``owner`` as int64 ids, checked: -1 is kept for "no facility"."""
    owner = np.asarray(owner, dtype=np.int64)
    if owner.shape != (len(facilities),):
        raise ValueError(f"owner has shape {owner.shape} for {len(facilities)} facilities")
    if (owner < 0).any():
        raise ValueError("owner ids must be non-negative")
    return owner


def nearest_node_facilities(
    net: StreetNetwork,
    facilities: Snapped,
    owner: np.ndarray,
    limit: float = np.inf,
    region: Region | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every node to the nearest facility, and which one it is.

    The same single search as :func:`node_distances` (same distances, to the
    last bit), asked for its predecessors too. Following them from a node
    back to the virtual source ends at the edge end where the path joined
    the network; the facility whose access point gave that join its weight
    is the node's nearest.

    Parameters
    ----------
    net
        The indexed network.
    facilities
        Snapped access points of one category's facilities (unsnapped ones
        are ignored).
    owner
        Shape (len(facilities),): the facility (any non-negative id, e.g.
        its row) each access point belongs to; a facility may have several.
    limit
        Stop the search at this distance.
    region
        Search only this part of the network, as in :func:`node_distances`.

    Returns
    -------
    dist : numpy.ndarray
        Shape (n,), as :func:`node_distances`: ``inf`` beyond ``limit`` or
        outside ``region``.
    nearest : numpy.ndarray
        Shape (n,), int64: the owner id of a nearest facility, -1 where
        ``dist`` is ``inf``. Of access points joining one edge end at the
        same weight, the lowest owner id wins; other ties go to the facility
        the search settles first. Either way the same input gives the same
        answer.
    """
    owner = _owner_ids(owner, facilities)
    dist_out = np.full(net.n, np.inf)
    own_out = np.full(net.n, -1, dtype=np.int64)
    if not facilities.ok.any():
        return dist_out, own_out
    targets, weights = source_weights(net, facilities)
    snapped_owner = owner[facilities.ok]
    owners = np.concatenate([snapped_owner, snapped_owner])
    if region is None:
        csr, nodes = net.csr, slice(None)
    else:
        csr, nodes = region.csr, region.nodes
        targets = region.local[targets]
        inside = targets >= 0
        targets, weights, owners = targets[inside], weights[inside], owners[inside]
    targets, weights, owners = _lightest_joins(targets, weights, owners)
    k = csr.shape[0] - 1
    dist, pred = csgraph.dijkstra(
        with_source(csr, targets, weights), directed=True, indices=k, limit=limit,
        return_predecessors=True,
    )
    dist, pred = dist[:k], pred[:k]
    root_owner = np.full(k, -1, dtype=np.int64)
    root_owner[targets] = owners
    nearest = root_owner[_roots(pred, k)]
    nearest[~np.isfinite(dist)] = -1
    dist_out[nodes] = dist
    own_out[nodes] = nearest
    return dist_out, own_out


def _lightest_joins(
    targets: np.ndarray, weights: np.ndarray, owners: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One join per edge end, the lightest (lowest owner on a tie), as
    :func:`~lifecircle.core.network.with_source` keeps: so that each root of the
    path tree has one facility."""
    order = np.lexsort((owners, weights, targets))
    targets, weights, owners = targets[order], weights[order], owners[order]
    first = np.ones(len(targets), dtype=bool)
    first[1:] = targets[1:] != targets[:-1]
    return targets[first], weights[first], owners[first]


def _roots(pred: np.ndarray, source: int) -> np.ndarray:
    """The root of every node in a shortest-path tree (itself if unreached).

    Pointer jumping: every node's pointer doubles its reach each round, so
    a tree of depth D is resolved in log2(D) vectorised rounds rather than
    a Python walk per node. Roots (joined straight to ``source``) and
    unreached nodes point at themselves.
    """
    up = np.where((pred == source) | (pred < 0), np.arange(len(pred)), pred)
    while True:
        nxt = up[up]
        if np.array_equal(nxt, up):
            return up
        up = nxt


def point_distances(
    net: StreetNetwork,
    node_dist: np.ndarray,
    origins: Snapped,
    facilities: Snapped,
    limit: float = np.inf,
) -> np.ndarray:
    """Distance (metres) from each origin to the nearest facility.

    Parameters
    ----------
    net
        The indexed network.
    node_dist
        :func:`node_distances` for these facilities.
    origins
        Snapped origins (homes, community centres); unsnapped ones get NaN.
    facilities
        The same snapped facilities, for the shared-edge case.
    limit
        Distances beyond this become ``inf``.

    Returns
    -------
    numpy.ndarray
        Shape (len(origins),); ``inf`` beyond ``limit``, NaN if unsnapped.
    """
    return _points(net, node_dist, None, origins, facilities, None, limit)[0]


def nearest_point_facilities(
    net: StreetNetwork,
    node_dist: np.ndarray,
    node_owner: np.ndarray,
    origins: Snapped,
    facilities: Snapped,
    owner: np.ndarray,
    limit: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each origin to the nearest facility, and which one it is.

    Parameters
    ----------
    net
        The indexed network.
    node_dist, node_owner
        :func:`nearest_node_facilities` for these facilities.
    origins
        Snapped origins (homes, community centres).
    facilities
        The same snapped access points, for the shared-edge case.
    owner
        The same owner ids, one per access point.
    limit
        Distances beyond this become ``inf``.

    Returns
    -------
    dist : numpy.ndarray
        Shape (len(origins),), equal to :func:`point_distances`: ``inf``
        beyond ``limit``, NaN if unsnapped.
    nearest : numpy.ndarray
        Shape (len(origins),), int64: the owner id of a nearest facility, -1
        where ``dist`` is ``inf`` or NaN. Ties go to the edge's ``u`` end
        before its ``v`` end, to either end before a facility on the
        origin's own edge, and among those to the first access point in
        ``facilities``.
    """
    owner = _owner_ids(owner, facilities)
    return _points(net, node_dist, node_owner, origins, facilities, owner, limit)


def _points(
    net: StreetNetwork,
    node_dist: np.ndarray,
    node_owner: np.ndarray | None,
    origins: Snapped,
    facilities: Snapped,
    owner: np.ndarray | None,
    limit: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Origins' distances, and their nearest owners when ``owner`` is given.

    One body for :func:`point_distances` and
    :func:`nearest_point_facilities`, so that their distances cannot drift
    apart.
    """
    want = owner is not None
    out = np.full(len(origins), np.nan)
    out_own = np.full(len(origins), -1, dtype=np.int64) if want else None
    ok = origins.ok
    e, b, h = origins.edge[ok], origins.offset[ok], origins.leg[ok]
    to_u = node_dist[net.eu[e]] + b
    to_v = node_dist[net.ev[e]] + net.length[e] - b
    via_nodes = np.minimum(to_u, to_v)
    best = via_nodes + h
    if want:
        own = np.where(to_v < to_u, node_owner[net.ev[e]], node_owner[net.eu[e]])

    # an origin on a facility's own edge may reach it without passing a node
    f = facilities.subset(facilities.ok)
    shared = np.isin(e, f.edge)
    if shared.any():
        order = np.argsort(f.edge, kind="stable")
        site_edge, site_offset, site_leg = f.edge[order], f.offset[order], f.leg[order]
        site_owner = owner[facilities.ok][order] if want else None
        for i in np.flatnonzero(shared):
            lo, hi = np.searchsorted(site_edge, [e[i], e[i] + 1])
            along = np.abs(site_offset[lo:hi] - b[i]) + site_leg[lo:hi]
            j = int(np.argmin(along))
            direct = along[j] + h[i]
            if direct < best[i]:
                best[i] = direct
                if want:
                    own[i] = site_owner[lo + j]
    far = best > limit
    best[far] = np.inf
    out[ok] = best
    if want:
        own[far | ~np.isfinite(best)] = -1
        out_own[ok] = own
    return out, out_own


#: Origins per Dijkstra call in :func:`origin_node_distances`: its dense
#: output is 2 x chunk x n floats, which on a large network costs more in page
#: faults and memory than in search.
ORIGIN_CHUNK = 16


def origin_node_distances(
    net: StreetNetwork, origins: Snapped, limit: float, chunk: int = ORIGIN_CHUNK
) -> np.ndarray:
    """Distances from each snapped origin to every node, bounded by ``limit``.

    Each origin's distance to a node is the better of leaving its edge by the
    u end (``offset + leg``) or the v end (``L - offset + leg``). Dijkstra
    runs ``chunk`` origins at a time.

    Returns
    -------
    numpy.ndarray
        Shape (len(origins), n); ``inf`` beyond ``limit`` or when unsnapped.
    """
    out = np.full((len(origins), net.n), np.inf)
    for rows, block in origin_node_blocks(net, origins, limit, chunk):
        out[rows] = block
    return out


def origin_node_blocks(
    net: StreetNetwork, origins: Snapped, limit: float, chunk: int = ORIGIN_CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`origin_node_distances`, ``chunk`` snapped origins at a time.

    The one place origins are chunked: a caller that needs each origin's
    row only briefly (an isochrone) holds ``chunk`` rows of ``n`` floats
    rather than all of them.

    Yields
    ------
    rows : numpy.ndarray
        Positions in ``origins`` of this chunk's snapped origins, ascending.
    block : numpy.ndarray
        Shape (len(rows), n): their distances to every node, ``inf`` beyond
        ``limit``.
    """
    n = net.n
    idx = np.flatnonzero(origins.ok)
    for start in range(0, len(idx), chunk):
        rows = idx[start : start + chunk]
        e = origins.edge[rows]
        to_u = origins.offset[rows] + origins.leg[rows]
        to_v = net.length[e] - origins.offset[rows] + origins.leg[rows]
        ends, inv = np.unique(np.concatenate([net.eu[e], net.ev[e]]), return_inverse=True)
        d = csgraph.dijkstra(net.csr, directed=True, indices=ends, limit=limit)
        k = len(rows)
        block = d[inv[:k], :n]
        block += to_u[:, None]
        other = d[inv[k:], :n]
        other += to_v[:, None]
        np.minimum(block, other, out=block)
        block[block > limit] = np.inf
        yield rows, block


@dataclass
class PathTree:
    """Shortest paths from one snapped point: Dijkstra from both ends of its edge.

    ``dist[k]`` and ``pred[k]`` are the search from end ``k`` (0 = the
    edge's u, 1 = its v); ``to_end[k]`` the walk from the point to that end.
    """

    edge: int
    offset: float
    leg: float
    to_end: np.ndarray
    dist: np.ndarray
    pred: np.ndarray


def path_tree(net: StreetNetwork, origin: Snapped, limit: float) -> PathTree:
    """Bounded shortest paths from one snapped point (``origin`` of length 1, snapped)."""
    e, b = int(origin.edge[0]), float(origin.offset[0])
    ends = [int(net.eu[e]), int(net.ev[e])]
    dist, pred = csgraph.dijkstra(net.csr, directed=True, indices=ends, limit=limit, return_predecessors=True)
    return PathTree(e, b, float(origin.leg[0]), np.array([b, net.length[e] - b]), dist[:, : net.n],
                    pred[:, : net.n])


def _along(net: StreetNetwork, edge: int, start: float, end: float) -> np.ndarray:
    """Coordinates of ``edge`` from offset ``start`` to ``end`` (metres along
    it, as ``length`` counts them; reversed when ``end < start``)."""
    full = float(net.length[edge])
    if full > 0 and {start, end} == {0.0, full}:
        # a whole street: its vertices as they are (what substring gives, without its Python loop)
        v = net.vertices
        xy = v.xy[v.start[edge]: v.start[edge + 1]]
        return xy if start == 0.0 else xy[::-1]
    scale = net.geom_length[edge] / net.length[edge] if net.length[edge] > 0 else 0.0
    piece = substring(net.geoms[edge], start * scale, end * scale)
    return shapely.get_coordinates(piece)


def route(net: StreetNetwork, tree: PathTree, goal: Snapped) -> tuple[float, np.ndarray] | None:
    """The shortest walk from the tree's point to the nearest of ``goal``'s points.

    Parameters
    ----------
    net
        The indexed network.
    tree
        From :func:`path_tree`.
    goal
        Snapped points of one facility (its access points).

    Returns
    -------
    (metres, coordinates) or None
        The walk's length from the origin point to the goal point, legs
        included (as :func:`point_distances` counts it), and the street
        line from the origin's snapped position to the goal's; None when no
        goal point is within the tree's limit.
    """
    g = goal.subset(goal.ok)
    if len(g) == 0:
        return None
    # each goal point is entered from either end of its edge, from either end of the origin's
    ge = np.stack([net.eu[g.edge], net.ev[g.edge]])                      # (2 goal ends, m)
    ga = np.stack([g.offset, net.length[g.edge] - g.offset])             # walk from that end to the point
    total = tree.to_end[:, None, None] + tree.dist[:, ge] + ga[None] + g.leg[None, None]  # (2, 2, m)
    k, m, j = np.unravel_index(int(np.argmin(total)), total.shape)
    best = float(total[k, m, j])
    same = np.flatnonzero(g.edge == tree.edge)
    direct = np.abs(g.offset[same] - tree.offset) + g.leg[same]
    if len(same) and direct.min() <= best:
        j = int(same[np.argmin(direct)])
        line = _along(net, tree.edge, tree.offset, float(g.offset[j]))
        return float(direct.min()) + tree.leg, line
    if not np.isfinite(best):
        return None
    start = int(net.eu[tree.edge] if k == 0 else net.ev[tree.edge])
    nodes = [int(ge[m, j])]
    while nodes[-1] != start:
        nodes.append(int(tree.pred[k, nodes[-1]]))
    nodes.reverse()
    parts = [_along(net, tree.edge, tree.offset, 0.0 if k == 0 else float(net.length[tree.edge]))]
    for a, e in zip(nodes[:-1], net.edges_between(nodes[:-1], nodes[1:]).tolist()):
        forward = int(net.eu[e]) == a
        parts.append(_along(net, e, 0.0, float(net.length[e])) if forward
                     else _along(net, e, float(net.length[e]), 0.0))
    ends = (0.0, float(g.offset[j])) if m == 0 else (float(net.length[g.edge[j]]), float(g.offset[j]))
    parts.append(_along(net, int(g.edge[j]), *ends))
    return best + tree.leg, np.concatenate(parts)

"""Edit a walk network's arrays: open new walkways, close streets.

A what-if changes a few streets of a network that may hold hundreds of
thousands: the edited :class:`~lifecircle.core.network.StreetNetwork` is
made from the arrays of the original, not rebuilt from OSM. Closed edges are
dropped; a walkway gets new nodes where it joins a street, the street edge
it joins is split there into pieces (their lengths in proportion to the
original's, so offsets along the street agree with ``length``), and the
walkway itself becomes edges between its joins. Surviving edges keep their
order and new ones follow, so snapping ties and search results of untouched
places stay as they were; :meth:`NetworkEdits.carry` moves homes and
facilities on a split street onto its pieces, so that a walkway only adds
ways to walk and never lengthens a walk.

A walkway joins the network at its two ends (each to the nearest street
within ``settings.walkway_join_m``) and, unless it is a bridge or an
underpass, wherever it crosses a street and at dead ends it passes within
that tolerance. A join off the walkway's line gets a short straight
connector edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from shapely.ops import substring

from ..core.engine import Snapped
from ..core.network import StreetNetwork, _symmetric_csr

# Points closer than this (metres) are one place: a walkway drawn through a
# street corner joins the corner's node rather than a 1 mm stub.
_SAME_M = 0.01


@dataclass
class Walkway:
    """A walkway to add: its line (network CRS), name, and whether it is a bridge."""

    row: int
    line: shapely.LineString
    name: str = ""
    bridge: bool = False


@dataclass
class NetworkEdits:
    """The edited network and what the edits touched.

    Attributes
    ----------
    net
        The edited network.
    old_edge
        For every edge of the original network, its index in ``net``, or -1
        when it was closed or split.
    new_edges
        Indices in ``net`` of the edges that did not exist before (walkway
        pieces, connectors, pieces of split streets).
    closed
        Original edge indices closed, per scenario row.
    joins
        Number of places each walkway (by row) joined the network.
    """

    net: StreetNetwork
    old_edge: np.ndarray
    new_edges: np.ndarray
    closed: dict[int, np.ndarray] = field(default_factory=dict)
    joins: dict[int, int] = field(default_factory=dict)
    # edge of the edit's working index (original edges, then every edge added) -> index in ``net``, -1 if gone
    final: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)
    pieces: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def carry(self, snapped: Snapped) -> Snapped:
        """Points snapped on the original network, placed on the edited one.

        A point on a split street moves to the piece holding its offset (the
        same place: its walks are unchanged); a point on a closed street, or
        one that was not snapped, gets edge -1: it has to be snapped again.
        """
        edge = np.where(snapped.ok, snapped.edge, -1).astype(np.int64)
        offset = snapped.offset.copy()
        todo = np.flatnonzero(np.isin(edge, list(self.pieces)))
        while len(todo):  # a piece may itself have been split by a later walkway
            for e in np.unique(edge[todo]):
                at = todo[edge[todo] == e]
                starts, pieces = self.pieces[int(e)]
                k = np.clip(np.searchsorted(starts, offset[at], side="right") - 1, 0, len(pieces) - 1)
                offset[at] = offset[at] - starts[k]
                edge[at] = pieces[k]
            todo = todo[np.isin(edge[todo], list(self.pieces))]
        out = np.where(edge >= 0, self.final[np.maximum(edge, 0)], -1)
        length = self.net.length[np.maximum(out, 0)]
        offset = np.clip(offset, 0.0, length)
        return Snapped(out, np.where(out >= 0, offset, 0.0), np.where(out >= 0, snapped.leg, np.nan))

    @property
    def touched(self) -> np.ndarray:
        """Geometries of every changed place: new edges and closed or split edges."""
        return self.net.geoms[self.new_edges]


class _Builder:
    """Edges of the original network plus those added, with an alive flag each."""

    def __init__(self, net: StreetNetwork, next_id: int):
        self.net = net
        m = len(net.eu)
        self.m0 = m
        self.alive = np.ones(m, dtype=bool)
        self.xy = [net.xy]
        self.n = net.n
        self.ids: list[int] = []
        self.next_id = next_id
        # added edges: u, v, length, geometry, graph attributes
        self.added: list[tuple[int, int, float, shapely.LineString, dict]] = []
        self.added_alive: list[bool] = []
        # a split edge -> (offset where each piece starts, in ``length`` units; the pieces)
        self.pieces: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # -- lookup
    def geom(self, e: int) -> shapely.LineString:
        return self.net.geoms[e] if e < self.m0 else self.added[e - self.m0][3]

    def ends(self, e: int) -> tuple[int, int]:
        if e < self.m0:
            return int(self.net.eu[e]), int(self.net.ev[e])
        return self.added[e - self.m0][0], self.added[e - self.m0][1]

    def length(self, e: int) -> float:
        return float(self.net.length[e]) if e < self.m0 else self.added[e - self.m0][2]

    def node_xy(self, i: int) -> np.ndarray:
        return self.net.xy[i] if i < self.net.n else self.xy[1 + i - self.net.n]

    def near(self, geom: shapely.Geometry, dist: float) -> np.ndarray:
        """Alive edges within ``dist`` of ``geom``, by index."""
        old = self.net.tree.query(geom, predicate="dwithin", distance=dist)
        old = np.sort(old[self.alive[old]])
        if self.added:
            geoms = np.array([a[3] for a in self.added], dtype=object)
            ok = np.array(self.added_alive) & shapely.dwithin(geoms, geom, dist)
            old = np.concatenate([old, self.m0 + np.flatnonzero(ok)])
        return old.astype(np.int64)

    # -- changes
    def new_node(self, point: np.ndarray) -> int:
        self.xy.append(np.asarray(point, dtype=float))
        self.ids.append(self.next_id)
        self.next_id -= 1
        self.n += 1
        return self.n - 1

    def add_edge(self, u: int, v: int, length: float, geom: shapely.LineString, attrs: dict | int) -> int:
        self.added.append((u, v, float(length), geom, attrs))
        self.added_alive.append(True)
        return self.m0 + len(self.added) - 1

    def kill(self, e: int) -> None:
        if e < self.m0:
            self.alive[e] = False
        else:
            self.added_alive[e - self.m0] = False

    def split(self, e: int, at: list[float]) -> list[int]:
        """Split edge ``e`` at geometry distances ``at``; return the node at each."""
        g = self.geom(e)
        glen = g.length
        u, v = self.ends(e)
        length = self.length(e)
        nodes, cuts = [], [0.0]
        for d in at:
            if d <= _SAME_M:
                nodes.append(u)
            elif d >= glen - _SAME_M:
                nodes.append(v)
            else:
                nodes.append(-1)
                cuts.append(d)
        cuts = sorted(set(cuts))
        if len(cuts) == 1:
            return nodes
        made = {d: self.new_node(shapely.get_coordinates(g.interpolate(d))[0]) for d in cuts[1:]}
        stops = cuts + [glen]
        ends = [u] + [made[d] for d in cuts[1:]] + [v]
        scale = length / glen if glen > 0 else 0.0
        attrs = self.attrs(e)
        made_edges = [self.add_edge(na, nb, (b - a) * scale, substring(g, a, b), attrs)
                      for a, b, na, nb in zip(stops[:-1], stops[1:], ends[:-1], ends[1:])]
        self.pieces[e] = (np.array(cuts) * scale, np.array(made_edges, dtype=np.int64))
        self.kill(e)
        return [made[d] if n == -1 else n for d, n in zip(at, nodes)]

    def attrs(self, e: int) -> dict | int:
        """Graph attributes of an edge (a split piece keeps its street's): a dict, or
        the original edge whose attributes to copy when the graph is built (the graph
        is only built when asked for: :func:`_piece_attrs`)."""
        if e >= self.m0:
            attrs = self.added[e - self.m0][4]
            return attrs if isinstance(attrs, int) else dict(attrs)
        return int(e)


def _piece_attrs(net: StreetNetwork, attrs: dict | int) -> dict:
    """The graph attributes of an added edge: given, or those of original edge ``attrs``."""
    if not isinstance(attrs, int):
        return attrs
    data = _edge_data(net, attrs)
    return {k: v for k, v in data.items() if k not in ("geometry", "length", "reversed")} if data else {}


def _edge_data(net: StreetNetwork, e: int) -> dict | None:
    """The graph's attributes of edge ``e`` (the parallel edge of its length)."""
    u, v = int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])
    found = net.graph.get_edge_data(u, v) or {}
    for d in found.values():
        if d.get("length") == net.length[e]:
            return d
    return next(iter(found.values()), None)


def edge_way_ids(net: StreetNetwork, edges: np.ndarray) -> list[set[int]]:
    """OSM way ids of each edge (a simplified edge may carry several)."""
    out = []
    for e in edges:
        osmid = (_edge_data(net, int(e)) or {}).get("osmid", [])
        ids = osmid if isinstance(osmid, (list, tuple, set)) else [osmid]
        out.append({int(i) for i in ids if _is_int(i)})
    return out


def _is_int(x) -> bool:
    try:
        int(x)
    except (TypeError, ValueError):
        return False
    return True


def streets_along(net: StreetNetwork, line: shapely.Geometry, tol: float) -> np.ndarray:
    """Edges lying along ``line``: at least half of each (and more than twice
    ``tol`` of it, or all of it) within ``tol`` of the line, so that a cross
    street merely touching the line stays open."""
    band = shapely.buffer(line, tol)
    cand = net.tree.query(band, predicate="intersects")
    geoms = net.geoms[cand]
    inside = shapely.length(shapely.intersection(geoms, band))
    whole = shapely.length(geoms)
    hit = (inside >= 0.5 * whole) & ((inside > 2 * tol) | (inside >= whole - _SAME_M))
    return np.sort(cand[hit])


def _crossings(walk: shapely.LineString, street: shapely.LineString) -> list[shapely.Point]:
    """Points where a walkway crosses a street (the ends of a shared stretch)."""
    inter = shapely.intersection(walk, street)
    pts = []
    for part in shapely.get_parts(inter):
        if part.is_empty:
            continue
        if part.geom_type == "Point":
            pts.append(part)
        elif part.geom_type == "LineString":
            pts.extend([shapely.Point(part.coords[0]), shapely.Point(part.coords[-1])])
    return pts


def _joins(b: _Builder, w: Walkway, tol: float, degree: np.ndarray) -> list[tuple[float, shapely.Point, int, float]]:
    """Where a walkway joins: (distance along it, point on it, street edge,
    distance along the street's geometry)."""
    line = w.line
    total = line.length
    out = []
    cand = b.near(line, tol)
    ends = [(0.0, shapely.Point(line.coords[0])), (total, shapely.Point(line.coords[-1]))]
    for pos, p in ends:
        near = [e for e in cand if shapely.distance(b.geom(e), p) <= tol]
        if near:
            dist = [shapely.distance(b.geom(e), p) for e in near]
            e = near[int(np.argmin(dist))]  # first of equals: the lowest index
            out.append((pos, p, e, b.geom(e).project(p)))
    if w.bridge:
        return out
    joined_ends = {pos for pos, *_ in out}
    for e in cand:
        g = b.geom(e)
        for p in _crossings(line, g):
            pos = line.project(p)
            if any(abs(pos - q) <= tol for q in joined_ends):
                continue  # the end's own join
            out.append((pos, p, e, g.project(p)))
        # a dead end the walkway passes by
        for node, d_e in zip(b.ends(e), (0.0, g.length)):
            if node < len(degree) and degree[node] == 1:
                q = shapely.Point(b.node_xy(node))
                pos = line.project(q)
                if shapely.distance(line, q) <= tol and all(abs(pos - x[0]) > tol for x in out):
                    out.append((pos, line.interpolate(pos), e, d_e))
    return out


def _add_walkway(b: _Builder, w: Walkway, tol: float, degree: np.ndarray) -> int:
    """Join one walkway into the network; return how many places it joined."""
    joins = _joins(b, w, tol, degree)
    # split every street at its joins at once (a curved street may be crossed twice)
    street_node: dict[int, int] = {}
    by_edge: dict[int, list[int]] = {}
    for k, (_, _, e, _) in enumerate(joins):
        by_edge.setdefault(e, []).append(k)
    for e, ks in sorted(by_edge.items()):
        for k, node in zip(ks, b.split(e, [joins[k][3] for k in ks])):
            street_node[k] = node
    line = w.line
    total = line.length
    stops = sorted({0.0, total, *(j[0] for j in joins)})
    merged: list[float] = []
    for s in stops:  # one walkway node per place
        if not merged or s - merged[-1] > _SAME_M:
            merged.append(s)
    if total - merged[-1] > 0:
        merged[-1] = total
    walk_node: dict[float, int] = {}
    for k, (pos, _, _, _) in enumerate(joins):
        at = min(merged, key=lambda s: abs(s - pos))
        node = street_node[k]
        if at not in walk_node and np.hypot(*(b.node_xy(node) - shapely.get_coordinates(line.interpolate(at))[0])) \
                <= _SAME_M:
            walk_node[at] = node
    attrs = {"highway": "footway", "name": w.name, "osmid": -w.row, "scenario_row": w.row,
             "bridge": "yes" if w.bridge else "no"}
    for s in merged:
        if s not in walk_node:
            walk_node[s] = b.new_node(shapely.get_coordinates(line.interpolate(s))[0])
    for a, c in zip(merged[:-1], merged[1:]):
        piece = substring(line, a, c)
        b.add_edge(walk_node[a], walk_node[c], piece.length, piece, attrs)
    for k, (pos, _, _, _) in enumerate(joins):
        at = min(merged, key=lambda s: abs(s - pos))
        a, c = walk_node[at], street_node[k]
        if a != c:  # a join off the walkway's line: a straight connector
            seg = shapely.LineString([b.node_xy(a), b.node_xy(c)])
            b.add_edge(a, c, seg.length, seg, attrs)
    return len(joins)


def edit_network(net: StreetNetwork, closed: dict[int, np.ndarray], walkways: list[Walkway],
                 tol: float) -> NetworkEdits:
    """Close edges, then add walkways (in order: a later one joins an earlier one where they cross).

    Parameters
    ----------
    net
        The network to edit (left unchanged).
    closed
        Scenario row -> original edge indices to close.
    walkways
        Walkways to add, in the network's CRS.
    tol
        Join tolerance (metres).

    Returns
    -------
    NetworkEdits
        ``joins`` says, per walkway row, how many places it joined (0: it
        touches no street; the caller decides what that means).
    """
    start = min(int(net.nodes.min()), 0) - 1
    b = _Builder(net, start)
    for edges in closed.values():
        b.alive[edges] = False
    joins = {}
    for w in walkways:
        degree = np.bincount(np.concatenate([net.eu[b.alive], net.ev[b.alive]]), minlength=net.n)
        joins[w.row] = _add_walkway(b, w, tol, degree)
    return _finish(b, closed, joins)


def _finish(b: _Builder, closed: dict[int, np.ndarray], joins: dict[int, int]) -> NetworkEdits:
    """Arrays, CSR, tree and graph of the edited network."""
    net = b.net
    keep = np.flatnonzero(b.alive)
    added = [a for a, ok in zip(b.added, b.added_alive) if ok]
    old_edge = np.full(b.m0, -1, dtype=np.int64)
    old_edge[keep] = np.arange(len(keep))
    eu = np.concatenate([net.eu[keep], np.array([a[0] for a in added], dtype=np.int64)])
    ev = np.concatenate([net.ev[keep], np.array([a[1] for a in added], dtype=np.int64)])
    length = np.concatenate([net.length[keep], np.array([a[2] for a in added], dtype=float)])
    geoms = np.concatenate([net.geoms[keep], np.array([a[3] for a in added] + [None], dtype=object)[:-1]])
    xy = np.vstack(b.xy)
    nodes = np.concatenate([net.nodes, np.array(b.ids, dtype=np.int64)])
    geom_len = shapely.length(geoms)
    gone = ~b.alive
    edited = StreetNetwork(
        # the osmnx-style graph only when asked for: building the original's is most of a what-if on a city
        graph=None, graph_source=lambda: _edited_graph(net, gone, added, nodes, xy),
        nodes=nodes, xy=xy, eu=eu, ev=ev, length=length, geoms=geoms,
        geom_length=np.where(geom_len > 0, geom_len, 1.0),
        csr=_symmetric_csr(eu, ev, length, len(nodes) + 1), tree=shapely.STRtree(geoms),
    )
    final = np.full(b.m0 + len(b.added), -1, dtype=np.int64)
    final[keep] = np.arange(len(keep))
    final[b.m0 + np.flatnonzero(b.added_alive)] = np.arange(len(keep), len(eu))
    return NetworkEdits(edited, old_edge, np.arange(len(keep), len(eu)), closed, joins, final, b.pieces)


def _shared_copy(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy of ``G`` that shares its node and edge attribute dicts and, until
    :func:`_own` is called for them, its adjacency dicts.

    ``G.copy()`` copies every edge's attributes: seconds on a city-sized
    graph, for a what-if that changes a few streets. Uses networkx's
    adjacency dicts (``_node``, ``_succ``/``_adj``, ``_pred``; networkx 3):
    a MultiDiGraph holds one key dict per node pair, shared by ``_succ[u][v]``
    and ``_pred[v][u]``.
    """
    H = G.__class__()
    H.graph.update(G.graph)
    H._node = dict(G._node)
    H._adj = dict(G._adj)  # also H._succ
    H._pred = dict(G._pred)
    return H


def _own(H: nx.MultiDiGraph, G: nx.MultiDiGraph, u, v) -> None:
    """Give ``H`` its own dicts for the node pair (u, v) before it changes there."""
    if u in G._succ and H._succ[u] is G._succ[u]:
        H._succ[u] = dict(G._succ[u])
    if v in G._pred and H._pred[v] is G._pred[v]:
        H._pred[v] = dict(G._pred[v])
    keys = H._succ.get(u, {}).get(v)
    if keys is not None and keys is G._succ.get(u, {}).get(v):
        H._succ[u][v] = H._pred[v][u] = dict(keys)


def _edited_graph(net: StreetNetwork, gone: np.ndarray, added: list, nodes: np.ndarray,
                  xy: np.ndarray) -> nx.MultiDiGraph:
    """The osmnx-style graph with the same edits (both directions of each street).

    It shares the attribute dicts of the streets it keeps with the original
    graph: change an attribute of one and the other sees it.
    """
    G = _shared_copy(net.graph)
    for e in np.flatnonzero(gone):
        u, v = int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])
        for a, c in ((u, v), (v, u)):
            _own(G, net.graph, a, c)
            data = G.get_edge_data(a, c) or {}
            key = next((k for k, d in data.items() if d.get("length") == net.length[e]), None)
            if key is not None:
                G.remove_edge(a, c, key)
    for i in range(net.n, len(nodes)):
        G.add_node(int(nodes[i]), x=float(xy[i, 0]), y=float(xy[i, 1]))
    for u, v, length, geom, attrs in added:
        attrs = _piece_attrs(net, attrs)
        a, c = int(nodes[u]), int(nodes[v])
        _own(G, net.graph, a, c)
        _own(G, net.graph, c, a)
        G.add_edge(a, c, **attrs, length=length, geometry=geom, reversed=False)
        G.add_edge(c, a, **attrs, length=length, geometry=shapely.reverse(geom), reversed=True)
    return G

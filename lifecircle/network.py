"""The walk network: build it as osmnx does, project it, and index it.

:func:`build_walk_graph` makes an osmnx-compatible MultiDiGraph from way
pieces; :class:`StreetNetwork` is the projected graph flattened into numpy
arrays (one row per street edge) plus a CSR matrix and a spatial index, built
once and shared by snapping, shortest paths and isochrones.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby, pairwise
from typing import Any, Iterable

import networkx as nx
import numpy as np
import osmnx as ox
import scipy.sparse as sp
import shapely

from . import settings
from .errors import EmptyAreaError

# Way tags osmnx copies onto edges (osmnx.settings.useful_tags_way).
_EDGE_TAGS = tuple(ox.settings.useful_tags_way)

# csgraph treats an explicit zero as "no edge"; a zero-length edge (two OSM
# nodes at one spot) must still connect.
_ZERO = 1e-12


def build_walk_graph(
    ways: Iterable[dict[str, Any]], *, simplify: bool = True, retain_all: bool = False
) -> nx.MultiDiGraph:
    """Build an osmnx-style walk graph from way pieces.

    Mirrors ``osmnx.graph._create_graph`` for a bidirectional (walk)
    network: every consecutive node pair of a piece becomes an edge in both
    directions with ``osmid``, osmnx's useful way tags, ``oneway=False``,
    ``reversed`` and a great-circle ``length``; then the topology is
    simplified with ``osmnx.simplify_graph``.

    Parameters
    ----------
    ways
        Dicts with ``osmid``, ``tags`` and ``nodes`` as ``[(id, lon, lat)]``;
        a clipped way arrives as several pieces with the same ``osmid``.
    simplify
        Simplify the topology (osmnx's default).
    retain_all
        Keep every component; by default only the largest weakly connected
        one is kept, as osmnx does, so that points near a clipped edge of
        the extract do not snap onto a stranded fragment.

    Returns
    -------
    networkx.MultiDiGraph
        Unprojected (``crs`` EPSG:4326).
    """
    G = nx.MultiDiGraph(crs="EPSG:4326", created_with="lifecircle")
    for way in ways:
        nodes = [k for k, _ in groupby(way["nodes"])]
        for nid, lon, lat in nodes:
            G.add_node(nid, y=lat, x=lon)
        attrs = {k: way["tags"][k] for k in _EDGE_TAGS if k in way["tags"]}
        attrs["osmid"] = way["osmid"]
        attrs["oneway"] = False
        ids = [n[0] for n in nodes]
        G.add_edges_from(pairwise(ids), **attrs, reversed=False)
        G.add_edges_from(((v, u) for u, v in pairwise(ids)), **attrs, reversed=True)
    if G.number_of_edges() == 0:
        raise EmptyAreaError("no walkable streets in the study area")
    G = ox.distance.add_edge_lengths(G)
    if not retain_all:
        G = ox.truncate.largest_component(G, strongly=False)
    if simplify:
        G = ox.simplify_graph(G)
    return G


def project(G: nx.MultiDiGraph, crs: Any = None) -> nx.MultiDiGraph:
    """Project a graph to ``crs`` (default: settings, else local UTM)."""
    return ox.project_graph(G, to_crs=crs or settings.analysis_crs)


@dataclass
class StreetNetwork:
    """A projected walk graph as arrays, for fast shortest paths.

    Attributes
    ----------
    graph
        The projected MultiDiGraph.
    nodes
        OSM node ids; position = matrix index.
    xy
        Node coordinates (n, 2), metres.
    eu, ev
        Matrix indices of each street edge's end nodes (one row per street,
        not per direction).
    length
        Edge length in metres (osmnx's ``length``).
    geoms
        Edge LineStrings from u to v, projected.
    geom_length
        Projected length of each geometry (offsets are scaled by
        ``length / geom_length`` so they agree with ``length``).
    csr
        Symmetric adjacency with the shortest parallel edge per node pair,
        shape (n + 1, n + 1): the last row is left empty for a virtual source.
    tree
        STRtree over ``geoms``.
    """

    graph: nx.MultiDiGraph
    nodes: np.ndarray
    xy: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    length: np.ndarray
    geoms: np.ndarray
    geom_length: np.ndarray
    csr: sp.csr_matrix
    tree: shapely.STRtree

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def crs(self) -> Any:
        """The projected CRS."""
        return self.graph.graph["crs"]

    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph) -> "StreetNetwork":
        """Index a projected, osmnx-compatible walk graph."""
        if G.number_of_edges() == 0:
            raise EmptyAreaError("no walkable streets in the study area")
        nodes = np.array(sorted(G.nodes), dtype=np.int64)
        index = {n: i for i, n in enumerate(nodes.tolist())}
        xy = np.array([[G.nodes[n]["x"], G.nodes[n]["y"]] for n in nodes.tolist()], dtype=float)

        eu, ev, length, geoms = [], [], [], []
        for u, v, k, data in sorted(G.edges(keys=True, data=True), key=lambda e: e[:3]):
            # the walk graph holds each street in both directions; keep one
            if u > v and G.has_edge(v, u):
                continue
            if u == v and k != min(G[u][v]):
                continue
            iu, iv = index[u], index[v]
            geom = data.get("geometry")
            if geom is None:
                geom = shapely.LineString([xy[iu], xy[iv]])
            elif not np.allclose(geom.coords[0], xy[iu]):
                geom = shapely.reverse(geom)
            eu.append(iu)
            ev.append(iv)
            length.append(float(data["length"]))
            geoms.append(geom)
        eu_a, ev_a = np.array(eu, dtype=np.int64), np.array(ev, dtype=np.int64)
        length_a = np.array(length, dtype=float)
        geoms_a = np.array(geoms, dtype=object)
        geom_len = shapely.length(geoms_a)
        return cls(
            graph=G, nodes=nodes, xy=xy, eu=eu_a, ev=ev_a, length=length_a,
            geoms=geoms_a, geom_length=np.where(geom_len > 0, geom_len, 1.0),
            csr=_symmetric_csr(eu_a, ev_a, length_a, len(nodes) + 1),
            tree=shapely.STRtree(geoms_a),
        )

    def with_source(self, targets: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
        """Return the CSR matrix with a virtual source (index ``n``) joined
        to ``targets`` at ``weights`` (the shortest per target is kept)."""
        order = np.lexsort((weights, targets))
        t, w = targets[order], weights[order]
        first = np.ones(len(t), dtype=bool)
        first[1:] = t[1:] != t[:-1]
        t, w = t[first], np.maximum(w[first], _ZERO)
        csr = self.csr
        indptr = csr.indptr.copy()
        indptr[-1] += len(t)
        return sp.csr_matrix(
            (np.concatenate([csr.data, w]), np.concatenate([csr.indices, t]), indptr),
            shape=csr.shape,
        )


def _symmetric_csr(eu: np.ndarray, ev: np.ndarray, w: np.ndarray, size: int) -> sp.csr_matrix:
    """CSR of an undirected graph keeping the lightest of parallel edges."""
    rows = np.concatenate([eu, ev])
    cols = np.concatenate([ev, eu])
    wts = np.maximum(np.concatenate([w, w]), _ZERO)
    loops = rows == cols
    rows, cols, wts = rows[~loops], cols[~loops], wts[~loops]
    order = np.lexsort((wts, cols, rows))
    rows, cols, wts = rows[order], cols[order], wts[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    # coo -> csr would add duplicates together; they are removed above
    return sp.csr_matrix((wts[first], (rows[first], cols[first])), shape=(size, size))

"""The walk network: build it as osmnx does, project it, and index it.

:func:`build_walk_graph` makes an osmnx-compatible MultiDiGraph from way
pieces; :class:`StreetNetwork` is the projected graph flattened into numpy
arrays (one row per street edge) plus a CSR matrix and a spatial index, built
once and shared by snapping, shortest paths and isochrones.

:func:`build_walk_network` makes the same network straight from the way
pieces with numpy (:class:`WalkNetwork`), and
:meth:`StreetNetwork.from_walk` indexes it without a networkx graph: the
graph is built only when someone reads ``graph``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from .. import settings
from ..errors import EmptyAreaError, OutputError
from ..sources.coords import local_utm
from .lazy import LazyGraph, graph_is_built  # noqa: F401 (graph_is_built: re-exported)
from .pieces import WalkPieces  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # networkx only where a graph is built: it costs every run's start-up
    import networkx as nx

# An edge geometry starting within this many metres of node u starts at u.
_SAME_POINT_M = 0.01

# Way tags osmnx copies onto edges (osmnx.settings.useful_tags_way).

# csgraph treats an explicit zero as "no edge"; a zero-length edge (two OSM
# nodes at one spot) must still connect.
_ZERO = 1e-12


def edge_name(value: object) -> str:
    """An edge's street name ("" if none).

    A simplified edge may carry a list of names; osmnx builds it from a set,
    so its order changes between runs: the alphabetically first is taken.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        names = sorted(v.strip() for v in value if isinstance(v, str) and v.strip())
        return names[0] if names else ""
    return ""


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
    import networkx as nx
    import osmnx as ox  # only this (networkx) route and exports need it

    edge_tags = tuple(ox.settings.useful_tags_way)
    G = nx.MultiDiGraph(crs="EPSG:4326", created_with="lifecircle")
    for way in ways:
        nodes = [k for k, _ in groupby(way["nodes"])]
        for nid, lon, lat in nodes:
            G.add_node(nid, y=lat, x=lon)
        attrs = {k: way["tags"][k] for k in edge_tags if k in way["tags"]}
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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block.

    Making a city's worth of shapely geometries (acyclic objects) otherwise
    sets off collections that walk the whole heap, again and again: 3 s
    instead of 0.2 s for 140,000 street lines after reading a 75,000-node
    extract.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


#: File suffixes :func:`save_graph` writes, and the format of each.
GRAPH_FORMATS = {".graphml": "GraphML", ".gpkg": "GeoPackage"}


def check_graph_path(path: str | Path) -> Path:
    """``path`` as a Path if :func:`save_graph` can write it (checked before a long run).

    Raises
    ------
    OutputError
        The suffix is neither .graphml nor .gpkg.
    """
    path = Path(path)
    if path.suffix.lower() not in GRAPH_FORMATS:
        raise OutputError(f"cannot write the walk network to {path}: give a .graphml or .gpkg file name")
    return path


def save_graph(G: nx.MultiDiGraph, path: str | Path) -> Path:
    """Write an osmnx graph as GraphML (``osmnx.save_graphml``) or GeoPackage
    (``osmnx.save_graph_geopackage``: layers nodes and edges, one edge per
    street), chosen by the suffix, all at once: a failure leaves no file.

    List attributes of merged streets (several names or way ids) are sorted
    first: osmnx builds them from sets, and one input should give one file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputError
        Bad suffix, or the file cannot be written (one line).
    """
    import osmnx as ox

    from ..fileio import staging_dir, writing

    path = check_graph_path(path)
    for _, _, d in G.edges(data=True):
        for k, v in d.items():
            if isinstance(v, list):
                d[k] = sorted(v, key=str)
    with staging_dir(path.parent) as stage, writing(stage / path.name):
        if path.suffix.lower() == ".graphml":
            ox.save_graphml(G, stage / path.name)
        else:
            ox.save_graph_geopackage(G, stage / path.name)
    return path


def project(G: nx.MultiDiGraph, crs: Any = None, *, copy: bool = True) -> nx.MultiDiGraph:
    """Project a graph's nodes and edge geometries to ``crs``.

    Same result as ``osmnx.project_graph`` (default: the local UTM zone;
    ``lon``/``lat`` kept on nodes), done with one pyproj call per array
    rather than through GeoDataFrames: 25x faster and no second copy of a
    large graph.

    Parameters
    ----------
    G
        An unprojected (or already projected) osmnx-style graph.
    crs
        Target CRS; default ``settings.analysis_crs`` or the local UTM zone.
    copy
        Project a copy; with False, ``G`` itself is changed (for a graph
        nobody else holds).
    """
    crs = crs or settings.analysis_crs
    src = pyproj.CRS.from_user_input(G.graph["crs"])
    if crs is None and src.is_projected:
        return G
    if copy:
        G = G.copy()
    nodes = list(G.nodes)
    xs = np.fromiter((G.nodes[n]["x"] for n in nodes), float, len(nodes))
    ys = np.fromiter((G.nodes[n]["y"] for n in nodes), float, len(nodes))
    if crs is None:
        crs = local_utm(shapely.Point(np.median(xs), np.median(ys)), crs=src)
    to = pyproj.Transformer.from_crs(src, crs, always_xy=True)
    px, py = to.transform(xs, ys)
    keep_lonlat = src.is_geographic
    for n, x, y, lon, lat in zip(nodes, px.tolist(), py.tolist(), xs.tolist(), ys.tolist()):
        d = G.nodes[n]
        d["x"], d["y"] = x, y
        if keep_lonlat:
            d["lon"], d["lat"] = lon, lat
    with_geom = [d for _, _, d in G.edges(data=True) if "geometry" in d]
    if with_geom:
        geoms = shapely.transform(
            np.array([d["geometry"] for d in with_geom], dtype=object),
            lambda c: np.column_stack(to.transform(c[:, 0], c[:, 1])),
        )
        for d, g in zip(with_geom, geoms):
            d["geometry"] = g
    G.graph["crs"] = pyproj.CRS.from_user_input(crs)
    return G


@dataclass
class StreetNetwork:
    """A projected walk graph as arrays, for fast shortest paths.

    Attributes
    ----------
    graph
        The projected MultiDiGraph; for a network built by :meth:`from_walk`,
        built from the way pieces on first access (seconds on a city).
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
    names
        Street name of each edge ("" if none; of several, the
        alphabetically first).
    walk, walk_crs
        The unprojected network and the CRS it was projected to, for a
        network built by :meth:`from_walk` (else None).
    """

    graph: nx.MultiDiGraph = LazyGraph()
    nodes: np.ndarray
    xy: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    length: np.ndarray
    geoms: np.ndarray
    geom_length: np.ndarray
    csr: sp.csr_matrix
    tree: shapely.STRtree
    names: np.ndarray | None = None
    walk: "WalkNetwork | None" = None
    walk_crs: Any = None
    # how an edited copy (a what-if) builds its graph when asked: from the original's
    graph_source: Callable[[], nx.MultiDiGraph] | None = field(default=None, repr=False, compare=False)

    def _build_graph(self) -> nx.MultiDiGraph | None:
        if self.graph_source is not None:
            return self.graph_source()
        if self.walk is None:
            return None
        return project(self.walk.to_graph(), self.walk_crs, copy=False)

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @cached_property
    def incidence(self) -> tuple[np.ndarray, np.ndarray]:
        """Node -> incident edges, CSR-style: node i's edges are
        ``edges[ptr[i]:ptr[i + 1]]``; returns ``(ptr, edges)``."""
        ends = np.concatenate([self.eu, self.ev])
        order = np.argsort(ends, kind="stable")
        ptr = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=self.n))])
        return ptr, order % len(self.eu)

    @cached_property
    def vertices(self) -> "EdgeVertices":
        """Every edge's polyline as flat arrays, to place points along edges fast."""
        xy, owner = shapely.get_coordinates(self.geoms, return_index=True)
        start = np.searchsorted(owner, np.arange(len(self.geoms) + 1))
        step = np.hypot(*np.diff(xy, axis=0).T)
        step[np.diff(owner) != 0] = 0.0  # no length across two edges
        along = np.concatenate([[0.0], np.cumsum(step)])
        along -= along[start[owner]]
        span = float(along.max()) * 2 + 1.0
        return EdgeVertices(xy, start, along, owner * span + along, span)

    @cached_property
    def _pair_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted ``a * n + b`` keys of every (node, node) pair joined by an
        edge, either order, and the edge :meth:`edges_between` gives for each."""
        m = len(self.eu)
        keys = np.concatenate([self.eu * self.n + self.ev, self.ev * self.n + self.eu])
        edge = np.concatenate([np.arange(m), np.arange(m)])
        # by key, then the shortest, then (on equal lengths) the highest index
        order = np.lexsort((-edge, self.length[edge], keys))
        keys, edge = keys[order], edge[order]
        first = np.concatenate([[True], keys[1:] != keys[:-1]])
        return keys[first], edge[first]

    def edges_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The shortest edge between each node ``a[i]`` and ``b[i]`` (either
        order), as the CSR keeps it: to turn a path of nodes back into streets.

        Every pair must be joined by an edge (consecutive nodes of a path).
        """
        keys, edge = self._pair_keys
        return edge[np.searchsorted(keys, np.asarray(a, np.int64) * self.n + np.asarray(b, np.int64))]

    @property
    def crs(self) -> Any:
        """The projected CRS."""
        if self.walk_crs is not None:
            return self.walk_crs
        return self.graph.graph["crs"]

    @classmethod
    def from_graph(cls, G: nx.MultiDiGraph) -> "StreetNetwork":
        """Index a projected, osmnx-compatible walk graph."""
        if G.number_of_edges() == 0:
            raise EmptyAreaError("no walkable streets in the study area")
        nodes = np.array(sorted(G.nodes), dtype=np.int64)
        index = {n: i for i, n in enumerate(nodes.tolist())}
        x, y = G.nodes.data("x"), G.nodes.data("y")
        xy = np.array([[x[n], y[n]] for n in nodes.tolist()], dtype=float)

        succ = G.succ
        kept = []
        for u, nbrs in succ.items():
            for v, keys in nbrs.items():
                # the walk graph holds each street in both directions; keep one
                if u > v and u in succ[v]:
                    continue
                if u == v:
                    kept.extend((u, v, k, keys[k]) for k in _one_way_round(keys))
                else:
                    kept.extend((u, v, k, d) for k, d in keys.items())
        kept.sort(key=lambda e: e[:3])
        eu = np.array([index[e[0]] for e in kept], dtype=np.int64)
        ev = np.array([index[e[1]] for e in kept], dtype=np.int64)
        length = np.array([e[3]["length"] for e in kept], dtype=float)
        geoms = np.array([e[3].get("geometry") for e in kept], dtype=object)
        straight = np.array([g is None for g in geoms], dtype=bool)
        geoms[straight] = shapely.linestrings(np.stack([xy[eu[straight]], xy[ev[straight]]], axis=1))
        drawn = np.flatnonzero(~straight)
        if len(drawn):
            # offsets are measured from u: geometries must start there
            first = shapely.get_coordinates(shapely.get_point(geoms[drawn], 0))
            # in metres: np.isclose's relative tolerance on UTM northings (~7e6)
            # took points ~70 m apart for one, and kept backward streets
            to_u = np.hypot(*(first - xy[eu[drawn]]).T)
            to_v = np.hypot(*(first - xy[ev[drawn]]).T)
            flip = drawn[(to_u > _SAME_POINT_M) & (to_v < to_u)]
            geoms[flip] = shapely.reverse(geoms[flip])
        geom_len = shapely.length(geoms)
        return cls(
            graph=G, nodes=nodes, xy=xy, eu=eu, ev=ev, length=length,
            geoms=geoms, geom_length=np.where(geom_len > 0, geom_len, 1.0),
            csr=_symmetric_csr(eu, ev, length, len(nodes) + 1),
            tree=shapely.STRtree(geoms),
            names=np.array([edge_name(e[3].get("name")) for e in kept], dtype=object),
        )

    @classmethod
    def from_walk(cls, walk: "WalkNetwork", crs: Any = None) -> "StreetNetwork":
        """Project and index a network built by :func:`build_walk_network`.

        The same arrays as ``from_graph(project(walk.to_graph(), crs))``,
        without building the graph: ``graph`` is built if someone asks.

        Parameters
        ----------
        walk
            The unprojected network.
        crs
            Target CRS; default ``settings.analysis_crs`` or the local UTM
            zone of the nodes' median, as :func:`project` chooses it.
        """
        if len(walk.eu) == 0:
            raise EmptyAreaError("no walkable streets in the study area")
        src = pyproj.CRS.from_user_input("EPSG:4326")
        crs = crs or settings.analysis_crs
        if crs is None:
            crs = local_utm(shapely.Point(np.median(walk.lon), np.median(walk.lat)), crs=src)
        crs = pyproj.CRS.from_user_input(crs)
        to = pyproj.Transformer.from_crs(src, crs, always_xy=True)
        xy = np.column_stack(to.transform(walk.lon, walk.lat))
        # every polyline already runs from u to v: nothing to flip
        owner = np.repeat(np.arange(len(walk.eu)), np.diff(walk.vertex_ptr))
        with gc_paused():
            geoms = shapely.linestrings(np.column_stack(to.transform(walk.vertex_lon, walk.vertex_lat)), indices=owner)
        geom_len = shapely.length(geoms)
        return cls(
            graph=None, nodes=walk.nodes, xy=xy, eu=walk.eu, ev=walk.ev, length=walk.length,
            geoms=geoms, geom_length=np.where(geom_len > 0, geom_len, 1.0),
            csr=_symmetric_csr(walk.eu, walk.ev, walk.length, len(walk.nodes) + 1),
            tree=shapely.STRtree(geoms), names=walk.names, walk=walk, walk_crs=crs,
        )

    def stretch(self) -> float:
        """The most an edge's line is longer than its length (at least 1): how much farther
        than a walk's length, as the crow flies, the walk can reach."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.geom_length / self.length
        ratio = ratio[np.isfinite(ratio) | (self.geom_length > 0)]
        return float(max(1.0, ratio.max())) if len(ratio) else 1.0

    def region(self, geoms: np.ndarray, distance: float) -> "Region":
        """The part of the network that searches bounded by ``distance``
        from or to ``geoms`` can use.

        Parameters
        ----------
        geoms
            Shapely geometries (community polygons, points) in the network's CRS.
        distance
            The search bound, metres.

        Returns
        -------
        Region
            Every node within ``distance`` of a geometry's circumscribed
            circle, and some just beyond: a superset of the nodes within
            ``distance`` of the geometries.
        """
        b = shapely.bounds(np.asarray(geoms)).reshape(-1, 4)
        centres = (b[:, :2] + b[:, 2:]) / 2
        # a walk of D metres stays within D of its start only where no edge is shorter than its
        # line (great-circle lengths are a little shorter than projected ones): widen by the most
        # any edge is
        distance = distance * self.stretch()
        radii = np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) / 2 + distance
        # Mark the raster cells whose centre is within radius + half a cell
        # diagonal of a circle's centre: every node within the radius lies
        # in one. Cheaper than a ball query that lists the nodes per circle.
        # (per-column reductions: numpy reduces an (n, 2) array along axis 0 slowly)
        x, y = self.xy[:, 0], self.xy[:, 1]
        lo = np.array([x.min(), y.min()])
        cell = max(distance / 32, (x.max() - lo[0]) / 4096, (y.max() - lo[1]) / 4096, 1.0)
        i = ((x - lo[0]) * (1.0 / cell)).astype(np.int64)  # truncation is floor here
        j = ((y - lo[1]) * (1.0 / cell)).astype(np.int64)
        shape = np.array([i.max() + 1, j.max() + 1])
        hit = np.zeros(shape, dtype=bool)
        first = np.maximum(np.floor((centres - radii[:, None] - lo) / cell), 0).astype(np.int64)
        stop = np.minimum(np.floor((centres + radii[:, None] - lo) / cell) + 1, shape).astype(np.int64)
        for (i0, j0), (i1, j1), (cx, cy), r in zip(first, stop, centres, radii):
            if i1 <= i0 or j1 <= j0:
                continue  # the circle misses the network's extent
            gx = lo[0] + (np.arange(i0, i1) + 0.5) * cell - cx
            gy = lo[1] + (np.arange(j0, j1) + 0.5) * cell - cy
            hit[i0:i1, j0:j1] |= np.hypot(gx[:, None], gy[None, :]) <= r + cell * np.sqrt(0.5)
        nodes = np.flatnonzero(hit[i, j])
        local = np.full(self.n, -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        sub = self.csr[nodes][:, nodes]
        # one more, empty row for the virtual source, as in ``csr``
        csr = sp.csr_matrix((sub.data, sub.indices, np.append(sub.indptr, sub.indptr[-1])),
                            shape=(len(nodes) + 1, len(nodes) + 1))
        return Region(nodes=nodes, local=local, csr=csr)


@dataclass
class EdgeVertices:
    """The vertices of every edge geometry of a :class:`StreetNetwork`.

    Attributes
    ----------
    xy
        Vertex coordinates, edge after edge.
    start
        Edge i owns vertices ``start[i]:start[i + 1]``.
    along
        Distance of each vertex along its edge's geometry.
    key
        ``edge * span + along``: sorted, to locate points by searchsorted.
    span
        More than twice the longest edge geometry.
    """

    xy: np.ndarray
    start: np.ndarray
    along: np.ndarray
    key: np.ndarray
    span: float


@dataclass
class Region:
    """The nodes of a network around some places, with their adjacency.

    Every walk of at most the region's distance that starts or ends in one
    of the places passes only nodes within that distance of it in a straight
    line, so a search bounded by that distance over the region gives those
    places the same answers as over the whole network: on a district of a
    city-wide extract, over a fraction of its nodes.

    Attributes
    ----------
    nodes
        Sorted node indices of the network in the region.
    local
        Network node index -> index in ``nodes`` (-1 outside).
    csr
        Adjacency among ``nodes``, with an empty last row for a virtual
        source, as :attr:`StreetNetwork.csr`.
    """

    nodes: np.ndarray
    local: np.ndarray
    csr: sp.csr_matrix


def with_source(csr: sp.csr_matrix, targets: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
    """Join the empty last row of ``csr`` (a virtual source) to ``targets`` at
    ``weights``, keeping the shortest per target."""
    order = np.lexsort((weights, targets))
    t, w = targets[order], weights[order]
    first = np.ones(len(t), dtype=bool)
    first[1:] = t[1:] != t[:-1]
    t, w = t[first], np.maximum(w[first], _ZERO)
    indptr = csr.indptr.copy()
    indptr[-1] += len(t)
    return sp.csr_matrix(
        (np.concatenate([csr.data, w]), np.concatenate([csr.indices, t]), indptr),
        shape=csr.shape,
    )


def _one_way_round(loops: dict[int, dict[str, Any]]) -> list[int]:
    """The keys of a node's loop streets, one per street: simplification
    adds each loop both ways round (the second with the reversed geometry);
    the first of each such pair is kept. Loops without a geometry count as
    one street."""
    kept: list[int] = []
    drawn: list[Any] = []
    for k in sorted(loops):
        g = loops[k].get("geometry")
        if g is None:
            if not any(loops[j].get("geometry") is None for j in kept):
                kept.append(k)
            continue
        back = shapely.reverse(g)
        twin = next((i for i, h in enumerate(drawn) if h is not None and h.equals_exact(back, 0)), None)
        if twin is None:
            kept.append(k)
            drawn.append(g)
        else:
            drawn[twin] = None  # paired: a third copy is a street of its own
    return kept


def _symmetric_csr(eu: np.ndarray, ev: np.ndarray, w: np.ndarray, size: int) -> sp.csr_matrix:
    """CSR of an undirected graph keeping the lightest of parallel edges."""
    rows = np.concatenate([eu, ev])
    cols = np.concatenate([ev, eu])
    wts = np.maximum(np.concatenate([w, w]), _ZERO)
    loops = rows == cols
    rows, cols, wts = rows[~loops], cols[~loops], wts[~loops]
    key = rows.astype(np.int64) * size + cols
    order = np.argsort(key, kind="stable")
    key, wts = key[order], wts[order]
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else np.zeros(0, np.int64)
    # coo -> csr would add parallel edges together: keep the lightest of each instead
    lightest = np.minimum.reduceat(wts, first) if len(first) else wts
    key = key[first]
    return sp.csr_matrix((lightest, (key // size, key % size)), shape=(size, size))


# ---------------------------------------------------------------- from arrays


@dataclass
class WalkNetwork:
    """The walk network as arrays, unprojected: the streets of
    ``osmnx.simplify_graph`` after ``largest_component`` (as
    :func:`build_walk_graph` makes them), one row per street.

    Attributes
    ----------
    nodes
        OSM node ids, sorted; position = index.
    lon, lat
        Node locations (degrees).
    eu, ev
        Indices of each street's end nodes (``eu <= ev``), rows in the
        order :meth:`StreetNetwork.from_graph` gives them.
    length
        Great-circle length in metres, summed per segment as osmnx does.
    vertex_ptr, vertex_lon, vertex_lat
        Street i is the polyline through the locations
        ``vertex_ptr[i]:vertex_ptr[i + 1]``, from ``eu`` to ``ev`` (the
        nodes merged into it by simplification included).
    names
        Street name of each edge ("" if none).
    pieces
        The way pieces it was built from, to build the graph on request.
    simplify, retain_all
        As given to :func:`build_walk_network`.
    """

    nodes: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    length: np.ndarray
    vertex_ptr: np.ndarray
    vertex_lon: np.ndarray
    vertex_lat: np.ndarray
    names: np.ndarray
    pieces: WalkPieces
    simplify: bool = True
    retain_all: bool = False

    def to_graph(self) -> nx.MultiDiGraph:
        """The osmnx-compatible MultiDiGraph of the same pieces (EPSG:4326)."""
        return build_walk_graph(self.pieces.ways(), simplify=self.simplify, retain_all=self.retain_all)


class _Segments(NamedTuple):
    """Consecutive node pairs of the pieces (one row per pair, as listed)."""

    a: np.ndarray  # node index of the first node
    b: np.ndarray  # node index of the second
    piece: np.ndarray
    seq_ab: np.ndarray  # when build_walk_graph adds the edge a -> b
    seq_ba: np.ndarray  # and b -> a


def build_walk_network(pieces: WalkPieces, *, simplify: bool = True, retain_all: bool = False) -> WalkNetwork:
    """Build the walk network of :func:`build_walk_graph` with numpy.

    Same nodes, streets, lengths, geometries and street order as
    ``StreetNetwork.from_graph(project(build_walk_graph(...)))``, about 15
    times faster: osmnx's rules (largest weakly connected component; a node
    is merged away when it has exactly two neighbours and one street to
    each; components made only of such nodes, rings, are dropped; lengths
    are great-circle per segment, summed from the lower node id's end)
    applied to arrays.

    Parameters
    ----------
    pieces
        The walkable way pieces.
    simplify, retain_all
        As for :func:`build_walk_graph`.

    Raises
    ------
    EmptyAreaError
        No piece has two distinct nodes.
    """
    ids, lon, lat, piece = _distinct_runs(pieces)
    nodes, first, at = np.unique(ids, return_index=True, return_inverse=True)
    # networkx keeps the attributes of a node's last add_node
    last = len(ids) - 1 - np.unique(ids[::-1], return_index=True)[1]
    node_lon, node_lat = lon[last], lat[last]
    seg = _segments(at, piece, len(pieces.osmid))
    if len(seg.a) == 0:
        raise EmptyAreaError("no walkable streets in the study area")
    alive, inner = _kept_nodes(seg, first, len(nodes), simplify, retain_all)
    seg = _Segments(*(x[alive[seg.a]] for x in seg))
    codes, names = _name_codes(pieces)
    both = [np.concatenate(pair) for pair in zip(_direct_streets(seg, inner, node_lon, node_lat, codes),
                                                 _chain_streets(seg, inner, node_lon, node_lat, codes))]
    st = _Streets(*both)
    # rows as from_graph sorts them: (u, v, MultiDiGraph key)
    order = np.lexsort((st.seq, st.chain, st.v, st.u))
    counts = st.count[order]
    starts = np.concatenate([[0], np.cumsum(st.count)[:-1]])[order]
    ptr = np.concatenate([[0], np.cumsum(counts)])
    take = np.repeat(starts - ptr[:-1], counts) + np.arange(ptr[-1])
    keep = alive & ~inner
    new = np.cumsum(keep) - 1
    verts = st.verts[take]
    return WalkNetwork(
        nodes=nodes[keep], lon=node_lon[keep], lat=node_lat[keep], eu=new[st.u[order]], ev=new[st.v[order]],
        length=st.length[order], vertex_ptr=ptr, vertex_lon=node_lon[verts], vertex_lat=node_lat[verts],
        names=names[st.code[order]], pieces=pieces, simplify=simplify, retain_all=retain_all,
    )


class _Streets(NamedTuple):
    """Streets of the simplified network (one row per street)."""

    u: np.ndarray  # node index of the lower id end
    v: np.ndarray
    chain: np.ndarray  # merged from several segments (added after the plain ones)
    seq: np.ndarray  # order of its MultiDiGraph key among the (u, v) streets
    code: np.ndarray  # name code
    length: np.ndarray
    count: np.ndarray  # vertices
    verts: np.ndarray  # node indices of the vertices, street after street


def _distinct_runs(pieces: WalkPieces) -> tuple[np.ndarray, ...]:
    """Node references without a node repeated right after itself (as
    ``itertools.groupby`` in :func:`build_walk_graph`): ids, lon, lat, piece."""
    piece = np.repeat(np.arange(len(pieces.osmid)), np.diff(pieces.start))
    ids = pieces.ids
    keep = np.ones(len(ids), dtype=bool)
    keep[1:] = (piece[1:] != piece[:-1]) | (ids[1:] != ids[:-1])
    return ids[keep], pieces.lon[keep], pieces.lat[keep], piece[keep]


def _segments(at: np.ndarray, piece: np.ndarray, n_pieces: int) -> _Segments:
    """Consecutive pairs within each piece, with the order in which
    :func:`build_walk_graph` adds their two directions (a piece's forward
    edges, then its reversed ones)."""
    s = np.flatnonzero(piece[1:] == piece[:-1])
    w = piece[s]
    m = np.bincount(w, minlength=n_pieces)
    before = np.concatenate([[0], np.cumsum(m)[:-1]])
    p = np.arange(len(s)) - before[w]
    base = 2 * before[w]
    return _Segments(at[s], at[s + 1], w, base + p, base + m[w] + p)


def _kept_nodes(seg: _Segments, first: np.ndarray, n: int, simplify: bool,
                retain_all: bool) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in the kept components, and the interstitial ones among them
    (merged into streets by simplification)."""
    adj = sp.coo_matrix((np.ones(len(seg.a)), (seg.a, seg.b)), shape=(n, n))
    n_comp, label = connected_components(adj, directed=False)
    alive = np.ones(n, dtype=bool)
    if not retain_all:
        size = np.bincount(label, minlength=n_comp)
        seen = np.full(n_comp, np.iinfo(np.int64).max)
        np.minimum.at(seen, label, first)
        # of equal sizes networkx's max() keeps the component met first
        big = np.flatnonzero(size == size.max())
        alive = label == big[np.argmin(seen[big])]
    inner = np.zeros(n, dtype=bool)
    if simplify:
        degree = np.bincount(seg.a, minlength=n) + np.bincount(seg.b, minlength=n)
        pair = np.unique(np.minimum(seg.a, seg.b) * n + np.maximum(seg.a, seg.b))
        neighbours = np.bincount(pair // n, minlength=n) + np.bincount(pair % n, minlength=n)
        inner = (degree == 2) & (neighbours == 2)
        # osmnx removes rings that have no endpoint at all
        has_end = np.zeros(n_comp, dtype=bool)
        has_end[label[~inner]] = True
        alive &= has_end[label]
        inner &= alive
    return alive, inner


def _name_codes(pieces: WalkPieces) -> tuple[np.ndarray, np.ndarray]:
    """Each piece's name as a code ordered as the names sort, "" last, and
    the names by code."""
    raw = pieces.names
    if raw is None:
        raw = [n if isinstance(n := t.get("name"), str) else None for t in pieces.tags]
    # a city has a few thousand names for 100,000 pieces: clean each once
    clean = {n: n.strip() if n is not None else "" for n in dict.fromkeys(raw)}
    table = sorted({n for n in clean.values() if n})
    index = {n: i for i, n in enumerate(table)}
    code = {n: index.get(c, len(table)) for n, c in clean.items()}
    return np.fromiter(map(code.__getitem__, raw), np.int64, len(raw)), np.array(table + [""], dtype=object)


#: The Earth radius osmnx measures edge lengths with (``osmnx.distance.EARTH_RADIUS_M``), metres.
EARTH_RADIUS_M = 6_371_009


def _great_circle(lon: np.ndarray, lat: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """osmnx's edge length from node a to node b (``add_edge_lengths``).

    The haversine of ``osmnx.distance.great_circle``, in its order of operations
    so that lengths agree bit for bit (tests compare both routes), without
    importing osmnx on the array route: that costs a second of start-up.
    """
    y1, y2 = np.deg2rad(lat[a]), np.deg2rad(lat[b])
    x1, x2 = np.deg2rad(lon[a]), np.deg2rad(lon[b])
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    h = np.minimum(1, h)
    d = 2 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M
    d[np.isnan(d)] = 0
    return d


def _direct_streets(seg: _Segments, inner: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                    codes: np.ndarray) -> _Streets:
    """The segments between two kept nodes: each a street of its own."""
    d = ~inner[seg.a] & ~inner[seg.b]
    a, b = seg.a[d], seg.b[d]
    fwd = a < b
    u, v = np.where(fwd, a, b), np.where(fwd, b, a)
    seq = np.where(fwd, seg.seq_ab[d], seg.seq_ba[d])
    return _Streets(u, v, np.zeros(len(u), dtype=bool), seq, codes[seg.piece[d]],
                    _great_circle(lon, lat, u, v), np.full(len(u), 2), np.column_stack([u, v]).ravel())


def _chain_streets(seg: _Segments, inner: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                   codes: np.ndarray) -> _Streets:
    """The streets through interstitial nodes, each from its lower id end
    (a loop: the direction osmnx adds first), as ``osmnx.simplify_graph``
    merges them.

    Each segment gives two half-edges (2i: a -> b, 2i + 1: b -> a); at an
    interstitial node a half-edge continues on the node's other segment.
    Pointer doubling finds where each half-edge's chain ends, and how far.
    """
    c = inner[seg.a] | inner[seg.b]
    k = int(c.sum())
    tail, head = np.empty(2 * k, dtype=np.int64), np.empty(2 * k, dtype=np.int64)
    tail[0::2], tail[1::2] = seg.a[c], seg.b[c]
    head[0::2], head[1::2] = seg.b[c], seg.a[c]
    hseq = np.column_stack([seg.seq_ab[c], seg.seq_ba[c]]).ravel()
    hcode = np.repeat(codes[seg.piece[c]], 2)
    out = np.flatnonzero(inner[tail])  # two half-edges leave each interstitial node
    out = out[np.argsort(tail[out], kind="stable")]
    nxt = np.full(2 * k, -1, dtype=np.int64)
    nxt[out[0::2] ^ 1], nxt[out[1::2] ^ 1] = out[1::2], out[0::2]
    end, rank = list_ends(nxt)
    order = np.lexsort((-rank, end))  # each chain's half-edges together, in walking order
    gfirst = np.flatnonzero(np.r_[True, end[order][1:] != end[order][:-1]]) if k else np.empty(0, np.int64)
    glen = np.diff(np.r_[gfirst, len(order)])
    gstart = order[gfirst]
    origin, dest = tail[gstart], head[end[gstart]]
    # a loop is found both ways round: keep the way osmnx adds first (the
    # lower MultiDiGraph key, from_graph's choice), whose reverse starts later
    keep = (origin < dest) | ((origin == dest) & (hseq[gstart] < hseq[end[gstart] ^ 1]))
    g = np.flatnonzero(keep)
    lens = glen[g]
    ptr = np.concatenate([[0], np.cumsum(lens)])
    he = order[np.repeat(gfirst[g] - ptr[:-1], lens) + np.arange(ptr[-1])]
    length = _sequential_sums(_great_circle(lon, lat, tail[he], head[he]), ptr[:-1], lens)
    count = lens + 1
    verts = np.empty(int(count.sum()), dtype=np.int64)
    is_origin = np.zeros(len(verts), dtype=bool)
    is_origin[ptr[:-1] + np.arange(len(g))] = True
    verts[is_origin], verts[~is_origin] = origin[g], head[he]
    code = np.minimum.reduceat(hcode[he], ptr[:-1]) if len(g) else np.empty(0, np.int64)
    return _Streets(origin[g], dest[g], np.ones(len(g), dtype=bool), hseq[gstart[g]], code, length, count, verts)


def list_ends(nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For linked lists given by ``nxt`` (-1 at a list's end): each
    element's last element and its number of steps to it (Wyllie's pointer
    jumping: log2 of the longest list passes, each in numpy)."""
    jump = np.where(nxt >= 0, nxt, np.arange(len(nxt)))
    rank = (nxt >= 0).astype(np.int64)
    while True:
        further = jump[jump]
        if np.array_equal(further, jump):
            return jump, rank
        rank = rank + rank[jump]
        jump = further


def _sequential_sums(values: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Sums of ``values[starts[i]:starts[i] + lens[i]]`` added left to right,
    as Python's ``sum`` does (numpy's pairwise sums can differ in the last
    bit)."""
    total = np.zeros(len(starts))
    if not len(starts):
        return total
    order = np.argsort(-lens, kind="stable")
    s, n = starts[order], lens[order]
    alive = len(s)
    for k in range(int(n[0])):
        while n[alive - 1] <= k:
            alive -= 1
        total[order[:alive]] += values[s[:alive] + k]
    return total

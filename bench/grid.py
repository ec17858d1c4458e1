"""A large, deterministic, irregular street grid for the benchmark.

The grid is a lattice with varied block sizes, jittered and gently warped
node positions, randomly removed street segments, removed blocks of several
cells (parks, lakes, rail yards: the network has holes), long diagonal
avenues, footpaths across some blocks and some bent streets. Only the
largest connected component is kept. Everything comes from one seeded
``numpy.random.Generator``, so the same arguments give the same network.

The grid is kept as plain arrays (:class:`Grid`, saved with :meth:`Grid.save`)
so benchmark worker processes can load it in well under a second and build
only what they need: an osmnx-compatible projected ``MultiDiGraph``
(:func:`to_multidigraph`) for lifecircle and networkx, or the node and edge
tables pandana takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph

#: Projected CRS of the generated grid (UTM 35N, as for the Helsinki extract).
CRS = "EPSG:32635"
_ORIGIN = (370_000.0, 6_650_000.0)

#: The eight categories of the 10-minute preset (POIs are generated per key).
CATEGORIES = ("canteen", "pharmacy", "park", "sports", "school", "clinic", "bank", "market")
# POIs per node, per category (central Helsinki has 3-17 per category on
# 2,277 nodes; a whole city is sparser away from the centre).
_POI_PER_NODE = (0.004, 0.002, 0.005, 0.004, 0.0015, 0.002, 0.003, 0.0025)


@dataclass
class Grid:
    """A street network as arrays (projected metres).

    Attributes
    ----------
    xy
        Node coordinates (n, 2).
    u, v
        End node indices of each street (one row per street, both directions
        walkable).
    length
        Street length (metres): the length of its geometry.
    mid
        A bend point for bent streets (m, 2), NaN for straight ones.
    """

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    mid: np.ndarray

    @property
    def n(self) -> int:
        return len(self.xy)

    @property
    def m(self) -> int:
        return len(self.u)

    def save(self, path: str | Path) -> None:
        np.savez(path, xy=self.xy, u=self.u, v=self.v, length=self.length, mid=self.mid)

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        with np.load(path) as z:
            return cls(z["xy"], z["u"], z["v"], z["length"], z["mid"])

    def geometries(self, idx: np.ndarray | None = None) -> np.ndarray:
        """LineStrings u -> v (through the bend point where there is one)."""
        idx = np.arange(self.m) if idx is None else np.asarray(idx)
        a, b, c = self.xy[self.u[idx]], self.xy[self.v[idx]], self.mid[idx]
        bent = ~np.isnan(c[:, 0])
        out = np.empty(len(idx), dtype=object)
        out[~bent] = shapely.linestrings(np.stack([a[~bent], b[~bent]], axis=1))
        if bent.any():
            out[bent] = shapely.linestrings(np.stack([a[bent], c[bent], b[bent]], axis=1))
        return out


def _lattice(side: int, rng: np.random.Generator):
    """Nodes and edges of one irregular lattice ``side`` x ``side``."""
    R = C = side
    # block sizes between 50 and 130 m
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(50, 130, C - 1))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(50, 130, R - 1))])
    X, Y = np.meshgrid(xs, ys)
    # gentle warp (streets are not ruler-straight across a city) + jitter
    wx = 60 * np.sin(Y / 2300.0 + rng.uniform(0, 6)) + 40 * np.sin(X / 1700.0 + rng.uniform(0, 6))
    wy = 60 * np.sin(X / 2700.0 + rng.uniform(0, 6)) + 40 * np.sin(Y / 1900.0 + rng.uniform(0, 6))
    X = X + wx + rng.uniform(-12, 12, X.shape)
    Y = Y + wy + rng.uniform(-12, 12, Y.shape)
    xy = np.column_stack([X.ravel(), Y.ravel()]) + _ORIGIN

    idx = np.arange(R * C).reshape(R, C)
    parts = [
        np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),  # east-west
        np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),  # north-south
    ]
    # diagonal avenues, every ~40 rows on average, both directions
    for _ in range(max(1, side // 40)):
        k = int(rng.integers(-C // 2, C // 2))
        r = np.arange(R - 1)
        c = r + k
        ok = (c >= 0) & (c < C - 1)
        parts.append(np.column_stack([idx[r[ok], c[ok]], idx[r[ok] + 1, c[ok] + 1]]))
        k = int(rng.integers(C // 2, 3 * C // 2))
        c = k - r
        ok = (c >= 1) & (c < C)
        parts.append(np.column_stack([idx[r[ok], c[ok]], idx[r[ok] + 1, c[ok] - 1]]))
    # footpaths across 3% of blocks
    cells = np.flatnonzero(rng.random((R - 1) * (C - 1)) < 0.03)
    r, c = np.divmod(cells, C - 1)
    flip = rng.random(len(cells)) < 0.5
    a = np.where(flip, idx[r, c], idx[r, c + 1])
    b = np.where(flip, idx[r + 1, c + 1], idx[r + 1, c])
    parts.append(np.column_stack([a, b]))
    edges = np.concatenate(parts)
    edges = np.unique(np.sort(edges, axis=1), axis=0)

    # remove 7% of street segments at random
    edges = edges[rng.random(len(edges)) >= 0.07]
    # remove blocks of cells: parks, lakes, rail yards (about 8% of the area)
    alive = np.ones(R * C, dtype=bool)
    area = 0
    while area < 0.08 * R * C:
        h, w = rng.integers(3, 16, size=2)
        r0, c0 = rng.integers(0, R - h), rng.integers(0, C - w)
        alive[idx[r0 : r0 + h, c0 : c0 + w].ravel()] = False
        area += h * w
    edges = edges[alive[edges[:, 0]] & alive[edges[:, 1]]]
    return xy, edges


def make_grid(target_nodes: int = 250_000, seed: int = 42) -> Grid:
    """Generate an irregular street grid of about ``target_nodes`` nodes.

    Deterministic for a given (``target_nodes``, ``seed``).
    """
    side = int(np.ceil(np.sqrt(target_nodes / 0.86)))
    for _ in range(3):
        rng = np.random.default_rng(seed)
        xy, edges = _lattice(side, rng)
        n = len(xy)
        adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        _, label = csgraph.connected_components(adj, directed=False)
        big = np.bincount(label).argmax()
        keep = label == big
        got = int(keep.sum())
        if abs(got - target_nodes) <= 0.02 * target_nodes or target_nodes < 2000:
            break
        side = max(4, int(round(side * np.sqrt(target_nodes / got))))
    new = np.full(n, -1, dtype=np.int64)
    new[keep] = np.arange(got)
    edges = edges[keep[edges[:, 0]]]
    u, v = new[edges[:, 0]], new[edges[:, 1]]
    xy = xy[keep]

    # 10% of streets are bent: a midpoint pushed sideways by up to 15% of the length
    a, b = xy[u], xy[v]
    chord = np.hypot(*(b - a).T)
    mid = np.full((len(u), 2), np.nan)
    bent = rng.random(len(u)) < 0.10
    normal = np.column_stack([-(b - a)[:, 1], (b - a)[:, 0]]) / chord[:, None]
    push = rng.uniform(-0.15, 0.15, len(u)) * chord
    mid[bent] = ((a + b) / 2 + normal * push[:, None])[bent]
    length = chord.copy()
    length[bent] = (np.hypot(*(mid - a).T) + np.hypot(*(b - mid).T))[bent]
    return Grid(xy=xy, u=u, v=v, length=length, mid=mid)


def random_pois(grid: Grid, seed: int = 7, per_node=_POI_PER_NODE) -> dict[str, np.ndarray]:
    """POIs of each category at random points along streets, set back 0-30 m.

    Streets are drawn with probability proportional to their length.

    Returns
    -------
    dict
        Category key -> (k, 2) coordinates.
    """
    rng = np.random.default_rng(seed)
    p = grid.length / grid.length.sum()
    out = {}
    for key, rate in zip(CATEGORIES, per_node):
        k = max(3, int(round(rate * grid.n)))
        e = rng.choice(grid.m, size=k, p=p)
        frac = rng.random(k)
        geoms = grid.geometries(e)
        on = shapely.get_coordinates(shapely.line_interpolate_point(geoms, frac, normalized=True))
        ang = rng.uniform(0, 2 * np.pi, k)
        leg = rng.uniform(0, 30, k)
        out[key] = on + np.column_stack([np.cos(ang), np.sin(ang)]) * leg[:, None]
    return out


def to_multidigraph(grid: Grid) -> nx.MultiDiGraph:
    """An osmnx-compatible, projected, simplified-style walk MultiDiGraph.

    Node ids are ``1..n`` (position + 1); each street is stored in both
    directions with ``osmid``, ``highway``, ``oneway=False``, ``reversed``,
    ``length`` and, for bent streets, a ``geometry`` LineString.
    """
    G = nx.MultiDiGraph(crs=CRS, created_with="lifecircle-bench", simplified=True)
    ids = np.arange(1, grid.n + 1)
    G.add_nodes_from(
        (int(i), {"x": float(x), "y": float(y), "street_count": 0})
        for i, (x, y) in zip(ids, grid.xy.tolist())
    )
    bent = np.flatnonzero(~np.isnan(grid.mid[:, 0]))
    fwd = dict(zip(bent.tolist(), grid.geometries(bent)))
    kinds = np.array(["residential", "tertiary", "footway", "secondary"])
    highway = kinds[np.arange(grid.m) % 7 % 4]
    u, v = (grid.u + 1).tolist(), (grid.v + 1).tolist()
    rows = []
    for i, (a, b, L, hw) in enumerate(zip(u, v, grid.length.tolist(), highway.tolist())):
        base = {"osmid": 10_000_000 + i, "highway": hw, "oneway": False, "length": L}
        g = fwd.get(i)
        if g is None:
            rows.append((a, b, 0, {**base, "reversed": False}))
            rows.append((b, a, 0, {**base, "reversed": True}))
        else:
            rows.append((a, b, 0, {**base, "reversed": False, "geometry": g}))
            rows.append((b, a, 0, {**base, "reversed": True, "geometry": shapely.reverse(g)}))
    G.add_edges_from(rows)
    deg = dict(G.degree())
    nx.set_node_attributes(G, {k: d // 2 for k, d in deg.items()}, "street_count")
    return G

"""Where to build next: maximal covering site selection for one category.

Given an analysis, choose up to ``count`` new sites for a category among
candidate points so that as many residents as possible are newly brought
within the category's walking distance (``config.limit_m(category)``), the
existing facilities kept. Homes already within reach are not demand.

Steps:

1. **Demand**: the homes (weighted by their resident estimate) and the area
   sample points of home-less communities (weight 0: they decide only
   whether such a community becomes covered) that no existing facility of
   the category reaches, measured exactly as the analysis measured them.
2. **Candidates**: a user's points or polygons (a representative point of
   each), or points every ``settings.suggest_spacing_m`` metres along the
   streets within the distance (in a straight line) of an uncovered home.
3. **Coverage matrix**: sparse candidate x demand, from the engine's bounded
   Dijkstra (:func:`lifecircle.core.engine.origin_node_blocks`) run on the
   piece of the network within the distance of up to :data:`LOCAL_CHUNK`
   nearby points at a time: from the candidates, or from the demand points
   (the graph is undirected: the same matrix). The number of such searches
   sets the cost, so by default (``direction="auto"``) the side needing
   fewer is searched from: scattered candidates need nearly one search
   each, homes grouped in communities one per dozen or more (measured on
   the 250,000-node grid by bench/suggest_bench.py: see bench/RESULTS.md).
4. **Solve**: the maximal covering location problem. The greedy choice,
   improved by swaps, is taken as optimal when it meets an upper bound on
   the optimum: greedy's online bound or the LP relaxation's optimum
   (solved sparsely by HiGHS through scipy; usually tight here). Otherwise
   it is solved exactly with PySAL's spopt (``MCLP.from_cost_matrix``,
   PuLP's bundled CBC, one thread, fixed seed) on an equivalent reduced
   instance (demand points with the same set of candidates merged,
   candidates covering a subset of another's dropped); beyond
   ``settings.suggest_exact_cells`` cells, or when CBC does not prove
   optimality within the time limit, the improved greedy choice is
   returned with the bound.
5. **Ranking**: the chosen sites in greedy order of what each adds to those
   before it; a site that adds nobody is dropped (``count`` is an upper
   limit).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from .. import settings
from ..core.engine import Snapped, node_distances, origin_node_blocks, point_distances, snap_points
from ..core.network import StreetNetwork
from ..errors import ConfigError, InputFileError, first_line

if TYPE_CHECKING:
    from ..analysis import Analysis
    from ..config import Config

DIRECTIONS = ("auto", "candidates", "demand")


# ---------------------------------------------------------------- checks


def check_request(config: "Config", category: str, count: int) -> None:
    """Refuse an unknown category or a count below 1, before any work.

    Raises
    ------
    ConfigError
        One line naming the problem.
    """
    if category not in config.keys:
        raise ConfigError(f"unknown category {category!r} for suggestions; this run analyses: "
                          f"{', '.join(config.keys)}")
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ConfigError(f"count must be a whole number of at least 1, got {count!r}")


# ---------------------------------------------------------------- coverage matrix


@dataclass
class Coverage:
    """Which candidates reach which demand points within the limit.

    Attributes
    ----------
    reach
        CSR matrix (n_candidates, n_demand), int8 ones where the walk is
        within the limit; indices sorted in each row.
    metres
        The walk of each stored entry, aligned with ``reach.indices``.
    """

    reach: sp.csr_matrix
    metres: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.reach.shape


#: Most points per local search in :func:`coverage_matrix` (points of one
#: square of the limit's size are searched together).
LOCAL_CHUNK = 32

# Edge lengths are measured on the ellipsoid and positions in the projection,
# which differ by well under 1 %: a walk of L metres ends within
# L * (1 + _SLACK) + 1 m of its start in projected coordinates.
_SLACK = 0.01


def _positions(net: StreetNetwork, snapped: Snapped) -> np.ndarray:
    """Coordinates of snapped points on their streets, (m, 2); NaN where unsnapped."""
    out = np.full((len(snapped), 2), np.nan)
    ok = snapped.ok
    e = snapped.edge[ok]
    scale = net.geom_length[e] / np.where(net.length[e] > 0, net.length[e], 1.0)
    out[ok] = shapely.get_coordinates(shapely.line_interpolate_point(net.geoms[e], snapped.offset[ok] * scale))
    return out


def _chunks(xy: np.ndarray, ok: np.ndarray, size: float) -> list[np.ndarray]:
    """Positions of the snapped points, grouped by square cells of ``size``
    metres, at most :data:`LOCAL_CHUNK` a group (deterministic order)."""
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return []
    cell = np.floor((xy[idx] - np.nanmin(xy[idx], axis=0)) / size).astype(np.int64)
    key = cell[:, 1] * (cell[:, 0].max() + 1) + cell[:, 0]
    order = np.argsort(key, kind="stable")
    idx, key = idx[order], key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    bounds = np.r_[starts, len(idx)]
    return [idx[a:b][i:i + LOCAL_CHUNK] for a, b in zip(bounds[:-1], bounds[1:])
            for i in range(0, b - a, LOCAL_CHUNK)]


@dataclass
class _Side:
    """One side of the matrix (candidates or demand): points, positions, index."""

    snapped: Snapped
    xy: np.ndarray
    tree: Any = None

    @classmethod
    def of(cls, net: StreetNetwork, snapped: Snapped, indexed: bool) -> "_Side":
        from scipy.spatial import cKDTree

        xy = _positions(net, snapped)
        ok = np.flatnonzero(snapped.ok)
        return cls(snapped, xy, (ok, cKDTree(xy[ok])) if indexed and len(ok) else None)

    def near(self, centre: np.ndarray, radius: float) -> np.ndarray:
        if self.tree is None:
            return np.zeros(0, dtype=np.int64)
        ok, tree = self.tree
        return np.sort(ok[np.asarray(tree.query_ball_point(centre, radius), dtype=np.int64)])


def _local_walks(net: StreetNetwork, nodes_tree: Any, src: _Side, rows: np.ndarray, dst: _Side,
                 limit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walks of at most ``limit`` from the ``rows`` of ``src`` to the points of ``dst``.

    The engine's bounded search (:func:`origin_node_blocks`) runs on the
    piece of the network a walk of ``limit`` from these points can use: the
    nodes within that distance of them in a straight line, and their own
    streets' ends. Returns (row positions, dst positions, metres) of the
    pairs within ``limit``.
    """
    from types import SimpleNamespace

    pos = src.xy[rows]
    lo, hi = pos.min(axis=0), pos.max(axis=0)
    centre = (lo + hi) / 2
    radius = float(np.hypot(*(hi - lo))) / 2 + limit * (1 + _SLACK) + 1.0
    e = src.snapped.edge[rows]
    nodes = np.union1d(np.asarray(nodes_tree.query_ball_point(centre, radius), dtype=np.int64),
                       np.concatenate([net.eu[e], net.ev[e]]))

    def local(x: np.ndarray) -> np.ndarray:  # network node -> piece node, len(nodes) where absent
        at = np.minimum(np.searchsorted(nodes, x), len(nodes) - 1)
        return np.where(nodes[at] == x, at, len(nodes))

    piece = SimpleNamespace(csr=net.csr[nodes][:, nodes], eu=local(net.eu[e]), ev=local(net.ev[e]),
                            length=net.length[e], n=len(nodes))
    here = Snapped(np.arange(len(rows)), src.snapped.offset[rows], src.snapped.leg[rows])
    _, block = next(origin_node_blocks(piece, here, limit, chunk=len(rows)))
    block = np.hstack([block, np.full((len(rows), 1), np.inf)])  # the column of absent nodes
    near = dst.near(centre, radius)
    if len(near) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    de, b, h = dst.snapped.edge[near], dst.snapped.offset[near], dst.snapped.leg[near]
    d = np.minimum(block[:, local(net.eu[de])] + b, block[:, local(net.ev[de])] + (net.length[de] - b)) + h
    # a pair on one street may walk straight along it
    r, c = np.nonzero(e[:, None] == de[None, :])
    direct = np.abs(b[c] - src.snapped.offset[rows][r]) + h[c] + src.snapped.leg[rows][r]
    d[r, c] = np.minimum(d[r, c], direct)
    r, c = np.nonzero(d <= limit)
    return rows[r], near[c], d[r, c]


def coverage_matrix(net: StreetNetwork, candidates: Snapped, demand: Snapped, limit: float,
                    direction: str = "auto") -> Coverage:
    """The sparse candidate x demand matrix of walks within ``limit`` metres.

    Every walk is the engine's (:func:`origin_node_blocks`: a bounded
    Dijkstra from both ends of a point's street, plus its offsets and legs),
    run for up to :data:`LOCAL_CHUNK` nearby points at a time on the piece of
    the network within ``limit`` of them, so that its cost follows that piece
    and not the whole city.

    Parameters
    ----------
    net
        The indexed network.
    candidates, demand
        Snapped points; unsnapped ones reach nothing.
    limit
        Walking distance, metres.
    direction
        ``"candidates"``: searches from the candidates; ``"demand"``: from
        the demand points (the network is undirected: same matrix);
        ``"auto"``: from the side that needs fewer local searches. A search
        serves up to :data:`LOCAL_CHUNK` points of one square, so its count,
        not the number of points, sets the cost: on the 250,000-node
        benchmark grid, 1,000 candidates scattered over the city needed 807
        searches and 11,796 homes in 200 communities 957, each side about
        1.4 s.

    Returns
    -------
    Coverage
    """
    from scipy.spatial import cKDTree

    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    cand, dem = _Side.of(net, candidates, True), _Side.of(net, demand, True)
    by_cand, by_dem = _chunks(cand.xy, candidates.ok, limit), _chunks(dem.xy, demand.ok, limit)
    if direction == "auto":
        direction = "demand" if len(by_dem) < len(by_cand) else "candidates"
    src, dst, chunks = (cand, dem, by_cand) if direction == "candidates" else (dem, cand, by_dem)
    nodes_tree = cKDTree(net.xy)
    found = [_local_walks(net, nodes_tree, src, rows, dst, limit) for rows in chunks]
    r = np.concatenate([f[0] for f in found]) if found else np.zeros(0, np.int64)
    c = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.int64)
    m = np.concatenate([f[2] for f in found]) if found else np.zeros(0)
    if direction == "demand":
        r, c = c, r
    return _coverage(r, c, m, (len(candidates), len(demand)))


def _coverage(rows: np.ndarray, cols: np.ndarray, metres: np.ndarray, shape: tuple[int, int]) -> Coverage:
    order = np.lexsort((cols, rows))
    rows, cols, metres = rows[order], cols[order], metres[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    reach = sp.csr_matrix((np.ones(len(cols), np.int8), cols.astype(np.int32), indptr), shape=shape)
    return Coverage(reach, metres)


# ---------------------------------------------------------------- solvers


@dataclass
class Solution:
    """Chosen candidates and how good the choice is.

    Attributes
    ----------
    chosen
        Candidate indices, ranked (greedy order of what each adds).
    gains
        Weight each adds to those ranked before it (all positive).
    value
        Total weight covered.
    bound
        Upper bound on the optimum (equal to ``value`` when optimal).
    method
        ``"exact"`` (proven optimal: by spopt's MCLP, or a heuristic choice
        meeting an upper bound) or ``"greedy"``.
    note
        How a heuristic choice was proven optimal, or why greedy was used.
    """

    chosen: list[int]
    gains: list[float]
    value: float
    bound: float
    method: str
    note: str = ""

    @property
    def optimal(self) -> bool:
        return self.method == "exact"


def _weights_of(reach: sp.csr_matrix, w: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
    """Weight each candidate (row; or only ``cols`` of them) covers."""
    m = reach if cols is None else reach[cols]
    return np.asarray(m @ w, dtype=float).ravel()


def greedy(reach: sp.csr_matrix, weights: np.ndarray, count: int) -> Solution:
    """The greedy maximal covering: each step takes the candidate adding the
    most weight (the lowest index on a tie) until ``count`` or nothing is left.

    The bound is the smaller of the online bound (after any step, the
    covered weight plus the ``count`` largest further gains) and the
    classic guarantee, greedy / (1 - 1/e).
    """
    w = np.asarray(weights, dtype=float).copy()
    by_demand = reach.T.tocsr()
    gains = _weights_of(reach, w)
    chosen, added = [], []
    covered = 0.0
    bound = math.inf
    for _ in range(count + 1):
        top = np.sort(gains)[::-1][:count]
        bound = min(bound, covered + float(top[top > 0].sum()))
        if len(chosen) == count:
            break
        j = int(np.argmax(gains)) if len(gains) else -1
        if j < 0 or gains[j] <= 0:
            break
        newly = reach.indices[reach.indptr[j]:reach.indptr[j + 1]]
        newly = newly[w[newly] > 0]
        chosen.append(j)
        added.append(float(gains[j]))
        covered += float(w[newly].sum())
        w[newly] = 0.0
        touched = np.unique(by_demand[newly].indices)
        gains[touched] = _weights_of(reach, w, touched)  # recomputed, not decremented: no drift
    if covered > 0:
        bound = min(bound, covered / (1 - 1 / math.e))
    return Solution(chosen, added, covered, max(bound, covered), "greedy")


def _groups(reach: sp.csr_matrix, weights: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge demand points with the same set of candidates: (groups x
    candidates) 0/1 matrix and the groups' weights (demand of weight 0 or
    that nobody reaches is dropped)."""
    by_demand = reach.T.tocsr()
    by_demand.sort_indices()
    keys: dict[bytes, int] = {}
    group = np.full(by_demand.shape[0], -1, dtype=np.int64)
    for i in np.flatnonzero((np.diff(by_demand.indptr) > 0) & (weights > 0)):
        key = by_demand.indices[by_demand.indptr[i]:by_demand.indptr[i + 1]].tobytes()
        group[i] = keys.setdefault(key, len(keys))
    used = group >= 0
    gw = np.bincount(group[used], weights=weights[used], minlength=len(keys))
    first = np.unique(group[used], return_index=True)[1]
    members = np.flatnonzero(used)[first]
    return by_demand[members], gw


# Dominated candidates are found from the pairs of candidates sharing a demand
# group: at most this many (about 1 GB), else none are dropped.
_MAX_OVERLAP_PAIRS = 60_000_000


def _undominated(groups: sp.csr_matrix) -> np.ndarray:
    """Candidates (columns) whose groups are no subset of another's; of equal
    sets the lowest index is kept. Dropping the others keeps the optimum."""
    g = sp.csc_matrix(groups, dtype=np.int32)
    size = np.asarray(g.sum(axis=0)).ravel()
    per_group = np.diff(sp.csr_matrix(groups).indptr).astype(np.int64)
    if int((per_group ** 2).sum()) > _MAX_OVERLAP_PAIRS:
        # the pairs of overlapping candidates would not fit in memory: keep them all
        return np.flatnonzero(size > 0)
    overlap = (g.T @ g).tocoo()
    i, j, o = overlap.row, overlap.col, overlap.data
    inside = (i != j) & (o == size[i]) & ((size[j] > size[i]) | (j < i))
    dominated = np.zeros(len(size), bool)
    dominated[i[inside]] = True
    return np.flatnonzero(~dominated & (size > 0))


def _mclp(groups: sp.csr_matrix, gw: np.ndarray, count: int, time_limit: float) -> np.ndarray | None:
    """Solve the reduced instance with spopt; the chosen columns, or None
    when CBC did not prove optimality in time."""
    import pulp
    from spopt.locate import MCLP

    # spopt takes a cost matrix and a radius: walks within reach are 0, the rest never
    cost = np.where(groups.toarray() > 0, 0.0, np.inf)
    p = min(count, groups.shape[1])
    with warnings.catch_warnings():
        # PuLP 3 warns of its 4.0 API in spopt's model building and for its bundled CBC
        warnings.simplefilter("ignore", DeprecationWarning)
        model = MCLP.from_cost_matrix(cost, gw, service_radius=0.5, p_facilities=p)
        # one thread and a fixed seed: the same instance gives the same optimum
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1, options=["randomCbcSeed 1"])
        try:
            model.solve(solver, results=False)
        except (RuntimeError, pulp.PulpSolverError):
            return None
    if model.problem.sol_status != pulp.LpSolutionOptimal:
        return None
    return np.array([j for j, x in enumerate(model.fac_vars) if (x.value() or 0) > 0.5], dtype=np.int64)


def solve(reach: sp.csr_matrix, weights: np.ndarray, count: int, *, exact: bool = True,
          time_limit: float | None = None, max_cells: int | None = None) -> Solution:
    """Choose up to ``count`` candidates (rows of ``reach``) covering the most weight.

    The greedy solution, improved by swaps (:func:`swapped`), is optimal when
    it meets an upper bound: greedy's own or the LP relaxation's
    (:func:`lp_bound`, sparse, often tight for covering problems). Otherwise
    the exact MCLP (:func:`mclp`, spopt on CBC) if the instance is small
    enough and CBC proves optimality in time, else the improved greedy
    choice with that bound.

    Parameters
    ----------
    reach
        Candidate x demand 0/1 matrix.
    weights
        Weight of each demand point.
    count
        Most candidates to choose.
    exact
        Try the exact MCLP; False: greedy and swaps only.
    time_limit, max_cells
        See :func:`mclp`.

    Returns
    -------
    Solution
        Ranked (:func:`rank`), each chosen candidate adding weight; deterministic.
    """
    w = np.asarray(weights, dtype=float)
    first = greedy(reach, w, count)
    first.chosen, first.gains = rank(reach, w, np.array(first.chosen, dtype=np.int64))
    if _meets(first.bound, first.value):
        return _proven(first)
    chosen, gains = rank(reach, w, swapped(reach, w, first.chosen))
    reduced = _reduce(reach, w)
    groups, gw, keep = reduced
    bound = max(min(first.bound, lp_bound(groups[:, keep], gw, count, time_limit)), float(sum(gains)))
    found = Solution(chosen, gains, float(sum(gains)), bound, "greedy")
    if _meets(found.bound, found.value):
        return _proven(found)
    best = mclp(reach, w, count, time_limit=time_limit, max_cells=max_cells, reduced=reduced) if exact \
        else "exact solver not asked for"
    if not isinstance(best, str):
        return best
    found.note = best
    return found


def _meets(bound: float, value: float) -> bool:
    """The bound proves the value optimal (to the bound's float tolerance)."""
    return bound <= value * (1 + 1e-8) + 1e-6


def lp_bound(groups: sp.csr_matrix, gw: np.ndarray, count: int, time_limit: float | None = None) -> float:
    """The LP relaxation's optimum of a (reduced) instance: an upper bound on
    what any ``count`` candidates can cover (inf when HiGHS finds none in time).

    Sparse, so it scales where the exact model does not: maximise
    ``gw . y`` with ``y_i <= sum of x_j over the candidates j reaching group i``,
    ``sum x <= count`` and ``0 <= x, y <= 1``.
    """
    from scipy.optimize import linprog

    n_g, n_c = groups.shape
    if n_g == 0 or n_c == 0:
        return 0.0
    cover = sp.hstack([-sp.csr_matrix(groups, dtype=float), sp.identity(n_g, format="csr")])
    budget = sp.csr_matrix(np.r_[np.ones(n_c), np.zeros(n_g)][None, :])
    limit = settings.suggest_time_limit_s if time_limit is None else time_limit
    res = linprog(np.r_[np.zeros(n_c), -np.asarray(gw, float)], A_ub=sp.vstack([cover, budget]).tocsr(),
                  b_ub=np.r_[np.zeros(n_g), float(count)], bounds=(0, 1), method="highs",
                  options={"time_limit": float(limit)})
    # the dual bound, not the primal value: a relaxation stopped early proves nothing
    return float(-res.fun) * (1 + 1e-9) + 1e-9 if res.status == 0 else math.inf


def swapped(reach: sp.csr_matrix, weights: np.ndarray, chosen: list[int]) -> np.ndarray:
    """Improve a choice by swaps: while replacing one chosen candidate by the
    best other one adds weight, do so (first chosen first, lowest index on a
    tie). Each swap adds weight, so this ends; it stays deterministic."""
    w = np.asarray(weights, dtype=float)
    chosen = [int(j) for j in chosen]
    changed = True
    while changed:
        changed = False
        for i in range(len(chosen)):
            rest = chosen[:i] + chosen[i + 1:]
            taken = np.asarray(reach[rest].sum(axis=0)).ravel() > 0 if rest else np.zeros(reach.shape[1], bool)
            gains = _weights_of(reach, np.where(taken, 0.0, w))
            gains[rest] = -1.0
            j = int(np.argmax(gains))
            if gains[j] > gains[chosen[i]] * (1 + 1e-12) + 1e-9:
                chosen[i], changed = j, True
    return np.array(chosen, dtype=np.int64)


def _reduce(reach: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The reduced instance: demand groups, their weights, the candidates kept."""
    groups, gw = _groups(reach, w)
    return groups, gw, _undominated(groups)


def mclp(reach: sp.csr_matrix, weights: np.ndarray, count: int, *, time_limit: float | None = None,
         max_cells: int | None = None, reduced: tuple | None = None) -> Solution | str:
    """The exact maximal covering choice, by spopt's MCLP on a reduced instance.

    Demand points with the same set of candidates are merged (weights
    added), demand nobody reaches or of weight 0 is dropped, and so are
    candidates whose demand is a subset of another's: the optimum is that
    of the full instance.

    Parameters
    ----------
    reach, weights, count
        As :func:`solve`.
    time_limit
        CBC's time limit, seconds (default ``settings.suggest_time_limit_s``).
    max_cells
        Largest reduced instance (groups x candidates) tried (default
        ``settings.suggest_exact_cells``).
    reduced
        The reduced instance, when the caller has it already.

    Returns
    -------
    Solution or str
        The optimal, ranked solution; or why there is none (too large, or
        not proven optimal in time).
    """
    w = np.asarray(weights, dtype=float)
    time_limit = settings.suggest_time_limit_s if time_limit is None else time_limit
    max_cells = settings.suggest_exact_cells if max_cells is None else max_cells
    groups, gw, keep = _reduce(reach, w) if reduced is None else reduced
    cells = groups.shape[0] * len(keep)
    if cells > max_cells:
        return f"reduced instance of {cells:,} cells is above the exact limit ({max_cells:,})"
    if len(keep) == 0:
        return Solution([], [], 0.0, 0.0, "exact")
    picked = _mclp(groups[:, keep], gw, count, time_limit)
    if picked is None:
        return f"CBC did not prove optimality within {time_limit:g} s"
    chosen, gains = rank(reach, w, keep[picked])
    return Solution(chosen, gains, float(sum(gains)), float(sum(gains)), "exact")


def _proven(s: Solution) -> Solution:
    """A heuristic solution that meets an upper bound on the optimum is optimal."""
    return Solution(s.chosen, s.gains, s.value, s.value, "exact", "the choice meets an upper bound on the optimum")


def rank(reach: sp.csr_matrix, weights: np.ndarray, chosen: np.ndarray) -> tuple[list[int], list[float]]:
    """Order ``chosen`` greedily (most added first, lowest index on a tie),
    after dropping candidates whose demand the others cover already (the
    highest index first), so that every site ranked is needed."""
    w = np.asarray(weights, dtype=float).copy()
    left = sorted(int(j) for j in chosen)
    while left:
        sub = reach[left]
        times = np.asarray(sub.sum(axis=0)).ravel()
        alone = np.asarray(sub @ (w * (times == 1)), dtype=float).ravel()
        spare = np.flatnonzero(alone <= 0)
        if len(spare) == 0:
            break
        left.pop(int(spare[-1]))
    order, gains = [], []
    while left:
        g = _weights_of(reach, w, np.array(left))
        k = int(np.argmax(g))
        if g[k] <= 0:
            break
        j = left.pop(k)
        order.append(j)
        gains.append(float(g[k]))
        w[reach.indices[reach.indptr[j]:reach.indptr[j + 1]]] = 0.0
    return order, gains


# ---------------------------------------------------------------- demand and candidates


@dataclass
class Demand:
    """The origins of a category's analysis that no facility of it reaches.

    Attributes
    ----------
    within
        Over every origin of the study: reached by an existing facility.
    origin
        The demand: positions in the study's origins (homes and area
        sample points, snapped, not reached).
    snapped
        Those origins snapped.
    weight
        Residents of each (0 for an area sample point).
    """

    within: np.ndarray
    origin: np.ndarray
    snapped: Snapped
    weight: np.ndarray


def uncovered(study: Any, category: str) -> Demand:
    """What no facility of ``category`` reaches, measured as the analysis did
    (same engine calls, same search bound, then within ``limit_m``)."""
    origins, net = study.origins, study.net
    points, _ = study.access.of(study.facilities["category"].values == category)
    node_metres = node_distances(net, points, study.search, study.region)
    metres = point_distances(net, node_metres, origins.snapped, points, study.search)
    within = np.nan_to_num(metres, nan=np.inf) <= study.cfg.limit_m(category)
    demand = np.flatnonzero(~origins.centres & origins.snapped.ok & ~within)
    weight = np.zeros(len(demand))
    homes = origins.kind[demand] == origins.HOME
    weight[homes] = study.buildings["residents"].values[origins.building[demand[homes]]]
    return Demand(within, demand, origins.snapped.subset(demand), weight)


@dataclass
class Candidates:
    """Candidate sites: points (analysis CRS), snapped, with an id and a name each."""

    points: np.ndarray
    snapped: Snapped
    ids: np.ndarray
    names: np.ndarray
    source: str

    def subset(self, mask: np.ndarray) -> "Candidates":
        return Candidates(self.points[mask], self.snapped.subset(mask), self.ids[mask], self.names[mask],
                          self.source)


def street_candidates(net: StreetNetwork, near: np.ndarray, distance: float,
                      spacing: float | None = None) -> Candidates:
    """Points along every street within ``distance`` (straight line) of ``near``.

    Each such street gets ``ceil(length / spacing)`` points, at the middles
    of equal pieces, so no point of it is more than ``spacing / 2`` from a
    candidate. Ids name the street by its end nodes' OSM ids and the piece.
    """
    spacing = settings.suggest_spacing_m if spacing is None else spacing
    if len(near) == 0:
        return _empty_candidates()
    _, hit = net.tree.query(np.asarray(near), predicate="dwithin", distance=distance)
    edges = np.unique(hit)
    pieces = np.maximum(1, np.ceil(net.length[edges] / spacing)).astype(np.int64)
    edge = np.repeat(edges, pieces)
    start = np.repeat(np.cumsum(pieces) - pieces, pieces)
    k = np.arange(len(edge)) - start
    offset = (k + 0.5) * net.length[edge] / pieces[np.searchsorted(edges, edge)]
    scale = net.geom_length[edge] / np.where(net.length[edge] > 0, net.length[edge], 1.0)
    points = shapely.line_interpolate_point(net.geoms[edge], offset * scale)
    ids = np.array([f"street:{net.nodes[net.eu[e]]}-{net.nodes[net.ev[e]]}:{i}" for e, i in zip(edge, k)],
                   dtype=object)
    snapped = Snapped(edge.astype(np.int64), offset, np.zeros(len(edge)))
    return Candidates(points, snapped, ids, np.full(len(edge), "", dtype=object), "streets")


def _empty_candidates() -> Candidates:
    z = np.zeros(0, dtype=np.int64)
    return Candidates(np.zeros(0, dtype=object), Snapped(z, np.zeros(0), np.zeros(0)),
                      np.zeros(0, dtype=object), np.zeros(0, dtype=object), "streets")


_ID_COLUMNS = ("candidate_id", "site_id", "id", "fid", "osm_id", "编号")
_NAME_COLUMNS = ("name", "名称", "site", "名字")
_LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
_LAT_COLUMNS = ("lat", "latitude", "y", "纬度")


def read_candidates(source: str | Path | gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Candidate sites from a vector file, a CSV with longitude and latitude
    columns (WGS84), or a GeoDataFrame, as points in ``crs``.

    Points are kept; polygons (vacant lots, plots, buildings) and lines
    become a representative point inside them. A file without a CRS is taken
    as EPSG:4326 when its coordinates are longitudes and latitudes, and
    refused otherwise.

    Returns
    -------
    geopandas.GeoDataFrame
        ``candidate_id``, ``name``, geometry (Points, ``crs``).

    Raises
    ------
    InputFileError
        Missing, unreadable or empty file, rows without geometry, or
        projected-looking coordinates without a CRS.
    """
    from ..fileio import find_column, read_vector

    what = "candidates file"
    if isinstance(source, gpd.GeoDataFrame):
        gdf, label = source.copy(), "candidates"
    else:
        path = Path(source)
        label = f"{what} {path}"
        if not path.is_file():
            raise InputFileError(f"{what} not found: {path}")
        try:
            gdf = read_vector(path) if path.suffix.lower() != ".csv" else _read_csv(path)
        except InputFileError:
            raise
        except Exception as e:  # pyogrio/GDAL raise many types for bad files
            raise InputFileError(f"cannot read {label}: {first_line(e)}") from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf or len(gdf) == 0:
        raise InputFileError(f"{label} has no features")
    geoms = gdf.geometry.values
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise InputFileError(f"{label}: feature {int(np.argmax(bad)) + 1} has no geometry")
    x0, y0, x1, y1 = gdf.total_bounds
    lonlat = x0 >= -180 and x1 <= 180 and max(abs(y0), abs(y1)) <= 90
    if gdf.crs is None:
        if not lonlat:
            raise InputFileError(f"{label} has no CRS and its coordinates are not longitude/latitude; "
                                 "save it with its CRS")
        gdf = gdf.set_crs("EPSG:4326")
    elif gdf.crs.is_geographic and not lonlat:
        # GeoJSON is read as EPSG:4326 whatever it holds: projected metres in it are a mistake
        raise InputFileError(f"{label}: coordinates such as ({x1:.0f}, {y1:.0f}) are not longitude/latitude, "
                             "as its CRS says; save it with its projected CRS (e.g. as a GeoPackage)")
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    id_col, name_col = find_column(gdf.columns, _ID_COLUMNS), find_column(gdf.columns, _NAME_COLUMNS)
    ids = [f"candidate/{i + 1}" for i in range(len(gdf))] if id_col is None else \
        [str(v) if not pd.isna(v) else f"candidate/{i + 1}" for i, v in enumerate(gdf[id_col])]
    names = [""] * len(gdf) if name_col is None else ["" if pd.isna(v) else str(v) for v in gdf[name_col]]
    out = gpd.GeoDataFrame({"candidate_id": ids, "name": names}, geometry=list(points), crs=gdf.crs)
    return out.to_crs(crs)


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    """A CSV of candidate sites with longitude and latitude columns (WGS84)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gdf = gpd.read_file(path, X_POSSIBLE_NAMES=",".join(_LON_COLUMNS), Y_POSSIBLE_NAMES=",".join(_LAT_COLUMNS),
                            KEEP_GEOM_COLUMNS="NO")
    if not isinstance(gdf, gpd.GeoDataFrame) or (len(gdf) and shapely.is_missing(gdf.geometry.values).all()):
        raise InputFileError(f"candidates file {path} has no longitude/latitude columns (need one of "
                             f"{', '.join(_LON_COLUMNS)} and one of {', '.join(_LAT_COLUMNS)})")
    return gdf


def _file_candidates(source: Any, net: StreetNetwork, max_snap_m: float, notes: list[str]) -> Candidates:
    """Snap a user's candidates; those too far from any street are dropped with a warning."""
    gdf = read_candidates(source, net.crs)
    points = gdf.geometry.values
    snapped = snap_points(net, points, max_snap_m)
    label = str(source) if not isinstance(source, gpd.GeoDataFrame) else "candidates"
    if not snapped.ok.any():
        _, dist = net.tree.query_nearest(points, return_distance=True, all_matches=False)
        raise InputFileError(f"no site of {label} lies within {max_snap_m:g} m of a walkable street "
                             f"(the nearest is {float(np.min(dist)):.0f} m away)")
    far = int((~snapped.ok).sum())
    if far:
        notes.append(f"{far} candidate sites are more than {max_snap_m:g} m from any walkable street "
                        "and were left out")
    cands = Candidates(points, snapped, np.asarray(gdf["candidate_id"], dtype=object),
                       np.asarray(gdf["name"], dtype=object), label)
    return cands.subset(snapped.ok)


# ---------------------------------------------------------------- the suggestion


SITE_COLUMNS = ["rank", "site_id", "candidate_id", "name", "category", "residents_gained", "residents_cumulative",
                "homes_gained", "communities_covered", "communities_completed", "completed_ids", "snap_m",
                "lon", "lat", "geometry"]


@dataclass
class Suggestion:
    """Where up to ``count`` new facilities of a category serve the most residents.

    Attributes
    ----------
    category, limit_m, count
        The category, the walking distance it is judged at, the most sites asked for.
    sites
        GeoDataFrame (analysis CRS), one row per chosen site in rank order:
        ``rank``, ``site_id`` ("S1", ...), ``candidate_id``, ``name``,
        ``category``, ``residents_gained`` (residents newly within reach,
        beyond those of the sites ranked before), ``residents_cumulative``,
        ``homes_gained``, ``communities_covered`` and
        ``communities_completed`` (communities that become covered for the
        category, or complete, with this site and those before it),
        ``completed_ids``, ``snap_m``, ``lon``, ``lat``.
    residents_gained
        Residents newly within reach with all the sites.
    residents_before, residents_total
        Residents within reach of the existing facilities; all residents of homes.
    method, bound, note
        "exact" (optimal) or "greedy"; an upper bound on the residents any
        ``count`` candidates could bring; why greedy, when it was.
    newly
        GeoDataFrame of the homes the sites bring within reach.
    n_candidates, n_demand
        Candidates considered; demand points (homes and area samples) not reached.
    warnings
        Non-fatal problems (candidates far from streets, nothing to gain).
    """

    category: str
    limit_m: float
    count: int
    sites: gpd.GeoDataFrame
    residents_gained: float
    residents_before: float
    residents_total: float
    method: str
    bound: float
    note: str
    newly: gpd.GeoDataFrame
    n_candidates: int
    n_demand: int
    candidates_source: str
    warnings: list[str] = field(default_factory=list)
    analysis: Any = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"<Suggestion {self.category}: {len(self.sites)} of up to {self.count} sites bring "
                f"{self.residents_gained:,.0f} more residents within {self.limit_m:g} m ({self.method}); "
                f"{self.n_candidates:,} candidates>")

    @property
    def optimal(self) -> bool:
        """True when the residents gained are proven the most possible."""
        return self.method == "exact"

    @property
    def communities_completed(self) -> int:
        return int(self.sites["communities_completed"].sum()) if len(self.sites) else 0

    def summary(self, lang: str = "en") -> str:
        """The result in one line, e.g. "3 sites bring 1,240 more residents
        within 300 m of a canteen; 2 communities become complete"."""
        from ..i18n import category_label, t

        label = category_label(self.analysis.config, self.category, lang) if self.analysis is not None \
            else self.category
        if lang == "en":
            label = label.lower()
            label = ("an " if label[:1] in "aeiou" else "a ") + label
        done = self.communities_completed
        complete = t("suggest_complete_1", lang) if done == 1 else t("suggest_complete", lang, n=done)
        key = "suggest_summary_1" if len(self.sites) == 1 else "suggest_summary"
        return t(key, lang, n=len(self.sites), residents=f"{self.residents_gained:,.0f}", metres=f"{self.limit_m:g}",
                 label=label, complete=complete)

    def method_text(self, lang: str = "en") -> str:
        """How the sites were chosen and how good they are, in one line."""
        from ..i18n import t

        if self.optimal:
            return t("suggest_exact_bound" if self.note else "suggest_exact", lang)
        share = self.residents_gained / self.bound if self.bound > 0 else 1.0
        return t("suggest_greedy", lang, note=self.note, share=f"{math.floor(share * 1000) / 10:g}",
                 bound=f"{self.bound:,.0f}")

    def scenario(self) -> gpd.GeoDataFrame:
        """The sites as a scenario (``change`` = ``add_facility``), EPSG:4326,
        as ``lifecircle scenario`` reads it."""
        from ..outputs.suggestion import scenario_frame

        return scenario_frame(self)

    def map(self, lang: str = "en"):
        """The folium map of the suggestion (offline; see :func:`lifecircle.outputs.suggestion.suggest_map`)."""
        from ..outputs.suggestion import suggest_map

        return suggest_map(self, lang)

    def save(self, folder: str | Path, lang: str = "en") -> dict[str, Path]:
        """Write suggest.csv, suggest.gpkg (layer ``suggested_sites``), suggest.html and
        suggested_scenario.geojson into ``folder`` (staged, then renamed)."""
        from ..outputs.suggestion import save_suggestion

        return save_suggestion(self, folder, lang)


def suggest_sites(analysis: "Analysis", category: str, count: int,
                  candidates: str | Path | gpd.GeoDataFrame | None = None, *, direction: str = "auto",
                  exact: bool = True, time_limit: float | None = None, spacing: float | None = None) -> Suggestion:
    """Choose up to ``count`` sites for new ``category`` facilities bringing the
    most residents within the category's walking distance.

    Parameters
    ----------
    analysis
        A finished :class:`~lifecircle.analysis.Analysis` (it keeps its study).
    category
        A category key of the run.
    count
        Most sites to choose (at least 1).
    candidates
        A vector file or GeoDataFrame of candidate sites (points, or
        polygons taken at a representative point; any CRS); None places
        candidates along the streets near uncovered homes
        (``settings.suggest_spacing_m`` apart, or ``spacing``).
    direction
        Coverage matrix searched from the candidates, the uncovered homes, or
        (``"auto"``) the side needing fewer searches: same result
        (:func:`coverage_matrix`).
    exact, time_limit
        Solve exactly with spopt (see :func:`solve`), CBC's time limit.

    Returns
    -------
    Suggestion

    Raises
    ------
    ConfigError
        Unknown category, count below 1, bad direction.
    InputFileError
        A candidates file that is missing, unreadable, empty, or has no site
        near a street.
    """
    study = analysis.study
    check_request(study.cfg, category, count)
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    for name, value in (("time_limit", time_limit), ("spacing", spacing)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}")
    limit = study.cfg.limit_m(category)
    notes: list[str] = []
    demand = uncovered(study, category)
    if candidates is None:
        homes = demand.weight > 0
        cands = street_candidates(study.net, study.origins.points[demand.origin[homes]], limit, spacing)
    else:
        cands = _file_candidates(candidates, study.net, study.cfg.max_snap_m, notes)
    cover = coverage_matrix(study.net, cands.snapped, demand.snapped, limit, direction)
    sol = solve(cover.reach, demand.weight, int(count), exact=exact, time_limit=time_limit)
    if not sol.chosen:
        notes.append(f"no candidate site brings any resident within {limit:g} m of a {category}")
    return _suggestion(analysis, category, int(count), cands, demand, cover, sol, notes)


def _community_flags(study: Any, analysis: "Analysis", category: str, within: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per community: scored points reached, scored points, and whether its
    other categories are all covered."""
    origins = study.origins
    n = len(study.table)
    scored = ~origins.centres
    total = np.bincount(origins.community[scored], minlength=n)
    good = np.bincount(origins.community[scored], weights=within[scored].astype(float), minlength=n)
    others = [k for k in study.cfg.keys if k != category]
    comm = analysis.communities
    rest = comm[[f"covered_{k}" for k in others]].all(axis=1).values if others else np.ones(n, bool)
    return good, total, rest


def _suggestion(analysis: "Analysis", category: str, count: int, cands: Candidates, demand: Demand,
                cover: Coverage, sol: Solution, notes: list[str]) -> Suggestion:
    """Tables of the chosen sites: what each adds, in rank order."""
    study = analysis.study
    origins, cfg = study.origins, study.cfg
    good, total, rest = _community_flags(study, analysis, category, demand.within)
    covered = np.round(good / np.maximum(total, 1), 4) >= cfg.min_share
    complete = covered & rest
    ids, names = study.table["community_id"].values, study.table["name"].values
    reached = np.zeros(len(demand.origin), bool)
    rows = []
    for r, (j, gain) in enumerate(zip(sol.chosen, sol.gains)):
        hit = cover.reach.indices[cover.reach.indptr[j]:cover.reach.indptr[j + 1]]
        new = hit[~reached[hit]]
        reached[new] = True
        homes_new = int((origins.kind[demand.origin[new]] == origins.HOME).sum())
        now = np.bincount(origins.community[demand.origin[reached]], minlength=len(total))
        cov_now = np.round((good + now) / np.maximum(total, 1), 4) >= cfg.min_share
        done = cov_now & rest
        newly_done = done & ~complete
        rows.append({
            "rank": r + 1, "site_id": f"S{r + 1}", "candidate_id": cands.ids[j], "name": cands.names[j],
            "category": category, "residents_gained": round(gain, 1),
            "residents_cumulative": round(float(demand.weight[reached].sum()), 1), "homes_gained": homes_new,
            "communities_covered": int((cov_now & ~covered).sum()),
            "communities_completed": int(newly_done.sum()),
            "completed_ids": ",".join(str(i) for i in ids[newly_done]),
            "completed_names": "; ".join(str(x) for x in names[newly_done]),
            "snap_m": round(float(cands.snapped.leg[j]), 1), "geometry": cands.points[j],
        })
        covered, complete = cov_now, complete | done
    sites = _sites_frame(rows, study.net.crs)
    homes = reached & (origins.kind[demand.origin] == origins.HOME)
    newly = gpd.GeoDataFrame(
        {"community_id": ids[origins.community[demand.origin[homes]]], "residents": demand.weight[homes]},
        geometry=study.buildings.geometry.values[origins.building[demand.origin[homes]]], crs=study.net.crs)
    home = origins.homes
    all_res = study.buildings["residents"].values[origins.building[home]]
    return Suggestion(
        category=category, limit_m=cfg.limit_m(category), count=count, sites=sites,
        residents_gained=float(demand.weight[reached].sum()),
        residents_before=float(all_res[demand.within[home]].sum()), residents_total=float(all_res.sum()),
        method=sol.method, bound=sol.bound, note=sol.note, newly=newly, n_candidates=len(cands.ids),
        n_demand=len(demand.origin), candidates_source=cands.source, warnings=notes, analysis=analysis,
    )


def _sites_frame(rows: list[dict], crs: Any) -> gpd.GeoDataFrame:
    columns = SITE_COLUMNS[:11] + ["completed_names"] + SITE_COLUMNS[11:]
    if not rows:
        return gpd.GeoDataFrame(pd.DataFrame(columns=columns), geometry="geometry", crs=crs)
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=crs)
    lonlat = gdf.geometry.to_crs(settings.output_crs)
    gdf["lon"], gdf["lat"] = np.round(lonlat.x.values, 7), np.round(lonlat.y.values, 7)
    return gdf[columns]

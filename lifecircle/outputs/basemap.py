"""What the map draws under the data: the extract's own walkable streets.

Tiles are the only part of the map that needs the network. On an intranet or
an offline laptop they never load, so the streets of the data itself are
drawn as a light base layer: with every tile blocked an official still sees
where the streets are. They are simplified for display, chained into long
polylines where they meet end to end (:func:`street_trails`), sent as one
compact string (:mod:`lifecircle.outputs.compact`) and drawn as a single
Leaflet polyline on a canvas, so a district of 100,000 streets stays one
layer object and under a megabyte.

The tile source is checked by :mod:`lifecircle.outputs.tiles` (light, so the
command line checks ``--tiles`` before any work).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from jinja2 import Template

from ..core.network import list_ends
from .compact import RawScriptLayer, encode_coords, script_json, to_lonlat

#: Decimal places of the street base layer's coordinates (as the data layers: ~0.1 m).
STREET_DECIMALS = 6
#: Douglas-Peucker tolerance of the street base layer, metres: far below a pixel at street zoom.
STREET_TOLERANCE_M = 1.0
STREET_COLOR = "#8c8c8c"


# ---------------------------------------------------------------- streets


def street_paths(analysis: Any) -> tuple[np.ndarray, np.ndarray]:
    """The walkable streets of the analysis' network as few long polylines, in
    EPSG:4326 and simplified for display (:data:`STREET_TOLERANCE_M`).

    Streets that meet end to end are drawn as one polyline (:func:`street_trails`):
    the shared point is written once and the next street needs no jump,
    which halves the layer's bytes; Leaflet's round joins draw a polyline
    through a crossing exactly as the streets that meet there.

    Returns
    -------
    tuple of numpy.ndarray
        ``(lonlat, counts)``: the points (n, 2) of every polyline, one after
        another, and the number of points of each.
    """
    geoms = street_geometries(analysis)
    crs = getattr(analysis, "crs", None)
    if len(geoms) == 0 or crs is None:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    geoms = geoms[~shapely.is_empty(geoms)]
    # a two-point street has nothing to simplify: most of a city's streets
    bent = shapely.get_num_coordinates(geoms) > 2
    geoms = geoms.copy()
    geoms[bent] = shapely.simplify(geoms[bent], STREET_TOLERANCE_M)
    xy = shapely.get_coordinates(geoms)
    ptr = np.concatenate([[0], np.cumsum(shapely.get_num_coordinates(geoms))])
    order, forward, first = street_trails(xy[ptr[:-1]], xy[ptr[1:] - 1])
    take, counts = _trail_points(ptr, order, forward, first)
    return to_lonlat(xy[take], crs), counts


def street_trails(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain lines into trails: each line once, consecutive lines sharing an end point.

    At every point where lines end, their ends are paired up (in line order),
    and a trail goes on from a line into the line paired with its end. That
    makes paths and cycles of lines; each is walked from one free end (a cycle
    from its first line). All in numpy: the walk's order comes from pointer
    jumping (list ranking), not from a Python loop over a city's streets.

    Parameters
    ----------
    start, end
        The first and last point (m, 2) of each line. Ends are the same
        point only if their coordinates are equal.

    Returns
    -------
    order
        The lines in drawing order (a permutation of ``range(m)``).
    forward
        Per entry of ``order``: drawn from start to end (else reversed).
    first
        Per entry of ``order``: starts a new trail.
    """
    m = len(start)
    if m == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), np.empty(0, dtype=bool)
    # half-line h: end h & 1 (0: start, 1: end) of line h >> 1, at points[h]
    points = np.empty((2 * m, 2))
    points[0::2], points[1::2] = start, end
    partner = _pair_ends(points)
    comp = _components(partner)
    halves = np.arange(2 * m)
    # state s: line s >> 1 entered at its end s & 1; next: the line paired with its other end
    nxt = partner[halves ^ 1]
    n_comp = comp.max() + 1
    # each chain starts at a free end (the lowest), a cycle at the start of its first line
    start_state = np.full(n_comp, 2 * m)
    free = np.flatnonzero(partner < 0)
    np.minimum.at(start_state, comp[free >> 1], free)
    _, first_line = np.unique(comp, return_index=True)
    cycles = np.flatnonzero(start_state == 2 * m)
    if len(cycles):
        s0 = 2 * first_line[cycles]
        # cut each cycle before its start, in both directions of travel
        nxt[partner[s0] ^ 1] = -1
        nxt[partner[s0 ^ 1] ^ 1] = -1
        start_state[cycles] = s0
    last, steps = list_ends(nxt)
    # of each line's two states, the one on its component's chosen walk
    lines = np.arange(m)
    state = 2 * lines + (last[2 * lines] != last[start_state[comp]])
    size = np.bincount(comp, minlength=n_comp)
    position = size[comp] - 1 - steps[state]
    order = np.lexsort((position, first_line[comp]))
    return order, (state[order] & 1) == 0, position[order] == 0


def _pair_ends(points: np.ndarray) -> np.ndarray:
    """For each half-line (see :func:`street_trails`), the half-line it is paired with
    at its point ``points[h]`` (the 1st there with the 2nd, the 3rd with the 4th...), or -1."""
    # x + iy: one sortable number per point (sorting rows is several times slower)
    key = points.view(np.complex128).ravel()
    by_point = np.argsort(key, kind="stable")
    sorted_key = key[by_point]
    n = len(key)
    group_start = np.flatnonzero(np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]]))
    rank = np.arange(n) - np.repeat(group_start, np.diff(np.append(group_start, n)))
    a = np.flatnonzero(rank % 2 == 0)
    a = a[a + 1 < n]
    a = a[sorted_key[a + 1] == sorted_key[a]]
    partner = np.full(n, -1)
    partner[by_point[a]] = by_point[a + 1]
    partner[by_point[a + 1]] = by_point[a]
    return partner


def _components(partner: np.ndarray) -> np.ndarray:
    """Component label of each line, lines being joined where their ends are paired."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    m = len(partner) // 2
    paired = np.flatnonzero(partner >= 0)
    graph = coo_matrix((np.ones(len(paired)), (paired >> 1, partner[paired] >> 1)), shape=(m, m))
    return connected_components(graph, directed=False)[1]


def _trail_points(ptr: np.ndarray, order: np.ndarray, forward: np.ndarray,
                  first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point indices of the trails of :func:`street_trails` (the point a line shares
    with the line before it taken once), and the number of points of each trail.

    ``ptr``: line i is the points ``ptr[i]:ptr[i + 1]``."""
    lo, hi = ptr[order], ptr[order + 1]
    skip = (~first).astype(np.int64)
    n = hi - lo - skip
    j = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(skip, n)
    take = np.where(np.repeat(forward, n), np.repeat(lo, n) + j, np.repeat(hi, n) - 1 - j)
    counts = np.add.reduceat(n, np.flatnonzero(first)) if len(n) else n
    return take, counts


def street_geometries(analysis: Any) -> np.ndarray:
    """The analysis' streets as LineStrings in its CRS, one per street (not per direction):
    the run's indexed network, or the edges of ``analysis.graph`` without one."""
    net = getattr(getattr(analysis, "study", None), "net", None)
    if net is not None:
        return np.asarray(net.geoms, dtype=object)
    return _graph_lines(getattr(analysis, "graph", None))


def _graph_lines(graph: Any) -> np.ndarray:
    if graph is None or graph.number_of_edges() == 0:
        return np.empty(0, dtype=object)
    seen, lines = set(), []
    for u, v, data in graph.edges(data=True):
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in (u, v)])
        key = frozenset((u, v)), round(geom.length, 3)
        if key not in seen:  # the reverse direction of a street drawn already
            seen.add(key)
            lines.append(geom)
    return np.asarray(lines, dtype=object)


class StreetLayer(RawScriptLayer):
    """The data's streets as one canvas-drawn Leaflet polyline, in a pane under the data layers.

    ``lonlat`` and ``counts`` are :func:`street_paths`'. ``name`` and
    ``attribution`` are HTML (escaped by the caller): Leaflet's layer and
    attribution controls write them with ``innerHTML``. The page needs
    :data:`lifecircle.outputs.compact.DECODE_JS` in its header.
    """

    _script = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var map = {{ this._parent.get_name() }};
            if (!map.getPane('lc-streets')) {
                var pane = map.createPane('lc-streets');
                pane.style.zIndex = 350;
                pane.style.pointerEvents = 'none';
            }
            var options = {{ this.options|tojson }};
            options.renderer = L.canvas({pane: 'lc-streets', padding: 0.5});
            var c = lcCoords({{ this.text|tojson }}, {{ this.decimals }}), k = 0;
            var lines = {{ this.counts_json }}.map(function (n) {
                var line = [];
                for (var i = 0; i < n; i++, k += 2) line.push([c[k], c[k + 1]]);
                return line;
            });
            return L.polyline(lines, options);
        })();
        {% endmacro %}
    """)

    def __init__(self, lonlat: np.ndarray, counts: np.ndarray, name: str, attribution: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StreetLayer"
        self.text = encode_coords(lonlat, STREET_DECIMALS)
        self.counts_json = script_json(np.asarray(counts).tolist())
        self.decimals = STREET_DECIMALS
        self.options = {"color": STREET_COLOR, "weight": 1.2, "opacity": 0.9, "interactive": False,
                        "pane": "lc-streets", "attribution": attribution, "className": "lc-streets"}

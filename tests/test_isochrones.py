"""Tests for lifecircle.core.isochrones: street-following reach polygons.

On random networks the reached street pieces are recomputed here from
networkx distances (each source inserted as a node splitting its street);
the polygon must cover every one of them and no node beyond the threshold.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.ops import substring
from test_engine import random_network, random_points, reference_distances, reference_graph

from lifecircle import settings as lc_settings
from lifecircle.core.engine import node_distances, origin_node_distances, snap_points
from lifecircle.core.isochrones import piece_geometries, reach_polygon, reached_pieces
from lifecircle.core.network import StreetNetwork

EPS = 1e-6


def _union_length(intervals) -> float:
    total, end = 0.0, -np.inf
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def independent_pieces(syn, groups, dist, limit):
    """Reached intervals of every generated street, in length units from its
    u end, from the distances ``dist`` of the reference graph's nodes."""
    chains = defaultdict(list)
    for g, sn in groups.items():
        for i in np.flatnonzero(sn.ok):
            s, flipped = syn.street_of(int(sn.edge[i]))
            a = float(sn.offset[i])
            chains[s].append((syn.streets[s][3] - a if flipped else a, ("s", g, int(i))))
    out = defaultdict(list)
    for s, (u, v, _, length) in enumerate(syn.streets):
        stops = [(0.0, u)] + sorted(chains.get(s, [])) + [(length, v)]
        for (a0, n0), (a1, n1) in zip(stops, stops[1:]):
            r0 = limit - dist.get(n0, np.inf)
            r1 = limit - dist.get(n1, np.inf)
            if r0 >= 0:
                out[s].append((a0, min(a0 + r0, a1)))
            if r1 >= 0:
                out[s].append((max(a1 - r1, a0), a1))
    return out


def street_piece(syn, s, a, b):
    _, _, geom, length = syn.streets[s]
    k = geom.length / length
    return substring(geom, a * k, b * k)


def check_polygon(syn, poly, frontage, node_ref, ref_pieces, pieces, limit):
    net = syn.net
    # 1. the library's own pieces, and the independent ones, are covered
    geoms = piece_geometries(net, pieces)
    for g in geoms:
        assert poly.covers(g), f"piece {g.wkt[:80]} not covered"
    indep = [street_piece(syn, s, a, b) for s, iv in ref_pieces.items() for a, b in iv]
    for g in indep:
        assert poly.covers(g), f"independent piece {g.wkt[:80]} not covered"
    # 2. the library's pieces reach exactly as far as the reference ones
    lib = defaultdict(list)
    for e, a, b in pieces:
        s, flipped = syn.street_of(e)
        L = syn.streets[s][3]
        lib[s].append((L - b, L - a) if flipped else (a, b))
    for s in set(lib) | set(ref_pieces):
        assert _union_length(lib.get(s, [])) == pytest.approx(
            _union_length(ref_pieces.get(s, [])), abs=1e-6)
    # 3. no node beyond the threshold is inside
    for nid in syn.graph.nodes:
        d = node_ref.get(nid, np.inf)
        if d > limit + EPS:
            p = shapely.Point(syn.graph.nodes[nid]["x"], syn.graph.nodes[nid]["y"])
            assert not poly.covers(p), f"node {nid} at {d:.3f} > {limit} covered"
    # 4. and the polygon hugs the streets: it stays within the frontage depth
    # plus raster slack (bounded here by 2.5 x the frontage) of reached streets
    if indep:
        near = shapely.union_all(shapely.buffer(indep, 2.5 * frontage))
        assert near.covers(poly)
    else:
        assert poly.is_empty


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(2, 6), st.integers(7, 40)),
    scaled=st.booleans(),
    n_fac=st.integers(1, 6),
    limit=st.sampled_from([40.0, 150.0, 400.0]),
    frontage=st.sampled_from([10.0, 25.0, 40.0]),
)
def test_facility_reach_polygon(seed, n, scaled, n_fac, limit, frontage):
    syn = random_network(seed, n, 2, scaled)
    net = syn.net
    fac = snap_points(net, random_points(seed + 7, syn, n_fac), 200.0)
    nd = node_distances(net, fac, 3 * limit)
    R = reference_graph(syn, {"F": fac})
    ref = reference_distances(R, [("F", int(i)) for i in np.flatnonzero(fac.ok)])
    poly = reach_polygon(net, nd, limit, fac, frontage_m=frontage)
    pieces = reached_pieces(net, nd, limit, fac)
    check_polygon(syn, poly, frontage, ref, independent_pieces(syn, {"F": fac}, ref, limit), pieces, limit)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(2, 6), st.integers(7, 40)),
    limit=st.sampled_from([60.0, 250.0]),
)
def test_origin_reach_polygon(seed, n, limit):
    # as community isochrones are drawn: distances from one origin
    syn = random_network(seed, n, 3, True)
    net = syn.net
    org = snap_points(net, random_points(seed + 9, syn, 1), 200.0)
    row = origin_node_distances(net, org, limit)[0]
    R = reference_graph(syn, {"O": org})
    ref = reference_distances(R, [("O", 0)] if org.ok[0] else [])
    poly = reach_polygon(net, row, limit, org)
    pieces = reached_pieces(net, row, limit, org)
    check_polygon(syn, poly, 25.0, ref, independent_pieces(syn, {"O": org}, ref, limit), pieces, limit)


def test_river_stays_outside():
    # two parallel streets 200 m apart, joined only at one end: a 1,500 m
    # reach along both must not fill the "river" between them
    import networkx as nx

    G = nx.MultiDiGraph(crs="EPSG:32635")
    coords = {1: (0, 0), 2: (600, 0), 3: (600, 200), 4: (0, 200)}
    for nid, (x, y) in coords.items():
        G.add_node(nid, x=x, y=y)
    for u, v in [(1, 2), (2, 3), (3, 4)]:
        L = float(np.hypot(*np.subtract(coords[u], coords[v])))
        G.add_edge(u, v, length=L)
        G.add_edge(v, u, length=L)
    net = StreetNetwork.from_graph(G)
    src = snap_points(net, np.array([[0.0, 0.0]]), 50.0)
    nd = node_distances(net, src)
    poly = reach_polygon(net, nd, 1500.0, src, frontage_m=25.0)
    assert poly.covers(shapely.LineString([(0, 0), (600, 0), (600, 200), (0, 200)]))
    for y in (70, 100, 130):  # 70 m from either street: no frontage there
        assert not poly.covers(shapely.Point(300, y))
    hull = shapely.convex_hull(shapely.MultiPoint(list(coords.values())))
    assert poly.area < 0.75 * hull.area


# ---------------------------------------------------------------------------
# the real extract


@pytest.fixture(scope="module")
def real(analysis):
    G = analysis.graph
    net = StreetNetwork.from_graph(G)
    U = nx.Graph()
    for u, v, d in G.edges(data=True):
        if not U.has_edge(u, v) or U[u][v]["length"] > d["length"]:
            U.add_edge(u, v, length=d["length"])
    return G, net, U


def _real_pieces(G, dist, limit):
    """Reached pieces of every directed edge from node distances (networkx)."""
    out = []
    for u, v, d in G.edges(data=True):
        r = limit - dist.get(u, np.inf)
        if r < 0:
            continue
        geom = d.get("geometry") or shapely.LineString(
            [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        if not np.allclose(geom.coords[0], (G.nodes[u]["x"], G.nodes[u]["y"])):
            geom = shapely.reverse(geom)
        out.append(substring(geom, 0, min(r, d["length"]) * geom.length / d["length"]))
    return out


def _beyond_off_street(order, xy, dist, limit, pieces):
    """Nodes beyond ``limit`` that are not on a reached street in 2-D.

    Stacked levels put distinct OSM nodes at one spot (in this extract node
    6152373292, the end of a level-2 tunnel footway, sits exactly on a vertex
    of a level-1 one): a plane polygon cannot leave out a node lying on a
    street it must cover, so such nodes (within 1 mm) are not checked.
    """
    beyond = np.array([dist.get(n, np.inf) > limit + EPS for n in order])
    gap = shapely.distance(shapely.union_all(pieces), shapely.points(xy))
    return beyond & (gap > 1e-3)


@pytest.mark.parametrize("pick", [0.1, 0.5, 0.9])
def test_real_isochrone_from_a_node(real, pick):
    G, net, U = real
    limit = 750.0
    order = sorted(G.nodes)
    source = order[int(pick * len(order))]
    dist = nx.single_source_dijkstra_path_length(U, source, weight="length")
    nd = np.array([dist.get(n, np.inf) for n in net.nodes.tolist()])
    src = snap_points(net, np.array([[G.nodes[source]["x"], G.nodes[source]["y"]]]), 1.0)
    poly = reach_polygon(net, nd, limit, src)
    pieces = _real_pieces(G, dist, limit)
    assert len(pieces) > 50
    missing = [g for g in pieces if not poly.covers(g)]
    assert not missing, f"{len(missing)} reached pieces not covered"
    xy = np.array([[G.nodes[n]["x"], G.nodes[n]["y"]] for n in order])
    beyond = _beyond_off_street(order, xy, dist, limit, pieces)
    inside = shapely.covers(poly, shapely.points(xy))
    assert not (inside & beyond).any(), f"{int((inside & beyond).sum())} nodes beyond {limit} m covered"
    within = np.array([dist.get(n, np.inf) <= limit for n in order])
    assert inside[within].all()
    # a convex-hull isochrone with the same frontage depth claims more
    # (the hull of the buffered streets = the buffered hull of the streets)
    hull = shapely.buffer(shapely.convex_hull(shapely.union_all(pieces)), lc_settings.frontage_m)
    assert poly.area < hull.area


def test_real_community_isochrones(analysis, real):
    """Each community's isochrone leaves out every node beyond its limit
    (node distances from the centre by networkx, through the centre's
    nearest street found by brute force)."""
    G, net, U = real
    iso = analysis.isochrones
    assert set(iso["community_id"]) == set(analysis.communities["community_id"])
    geoms = {}
    for u, v, d in G.edges(data=True):
        geom = d.get("geometry") or shapely.LineString(
            [(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        if not np.allclose(geom.coords[0], (G.nodes[u]["x"], G.nodes[u]["y"])):
            geom = shapely.reverse(geom)
        geoms[(u, v)] = (geom, d["length"])
    keys = list(geoms)
    lines = np.array([geoms[k][0] for k in keys], dtype=object)
    order = sorted(G.nodes)
    xy = np.array([[G.nodes[n]["x"], G.nodes[n]["y"]] for n in order])
    centres = dict(zip(analysis.communities["community_id"],
                       analysis.communities.geometry.representative_point()))
    col = "minutes" if analysis.config.mode == "time" else "metres"
    for cid, value, poly in zip(iso["community_id"], iso[col], iso.geometry):
        limit = analysis.config.to_metres(value)  # each row at its own threshold (300 m and 500 m)
        c = centres[cid]
        dd = shapely.distance(lines, c)
        j = int(np.argmin(dd))
        (u, v), (geom, length) = keys[j], geoms[keys[j]]
        a = geom.project(c) * length / geom.length
        H = U.copy()
        H.add_edge("c", u, length=a + dd[j])
        H.add_edge("c", v, length=length - a + dd[j])
        dist = nx.single_source_dijkstra_path_length(H, "c", weight="length")
        pieces = _real_pieces(G, dist, limit)
        beyond = _beyond_off_street(order, xy, dist, limit, pieces)
        inside = shapely.covers(poly, shapely.points(xy))
        assert not (inside & beyond).any(), cid
        assert inside.sum() > 0
        # the raster dilates by a square of cells: across a diagonal street it
        # reaches up to frontage x sqrt(2), so that is the hull's margin (a
        # straight reach, as at the extract's edge, has a hull no wider than it)
        hull = shapely.buffer(shapely.convex_hull(shapely.union_all(pieces)), lc_settings.frontage_m * np.sqrt(2))
        assert poly.area < hull.area, (cid, value)

"""Tests for lifecircle.core.engine: snapping and edge-snapped shortest distances.

The reference is networkx's Dijkstra on a graph built here from the streets
as generated: every snapped point becomes a node that splits its street,
with a leg edge out to the point itself.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from scipy.spatial import cKDTree

from lifecircle.core.engine import (
    Snapped,
    nearest_node_facilities,
    nearest_point_facilities,
    node_distances,
    origin_node_distances,
    point_distances,
    snap_points,
)
from lifecircle.core.network import StreetNetwork

CRS = "EPSG:32635"
INF = np.inf

# ---------------------------------------------------------------------------
# synthetic networks (shared with test_isochrones)


class Synthetic:
    """A generated walk network and the streets it was made of.

    ``streets`` holds (u, v, LineString from u to v, length) per street, as
    generated; the StreetNetwork is built from ``graph``.
    """

    def __init__(self, graph, streets):
        self.graph = graph
        self.streets = streets
        self.net = StreetNetwork.from_graph(graph)
        self._by_coords = {}
        for s, (_, _, geom, _) in enumerate(streets):
            c = tuple(map(tuple, np.asarray(geom.coords)))
            self._by_coords[c] = (s, False)
            self._by_coords[c[::-1]] = (s, True)

    def street_of(self, e: int) -> tuple[int, bool]:
        """The generated street behind network edge ``e`` and whether the
        edge runs against the street's direction."""
        c = tuple(map(tuple, np.asarray(self.net.geoms[e].coords)))
        return self._by_coords[c]


def add_street(G, streets, u, v, coords, length, with_geometry):
    geom = shapely.LineString(coords)
    attrs = {"length": float(length)}
    if with_geometry:
        G.add_edge(u, v, geometry=geom, reversed=False, **attrs)
        G.add_edge(v, u, geometry=shapely.reverse(geom), reversed=True, **attrs)
    else:
        G.add_edge(u, v, reversed=False, **attrs)
        G.add_edge(v, u, reversed=True, **attrs)
    streets.append((u, v, geom, float(length)))


def random_network(seed: int, n: int, k: int = 2, scaled: bool = False) -> Synthetic:
    """Random points joined to their ``k`` nearest neighbours by streets with
    0-2 intermediate vertices; lengths are the geometry's, or scaled by a
    random factor (as osmnx's great-circle lengths differ from projected
    ones). Some node pairs get a parallel street."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1000, (n, 2))
    ids = (rng.permutation(n) * 13 + 1000).tolist()  # ids unrelated to order
    G = nx.MultiDiGraph(crs=CRS)
    for nid, (x, y) in zip(ids, pts):
        G.add_node(nid, x=float(x), y=float(y))
    _, nbr = cKDTree(pts).query(pts, k=min(k + 1, n))
    pairs = sorted({(min(i, j), max(i, j)) for i in range(n) for j in np.atleast_1d(nbr[i])[1:]})
    streets = []
    for i, j in pairs:
        copies = 2 if rng.random() < 0.15 else 1
        for c in range(copies):
            m = rng.integers(1 if c else 0, 3)  # a parallel street always bends
            t = np.sort(rng.uniform(0.1, 0.9, m))
            mids = pts[i] + t[:, None] * (pts[j] - pts[i]) + rng.normal(0, 40, (m, 2))
            coords = np.vstack([pts[i], mids, pts[j]])
            geom_len = shapely.LineString(coords).length
            length = geom_len * (rng.uniform(0.8, 1.5) if scaled else 1.0)
            u, v = (ids[i], ids[j]) if rng.random() < 0.5 else (ids[j], ids[i])
            if u != ids[i]:
                coords = coords[::-1]
            add_street(G, streets, u, v, coords, length, with_geometry=m > 0 or rng.random() < 0.5)
    return Synthetic(G, streets)


def random_points(seed: int, syn: Synthetic, m: int) -> np.ndarray:
    """Points near streets (a few on nodes, a few far away)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(m):
        r = rng.random()
        if r < 0.1:
            nid = list(syn.graph.nodes)[rng.integers(len(syn.graph))]
            out.append((syn.graph.nodes[nid]["x"], syn.graph.nodes[nid]["y"]))
        elif r < 0.2:
            out.append(tuple(rng.uniform(-600, 1600, 2)))
        else:
            geom = syn.streets[rng.integers(len(syn.streets))][2]
            p = geom.interpolate(rng.uniform(-0.05, 1.05), normalized=True)
            out.append((p.x + rng.normal(0, 20), p.y + rng.normal(0, 20)))
    if not out:
        return np.array([], dtype=object)
    return shapely.points(np.array(out))


def reference_graph(syn: Synthetic, groups: dict[str, Snapped]) -> nx.MultiGraph:
    """The streets as an undirected multigraph, each snapped point of each
    group inserted as a split node ``("s", group, i)`` with a leg edge to
    ``(group, i)``."""
    net = syn.net
    on_street = defaultdict(list)
    for g, sn in groups.items():
        for i in np.flatnonzero(sn.ok):
            s, flipped = syn.street_of(int(sn.edge[i]))
            length = syn.streets[s][3]
            a = float(sn.offset[i])
            # offsets are in length units from the edge's u end
            assert net.length[sn.edge[i]] == pytest.approx(length, rel=1e-12)
            on_street[s].append((length - a if flipped else a, g, int(i)))
    R = nx.MultiGraph()
    R.add_nodes_from(syn.graph.nodes)
    for s, (u, v, _, length) in enumerate(syn.streets):
        chain = sorted(on_street.get(s, []))
        prev, at = u, 0.0
        for a, g, i in chain:
            R.add_edge(prev, ("s", g, i), w=a - at)
            prev, at = ("s", g, i), a
        R.add_edge(prev, v, w=length - at)
    for g, sn in groups.items():
        for i in np.flatnonzero(sn.ok):
            R.add_edge(("s", g, int(i)), (g, int(i)), w=float(sn.leg[i]))
    return R


def reference_distances(R, sources) -> dict:
    return nx.multi_source_dijkstra_path_length(R, set(sources), weight="w") if sources else {}


def close(got: float, want: float, limit: float = INF) -> bool:
    """``got`` agrees with reference ``want`` under a search ``limit``."""
    if np.isfinite(limit) and abs(want - limit) <= 1e-9 * max(1.0, limit):
        return True  # on the limit: either answer is right
    if want > limit or not np.isfinite(want):
        return got == INF
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


# ---------------------------------------------------------------------------
# properties on random networks


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(2, 6), st.integers(7, 40)),
    k=st.integers(1, 3),
    scaled=st.booleans(),
    n_fac=st.integers(0, 8),
    n_org=st.integers(1, 12),
    max_snap=st.sampled_from([25.0, 60.0, 200.0, 5000.0]),
    limit=st.sampled_from([INF, 150.0, 400.0, 900.0]),
)
def test_distances_match_networkx(seed, n, k, scaled, n_fac, n_org, max_snap, limit):
    syn = random_network(seed, n, k, scaled)
    net = syn.net
    fac_pts = random_points(seed + 1, syn, n_fac)
    org_pts = random_points(seed + 2, syn, n_org)
    fac = snap_points(net, fac_pts, max_snap)
    org = snap_points(net, org_pts, max_snap)

    R = reference_graph(syn, {"F": fac, "O": org})
    ref = reference_distances(R, [("F", int(i)) for i in np.flatnonzero(fac.ok)])

    nd = node_distances(net, fac, limit)
    assert nd.shape == (net.n,)
    for idx, nid in enumerate(net.nodes.tolist()):
        want = ref.get(nid, INF)
        assert close(nd[idx], want, limit), (nid, nd[idx], want)

    pd_ = point_distances(net, nd, org, fac, limit)
    for j in range(len(org)):
        if not org.ok[j]:
            assert np.isnan(pd_[j])
            continue
        want = ref.get(("O", j), INF)
        assert close(pd_[j], want, limit), (j, pd_[j], want)

    # searching only the region around the origins changes none of their answers
    bound = limit if np.isfinite(limit) else 2000.0
    region = net.region(org_pts, bound)
    nd_r = node_distances(net, fac, bound, region)
    assert np.all(nd_r[np.setdiff1d(np.arange(net.n), region.nodes)] == INF)
    assert np.all(nd_r >= nd)
    pd_full = point_distances(net, node_distances(net, fac, bound), org, fac, bound)
    assert_array_equal(point_distances(net, nd_r, org, fac, bound), pd_full)

    # from each origin to every node
    od = origin_node_distances(net, org, limit, chunk=3)
    for j in range(len(org)):
        if not org.ok[j]:
            assert np.all(od[j] == INF)
            continue
        from_j = nx.single_source_dijkstra_path_length(R, ("O", j), weight="w")
        for idx, nid in enumerate(net.nodes.tolist()):
            assert close(od[j, idx], from_j.get(nid, INF), limit)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(2, 6), st.integers(7, 40)),
    scaled=st.booleans(),
    max_snap=st.sampled_from([30.0, 100.0, 5000.0]),
)
def test_snapping_finds_nearest_street_point(seed, n, scaled, max_snap):
    syn = random_network(seed, n, 2, scaled)
    net = syn.net
    pts = random_points(seed + 3, syn, 15)
    sn = snap_points(net, pts, max_snap)
    all_geoms = np.array([s[2] for s in syn.streets], dtype=object)
    for i, p in enumerate(pts):
        nearest = float(np.min(shapely.distance(all_geoms, p)))
        if abs(nearest - max_snap) < 1e-9:
            continue
        if nearest > max_snap:
            assert sn.edge[i] == -1 and np.isnan(sn.leg[i])
            continue
        assert sn.edge[i] >= 0
        assert sn.leg[i] == pytest.approx(nearest, rel=1e-9, abs=1e-9)
        # the foot at that offset (in length units) is the nearest point
        s, flipped = syn.street_of(int(sn.edge[i]))
        _, _, geom, length = syn.streets[s]
        along = (length - sn.offset[i] if flipped else sn.offset[i]) * geom.length / length
        assert 0.0 <= sn.offset[i] <= length + 1e-9
        foot = geom.interpolate(along)
        assert foot.distance(p) == pytest.approx(nearest, rel=1e-7, abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(7, 40),
    box=st.tuples(st.floats(0, 900), st.floats(0, 900), st.floats(10, 400), st.floats(10, 400)),
    bound=st.sampled_from([100.0, 300.0, 700.0]),
)
def test_region_exact_inside_its_places(seed, n, box, bound):
    """Nodes inside a place keep their exact distance when the search is
    limited to the place's region, and the region holds every node within
    the bound of the place."""
    syn = random_network(seed, n, 2, scaled=False)
    net = syn.net
    x, y, w, h = box
    place = shapely.box(x, y, x + w, y + h)
    region = net.region(np.array([place]), bound)
    near = np.flatnonzero(shapely.distance(place, shapely.points(net.xy)) <= bound)
    assert np.isin(near, region.nodes).all()
    fac = snap_points(net, random_points(seed + 1, syn, 4), 5000.0)
    nd = node_distances(net, fac, bound)
    nd_r = node_distances(net, fac, bound, region)
    inside = shapely.contains_xy(place, net.xy[:, 0], net.xy[:, 1])
    assert_array_equal(nd_r[inside], nd[inside])


# ---------------------------------------------------------------------------
# hand-made graphs


def hand_network(coords_list, lengths=None, ids=None) -> StreetNetwork:
    G = nx.MultiDiGraph(crs=CRS)
    streets = []
    for k, coords in enumerate(coords_list):
        u, v = ids[k] if ids else (2 * k + 1, 2 * k + 2)
        G.add_node(u, x=coords[0][0], y=coords[0][1])
        G.add_node(v, x=coords[-1][0], y=coords[-1][1])
        geom_len = shapely.LineString(coords).length
        add_street(G, streets, u, v, coords, lengths[k] if lengths else geom_len, with_geometry=True)
    return StreetNetwork.from_graph(G)


def snap1(net, xy, max_snap=200.0):
    return snap_points(net, np.array([xy], dtype=float), max_snap)


def test_snap_straight_edge():
    net = hand_network([[(0, 0), (100, 0)]])
    s = snap1(net, (30, 5))
    assert s.edge[0] == 0
    assert s.offset[0] == pytest.approx(30.0)
    assert s.leg[0] == pytest.approx(5.0)


def test_snap_offset_scaled_to_length():
    # geometry 100 m, street length 200 m: offsets are in length units
    net = hand_network([[(0, 0), (100, 0)]], lengths=[200.0])
    s = snap1(net, (30, -5))
    assert s.offset[0] == pytest.approx(60.0)
    assert s.leg[0] == pytest.approx(5.0)


def test_snap_offset_measured_from_u_end():
    # the street is stored from node 9 at (100, 0) to node 4 at (0, 0)
    net = hand_network([[(100, 0), (0, 0)]], ids=[(9, 4)])
    s = snap1(net, (30, 5))
    u = net.nodes[net.eu[0]]
    expected = 30.0 if u == 4 else 70.0
    assert s.offset[0] == pytest.approx(expected)


def test_snap_l_shaped_edge():
    net = hand_network([[(0, 0), (100, 0), (100, 50)]])
    assert net.length[0] == pytest.approx(150.0)
    s = snap_points(net, np.array([[105.0, 20.0], [50.0, -3.0], [104.0, 53.0]]), 200.0)
    np.testing.assert_allclose(s.offset, [120.0, 50.0, 150.0])
    np.testing.assert_allclose(s.leg, [5.0, 3.0, 5.0])


def test_snap_past_the_end():
    net = hand_network([[(0, 0), (100, 0)]])
    s = snap1(net, (130, 0))
    assert s.offset[0] == pytest.approx(100.0)
    assert s.leg[0] == pytest.approx(30.0)
    s = snap1(net, (-40, 30))
    assert s.offset[0] == pytest.approx(0.0)
    assert s.leg[0] == pytest.approx(50.0)


def test_snap_beyond_max_snap():
    net = hand_network([[(0, 0), (100, 0)]])
    s = snap_points(net, np.array([[50.0, 250.0], [50.0, 150.0]]), 200.0)
    assert s.edge[0] == -1 and np.isnan(s.leg[0])
    assert s.edge[1] == 0 and s.leg[1] == pytest.approx(150.0)
    fac = snap1(net, (0, 0))
    nd = node_distances(net, fac)
    d = point_distances(net, nd, s, fac)
    assert np.isnan(d[0])
    assert d[1] == pytest.approx(50.0 + 150.0)


def test_snap_picks_nearer_of_two_streets():
    net = hand_network([[(0, 0), (100, 0)], [(0, 20), (100, 20)]])
    s = snap_points(net, np.array([[40.0, 6.0], [40.0, 14.0]]), 200.0)
    g0 = [net.geoms[e].coords[0][1] for e in s.edge]
    assert g0 == [0.0, 20.0]
    np.testing.assert_allclose(s.leg, [6.0, 6.0])


def test_shared_edge():
    # facility at x=20 and home at x=70 on one 100 m street: 50 m along it
    # plus both legs; via either end would be 20+70 or 80+30
    net = hand_network([[(0, 0), (100, 0)]])
    fac = snap1(net, (20, 3))
    home = snap1(net, (70, 4))
    nd = node_distances(net, fac)
    np.testing.assert_allclose(sorted(nd), [23.0, 83.0])
    d = point_distances(net, nd, home, fac)
    assert d[0] == pytest.approx(50.0 + 3.0 + 4.0)


def test_shared_edge_two_facilities_and_a_shortcut():
    # a 300 m bend and a 50 m straight street between the same nodes; the
    # facility on the bend is nearer the home on the bend via the shortcut
    net = hand_network(
        [[(0, 0), (0, 100), (50, 100), (50, 0)], [(0, 0), (50, 0)]],
        ids=[(1, 2), (1, 2)],
    )
    assert net.length.tolist() == pytest.approx([250.0, 50.0])
    fac = snap_points(net, np.array([[-1.0, 10.0], [50.0, 320.0]]), 200.0)  # second: too far
    assert fac.ok.tolist() == [True, False]
    home = snap1(net, (51.0, 10.0))
    nd = node_distances(net, fac)
    d = point_distances(net, nd, home, fac)
    # direct along the bend: 10 -> 240 = 230 (+legs 2); via the shortcut: 10 + 50 + 10 (+2)
    assert d[0] == pytest.approx(72.0)


def test_limits():
    net = hand_network([[(0, 0), (100, 0)], [(100, 0), (300, 0)]], ids=[(1, 2), (2, 3)])
    fac = snap1(net, (0, 0))
    nd = node_distances(net, fac, limit=150.0)
    by_id = dict(zip(net.nodes.tolist(), nd))
    assert by_id[1] == pytest.approx(0.0)
    assert by_id[2] == pytest.approx(100.0)
    assert by_id[3] == INF
    homes = snap_points(net, np.array([[40.0, 5.0], [140.0, 5.0], [250.0, 0.0]]), 200.0)
    d = point_distances(net, nd, homes, fac, limit=150.0)
    assert d[0] == pytest.approx(45.0)
    assert d[1] == pytest.approx(145.0)
    assert d[2] == INF
    d = point_distances(net, nd, homes, fac, limit=140.0)
    assert d.tolist()[1:] == [INF, INF]


def test_no_facilities():
    net = hand_network([[(0, 0), (100, 0)]])
    none = snap_points(net, np.array([[50.0, 900.0]]), 200.0)
    nd = node_distances(net, none)
    assert np.all(nd == INF)
    d = point_distances(net, nd, snap1(net, (10, 0)), none)
    assert d[0] == INF


# ---------------------------------------------------------------------------
# which facility is nearest


def check_nearest(got_d: float, got_o: int, per_owner: dict[int, float], limit: float, tol: float) -> None:
    """``got_o`` is a nearest facility at distance ``got_d``, given the
    reference distance to every facility (``per_owner``), or -1 exactly when
    none is within ``limit``."""
    want = min(per_owner.values(), default=INF)
    on_limit = np.isfinite(limit) and abs(want - limit) <= tol
    if got_o == -1:
        assert on_limit or not (np.isfinite(want) and want <= limit), (got_d, want)
        assert not np.isfinite(got_d)
        return
    assert got_d <= limit
    assert abs(got_d - want) <= tol, (got_d, want)
    # the facility named is really that far, not merely some facility
    assert abs(per_owner[got_o] - want) <= tol, (got_o, per_owner[got_o], want)


def per_owner_reference(R, fac: Snapped, owner: np.ndarray, limit: float) -> dict[int, dict]:
    """For each owner id, networkx distances from its access points alone."""
    out = {}
    for o in np.unique(owner[fac.ok]).tolist():
        src = [("F", int(i)) for i in np.flatnonzero(fac.ok & (owner == o))]
        cutoff = limit * 1.01 + 1.0 if np.isfinite(limit) else None
        out[o] = nx.multi_source_dijkstra_path_length(R, set(src), cutoff=cutoff, weight="w")
    return out


def check_all(net, R, node_ids, org, fac, owner, limit, tol):
    """Run both nearest-facility functions and check every node and origin
    against the per-facility reference."""
    nd, no = nearest_node_facilities(net, fac, owner, limit)
    assert no.dtype == np.int64 and no.shape == (net.n,)
    assert_array_equal(nd, node_distances(net, fac, limit))
    pd_, po = nearest_point_facilities(net, nd, no, org, fac, owner, limit)
    assert_array_equal(pd_, point_distances(net, nd, org, fac, limit))
    ref = per_owner_reference(R, fac, owner, limit)
    for idx, nid in enumerate(node_ids):
        per = {o: d.get(nid, INF) for o, d in ref.items()}
        check_nearest(nd[idx], int(no[idx]), per, limit, tol)
    for j in range(len(org)):
        if not org.ok[j]:
            assert np.isnan(pd_[j]) and po[j] == -1
            continue
        per = {o: d.get(("O", j), INF) for o, d in ref.items()}
        check_nearest(pd_[j], int(po[j]), per, limit, tol)
    return nd, no, pd_, po


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(2, 6), st.integers(7, 40)),
    k=st.integers(1, 3),
    scaled=st.booleans(),
    n_fac=st.integers(0, 10),
    n_owner=st.integers(1, 4),
    n_org=st.integers(1, 12),
    max_snap=st.sampled_from([25.0, 60.0, 200.0, 5000.0]),
    limit=st.sampled_from([INF, 150.0, 400.0, 900.0]),
)
def test_nearest_facility_matches_networkx(seed, n, k, scaled, n_fac, n_owner, n_org, max_snap, limit):
    """Several access points per facility (owner ids not 0..m-1): the owner
    returned for every node and origin is one at the least distance."""
    syn = random_network(seed, n, k, scaled)
    net = syn.net
    fac = snap_points(net, random_points(seed + 1, syn, n_fac), max_snap)
    org = snap_points(net, random_points(seed + 2, syn, n_org), max_snap)
    owner = np.random.default_rng(seed).integers(0, n_owner, n_fac) * 10 + 3
    R = reference_graph(syn, {"F": fac, "O": org})
    nd, no, pd_, po = check_all(net, R, net.nodes.tolist(), org, fac, owner, limit, 1e-9 * max(1.0, 1000.0))

    # the same input gives the same answer
    nd2, no2 = nearest_node_facilities(net, fac, owner, limit)
    assert_array_equal(no2, no)

    # the region's search names the same facilities for its places' nodes
    bound = limit if np.isfinite(limit) else 2000.0
    org_pts = random_points(seed + 2, syn, n_org)
    region = net.region(org_pts, bound)
    nd_r, no_r = nearest_node_facilities(net, fac, owner, bound, region)
    assert_array_equal(nd_r, node_distances(net, fac, bound, region))
    outside = np.setdiff1d(np.arange(net.n), region.nodes)
    assert np.all(no_r[outside] == -1)
    nd_f, no_f = nearest_node_facilities(net, fac, owner, bound)
    pd_r, po_r = nearest_point_facilities(net, nd_r, no_r, org, fac, owner, bound)
    pd_f, po_f = nearest_point_facilities(net, nd_f, no_f, org, fac, owner, bound)
    assert_array_equal(pd_r, pd_f)
    assert_array_equal(po_r, po_f)


def test_nearest_same_edge_and_polygon():
    # 0 --- 100 --- 200 along y = 0, two streets. Facility 7 sits on the
    # first street at x=20 (3 m off it); facility 4 is a "polygon" with two
    # access points: one far off at x=200 (40 m), one at x=150 (1 m off).
    net = hand_network([[(0, 0), (100, 0)], [(100, 0), (200, 0)]], ids=[(1, 2), (2, 3)])
    fac = snap_points(net, np.array([[20.0, 3.0], [200.0, 40.0], [150.0, -1.0]]), 200.0)
    owner = np.array([7, 4, 4])
    nd, no = nearest_node_facilities(net, fac, owner)
    by_id = {nid: (d, o) for nid, d, o in zip(net.nodes.tolist(), nd, no.tolist())}
    assert by_id[1] == (pytest.approx(23.0), 7)
    assert by_id[2] == (pytest.approx(51.0), 4)  # 50 + 1 via the polygon's nearer point
    assert by_id[3] == (pytest.approx(40.0), 4)  # the far point is nearest node 3
    homes = snap_points(net, np.array([[70.0, 4.0], [95.0, 4.0], [250.0, 0.0], [50.0, 900.0]]), 200.0)
    d, o = nearest_point_facilities(net, nd, no, homes, fac, owner)
    # home at 70: along its own street to 7, 50 + 3 + 4, beats 30 + 51 + 4 via node 2
    assert d[0] == pytest.approx(57.0) and o[0] == 7
    # home at 95: 5 + 51 + 4 via node 2 to facility 4 beats 75 + 3 + 4 along its street
    assert d[1] == pytest.approx(60.0) and o[1] == 4
    assert d[2] == pytest.approx(90.0) and o[2] == 4
    assert np.isnan(d[3]) and o[3] == -1
    assert_array_equal(d, point_distances(net, nd, homes, fac))
    # beyond the limit: no facility
    nd, no = nearest_node_facilities(net, fac, owner, limit=58.0)
    d, o = nearest_point_facilities(net, nd, no, homes, fac, owner, limit=58.0)
    assert o.tolist() == [7, -1, -1, -1]
    assert d[1] == INF and d[2] == INF


def test_nearest_same_edge_two_facilities_on_it():
    # two facilities on the home's own street, none elsewhere: the nearer
    # along the street wins even though the other is nearer to both ends
    net = hand_network([[(0, 0), (100, 0)]])
    fac = snap_points(net, np.array([[1.0, 1.0], [60.0, 9.0], [99.0, 1.0]]), 200.0)
    owner = np.array([0, 1, 2])
    nd, no = nearest_node_facilities(net, fac, owner)
    home = snap1(net, (55.0, 0.0))
    d, o = nearest_point_facilities(net, nd, no, home, fac, owner)
    assert d[0] == pytest.approx(14.0) and o[0] == 1


def test_nearest_no_facilities_and_bad_owner():
    net = hand_network([[(0, 0), (100, 0)]])
    none = snap_points(net, np.array([[50.0, 900.0]]), 200.0)
    nd, no = nearest_node_facilities(net, none, np.array([5]))
    assert np.all(nd == INF) and np.all(no == -1)
    d, o = nearest_point_facilities(net, nd, no, snap1(net, (10, 0)), none, np.array([5]))
    assert d[0] == INF and o[0] == -1
    with pytest.raises(ValueError):
        nearest_node_facilities(net, snap1(net, (10, 0)), np.array([1, 2]))
    with pytest.raises(ValueError):
        nearest_node_facilities(net, snap1(net, (10, 0)), np.array([-1]))


# ---------------------------------------------------------------------------
# which facility is nearest, on the bundled real extract


def split_graph(net: StreetNetwork, groups: dict[str, Snapped]) -> nx.MultiGraph:
    """The network's streets (every street, parallel ones too) as an
    undirected multigraph on node indices, each snapped point inserted as in
    :func:`reference_graph`; built from the edge arrays, not the CSR."""
    on_edge = defaultdict(list)
    for g, sn in groups.items():
        for i in np.flatnonzero(sn.ok):
            on_edge[int(sn.edge[i])].append((float(sn.offset[i]), g, int(i)))
    R = nx.MultiGraph()
    R.add_nodes_from(range(net.n))
    for e, (u, v, length) in enumerate(zip(net.eu.tolist(), net.ev.tolist(), net.length.tolist())):
        prev, at = u, 0.0
        for a, g, i in sorted(on_edge.get(e, [])):
            R.add_edge(prev, ("s", g, i), w=a - at)
            prev, at = ("s", g, i), a
        R.add_edge(prev, v, w=length - at)
    for g, sn in groups.items():
        for i in np.flatnonzero(sn.ok):
            R.add_edge(("s", g, int(i)), (g, int(i)), w=float(sn.leg[i]))
    return R


@pytest.fixture(scope="module")
def helsinki(bundled_osm):
    """The bundled extract's network and its features, projected."""
    from lifecircle.sources.osmfile import read_osm

    osm = read_osm(bundled_osm)
    net = StreetNetwork.from_walk(osm.walk)  # as analyze builds it: from arrays, no networkx graph
    return net, osm.features.to_crs(net.crs)


def real_facilities(features, tag: str, values: set[str]):
    """Features with ``tag`` in ``values`` and their access points (a polygon
    gives several, all owned by its row), as ``analyze`` builds them."""
    from lifecircle.facilities import access_points

    rows = [i for i, t in enumerate(features["tags"]) if t.get(tag) in values]
    geoms = features.geometry.values[rows]
    pts, owner = access_points(geoms)
    return pts, np.asarray(rows, dtype=np.int64)[owner]


def real_origins(net: StreetNetwork, fac: Snapped, seed: int) -> np.ndarray:
    """Random points over the extract and a few far outside it (off every
    street), and points 7 m along the street from facility access points,
    to share their edge."""
    rng = np.random.default_rng(seed)
    lo, hi = net.xy.min(axis=0), net.xy.max(axis=0)
    spread = np.concatenate([rng.uniform(lo, hi, (250, 2)), rng.uniform(lo - 2000.0, lo - 1000.0, (5, 2))])
    e = fac.edge[fac.ok]
    frac = fac.offset[fac.ok] / net.length[e]
    along = frac * net.geom_length[e] + rng.choice([-7.0, 7.0], len(e))
    beside = shapely.line_interpolate_point(net.geoms[e], along)
    return np.concatenate([shapely.points(spread), beside])


@pytest.mark.parametrize(
    "tag, values",
    [("leisure", {"park"}), ("amenity", {"bank", "pharmacy", "parking"})],
)
@pytest.mark.parametrize("limit", [INF, 400.0])
def test_nearest_facility_real_extract(helsinki, tag, values, limit):
    net, features = helsinki
    pts, owner = real_facilities(features, tag, values)
    fac = snap_points(net, pts, 200.0)
    counts = np.bincount(owner[fac.ok])
    assert (counts > 1).any(), "want a facility with several access points"
    org = snap_points(net, real_origins(net, fac, seed=11), 200.0)
    assert (~org.ok).any()

    R = split_graph(net, {"F": fac, "O": org})
    nd, no, pd_, po = check_all(net, R, range(net.n), org, fac, owner, limit, 1e-6)

    # the checks above reached the cases they are about
    assert np.isin(po[org.ok], np.flatnonzero(counts > 1)).any()
    e, b, h = org.edge[org.ok], org.offset[org.ok], org.leg[org.ok]
    via = np.minimum(nd[net.eu[e]] + b, nd[net.ev[e]] + net.length[e] - b) + h
    assert (pd_[org.ok] < via - 1e-6).sum() >= 5  # decided along the shared edge
    if np.isfinite(limit):
        assert (po[org.ok] == -1).any() and (po[org.ok] >= 0).any()


def test_nearest_facility_real_extract_region(helsinki):
    """Searching only the region of some places names the same facilities
    for their nodes and origins as searching the whole network."""
    net, features = helsinki
    pts, owner = real_facilities(features, "leisure", {"park"})
    fac = snap_points(net, pts, 200.0)
    # the extract is about 1 x 1.7 km: small places and bound keep the
    # region a part of it
    rng = np.random.default_rng(1)
    side, bound = 150.0, 300.0
    corners = net.xy[rng.choice(net.n, 2, replace=False)] - side / 2
    places = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + side, corners[:, 1] + side)
    region = net.region(places, bound)
    assert len(region.nodes) < 0.6 * net.n

    nd_f, no_f = nearest_node_facilities(net, fac, owner, bound)
    nd_r, no_r = nearest_node_facilities(net, fac, owner, bound, region)
    inside = np.zeros(net.n, dtype=bool)
    for p in places:
        inside |= shapely.contains_xy(p, net.xy[:, 0], net.xy[:, 1])
    assert inside.sum() >= 20 and (no_f[inside] >= 0).sum() >= 10
    assert_array_equal(nd_r[inside], nd_f[inside])
    assert_array_equal(no_r[inside], no_f[inside])

    inner = rng.uniform(0.0, side, (200, 2)) + corners[rng.integers(0, len(corners), 200)]
    org = snap_points(net, inner, 200.0)
    pd_r, po_r = nearest_point_facilities(net, nd_r, no_r, org, fac, owner, bound)
    pd_f, po_f = nearest_point_facilities(net, nd_f, no_f, org, fac, owner, bound)
    assert_array_equal(pd_r, pd_f)
    assert_array_equal(po_r, po_f)

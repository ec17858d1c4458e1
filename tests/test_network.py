"""The walk network built from arrays (``build_walk_network`` +
``StreetNetwork.from_walk``) against the networkx route it replaces
(``build_walk_graph`` -> ``project`` -> ``StreetNetwork.from_graph``, i.e.
osmnx's ``add_edge_lengths``, ``largest_component`` and ``simplify_graph``).

Both must give the same arrays, bit for bit: the bundled extract, and small
generated way sets made to hit osmnx's corner cases (loops, rings, repeated
and backtracking ways, repeated nodes, equal-sized components).
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from lifecircle.core.network import (
    StreetNetwork,
    WalkPieces,
    build_walk_graph,
    build_walk_network,
    graph_is_built,
    project,
)
from lifecircle.errors import EmptyAreaError
from lifecircle.sources.osmfile import scan_osm

ARRAYS = ("nodes", "xy", "eu", "ev", "length", "geom_length", "names")


def assert_same_network(got: StreetNetwork, want: StreetNetwork) -> None:
    """Every array equal, exactly; the same geometries and CRS."""
    assert got.crs == want.crs
    for name in ARRAYS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape, (name, a.shape, b.shape)
        assert np.array_equal(a, b), name
    assert shapely.equals_exact(got.geoms, want.geoms, tolerance=0).all()
    assert (got.csr != want.csr).nnz == 0


def both_ways(ways, simplify=True, retain_all=False):
    """(array network, networkx-built network) of the same way pieces."""
    walk = build_walk_network(WalkPieces.from_ways(ways), simplify=simplify, retain_all=retain_all)
    got = StreetNetwork.from_walk(walk)
    want = StreetNetwork.from_graph(project(build_walk_graph(ways, simplify=simplify, retain_all=retain_all)))
    return got, want


@pytest.fixture(scope="module")
def bundled_ways(bundled_osm):
    return scan_osm(bundled_osm).ways


@pytest.mark.parametrize("simplify, retain_all", [(True, False), (False, True)])
def test_bundled_extract_same_as_networkx_route(bundled_ways, simplify, retain_all):
    got, want = both_ways(bundled_ways, simplify, retain_all)
    assert_same_network(got, want)
    if simplify:
        assert (got.n, len(got.eu)) == (2277, 3147)  # NOTES.md: 2,277 nodes, 6,294 directed edges
    assert not graph_is_built(got)  # nothing built a networkx graph for the arrays


def test_graph_built_on_request():
    ways = random_ways(3)
    got, want = both_ways(ways)
    assert not graph_is_built(got)
    G, H = got.graph, want.graph
    assert graph_is_built(got) and got.graph is G  # built once, then kept
    assert G.graph["crs"] == got.crs == H.graph["crs"]
    assert dict(G.nodes(data=True)) == dict(H.nodes(data=True))
    assert sorted((u, v, k, d["length"]) for u, v, k, d in G.edges(keys=True, data=True)) == \
        sorted((u, v, k, d["length"]) for u, v, k, d in H.edges(keys=True, data=True))


def test_pieces_round_trip(bundled_ways):
    assert WalkPieces.from_ways(bundled_ways).ways() == bundled_ways


# ---------------------------------------------------------------------------
# generated way sets


def random_ways(seed: int, side: int = 6, n_ways: int = 14) -> list[dict]:
    """Random walks on a jittered grid (ids shuffled, so id order is not
    walking order), with repeated nodes, a duplicated way, a ring of its own,
    a lollipop and a lone two-node way; names with spaces, some missing."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(side * side * 3)[: side * side] * 7 + 11
    loc = {int(ids[i * side + j]): (24.93 + j * 0.001 + rng.uniform(-2e-4, 2e-4),
                                    60.16 + i * 0.0008 + rng.uniform(-2e-4, 2e-4))
           for i in range(side) for j in range(side)}
    names = ["Aleksanterinkatu", " Esplanadi ", "Bulevardi", ""]

    def node(i, j):
        nid = int(ids[i * side + j])
        return (nid, *loc[nid])

    ways = []
    for w in range(n_ways):
        i, j = rng.integers(side, size=2)
        nodes = [node(i, j)]
        for _ in range(rng.integers(1, 7)):
            di, dj = [(0, 1), (1, 0), (0, -1), (-1, 0)][rng.integers(4)]
            i, j = min(max(i + di, 0), side - 1), min(max(j + dj, 0), side - 1)
            nodes.append(node(i, j))
            if rng.random() < 0.1:
                nodes.append(nodes[-1])  # a node given twice in a row
        name = names[rng.integers(len(names))]
        tags = {"highway": "footway", **({"name": name} if name else {})}
        ways.append({"osmid": 1000 + w, "nodes": nodes, "tags": tags})
    ways.append(dict(ways[0], osmid=2000))  # the same street mapped twice
    far = [(900_000 + k, 25.0 + 0.001 * (k % 2), 60.0 + 0.001 * (k // 2)) for k in range(4)]
    ways.append({"osmid": 3000, "nodes": [far[0], far[1], far[3], far[2], far[0]], "tags": {"highway": "path"}})
    a = node(0, 0)
    lolli = [(800_000 + k, a[1] - 0.001 * (k + 1), a[2] - 0.0005 * k) for k in range(3)]
    ways.append({"osmid": 4000, "nodes": [a, lolli[0], lolli[1], lolli[2], lolli[0]], "tags": {"highway": "path"}})
    ways.append({"osmid": 5000, "nodes": [(700_000, 26.0, 61.0), (700_001, 26.001, 61.0)],
                 "tags": {"highway": "steps", "name": "Portaat"}})
    return ways


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("simplify, retain_all", [(True, False), (True, True), (False, True), (False, False)])
def test_generated_same_as_networkx_route(seed, simplify, retain_all):
    got, want = both_ways(random_ways(seed), simplify, retain_all)
    assert_same_network(got, want)


def test_rings_and_loops():
    """A ring alone is dropped (osmnx's remove_rings); a loop hanging off a
    street becomes one self-loop edge, two loops two; two equal components:
    the first read wins."""
    def way(osmid, nodes):
        return {"osmid": osmid, "tags": {"highway": "path"}, "nodes": nodes}

    ring = way(1, [(10, 24.0, 60.0), (11, 24.001, 60.0), (12, 24.001, 60.001), (10, 24.0, 60.0)])
    stick = way(2, [(20, 24.1, 60.0), (21, 24.101, 60.0)])
    other = way(3, [(30, 24.2, 60.0), (31, 24.201, 60.0)])
    for ways, retain_all in (([ring, stick, other], True), ([stick, other], False), ([other, stick], False)):
        got, want = both_ways(ways, retain_all=retain_all)
        assert_same_network(got, want)
    got, _ = both_ways([ring, stick, other], retain_all=True)
    assert got.nodes.tolist() == [20, 21, 30, 31]  # the ring's nodes are gone
    assert both_ways([other, stick])[0].nodes.tolist() == [30, 31]
    with pytest.raises(EmptyAreaError):  # the largest component is the ring
        StreetNetwork.from_walk(build_walk_network(WalkPieces.from_ways([ring, stick])))
    # lollipop: street 40-41, loop 41-42-43-41
    lolli = way(4, [(40, 24.3, 60.0), (41, 24.301, 60.0), (42, 24.302, 60.0), (43, 24.302, 60.001),
                    (41, 24.301, 60.0)])
    got, want = both_ways([lolli])
    assert_same_network(got, want)
    assert got.nodes.tolist() == [40, 41]
    loop = np.flatnonzero(got.eu == got.ev)
    assert len(loop) == 1 and len(got.eu) == 2
    # its length is the sum of its three segments' great-circle lengths
    import osmnx as ox

    pts = [(60.0, 24.301), (60.0, 24.302), (60.001, 24.302), (60.0, 24.301)]
    want_len = sum(float(ox.distance.great_circle(*p, *q)) for p, q in zip(pts, pts[1:]))
    assert got.length[loop[0]] == pytest.approx(want_len, rel=1e-12)
    # a second loop at the same node is a street too, once
    second = way(5, [(41, 24.301, 60.0), (44, 24.300, 60.001), (45, 24.301, 60.002), (41, 24.301, 60.0)])
    got, want = both_ways([lolli, second])
    assert_same_network(got, want)
    loops = np.flatnonzero(got.eu == got.ev)
    assert len(loops) == 2 and len(got.eu) == 3
    pts2 = [(60.0, 24.301), (60.001, 24.300), (60.002, 24.301), (60.0, 24.301)]
    want_len2 = sum(float(ox.distance.great_circle(*p, *q)) for p, q in zip(pts2, pts2[1:]))
    assert sorted(got.length[loops]) == pytest.approx(sorted([want_len, want_len2]), rel=1e-12)


def test_no_segments():
    lone = [{"osmid": 1, "tags": {"highway": "path"}, "nodes": [(5, 24.0, 60.0), (5, 24.0, 60.0)]}]
    with pytest.raises(EmptyAreaError, match="no walkable streets"):
        build_walk_network(WalkPieces.from_ways(lone))
    with pytest.raises(EmptyAreaError, match="no walkable streets"):
        build_walk_graph(lone)


def test_save_graph_geopackage_and_graphml(tmp_path):
    import geopandas as gpd
    import osmnx as ox

    from lifecircle.core.network import save_graph
    from lifecircle.errors import OutputError

    got, _ = both_ways(random_ways(5))
    G = got.graph
    path = save_graph(G, tmp_path / "a" / "walk.gpkg")
    nodes = gpd.read_file(path, layer="nodes")
    edges = gpd.read_file(path, layer="edges")
    assert sorted(nodes["osmid"]) == got.nodes.tolist()
    assert nodes.crs == got.crs and edges.crs == got.crs
    # the streets of the arrays, each way round
    def key(u, v, line):
        coords = np.round(shapely.get_coordinates(line), 6)
        return (min(u, v), max(u, v), min(coords.tobytes(), coords[::-1].tobytes()))

    written = {key(u, v, g) for u, v, g in zip(edges["u"], edges["v"], edges.geometry)}
    assert written == {key(int(got.nodes[a]), int(got.nodes[b]), g) for a, b, g in zip(got.eu, got.ev, got.geoms)}
    # same graph, same bytes
    again = save_graph(got.graph, tmp_path / "b" / "walk.gpkg")
    assert again.read_bytes() == path.read_bytes()
    back = ox.load_graphml(save_graph(G, tmp_path / "walk.graphml"))
    assert sorted(back.nodes) == got.nodes.tolist() and back.number_of_edges() == G.number_of_edges()
    with pytest.raises(OutputError, match=r"walk\.csv.*\.graphml or \.gpkg"):
        save_graph(G, tmp_path / "walk.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "walk.graphml"]


def test_analyze_reads_arrays_unless_the_graph_was_touched(bundled_osm):
    from lifecircle import pipeline
    from lifecircle.config import load_config
    from lifecircle.sources.osmfile import read_osm

    cfg = load_config(None)
    osm = read_osm(bundled_osm)
    _, net = pipeline._read(osm, cfg, lambda m: None)
    assert net.walk is osm.walk
    assert not graph_is_built(osm) and not graph_is_built(net)
    # a graph the caller has changed is the one analysed
    for _, _, d in osm.graph.edges(data=True):
        d["length"] *= 2
    _, changed = pipeline._read(osm, cfg, lambda m: None)
    assert changed.walk is None
    assert np.array_equal(changed.length, 2 * net.length)
    assert np.array_equal(changed.eu, net.eu) and np.array_equal(changed.xy, net.xy)

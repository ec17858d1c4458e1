"""What-if scenarios (issue 12): network edits, facility edits, outputs and errors.

Distances after an edit are checked against networkx's Dijkstra on a graph
edited by hand here, from the osmnx-style graph (not from the arrays the
edit works on).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from scipy.sparse import csgraph

from lifecircle.cli import run as cli_run
from lifecircle.core.engine import point_distances, snap_points
from lifecircle.core.network import StreetNetwork
from lifecircle.errors import InputFileError
from lifecircle.planning.edits import Walkway, edit_network, streets_along
from lifecircle.planning.scenario import TABLE_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "scenario-example.geojson"
X0, Y0 = 370_000.0, 6_650_000.0
CRS = "EPSG:32635"


def scenario(crs=CRS, **columns) -> gpd.GeoDataFrame:
    geometry = columns.pop("geometry")
    return gpd.GeoDataFrame(columns, geometry=list(geometry), crs=crs)


# ---------------------------------------------------------------------------
# hand-made network: a 400 x 100 m block cut in two by a middle street
#
#   3 ----------- T ----------- 4      y = 100
#   |                           |
#   5 ----------- Mid --------- 6      y = 50
#   |                           |
#   1 ----------- H ----------- 2      y = 0
#   x = 0                      x = 400


HAND_NODES = {1: (0, 0), 2: (400, 0), 3: (0, 100), 4: (400, 100), 5: (0, 50), 6: (400, 50)}
HAND_EDGES = [(1, 2), (3, 4), (1, 5), (5, 3), (2, 6), (6, 4), (5, 6)]


def hand_network() -> StreetNetwork:
    G = nx.MultiDiGraph(crs=CRS)
    for n, (x, y) in HAND_NODES.items():
        G.add_node(n, x=X0 + x, y=Y0 + y)
    for u, v in HAND_EDGES:
        length = float(np.hypot(*np.subtract(HAND_NODES[u], HAND_NODES[v])))
        G.add_edge(u, v, length=length, osmid=100 + u * 10 + v)
        G.add_edge(v, u, length=length, osmid=100 + u * 10 + v)
    return StreetNetwork.from_graph(G)


def nx_hand(bridge: bool, closed_mid: bool = False) -> nx.Graph:
    """The edited block drawn by hand: the walkway x = 200 joins H and T (and Mid unless a bridge)."""
    pts = dict(HAND_NODES, h=(200, 0), m=(200, 50), t=(200, 100), q=(100, 50))
    G = nx.Graph()

    def edge(a, b):
        G.add_edge(a, b, weight=float(np.hypot(*np.subtract(pts[a], pts[b]))))

    for a, b in [(1, "h"), ("h", 2), (3, "t"), ("t", 4), (1, 5), (5, 3), (2, 6), (6, 4)]:
        edge(a, b)
    if not closed_mid:
        mid = [(5, "q"), ("q", 6)] if bridge else [(5, "q"), ("q", "m"), ("m", 6)]
        for a, b in mid:
            edge(a, b)
    for a, b in ([("h", "t")] if bridge else [("h", "m"), ("m", "t")]):
        edge(a, b)
    return G, pts


def node_at(net: StreetNetwork, xy) -> int:
    """The graph's node id at a point of the hand-made block."""
    i = int(np.argmin(np.hypot(*(net.xy - [X0 + xy[0], Y0 + xy[1]]).T)))
    assert np.hypot(*(net.xy[i] - [X0 + xy[0], Y0 + xy[1]])) < 1e-6
    return int(net.nodes[i])


def engine_distance(net: StreetNetwork, a, b) -> float:
    """Walk between two street points (metres) with the engine: snap both, one search."""
    s = snap_points(net, np.array([[X0 + a[0], Y0 + a[1]], [X0 + b[0], Y0 + b[1]]]), 10.0)
    assert s.ok.all() and np.allclose(s.leg, 0, atol=1e-6)
    node = csgraph.dijkstra(net.csr, indices=np.r_[net.eu[s.edge[1]], net.ev[s.edge[1]]])[:, : net.n]
    to_b = np.minimum(node[0] + s.offset[1], node[1] + net.length[s.edge[1]] - s.offset[1])
    return float(point_distances(net, to_b, s.subset(np.array([True, False])), s.subset(np.array([False, True])))[0])


@pytest.mark.parametrize("bridge", [False, True])
@pytest.mark.parametrize("gap", [0.0, 3.0])
def test_hand_walkway_matches_networkx(bridge, gap):
    """Walkway x = 200 from H to T: joins Mid where it crosses it, unless it is a bridge.

    With ``gap`` its ends stop 3 m short of the streets: they join through
    3 m connectors, so every walk is the same as with ends on the streets.
    """
    net = hand_network()
    line = shapely.LineString([(X0 + 200, Y0 + gap), (X0 + 200, Y0 + 100 - gap)])
    edits = edit_network(net, {}, [Walkway(1, line, "w", bridge)], tol=5.0)
    assert edits.joins[1] == (2 if bridge else 3)
    G, pts = nx_hand(bridge)
    for a, b in [("h", "t"), ("q", "h"), ("q", "t"), ("m", "h"), (1, "t"), (5, 6)]:
        want = nx.dijkstra_path_length(G, a, b) if a != "m" or not bridge else \
            min(nx.dijkstra_path_length(G, "q", b) + 100, nx.dijkstra_path_length(G, 6, b) + 200)
        got = engine_distance(edits.net, pts[a], pts[b])
        assert got == pytest.approx(want, abs=1e-6), (a, b)
    # the graph kept with the network is edited the same way, and the original one is not
    G2 = nx.Graph(edits.net.graph.to_undirected())
    for a, b in [("h", "t"), (1, 4), (5, 6)]:
        ia, ib = (a if isinstance(a, int) else node_at(edits.net, pts[a]), b if isinstance(b, int) else
                  node_at(edits.net, pts[b]))
        want = nx.dijkstra_path_length(G, a, b)
        assert nx.dijkstra_path_length(G2, ia, ib, weight="length") == pytest.approx(want)
    assert sorted(net.graph.edges(keys=True)) == sorted(hand_network().graph.edges(keys=True))
    # before the edit: H to T only round the block
    assert engine_distance(net, pts["h"], pts["t"]) == pytest.approx(500.0)


def test_hand_close_street_matches_networkx():
    """Closing Mid (a line drawn along it) leaves 5 and 6 joined round the block only."""
    net = hand_network()
    closed = streets_along(net, shapely.LineString([(X0 + 2, Y0 + 51), (X0 + 398, Y0 + 49)]), 5.0)
    assert [tuple(sorted((int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])))) for e in closed] == [(5, 6)]
    line = shapely.LineString([(X0 + 200, Y0), (X0 + 200, Y0 + 100)])
    edits = edit_network(net, {1: closed}, [Walkway(2, line)], tol=5.0)
    G, pts = nx_hand(bridge=False, closed_mid=True)
    G.remove_node("m")
    G.add_edge("h", "t", weight=100.0)
    i5, i6 = (int(np.flatnonzero(edits.net.nodes == n)[0]) for n in (5, 6))
    d = csgraph.dijkstra(edits.net.csr, indices=i5)[i6]
    assert d == pytest.approx(nx.dijkstra_path_length(G, 5, 6)) == pytest.approx(500.0)
    assert engine_distance(edits.net, pts["h"], pts["t"]) == pytest.approx(100.0)


# ---------------------------------------------------------------------------
# the bundled extract


def _nx_streets(net: StreetNetwork) -> nx.Graph:
    """The walk graph as networkx sees it: the osmnx-style graph, shortest of parallel edges."""
    G = nx.Graph()
    for u, v, d in net.graph.edges(data=True):
        if u != v and (not G.has_edge(u, v) or G[u][v]["weight"] > d["length"]):
            G.add_edge(u, v, weight=d["length"])
    return G


def _split(G: nx.Graph, net: StreetNetwork, e: int, at: float, name: str) -> None:
    """Split edge ``e`` of ``G`` at ``at`` metres (as ``length`` counts them) from its u end."""
    u, v = int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])
    assert net.graph.number_of_edges(u, v) == 1 and G[u][v]["weight"] == pytest.approx(net.length[e], abs=1e-9)
    G.remove_edge(u, v)
    G.add_edge(u, name, weight=at)
    G.add_edge(name, v, weight=net.length[e] - at)


def _facility_walks(G: nx.Graph, net: StreetNetwork, access, rows) -> dict:
    """Dijkstra from a virtual source joined to the facilities' edge ends."""
    H = G.copy()
    for e, a, h in zip(access.edge, access.offset, access.leg):
        for node, w in ((int(net.nodes[net.eu[e]]), a + h), (int(net.nodes[net.ev[e]]), net.length[e] - a + h)):
            if not H.has_edge("F", node) or H["F"][node]["weight"] > w:
                H.add_edge("F", node, weight=w)
    return nx.single_source_dijkstra_path_length(H, "F")


def test_walkway_on_bundled_data_matches_networkx(analysis):
    """A walkway across a block (a bridge: it joins only at its ends) shortens
    a community's walk to a pharmacy by exactly what networkx finds on the
    graph with the walkway added."""
    study, net = analysis.study, analysis.study.net
    key = "pharmacy"
    points, rows = study.access.of(study.facilities["category"].values == key)
    points = points.subset(points.ok)
    fac_edges = set(points.edge.tolist())
    centres = study.origins.snapped.subset(study.origins.centres)
    G = _nx_streets(net)
    base = _facility_walks(G, net, points, rows)

    def at_point(e, b):  # walk from a point of edge e, b metres from its u end, on the unedited graph
        u, v = int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])
        return min(base.get(u, np.inf) + b, base.get(v, np.inf) + net.length[e] - b)

    def parallel(e):  # a street with a twin between the same corners: networkx keeps one
        return net.graph.number_of_edges(int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]])) != 1

    best = None
    for i in np.flatnonzero(centres.ok):
        e1, b, h = int(centres.edge[i]), float(centres.offset[i]), float(centres.leg[i])
        if e1 in fac_edges or not 5 < b < net.length[e1] - 5 or parallel(e1):
            continue
        P = net.geoms[e1].interpolate(b * net.geom_length[e1] / net.length[e1])
        for e2 in np.sort(net.tree.query(P.buffer(300))):
            Q = net.geoms[e2].interpolate(0.5, normalized=True)
            if e2 == e1 or e2 in fac_edges or not 100 < P.distance(Q) < 300 or parallel(e2):
                continue
            line = shapely.LineString([P, Q])
            if np.any(shapely.distance(study.access.points, line) < 20):
                continue
            # a first guess from the walks without it: the walkway is used at most once, first
            before, q = at_point(e1, b), at_point(e2, net.length[e2] / 2)
            gain = before - min(before, line.length + q)
            if np.isfinite(before) and gain > 50 and (best is None or gain > best[0]):
                best = (gain, i, e1, b, h, e2, line)
        if best is not None:
            break
    assert best is not None
    _, i, e1, b, h, e2, line = best
    # networkx on the graph with the walkway drawn in
    H = G.copy()
    _split(H, net, e1, b, "P")
    _split(H, net, e2, net.length[e2] / 2, "Q")
    H.add_edge("P", "Q", weight=line.length)
    after = h + _facility_walks(H, net, points, rows)["P"]
    before = h + at_point(e1, b)
    cid = analysis.communities["community_id"].iloc[i]
    r = analysis.what_if(scenario(change=["add_walkway"], name=["across the block"], bridge=[True],
                                  geometry=[line]).to_crs("EPSG:4326"))
    row = r.table[(r.table["community_id"] == cid) & (r.table["category"] == key)].iloc[0]
    assert row["metres_before"] == pytest.approx(round(before, 1), abs=0.051)
    assert row["metres_after"] == pytest.approx(round(after, 1), abs=0.051)
    assert r.edits.joins[1] == 2
    # no walk anywhere got longer, and the routes of the after state agree with its table
    t = r.table
    assert (np.nan_to_num(t["metres_after"], nan=1e9) <= np.nan_to_num(t["metres_before"], nan=1e9) + 0.05).all()
    routes = r.after.routes.merge(r.after.communities[["community_id", f"metres_{key}"]], on="community_id")
    routes = routes[routes["category"] == key]
    assert np.allclose(routes["metres"], routes[f"metres_{key}"], atol=0.051)


def test_remove_the_only_facility(analysis):
    """A canteen added, then removed in a scenario on the after state: every community loses it again."""
    comms = analysis.communities
    centre = comms.geometry.representative_point().iloc[3]
    r1 = analysis.what_if(scenario(change=["add_facility"], category=["canteen"], name=["new"], geometry=[centre]))
    assert r1.after.pois["category"].eq("canteen").sum() == 1
    r2 = r1.after.what_if(scenario(change=["remove_facility"], facility_id=["scenario/1"], geometry=[None]))
    after = r2.after.communities
    assert not after["covered_canteen"].any()
    assert after["metres_canteen"].isna().all() and after["nearest_id_canteen"].eq("").all()
    lost = r2.table[r2.table["category"] == "canteen"]
    had = r1.after.communities["covered_canteen"].values
    assert had.sum() >= 1
    assert (lost["covered_before"].values == had).all() and not lost["covered_after"].any()
    # every resident within reach before is no longer
    within = r1.after.communities["residents_share_canteen"].fillna(0) * r1.after.study.table["home_residents"]
    assert np.allclose(lost["residents_no_longer_within"], within.round(1), atol=0.11)
    assert not r2.after.pois["category"].eq("canteen").any()
    # the other categories are untouched
    for key in analysis.config.keys:
        if key != "canteen":
            assert (after[f"metres_{key}"].fillna(-1) == comms[f"metres_{key}"].fillna(-1)).all()


def test_add_facility_at_centre_covers_it(analysis):
    """A canteen at a community's centre: the centre walks its leg to the street and back."""
    comms = analysis.communities
    i = int(np.argmin(comms.geometry.area.values))  # small: its homes lie close to its centre
    centre = comms.geometry.representative_point().iloc[i]
    r = analysis.what_if(scenario(change=["add_facility"], category=["canteen"], name=["c"], geometry=[centre]))
    row = r.after.communities.iloc[i]
    leg = float(shapely.distance(analysis.study.net.geoms, centre).min())
    assert row["metres_canteen"] == pytest.approx(round(2 * leg, 1), abs=0.051)
    assert row["covered_canteen"] and row["nearest_id_canteen"] == "scenario/1"
    new = r.table[(r.table["category"] == "canteen")]
    # nothing had a canteen before: the newly covered residents are all those within reach now
    within = r.after.communities["residents_share_canteen"].fillna(0) * r.after.study.table["home_residents"]
    assert np.allclose(new["residents_newly_within"], within.round(1), atol=0.11)
    # the gaps are those a fresh analysis with that canteen draws (every community here has homes;
    # the home-less areas are drawn by the same _gap_frames, checked in tests/test_gaps.py)
    import lifecircle

    pois = gpd.GeoDataFrame({"poi_id": ["user/1"], "osm_type": "user", "osm_id": [1], "name": ["c"],
                             "category": "canteen", "source": "user"}, geometry=[centre], crs=analysis.crs)
    fresh = lifecircle.analyze(lifecircle.BUNDLED_OSM, pois=pois).gaps
    ours = r.after.gaps[r.after.gaps["category"] == "canteen"]
    theirs = fresh[fresh["category"] == "canteen"]
    assert len(ours) > 0 and list(ours["community_id"]) == list(theirs["community_id"])
    assert all(a.equals(b) for a, b in zip(ours.geometry.values, theirs.geometry.values))


def test_example_scenario_outputs(analysis, tmp_path):
    """The bundled example: tables, report section and map hold the changes, notes escaped."""
    gdf = gpd.read_file(EXAMPLE)
    assert set(gdf["change"]) == {"add_facility", "remove_facility", "add_walkway", "close_street"}
    gdf.loc[gdf["change"] == "close_street", "note"] = "<script>alert(1)</script>"
    r = analysis.what_if(gdf)
    assert list(r.table.columns) == TABLE_COLUMNS
    assert len(r.table) == len(analysis.communities) * len(analysis.config.keys)
    assert len(r.closed[4]) >= 1 and r.edits.joins[3] >= 2
    # one line: the canteen's new residents are those the table counts
    canteen = r.table.loc[r.table["category"] == "canteen", "residents_newly_within"].sum()
    assert f"+{canteen:,.0f} residents reach a community canteen" in r.summary()
    assert f"+{canteen:,.0f} 名居民步行可达" in r.summary("zh") and "\n" not in r.summary("zh")
    written = r.save(tmp_path / "out")
    names = {p.name for p in written.values()}
    assert {"scenario.csv", "scenario.html", "report.html", "coverage.csv", "map.html"} <= names
    for name in ("report.html", "scenario.html"):
        page = (tmp_path / "out" / name).read_text()
        # escaped as HTML; on the map, inside JSON too (& written \u0026)
        assert "<script>alert(1)" not in page, name
        assert "&lt;script&gt;alert(1)" in page.replace("\\u0026", "&"), name
        assert "https://unpkg" not in page and "cdn.jsdelivr" not in page
    report = (tmp_path / "out" / "report.html").read_text()
    assert 'class="scenario"' in report and "Courtyard walkway" in report
    # the workbook's scenario sheet holds the comparison table, row for row
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "out" / "coverage.xlsx", read_only=True)["Scenario"]
    rows = list(sheet.values)
    assert list(rows[0]) == list(r.table.columns) and len(rows) == len(r.table) + 1
    newly = rows[0].index("residents_newly_within")
    assert sum(row[newly] or 0 for row in rows[1:]) == pytest.approx(r.table["residents_newly_within"].sum())
    # the removed pharmacy is gone, the new canteen is there
    assert "node/1377222624" not in set(r.after.pois["poi_id"])
    assert "scenario/1" in set(r.after.pois["poi_id"])
    # same scenario, same bytes
    from lifecircle.outputs.maps import render_map

    assert render_map(r.map()) == render_map(analysis.what_if(gdf).map())


def test_empty_scenario_reproduces_analyze(analysis, tmp_path):
    """No changes: `lifecircle scenario` writes every file of `analyze` byte for byte."""
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    analysis.save(tmp_path / "analyze")
    proc = subprocess.run([sys.executable, "-m", "lifecircle.cli", "scenario", empty, "--out", tmp_path / "scn", "-q"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "scenario: the scenario holds no change" in proc.stdout
    files = sorted(p.name for p in (tmp_path / "analyze").iterdir())
    assert {"coverage.csv", "lifecircle.gpkg", "map.html", "report.html"} <= set(files)
    for name in files:
        assert (tmp_path / "scn" / name).read_bytes() == (tmp_path / "analyze" / name).read_bytes(), name
    assert (tmp_path / "scn" / "scenario.csv").exists() and (tmp_path / "scn" / "scenario.html").exists()


# ---------------------------------------------------------------------------
# bad input


def _write(tmp_path, features, crs=None) -> Path:
    doc = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(doc))
    return path


def _feature(props, geom):
    return {"type": "Feature", "properties": props, "geometry": geom}


FILE_ERRORS = {
    "unknown category": ([_feature({"change": "add_walkway"}, {"type": "LineString", "coordinates": [
        [24.94, 60.17], [24.941, 60.171]]}), _feature({"change": "add_facility", "category": "canteeen"},
                                                      {"type": "Point", "coordinates": [24.94, 60.17]})],
                         "scenario row 2 (add_facility): unknown category 'canteeen'"),
    "projected lines, no CRS": ([_feature({"change": "add_walkway"}, {"type": "LineString", "coordinates": [
        [2776000.0, 8437000.0], [2776100.0, 8437100.0]]})], "scenario row 1 (add_walkway): coordinates (2776000, "
                                                             "8437000) are not longitude/latitude"),
    "unknown change": ([_feature({"change": "add_shop"}, {"type": "Point", "coordinates": [24.94, 60.17]})],
                       "scenario row 1: unknown change 'add_shop'"),
    # these two used to fail only after the whole analysis, in a traceback
    "NaN coordinate": ([_feature({"change": "add_facility", "category": "canteen"},
                                 {"type": "Point", "coordinates": [float("nan"), 60.17]})],
                       "scenario row 1 (add_facility): a coordinate is not a number (NaN or infinite)"),
    "way id overflowing": ([_feature({"change": "close_street", "osm_way_id": "1e400"}, None)],
                           "scenario row 1 (close_street): osm_way_id '1e400' is not a way id"),
    "way id negative": ([_feature({"change": "close_street", "osm_way_id": "way/-5"}, None)],
                        "scenario row 1 (close_street): osm_way_id 'way/-5' is not a way id"),
}


@pytest.mark.parametrize("case", sorted(FILE_ERRORS))
def test_bad_scenario_file_one_line(tmp_path, case, capsys):
    features, message = FILE_ERRORS[case]
    out = tmp_path / "out"
    # in this process: the file is refused before any analysis
    assert cli_run(["scenario", str(_write(tmp_path, features)), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in err, err
    assert message in lines[0]
    assert not out.exists()


def test_bad_scenario_against_the_network(analysis, tmp_path):
    """Errors that need the analysis: a walkway off the streets, an unknown facility id."""
    far = shapely.Point(analysis.study.net.xy.max(axis=0) + 2000)
    off = shapely.LineString([far.coords[0], (far.x + 100, far.y)])
    with pytest.raises(InputFileError, match=r"^scenario row 1 \(add_walkway\): touches no walkable street"):
        analysis.what_if(scenario(change=["add_walkway"], geometry=[off]))
    with pytest.raises(InputFileError, match=r"^scenario row 2 \(remove_facility\): unknown facility_id 'node/1'"):
        analysis.what_if(scenario(change=["add_facility", "remove_facility"], category=["bank", ""],
                                  facility_id=["", "node/1"], geometry=[analysis.study.net.geoms[0].centroid, None]))
    # on the command line: one line, and no output folder
    path = _write(tmp_path, [_feature({"change": "remove_facility", "facility_id": "node/1"}, None)])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lifecircle.cli", "scenario", path, "--out", out, "-q"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0] == ("Error: scenario row 1 (remove_facility): unknown facility_id 'node/1' (ids as in "
                        "Analysis.pois' poi_id or the nearest_id_<category> columns)")
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_projected_geopackage_is_transformed(analysis, tmp_path):
    """The example saved as a GeoPackage in EPSG:3857 gives the same table as the GeoJSON."""
    gpkg = tmp_path / "plan.gpkg"
    gpd.read_file(EXAMPLE).to_crs("EPSG:3857").to_file(gpkg, driver="GPKG")
    a, b = analysis.what_if(EXAMPLE).table, analysis.what_if(gpkg).table
    assert (a["covered_after"] == b["covered_after"]).all()
    assert np.allclose(a["metres_after"].fillna(-1), b["metres_after"].fillna(-1), atol=0.11)
    assert (a["covered_after"] != a["covered_before"]).any()


def test_close_street_by_way_id(analysis):
    """close_street by osm_way_id closes every edge of that way, and only those; no walk gets shorter."""
    net = analysis.study.net
    route = analysis.routes.iloc[0]
    along = streets_along(net, route.geometry, 1.0)
    way = None
    for e in along:
        d = net.graph.get_edge_data(int(net.nodes[net.eu[e]]), int(net.nodes[net.ev[e]]))
        osmid = next(iter(d.values()))["osmid"]
        if isinstance(osmid, int):
            way = osmid
            break
    assert way is not None
    r = analysis.what_if(scenario(change=["close_street"], osm_way_id=[f"way/{way}"], geometry=[None]))

    def ids(G):
        out = set()
        for _, _, d in G.edges(data=True):
            out.update(d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]])
        return out

    assert way in ids(analysis.graph) and way not in ids(r.after.graph)
    n_way = sum(1 for _, _, d in analysis.graph.edges(data=True)
                if way in (d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]])) // 2
    assert len(r.closed[1]) == n_way and len(r.after.study.net.eu) == len(net.eu) - n_way
    # a centre on the closed way walks from another street; the others' walks can only get longer
    centres = analysis.study.origins.snapped.subset(analysis.study.origins.centres)
    stays = ~np.isin(centres.edge, r.closed[1])
    t = r.table[np.repeat(stays, len(analysis.config.keys))]
    assert (np.nan_to_num(t["metres_after"], nan=1e9) >= np.nan_to_num(t["metres_before"], nan=1e9) - 0.05).all()


def test_closing_every_walkable_way_is_one_line(analysis):
    """It used to end in an IndexError traceback."""
    from collections import Counter

    edges_of = Counter()
    for _, _, d in analysis.graph.edges(data=True):
        edges_of.update(d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]])
    ways, n = set(edges_of), len(edges_of)
    every = scenario(change=["close_street"] * n, osm_way_id=[f"way/{w}" for w in sorted(ways)], geometry=[None] * n)
    with pytest.raises(InputFileError) as info:
        analysis.what_if(every)
    assert str(info.value) == (f"the scenario closes all {len(analysis.study.net.eu):,} walkable street pieces and "
                               "adds no walkway: nothing is left to walk on")
    # the longest way left open, and something is left to walk on
    kept = edges_of.most_common(1)[0][0]
    rest = sorted(ways - {kept})
    r = analysis.what_if(scenario(change=["close_street"] * len(rest), osm_way_id=[f"way/{w}" for w in rest],
                                  geometry=[None] * len(rest)))
    assert 0 < len(r.after.study.net.eu) < len(analysis.study.net.eu)

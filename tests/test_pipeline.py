"""Tests for lifecircle.pipeline on the bundled real extract.

The reference for every walking distance is networkx's Dijkstra on the
analysis graph, with each community centre, home and facility access point
inserted as a node on its nearest street (found by brute force over all
edges with shapely), joined to the point by its off-street leg.
"""

from __future__ import annotations

from collections import defaultdict

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import lifecircle
from lifecircle import settings
from lifecircle.communities import residential_buildings
from lifecircle.config import load_config

EPS = 1e-6


class Reference:
    """The analysis graph as an undirected networkx MultiGraph with points
    inserted on their nearest edges."""

    def __init__(self, G):
        self.G = G
        self.edges = []  # (u, v, geometry from u, length)
        for u, v, d in G.edges(data=True):
            pu = (G.nodes[u]["x"], G.nodes[u]["y"])
            geom = d.get("geometry") or shapely.LineString([pu, (G.nodes[v]["x"], G.nodes[v]["y"])])
            if not np.allclose(geom.coords[0], pu, rtol=0, atol=1e-6):
                geom = shapely.reverse(geom)
            self.edges.append((u, v, geom, float(d["length"])))
        self.lines = np.array([e[2] for e in self.edges], dtype=object)
        self.points = {}  # name -> (edge, offset, leg)

    def add(self, name, point, max_snap):
        """Snap ``point`` to its nearest edge (brute force); False if too far."""
        d = shapely.distance(self.lines, point)
        j = int(np.argmin(d))
        if d[j] > max_snap:
            return False
        _, _, geom, length = self.edges[j]
        along = geom.project(point)
        offset = min(along * length / geom.length, length) if geom.length > 0 else 0.0
        self.points[name] = (j, offset, float(d[j]))
        return True

    def graph(self) -> nx.MultiGraph:
        on_edge = defaultdict(list)
        for name, (j, a, _) in self.points.items():
            on_edge[j].append((a, name))
        R = nx.MultiGraph()
        R.add_nodes_from(self.G.nodes)
        for j, (u, v, _, length) in enumerate(self.edges):
            prev, at = u, 0.0
            for a, name in sorted(on_edge.get(j, []), key=lambda t: t[0]):
                R.add_edge(prev, ("on", name), w=max(a - at, 0.0))
                prev, at = ("on", name), a
            R.add_edge(prev, v, w=max(length - at, 0.0))
        for name, (_, _, h) in self.points.items():
            R.add_edge(("on", name), name, w=h)
        return R


class RefResult(tuple):
    """``(dist, homes, n)``, with the reference graph, facilities, access-point
    owners and buildings in ``extra``."""

    def __new__(cls, dist, homes, n, extra):
        self = super().__new__(cls, (dist, homes, n))
        self.extra = extra
        return self


def build_reference(analysis, osm):
    """networkx distances from every facility category to every inserted point.

    Returns ``(dist, homes, n)``: ``dist[cat]`` maps a point's name to its
    distance; ``homes[i]`` lists community i's building rows, or, for a
    community without buildings, is empty and ``homes[("area", i)]`` lists
    its area sample names.
    """
    from lifecircle.pipeline import _area_points

    cfg = analysis.config
    ref = Reference(analysis.graph)
    comms = analysis.communities
    centres = comms.geometry.representative_point().values
    for i, c in enumerate(centres):
        ref.add(("centre", i), c, cfg.max_snap_m)
    # residential buildings, assigned to the first community holding their
    # representative point
    buildings = residential_buildings(osm.features, analysis.crs)
    homes = defaultdict(list)
    held = set()
    for b, p in enumerate(buildings.representative_point().values):
        for i, poly in enumerate(comms.geometry.values):
            if poly.contains(p):
                held.add(i)
                if ref.add(("home", b), p, cfg.max_snap_m):
                    homes[i].append(b)
                break
    for i, poly in enumerate(comms.geometry.values):
        if i not in held:
            for j, p in enumerate(_area_points(poly)):
                if ref.add(("area", i, j), p, cfg.max_snap_m):
                    homes[("area", i)].append(("area", i, j))
    # the facilities and where they are entered: the analysis's own (what classify counted, the
    # access points along outlines, street crossings and entrances); the walks are the reference's
    fac = analysis.study.facilities
    pts, owner = analysis.study.access.points, analysis.study.access.facility
    sources = defaultdict(list)
    for k, (p, o) in enumerate(zip(pts, owner)):
        if ref.add(("poi", k), p, cfg.max_snap_m):
            sources[fac["category"].iloc[o]].append(("poi", k))
    R = ref.graph()
    limit = cfg.threshold_m * settings.search_factor
    dist = {cat: nx.multi_source_dijkstra_path_length(R, set(sources[cat]), cutoff=limit, weight="w")
            if sources[cat] else {} for cat in cfg.keys}
    return RefResult(dist, homes, len(centres), extra=(R, fac, owner, buildings))


def reference_shares(analysis, reference, cat):
    """Per community: (share of homes or area points within the category's
    distance, residents-weighted share or NaN), or None where a point lies
    within 1e-6 m of the distance (a tie the test cannot decide)."""
    dist, homes, n = reference
    *_, buildings = reference.extra
    T = analysis.config.limit_m(cat)
    out = []
    for i in range(n):
        names = [("home", b) for b in homes.get(i, [])] or homes.get(("area", i), [])
        d = np.array([dist[cat].get(name, np.inf) for name in names])
        if len(d) == 0 or np.any(np.abs(d - T) < EPS):
            out.append(None)
            continue
        res = np.array([buildings["residents"].iloc[b] for b in homes.get(i, [])])
        rs = float((res * (d <= T)).sum() / res.sum()) if len(res) else np.nan
        out.append((float(np.mean(d <= T)), rs))
    return out


@pytest.fixture(scope="module")
def osm(bundled_osm):
    return lifecircle.read_osm(bundled_osm)


@pytest.fixture(scope="module")
def reference(analysis, osm):
    return build_reference(analysis, osm)


def _from_homes(reference, cat: str, i: int, limit: float) -> float:
    """The shortest walk from community ``i``'s homes (or area points): what names its
    facility where its centre reaches none within the search."""
    dist, homes, _ = reference
    names = [("home", b) for b in homes.get(i, [])] or homes.get(("area", i), [])
    walks = [dist[cat].get(name, np.inf) for name in names]
    best = min(walks, default=np.inf)
    return best if best <= limit else np.inf


def check_minutes(analysis, reference) -> int:
    """Compare every centre's minutes and metres with the reference (the nearest home's
    where the centre reaches nothing); return how many were within the search limit."""
    dist, _, n = reference
    cfg = analysis.config
    cov = analysis.coverage
    assert len(cov) == n > 0
    limit = cfg.threshold_m * settings.search_factor
    checked = 0
    for cat in cfg.keys:
        for i in range(n):
            want = dist[cat].get(("centre", i), np.inf)
            minutes, metres = cov[f"minutes_{cat}"].iloc[i], cov[f"metres_{cat}"].iloc[i]
            if abs(want - limit) < EPS:
                continue
            if want > limit:
                want = _from_homes(reference, cat, i, limit)
            if want > limit:
                assert np.isnan(minutes) and np.isnan(metres), (cat, i, want, minutes)
                continue
            # the columns are rounded to 0.01 min and 0.1 m
            assert abs(minutes - want / cfg.metres_per_minute) <= 0.005 + EPS, (cat, i, want, minutes)
            assert abs(metres - want) <= 0.05 + EPS, (cat, i, want, metres)
            checked += 1
    return checked


def test_minutes_match_networkx(analysis, reference):
    checked = check_minutes(analysis, reference)
    assert checked > 0.8 * len(analysis.coverage) * len(analysis.config.keys)


def test_district_searches_its_region_only(osm, analysis, monkeypatch):
    """One community of the extract, searched to the threshold only: the
    search is limited to the nodes around it, and its minutes still match
    networkx's Dijkstra over the whole graph."""
    from lifecircle.core.network import StreetNetwork

    monkeypatch.setattr(settings, "search_factor", 1.0)
    comms = analysis.communities
    b = comms.geometry.bounds
    i = int(np.argmin(np.hypot(b.maxx - b.minx, b.maxy - b.miny)))  # the smallest region
    a = lifecircle.analyze(osm, level="5min", area=comms.to_crs("EPSG:4326").geometry.values[i])
    assert a.coverage["community_id"].tolist() == [comms["community_id"].iloc[i]]
    net = StreetNetwork.from_graph(a.graph)
    region = net.region(a.communities.geometry.values, a.config.threshold_m)
    assert len(region.nodes) < 0.5 * net.n
    assert check_minutes(a, build_reference(a, osm)) >= 1


def test_covered_is_the_share_rule(analysis, reference):
    """Each category at its own tier distance; covered exactly when the share of
    homes (or area) within it reaches min_share; both checked against networkx."""
    dist, homes, n = reference
    cfg = analysis.config
    cov = analysis.coverage
    assert cfg.mode == "standard" and cfg.min_share == 0.5
    assert cfg.limits_m == {"canteen": 300, "clinic": 300, "pharmacy": 300, "park": 300, "sports": 300,
                            "school": 500, "bank": 500, "market": 500}
    checked = 0
    judged = [k for k in cfg.keys if k not in analysis.no_data]
    for cat in analysis.no_data:  # not judged: neither covered nor not
        assert cov[f"covered_{cat}"].isna().all() and cov[f"share_{cat}"].isna().all()
    for cat in [k for k in cfg.keys if k not in analysis.no_data]:
        col = cov[f"covered_{cat}"]
        assert col.dtype == bool
        assert (cov[f"limit_m_{cat}"] == cfg.limit_m(cat)).all()
        # one rule everywhere: the flag is the (rounded) share against min_share
        assert (col == (cov[f"share_{cat}"] >= cfg.min_share)).all()
        for i, want in enumerate(reference_shares(analysis, reference, cat)):
            if want is None:
                continue
            assert cov[f"share_{cat}"].iloc[i] == pytest.approx(want[0], abs=5e-5), (cat, i)
            assert col.iloc[i] == (round(want[0], 4) >= cfg.min_share), (cat, i)
            checked += 1
    assert checked > 0.9 * n * len(judged)


def test_complete_and_per_category_coverage_match_reference(analysis, reference):
    """The headline numbers: complete communities and per-category coverage."""
    cfg = analysis.config
    cov = analysis.coverage
    shares = {cat: reference_shares(analysis, reference, cat) for cat in cfg.keys}
    covered = {cat: [s is not None and round(s[0], 4) >= cfg.min_share for s in shares[cat]] for cat in cfg.keys}
    for cat in cfg.keys:
        assert all(s is not None for s in shares[cat]), cat  # no ties on this extract
        assert int(cov[f"covered_{cat}"].sum()) == sum(covered[cat]), cat
    complete = sum(all(covered[cat][i] for cat in cfg.keys) for i in range(len(cov)))
    assert int(cov["complete"].sum()) == complete
    # the extract has facilities for every category but canteens (none in OSM there)
    assert sum(covered["canteen"]) == 0 and all(sum(covered[c]) > 0 for c in cfg.keys if c != "canteen")


def test_residents_share_matches_reference(analysis, reference):
    cfg = analysis.config
    cov = analysis.coverage
    checked = 0
    for cat in analysis.no_data:
        assert cov[f"residents_share_{cat}"].isna().all()
    for cat in [k for k in cfg.keys if k not in analysis.no_data]:
        for i, want in enumerate(reference_shares(analysis, reference, cat)):
            got = cov[f"residents_share_{cat}"].iloc[i]
            if want is None:
                continue
            if np.isnan(want[1]):
                assert np.isnan(got), (cat, i)
                continue
            assert got == pytest.approx(want[1], abs=5e-5), (cat, i)
            checked += 1
    # and the shares are not trivially all 0 or all 1
    values = np.concatenate([cov[f"residents_share_{k}"].dropna().values for k in cfg.keys])
    assert checked > 50 and 0 < np.mean(values) < 1 and np.any((values > 0) & (values < 1))


def test_nearest_facility_is_named_and_truly_nearest(analysis, reference):
    """The facility named for each community is one at the shortest walk from
    its centre (networkx from the centre to every facility separately)."""
    R, fac, owner, _ = reference.extra
    cfg = analysis.config
    cov = analysis.coverage
    limit = cfg.threshold_m * settings.search_factor
    checked = 0
    for i in range(len(cov)):
        if ("centre", i) not in R:
            continue
        reach = nx.single_source_dijkstra_path_length(R, ("centre", i), cutoff=limit, weight="w")
        for cat in cfg.keys:
            per_fac = {}
            for node, d in reach.items():
                if isinstance(node, tuple) and node[0] == "poi" and fac["category"].iloc[owner[node[1]]] == cat:
                    pid = fac["poi_id"].iloc[owner[node[1]]]
                    per_fac[pid] = min(per_fac.get(pid, np.inf), d)
            got = cov[f"nearest_id_{cat}"].iloc[i]
            if not per_fac or min(per_fac.values()) > limit - EPS:
                # named from the nearest home instead (test_minutes_match_networkx checks that walk)
                from_homes = _from_homes(reference, cat, i, limit)
                assert (got != "") == np.isfinite(from_homes), (cat, i)
                continue
            best = min(per_fac.values())
            assert per_fac[got] == pytest.approx(best, abs=1e-6), (cat, i, got)
            assert cov[f"metres_{cat}"].iloc[i] == pytest.approx(best, abs=0.05 + EPS)
            name = fac.loc[fac["poi_id"] == got, "name"].iloc[0]
            assert cov[f"nearest_{cat}"].iloc[i] == name
            checked += 1
    assert checked > 0.5 * len(cov) * len(cfg.keys)


def test_summary_columns(analysis):
    cfg = analysis.config
    cov = analysis.coverage
    judged = [k for k in cfg.keys if k not in analysis.no_data]
    assert analysis.no_data == ["canteen"]  # OSM maps no community canteen here
    assert (cov["no_data"] == "canteen").all()
    covered = cov[[f"covered_{k}" for k in judged]]
    assert (cov["reached"] == covered.sum(axis=1)).all()
    assert (cov["n_categories"] == len(judged)).all()
    assert (cov["complete"] == (cov["reached"] == len(judged))).all()
    for i in range(len(cov)):
        missing = [k for k in judged if not covered[f"covered_{k}"].iloc[i]]
        assert cov["gaps"].iloc[i] == ",".join(missing)
    for k in judged:
        share = cov[f"share_{k}"]
        assert share.between(0, 1).all()
        rs = cov[f"residents_share_{k}"]
        has = cov["n_buildings"] > 0
        assert rs[has].between(0, 1).all()
        assert rs[~has].isna().all()
    assert cov["community_id"].is_unique
    # the gaps layer holds exactly the buildings beyond the threshold
    gaps = analysis.gaps
    for k in judged:
        far = gaps[(gaps["category"] == k) & (gaps["kind"] == "building")]
        per = far.groupby("community_id").size()
        for cid, nb, share in zip(cov["community_id"], cov["n_buildings"], cov[f"share_{k}"]):
            if nb:
                assert per.get(cid, 0) == round(nb * (1 - share))


def test_distance_mode(bundled_osm, osm):
    """A uniform distance (--distance): every category at the level's 500 m."""
    cfg = load_config(mode="distance")
    assert cfg.threshold_m == 500.0 and set(cfg.limits_m.values()) == {500.0}
    a = lifecircle.analyze(bundled_osm, config=cfg)
    assert a.config.mode == "distance"
    assert "metres" in a.isochrones.columns and set(a.isochrones["metres"]) == {500.0}
    ref = build_reference(a, osm)
    dist, _, n = ref
    cov = a.coverage
    for cat in cfg.keys:
        for i in range(n):
            want = dist[cat].get(("centre", i), np.inf)
            if abs(want - 500.0) < EPS or abs(want - 1500.0) < EPS:
                continue
            if want >= 1500.0:
                want = _from_homes(ref, cat, i, 1500.0)
            if want < 1500.0:
                assert abs(cov[f"metres_{cat}"].iloc[i] - want) <= 0.05 + EPS
            else:
                assert np.isnan(cov[f"metres_{cat}"].iloc[i])
    # some centre is covered at 750 m but not at 500 m
    assert any(((want := dist[k].get(("centre", i), np.inf)) > 500 and want <= 750)
               for k in cfg.keys for i in range(n))


def test_deterministic(bundled_osm, analysis):
    again = lifecircle.analyze(bundled_osm)
    pd.testing.assert_frame_equal(analysis.coverage, again.coverage, check_exact=True)
    from geopandas.testing import assert_geodataframe_equal

    assert_geodataframe_equal(analysis.isochrones, again.isochrones)
    pd.testing.assert_frame_equal(analysis.pois.drop(columns="geometry"), again.pois.drop(columns="geometry"))



def test_save(analysis, tmp_path):
    first = analysis.save(tmp_path / "a")
    assert (tmp_path / "a" / "coverage.csv").exists()
    assert (tmp_path / "a" / "lifecircle.gpkg").exists()
    table = pd.read_csv(tmp_path / "a" / "coverage.csv")
    assert len(table) == len(analysis.communities)
    assert list(table.columns) == list(analysis.coverage.columns)
    assert table["community_id"].tolist() == analysis.coverage["community_id"].tolist()
    assert set(first) >= {"coverage", "gpkg"}
    analysis.save(tmp_path / "b")
    for name in ("coverage.csv", "lifecircle.gpkg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # saving again into the same folder gives the same bytes
    before = (tmp_path / "a" / "lifecircle.gpkg").read_bytes()
    analysis.save(tmp_path / "a")
    assert (tmp_path / "a" / "lifecircle.gpkg").read_bytes() == before
    layers = gpd.list_layers(tmp_path / "a" / "lifecircle.gpkg")["name"].tolist()
    assert "communities" in layers
    back = gpd.read_file(tmp_path / "a" / "lifecircle.gpkg", layer="communities")
    assert len(back) == len(analysis.communities)
    assert back.crs.to_epsg() == 4326


def test_every_residential_area_is_reported_or_left_out_with_a_reason(analysis, bundled_osm, tmp_path):
    """Independent count from the file (plain osmium): each landuse=residential
    area is a community (partial when cut by the extract's edge) or a row of
    left_out.csv with its reason; none is named by its OSM id."""
    import osmium

    areas, clipped = set(), set()
    for o in osmium.FileProcessor(str(bundled_osm)).with_locations():
        if o.tags.get("landuse") != "residential":
            continue
        if o.is_way() and o.nodes[0].ref == o.nodes[-1].ref:
            areas.add(f"way/{o.id}")
            if not all(n.location.valid() for n in o.nodes):
                clipped.add(f"way/{o.id}")
        elif o.is_relation():
            areas.add(f"relation/{o.id}")
    assert len(areas) == 26 and len(clipped) == 13
    cov = analysis.coverage
    out = tmp_path / "out"
    analysis.save(out)
    left = pd.read_csv(out / "left_out.csv", keep_default_na=False)
    left_comms = left[left["what"] == "community"]
    assert set(cov["community_id"]) | set(left_comms["id"]) == areas
    assert not set(cov["community_id"]) & set(left_comms["id"])
    assert (left["reason"].str.len() > 0).all()
    assert set(cov.loc[cov["partial"], "community_id"]) == clipped - set(left_comms["id"])
    # names people use: none is an OSM id, none is empty, all distinct
    assert not cov["name"].str.contains(r"(?:way|node|relation)/\d").any()
    assert (cov["name"].str.len() > 0).all() and cov["name"].is_unique
    # the terminal summary and the warnings count what was left out
    assert any("left out" in w for w in analysis.warnings)


def test_routes_walk_the_streets_to_the_named_facility(analysis, osm):
    """Each community's walk to its nearest facility: as long as metres_<cat>,
    from its centre to an access point of the named facility, along streets."""
    from lifecircle.core.network import StreetNetwork

    routes, cov, cfg = analysis.routes, analysis.coverage, analysis.config
    by_id = cov.set_index("community_id")
    want = {(c, k) for c in cov["community_id"] for k in cfg.keys if by_id.loc[c, f"nearest_id_{k}"]}
    assert set(zip(routes["community_id"], routes["category"])) == want and len(want) > 50
    centres = dict(zip(analysis.communities["community_id"], analysis.communities.geometry.representative_point()))
    streets = shapely.union_all(StreetNetwork.from_graph(analysis.graph).geoms)
    for r in routes.itertuples():
        assert r.metres == pytest.approx(by_id.loc[r.community_id, f"metres_{r.category}"], abs=0.05)
        assert r.poi_id == by_id.loc[r.community_id, f"nearest_id_{r.category}"]
        xy = shapely.get_coordinates(r.geometry)
        # from the centre, or from the nearest home where the centre reaches none (Leivonen's)
        start = analysis.study.walk_from[r.category][list(cov["community_id"]).index(r.community_id)]
        assert shapely.Point(xy[0]).equals_exact(analysis.study.origins.points[start], 1e-6)
        from_centre = analysis.study.origins.kind[start] == analysis.study.origins.CENTRE
        assert not from_centre or shapely.Point(xy[0]).equals_exact(centres[r.community_id], 1e-6)
        # the projected line is within half a per cent of the walk's length (legs are straight)
        assert abs(r.geometry.length - r.metres) <= 0.005 * r.metres + 0.5
        # every vertex but the two ends lies on a street
        assert shapely.distance(shapely.points(xy[1:-1]), streets).max() < 1e-6, (r.community_id, r.category)
        # the end is an access point of the named facility
        acc = analysis.study.access
        rows = np.flatnonzero(analysis.study.facilities["poi_id"].to_numpy() == r.poi_id)
        pts = acc.points[np.isin(acc.facility, rows)]
        assert shapely.distance(shapely.Point(xy[-1]), shapely.MultiPoint(list(pts))) < 1e-6

"""Site suggestions (maximal covering): solver against brute force, the bundled
extract against networkx Dijkstra and a re-analysis, outputs, bad input."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecircle.config import load_config
from lifecircle.core.engine import Snapped, node_distances, point_distances, snap_points
from lifecircle.errors import ConfigError, InputFileError
from lifecircle.planning import suggest as sg

# ---------------------------------------------------------------- solver vs brute force


@st.composite
def instances(draw):
    n_cand = draw(st.integers(1, 7))
    n_dem = draw(st.integers(1, 9))
    cells = draw(st.lists(st.booleans(), min_size=n_cand * n_dem, max_size=n_cand * n_dem))
    weights = draw(st.lists(st.integers(0, 30), min_size=n_dem, max_size=n_dem))
    count = draw(st.integers(1, 4))
    return np.array(cells, bool).reshape(n_cand, n_dem), np.array(weights, float), count


def _brute(a: np.ndarray, w: np.ndarray, count: int) -> tuple[float, list[frozenset]]:
    """Best covered weight over every set of at most ``count`` candidates, and
    the minimal sets reaching it (no member can go without losing weight)."""
    def value(s):
        return float(w[a[list(s)].any(axis=0)].sum()) if s else 0.0

    sets = [frozenset(c) for k in range(count + 1) for c in itertools.combinations(range(len(a)), k)]
    best = max(value(s) for s in sets)
    minimal = [s for s in sets if value(s) == best and all(value(s - {j}) < best for j in s)]
    return best, minimal


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_mclp_equals_brute_force(inst):
    a, w, count = inst
    reach = sp.csr_matrix(a.astype(np.int8))
    best, minimal = _brute(a, w, count)
    exact = sg.mclp(reach, w, count)
    assert not isinstance(exact, str)
    assert exact.value == pytest.approx(best)
    assert len(exact.chosen) <= count
    covered = a[exact.chosen].any(axis=0) if exact.chosen else np.zeros(a.shape[1], bool)
    assert float(w[covered].sum()) == pytest.approx(best)
    assert all(g > 0 for g in exact.gains)
    if len(minimal) == 1:
        assert frozenset(exact.chosen) == minimal[0]
    # solve() (greedy first, exact when greedy is not proven) reaches the optimum too
    assert sg.solve(reach, w, count).value == pytest.approx(best)
    # greedy: never better than the optimum, and its bound is a true upper bound
    g = sg.greedy(reach, w, count)
    assert g.value <= best + 1e-9 <= g.bound + 2e-9
    assert g.value >= (1 - 1 / math.e) * best - 1e-9
    # greedy and swaps: no worse than greedy, never above the optimum, whose bound holds
    h = sg.solve(reach, w, count, exact=False)
    assert g.value - 1e-9 <= h.value <= best + 1e-9 <= h.bound + 2e-9
    assert h.method == "greedy" or h.value == pytest.approx(best)
    covered = a[h.chosen].any(axis=0) if h.chosen else np.zeros(a.shape[1], bool)
    assert float(w[covered].sum()) == pytest.approx(h.value)


def test_greedy_bound_and_note_when_exact_is_refused():
    # greedy takes the middle candidate first; the two outer ones together cover more
    a = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], bool)
    w = np.array([1.0, 3, 3, 1])
    reach = sp.csr_matrix(a.astype(np.int8))
    best, _ = _brute(a, w, 2)
    assert best == 8.0
    g = sg.greedy(reach, w, 2)
    assert g.value == 7.0 and g.bound >= best and g.chosen == [0, 1]
    # too large to try exactly: greedy, then a swap of the first site finds the optimum, which the bound proves
    h = sg.solve(reach, w, 2, max_cells=1)
    assert h.value == best and sorted(h.chosen) == [1, 2] and h.method == "exact"
    assert h.note == "the choice meets an upper bound on the optimum"
    # here greedy (and swaps) are optimal, but neither greedy's bound nor the LP relaxation's (10.5) proves it
    a5 = np.array([[1, 0, 1, 1, 1, 0], [0, 0, 1, 0, 1, 1], [0, 1, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0]], bool)
    w5 = np.array([1.0, 2, 3, 3, 1, 1])
    b5, _ = _brute(a5, w5, 2)
    h5 = sg.solve(sp.csr_matrix(a5.astype(np.int8)), w5, 2, max_cells=1)
    assert h5.value == b5 == 10.0 and sorted(h5.chosen) == [0, 2]
    assert h5.method == "greedy" and h5.note == "reduced instance of 24 cells is above the exact limit (1)"
    assert h5.bound == pytest.approx(10.5)


# ---------------------------------------------------------------- bundled extract


@pytest.fixture(scope="module")
def small(bundled_osm):
    """The bundled extract judged on pharmacies and parks only (so that
    communities can become complete), and its pharmacy suggestion."""
    import lifecircle

    cfg = load_config(categories=["pharmacy", "park"])
    a = lifecircle.analyze(bundled_osm, config=cfg)
    return a, a.suggest("pharmacy", 3)


def _nx_distances(net, sources, points, limit):
    """Shortest walks from the nearest of ``sources`` to each of ``points``
    (both Snapped) on a networkx graph whose edges are cut at every point."""
    G = nx.MultiGraph()
    on_edge: dict[int, list] = {}
    for kind, snapped in (("s", sources), ("p", points)):
        for i in np.flatnonzero(snapped.ok):
            on_edge.setdefault(int(snapped.edge[i]), []).append((float(snapped.offset[i]), (kind, int(i))))
            G.add_edge((kind, int(i)), ("at", kind, int(i)), weight=float(snapped.leg[i]))
    for e in range(len(net.eu)):
        u, v, length = int(net.eu[e]), int(net.ev[e]), float(net.length[e])
        chain = [(0.0, u)] + [(off, ("at",) + who) for off, who in sorted(on_edge.get(e, []))] + [(length, v)]
        for (o1, n1), (o2, n2) in zip(chain[:-1], chain[1:]):
            G.add_edge(n1, n2, weight=o2 - o1)
    src = [("s", int(i)) for i in np.flatnonzero(sources.ok)]
    dist = nx.multi_source_dijkstra_path_length(G, src, cutoff=limit) if src else {}
    return np.array([dist.get(("p", i), np.inf) for i in range(len(points))])


def test_residents_gained_agree_with_networkx(small):
    a, s = small
    study = a.study
    limit = s.limit_m
    assert limit == 300.0 and len(s.sites) == 3 and s.method == "exact"
    homes = study.origins.homes
    pts = study.origins.snapped.subset(homes)
    res = study.buildings["residents"].values[study.origins.building[homes]]
    existing, _ = study.access.of(study.facilities["category"].values == "pharmacy")
    sites = snap_points(study.net, s.sites.geometry.values, 1.0)
    both = Snapped(np.concatenate([existing.edge, sites.edge]), np.concatenate([existing.offset, sites.offset]),
                      np.concatenate([existing.leg, sites.leg]))
    before = _nx_distances(study.net, existing, pts, limit) <= limit + 1e-6
    after = _nx_distances(study.net, both, pts, limit) <= limit + 1e-6
    assert s.residents_before == pytest.approx(res[before].sum())
    assert s.residents_gained == pytest.approx(res[after & ~before].sum())
    assert s.residents_gained > 0
    assert s.sites["residents_cumulative"].iloc[-1] == pytest.approx(s.residents_gained, abs=0.1)
    assert s.sites["homes_gained"].sum() == int((after & ~before).sum())
    # the analysis' own residents shares say the same about the existing facilities
    share = a.communities["residents_share_pharmacy"].fillna(0) * study.table["home_residents"]
    assert share.sum() == pytest.approx(s.residents_before, rel=1e-3, abs=1.0)


def test_exact_at_least_greedy_and_directions_agree(small):
    a, s = small
    study = a.study
    d = sg.uncovered(study, "pharmacy")
    homes = d.weight > 0
    cands = sg.street_candidates(study.net, study.origins.points[d.origin[homes]], 300.0)
    by_cand = sg.coverage_matrix(study.net, cands.snapped, d.snapped, 300.0, "candidates")
    by_dem = sg.coverage_matrix(study.net, cands.snapped, d.snapped, 300.0, "demand")
    assert by_cand.reach.nnz > 0
    assert (by_cand.reach != by_dem.reach).nnz == 0
    np.testing.assert_allclose(by_cand.metres, by_dem.metres, rtol=0, atol=1e-9)
    # each candidate's row is the engine's whole-network search from it alone
    for j in range(0, len(cands.ids), max(1, len(cands.ids) // 25)):
        one = cands.snapped.subset(np.array([j]))
        metres = point_distances(study.net, node_distances(study.net, one, 300.0), d.snapped, one, 300.0)
        row = by_cand.reach.indices[by_cand.reach.indptr[j]:by_cand.reach.indptr[j + 1]]
        np.testing.assert_array_equal(row, np.flatnonzero(metres <= 300.0))
        np.testing.assert_allclose(by_cand.metres[by_cand.reach.indptr[j]:by_cand.reach.indptr[j + 1]], metres[row],
                                   rtol=0, atol=1e-6)
    for count in (1, 3, 6):
        g = sg.solve(by_cand.reach, d.weight, count, exact=False)
        e = sg.solve(by_cand.reach, d.weight, count)
        assert e.method == "exact" and e.value >= g.value - 1e-9
    assert sg.solve(by_cand.reach, d.weight, 3).value == pytest.approx(s.residents_gained)


def test_reanalysis_with_the_sites_added(small, bundled_osm):
    """Adding the suggested sites as facilities and analysing again gives the
    residents and the completed communities the suggestion announced."""
    import lifecircle

    a, s = small
    pois = gpd.GeoDataFrame({
        "poi_id": [f"user/{i}" for i in range(len(s.sites))], "osm_type": "user", "osm_id": range(len(s.sites)),
        "name": [f"new pharmacy {i}" for i in range(len(s.sites))], "category": "pharmacy", "source": "user",
    }, geometry=s.sites.geometry.values, crs=s.sites.crs)
    b = lifecircle.analyze(bundled_osm, config=a.config, pois=pois)
    res = b.study.table["home_residents"]
    within_after = (b.communities["residents_share_pharmacy"].fillna(0) * res).sum()
    assert within_after == pytest.approx(s.residents_before + s.residents_gained, rel=1e-3, abs=1.0)
    gained_complete = int(b.communities["complete"].sum()) - int(a.communities["complete"].sum())
    assert gained_complete == s.communities_completed
    assert s.communities_completed > 0
    ids = set(b.communities.loc[b.communities["complete"] & ~a.communities["complete"], "community_id"])
    assert ids == {i for x in s.sites["completed_ids"] for i in x.split(",") if i}
    assert f"{len(s.sites)} sites bring {s.residents_gained:,.0f} more residents within 300 m of a " in s.summary()


def test_results_and_files_repeat_exactly(small, tmp_path):
    a, s = small
    again = a.suggest("pharmacy", 3)
    assert again.sites.drop(columns="geometry").equals(s.sites.drop(columns="geometry"))
    assert list(again.sites.geometry.to_wkb()) == list(s.sites.geometry.to_wkb())
    one, two = tmp_path / "one", tmp_path / "two"
    s.save(one)
    again.save(two)
    for name in ("suggest.csv", "suggest.html", "suggested_scenario.geojson", "suggest.gpkg"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_scenario_file_format(small, tmp_path):
    a, s = small
    s.save(tmp_path, lang="zh")
    doc = json.loads((tmp_path / "suggested_scenario.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(s.sites)
    for f, (_, row) in zip(doc["features"], s.sites.iterrows()):
        assert f["properties"]["change"] == "add_facility"
        assert f["properties"]["category"] == "pharmacy"
        assert f["properties"]["name"] == f"建议药店选址 {row['rank']}"
        assert f["geometry"]["type"] == "Point"
        assert f["geometry"]["coordinates"] == pytest.approx([row["lon"], row["lat"]], abs=1e-7)
    read = gpd.read_file(tmp_path / "suggested_scenario.geojson")
    assert read.crs.to_epsg() == 4326 and list(read["change"]) == ["add_facility"] * len(s.sites)
    layers = gpd.read_file(tmp_path / "suggest.gpkg", layer="suggested_sites")
    assert list(layers["site_id"]) == list(s.sites["site_id"]) and layers.crs.to_epsg() == 4326


# ---------------------------------------------------------------- user candidates


def test_candidate_file_polygons_projected_and_escaped(small, tmp_path):
    a, s = small
    study = a.study
    # three plots in the Finnish national CRS: around the best street site, and two far from homes
    best = s.sites.geometry.values[0]
    far = study.net.xy[np.argmax(study.net.xy[:, 0])]
    plots = [best.buffer(15), shapely.Point(*far).buffer(10), shapely.box(*(far - 30), *(far - 10))]
    names = ['<img src=x onerror="alert(1)">', "=HYPERLINK(\"x\")", "lot c"]
    gdf = gpd.GeoDataFrame({"name": names, "plot_no": ["a", "b", "c"]}, geometry=plots, crs=study.net.crs)
    path = tmp_path / "plots.gpkg"
    gdf.to_crs("EPSG:3067").to_file(path, layer="plots")
    r = a.suggest("pharmacy", 2, path)
    assert r.n_candidates == 3 and r.candidates_source == str(path)
    assert r.sites["name"].iloc[0] == names[0]
    # the first plot's representative point serves who the best street site served, give or take a block
    assert r.sites["residents_gained"].iloc[0] >= 0.5 * s.sites["residents_gained"].iloc[0]
    out = tmp_path / "out"
    r.save(out)
    html = (out / "suggest.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "onerror=\"alert" not in html
    assert "cdn." not in html and "unpkg" not in html
    csv = (out / "suggest.csv").read_text(encoding="utf-8-sig")
    assert "=HYPERLINK" not in csv.replace("'=HYPERLINK", "")


def test_bad_candidates(small, tmp_path):
    a, _ = small
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputFileError, match="has no features"):
        a.suggest("pharmacy", 2, empty)
    xy = a.study.net.xy
    far = gpd.GeoDataFrame(geometry=[shapely.Point(xy[:, 0].max() + 5000, xy[:, 1].max() + 5000)], crs=a.crs)
    farfile = tmp_path / "far.geojson"
    far.to_crs("EPSG:4326").to_file(farfile)
    with pytest.raises(InputFileError, match=r"within 200 m of a walkable street \(the nearest is \d+ m away\)"):
        a.suggest("pharmacy", 2, farfile)
    projected = tmp_path / "projected.geojson"
    projected.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
                         '"geometry": {"type": "Point", "coordinates": [385000, 6672000]}}]}', encoding="utf-8")
    with pytest.raises(InputFileError, match="not longitude/latitude"):
        a.suggest("pharmacy", 2, projected)
    with pytest.raises(InputFileError, match="has no CRS and its coordinates are not longitude/latitude"):
        sg.read_candidates(gpd.GeoDataFrame(geometry=[shapely.Point(385000, 6672000)]), a.crs)
    with pytest.raises(InputFileError, match="not found"):
        a.suggest("pharmacy", 2, tmp_path / "missing.gpkg")


def test_bad_category_and_count(small):
    a, _ = small
    with pytest.raises(ConfigError, match="unknown category 'cinema'"):
        a.suggest("cinema", 2)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="count must be a whole number of at least 1"):
            a.suggest("pharmacy", bad)
    with pytest.raises(ConfigError, match="time_limit must be a positive number, got -1"):
        a.suggest("pharmacy", 2, time_limit=-1)
    with pytest.raises(ConfigError, match="spacing must be a positive number, got nan"):
        a.suggest("pharmacy", 2, spacing=float("nan"))
    with pytest.raises(ConfigError, match="direction must be one of auto, candidates, demand"):
        a.suggest("pharmacy", 2, direction="sideways")


@pytest.mark.parametrize("args, message", [
    (["--category", "cinema"], "Error: unknown category 'cinema'"),
    (["--category", "canteen", "--count", "0"], "Error: count must be a whole number of at least 1, got 0"),
    (["--count", "2"], "Error: give one --category"),
    (["--category", "canteen", "--candidates", "EMPTY"], "has no features"),
])
def test_cli_errors_are_one_line(args, message, tmp_path, capsys):
    from lifecircle.cli import run

    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    out = tmp_path / "out"
    status = run(["suggest", *[str(empty) if x == "EMPTY" else x for x in args], "--out", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists() or not any(out.iterdir())


# ---------------------------------------------------------------- the map in a browser


@pytest.mark.browser
def test_map_renders_offline_with_hostile_names(small, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    a, s = small
    # the sites under hostile names, as a user's candidates file could give them
    hostile = '<img src=x onerror="window.__lcPwned=1;alert(1)">'
    sites = s.sites.copy()
    sites["name"] = [hostile, "${window.__lcPwned=2}`", "普通 <b>选址</b>"]
    bad = dataclasses.replace(s, sites=sites)
    bad.save(tmp_path, lang="zh")
    page_errors, dialogs, blocked = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                   else (blocked.append(r.request.url), r.abort()))
        page.goto((tmp_path / "suggest.html").as_uri())
        assert page.evaluate("document.querySelectorAll('.lc-site-marker').length") == len(sites)
        page.click(".lc-site-marker >> nth=0")
        popup = page.wait_for_selector(".lc-site[data-rank='1']")
        text = popup.inner_text()
        assert hostile in text  # shown as text
        assert f"{sites['residents_gained'].iloc[0]:,.0f}" in text
        legend = page.inner_text(".lc-suggest")
        assert s.summary("zh") in legend
        pwned = page.evaluate("window.__lcPwned")
        browser.close()
    assert page_errors == [] and dialogs == [] and pwned is None
    assert all(u.startswith("https://tile.openstreetmap.org/") for u in blocked)


def test_nothing_to_gain_writes_empty_outputs(small, tmp_path):
    """A site that reaches no uncovered home: no site is suggested, the files say so."""
    a, _ = small
    study = a.study
    d = sg.uncovered(study, "pharmacy")
    homes = shapely.get_coordinates(study.origins.points[d.origin[d.weight > 0]])
    xy = study.net.xy
    gap = np.min(np.hypot(xy[:, None, 0] - homes[None, :, 0], xy[:, None, 1] - homes[None, :, 1]), axis=1)
    far = xy[int(np.argmax(gap))]
    assert gap.max() > 300  # farther than any walk of 300 m
    r = a.suggest("pharmacy", 2, gpd.GeoDataFrame(geometry=[shapely.Point(*far)], crs=a.crs))
    assert len(r.sites) == 0 and r.residents_gained == 0 and r.optimal
    assert r.warnings == ["no candidate site brings any resident within 300 m of a pharmacy"]
    assert r.summary().startswith("0 sites bring 0 more residents")
    r.save(tmp_path)
    assert (tmp_path / "suggest.csv").read_text(encoding="utf-8").startswith("\ufeffrank,site_id,")
    assert json.loads((tmp_path / "suggested_scenario.geojson").read_text(encoding="utf-8"))["features"] == []
    assert not (tmp_path / "suggest.gpkg").exists()


def test_cli_suggest_end_to_end(tmp_path, capsys):
    from lifecircle.cli import run

    out = tmp_path / "out"
    status = run(["suggest", "--category", "pharmacy", "--count", "2", "--level", "5min", "--out", str(out), "-q"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].startswith("2 sites bring ") and "more residents within 300 m of a pharmacy; " in lines[0]
    assert lines[1].startswith("  exact: ")
    assert sorted(p.name for p in out.iterdir()) == ["suggest.csv", "suggest.gpkg", "suggest.html",
                                                       "suggested_scenario.geojson"]
    sites = gpd.read_file(out / "suggest.gpkg", layer="suggested_sites")
    assert lines[0].split(" more residents")[0] == f"2 sites bring {sites['residents_cumulative'].iloc[-1]:,.0f}"


def test_a_category_beyond_the_level_despite_a_level_category_without_data(tmp_path, capsys):
    """Culture (a 15-minute facility) at the 10-minute level, whose canteens the data lacks: the
    canteens are a warning, as in analyze; only the category asked for must have facilities."""
    from lifecircle.cli import run

    out = tmp_path / "out"
    status = run(["suggest", "--category", "culture", "--count", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "more residents within 1000 m of a " in captured.out.splitlines()[0]
    assert "category 'canteen': not a single facility of it in the data" in captured.err
    assert len(pd.read_csv(out / "suggest.csv")) == 1
    # a category asked for without facilities is still the error, and names itself
    status = run(["suggest", "--category", "kindergarten", "--out", str(tmp_path / "none"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err == ["Error: category 'kindergarten' has no facilities in the study area"]


def test_candidates_csv_with_lonlat(small, tmp_path):
    """A CSV of lon/lat sites (WGS84) gives the same sites as the same points in a GeoPackage."""
    a, s = small
    lonlat = s.sites.to_crs("EPSG:4326").geometry
    path = tmp_path / "sites.csv"
    rows = "".join(f"site {i},{p.x:.7f},{p.y:.7f}\n" for i, p in enumerate(lonlat))
    path.write_text("name,经度,纬度\n" + rows, encoding="utf-8")
    r = a.suggest("pharmacy", 3, path)
    assert r.n_candidates == len(s.sites)
    assert r.residents_gained == pytest.approx(s.residents_gained, abs=0.5)
    assert sorted(r.sites["name"]) == [f"site {i}" for i in range(len(s.sites))]
    nocoords = tmp_path / "nocoords.csv"
    nocoords.write_text("name,address\nlot,somewhere\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="has no longitude/latitude columns"):
        a.suggest("pharmacy", 3, nocoords)


def test_summary_wording(small):
    a, s = small
    one = dataclasses.replace(s, sites=s.sites.iloc[:1].assign(communities_completed=1))
    assert one.summary().startswith("1 site brings ")
    assert one.summary().endswith("; 1 community becomes complete")
    assert one.summary("zh").endswith("；1 个社区由此补齐全部设施")
    n = int(s.sites["communities_completed"].sum())
    assert s.summary().endswith(f"; {n} communities become complete") and n > 1


def test_dominated_candidates(monkeypatch):
    # candidate 1 reaches a subset of candidate 0's homes, 3 the same as 2: 1 and 3 go
    a = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 1], [0, 1, 1, 1]], bool)
    groups, gw = sg._groups(sp.csr_matrix(a.astype(np.int8)), np.array([1.0, 2, 3, 4]))
    assert groups.shape[0] == 3 and sorted(gw) == [1.0, 2.0, 7.0]  # homes 2 and 3 merged
    assert list(sg._undominated(groups)) == [0, 2]
    monkeypatch.setattr(sg, "_MAX_OVERLAP_PAIRS", 0)  # too many pairs to compare: all are kept
    assert list(sg._undominated(groups)) == [0, 1, 2, 3]

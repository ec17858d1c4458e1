"""The online source against a local fake Overpass + Nominatim (no internet).

The fake server (tests/overpass_server.py) answers with real Overpass JSON
built from the bundled extract, so an online run must reproduce the offline
run on the same data exactly.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from overpass_server import FakeOSMServer, index_extract

import lifecircle
from lifecircle import pipeline
from lifecircle import settings as lc_settings
from lifecircle.cli import cli, main
from lifecircle.errors import ConfigError, EmptyAreaError, InputFileError, NetworkError
from lifecircle.sources import online
from lifecircle.sources.osmfile import FEATURE_KEYS, OSMData, read_osm

PLACE = "Kluuvi, Helsinki"
#: What the fake Nominatim answers for PLACE: ~800 m around the extract's
#: Kluuvi place node (3 of the extract's 13 communities lie inside).
KLUUVI = shapely.box(24.9399, 60.1671, 24.9548, 60.1745)
#: A part of the extract (W,S,E,N) holding some of its communities.
SUB_BBOX = "24.936,60.164,24.946,60.170"
#: Open sea south of Helsinki: the server has nothing there.
SEA_BBOX = "24.90,60.10,24.91,60.11"


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def extract_index():
    return index_extract(pipeline.BUNDLED_OSM)


@pytest.fixture(scope="module")
def whole_area(extract_index):
    """The extract's box, padded so nothing sits on the query's edge."""
    w, s, e, n = extract_index.bounds
    return shapely.box(w - 0.001, s - 0.001, e + 0.001, n + 0.001)


@pytest.fixture(scope="module")
def server(extract_index):
    srv = FakeOSMServer(extract_index, {PLACE: KLUUVI}).start()
    yield srv
    srv.stop()


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_osm(server, tmp_path, monkeypatch):
    """Point osmnx at the fake server and lifecircle's cache at a temp folder."""
    monkeypatch.setattr(ox.settings, "overpass_url", server.url() + "/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", server.url())
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 20)
    monkeypatch.setattr(lc_settings, "cache_folder", str(tmp_path / "cache"))
    return server


@pytest.fixture(scope="module")
def offline_data():
    return read_osm(pipeline.BUNDLED_OSM)


def whole_objects(data: OSMData) -> OSMData:
    """``data`` without the areas the extract cuts (``clipped``).

    Overpass sends whole ways, so the fake server, holding only the
    extract, leaves the cut ones out: this is what both sources share.
    """
    return OSMData(data.graph, data.features[~data.features["clipped"]].reset_index(drop=True), data.source)


@pytest.fixture(scope="module")
def offline_coverage(offline_data):
    return lifecircle.analyze(whole_objects(offline_data)).communities.drop(columns="geometry")


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def assert_same_coverage(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Same communities, minutes per category (to 1e-6) and covered flags."""
    expected, got = expected.reset_index(drop=True), got.reset_index(drop=True)
    assert len(expected) > 0
    assert got["community_id"].tolist() == expected["community_id"].tolist()
    assert got["name"].tolist() == expected["name"].tolist()
    minutes = [c for c in expected.columns if c.startswith("minutes_")]
    covered = [c for c in expected.columns if c.startswith("covered_")]
    assert minutes and covered
    for c in minutes:
        np.testing.assert_allclose(got[c].to_numpy(float), expected[c].to_numpy(float), rtol=0, atol=1e-6,
                                   equal_nan=True, err_msg=c)
    for c in covered:  # True, False or NA (no data)
        assert got[c].astype(object).where(got[c].notna(), None).tolist() == \
            expected[c].astype(object).where(expected[c].notna(), None).tolist(), c
    assert got["gaps"].fillna("").tolist() == expected["gaps"].fillna("").tolist()


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=True)


def _run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


# --------------------------------------------------------------------------
# online == offline
# --------------------------------------------------------------------------

def test_fetch_equals_offline_reader(fake_osm, whole_area, offline_data, offline_coverage):
    before = _today()
    data = online.fetch(whole_area, buffer_m=0)
    assert data.data_date in {before, _today()}  # the day of the download, even at midnight
    assert data.feature_keys == FEATURE_KEYS
    assert len(data.left_out) == 0
    assert list(data.left_out.columns) == list(offline_data.left_out.columns)

    # the same walk graph ...
    assert set(data.graph.nodes) == set(offline_data.graph.nodes)
    assert data.graph.number_of_edges() == offline_data.graph.number_of_edges()
    length = lambda G: sorted(round(d["length"], 6) for _, _, d in G.edges(data=True))  # noqa: E731
    assert length(data.graph) == length(offline_data.graph)

    # ... the same features, row for row, geometry for geometry (but for
    # the outlines the extract cuts, which Overpass sends whole) ...
    got, exp = data.features, whole_objects(offline_data).features
    assert offline_data.features["clipped"].sum() > 0 and len(exp) < len(offline_data.features)
    assert not got["clipped"].any()
    assert list(got.columns) == list(exp.columns)
    assert got.crs == exp.crs
    assert got["osm_type"].tolist() == exp["osm_type"].tolist()
    assert got["osm_id"].tolist() == exp["osm_id"].tolist()
    assert got["name"].tolist() == exp["name"].tolist()
    assert got["tags"].tolist() == exp["tags"].tolist()
    assert shapely.equals_exact(got.geometry.values, exp.geometry.values, tolerance=0).all()

    # ... hence the same coverage table
    cov = pipeline.analyze(data, area=whole_area).communities.drop(columns="geometry")
    assert_same_coverage(offline_coverage, cov)


def test_place_online_then_cache_then_bundle_offline(fake_osm, tmp_path, monkeypatch):
    # online: geocode, download (default buffer: one 10-minute walk), analyse
    online_out, bundle, bundle_out = tmp_path / "online", tmp_path / "bundle", tmp_path / "from-bundle"
    _run("analyze", "--place", PLACE, "--out", str(online_out), "-q")
    assert (online_out / "coverage.csv").is_file()
    cov = _csv(online_out / "coverage.csv")
    # the place's communities only, not those in the buffer around it
    assert 0 < len(cov) < 13
    assert fake_osm.count() > 0

    # the same area again: every answer comes from the cache
    before = fake_osm.count()
    result = _run("fetch", "--place", PLACE, "--out", str(bundle), "-q")
    assert fake_osm.count() == before
    assert "saved" in result.output
    assert {p.name for p in bundle.iterdir()} == {online.MANIFEST, online.GRAPH_FILE, online.FEATURES_FILE}

    # offline: nothing listens, and the bundle alone gives the same table
    dead = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(ox.settings, "overpass_url", dead + "/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", dead)
    _run("analyze", "--bundle", str(bundle), "--out", str(bundle_out), "-q")
    assert fake_osm.count() == before
    from_bundle = _csv(bundle_out / "coverage.csv")
    assert_same_coverage(cov, from_bundle)
    pd.testing.assert_frame_equal(cov, from_bundle)


def test_fetch_reads_requested_keys(fake_osm, whole_area, bundled_osm):
    """A category on highway=bus_stop finds the stops online as offline."""
    data = online.fetch(whole_area, buffer_m=0, keys=["highway"])
    offline = read_osm(bundled_osm, keys=["highway"])
    assert data.feature_keys == offline.feature_keys == FEATURE_KEYS | {"highway"}
    stops = lambda f: set(f.loc[(f["osm_type"] == "node") & f["tags"].map(  # noqa: E731
        lambda t: t.get("highway") == "bus_stop"), "osm_id"])
    assert len(stops(data.features)) > 50
    assert stops(data.features) == stops(offline.features)
    # and every other feature as the offline reader has it
    got, exp = data.features, whole_objects(offline).features
    assert list(zip(got["osm_type"], got["osm_id"])) == list(zip(exp["osm_type"], exp["osm_id"]))
    assert got["tags"].tolist() == exp["tags"].tolist()
    assert shapely.equals_exact(got.geometry.values, exp.geometry.values, tolerance=0).all()
    # the default keys ask for no highway features
    assert stops(online.fetch(whole_area, buffer_m=0).features) == set()


def test_bundle_round_trip(offline_data, tmp_path):
    area = shapely.box(24.94, 60.17, 24.95, 60.175)
    path = online.save_bundle(offline_data, tmp_path / "b", area=area)
    back = online.load_bundle(path)
    # what the offline reader adds to the features survives the trip
    assert back.features["clipped"].dtype == bool
    assert back.features["clipped"].tolist() == offline_data.features["clipped"].tolist()
    assert back.features["clipped"].sum() > 0
    assert list(back.features.columns) == list(offline_data.features.columns)
    assert back.data_date == offline_data.data_date == "2019-04-21"
    assert back.feature_keys == offline_data.feature_keys
    assert len(offline_data.left_out) > 0
    pd.testing.assert_frame_equal(back.left_out, offline_data.left_out)
    G, H = offline_data.graph, back.graph
    assert (H.number_of_nodes(), H.number_of_edges()) == (G.number_of_nodes(), G.number_of_edges())
    lengths = lambda g: {(u, v, k): d["length"] for u, v, k, d in g.edges(keys=True, data=True)}  # noqa: E731
    assert lengths(H) == lengths(G)
    assert back.features["tags"].tolist() == offline_data.features["tags"].tolist()
    assert back.features[["osm_type", "osm_id", "name"]].equals(offline_data.features[["osm_type", "osm_id", "name"]])
    assert shapely.equals_exact(back.features.geometry.values, offline_data.features.geometry.values, 0).all()
    assert online.bundle_area(path).equals(area)
    # no leftovers from the staging folder
    assert sorted(p.name for p in path.iterdir()) == sorted([online.MANIFEST, online.GRAPH_FILE, online.FEATURES_FILE])


def test_bundle_with_requested_keys(tmp_path, bundled_osm):
    data = read_osm(bundled_osm, keys=["highway"])
    back = online.load_bundle(online.save_bundle(data, tmp_path / "hw"))
    assert back.feature_keys == FEATURE_KEYS | {"highway"}


def test_bundle_without_clipped_column(tmp_path, offline_data):
    """A features frame from elsewhere may lack ``clipped``: saved as all False."""
    plain = OSMData(offline_data.graph, offline_data.features.drop(columns="clipped"), "plain")
    back = online.load_bundle(online.save_bundle(plain, tmp_path / "plain"))
    assert back.features["clipped"].dtype == bool and not back.features["clipped"].any()
    assert len(back.features) == len(plain.features)


def test_old_bundle_still_loads(tmp_path, offline_data):
    """A bundle written before clipped, data_date and feature_keys existed."""
    path = online.save_bundle(whole_objects(offline_data), tmp_path / "old")
    raw = gpd.read_file(path / online.FEATURES_FILE, layer="features").drop(columns="clipped")
    (path / online.FEATURES_FILE).unlink()
    raw.to_file(path / online.FEATURES_FILE, layer="features", driver="GPKG", geometry_type="Unknown")
    meta = json.loads((path / online.MANIFEST).read_text(encoding="utf-8"))
    for key in ("data_date", "feature_keys", "left_out"):
        del meta[key]
    (path / online.MANIFEST).write_text(json.dumps(meta), encoding="utf-8")
    assert "clipped" not in gpd.read_file(path / online.FEATURES_FILE, layer="features").columns
    back = online.load_bundle(path)
    assert back.features["clipped"].dtype == bool and not back.features["clipped"].any()
    assert back.features["osm_id"].tolist() == whole_objects(offline_data).features["osm_id"].tolist()
    assert back.data_date is None
    assert back.feature_keys == FEATURE_KEYS
    assert len(back.left_out) == 0 and list(back.left_out.columns) == ["osm_type", "osm_id", "name", "tags", "reason"]


def test_load_bundle_errors(tmp_path, offline_data):
    with pytest.raises(InputFileError, match="bundle folder not found"):
        online.load_bundle(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="not a lifecircle bundle"):
        online.load_bundle(tmp_path / "empty")
    path = online.save_bundle(offline_data, tmp_path / "b")
    assert online.bundle_area(path) is None
    (path / online.GRAPH_FILE).write_text("<graphml>truncated", encoding="utf-8")
    with pytest.raises(InputFileError, match="corrupt bundle") as e:
        online.load_bundle(path)
    assert "\n" not in str(e.value)
    # a node that lost its y (it used to end in KeyError: 'y', after loading)
    path = online.save_bundle(offline_data, tmp_path / "b")
    text = (path / online.GRAPH_FILE).read_text(encoding="utf-8")
    y_key = re.search(r'<key id="(d\d+)" for="node" attr.name="y"', text).group(1)
    node = re.search(r'<node id="(\d+)">.*?</node>', text, re.S)
    assert f'<data key="{y_key}">' in node.group(0)
    broken = re.sub(rf'\s*<data key="{y_key}">[^<]*</data>', "", node.group(0), count=1)
    (path / online.GRAPH_FILE).write_text(text.replace(node.group(0), broken, 1), encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        online.load_bundle(path)
    assert str(e.value) == f"corrupt bundle {path}: node {node.group(1)} of graph.graphml has no x/y position"
    (path / online.GRAPH_FILE).unlink()
    with pytest.raises(InputFileError, match="graph.graphml is missing"):
        online.load_bundle(path)
    # a manifest whose left-out rows lost their fields
    path = online.save_bundle(offline_data, tmp_path / "c")
    meta = json.loads((path / online.MANIFEST).read_text(encoding="utf-8"))
    meta["left_out"] = [{"osm_id": 1}]
    (path / online.MANIFEST).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(InputFileError, match="corrupt bundle .*bad entries") as e:
        online.load_bundle(path)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------
# study areas and the osmnx-to-offline conversion (no server)
# --------------------------------------------------------------------------

def test_parse_bbox():
    assert online.study_area(bbox="24.9, 60.1, 25.0, 60.2").equals(shapely.box(24.9, 60.1, 25.0, 60.2))
    for bad, msg in [("1,2,3", "four numbers"), ("a,b,c,d", "four numbers"), ("25,60,24,61", "W < E"),
                     ("24,61,25,60", "S < N"), ("24,60,200,61", "out of range"), ("24,-95,25,60", "out of range")]:
        with pytest.raises(ConfigError, match=msg):
            online.study_area(bbox=bad)


def test_boundary_file(tmp_path):
    # two squares in ETRS-TM35FIN (EPSG:3067): united and brought to WGS84
    squares = gpd.GeoDataFrame(geometry=[shapely.box(385000, 6671000, 386000, 6672000),
                                         shapely.box(386000, 6671000, 387000, 6672000)], crs="EPSG:3067")
    path = tmp_path / "area.gpkg"
    squares.to_file(path)
    area = online.study_area(boundary=str(path))
    assert area.geom_type == "Polygon"
    w, s, e, n = area.bounds
    assert 24.9 < w < e < 25.0 and 60.1 < s < n < 60.2
    expected = squares.to_crs("EPSG:4326").union_all()
    assert area.symmetric_difference(expected).area < 1e-12

    no_crs = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):  # pyogrio's own complaint; the point here
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(no_crs)
    with pytest.raises(InputFileError, match="no CRS"):
        online.study_area(boundary=str(no_crs))
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4326").to_file(points)
    with pytest.raises(InputFileError, match="no polygons"):
        online.study_area(boundary=str(points))
    with pytest.raises(InputFileError, match="not found"):
        online.study_area(boundary=str(tmp_path / "missing.geojson"))


def test_features_from_osmnx_keeps_what_the_offline_reader_keeps():
    ring = [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)]  # clockwise, as a way may run
    rows = [
        ("node", 1, shapely.Point(0.5, 0.5), {"amenity": "cafe", "name": "C"}),
        # a closed way osmnx leaves as a line (sport is not one of its area keys)
        ("way", 2, shapely.LineString(ring), {"sport": "soccer"}),
        ("way", 3, shapely.LineString(ring), {"leisure": "track", "area": "no"}),
        ("way", 4, shapely.LineString([(0, 0), (1, 1), (2, 0)]), {"leisure": "track"}),
        ("way", 5, shapely.Polygon(ring), {"building": "yes"}),
        ("relation", 6, shapely.Polygon([(5, 5), (5, 9), (9, 9), (9, 5)], [[(6, 6), (7, 6), (7, 7), (6, 7)]]),
         {"type": "multipolygon", "landuse": "residential"}),
    ]
    cols = sorted({k for *_, t in rows for k in t})
    gdf = gpd.GeoDataFrame(
        {"element": [r[0] for r in rows], "id": [r[1] for r in rows],
         **{c: [r[3].get(c, np.nan) for r in rows] for c in cols}},
        geometry=[r[2] for r in rows], crs="EPSG:4326",
    ).set_index(["element", "id"])
    out = online.features_from_osmnx(gdf)
    assert list(out.columns) == ["osm_type", "osm_id", "name", "tags", "clipped", "geometry"]
    assert out["clipped"].dtype == bool and not out["clipped"].any()
    assert list(zip(out["osm_type"], out["osm_id"])) == [("node", 1), ("relation", 6), ("way", 2), ("way", 5)]
    assert out["name"].tolist() == ["C", "", "", ""]
    assert out["tags"].tolist() == [{"amenity": "cafe", "name": "C"}, {"landuse": "residential"},
                                    {"sport": "soccer"}, {"building": "yes"}]
    assert out.geom_type.tolist() == ["Point", "MultiPolygon", "MultiPolygon", "MultiPolygon"]
    # pyosmium's form: outer rings counter-clockwise from the smallest vertex, holes clockwise
    outer = out.geometry.iloc[2].geoms[0].exterior
    assert outer.is_ccw and outer.coords[0] == (0, 0)
    hole = out.geometry.iloc[1].geoms[0].interiors[0]
    assert not hole.is_ccw and hole.coords[0] == (6, 6)


def test_fetch_empty_area_and_overpass_remark(fake_osm, monkeypatch):
    with pytest.raises(EmptyAreaError, match="no walkable streets"):
        online.fetch(online.parse_bbox(SEA_BBOX), buffer_m=0)
    with pytest.raises(ConfigError, match="buffer"):
        online.fetch(online.parse_bbox(SEA_BBOX), buffer_m=-5)
    # Overpass sends partial data with a "remark" when a query runs out of time
    monkeypatch.setattr(ox.settings, "overpass_url", fake_osm.url("remark") + "/api")
    with pytest.raises(NetworkError, match="^Overpass gave up on the query: runtime error"):
        online.fetch(online.parse_bbox(SUB_BBOX), buffer_m=0)


# --------------------------------------------------------------------------
# failures: one line on stderr through the console entry point
# --------------------------------------------------------------------------

def _cases(srv: FakeOSMServer) -> dict[str, tuple[dict, list[str], str]]:
    """name -> (osmnx settings, CLI args, expected start of the message)."""
    ok = {"overpass_url": srv.url() + "/api", "nominatim_url": srv.url(), "overpass_rate_limit": False}
    dead = f"http://127.0.0.1:{_closed_port()}"
    return {
        "unknown place": (ok, ["analyze", "--place", "Atlantis, Nowhere"],
                          "Error: place not found: 'Atlantis, Nowhere'"),
        "no walkable streets": (ok, ["fetch", "--bbox", SEA_BBOX], "Error: no walkable streets in the study area"),
        "overpass 429": ({**ok, "overpass_url": srv.url("m429") + "/api"}, ["analyze", "--bbox", SUB_BBOX],
                         "Error: Overpass answered HTTP 429 Too Many Requests"),
        "overpass 500": ({**ok, "overpass_url": srv.url("m500") + "/api"}, ["fetch", "--bbox", SUB_BBOX],
                         "Error: Overpass answered HTTP 500 Internal Server Error"),
        "nominatim 500": ({**ok, "nominatim_url": srv.url("m500")}, ["analyze", "--place", PLACE],
                          "Error: Nominatim answered HTTP 500 Internal Server Error"),
        "overpass timeout": ({**ok, "overpass_url": srv.url("slow") + "/api", "requests_timeout": 1},
                             ["analyze", "--bbox", SUB_BBOX], "Error: Overpass (127.0.0.1:"),
        # osmnx's rate limiting left on (its default): its status check must
        # not turn "no internet" into a minute of waiting
        "offline overpass": ({"overpass_url": dead + "/api", "nominatim_url": dead, "overpass_rate_limit": True},
                             ["analyze", "--bbox", SUB_BBOX], "Error: cannot reach Overpass at 127.0.0.1:"),
        "offline nominatim": ({"overpass_url": dead + "/api", "nominatim_url": dead}, ["fetch", "--place", PLACE],
                              "Error: cannot reach Nominatim at 127.0.0.1:"),
    }


def _check_one_line(case: str, expected: str, code: int, err: str, seconds: float) -> None:
    lines = err.splitlines()
    assert code != 0
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(expected), lines[0]
    if case == "overpass timeout":
        assert "did not answer within 1 s (timeout)" in lines[0]
    if case.startswith("offline"):
        assert lines[0].endswith("(no internet?) and no cached answer for this area; "
                                 "use `lifecircle fetch` where online, then --bundle"), lines[0]
        assert seconds < 20  # no 60-second pause before failing


@pytest.mark.parametrize("case", [
    "unknown place", "no walkable streets", "overpass 429", "overpass 500", "nominatim 500",
    "overpass timeout", "offline overpass", "offline nominatim",
])
def test_cli_failure_is_one_line(case, server, fake_osm, tmp_path, monkeypatch, capsys):
    """Through the console entry point `lifecircle.cli.main`, in this process."""
    ox_cfg, args, expected = _cases(server)[case]
    for k, v in ox_cfg.items():
        monkeypatch.setattr(ox.settings, k, v)
    server.slow_seconds = 3.0
    monkeypatch.setattr(sys, "argv", ["lifecircle", *args, "--out", str(tmp_path / "out"), "-q"])
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main()
    _check_one_line(case, expected, exit_info.value.code, capsys.readouterr().err, time.perf_counter() - start)


_BOOT = """
import json, sys
cfg = json.loads(sys.argv[1])
import osmnx as ox
for k, v in cfg["ox"].items():
    setattr(ox.settings, k, v)
from lifecircle import settings
settings.cache_folder = cfg["cache"]
from lifecircle.cli import main
sys.argv = ["lifecircle", *cfg["args"]]
main()
"""


def test_cli_offline_in_a_real_process(server, tmp_path):
    """As a user meets it: nothing else (warnings, log lines) on stderr."""
    case = "offline overpass"
    ox_cfg, args, expected = _cases(server)[case]
    cfg = {"ox": ox_cfg, "cache": str(tmp_path / "cache"), "args": [*args, "--out", str(tmp_path / "out"), "-q"]}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _BOOT, json.dumps(cfg)], capture_output=True, text=True, timeout=120)
    # the interpreter start and imports take some seconds of their own
    _check_one_line(case, expected, proc.returncode, proc.stderr, time.perf_counter() - start - 10)
    assert proc.stdout == ""


def test_network_errors_are_lifecircle_errors(fake_osm, monkeypatch, server):
    # the library raises the same one-liners the CLI prints
    monkeypatch.setattr(ox.settings, "overpass_url", server.url("m429") + "/api")
    with pytest.raises(NetworkError, match=r"^Overpass answered HTTP 429 Too Many Requests"):
        online.fetch(online.parse_bbox(SUB_BBOX), buffer_m=0)
    # ... and leave the user's osmnx settings as they were
    assert ox.settings.requests_kwargs == {}
    assert ox.settings.cache_folder != lc_settings.cache_folder

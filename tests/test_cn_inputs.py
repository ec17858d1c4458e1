"""Inputs as Chinese planners have them: GBK files, GCJ-02/BD-09 polygons, Amap exports.

Real geometry comes from the bundled Helsinki extract. GCJ-02 is only applied
inside China (coords.out_of_china), so where a conversion must be visible the
real shapes are moved to Beijing first; the expected WGS-84 coordinates are
then the moved ones, and the shifted file is made with the forward transform.
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import shapely.affinity
from pyproj import Geod

from lifecircle import cli, pipeline
from lifecircle.communities import read_communities
from lifecircle.config import load_config, presets
from lifecircle.errors import ConfigError, InputFileError
from lifecircle.sources import coords, textenc
from lifecircle.sources.userpois import amap_typecodes, read_user_pois

ROOT = Path(__file__).resolve().parents[1]
PBF = ROOT / "data" / "helsinki-centre.osm.pbf"
README = ROOT / "README.md"
TYPECODES = ROOT / "lifecircle" / "sources" / "amap_typecodes.toml"
GEOD = Geod(ellps="WGS84")
# Helsinki -> central Beijing, in degrees: inside China, where GCJ-02 applies
TO_BEIJING = (116.40 - 24.94, 39.91 - 60.17)
NAMES = ["幸福里小区", "阳光花园", "锦绣家园", "和平里社区", "翠微西里", "龙潭湖小区", "金台北街",
         "劲松三区", "团结湖北里", "安贞西里", "东四十条", "新源里", "北新桥社区"]


# --- real data from the bundled extract -------------------------------------

@pytest.fixture(scope="module")
def residential() -> list[shapely.Polygon]:
    """Closed landuse=residential ways of the bundled extract, as WGS-84 polygons."""
    polys = []
    for obj in osmium.FileProcessor(str(PBF)).with_locations().with_filter(osmium.filter.KeyFilter("landuse")):
        if obj.is_way() and obj.tags.get("landuse") == "residential" and obj.is_closed():
            try:
                poly = shapely.Polygon([(n.lon, n.lat) for n in obj.nodes])
            except osmium.InvalidLocationError:
                continue
            if poly.is_valid:
                polys.append(poly)
    assert len(polys) >= 5
    return polys[: len(NAMES)]


@pytest.fixture(scope="module")
def facilities() -> list[dict]:
    """Named pharmacies, supermarkets, banks, ATMs and restaurants (nodes) of the extract."""
    wanted = {"pharmacy": 3, "supermarket": 3, "bank": 3, "atm": 2, "restaurant": 2}
    rows = []
    for node in osmium.FileProcessor(str(PBF), osmium.osm.NODE).with_filter(osmium.filter.KeyFilter("amenity", "shop")):
        tags = dict(node.tags)
        kind = "supermarket" if tags.get("shop") == "supermarket" else tags.get("amenity")
        if kind in wanted and wanted[kind] and (kind == "atm" or tags.get("name")):
            wanted[kind] -= 1
            rows.append({"kind": kind, "lon": node.location.lon, "lat": node.location.lat})
    assert not any(wanted.values()), wanted
    return rows


def metres(lon_a, lat_a, lon_b, lat_b) -> np.ndarray:
    return np.asarray(GEOD.inv(np.asarray(lon_a), np.asarray(lat_a), np.asarray(lon_b), np.asarray(lat_b))[2])


def write_shapefile(path: Path, names: list[str], polys, encoding: str, **columns) -> Path:
    gdf = gpd.GeoDataFrame({"name": names, **columns}, geometry=list(polys), crs="EPSG:4326")
    gdf.to_file(path, encoding=encoding)
    path.with_suffix(".cpg").unlink()  # what ArcGIS-era files look like: nothing declares the encoding
    return path


# --- encodings ----------------------------------------------------------------

def test_gbk_shapefile_without_cpg_gives_chinese_names_and_warning(tmp_path, residential):
    path = write_shapefile(tmp_path / "小区.shp", NAMES[: len(residential)], residential, "GBK")
    assert gpd.read_file(path)["name"].tolist() != NAMES[: len(residential)]  # GDAL alone: mojibake
    comms = read_communities(path, "EPSG:4326")
    assert comms["name"].tolist() == NAMES[: len(residential)]
    (warning,) = comms.attrs["warnings"]
    assert "GB18030" in warning and path.name in warning


def test_utf8_shapefile_without_cpg_is_read_as_utf8_silently(tmp_path, residential):
    path = write_shapefile(tmp_path / "c.shp", NAMES[: len(residential)], residential, "UTF-8")
    assert gpd.read_file(path)["name"].tolist() != NAMES[: len(residential)]  # GDAL takes it for ISO-8859-1
    comms = read_communities(path, "EPSG:4326")
    assert comms["name"].tolist() == NAMES[: len(residential)]
    assert comms.attrs["warnings"] == []


def test_given_encoding_must_decode(tmp_path, residential):
    path = write_shapefile(tmp_path / "c.shp", NAMES[:2], residential[:2], "GBK")
    assert read_communities(path, "EPSG:4326", encoding="gbk")["name"].tolist() == NAMES[:2]
    with pytest.raises(InputFileError) as info:
        read_communities(path, "EPSG:4326", encoding="utf-8")
    assert "\n" not in str(info.value) and "c.dbf" in str(info.value) and "--encoding" in str(info.value)
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        read_communities(path, "EPSG:4326", encoding="klingon")


def test_gbk_poi_shapefile_and_utf8_geojson(tmp_path, facilities):
    rows = [r for r in facilities if r["kind"] == "bank"]
    names = [f"中国银行{i}" for i in range(len(rows))]
    points = gpd.points_from_xy([r["lon"] for r in rows], [r["lat"] for r in rows])
    shp = write_shapefile(tmp_path / "banks.shp", names, points, "GBK", category=["bank"] * len(rows))
    got = read_user_pois(shp, load_config())
    assert got["name"].tolist() == names and any("GB18030" in w for w in got.attrs["warnings"])
    geojson = tmp_path / "banks.geojson"
    gpd.GeoDataFrame({"name": names, "category": "bank"}, geometry=points, crs="EPSG:4326").to_file(geojson)
    # UTF-8 by definition: a stray --encoding does not garble it
    assert read_user_pois(geojson, load_config(), encoding="gbk")["name"].tolist() == names


def test_dbf_text_bytes_match_the_written_values(tmp_path, residential):
    path = write_shapefile(tmp_path / "c.shp", NAMES[:3], residential[:3], "GBK", note=["甲", "乙", "丙"])
    texts = textenc.dbf_text_bytes(path.with_suffix(".dbf").read_bytes())
    decoded = [t.decode("gbk").split() for t in texts]
    assert decoded == [NAMES[:3], ["甲", "乙", "丙"]]


def test_gbk_csv_pois(tmp_path, facilities):
    rows = [r for r in facilities if r["kind"] == "pharmacy"]
    path = tmp_path / "药店.csv"
    with open(path, "w", newline="", encoding="gbk") as f:
        w = csv.writer(f)
        w.writerow(["名称", "lon", "lat", "category"])
        w.writerows([[f"大药房{i}", r["lon"], r["lat"], "pharmacy"] for i, r in enumerate(rows)])
    guessed = read_user_pois(path, load_config())
    assert guessed["name"].tolist() == [f"大药房{i}" for i in range(len(rows))]
    assert any("GB18030" in w for w in guessed.attrs["warnings"])
    given = read_user_pois(path, load_config(), encoding="gbk")
    assert given["name"].tolist() == guessed["name"].tolist() and given.attrs["warnings"] == []
    with pytest.raises(InputFileError) as info:
        read_user_pois(path, load_config(), encoding="utf-8")
    assert "\n" not in str(info.value) and "not valid utf-8" in str(info.value)


# --- coordinates ----------------------------------------------------------------

@pytest.mark.parametrize("system, forward", [("gcj02", coords.wgs84_to_gcj02), ("bd09", coords.wgs84_to_bd09)])
def test_shifted_aoi_polygons_land_on_wgs84(tmp_path, residential, system, forward):
    truth = [shapely.affinity.translate(p, *TO_BEIJING) for p in residential]
    shifted = [shapely.transform(p, lambda xy: np.column_stack(forward(xy[:, 0], xy[:, 1]))) for p in truth]
    path = tmp_path / f"aoi-{system}.geojson"
    gpd.GeoDataFrame({"name": NAMES[: len(truth)]}, geometry=shifted, crs="EPSG:4326").to_file(path)

    comms = read_communities(path, "EPSG:4326", coordinate_system=system)
    got = shapely.get_coordinates(comms.geometry.values)
    want = shapely.get_coordinates(np.array(truth, dtype=object))
    assert got.shape == want.shape
    assert metres(got[:, 0], got[:, 1], want[:, 0], want[:, 1]).max() < 1.0
    # the shift is real: read as WGS-84 the same file is hundreds of metres off
    raw = shapely.get_coordinates(read_communities(path, "EPSG:4326").geometry.values)
    assert metres(raw[:, 0], raw[:, 1], want[:, 0], want[:, 1]).min() > 100


def test_pipeline_reads_communities_with_their_coordinate_system(tmp_path, residential):
    truth = [shapely.affinity.translate(p, *TO_BEIJING) for p in residential[:3]]
    shifted = [shapely.transform(p, lambda xy: np.column_stack(coords.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
               for p in truth]
    path = tmp_path / "aoi.shp"
    write_shapefile(path, NAMES[:3], shifted, "GBK", typecode=["120302"] * 3)
    warnings: list[str] = []
    comms = pipeline._community_input(path, "EPSG:4326", "gcj02", None, warnings)
    got = shapely.get_coordinates(comms.geometry.values)
    want = shapely.get_coordinates(np.array(truth, dtype=object))
    assert metres(got[:, 0], got[:, 1], want[:, 0], want[:, 1]).max() < 1.0
    assert comms["name"].tolist() == NAMES[:3] and len(warnings) == 1 and "GB18030" in warnings[0]
    # the same Amap AOI file without a coordinate system: read, with a warning saying so
    warnings = []
    pipeline._community_input(path, "EPSG:4326", None, "gbk", warnings)
    assert len(warnings) == 1 and "Amap" in warnings[0] and "--communities-crs gcj02" in warnings[0]


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_shifted_systems_do_not_apply_abroad(tmp_path, residential, system):
    """The bundled (Helsinki) residential areas said to be GCJ-02 or BD-09: kept where they are, with a
    warning; a BD-09 reading abroad used to move them about 700 m and leave most communities out."""
    path = tmp_path / "helsinki.geojson"
    gpd.GeoDataFrame({"name": NAMES[: len(residential)]}, geometry=residential, crs="EPSG:4326").to_file(path)
    comms = read_communities(path, "EPSG:4326", coordinate_system=system)
    plain = read_communities(path, "EPSG:4326")
    assert shapely.equals_exact(comms.geometry.values, plain.geometry.values, tolerance=0).all()
    n = len(shapely.get_coordinates(plain.geometry.values))
    assert comms.attrs["warnings"] == [f"communities file {path.name}: {n} of {n} points lie outside China, where "
                                       f"--communities-crs {system} does not apply: those points are read as given "
                                       "(WGS-84)"]


def test_projected_file_with_shifted_crs_is_refused(tmp_path, residential):
    path = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=residential[:1], crs="EPSG:4326").to_crs("EPSG:32635").to_file(path)
    with pytest.raises(InputFileError, match="needs longitude/latitude"):
        read_communities(path, "EPSG:4326", coordinate_system="gcj02")


def test_amap_export_without_crs_warns_only_in_china(tmp_path, facilities):
    config = load_config()
    rows = [r for r in facilities if r["kind"] == "pharmacy"]
    for where, shift, expect in (("china", TO_BEIJING, True), ("helsinki", (0.0, 0.0), False)):
        path = tmp_path / f"{where}.csv"
        pd.DataFrame({"name": [f"药房{i}" for i in range(len(rows))], "typecode": "090601",
                      "location": [f"{r['lon'] + shift[0]:.6f},{r['lat'] + shift[1]:.6f}" for r in rows]}
                     ).to_csv(path, index=False)
        unstated = read_user_pois(path, config).attrs["warnings"]
        assert any("--pois-crs gcj02" in w for w in unstated) == expect, unstated
        stated = read_user_pois(path, config, crs="gcj02")
        # abroad, GCJ-02 does not apply: the points stay, and the planner is told
        abroad = [] if expect else [f"user POI file {path.name}: {len(rows)} of {len(rows)} points lie outside "
                                    "China, where --pois-crs gcj02 does not apply: those points are read as "
                                    "given (WGS-84)"]
        assert stated.attrs["warnings"] == abroad
        if not expect:
            given = read_user_pois(path, config, crs="wgs84")
            assert shapely.equals_exact(stated.geometry.values, given.geometry.values, tolerance=0).all()
        assert read_user_pois(path, config, crs="wgs84").attrs["warnings"] == []


def test_baidu_export_without_crs_warns(tmp_path):
    path = tmp_path / "baidu.csv"
    pd.DataFrame({"uid": ["a1b2"], "name": ["银行"], "lng": [116.41], "lat": [39.92], "category": ["bank"]}
                 ).to_csv(path, index=False)
    (warning,) = read_user_pois(path, load_config()).attrs["warnings"]
    assert "Baidu" in warning and "--pois-crs bd09" in warning
    assert read_user_pois(path, load_config(), crs="bd09").attrs["warnings"] == []


def test_gcj02_pois_in_china_land_within_a_metre(tmp_path, facilities):
    truth = np.array([(r["lon"] + TO_BEIJING[0], r["lat"] + TO_BEIJING[1]) for r in facilities])
    g_lon, g_lat = coords.wgs84_to_gcj02(truth[:, 0], truth[:, 1])
    path = tmp_path / "amap.csv"
    pd.DataFrame({"name": [f"p{i}" for i in range(len(truth))], "category": "bank",
                  "location": [f"{x:.8f},{y:.8f}" for x, y in zip(g_lon, g_lat)]}).to_csv(path, index=False)
    got = read_user_pois(path, load_config(), crs="gcj02")
    assert metres(got.geometry.x, got.geometry.y, truth[:, 0], truth[:, 1]).max() < 1.0
    assert metres(g_lon, g_lat, truth[:, 0], truth[:, 1]).min() > 100


# --- the built-in Amap typecode table ------------------------------------------

def test_typecode_table_names_only_builtin_categories_and_explains_gaps():
    data = tomllib.loads(TYPECODES.read_text(encoding="utf-8"))
    keys = set(presets()["categories"])
    assert set(data["typecodes"].values()) <= keys
    assert all(len(code) in (2, 4, 6) and code.isdigit() for code in [*data["typecodes"], *data["excluded"]])
    # categories Amap has no code for are left out, and say so
    unmapped = keys - set(data["typecodes"].values())
    assert unmapped == {"canteen", "elderly_care"}
    assert unmapped <= set(data["not_mapped"])
    assert "lbs.amap.com" in TYPECODES.read_text(encoding="utf-8")


@pytest.mark.parametrize("code, key", [
    ("090601", "pharmacy"), ("90601", "pharmacy"), ("060400", "market"), ("060402", "market"),
    ("060411", None), ("060703", "market"), ("060704", None), ("160105", "bank"), ("160101", None),
    ("160300", None), ("090300", "clinic"), ("090100", None), ("090102", "health_centre"), ("090201", None),
    ("141203", "school"),
    ("141202", None), ("050100", None), ("050000|060400", "market"), ("060411|060400", None),
    ("110101", "park"), ("110105", None), ("080108", "sports"), ("080111", None),
])
def test_typecode_lookup(tmp_path, code, key):
    path = tmp_path / "t.csv"
    pd.DataFrame({"name": ["x"], "lon": [24.94], "lat": [60.17], "typecode": [code]}).to_csv(path, index=False)
    got = read_user_pois(path, load_config(level="15min"))
    assert (got["category"].tolist() or [None]) == [key]


def test_user_typecode_table_takes_precedence(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[pois.typecode]\n"0901" = "clinic"\n', encoding="utf-8")
    path = tmp_path / "t.csv"
    pd.DataFrame({"name": ["a", "b"], "lon": [24.94, 24.95], "lat": [60.17, 60.17],
                  "typecode": ["090100", "090601"]}).to_csv(path, index=False)
    got = read_user_pois(path, load_config(toml))
    assert got["category"].tolist() == ["clinic", "pharmacy"]  # user's prefix, then the built-in table
    assert set(amap_typecodes().values()) - {None} <= set(presets()["categories"])


# --- the README's Amap line, as written ------------------------------------------

AMAP_TYPES = {  # kind -> (typecode, type) as Amap exports them
    "pharmacy": ("090601", "医疗保健服务;医药保健销售店;药房"),
    "supermarket": ("060400", "购物服务;超级市场;超市"),
    "bank": ("160105", "金融保险服务;银行;中国工商银行"),
    "atm": ("160300", "金融保险服务;自动提款机;自动提款机"),
    "restaurant": ("050100", "餐饮服务;中餐厅;中餐厅"),
}
EXPECTED = {"pharmacy": "pharmacy", "supermarket": "market", "bank": "bank", "atm": None, "restaurant": None}


def _readme_amap_command() -> list[str]:
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if "--pois amap.csv" in line]
    assert len(lines) == 1, lines
    args = shlex.split(lines[0].split("#")[0])
    assert args[:2] == ["lifecircle", "analyze"]
    return args[1:]


def test_readme_amap_example_runs_as_written(tmp_path, facilities):
    args = _readme_amap_command()
    osm_file = args[args.index("--osm") + 1]
    (tmp_path / osm_file).write_bytes(PBF.read_bytes())
    rows = []
    for i, r in enumerate(facilities):
        code, kind_type = AMAP_TYPES[r["kind"]]
        g_lon, g_lat = coords.wgs84_to_gcj02(r["lon"], r["lat"])  # outside China: unchanged
        if i % 4 == 1:
            code = code.lstrip("0")  # a code whose leading zero Excel dropped
        if i % 4 == 2:
            code = "050000|" + code if r["kind"] != "restaurant" else code  # several codes, primary unmapped
        rows.append({"id": f"B0{i:08d}", "name": f"高德{r['kind']}{i}", "type": kind_type, "typecode": code,
                     "address": "", "location": f"{g_lon:.7f},{g_lat:.7f}", "pname": "", "cityname": "",
                     "adname": ""})
    pd.DataFrame(rows).to_csv(tmp_path / "amap.csv", index=False)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "lifecircle.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    pois = gpd.read_file(tmp_path / "out" / "lifecircle.gpkg", layer="pois").to_crs("EPSG:4326")
    user = pois[pois["source"] == "user"].set_index("name")
    expected = {row["name"]: EXPECTED[r["kind"]] for row, r in zip(rows, facilities)}
    assert dict(zip(user.index, user["category"])) == {k: v for k, v in expected.items() if v}
    truth = {row["name"]: (r["lon"], r["lat"]) for row, r in zip(rows, facilities)}
    want = np.array([truth[name] for name in user.index])
    assert metres(user.geometry.x, user.geometry.y, want[:, 0], want[:, 1]).max() < 1.0


# --- bad input on the command line: one line, no output ----------------------------

@pytest.mark.parametrize("extra, needle", [
    (["--communities-crs", "mars"], "--communities-crs"),
    (["--encoding", "utf-8"], "not valid utf-8"),
    (["--encoding", "klingon"], "unknown encoding"),
])
def test_bad_input_is_one_line(tmp_path, residential, capsys, extra, needle):
    shp = write_shapefile(tmp_path / "c.shp", NAMES[:2], residential[:2], "GBK")
    out = tmp_path / "out"
    status = cli.run(["analyze", "--osm", str(PBF), "--communities", str(shp), "--out", str(out), "-q", *extra])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("extra, needle", [
    (["--communities-crs", "gcj02"], "--communities-crs applies to a --communities file"),
    (["--encoding", "gbk"], "--encoding applies to --communities and --pois files"),
])
def test_options_without_their_file_are_refused(tmp_path, capsys, extra, needle):
    out = tmp_path / "out"
    status = cli.run(["analyze", "--osm", str(PBF), "--out", str(out), "-q", *extra])
    err = capsys.readouterr().err
    assert status == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_batch_reads_gbk_areas_and_communities(tmp_path, residential):
    """`lifecircle batch`: district names and community names from GBK shapefiles without .cpg."""
    from lifecircle.batch import batch, slugify

    box = shapely.box(*shapely.union_all(residential).bounds).buffer(0.002)
    # a long name (103 characters: 309 bytes of UTF-8) must not make a file name past 255 bytes
    district = "西工区" + "十五分钟社区生活圈规划研究范围老城与新区交界地段" * 4 + "试点片区"
    areas = write_shapefile(tmp_path / "区县.shp", [district], [box], "GBK")
    comms = write_shapefile(tmp_path / "小区.shp", NAMES[: len(residential)], residential, "GBK")
    said: list[str] = []
    from distributed import Client, LocalCluster

    # a cluster of threads in this process: what is tested is reading the files, not the workers
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        result = batch(PBF, areas, tmp_path / "out", communities=comms, scheduler=client, progress=said.append)
    assert result.failed == [], result.areas["error"].tolist()
    assert result.areas["area"].tolist() == [district]
    (folder,) = (tmp_path / "out" / "areas").iterdir()
    assert folder.name == slugify(district) and 50 < len(folder.name) and len(folder.name.encode("utf-8")) <= 160
    assert (folder / "coverage.csv").is_file()
    assert any("区县.shp" in line and "GB18030" in line for line in said), said
    assert set(result.coverage["name"]) <= set(NAMES) and len(result.coverage) > 0

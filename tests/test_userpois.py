"""Tests for lifecircle.sources.userpois (reading and merging user POIs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pytest
import shapely
from pyproj import Geod

from lifecircle.config import load_config
from lifecircle.errors import ConfigError, InputFileError
from lifecircle.facilities.merge import merge_pois, names_similar
from lifecircle.sources import coords
from lifecircle.sources.userpois import COLUMNS, read_user_pois

PBF = Path(__file__).resolve().parents[1] / "data" / "helsinki-centre.osm.pbf"
GEOD = Geod(ellps="WGS84")
UTM35 = "EPSG:32635"  # Helsinki's UTM zone: a metric CRS like the analysis one

# Luoyang (Henan): a synthetic set of WGS84 points around the old town.
LUOYANG = [
    ("老城卫生服务站", 112.4540, 34.6810, "090300", "医疗;诊所"),
    ("丽景门大药房", 112.4731, 34.6832, "090601", "医疗;药店"),
    ("西工区人民医院", 112.4402, 34.6671, "090100", "医疗;综合医院"),
    ("丹尼斯超市", 112.4488, 34.6205, "050000|060400", "购物;超市"),
    ("中国银行洛阳分行", 112.4612, 34.6236, "160100", "金融;银行"),
    ("真不同饭店", 112.4700, 34.6820, "050100", "美食;中餐厅"),
]

MAPPING_TOML = """
[pois.typecode]
"09" = "clinic"
"0906" = "pharmacy"
"0901" = "hospital"
"0604" = "market"
"1601" = "bank"

[pois.tag]
"医疗;诊所" = "clinic"
"药店" = "pharmacy"
"超市" = "market"
"银行" = "bank"
"""


# --- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def helsinki() -> list[dict]:
    """Named pharmacies and supermarkets (nodes) from the bundled extract."""
    rows = []
    fp = osmium.FileProcessor(str(PBF), osmium.osm.NODE).with_filter(osmium.filter.KeyFilter("amenity", "shop"))
    for node in fp:
        tags = dict(node.tags)
        kind = "pharmacy" if tags.get("amenity") == "pharmacy" else (
            "market" if tags.get("shop") == "supermarket" else None)
        if kind and tags.get("name"):
            rows.append({"id": node.id, "name": tags["name"], "category": kind,
                         "lon": node.location.lon, "lat": node.location.lat})
    assert sum(r["category"] == "pharmacy" for r in rows) >= 3
    assert sum(r["category"] == "market" for r in rows) >= 3
    return rows


@pytest.fixture(scope="module")
def config():
    return load_config()  # 10min: includes pharmacy, market, clinic, bank


@pytest.fixture
def mapping_config(tmp_path):
    path = tmp_path / "lifecircle.toml"
    path.write_text(MAPPING_TOML, encoding="utf-8")
    return load_config(path)


@pytest.fixture(scope="module")
def osm_pois(helsinki) -> gpd.GeoDataFrame:
    """The OSM POIs as the core produces them (contract columns, metric CRS)."""
    gdf = gpd.GeoDataFrame(
        {
            "poi_id": [f"node/{r['id']}" for r in helsinki],
            "osm_type": "node",
            "osm_id": [r["id"] for r in helsinki],
            "name": [r["name"] for r in helsinki],
            "category": [r["category"] for r in helsinki],
            "source": "osm",
            "snap_m": 5.0,
        },
        geometry=gpd.points_from_xy([r["lon"] for r in helsinki], [r["lat"] for r in helsinki]),
        crs="EPSG:4326",
    )
    return gdf.to_crs(UTM35)


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8", delimiter=",") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def metres(gdf: gpd.GeoDataFrame, lon, lat) -> np.ndarray:
    _, _, d = GEOD.inv(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy(), np.asarray(lon), np.asarray(lat))
    return np.asarray(d)


def moved(lon: float, lat: float, metres_east: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, 90.0, metres_east)
    return lon2, lat2


def one_line_error(call, *needles: str) -> str:
    with pytest.raises(InputFileError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    for needle in needles:
        assert needle in message, message
    return message


# --- reading: columns and categories ---------------------------------------

def test_csv_with_category_keys(tmp_path, helsinki, config):
    path = write_csv(tmp_path / "pois.csv", ["name", "Longitude", "LATITUDE", "category"],
                     [[r["name"], r["lon"], r["lat"], r["category"]] for r in helsinki])
    gdf = read_user_pois(path, config)
    assert tuple(gdf.columns) == COLUMNS
    assert gdf.crs.equals("EPSG:4326")
    assert len(gdf) == len(helsinki)
    assert gdf["poi_id"].tolist() == [f"user/{i}" for i in range(len(helsinki))]
    assert gdf["osm_id"].tolist() == list(range(len(helsinki)))
    assert gdf["osm_id"].dtype == np.int64
    assert set(gdf["osm_type"]) == {"user"} and set(gdf["source"]) == {"user"}
    assert gdf["name"].tolist() == [r["name"] for r in helsinki]
    assert gdf["category"].tolist() == [r["category"] for r in helsinki]
    assert metres(gdf, [r["lon"] for r in helsinki], [r["lat"] for r in helsinki]).max() < 1e-6
    assert gdf.attrs["warnings"] == []


@pytest.mark.parametrize("lon_col, lat_col", [
    ("lon", "lat"), ("LNG", "Lat"), ("longitude", "latitude"), ("x", "y"), ("经度", "纬度"), (" Lon ", " Lat "),
])
def test_coordinate_column_detection(tmp_path, helsinki, config, lon_col, lat_col):
    r = helsinki[0]
    path = write_csv(tmp_path / "p.csv", ["名称", lon_col, lat_col, "Category"],
                     [[r["name"], r["lon"], r["lat"], r["category"]]])
    gdf = read_user_pois(path, config)
    assert gdf["name"].tolist() == [r["name"]]
    assert metres(gdf, [r["lon"]], [r["lat"]])[0] < 1e-6


def test_amap_location_column(tmp_path, helsinki, config):
    rows = [[r["name"], f"{r['lon']},{r['lat']}", r["category"]] for r in helsinki[:4]]
    path = write_csv(tmp_path / "amap.csv", ["name", "location", "category"], rows)
    gdf = read_user_pois(path, config)
    assert metres(gdf, [r["lon"] for r in helsinki[:4]], [r["lat"] for r in helsinki[:4]]).max() < 1e-6


def test_no_name_column_gives_empty_names(tmp_path, helsinki, config):
    r = helsinki[0]
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "category"], [[r["lon"], r["lat"], r["category"]]])
    assert read_user_pois(path, config)["name"].tolist() == [""]


@pytest.mark.parametrize("value, key", [
    ("pharmacy", "pharmacy"), ("PHARMACY", "pharmacy"), ("药店", "pharmacy"), ("Pharmacy", "pharmacy"),
    ("菜市场/生鲜超市", "market"), ("fresh market or supermarket", "market"), (" bank ", "bank"),
])
def test_category_labels(tmp_path, helsinki, config, value, key):
    r = helsinki[0]
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "category"], [[r["lon"], r["lat"], value]])
    assert read_user_pois(path, config)["category"].tolist() == [key]


def test_categories_outside_run_dropped_with_warning(tmp_path, helsinki, config):
    r = helsinki[0]
    rows = [[r["lon"], r["lat"], c] for c in ("pharmacy", "hospital", "culture", "", "market", "hospital")]
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "category"], rows)
    gdf = read_user_pois(path, config)
    assert gdf["category"].tolist() == ["pharmacy", "market"]
    # Row positions survive the drop, so ids still point at the file's rows.
    assert gdf["poi_id"].tolist() == ["user/0", "user/4"]
    (warning,) = gdf.attrs["warnings"]
    assert "\n" not in warning and "p.csv" in warning
    assert "skipped 4 of 6" in warning and "3 in categories not analysed" in warning
    assert "culture, hospital" in warning and "1 without a category" in warning


def test_explicit_categories_respected(tmp_path, helsinki):
    cfg = load_config(categories=["pharmacy"])
    rows = [[r["lon"], r["lat"], r["category"]] for r in helsinki]
    gdf = read_user_pois(write_csv(tmp_path / "p.csv", ["lon", "lat", "category"], rows), cfg)
    assert set(gdf["category"]) == {"pharmacy"}
    assert len(gdf) == sum(r["category"] == "pharmacy" for r in helsinki)


def test_gbk_semicolon_csv(tmp_path, helsinki, config):
    r = helsinki[1]
    path = write_csv(tmp_path / "gbk.csv", ["名称", "经度", "纬度", "类别"],
                     [["测试药店", r["lon"], r["lat"], "药店"]], encoding="gbk", delimiter=";")
    gdf = read_user_pois(path, config)
    assert gdf["name"].tolist() == ["测试药店"] and gdf["category"].tolist() == ["pharmacy"]


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path, helsinki, config):
    r = helsinki[0]
    path = tmp_path / "p.csv"
    path.write_text(f"lon,lat,category\n{r['lon']},{r['lat']},pharmacy\n\n{r['lon']},abc,pharmacy\n\n")
    one_line_error(lambda: read_user_pois(path, config), "line 4", "'abc'", "lat")


# --- Chinese coordinates ----------------------------------------------------

def _luoyang_rows(forward):
    lon = np.array([p[1] for p in LUOYANG])
    lat = np.array([p[2] for p in LUOYANG])
    return lon, lat, forward(lon, lat)


def test_amap_gcj02_typecode_mapping(tmp_path, mapping_config):
    lon, lat, (g_lon, g_lat) = _luoyang_rows(coords.wgs84_to_gcj02)
    rows = [[p[0], f"{x:.6f},{y:.6f}", p[3]] for p, x, y in zip(LUOYANG, g_lon, g_lat)]
    path = write_csv(tmp_path / "amap.csv", ["name", "location", "typecode"], rows)
    gdf = read_user_pois(path, mapping_config, crs="gcj02")
    # Longest prefix wins ("0906" over "09"); "0901" maps to hospital, which
    # the 10-minute run does not analyse; the restaurant has no mapping.
    assert gdf["category"].tolist() == ["clinic", "pharmacy", "market", "bank"]
    assert gdf["osm_id"].tolist() == [0, 1, 3, 4]
    keep = [0, 1, 3, 4]
    # 6 decimals in the file are ~0.1 m; the inverse itself is sub-millimetre.
    assert metres(gdf, lon[keep], lat[keep]).max() < 1.0
    (warning,) = gdf.attrs["warnings"]
    assert "skipped 2 of 6" in warning and "hospital" in warning


def test_gcj02_shift_is_real(tmp_path, mapping_config):
    # Reading GCJ-02 data as WGS84 puts the points hundreds of metres off.
    lon, lat, (g_lon, g_lat) = _luoyang_rows(coords.wgs84_to_gcj02)
    rows = [[p[0], x, y, p[3]] for p, x, y in zip(LUOYANG, g_lon, g_lat)]
    path = write_csv(tmp_path / "amap.csv", ["name", "lng", "lat", "typecode"], rows)
    wrong = read_user_pois(path, mapping_config, crs="wgs84")
    assert metres(wrong, lon[[0, 1, 3, 4]], lat[[0, 1, 3, 4]]).min() > 100


def test_baidu_bd09_tag_mapping(tmp_path, mapping_config):
    lon, lat, (b_lon, b_lat) = _luoyang_rows(coords.wgs84_to_bd09)
    rows = [[p[0], x, y, p[4]] for p, x, y in zip(LUOYANG, b_lon, b_lat)]
    path = write_csv(tmp_path / "baidu.csv", ["name", "lng", "lat", "tag"], rows)
    gdf = read_user_pois(path, mapping_config, crs="bd09")
    # Exact "医疗;诊所", substrings "药店", "超市", "银行"; hospital and
    # restaurant tags match nothing.
    assert gdf["category"].tolist() == ["clinic", "pharmacy", "market", "bank"]
    assert metres(gdf, lon[[0, 1, 3, 4]], lat[[0, 1, 3, 4]]).max() < 1.0


def test_category_column_beats_mapping(tmp_path, mapping_config):
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "typecode", "category"],
                     [[112.454, 34.681, "090601", "bank"]])
    assert read_user_pois(path, mapping_config)["category"].tolist() == ["bank"]


def test_helsinki_in_gcj02_is_unchanged(tmp_path, helsinki, config):
    # Outside China GCJ-02 is the identity, so a "gcj02" file there is WGS84.
    rows = [[r["name"], r["lon"], r["lat"], r["category"]] for r in helsinki]
    gdf = read_user_pois(write_csv(tmp_path / "p.csv", ["name", "lon", "lat", "category"], rows),
                         config, crs="gcj02")
    assert metres(gdf, [r["lon"] for r in helsinki], [r["lat"] for r in helsinki]).max() < 1e-6


# --- GeoJSON and GeoPackage -------------------------------------------------

def test_geojson_points_and_polygons(tmp_path, helsinki, config):
    src = gpd.GeoDataFrame(
        {"name": [r["name"] for r in helsinki], "category": [r["category"] for r in helsinki]},
        geometry=gpd.points_from_xy([r["lon"] for r in helsinki], [r["lat"] for r in helsinki]),
        crs="EPSG:4326",
    )
    # Every other facility as a 20 m building footprint around it.
    polys = src.to_crs(UTM35).buffer(20).to_crs("EPSG:4326")
    src.loc[src.index % 2 == 1, "geometry"] = polys[src.index % 2 == 1]
    path = tmp_path / "pois.geojson"
    src.to_file(path, driver="GeoJSON")
    gdf = read_user_pois(path, config)
    assert tuple(gdf.columns) == COLUMNS and len(gdf) == len(helsinki)
    assert set(gdf.geom_type) == {"Point"}
    assert shapely.within(gdf.geometry.values[1::2], polys.values[1::2]).all()
    assert metres(gdf, [r["lon"] for r in helsinki], [r["lat"] for r in helsinki]).max() < 21


def test_geopackage_in_metric_crs_and_numeric_typecodes(tmp_path, mapping_config):
    lon = np.array([p[1] for p in LUOYANG])
    lat = np.array([p[2] for p in LUOYANG])
    src = gpd.GeoDataFrame(
        # Integer typecodes lose their leading zero ("090601" -> 90601).
        {"名称": [p[0] for p in LUOYANG], "typecode": [int(p[3].split("|")[0]) for p in LUOYANG]},
        geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326",
    ).to_crs("EPSG:32649")
    path = tmp_path / "pois.gpkg"
    src.to_file(path, driver="GPKG")
    gdf = read_user_pois(path, mapping_config)
    assert gdf["category"].tolist() == ["clinic", "pharmacy", "bank"]
    assert gdf["name"].tolist() == ["老城卫生服务站", "丽景门大药房", "中国银行洛阳分行"]
    assert metres(gdf, lon[[0, 1, 4]], lat[[0, 1, 4]]).max() < 1e-3


# --- bad input -------------------------------------------------------------

def test_missing_file(tmp_path, config):
    one_line_error(lambda: read_user_pois(tmp_path / "nope.csv", config), "nope.csv", "not found")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, config, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    one_line_error(lambda: read_user_pois(path, config), "empty.csv", "is empty")


def test_header_only(tmp_path, config):
    path = write_csv(tmp_path / "h.csv", ["lon", "lat", "category"], [])
    one_line_error(lambda: read_user_pois(path, config), "h.csv", "no rows")


def test_spreadsheet_named_csv(tmp_path, config):
    path = tmp_path / "book.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(200))
    one_line_error(lambda: read_user_pois(path, config), "book.csv", "not CSV")


def test_binary_csv(tmp_path, config):
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)) * 4)
    one_line_error(lambda: read_user_pois(path, config), "bin.csv", "binary")


def test_ragged_csv(tmp_path, config):
    path = tmp_path / "ragged.csv"
    path.write_text('lon,lat,category\n24.9,60.1,pharmacy\n24.9,60.1,pharmacy,x,y\n"unterminated\n')
    one_line_error(lambda: read_user_pois(path, config), "ragged.csv", "not a valid CSV")


@pytest.mark.parametrize("name, content", [
    ("broken.geojson", b'{"type": "FeatureCollection", "features": [ {"type": '),
    ("broken.gpkg", b"SQLite format 3\x00" + bytes(range(256)) * 8),
    ("text.gpkg", b"this is not a geopackage\n"),
], ids=["geojson", "gpkg", "text-gpkg"])
def test_corrupt_vector_file(tmp_path, config, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    one_line_error(lambda: read_user_pois(path, config), name, "cannot be read")


def test_empty_geojson(tmp_path, config):
    path = tmp_path / "none.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    one_line_error(lambda: read_user_pois(path, config), "none.geojson", "no features")


def test_geojson_feature_without_geometry(tmp_path, config):
    path = tmp_path / "nogeom.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": "bank"},
         "geometry": {"type": "Point", "coordinates": [24.9, 60.1]}},
        {"type": "Feature", "properties": {"category": "bank"}, "geometry": None},
    ]}))
    one_line_error(lambda: read_user_pois(path, config), "nogeom.geojson", "feature 2", "no geometry")


def test_unsupported_suffix(tmp_path, config):
    path = tmp_path / "pois.xlsx"
    path.write_bytes(b"PK")
    one_line_error(lambda: read_user_pois(path, config), "pois.xlsx", "unsupported", ".xlsx")


def test_no_coordinate_columns(tmp_path, config):
    path = write_csv(tmp_path / "nc.csv", ["名称", "地址", "category"], [["a", "b", "bank"]])
    msg = one_line_error(lambda: read_user_pois(path, config), "nc.csv", "no coordinate columns")
    assert "found: 名称, 地址, category" in msg


def test_only_one_coordinate_column(tmp_path, config):
    path = write_csv(tmp_path / "nc.csv", ["lon", "category"], [[24.9, "bank"]])
    one_line_error(lambda: read_user_pois(path, config), "no coordinate columns", "found: lon, category")


def test_non_numeric_coordinate(tmp_path, helsinki, config):
    rows = [[r["lon"], r["lat"], r["category"]] for r in helsinki[:3]]
    rows[2][0] = "24,94"  # decimal comma
    path = write_csv(tmp_path / "nn.csv", ["lon", "lat", "category"], rows)
    one_line_error(lambda: read_user_pois(path, config), "nn.csv", "line 4", "'24,94'", "not a number")


def test_empty_coordinate(tmp_path, helsinki, config):
    path = write_csv(tmp_path / "e.csv", ["lon", "lat", "category"], [[24.9, "", "bank"]])
    one_line_error(lambda: read_user_pois(path, config), "e.csv", "line 2", "lat", "not a number")


def test_out_of_range_coordinate(tmp_path, helsinki, config):
    rows = [[r["lon"], r["lat"], r["category"]] for r in helsinki[:3]]
    rows[1] = [60.17, 124.94, "bank"]
    path = write_csv(tmp_path / "oor.csv", ["lon", "lat", "category"], rows)
    one_line_error(lambda: read_user_pois(path, config), "oor.csv", "line 3", "124.94", "outside -90..90", "swapped")


def test_projected_geojson_without_crs_is_out_of_range(tmp_path, config):
    path = tmp_path / "m.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"category": "bank"},
         "geometry": {"type": "Point", "coordinates": [385000.0, 6672000.0]}},
    ]}))
    # GDAL assumes CRS84 for GeoJSON; metre values cannot be degrees.
    one_line_error(lambda: read_user_pois(path, config), "m.geojson", "feature 1", "outside")


def test_bad_location_value(tmp_path, config):
    path = write_csv(tmp_path / "loc.csv", ["location", "category"], [["24.9,60.1", "bank"], ["24.9 60.1", "bank"]])
    one_line_error(lambda: read_user_pois(path, config), "loc.csv", "line 3", "'24.9 60.1'", "lon,lat")


def test_no_category_and_no_mapping(tmp_path, helsinki, config):
    r = helsinki[0]
    path = write_csv(tmp_path / "nocat.csv", ["name", "lon", "lat", "tag"],
                     [[r["name"], r["lon"], r["lat"], "医疗;药店"]])
    one_line_error(lambda: read_user_pois(path, config), "nocat.csv", "no 'category' column", "'typecode'",
                   "mapping")


def test_typecode_without_mapping_uses_builtin_amap_table(tmp_path, helsinki, config):
    r = helsinki[0]
    path = write_csv(tmp_path / "amap.csv", ["name", "lon", "lat", "typecode"],
                     [[r["name"], r["lon"], r["lat"], "090601"]])
    assert read_user_pois(path, config)["category"].tolist() == ["pharmacy"]


def test_mapping_without_its_column(tmp_path, helsinki, mapping_config):
    r = helsinki[0]
    path = write_csv(tmp_path / "nocol.csv", ["name", "lon", "lat"], [[r["name"], r["lon"], r["lat"]]])
    one_line_error(lambda: read_user_pois(path, mapping_config), "nocol.csv", "'typecode'", "'tag'",
                   "found: name, lon, lat")


def test_unknown_category_value(tmp_path, helsinki, config):
    rows = [[r["lon"], r["lat"], r["category"]] for r in helsinki[:3]]
    rows[1][2] = "apotheke"
    path = write_csv(tmp_path / "uc.csv", ["lon", "lat", "category"], rows)
    one_line_error(lambda: read_user_pois(path, config), "uc.csv", "unknown category 'apotheke'", "line 3")


def test_unknown_crs(tmp_path, helsinki, config):
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "category"], [[24.9, 60.1, "bank"]])
    with pytest.raises(ConfigError, match="coordinate system"):
        read_user_pois(path, config, crs="epsg:4490")


def test_mapping_to_unknown_category(tmp_path):
    toml = tmp_path / "bad.toml"
    toml.write_text('[pois.typecode]\n"0906" = "apotheke"\n')
    path = write_csv(tmp_path / "p.csv", ["lon", "lat", "typecode"], [[112.4, 34.6, "090601"]])
    with pytest.raises(ConfigError, match="apotheke"):
        read_user_pois(path, load_config(toml))


# --- merging ---------------------------------------------------------------

def test_names_similar():
    assert names_similar("Yliopiston Apteekki", "yliopiston apteekki")
    assert names_similar("Apteekki Eliel", "Eliel")  # containment
    assert names_similar("K-Supermarket Postitalo", "K Supermarket Postitalo")
    assert names_similar("Erottajan Apteekki", "Erottajan apteekkii")  # ratio
    assert names_similar("Ｌｉｄｌ", "LIDL")  # NFKC full-width
    assert not names_similar("Lidl", "Alepa")
    assert names_similar("", "Lidl", 8.0) and names_similar(None, "Lidl", 10.0)
    assert not names_similar("", "Lidl", 12.0)


def _user_csv(tmp_path, helsinki) -> tuple[Path, int]:
    """User POIs around the real OSM ones; return the file and its duplicates."""
    pharm = [r for r in helsinki if r["category"] == "pharmacy"]
    market = [r for r in helsinki if r["category"] == "market"]
    rows, n_dup = [], 0

    def add(r, name, east_m, category, duplicate):
        nonlocal n_dup
        lon, lat = moved(r["lon"], r["lat"], east_m)
        rows.append([name, f"{lon:.7f}", f"{lat:.7f}", category])
        n_dup += duplicate

    add(pharm[0], pharm[0]["name"].upper(), 12, "pharmacy", True)        # same name, 12 m
    add(pharm[1], pharm[1]["name"] + " (24h)", 25, "pharmacy", True)     # contains, 25 m
    add(market[0], market[0]["name"][:-1] + "x", 5, "market", True)      # ratio, 5 m
    add(market[1], "", 8, "market", True)                                # unnamed, 8 m
    add(market[2], "", 20, "market", False)                              # unnamed, 20 m
    add(pharm[2], pharm[2]["name"], 45, "pharmacy", False)               # beyond 30 m
    add(pharm[2], pharm[2]["name"], 3, "market", False)                  # other category
    add(market[0], "Alepa Kluuvi", 6, "market", False)                   # another shop
    add(pharm[0], "Kamppi Clinic", 0, "clinic", False)                   # category OSM lacks here
    path = write_csv(tmp_path / "user.csv", ["name", "lon", "lat", "category"], rows)
    return path, n_dup


def test_merge_add_drops_exact_duplicates(tmp_path, helsinki, config, osm_pois):
    path, n_dup = _user_csv(tmp_path, helsinki)
    user = read_user_pois(path, config)
    merged, n = merge_pois(osm_pois, user, mode="add", tolerance_m=30)
    assert n == n_dup == 4
    assert len(merged) == len(osm_pois) + len(user) - n_dup
    assert merged.crs.equals(osm_pois.crs)
    assert list(merged.columns) == list(osm_pois.columns)
    assert merged.index.tolist() == list(range(len(merged)))
    kept = merged[merged["source"] == "user"]
    assert kept["poi_id"].tolist() == ["user/4", "user/5", "user/6", "user/7", "user/8"]
    assert kept["snap_m"].isna().all()
    # Geometry really converted into the OSM CRS (metres, not degrees).
    assert merged.geometry.x.min() > 1000


def test_merge_tolerance_is_metres(tmp_path, helsinki, config, osm_pois):
    path, _ = _user_csv(tmp_path, helsinki)
    user = read_user_pois(path, config)
    # 50 m also catches the copy 45 m away; 10 m only the 5 m and 8 m ones.
    assert merge_pois(osm_pois, user, tolerance_m=50)[1] == 5
    assert merge_pois(osm_pois, user, tolerance_m=10)[1] == 2


def test_merge_replace(tmp_path, helsinki, config, osm_pois):
    path, _ = _user_csv(tmp_path, helsinki)
    user = read_user_pois(path, config)
    merged, n = merge_pois(osm_pois.to_crs("EPSG:4326"), user.to_crs(UTM35), mode="replace")
    n_osm = int(osm_pois["category"].isin({"pharmacy", "market"}).sum())
    assert n == n_osm
    assert merged.crs.equals("EPSG:4326")
    assert (merged["source"] == "osm").sum() == len(osm_pois) - n_osm == 0
    assert len(merged) == len(user)


def test_merge_replace_keeps_other_categories(tmp_path, helsinki, config, osm_pois):
    r = next(r for r in helsinki if r["category"] == "pharmacy")
    path = write_csv(tmp_path / "p.csv", ["name", "lon", "lat", "category"],
                     [[r["name"], r["lon"], r["lat"], "pharmacy"]])
    merged, n = merge_pois(osm_pois, read_user_pois(path, config), mode="replace")
    n_pharm = int((osm_pois["category"] == "pharmacy").sum())
    assert n == n_pharm
    assert (merged["category"] == "market").sum() == (osm_pois["category"] == "market").sum()
    assert (merged["category"] == "pharmacy").sum() == 1


def test_merge_with_empty_sides(osm_pois, config, tmp_path, helsinki):
    path, _ = _user_csv(tmp_path, helsinki)
    user = read_user_pois(path, config)
    merged, n = merge_pois(osm_pois.iloc[:0], user)
    assert n == 0 and len(merged) == len(user) and merged.crs.equals(osm_pois.crs)
    merged, n = merge_pois(osm_pois, user.iloc[:0])
    assert n == 0 and len(merged) == len(osm_pois)


def test_merge_bad_mode(osm_pois):
    with pytest.raises(ConfigError, match="mode"):
        merge_pois(osm_pois, osm_pois.iloc[:0], mode="union")


@pytest.mark.parametrize(("columns", "candidates", "expected"), [
    (["Name", "lon"], ("name",), "Name"),
    ([" 名称 ", "x"], ("name", "名称"), " 名称 "),
    (["name", "NAME"], ("NAME",), "NAME"),  # an exact name wins over a folded one
    (["lon", "lat"], ("name",), None),
])
def test_find_column_is_the_one_column_lookup(columns, candidates, expected):
    """User POI files and community files find their columns the same way."""
    from lifecircle.fileio import find_column

    assert find_column(columns, candidates) == expected

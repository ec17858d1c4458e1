"""Place search (Amap, Tianditu) against local stand-ins of the services (tests/place_server.py).

Two sets of places: the real facilities of a mainland corpus extract (Nanjing, tests/corpus),
where Amap answers in GCJ-02, for positions, paging and the result cap; and the bundled
Helsinki extract's own facilities plus community canteens at real residential addresses, for
the whole run: merged with OpenStreetMap, classified, written, and the key in no file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from place_server import Place, PlaceServer
from pyproj import Geod

import lifecircle
from lifecircle.sources import places
from lifecircle.sources.osmfile import read_osm
from lifecircle.sources.places import PlaceSearch, PlaceSearchError, plan, search

CORPUS = Path(__file__).parent / "corpus" / "nanjing.geojson"
KEY = "0123456789abcdef0123456789abcdef"
GEOD = Geod(ellps="WGS84")

#: Amap's type code and type of each category's facilities (amap_poicode.xlsx), and of others.
AMAP_TYPES = {
    "school": ("141203", "科教文化服务;学校;小学"), "middle_school": ("141202", "科教文化服务;学校;中学"),
    "bank": ("160100", "金融保险服务;银行;银行"), "market": ("060400", "购物服务;超级市场;超市"),
    "convenience": ("060200", "购物服务;便民商店/便利店;便民商店/便利店"),
    "park": ("110101", "风景名胜;公园广场;公园"), "sports": ("080100", "体育休闲服务;运动场馆;运动场所"),
    "pharmacy": ("090601", "医疗保健服务;医药保健销售店;药房"), "clinic": ("090300", "医疗保健服务;诊所;诊所"),
    "restaurant": ("050100", "餐饮服务;中餐厅;中餐厅"), "bus_stop": ("150700", "交通设施服务;公交车站;公交车站"),
}
#: What Amap files an OSM feature as: (tag, a word its name holds) -> AMAP_TYPES key.
_FILED_AS = [(("amenity", "school"), "小学", "school"), (("amenity", "school"), "中学", "middle_school"),
             (("amenity", "bank"), "", "bank"), (("shop", "supermarket"), "", "market"),
             (("shop", "convenience"), "", "convenience"), (("leisure", "park"), "", "park"),
             (("leisure", "pitch"), "", "sports"), (("amenity", "pharmacy"), "", "pharmacy"),
             (("amenity", "clinic"), "", "clinic")]


def _amap_type(tags: dict) -> tuple[str, str] | None:
    for (k, v), word, kind in _FILED_AS:
        if tags.get(k) == v and word in tags.get("name", ""):
            return AMAP_TYPES[kind]
    return None


def corpus_places() -> tuple[list[Place], shapely.Geometry]:
    """The Nanjing extract's named facilities as Amap files them, and the extract's extent."""
    data = json.loads(CORPUS.read_text(encoding="utf-8"))
    out = []
    for f in data["features"]:
        tags = f["properties"]["tags"]
        typed = _amap_type(tags)
        if typed is None or not tags.get("name"):
            continue
        point = shapely.geometry.shape(f["geometry"]).representative_point()
        osm_id = f["properties"]["id"].replace("/", "")
        out.append(Place(f"B0{osm_id}", tags["name"], point.x, point.y, typed[1], typed[0],
                         tags.get("addr:street", "")))
    return out, shapely.box(*data["extent"])


@pytest.fixture
def nanjing(monkeypatch, tmp_path):
    found, extent = corpus_places()
    server = PlaceServer(found)
    url = server.start()
    monkeypatch.setenv("LIFECIRCLE_AMAP_URL", url)
    monkeypatch.setenv("LIFECIRCLE_TIANDITU_URL", url)
    monkeypatch.setattr(places, "PACE_S", 0.0)
    monkeypatch.setattr(places, "BACKOFF_S", 0.01)
    yield server, extent, tmp_path / "cache"
    server.stop()


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def expected(server: PlaceServer, extent: shapely.Geometry, typecodes: set[str]) -> set[str]:
    """Independently: the ids of the places of these codes whose true position is in the area."""
    return {p.id for p in server.places if p.typecode in typecodes and extent.covers(shapely.Point(p.lon, p.lat))}


def test_amap_plan_asks_type_codes_then_keywords():
    queries = plan("amap", ["bank", "canteen", "school"])
    by_cat = {q.category: q for q in queries if q.types}
    # a four-digit key of the typecode table is asked as its six-digit 中类 code
    assert by_cat["bank"].types == "160100" and by_cat["school"].types == "141203"
    assert "canteen" not in by_cat  # Amap has no code for community canteens: keywords only
    assert {q.keyword for q in queries if q.category == "canteen"} >= {"社区食堂", "助餐点", "长者饭堂"}


def test_amap_pages_split_and_lands_within_a_metre(nanjing, monkeypatch):
    server, extent, cache = nanjing
    # a small cap, so that the banks fill it and the area is cut into tiles
    server.amap_cap = 12
    monkeypatch.setattr(places, "RESULT_CAP", {**places.RESULT_CAP, "amap": 12})
    monkeypatch.setattr(places, "PAGE_SIZE", {**places.PAGE_SIZE, "amap": 5})
    got = search("amap", KEY, extent, ["bank", "sports", "school"], cache=cache)
    truth = {p.id: p for p in server.places}
    for key, codes in (("bank", {"160100"}), ("sports", {"080100"}), ("school", {"141203"})):
        mine = got[got["category"] == key]
        want = expected(server, extent, codes)
        assert len(want) > (12 if key == "bank" else 0)  # the banks overflow one query
        assert set(mine["service_id"]) == want and mine["service_id"].is_unique
    tiled = [r for r in server.requests if r.get("types") == "160100"]
    assert len({r["polygon"] for r in tiled}) > 1  # the cap forced a split
    assert max(int(r["page_num"]) for r in tiled) >= 2  # and tiles were paged
    # GCJ-02 there and back: every place within a metre of where it truly is
    lon = np.array([truth[i].lon for i in got["service_id"]])
    lat = np.array([truth[i].lat for i in got["service_id"]])
    assert metres(lon, lat, got.geometry.x.to_numpy(), got.geometry.y.to_numpy()).max() < 1.0
    # and the offset Amap applies was there to undo (hundreds of metres in Nanjing)
    glon, glat = places.coords.wgs84_to_gcj02(lon, lat)
    assert metres(lon, lat, glon, glat).min() > 100
    assert (got["fetched"] == datetime.now(timezone.utc).date().isoformat()).all()
    assert got.attrs["requests"] == len(server.requests) and got.attrs["cached"] == 0


def test_a_rerun_costs_no_quota(nanjing):
    server, extent, cache = nanjing
    first = search("amap", KEY, extent, ["bank", "market"], cache=cache)
    asked = len(server.requests)
    again = search("amap", KEY, extent, ["bank", "market"], cache=cache)
    assert len(server.requests) == asked and again.attrs["requests"] == 0 and again.attrs["cached"] == asked
    pd.testing.assert_frame_equal(first.drop(columns="geometry"), again.drop(columns="geometry"))
    # no file of the cache holds the key
    assert all(KEY not in p.read_text(encoding="utf-8") for p in cache.rglob("*.json"))


def test_quota_used_up_mid_fetch_keeps_what_was_fetched(nanjing, monkeypatch):
    server, extent, cache = nanjing
    monkeypatch.setattr(places, "PAGE_SIZE", {**places.PAGE_SIZE, "amap": 5})  # several pages
    whole = search("amap", KEY, extent, ["bank", "sports", "school"], cache=None)
    total = len(server.requests)
    server.requests.clear()
    assert total > 4
    server.answered, server.quota_after = 0, 3
    with pytest.raises(PlaceSearchError) as e:
        search("amap", KEY, extent, ["bank", "sports", "school"], cache=cache)
    message = str(e.value)
    assert "10003" in message and "DAILY_QUERY_OVER_LIMIT" in message and "cached" in message
    assert "\n" not in message and KEY not in message
    assert len(list((cache / "places" / "amap").glob("*.json"))) == 3
    # the next day: only what the quota cut off is asked for
    server.requests.clear()
    server.quota_after = None
    again = search("amap", KEY, extent, ["bank", "sports", "school"], cache=cache)
    assert len(server.requests) == total - 3 and again.attrs["cached"] == 3
    assert sorted(again["service_id"]) == sorted(whole["service_id"])


def test_bad_key_is_the_services_own_code(nanjing):
    server, extent, cache = nanjing
    wrong = "f" * 32
    with pytest.raises(PlaceSearchError) as e:
        search("amap", wrong, extent, ["bank"], cache=cache)
    assert "INVALID_USER_KEY (10001)" in str(e.value) and wrong not in str(e.value)
    with pytest.raises(PlaceSearchError) as e:
        search("tianditu", wrong, extent, ["bank"], cache=cache)
    assert "(1001)" in str(e.value) and wrong not in str(e.value)
    assert not list(cache.rglob("*.json"))  # a refusal is not an answer to keep


def test_too_frequent_and_slow_answers_are_retried(nanjing, monkeypatch):
    server, extent, _ = nanjing
    plain = search("amap", KEY, extent, ["bank"])
    n = len(server.requests)
    server.requests.clear()
    server.pace_errors = 2
    paced = search("amap", KEY, extent, ["bank"])
    assert len(server.requests) == n + 2
    assert sorted(paced["service_id"]) == sorted(plain["service_id"])
    monkeypatch.setattr(places, "TIMEOUT_S", 0.5)
    server.slow, server.slow_seconds = 1, 2.0
    slow = search("amap", KEY, extent, ["bank"])
    assert sorted(slow["service_id"]) == sorted(plain["service_id"])
    server.slow = places.ATTEMPTS
    with pytest.raises(PlaceSearchError, match=r"did not answer within 0.5 s after 4 attempts"):
        search("amap", KEY, extent, ["bank"])


def test_tianditu_pages_and_keeps_positions(nanjing, monkeypatch):
    server, extent, cache = nanjing
    server.tianditu_cap = 8
    monkeypatch.setattr(places, "RESULT_CAP", {**places.RESULT_CAP, "tianditu": 8})
    monkeypatch.setattr(places, "PAGE_SIZE", {**places.PAGE_SIZE, "tianditu": 3})
    got = search("tianditu", KEY, extent, ["bank"], cache=cache)
    want = {p.id for p in server.places if "银行" in p.name and extent.covers(shapely.Point(p.lon, p.lat))}
    assert len(want) > 8 and set(got["service_id"]) == want
    posts = [json.loads(r["postStr"]) for r in server.requests if r["path"] == "/v2/search"]
    assert {p["queryType"] for p in posts} == {10} and max(p["start"] for p in posts) >= 3
    truth = {p.id: p for p in server.places}
    # CGCS2000 is kept as WGS-84: no shift at all
    lon = np.array([truth[i].lon for i in got["service_id"]])
    assert np.abs(lon - got.geometry.x.to_numpy()).max() < 1e-6


# ---------------------------------------------------------------- the whole run, bundled data


def helsinki_places(bundled_osm, a: lifecircle.Analysis) -> list[Place]:
    """Amap as it would answer for the bundled area: OSM's counted facilities again (the same
    places, Amap's ids), community canteens at three real residential addresses, a bus stop
    and a buffet named after a canteen (``a``: the bundled extract's analysis)."""
    reg = a.facilities[a.facilities["counted"]].to_crs("EPSG:4326")
    out = []
    for row in reg.itertuples():
        code, kind = AMAP_TYPES[row.category]
        point = row.geometry.representative_point()
        out.append(Place(f"B0FF{row.osm_id}", row.name or "", point.x, point.y, kind, code))
    homes = read_osm(bundled_osm).features
    addressed = [(r.geometry.centroid, r.tags) for r in homes.itertuples()
                 if r.tags.get("building") == "apartments" and r.tags.get("addr:street")]
    for k, (point, tags) in enumerate(addressed[:: max(1, len(addressed) // 3)][:3]):
        address = f"{tags['addr:street']} {tags.get('addr:housenumber', '')}".strip()
        out.append(Place(f"B0CANTEEN{k}", f"{tags['addr:street']}社区食堂", point.x, point.y,
                         *AMAP_TYPES["restaurant"][::-1], address))
    p, street = addressed[0][0], addressed[0][1]["addr:street"]
    out.append(Place("B0STOP", f"{street}社区食堂站", p.x + 3e-4, p.y, *AMAP_TYPES["bus_stop"][::-1]))
    out.append(Place("B0BUFFET", "社区食堂自助餐", p.x - 3e-4, p.y, *AMAP_TYPES["restaurant"][::-1]))
    return out


@pytest.fixture(scope="module")
def helsinki(bundled_osm, analysis):
    server = PlaceServer(helsinki_places(bundled_osm, analysis))
    url = server.start()
    yield server, url
    server.stop()


def test_places_merge_with_osm_and_judge_canteens(helsinki, bundled_osm, analysis, tmp_path, monkeypatch):
    server, url = helsinki
    monkeypatch.setenv("LIFECIRCLE_AMAP_URL", url)
    monkeypatch.setattr(places, "PACE_S", 0.0)
    plain = analysis
    a = lifecircle.analyze(bundled_osm, places=PlaceSearch("amap", KEY, cache=tmp_path))
    reg = a.facilities
    mine = reg[reg["source"] == "amap"]
    osm_ids = set(plain.facilities.loc[plain.facilities["counted"], "poi_id"])
    # every place Amap repeats from OSM is the same facility: counted once, named on the OSM row
    repeats = mine[mine["poi_id"].str.startswith("amap/B0FF")]
    assert len(repeats) == len(osm_ids)
    assert (repeats["reason"] == "duplicate").all()
    assert set(reg.loc[reg["also_in"] != "", "poi_id"]) == osm_ids
    # the canteens count; the bus stop and the buffet named after one do not
    by_id = mine.set_index("poi_id")
    assert by_id.loc[[f"amap/B0CANTEEN{k}" for k in range(3)], "counted"].all()
    assert by_id.loc["amap/B0STOP", "reason"] == "exclude_type" and "交通设施服务" in by_id.loc["amap/B0STOP", "rule"]
    assert by_id.loc["amap/B0BUFFET", "reason"] == "exclude_name"
    tags = json.loads(by_id.loc["amap/B0CANTEEN0", "tags"])
    assert tags["typecode"] == "050100" and tags["address"] and tags["fetched"]
    # canteens are judged now, by the three found
    assert "canteen" in plain.no_data and "canteen" not in a.no_data
    names = {p.name for p in server.places if p.id.startswith("B0CANTEEN")}
    nearest = set(a.communities["nearest_canteen"].dropna()) - {""}
    assert nearest and nearest <= names
    # every other category: the same numbers as OpenStreetMap alone
    for k in plain.config.keys:
        if k != "canteen":
            pd.testing.assert_series_equal(a.communities[f"metres_{k}"], plain.communities[f"metres_{k}"])
    today = datetime.now(timezone.utc).date().isoformat()
    assert a.sources_text("zh") == f"OSM {plain.data_date}；高德 {today}"
    assert (a.basis["facility_sources"] == f"OSM {plain.data_date}; Amap {today}").all()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_command_with_a_key_writes_no_key_and_reruns_free(helsinki, tmp_path):
    server, url = helsinki
    env = {**os.environ, "LIFECIRCLE_AMAP_URL": url, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    secret = "5ecret" + KEY[6:]
    server.key = secret

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lifecircle.cli", "analyze", "--pois-from", "amap", *args],
                              capture_output=True, text=True, env=env, timeout=300)

    try:
        proc = run("--key", secret, "--out", str(tmp_path / "out"), "--lang", "zh")
        assert proc.returncode == 0, proc.stderr
        asked = len(server.requests)
        assert asked > 0
        # the key is in no output, no cache file, no line the command printed
        written = _files(tmp_path / "out") + _files(tmp_path / "cache")
        assert written and all(secret.encode() not in p.read_bytes() for p in written)
        assert secret not in proc.stdout + proc.stderr
        basis = pd.read_csv(tmp_path / "out" / "basis.csv")
        assert basis["facility_sources"].iloc[0].endswith("; Amap " + datetime.now(timezone.utc).date().isoformat())
        report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
        assert "设施来源" in report and "高德" in report
        facilities = pd.read_csv(tmp_path / "out" / "facilities.csv")
        assert (facilities["source"] == "amap").sum() == len(server.places)
        # the key from the environment, a rerun: no request at all
        env["LIFECIRCLE_AMAP_KEY"] = secret
        again = run("--out", str(tmp_path / "again"), "-q")
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == asked
        # a wrong key: one line with Amap's code, no output folder, the key in no message
        env["LIFECIRCLE_AMAP_KEY"] = "wrong" + secret[5:]
        env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
        bad = run("--out", str(tmp_path / "bad"))
        assert bad.returncode != 0 and "Traceback" not in bad.stderr
        error = [ln for ln in bad.stderr.splitlines() if ln.startswith("Error")]
        assert len(error) == 1 and "INVALID_USER_KEY (10001)" in error[0], bad.stderr
        assert env["LIFECIRCLE_AMAP_KEY"] not in bad.stdout + bad.stderr
        assert not (tmp_path / "bad").exists() or not _files(tmp_path / "bad")
    finally:
        server.key = KEY


def test_fetch_keeps_the_places_with_the_bundle(helsinki, bundled_osm, tmp_path, monkeypatch):
    """`lifecircle fetch --pois-from amap` saves the places in the bundle; an offline run reads them."""
    from lifecircle.sources import online

    server, url = helsinki
    monkeypatch.setenv("LIFECIRCLE_AMAP_URL", url)
    monkeypatch.setattr(places, "PACE_S", 0.0)
    data = read_osm(bundled_osm)
    area = shapely.box(*data.features.total_bounds)
    data.places.append(search("amap", KEY, area, ["canteen", "bank"], cache=tmp_path / "cache"))
    online.save_bundle(data, tmp_path / "bundle", area=area)
    back = online.load_bundle(tmp_path / "bundle")
    assert len(back.places) == 1
    mine, theirs = back.places[0], data.places[0]
    assert back.places[0].attrs["source"] == "amap" and mine.attrs["fetched"] == theirs.attrs["fetched"]
    pd.testing.assert_frame_equal(mine.drop(columns="geometry"), theirs.drop(columns="geometry"), check_dtype=False)
    assert metres(mine.geometry.x, mine.geometry.y, theirs.geometry.x, theirs.geometry.y).max() < 1e-3
    # an offline run of the bundle counts them as the online run would
    direct = lifecircle.analyze(data)
    offline = lifecircle.analyze(back)
    assert "canteen" not in offline.no_data
    pd.testing.assert_series_equal(offline.communities["metres_canteen"], direct.communities["metres_canteen"])

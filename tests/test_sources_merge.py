"""Several sources, one list: the planner's files merged with OpenStreetMap's facilities.

A facility both hold is counted once (matched by distance and by name, Traditional and
Simplified folded), both sources named in its row; the same place under two categories is
flagged; a planner's list of meal points as an Excel sheet goes in like a CSV.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import lifecircle
from lifecircle.config import load_config
from lifecircle.facilities import merge_sources, names_similar, user_rows
from lifecircle.facilities.classify import empty_register
from lifecircle.sources.userpois import read_user_pois

UTM35 = "EPSG:32635"


def test_names_compare_across_scripts_and_spellings():
    assert names_similar("老百姓大藥房（新街口店）", "老百姓大药房新街口店")  # Traditional = Simplified
    assert names_similar("中國信託商業銀行", "中国信托商业银行 ")
    assert names_similar("Yliopiston Apteekki", "yliopiston apteekki")
    assert names_similar("鼓楼区长者饭堂", "鼓楼长者饭堂")  # similar enough (rapidfuzz ratio)
    assert not names_similar("华润万家", "永辉超市")
    assert names_similar("", "华润万家", 8.0) and not names_similar("", "华润万家", 12.0)


def _register_of(rows: list[tuple[str, str, str, float, float]], crs=UTM35) -> gpd.GeoDataFrame:
    reg = empty_register(crs)
    frame = pd.DataFrame([{"poi_id": pid, "osm_type": pid.split("/")[0], "osm_id": i, "name": name,
                           "category": cat, "counted": True, "reason": "tag", "rule": "", "within": "",
                           "area_m2": np.nan, "source": "osm", "also_in": "", "note": "", "tags": ""}
                          for i, (pid, name, cat, _, _) in enumerate(rows)])
    geoms = [shapely.Point(x, y) for *_, x, y in rows]
    return gpd.GeoDataFrame(pd.concat([reg.drop(columns="geometry"), frame], ignore_index=True),
                            geometry=geoms, crs=crs)


def test_a_facility_in_both_sources_is_counted_once_with_both_named():
    osm = _register_of([("node/1", "老百姓大藥房", "pharmacy", 500000, 6670000),
                        ("node/2", "华润万家", "market", 500200, 6670000),
                        ("node/3", "社区卫生服务站", "clinic", 500400, 6670000)])
    user = gpd.GeoDataFrame({"poi_id": ["amap/1", "amap/2", "amap/3"], "osm_type": "amap", "osm_id": [1, 2, 3],
                             "name": ["老百姓大药房", "华润万家超市", "新开社区食堂"],
                             "category": ["pharmacy", "clinic", "canteen"], "source": "amap"},
                            geometry=[shapely.Point(500012, 6670005), shapely.Point(500205, 6670000),
                                      shapely.Point(500800, 6670000)], crs=UTM35)
    cfg = load_config(level="15min")
    reg, counts = merge_sources(osm, user_rows(user, cfg, UTM35, "amap"))
    rows = reg.set_index("poi_id")
    # the same pharmacy 13 m apart: once, the OSM row naming the Amap one
    assert not rows.loc["amap/1", "counted"] and rows.loc["amap/1", "reason"] == "duplicate"
    assert "node/1" in rows.loc["amap/1", "rule"] and rows.loc["node/1", "also_in"] == "amap/1"
    # the same place as a market in OSM and a clinic in the file: both kept, flagged on both
    assert rows.loc["amap/2", "counted"] and "conflict" in rows.loc["amap/2", "note"]
    assert "conflict" in rows.loc["node/2", "note"]
    # a new canteen: counted, from its source
    assert rows.loc["amap/3", "counted"] and rows.loc["amap/3", "source"] == "amap"
    assert counts == {"merged": 1, "conflicts": 1, "added": 2}


def test_a_planners_row_the_category_does_not_mean_is_kept_out():
    """A list of schools with a middle school in it: listed, not counted, and why."""
    user = gpd.GeoDataFrame({"poi_id": ["user/0", "user/1"], "osm_type": "user", "osm_id": [0, 1],
                             "name": ["鼓楼区第一中心小学", "南京市第五中学"], "category": ["school", "school"],
                             "source": "user"}, geometry=[shapely.Point(0, 0), shapely.Point(1000, 0)], crs=UTM35)
    rows = user_rows(user, load_config(), UTM35).set_index("poi_id")
    assert rows.loc["user/0", "counted"]
    assert not rows.loc["user/1", "counted"] and "secondary" in rows.loc["user/1", "rule"]


def test_an_excel_list_of_meal_points_goes_in_like_a_csv(tmp_path, bundled_osm):
    pd.DataFrame({"名称": ["克鲁努哈卡长者饭堂", "卡伊萨涅米助餐点"], "经度": ["24.9535", "24.9460"],
                  "纬度": ["60.1716", "60.1731"], "类别": ["canteen", "社区食堂/助餐点"]}).to_excel(
        tmp_path / "民政助餐点.xlsx", index=False)
    cfg = load_config()
    pois = read_user_pois(tmp_path / "民政助餐点.xlsx", cfg)
    assert list(pois["category"]) == ["canteen", "canteen"]
    assert pois.geometry.x.tolist() == pytest.approx([24.9535, 24.9460])
    a = lifecircle.analyze(bundled_osm, pois=pois)
    assert "canteen" not in a.no_data and a.coverage["covered_canteen"].notna().all()
    listed = a.facilities[a.facilities["category"] == "canteen"]
    assert set(listed["name"]) == {"克鲁努哈卡长者饭堂", "卡伊萨涅米助餐点"} and listed["counted"].all()


def test_a_broken_workbook_is_one_line(tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(lifecircle.LifecircleError, match="not a readable Excel workbook") as e:
        read_user_pois(path, load_config())
    assert "\n" not in str(e.value)

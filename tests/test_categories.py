"""Categories mean what they say: name rules, exclusions, Traditional Chinese,
any tag key, and each built-in category on the bundled extract against an
independent count of the file's objects."""

from __future__ import annotations

import tomllib
from pathlib import Path

import osmium
import pytest
import shapely

import lifecircle
from lifecircle.config import load_config
from lifecircle.errors import ConfigError
from lifecircle.facilities import categorize

PRESETS = Path(lifecircle.__file__).resolve().parent / "presets.toml"


@pytest.fixture(scope="module")
def cfg15():
    return load_config(level="15min", categories=list(tomllib.loads(PRESETS.read_text("utf-8"))["categories"]))


# Real names of community and elderly canteens (社区食堂, 长者饭堂, 助餐点 ...),
# in Simplified and Traditional script, with the tags they carry in OSM.
CANTEENS = [
    ({"amenity": "restaurant"}, "朝阳区八里庄街道社区食堂"),
    ({"amenity": "restaurant"}, "和平里长者食堂"),
    ({"amenity": "social_facility"}, "越秀区登峰街长者饭堂"),
    ({}, "金鱼池社区养老助餐点"),
    ({"amenity": "restaurant"}, "老年食堂"),
    ({"amenity": "restaurant"}, "爱心食堂"),
    ({}, "新华里助老餐厅"),
    ({"amenity": "social_facility"}, "南湖街道老年助餐服务中心"),
    ({"amenity": "restaurant"}, "社區食堂"),
    ({}, "長者飯堂"),
    ({}, "敬老食堂"),
    ({"amenity": "canteen"}, ""),
    ({"amenity": "social_facility", "social_facility": "soup_kitchen", "social_facility:for": "senior"}, ""),
    ({"amenity": "social_facility", "social_facility:for": "elderly", "food": "yes"}, "幸福晚年驿站"),
]

# Buffets, commercial restaurants named 食堂, workplace and student
# canteens, and social facilities that serve no meals to seniors.
NOT_CANTEENS = [
    ({"amenity": "restaurant"}, "金钱豹自助餐厅"),
    ({"amenity": "restaurant"}, "巴西烤肉自助餐"),
    ({"amenity": "restaurant"}, "海鲜自助餐"),
    ({"amenity": "restaurant"}, "東北食堂"),
    ({"amenity": "restaurant"}, "深夜食堂"),
    ({"amenity": "restaurant"}, "川味食堂"),
    ({"amenity": "fast_food"}, "老王食堂"),
    ({"amenity": "canteen"}, "清华大学学生食堂"),
    ({"amenity": "canteen"}, "华为员工食堂"),
    ({"amenity": "canteen"}, "市政府职工食堂"),
    ({"amenity": "food_court"}, "Fazer 8th Floor"),
    ({"amenity": "social_facility", "social_facility": "outreach", "social_facility:for": "diseased"},
     "Hiv-säätiö / Aids-tukikeskus"),
    ({"amenity": "social_facility", "social_facility": "day_care", "social_facility:for": "child"},
     "Hoivanet Kids Park"),
    ({"amenity": "social_facility", "social_facility": "soup_kitchen", "social_facility:for": "homeless"}, ""),
]


@pytest.mark.parametrize("tags,name", CANTEENS)
def test_canteen_positives(tags, name):
    assert load_config().category("canteen").matches({**tags, "name": name})


@pytest.mark.parametrize("tags,name", NOT_CANTEENS)
def test_canteen_negatives(tags, name):
    assert not load_config().category("canteen").matches({**tags, "name": name})


def test_canteen_lists_are_long_enough():
    assert len(CANTEENS) >= 10 and len(NOT_CANTEENS) >= 10


@pytest.mark.parametrize("key,tags,want", [
    ("market", {"name": "西營盤菜市場"}, True),
    ("market", {"name": "農貿市場"}, True),
    ("market", {"amenity": "marketplace", "name": "建材市场"}, False),
    ("market", {"amenity": "marketplace", "name": "花鳥市場"}, False),
    ("elderly_care", {"name": "長者養老院"}, True),
    ("elderly_care", {"name": "社会养老保险服务中心"}, False),
    ("elderly_care", {"amenity": "social_facility", "social_facility": "group_home",
                      "social_facility:for": "senior"}, True),
    ("elderly_care", {"amenity": "social_facility", "social_facility": "group_home",
                      "social_facility:for": "juvenile"}, False),
    ("pharmacy", {"name": "老百姓大藥房"}, True),
    ("pharmacy", {"shop": "chemist", "name": "屈臣氏"}, False),
    ("pharmacy", {"shop": "chemist", "name": "Watsons"}, False),
    ("school", {"amenity": "school", "name": "北京市第四中学"}, False),
    ("school", {"amenity": "school", "name": "海淀实验小學"}, True),
    ("school", {"amenity": "school", "name": "东方驾校"}, False),
    ("bank", {"amenity": "bank", "name": "工商银行自助银行"}, False),
    ("clinic", {"amenity": "clinic", "name": "瑞鹏宠物医院"}, False),
    ("clinic", {"healthcare": "clinic", "healthcare:speciality": "hypnosis;herbalism"}, False),
    ("clinic", {"amenity": "clinic", "healthcare:speciality": "general"}, True),
    ("elderly_care", {"name": "社区老年人日间照料中心"}, False),
    ("park", {"leisure": "park", "access": "private"}, False),
    ("park", {"leisure": "garden"}, True),
    ("sports", {"leisure": "fitness_centre", "name": "一兆韦德健身"}, False),
])
def test_rules_and_traditional_chinese(cfg15, key, tags, want):
    assert cfg15.category(key).matches(tags) is want


# ---------------------------------------------------------------- the real extract


def _rule(tags: dict, rule: dict) -> bool:
    """All conditions hold; an OSM value may list several, separated by ";"."""
    return all(set(tags.get(k, "").split(";")) & set([v] if isinstance(v, str) else v) for k, v in rule.items())


def _independent_match(tags: dict, spec: dict) -> bool:
    """The preset's rules applied to a raw object, written out here from the
    preset file rather than taken from lifecircle (names in the extract are
    Finnish and Swedish, so only exact-substring name rules can apply)."""
    if any(_rule(tags, r) for r in spec.get("exclude", [])):
        return False
    name = " ".join(tags.get(k, "") for k in ("name", "name:zh", "name:en", "official_name")).lower()
    if any(n.lower() in name for n in spec.get("exclude_names", [])):
        return False
    if any(n.lower() in name for n in spec.get("names", [])):
        return True
    for key, values in spec.get("tags", {}).items():
        values = [values] if isinstance(values, str) else values
        if key in tags and ("*" in values or set(tags[key].split(";")) & set(values)):
            return True
    return any(_rule(tags, r) for r in spec.get("rules", []))


@pytest.fixture(scope="module")
def file_objects(bundled_osm):
    """Every tagged node, closed way and multipolygon relation of the file (plain osmium)."""
    objs = []
    for o in osmium.FileProcessor(str(bundled_osm)):
        if not o.tags:
            continue
        tags = dict(o.tags)
        if o.is_node():
            objs.append((f"node/{o.id}", tags))
        elif o.is_way() and len(o.nodes) >= 4 and o.nodes[0].ref == o.nodes[-1].ref:
            objs.append((f"way/{o.id}", tags))
        elif o.is_relation() and tags.get("type") in ("multipolygon", "boundary"):
            tags.pop("type")
            objs.append((f"relation/{o.id}", tags))
    return objs


@pytest.fixture(scope="module")
def osm(bundled_osm):
    return lifecircle.read_osm(bundled_osm)


def _first_values(tags: dict) -> dict:
    """What an object is: the first value of each main key (``clinic;pharmacy`` is a clinic)."""
    return {k: v.split(";")[0] for k, v in tags.items()}


def _put_forward_by_tags(tags: dict, spec: dict) -> bool:
    """The preset's tags and rules put the object forward (written out here from the preset file)."""
    first = _first_values(tags)
    for key, values in spec.get("tags", {}).items():
        values = [values] if isinstance(values, str) else values
        if key in tags and ("*" in values or first[key] in values):
            return True
    return any(_rule(tags, r) for r in spec.get("rules", []))


def test_each_builtin_category_lists_every_candidate_with_a_reason(osm, file_objects, cfg15):
    """Every object a preset's tags put forward is in the register (counted or not, with its
    reason), or left out as unreadable; nothing is counted that no rule put forward."""
    from lifecircle.facilities import classify
    from lifecircle.sources.coords import local_utm

    raw = tomllib.loads(PRESETS.read_text("utf-8"))["categories"]
    crs = local_utm(shapely.box(*osm.features.total_bounds))
    reg = classify(osm.features, cfg15, crs)
    left = osm.left_out
    left_ids = {f"{t}/{i}" for t, i in zip(left["osm_type"], left["osm_id"])}
    total = 0
    for key, spec in raw.items():
        want = {ident for ident, tags in file_objects if _put_forward_by_tags(tags, spec)}
        mine = reg[reg["category"] == key]
        listed = set(mine["poi_id"])
        assert want - left_ids <= listed, (key, sorted(want - listed - left_ids)[:5])
        assert (mine["rule"].str.len() > 0).all() and mine["reason"].notna().all()
        total += len(want)
    assert total > 50  # the extract has dozens of daily facilities
    # what the old presets wrongly took: a food court, an HIV outreach centre, a day-care
    assert not reg.loc[reg["category"] == "canteen", "counted"].any()


def _reason(reg, poi_id: str, key: str) -> str:
    row = reg[(reg["poi_id"] == poi_id) & (reg["category"] == key)]
    assert len(row) == 1, (poi_id, key)
    return str(row["reason"].iloc[0]) + ("" if not row["counted"].iloc[0] else ":counted")


def test_bundled_extract_facilities_a_planner_would_strike(osm, cfg15):
    """On the bundled extract, the rules keep out what a planner would strike, each for its
    reason: the central bank and an online broker (banks), a Finnish upper-secondary and a lower-
    secondary school (primary school), a botanical garden (park)."""
    from lifecircle.facilities import classify
    from lifecircle.sources.coords import local_utm

    reg = classify(osm.features, cfg15, local_utm(shapely.box(*osm.features.total_bounds)))
    assert _reason(reg, "way/17359934", "bank") == "exclude_name"  # Suomen Pankki, the Bank of Finland
    assert _reason(reg, "node/3062694623", "bank") == "exclude_name"  # Nordnet, an online broker
    assert _reason(reg, "node/1369465641", "bank") == "tag:counted"  # a Nordea branch
    assert _reason(reg, "way/37264738", "school") == "exclude_name"  # Ressun lukio (upper secondary)
    assert _reason(reg, "way/446178816", "school") == "exclude_name"  # Kruununhaan yläasteen koulu
    assert _reason(reg, "way/596507272", "school") == "tag:counted"  # Kaisaniemen ala-aste (primary)
    assert _reason(reg, "way/122869882", "park") == "exclude_tag"  # Kaisaniemi botanical garden


def test_park_sizes_against_an_independent_area(osm, cfg15):
    """Parks below GB 50180-2018 表4.0.4's 0.4 hm² are kept out, and only those: each park's
    area measured on the ellipsoid (pyproj.Geod), independently of the analysis's projection."""
    from pyproj import Geod

    from lifecircle.facilities import classify
    from lifecircle.sources.coords import local_utm

    minimum = cfg15.category("park").min_area_m2
    assert minimum == 4000
    reg = classify(osm.features, cfg15, local_utm(shapely.box(*osm.features.total_bounds)))
    parks = reg[(reg["category"] == "park") & reg["area_m2"].notna()]
    feats = osm.features.assign(poi_id=osm.features["osm_type"] + "/" + osm.features["osm_id"].astype(str))
    geod = Geod(ellps="WGS84")
    small = 0
    for row in parks.itertuples():
        geom = feats.loc[feats["poi_id"] == row.poi_id, "geometry"].iloc[0]
        area = abs(geod.geometry_area_perimeter(geom)[0])
        if abs(area - minimum) < 0.01 * minimum or row.reason not in ("too_small", "tag"):
            continue  # at the line, or kept out before its size was looked at (not public, a museum)
        assert (row.reason == "too_small") == (area < minimum), (row.poi_id, area)
        small += area < minimum
    assert small >= 3


def test_clipped_area_facility_is_kept(osm, cfg15):
    """Area facilities cut by the extract's edge count, entered from their visible outline."""
    found = categorize(osm.features, cfg15)
    clipped = osm.features.loc[osm.features["clipped"], ["osm_type", "osm_id"]]
    ids = set(clipped["osm_type"] + "/" + clipped["osm_id"].astype(str))
    kept = found[found["poi_id"].isin(ids)]
    assert len(kept) > 0
    assert set(kept.geom_type) <= {"LineString", "MultiLineString"}


def test_category_on_any_tag_key(bundled_osm, file_objects, tmp_path):
    """A custom category on highway=bus_stop reads highway nodes from the file."""
    stops = {i for i, t in file_objects if t.get("highway") == "bus_stop"}
    assert len(stops) > 0
    toml = tmp_path / "stops.toml"
    toml.write_text('use = ["stop", "park"]\n[categories.stop]\nlabel_en = "Bus stop"\n'
                    'tags = { highway = ["bus_stop"] }\n', encoding="utf-8")
    cfg = load_config(toml)
    a = lifecircle.analyze(bundled_osm, config=cfg)
    assert set(a.pois.loc[a.pois["category"] == "stop", "poi_id"]) == stops
    assert a.coverage["covered_stop"].any()
    # data read without that key cannot answer: a clear error, not an empty category
    with pytest.raises(ConfigError, match="highway"):
        lifecircle.analyze(lifecircle.read_osm(bundled_osm), config=cfg)

"""Every exclusion and context rule of the built-in categories is exercised by a case that the
rule alone decides: without the rule, the case would count.

The cases are the real objects of the labelled corpus (tests/corpus) and of the bundled extract,
and, for a rule neither holds an object for, a realistic one written here (names of the kinds
the issue found on real Chinese extracts). A new rule without such a case fails
``test_every_name_and_tag_exclusion_decides_a_case``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import lifecircle
from lifecircle.config import _rule_text, folded_name, name_heads
from lifecircle.facilities import classify
from lifecircle.sources.coords import local_utm

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))

import evaluate  # noqa: E402

#: Objects (tags) each of which one rule alone keeps out, for rules no real object here exercises.
WRITTEN = [
    {"amenity": "canteen", "name": "金钱豹国际美食自助餐"},
    {"amenity": "canteen", "name": "华为员工食堂"},
    {"amenity": "clinic", "name": "康寧牙醫診所"},
    {"amenity": "clinic", "name": "瑞鹏宠物医院"},
    {"amenity": "doctors", "name": "中国银行医务室"},
    {"amenity": "doctors", "name": "急诊"},
    {"amenity": "doctors", "name": "鼓楼医院皮肤科门诊"},
    {"amenity": "doctors", "name": "骨科"},
    {"amenity": "doctors", "healthcare": "dentist", "name": "Hammaslääkäri Virtanen"},
    {"amenity": "pharmacy", "name": "鼓楼医院门诊药房"},
    {"amenity": "pharmacy", "name": "康宁兽药"},
    {"amenity": "pharmacy", "name": "国药控股医药有限公司"},
    {"leisure": "garden", "name": "实验小学花园"},
    {"leisure": "park", "access": "private", "name": "Kulosaaren puisto"},
    {"leisure": "park", "fee": "yes", "name": "玄武湖公园"},
    {"leisure": "park", "historic": "memorial", "name": "纪念广场"},
    {"leisure": "garden", "garden:type": "residential"},
    {"leisure": "garden", "garden": "private"},
    {"leisure": "garden", "religion": "christian", "name": "教会花园"},
    {"leisure": "park", "amenity": "grave_yard", "name": "福寿园"},
    {"leisure": "park", "landuse": "cemetery", "name": "Hietaniemi"},
    {"leisure": "park", "construction": "park", "name": "中央公园"},
    {"leisure": "pitch", "landuse": "construction"},
    {"leisure": "pitch", "construction": "pitch"},
    {"amenity": "school", "name": "北京行政学院"},
    {"amenity": "bank", "name": "中国工商银行自助银行"},
    {"amenity": "bank", "name": "中国银行大厦"},
    {"amenity": "marketplace", "name": "金盛国际家居建材市场"},
    {"amenity": "kindergarten", "name": "金宝贝早教中心"},
    {"amenity": "kindergarten", "name": "小天才培训班"},
    {"amenity": "childcare", "name": "亲子乐园"},
    {"amenity": "kindergarten", "name": "瑞思英语"},
    {"amenity": "kindergarten", "name": "小星星艺术中心"},
    {"amenity": "childcare", "name": "阳光午托管班"},
    {"amenity": "kindergarten", "name": "启明教育咨询"},
    {"healthcare": "centre", "name": "宠物社区医院"},
    {"amenity": "library", "name": "24小时自助图书馆"},
    {"amenity": "nursing_home", "name": "中国人寿养老保险"},
    {"amenity": "nursing_home", "name": "区社保中心"},
    {"amenity": "nursing_home", "name": "养老金管理中心"},
    {"amenity": "nursing_home", "name": "老年人日间照料中心"},
    {"amenity": "nursing_home", "name": "阳光托老所"},
    {"amenity": "nursing_home", "name": "儿童福利院"},
    {"amenity": "nursing_home", "name": "养老服务驿站"},
    {"amenity": "hospital", "name": "瑞鹏宠物医院"},
    {"amenity": "hospital", "name": "美莱医疗美容医院"},
    {"amenity": "hospital", "name": "鼓楼医院门诊楼"},
]


def _without(cat, kind: str, i):
    if kind == "grammar":
        return replace(cat, grammar=cat.grammar[:i] + cat.grammar[i + 1:])
    if kind == "exclude":
        return replace(cat, exclude=cat.exclude[:i] + cat.exclude[i + 1:])
    return replace(cat, exclude_names=tuple(n for n in cat.exclude_names if n != i))


def exclusion_rules(cfg):
    """(category, rule kind, rule text, the category without it) of every name and tag exclusion."""
    for cat in cfg.categories:
        for i, r in enumerate(cat.grammar):
            if not r.counts and r.match:  # the catch-all ("listed, not judged") is tested apart
                yield cat, "grammar", r.why, _without(cat, "grammar", i)
        for i, r in enumerate(cat.exclude):
            yield cat, "exclude", _rule_text(r), _without(cat, "exclude", i)
        for n in cat.exclude_names:
            yield cat, "exclude_names", f"name contains {n}", _without(cat, "exclude_names", n)


@pytest.fixture(scope="module")
def objects(bundled_osm):
    """Every object's tags: the corpus's, the bundled extract's and the written ones, folded once."""
    tags = [t for folder in evaluate.SETS.values() for src in evaluate.sources(folder)
            for t in evaluate.load(src["city"], folder)[0]["tags"]]
    tags += list(lifecircle.read_osm(bundled_osm).features["tags"]) + WRITTEN
    return [(t, folded_name(t), name_heads(t)) for t in tags]


def test_every_name_and_tag_exclusion_decides_a_case(objects):
    cfg = evaluate.config()
    rules = list(exclusion_rules(cfg))
    assert len(rules) > 50
    idle = []
    for cat, kind, text, without in rules:
        decided = [(t, n, h) for t, n, h in objects
                   if (v := cat.judge(t, n, h)) is not None and not v.counted and v.rule == text]
        flips = [t for t, n, h in decided if (w := without.judge(t, n, h)) is not None and w.counted]
        if not flips:
            idle.append((cat.key, kind, text))
    assert not idle, idle


def test_the_written_cases_are_each_kept_out_by_one_rule():
    """Each written object is kept out, and counts once its rule is gone (no case is decided twice)."""
    cfg = evaluate.config()
    rules = list(exclusion_rules(cfg))
    for tags in WRITTEN:
        name, heads = folded_name(tags), name_heads(tags)
        verdicts = [(cat.key, text, without.judge(tags, name, heads)) for cat, _, text, without in rules
                    if (v := cat.judge(tags, name, heads)) is not None and v.rule == text and not v.counted]
        assert verdicts, tags
        assert any(w is not None and w.counted for _, _, w in verdicts), tags


def test_a_general_hospital_is_listed_not_judged():
    cfg = evaluate.config()
    hc = cfg.category("health_centre")
    v = hc.judge({"amenity": "hospital", "name": "江苏省人民医院"})
    assert v is not None and not v.counted and v.reason == "not_judged"
    assert hc.judge({"amenity": "hospital", "name": "鼓楼区宁海路社区卫生服务中心"}).counted
    assert hc.judge({"amenity": "clinic", "name": "湖熟街道卫生院"}).counted
    # the catch-all is what lists it: without it, the hospital would count as a health centre
    i = next(i for i, r in enumerate(hc.grammar) if r.pattern.search(""))
    assert _without(hc, "grammar", i).judge({"amenity": "hospital", "name": "江苏省人民医院"}).counted


def test_tags_and_names_must_not_contradict():
    cfg = evaluate.config()
    school = cfg.category("school")
    # a restaurant whose name ends in 小学校 is no school
    v = school.judge({"amenity": "restaurant", "name": "小学校食堂餐厅小学校"})
    assert v is not None and not v.counted and v.reason == "tag_conflict"
    assert school.judge({"building": "school", "name": "海淀实验小学"}).counted  # building=school, by name
    # a community hospital tagged healthcare=clinic;doctor;pharmacy is no pharmacy
    assert cfg.category("pharmacy").judge({"healthcare": "clinic;doctor;pharmacy", "name": "社区医院"}) is None
    # a bank branch known by its name alone is read (no amenity=bank)
    bank = cfg.category("bank").judge({"name": "中国建设银行北京中关村支行"})
    assert bank.counted and bank.reason == "name"
    assert cfg.category("sports").judge({"leisure": "fitness_centre", "name": "海淀区全民健身中心"}).counted


# ---------------------------------------------------------------- rules of context


def _register(features, cfg=None):
    cfg = cfg or evaluate.config()
    return classify(features, cfg, local_utm(shapely.box(*features.total_bounds)))


def _rows(reg, key):
    return reg[reg["category"] == key]


@pytest.fixture(scope="module")
def corpus_cities():
    return {src["city"]: evaluate.load(src["city"]) for src in evaluate.sources()}


def _classify_city(city_data, cfg):
    feats, _, extent = city_data
    return classify(feats, cfg, local_utm(shapely.box(*feats.total_bounds)), extent)


def test_public_only_keeps_campus_grounds_out(corpus_cities):
    """University-district sports grounds: counted without the rule, not with it (labelled not public)."""
    cfg = evaluate.config()
    sports = cfg.category("sports")
    open_all = replace(cfg, categories=tuple(replace(c, public_only=False) if c.key == "sports" else c
                                             for c in cfg.categories))
    with_rule = _rows(_classify_city(corpus_cities["beijing_wudaokou"], cfg), "sports")
    without = _rows(_classify_city(corpus_cities["beijing_wudaokou"], open_all), "sports")
    kept_out = set(with_rule.loc[with_rule["reason"] == "not_public", "poi_id"])
    assert len(kept_out) >= 10 and sports.public_only
    # the rule alone keeps most out (others are parts of a ground kept out with it)
    assert len(kept_out & set(without.loc[without["counted"], "poi_id"])) >= 10
    labels = corpus_cities["beijing_wudaokou"][1]
    assert all(labels[p]["label"] == "none" for p in kept_out)


def test_hospital_parts_are_not_clinics(corpus_cities):
    """A doctors' node and a dispensary inside 臺中榮民總醫院's real outline: parts of the hospital."""
    feats, _, _ = corpus_cities["taichung"]
    hospital = feats[feats["tags"].map(lambda t: t.get("amenity") == "hospital") & feats.geom_type.isin(
        ["Polygon", "MultiPolygon"])].iloc[:1]
    at = hospital.geometry.iloc[0].representative_point()
    parts = gpd.GeoDataFrame({"osm_type": "node", "osm_id": [1, 2], "name": ["家庭醫學科診所", "門診藥局"],
                              "tags": [{"amenity": "doctors", "name": "家庭醫學科診所"},
                                       {"amenity": "pharmacy", "name": "藥局"}], "clipped": False},
                             geometry=[at, at], crs=feats.crs)
    both = gpd.GeoDataFrame(pd.concat([hospital, parts], ignore_index=True), crs=feats.crs)
    cfg = evaluate.config()
    reg = _register(both, cfg)
    for pid, key in (("node/1", "clinic"), ("node/2", "pharmacy")):
        row = reg[(reg["poi_id"] == pid) & (reg["category"] == key)]
        assert row["reason"].iloc[0] == "part_of" and "hospital" in row["rule"].iloc[0], key
    no_part = replace(cfg, categories=tuple(replace(c, part_of=()) for c in cfg.categories))
    again = _register(both, no_part)
    assert again.loc[again["poi_id"] == "node/2", "counted"].all()  # the dispensary would count
    assert _register(parts, cfg).set_index("poi_id").loc[["node/1", "node/2"], "counted"].all()


def test_parks_below_the_standards_minimum_are_kept_out(corpus_cities):
    cfg = evaluate.config()
    reg = _classify_city(corpus_cities["taichung"], cfg)
    small = _rows(reg, "park")[lambda r: r["reason"] == "too_small"]
    assert len(small) >= 5 and (small["area_m2"].dropna() < 4000).all()
    any_size = replace(cfg, categories=tuple(replace(c, min_area_m2=float("nan")) for c in cfg.categories))
    again = _rows(_classify_city(corpus_cities["taichung"], any_size), "park").set_index("poi_id")
    named = small[small["name"].str.len() > 0]
    assert again.loc[named["poi_id"], "counted"].all()


def test_a_cut_campus_is_closed_on_the_side_of_its_buildings(corpus_cities):
    """東海大學's outline is cut by the Taichung extract (nodes of it missing well inside the
    data): closed by chords it holds nothing; closed on its buildings' side it holds its pitches."""
    from lifecircle.facilities import context

    feats, labels, extent = corpus_cities["taichung"]
    cfg = evaluate.config()
    crs = local_utm(shapely.box(*feats.total_bounds))
    boxes = context.containers(feats, cfg, crs, extent)
    campus = boxes[boxes["container_id"] == "way/347094469"]
    assert len(campus) == 1 and campus["area_m2"].iloc[0] > 100_000
    pitch = feats[(feats["osm_type"] == "way") & (feats["osm_id"] == 227106500)].to_crs(crs)  # 下籃球場
    assert campus.geometry.iloc[0].contains(pitch.geometry.iloc[0].representative_point())
    assert labels["way/227106500"]["label"] == "none"
    chords = lifecircle.core.areas.close_runs(feats.to_crs(crs).loc[
        (feats["osm_type"] == "way") & (feats["osm_id"] == 347094469), "geometry"].iloc[0])[0]
    assert not chords.contains(pitch.geometry.iloc[0].representative_point())


def _square(x, y, half):
    return shapely.box(x - half, y - half, x + half, y + half)


@pytest.mark.parametrize("kind, tags", [
    ("military", {"landuse": "military"}), ("prison", {"amenity": "prison"}),
    ("industrial", {"landuse": "industrial"}), ("private", {"landuse": "residential", "access": "private"}),
    ("hospital", {"amenity": "hospital", "name": "仁济医院"}), ("campus", {"amenity": "university", "name": "X大学"}),
    ("school", {"amenity": "school", "name": "X中学"}),
])
def test_each_non_public_kind_keeps_a_pitch_out(bundled_osm, kind, tags):
    """A real pitch of the bundled extract, inside an area of each non-public kind drawn around it:
    not public, naming the kind; the same pitch without the area counts."""
    osm = lifecircle.read_osm(bundled_osm)
    feats = osm.features
    pitch = feats[feats["tags"].map(lambda t: t.get("leisure") == "pitch")
                  & feats.geom_type.isin(["Polygon", "MultiPolygon"])].iloc[:1]
    c = pitch.geometry.iloc[0].centroid
    around = gpd.GeoDataFrame({"osm_type": ["way"], "osm_id": [1], "name": [tags.get("name", "")], "tags": [tags],
                               "clipped": [False]}, geometry=[_square(c.x, c.y, 0.01)], crs=feats.crs)
    both = pd.concat([pitch, around], ignore_index=True)
    reg = _rows(_register(gpd.GeoDataFrame(both, crs=feats.crs)), "sports")
    row = reg[reg["poi_id"] == pitch["osm_type"].iloc[0] + "/" + str(pitch["osm_id"].iloc[0])]
    assert not row["counted"].iloc[0] and row["reason"].iloc[0] == "not_public"
    assert evaluate.config().within[kind].label_en in row["rule"].iloc[0]
    alone = _rows(_register(pitch), "sports")
    assert alone["counted"].iloc[0]


def test_an_institutions_point_inside_a_ground_makes_it_the_institutions(corpus_cities):
    """人民中学's node lies inside a track (Nanjing): the track is the school's."""
    reg = _classify_city(corpus_cities["nanjing"], evaluate.config())
    row = reg[(reg["poi_id"] == "relation/2598326") & (reg["category"] == "sports")]
    assert not row["counted"].iloc[0] and "node/1058331313" in row["rule"].iloc[0]


def test_own_tags_and_operators_make_a_facility_an_institutions(corpus_cities):
    reg = _classify_city(corpus_cities["taichung"], evaluate.config())
    pool = reg[(reg["poi_id"] == "way/367197981") & (reg["category"] == "sports")]  # operator=東海大學體育室
    assert not pool["counted"].iloc[0] and "operator=" in pool["rule"].iloc[0] or "campus" in pool["rule"].iloc[0]
    hall = reg[(reg["poi_id"] == "way/227106503") & (reg["category"] == "sports")]  # building=university
    assert not hall["counted"].iloc[0]


def test_gardens_of_sports_grounds_are_their_landscaping(corpus_cities):
    """Gardens inside the Universiade sports centre (Shenzhen): attached green space, not parks."""
    cfg = evaluate.config()
    reg = _rows(_classify_city(corpus_cities["shenzhen"], cfg), "park")
    parts = reg[(reg["reason"] == "part_of")]
    assert len(parts) >= 5
    labels = corpus_cities["shenzhen"][1]
    assert all(labels[p]["label"] == "none" for p in parts["poi_id"])
    park = cfg.category("park")
    no_part = replace(cfg, categories=tuple(replace(c, part_of=()) if c.key == "park" else c
                                            for c in cfg.categories))
    again = _rows(_classify_city(corpus_cities["shenzhen"], no_part), "park").set_index("poi_id")
    assert park.part_of == ("grounds",) and again.loc[parts["poi_id"], "counted"].any()


def test_the_primary_division_inside_a_secondary_school_counts(corpus_cities):
    """東海大學附屬高級中等學校小學部 inside 東海大學附屬高中: its own name decides."""
    reg = _classify_city(corpus_cities["taichung"], evaluate.config())
    row = reg[(reg["poi_id"] == "way/367700955") & (reg["category"] == "school")]
    assert row["counted"].iloc[0]
    high = reg[(reg["poi_id"] == "way/367700953") & (reg["category"] == "school")]
    assert not high["counted"].iloc[0] and "secondary" in high["rule"].iloc[0]
    assert np.isfinite(row["area_m2"].iloc[0])

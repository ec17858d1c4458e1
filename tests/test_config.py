"""Tests for lifecircle.config: presets, levels, TOML overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import lifecircle
from lifecircle.config import load_config
from lifecircle.errors import ConfigError

PRESETS = Path(lifecircle.__file__).resolve().parent / "presets.toml"


@pytest.fixture(scope="module")
def raw():
    with open(PRESETS, "rb") as f:
        return tomllib.load(f)


def write(tmp_path, text) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_levels_include_lower_levels(raw):
    k5 = load_config(level="5min").keys
    k10 = load_config(level="10min").keys
    k15 = load_config(level="15min").keys
    assert set(k5) < set(k10) < set(k15)
    assert k10[: len(k5)] == k5 and k15[: len(k10)] == k10
    # exactly the categories the preset file lists, level by level
    lv = raw["levels"]
    assert k5 == lv["5min"]["categories"]
    assert k10 == lv["5min"]["categories"] + lv["10min"]["categories"]
    assert k15 == k10 + lv["15min"]["categories"]
    assert len(set(k15)) == len(k15)


def test_default_level_is_10min():
    cfg = load_config()
    assert cfg.level == "10min" and cfg.mode == "standard"
    assert cfg.keys == load_config(level="10min").keys
    assert set(cfg.keys) == {"canteen", "school", "clinic", "bank", "market", "pharmacy", "park", "sports"}


@pytest.mark.parametrize("level,minutes,metres", [("5min", 5, 300), ("10min", 10, 500), ("15min", 15, 1000)])
def test_thresholds(level, minutes, metres):
    t = load_config(level=level, mode="time")
    assert t.minutes == minutes
    assert t.threshold_m == pytest.approx(minutes * 4.5 * 1000 / 60)
    assert set(t.limits_m.values()) == {t.threshold_m}
    d = load_config(level=level, mode="distance")
    assert d.threshold_m == metres
    assert set(d.limits_m.values()) == {metres}
    assert d.keys == t.keys == load_config(level=level).keys


def test_standard_basis_judges_each_category_at_its_tier(raw):
    """GB 50180-2018 表3.0.4: 5-minute tier 300 m, 10-minute 500 m, 15-minute 1000 m;
    each built-in category at its own tier's distance, whatever the level."""
    tier_m = {"5min": 300.0, "10min": 500.0, "15min": 1000.0}
    assert {k: v["distance_m"] for k, v in raw["levels"].items()} == tier_m
    for level in ("5min", "10min", "15min"):
        cfg = load_config(level=level)
        assert cfg.mode == "standard"
        for key in cfg.keys:
            spec = raw["categories"][key]
            assert cfg.limit_m(key) == tier_m[spec["tier"]], (level, key)
            assert "GB 50180-2018" in spec["clause"], key
    cfg = load_config(level="15min")
    # the standard's own examples: canteen and pharmacy 5-minute, primary school 10-minute
    assert (cfg.limit_m("canteen"), cfg.limit_m("pharmacy"), cfg.limit_m("school")) == (300, 300, 500)
    assert cfg.limit_m("health_centre") == 1000 and cfg.threshold_m == 1000
    # every built-in category, in a level or not, cites its clause and has a tier
    for key, spec in raw["categories"].items():
        assert spec["tier"] in tier_m and spec["clause"].startswith("GB 50180-2018"), key
    # a category's level is its tier: the levels list exactly the categories of that tier
    for level, spec in raw["levels"].items():
        assert all(raw["categories"][k]["tier"] == level for k in spec["categories"]), level


def test_toml_per_category_distance_and_tier(tmp_path):
    cfg = load_config(write(tmp_path, '[categories.school]\ndistance_m = 420\n[categories.bank]\ntier = "5min"\n'))
    assert cfg.limit_m("school") == 420
    assert cfg.limit_m("bank") == 300
    assert cfg.limit_m("market") == 500
    assert cfg.threshold_m == 500
    # a new category without a tier is judged at the run's level
    text = 'use = ["stop"]\n[categories.stop]\ntags = { highway = ["bus_stop"] }\n'
    assert load_config(write(tmp_path, text), level="15min").limit_m("stop") == 1000
    assert load_config(write(tmp_path, text)).tag_keys == {"highway"}


def test_min_share(tmp_path):
    assert load_config().min_share == 0.5
    assert load_config(min_share=0.8).min_share == 0.8
    assert load_config(write(tmp_path, "min_share = 1\n")).min_share == 1.0
    for bad in ("0", "1.5", "inf", "nan", '"half"'):
        with pytest.raises(ConfigError, match="min_share"):
            load_config(write(tmp_path, f"min_share = {bad}\n"))


def test_toml_overrides_minutes_and_speed(tmp_path):
    cfg = load_config(write(tmp_path, "minutes = 12\nspeed_kmh = 5.0\n"))
    assert cfg.minutes == 12
    assert cfg.metres_per_minute == pytest.approx(5000 / 60)
    assert cfg.threshold_m == pytest.approx(1000.0)
    # keyword arguments (CLI options) win over the file
    cfg = load_config(write(tmp_path, "minutes = 12\nspeed_kmh = 5.0\n"), minutes=6)
    assert cfg.threshold_m == pytest.approx(500.0)
    assert cfg.mode == "time"  # minutes without a mode mean a uniform walk


def test_toml_distance_mode_and_level(tmp_path):
    cfg = load_config(write(tmp_path, 'level = "15min"\nmode = "distance"\n'))
    assert cfg.level == "15min" and cfg.threshold_m == 1000
    cfg = load_config(write(tmp_path, 'mode = "distance"\ndistance_m = 420\n'))
    assert cfg.threshold_m == 420


def test_toml_overrides_category_tags(tmp_path, raw):
    cfg = load_config(write(tmp_path, '[categories.bank]\ntags = { amenity = ["bank", "atm"] }\n'))
    bank = cfg.category("bank")
    assert bank.matches({"amenity": "atm"})
    assert bank.matches({"amenity": "bank"})
    assert not load_config().category("bank").matches({"amenity": "atm"})
    # fields not overridden keep the preset's
    assert bank.label_en == raw["categories"]["bank"]["label_en"]
    assert bank.color == raw["categories"]["bank"]["color"]


def test_toml_new_category_and_use(tmp_path):
    text = (
        'use = ["bakery", "park"]\n\n'
        '[categories.bakery]\nlabel_en = "Bakery"\ntags = { shop = "bakery" }\nnames = ["Leipomo"]\n'
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.keys == ["bakery", "park"]
    assert cfg.explicit == {"bakery", "park"}
    b = cfg.category("bakery")
    assert b.matches({"shop": "bakery"})
    assert b.matches({"building": "yes", "name": "Kotileipomo Oy"})  # name, any case
    assert not b.matches({"building": "yes", "name": "K-Market"})
    # a tag saying it is something else: a name does not make it one
    assert not b.matches({"shop": "convenience", "name": "Kotileipomo Oy"})
    assert b.judge({"shop": "convenience", "name": "Kotileipomo Oy"}).reason == "tag_conflict"
    # the --category option replaces the file's list
    assert load_config(write(tmp_path, text), categories=["school"]).keys == ["school"]


def test_wildcard_tag_value(tmp_path):
    cfg = load_config(write(tmp_path, 'use = ["any_shop"]\n[categories.any_shop]\ntags = { shop = "*" }\n'))
    c = cfg.category("any_shop")
    assert c.matches({"shop": "whatever"})
    assert not c.matches({"amenity": "shop"})


def test_presets_match_the_file(raw):
    cfg = load_config(level="15min")
    for cat in cfg.categories:
        spec = raw["categories"][cat.key]
        for key, values in spec["tags"].items():
            values = [values] if isinstance(values, str) else values
            for v in values:
                # every preset tag puts an object forward (its name's grammar may still keep it out)
                assert cat.judge({key: v}) is not None, (cat.key, key, v)
        assert cat.label_zh == spec["label_zh"]
    assert not cfg.category("pharmacy").matches({"amenity": "school"})


@pytest.mark.parametrize("text,word", [
    ('use = ["nope"]\n', "nope"),
    ('use = ["nope"]\n[categories.nope]\nlabel_en = "Nope"\n', "nope"),
    ("[categories.nope]\nlabel_en = \"Nope\"\n", "nope"),
    ("minutes = -3\n", "minutes"),
    ("minutes = inf\n", "minutes"),
    ("[categories.school]\ndistance_m = nan\n", "distance_m"),
    ('[categories.school]\ntier = "3min"\n', "3min"),
    ('[categories.school]\nrules = 3\n', "rules"),
    ('minutes = "ten"\n', "minutes"),
    ("speed_kmh = 0\n", "speed_kmh"),
    ('mode = "bicycle"\n', "mode"),
    ('level = "20min"\n', "20min"),
    ("colour = 3\n", "colour"),
    ("use = []\n", "no categories"),
    ("minutes = = 3\n", "TOML"),
    ('[categories.bank]\ntags = { amenity = 3 }\n', "bank"),
])
def test_bad_config(tmp_path, text, word):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    msg = str(exc.value)
    assert word in msg
    assert "\n" not in msg


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.toml")


def test_a_config_nested_thousands_deep_is_one_line(tmp_path):
    """tomllib recurses per level: 5,000 nested arrays used to end in a RecursionError traceback."""
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(RecursionError):
        tomllib.loads(path.read_text(encoding="utf-8"))  # what the reader meets
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value) == f"config file {path} nests arrays or tables too deeply to be a configuration"
    # a sane nesting still reads
    path.write_text("a = [[1, 2], [3]]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown"):
        load_config(path)

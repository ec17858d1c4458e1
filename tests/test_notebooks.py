"""The example notebooks run top to bottom, offline, and print the right numbers.

Each notebook in ``notebooks/`` is executed once with nbclient (kernel
``python3``) in a temporary working directory, with HTTP(S) proxies pointed
at a closed port so that any download attempt fails. Its last cell prints a
JSON summary; the tests compare every number in it with the same number
computed here: by a separate run of the library, against the GB 50180-2018
tier distances written out below (not read from the presets), with the
coverage rule applied here to that run's shares, and, for the custom
categories, by sorting the OSM features into categories with code of the
test's own rather than the library's matcher.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402

import lifecircle  # noqa: E402
from lifecircle import Category  # noqa: E402
from lifecircle.errors import ConfigError  # noqa: E402

# one worker runs every test here, so that each notebook runs once (pytest -n 2 --dist loadgroup)
pytestmark = pytest.mark.xdist_group("notebooks")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["01_quickstart", "02_custom_categories", "03_compare_levels", "04_what_if"]
KERNEL = "python3"
#: Each notebook must run in under this many seconds (kernel start included).
TIME_LIMIT_S = 60.0
#: Nothing listens here: a download attempted through the proxy fails at once.
DEAD_PROXY = "http://127.0.0.1:9"

#: GB 50180-2018 表3.0.4: the walking distance (m) of each life-circle tier.
TIER_M = {"5min": 300.0, "10min": 500.0, "15min": 1000.0}
#: The tier of each built-in category (GB 50180-2018 附录B; README, "What the numbers mean").
TIERS = {
    "canteen": "5min", "clinic": "5min", "pharmacy": "5min", "park": "5min", "sports": "5min",
    "school": "10min", "bank": "10min", "market": "10min",
    "hospital": "15min", "health_centre": "15min", "culture": "15min", "elderly_care": "15min",
}
#: The default coverage rule: covered when at least half of the homes are within reach.
MIN_SHARE = 0.5
#: Walking speed of the time basis, metres per minute (4.5 km/h).
M_PER_MIN = 4.5 * 1000 / 60


# --------------------------------------------------------------------------
# running notebooks


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory):
    """The ``python3`` kernel; installed into a temporary prefix if missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL in KernelSpecManager().find_kernel_specs():
        yield KERNEL
        return
    prefix = tmp_path_factory.mktemp("kernels")
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", KERNEL],
                   check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        assert KERNEL in KernelSpecManager().find_kernel_specs()
        yield KERNEL


class Executed:
    """An executed notebook: its cells, run time and final JSON summary."""

    def __init__(self, nb, seconds: float, workdir: Path):
        self.nb = nb
        self.seconds = seconds
        self.workdir = workdir
        self.code_cells = [c for c in nb.cells if c.cell_type == "code"]
        self.summary = json.loads(self.stdout(self.code_cells[-1]))

    @staticmethod
    def stdout(cell) -> str:
        return "".join(o.get("text", "") for o in cell.outputs
                       if o.output_type == "stream" and o.get("name") == "stdout")

    def outputs_of(self, snippet: str) -> list:
        """Outputs of the code cell whose source contains ``snippet``."""
        cells = [c for c in self.code_cells if snippet in c.source]
        assert len(cells) == 1, f"expected one cell containing {snippet!r}, found {len(cells)}"
        return cells[0].outputs

    def images(self) -> int:
        return sum("image/png" in o.get("data", {}) for c in self.code_cells for o in c.outputs)


def execute(name: str, workdir: Path, kernel: str) -> Executed:
    """Run ``notebooks/<name>.ipynb`` in ``workdir``; raise on any cell error."""
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(workdir)}},
    )
    with pytest.MonkeyPatch.context() as mp:
        # The kernel inherits this environment: temporary files stay under
        # pytest's folder and any HTTP(S) request goes to a dead proxy.
        mp.setenv("TMPDIR", str(tmp))
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            mp.setenv(var, DEAD_PROXY)
        for var in ("NO_PROXY", "no_proxy"):
            mp.delenv(var, raising=False)
        mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    return Executed(nb, seconds, workdir)


@pytest.fixture(scope="module")
def run_notebook(kernel_name, tmp_path_factory):
    cache: dict[str, Executed] = {}

    def run(name: str) -> Executed:
        if name not in cache:
            cache[name] = execute(name, tmp_path_factory.mktemp(name), kernel_name)
        return cache[name]

    return run


@pytest.fixture(scope="session")
def osm(bundled_osm):
    """The bundled extract, read once for the reference runs."""
    return lifecircle.read_osm(bundled_osm)


# --------------------------------------------------------------------------
# every notebook


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saved_clean_with_python3_kernel(name):
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and nb.cells[0].cell_type == "markdown"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not cleared"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_top_to_bottom_quickly(run_notebook, name):
    ran = run_notebook(name)
    assert all(c.execution_count is not None for c in ran.code_cells)
    errors = [o for c in ran.code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert ran.seconds < TIME_LIMIT_S, f"{name} took {ran.seconds:.1f} s"



# --------------------------------------------------------------------------
# 01: quickstart


def _covered(cov: pd.DataFrame, key: str) -> pd.Series:
    """The coverage rule applied here: at least half of the homes (or area) within reach; NA for
    a category without data (no share at all: not judged)."""
    share = cov[f"share_{key}"]
    if share.isna().all():
        return pd.Series(pd.NA, index=cov.index, dtype="boolean")
    return share >= MIN_SHARE


def _mean(covered: pd.Series) -> float:
    """The share of communities covered (NaN for a category not judged)."""
    return float(covered.astype(float).mean())


def test_quickstart_basis_is_the_standard(run_notebook, analysis):
    s = run_notebook("01_quickstart").summary
    keys = analysis.config.keys
    assert s["level"] == analysis.config.level == "10min"
    assert s["mode"] == "standard" and s["min_share"] == MIN_SHARE
    # each category at its own GB 50180-2018 tier's distance
    assert s["tiers"] == {k: TIERS[k] for k in keys}
    assert s["limits_m"] == {k: TIER_M[TIERS[k]] for k in keys}
    assert s["threshold_m"] == max(TIER_M[TIERS[k]] for k in keys) == 500
    cov = analysis.coverage
    for k in keys:
        assert (cov[f"limit_m_{k}"] == TIER_M[TIERS[k]]).all()
    assert s["data_date"] == analysis.data_date and s["data_date"]

    # the notebook shows the basis table, clauses included
    shown = [o for o in run_notebook("01_quickstart").outputs_of("a.basis[") if "text/html" in o.get("data", {})]
    assert shown and "表B.0.2" in shown[0]["data"]["text/html"]


def test_quickstart_numbers_match_a_separate_run(run_notebook, analysis):
    s = run_notebook("01_quickstart").summary
    cov = analysis.coverage
    keys = analysis.config.keys
    assert s["n_communities"] == len(cov) > 0
    assert list(s["covered"]) == keys
    for k in keys:
        covered = _covered(cov, k)
        assert s["covered"][k] == int(covered.sum())
        assert s["covered_share"][k] == pytest.approx(_mean(covered), abs=1e-6, nan_ok=True)
        # the walk from the centre, judged at the same distance, is reported but does not decide
        assert s["centre_within"][k] == int((cov[f"metres_{k}"] <= TIER_M[TIERS[k]]).sum())
    complete = pd.concat([_covered(cov, k) for k in keys], axis=1).all(axis=1)
    assert s["complete"] == int(complete.sum()) == int(cov["complete"].sum())
    # the extract has no community canteen: not judged (no data), and no community is covered for it
    assert s["covered"]["canteen"] == 0 and analysis.no_data == ["canteen"]
    assert s["complete"] <= min(v for k, v in s["covered"].items() if k not in analysis.no_data)
    assert s["partial"] == int(cov["partial"].sum())
    assert s["name_source"] == {str(k): int(v) for k, v in cov["name_source"].value_counts().items()}
    assert sum(s["name_source"].values()) == len(cov)


def test_quickstart_nearest_facility_matches_a_separate_run(run_notebook, analysis):
    ex = run_notebook("01_quickstart").summary["example"]
    cov = analysis.coverage
    row = cov.loc[cov["n_buildings"].idxmax()]  # the notebook's example, chosen again
    assert ex["community_id"] == row["community_id"]
    pois = analysis.pois
    for k in analysis.config.keys:
        assert ex["nearest_id"][k] == row[f"nearest_id_{k}"]
        assert ex["nearest"][k] == row[f"nearest_{k}"]
        assert ex["share"][k] == (None if np.isnan(row[f"share_{k}"]) else pytest.approx(row[f"share_{k}"]))
        if row[f"nearest_id_{k}"]:
            facility = pois[(pois["poi_id"] == ex["nearest_id"][k]) & (pois["category"] == k)]
            assert len(facility) == 1 and facility["name"].iloc[0] == ex["nearest"][k]
            assert ex["metres"][k] == pytest.approx(row[f"metres_{k}"])
        else:
            assert ex["metres"][k] is None and math.isnan(row[f"metres_{k}"])
    assert ex["nearest_id"]["canteen"] == ""  # there is none


def test_quickstart_left_out_matches_a_separate_run(run_notebook, analysis):
    s = run_notebook("01_quickstart").summary
    expected = [[r.what, r.id, r.reason] for r in analysis.left_out.itertuples()]
    assert s["left_out"] == expected and expected


def test_quickstart_shows_the_map_and_saves_outputs(run_notebook, analysis):
    ran = run_notebook("01_quickstart")
    shown = [o for o in ran.outputs_of("a.map()") if "text/html" in o.get("data", {})]
    assert shown, "the map cell displayed no HTML"
    assert "leaflet" in shown[0]["data"]["text/html"].lower()

    s = ran.summary
    out = Path(s["out"])
    assert out.name == "out-notebook" and out.is_dir()
    assert out.resolve().is_relative_to((ran.workdir / "tmp").resolve())  # a temporary folder
    for name in ("coverage.csv", "lifecircle.gpkg", "map.html", "report.html", "left_out.csv", "basis.csv"):
        assert name in s["files"] and (out / name).is_file()
    assert "unsnapped.csv" not in s["files"]
    saved = pd.read_csv(out / "coverage.csv", dtype={"community_id": str})
    assert list(saved["community_id"]) == list(analysis.coverage["community_id"])
    assert int(saved["complete"].sum()) == s["complete"]
    basis = pd.read_csv(out / "basis.csv")
    keys = analysis.config.keys
    assert list(basis["category"]) == keys
    assert list(basis["tier"]) == [TIERS[k] for k in keys]
    assert list(basis["distance_m"]) == [TIER_M[TIERS[k]] for k in keys]
    left = pd.read_csv(out / "left_out.csv", dtype=str)
    assert list(left["id"]) == list(analysis.left_out["id"])


# --------------------------------------------------------------------------
# 02: custom categories

#: OSM name tags the name rules look at (as documented in presets.toml).
NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "name:zh-Hant", "name:en", "official_name", "brand")


def _values(v) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _holds(tags: dict, table: dict) -> bool:
    """Every condition of a tag table holds ("*" = any value)."""
    return all(k in tags and ("*" in _values(v) or tags[k] in _values(v)) for k, v in table.items())


def _matches(tags: dict, spec: dict) -> bool:
    """The category rule as documented in presets.toml, written out again.

    ``exclude`` tables and ``exclude_names`` keep an object out; else a name
    substring, any one ``tags`` filter or a whole ``rules`` table puts it in.
    """
    if any(_holds(tags, t) for t in spec.get("exclude", [])):
        return False
    text = " ".join(tags.get(k, "") for k in NAME_TAGS).casefold()
    if text.strip():
        if any(n.casefold() in text for n in spec.get("exclude_names", [])):
            return False
        if any(n.casefold() in text for n in spec.get("names", [])):
            return True
    return (any(_holds(tags, {k: v}) for k, v in spec.get("tags", {}).items())
            or any(_holds(tags, r) for r in spec.get("rules", [])))


def _ids(features: gpd.GeoDataFrame) -> pd.Series:
    return features["osm_type"] + "/" + features["osm_id"].astype(str)


def _facilities(osm, specs: dict[str, dict]) -> gpd.GeoDataFrame:
    """OSM features sorted into ``specs``' categories, as a user POI table."""
    f = osm.features
    parts = []
    for key, spec in specs.items():
        hit = f[[_matches(t, spec) for t in f["tags"]]]
        parts.append(gpd.GeoDataFrame({
            "poi_id": _ids(hit), "osm_type": hit["osm_type"],
            "osm_id": hit["osm_id"], "name": hit["name"].fillna("").astype(str), "category": key,
            "source": "user",
        }, geometry=hit.geometry.values, crs=f.crs))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=f.crs)


def _limit(spec: dict) -> float:
    """A custom category's distance: its own ``distance_m``, else its tier's."""
    return float(spec.get("distance_m", TIER_M[spec["tier"]]))


def _reference_run(osm, specs: dict[str, dict]):
    """The 10-minute presets plus ``specs``' categories, facilities supplied by this test.

    The added categories match no OSM feature themselves (no tags, no
    names); all their facilities come from :func:`_facilities`. Their
    distance comes from :data:`TIER_M`.
    """
    base = lifecircle.load_config(level="10min")
    blank = tuple(Category(key=k, label_zh=k, label_en=k, tags={}, tier=s["tier"], distance_m=_limit(s))
                  for k, s in specs.items())
    config = replace(base, categories=base.categories + blank)
    pois = _facilities(osm, specs)
    return lifecircle.analyze(osm, config=config, pois=pois, pois_mode="replace"), pois


def _check_run(run: dict, ref, pois, specs: dict[str, dict]) -> None:
    """A run of the notebook's summary against the reference run and sorting."""
    counts = pois["category"].value_counts()
    for k in specs:
        assert run["n_pois"][k] == counts.get(k, 0)
    keys = ref.config.keys
    assert run["keys"] == keys
    assert run["mode"] == "standard"
    assert run["limits_m"] == {**{k: TIER_M[TIERS[k]] for k in TIERS if k in keys},
                               **{k: _limit(s) for k, s in specs.items()}}
    assert run["tiers"] == {**{k: TIERS[k] for k in TIERS if k in keys}, **{k: s["tier"] for k, s in specs.items()}}
    assert {f"covered_{k}" for k in specs} <= set(run["columns"])
    cov = ref.coverage
    assert run["covered"] == {k: int(_covered(cov, k).sum()) for k in keys}
    assert run["complete"] == int(cov["complete"].sum())


@pytest.fixture(scope="module")
def custom_summary(run_notebook):
    return run_notebook("02_custom_categories").summary


@pytest.fixture(scope="module")
def toml_specs(custom_summary):
    """The notebook's two TOML categories, parsed with tomllib (not load_config)."""
    spec = tomllib.loads(Path(custom_summary["toml_path"]).read_text("utf-8"))
    cats = spec["categories"]
    assert set(cats) == {"service_station", "senior_daycare"}
    station, daycare = cats["service_station"], cats["senior_daycare"]
    assert station["label_zh"] == "红色驿站"
    # both use the new fields: a tier, names with exclusions, an AND rule
    assert station["tier"] == daycare["tier"] == "5min"
    assert "驿站" in station["names"] and "菜鸟驿站" in station["exclude_names"] and station["exclude"]
    assert daycare["exclude_names"] and len(daycare["rules"]) == 1
    assert {"amenity", "social_facility", "social_facility:for"} <= set(daycare["rules"][0])
    return {k: cats[k] for k in ("service_station", "senior_daycare")}


def test_custom_default_run_matches(custom_summary, analysis):
    d = custom_summary["runs"]["default"]
    cov = analysis.coverage
    keys = analysis.config.keys
    assert custom_summary["n_communities"] == len(cov)
    assert d["keys"] == keys and d["mode"] == "standard"
    assert d["limits_m"] == {k: TIER_M[TIERS[k]] for k in keys}
    assert d["complete"] == int(cov["complete"].sum())
    assert d["covered"] == {k: int(_covered(cov, k).sum()) for k in keys}


def test_custom_toml_categories_match_independent_sorting(custom_summary, toml_specs, osm):
    run = custom_summary["runs"]["toml"]
    assert run["level"] == "10min_plus"
    ref, pois = _reference_run(osm, toml_specs)
    assert (pois["category"] == "service_station").sum() > 0  # the comparison is not vacuous
    _check_run(run, ref, pois, toml_specs)


def test_custom_daycare_rule_keeps_other_day_care_out(custom_summary, toml_specs, osm):
    """As an AND rule the senior day care matches nothing here; as alternatives, other day care."""
    shown = custom_summary["senior_daycare_matches"]
    f = osm.features
    daycare = toml_specs["senior_daycare"]
    loose = {**daycare, "rules": [],
             "tags": {"social_facility": ["day_care"], "social_facility:for": ["senior", "elderly"]}}
    strict_ids = list(_ids(f[[_matches(t, daycare) for t in f["tags"]]]))
    loose_hits = f[[_matches(t, loose) for t in f["tags"]]]
    assert shown["rules"] == strict_ids == []
    assert sorted(shown["tags"]) == sorted(_ids(loose_hits)) and shown["tags"]
    assert all(t.get("social_facility:for") not in ("senior", "elderly") for t in loose_hits["tags"])


def test_custom_category_on_an_unread_key_is_an_error(custom_summary, osm):
    assert custom_summary["unread_error"] == "ConfigError"
    assert custom_summary["extra_keys_read"] == ["highway"]
    assert "highway" not in osm.feature_keys
    bus = Category(key="bus_stop", label_zh="公交车站", label_en="Bus stop", tags={"highway": ("bus_stop",)},
                   tier="10min", distance_m=500.0)
    config = replace(lifecircle.load_config(level="10min"), categories=(bus,))
    with pytest.raises(ConfigError, match="highway"):
        lifecircle.analyze(osm, config=config)


def test_custom_python_categories_match_independent_sorting(custom_summary, toml_specs, bundled_osm):
    run = custom_summary["runs"]["python"]
    specs = {
        # the notebook's Python changes: stations judged at the 10-minute distance ...
        "service_station": {**toml_specs["service_station"], "tier": "10min", "distance_m": 500.0},
        "senior_daycare": toml_specs["senior_daycare"],
        # ... and bus stops, on a key read only when asked for
        "bus_stop": {"tags": {"highway": ["bus_stop"]}, "tier": "10min", "distance_m": 500.0},
    }
    osm_highway = lifecircle.read_osm(bundled_osm, keys=["highway"])
    ref, pois = _reference_run(osm_highway, specs)
    counts = pois["category"].value_counts()
    assert counts.get("service_station", 0) > 0 and counts.get("bus_stop", 0) > 0
    _check_run(run, ref, pois, specs)
    # a longer distance over the same facilities covers no fewer communities
    assert run["covered"]["service_station"] >= custom_summary["runs"]["toml"]["covered"]["service_station"]


# --------------------------------------------------------------------------
# 03: levels and bases


@pytest.fixture(scope="module")
def levels_summary(run_notebook):
    return run_notebook("03_compare_levels").summary


@pytest.fixture(scope="module")
def reference_runs(osm):
    """Separate runs of the library, one per (basis, level), made on demand."""
    cache = {}

    def run(mode: str, level: str):
        if (mode, level) not in cache:
            cache[mode, level] = lifecircle.analyze(osm, config=lifecircle.load_config(level=level, mode=mode))
        return cache[mode, level]

    return run


LEVELS = ["5min", "10min", "15min"]
BASES = ["standard", "time", "distance"]
MINUTES = {"5min": 5, "10min": 10, "15min": 15}
METRES = {"5min": 300, "10min": 500, "15min": 1000}  # GB 50180-2018 表3.0.4


def _expected_limit(mode: str, level: str, key: str) -> float:
    if mode == "standard":
        return TIER_M[TIERS[key]]
    if mode == "time":
        return MINUTES[level] * M_PER_MIN
    return METRES[level]


@pytest.mark.parametrize("mode", BASES)
@pytest.mark.parametrize("level", LEVELS)
def test_levels_match_separate_runs(levels_summary, reference_runs, level, mode):
    s = levels_summary[mode][level]
    ref = reference_runs(mode, level)
    cov = ref.coverage
    keys = ref.config.keys
    assert levels_summary["n_communities"] == len(cov)
    assert s["keys"] == keys
    expected = {k: _expected_limit(mode, level, k) for k in keys}
    assert s["limits_m"] == pytest.approx(expected)
    assert s["threshold_m"] == pytest.approx(max(expected.values()))
    for k in keys:
        assert cov[f"limit_m_{k}"].to_numpy() == pytest.approx(expected[k])
    assert s["complete"] == int(cov["complete"].sum())
    assert s["covered"] == {k: int(_covered(cov, k).sum()) for k in keys}
    for k in keys:
        assert s["covered_share"][k] == pytest.approx(_mean(_covered(cov, k)), abs=1e-6, nan_ok=True)


def test_standard_verdicts_do_not_depend_on_the_level(levels_summary, reference_runs):
    assert levels_summary["same_verdict"] is True
    top = reference_runs("standard", "15min").coverage
    for level in LEVELS[:-1]:
        cov = reference_runs("standard", level).coverage
        assert list(cov["community_id"]) == list(top["community_id"])
        for k in reference_runs("standard", level).config.keys:
            assert list(_covered(cov, k)) == list(_covered(top, k)), (level, k)
            assert levels_summary["standard"][level]["covered"][k] == levels_summary["standard"]["15min"]["covered"][k]


def test_levels_nest_and_bases_are_ordered(levels_summary):
    s = levels_summary
    assert s["nested"] is True
    for mode in BASES:
        for lo, hi in pairwise(LEVELS):
            assert set(s[mode][lo]["keys"]) < set(s[mode][hi]["keys"])
    for level in LEVELS:
        keys = s["standard"][level]["keys"]
        assert s["time"][level]["keys"] == s["distance"][level]["keys"] == keys
        for k in keys:
            # standard <= distance <= time: a longer distance over the same streets covers no fewer
            std, dist, tim = (s[m][level]["limits_m"][k] for m in ("standard", "distance", "time"))
            assert std <= dist < tim
            covered = [s[m][level]["covered"][k] for m in ("standard", "distance", "time")]
            assert covered == sorted(covered)
    # at the 5-minute level the standard and the distance basis are the same (300 m)
    assert s["standard"]["5min"]["covered"] == s["distance"]["5min"]["covered"]


def test_levels_draws_charts(run_notebook):
    assert run_notebook("03_compare_levels").images() >= 2


# --------------------------------------------------------------------------
# 04: what-if and where to build


def test_what_if_story(run_notebook, analysis):
    """The gaps, the new canteen, the walkway and the suggested sites, against a separate
    run here: the target community chosen by the rule applied to the shares, the what-ifs
    redone, and the suggestion's promise kept by its own what-if."""
    s = run_notebook("04_what_if").summary
    cov = analysis.coverage
    covered = _covered(cov, "canteen")
    assert s["communities"] == len(cov)
    assert s["canteen_covered_before"] == int(covered.sum())
    lacking = cov[~covered.fillna(False).astype(bool)].sort_values(["residents", "community_id"],
                                                                 ascending=[False, True])
    assert s["canteen_target"] == lacking["community_id"].iloc[0]
    # a canteen at the target's centre covers it (and perhaps neighbours)
    assert s["canteen_covered_after"] >= s["canteen_covered_before"] + 1
    centre = analysis.communities.set_index("community_id").loc[[s["canteen_target"]]].representative_point()
    canteen = gpd.GeoDataFrame({"change": ["add_facility"], "category": ["canteen"], "name": ["x"]},
                               geometry=centre.to_crs("EPSG:4326").values, crs="EPSG:4326")
    again = analysis.what_if(canteen)
    assert again.after.coverage.set_index("community_id").loc[s["canteen_target"], "covered_canteen"]
    newly = again.table.query("category == 'canteen'")["residents_newly_within"].sum()
    assert s["canteen_newly_within"] == pytest.approx(newly) and newly > 0
    # the walkway shortens some walks; the suggested sites bring what they promise
    assert s["walkway_shorter_walks"] > 0
    sites = analysis.suggest("canteen", 3).sites
    assert s["suggested_sites"] == list(sites["site_id"])
    assert s["suggested_residents"] == pytest.approx(sites["residents_gained"].sum())
    # per-row rounding to 0.1 resident on either side
    assert s["what_if_residents"] == pytest.approx(s["suggested_residents"], abs=0.05 * (len(sites) + len(cov)))

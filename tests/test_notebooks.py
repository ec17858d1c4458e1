"""The example notebooks run top to bottom, offline, and print the right numbers.

Each notebook in ``notebooks/`` is executed once with nbclient (kernel
``python3``) in a temporary working directory, with HTTP(S) proxies pointed
at a closed port so that any download attempt fails. Its last cell prints a
JSON summary; the tests compare every number in it with the same number
computed here, by a separate run of the library (and, for the custom
categories, by sorting the OSM features into categories with code of the
test's own rather than the library's matcher).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402

import lifecircle  # noqa: E402
from lifecircle import Category  # noqa: E402

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["01_quickstart", "02_custom_categories", "03_compare_levels"]
KERNEL = "python3"
#: Each notebook must run in under this many seconds (kernel start included).
TIME_LIMIT_S = 60.0
#: Nothing listens here: a download attempted through the proxy fails at once.
DEAD_PROXY = "http://127.0.0.1:9"


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


def test_quickstart_numbers_match_a_separate_run(run_notebook, analysis):
    s = run_notebook("01_quickstart").summary
    cov = analysis.coverage
    keys = analysis.config.keys
    assert s["level"] == analysis.config.level == "10min"
    assert s["n_communities"] == len(cov) > 0
    assert s["complete"] == int(cov["complete"].sum())
    assert list(s["covered"]) == keys
    assert s["covered"] == {k: int(cov[f"covered_{k}"].sum()) for k in keys}
    for k in keys:
        assert s["covered_share"][k] == pytest.approx(cov[f"covered_{k}"].mean(), abs=1e-6)
    # complete = covered in every category: consistent with the per-category counts
    assert s["complete"] <= min(s["covered"].values())


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
    saved = pd.read_csv(out / "coverage.csv", dtype={"community_id": str})
    assert list(saved["community_id"]) == list(analysis.coverage["community_id"])
    assert int(saved["complete"].sum()) == s["complete"]


# --------------------------------------------------------------------------
# 02: custom categories


def _matches(tags: dict, rule_tags: dict, names: list[str]) -> bool:
    """The category rule as documented in presets.toml, written out again."""
    for key, values in rule_tags.items():
        values = [values] if isinstance(values, str) else list(values)
        if key in tags and ("*" in values or tags[key] in values):
            return True
    text = " ".join(tags.get(k, "") for k in ("name", "name:zh", "name:en", "official_name")).casefold()
    return bool(text.strip()) and any(n.casefold() in text for n in names)


def _facilities(osm, rules: dict[str, tuple[dict, list[str]]]) -> gpd.GeoDataFrame:
    """OSM features sorted into ``rules``' categories, as a user POI table."""
    f = osm.features
    parts = []
    for key, (tags, names) in rules.items():
        hit = f[[_matches(t, tags, names) for t in f["tags"]]]
        parts.append(gpd.GeoDataFrame({
            "poi_id": hit["osm_type"] + "/" + hit["osm_id"].astype(str), "osm_type": hit["osm_type"],
            "osm_id": hit["osm_id"], "name": hit["name"].fillna("").astype(str), "category": key,
            "source": "user",
        }, geometry=hit.geometry.values, crs=f.crs))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=f.crs)


def _reference_run(osm, rules):
    """The 10-minute presets plus ``rules``' categories, facilities supplied by this test.

    The added categories match no OSM feature themselves (no tags, no
    names); all their facilities come from :func:`_facilities`.
    """
    base = lifecircle.load_config(level="10min")
    blank = tuple(Category(key=k, label_zh=k, label_en=k, tags={}) for k in rules)
    config = replace(base, categories=base.categories + blank)
    pois = _facilities(osm, rules)
    return lifecircle.analyze(osm, config=config, pois=pois, pois_mode="replace"), pois


@pytest.fixture(scope="module")
def custom_summary(run_notebook):
    return run_notebook("02_custom_categories").summary


@pytest.fixture(scope="module")
def toml_rules(custom_summary):
    """The notebook's two TOML categories, parsed with tomllib (not load_config)."""
    spec = tomllib.loads(Path(custom_summary["toml_path"]).read_text("utf-8"))
    cats = spec["categories"]
    assert set(cats) == {"service_station", "elderly_canteen"}
    assert cats["service_station"]["label_zh"] == "红色驿站"
    assert {"助餐", "长者饭堂"} <= set(cats["elderly_canteen"]["names"])
    return {k: (cats[k]["tags"], cats[k].get("names", [])) for k in ("service_station", "elderly_canteen")}


def test_custom_default_run_matches(custom_summary, analysis):
    d = custom_summary["runs"]["default"]
    cov = analysis.coverage
    assert d["keys"] == analysis.config.keys
    assert d["complete"] == int(cov["complete"].sum())
    assert d["covered"] == {k: int(cov[f"covered_{k}"].sum()) for k in analysis.config.keys}


def test_custom_toml_categories_match_independent_sorting(custom_summary, toml_rules, osm):
    run = custom_summary["runs"]["toml"]
    assert run["keys"] == lifecircle.load_config(level="10min").keys + ["service_station", "elderly_canteen"]
    assert {"covered_service_station", "covered_elderly_canteen"} <= set(run["columns"])

    ref, pois = _reference_run(osm, toml_rules)
    counts = pois["category"].value_counts()
    assert counts.get("service_station", 0) > 0  # the comparison is not vacuous
    for k in toml_rules:
        assert run["n_pois"][k] == counts.get(k, 0)
    cov = ref.coverage
    assert run["covered"] == {k: int(cov[f"covered_{k}"].sum()) for k in ref.config.keys}
    assert run["complete"] == int(cov["complete"].sum())


def test_custom_python_categories_match_independent_sorting(custom_summary, toml_rules, osm):
    run = custom_summary["runs"]["python"]
    assert run["keys"][-1] == "atm" and "covered_atm" in run["columns"]
    tags, names = toml_rules["elderly_canteen"]
    rules = {
        "service_station": toml_rules["service_station"],
        # the notebook's Python override: lunch restaurants and "lounas" added
        "elderly_canteen": ({**tags, "lunch": ["yes"]}, [*names, "lounas"]),
        "atm": ({"amenity": ["atm"]}, []),
    }
    ref, pois = _reference_run(osm, rules)
    counts = pois["category"].value_counts()
    assert all(counts.get(k, 0) > 0 for k in rules)
    for k in rules:
        assert run["n_pois"][k] == counts[k]
    cov = ref.coverage
    assert run["covered"] == {k: int(cov[f"covered_{k}"].sum()) for k in ref.config.keys}
    assert run["complete"] == int(cov["complete"].sum())


# --------------------------------------------------------------------------
# 03: levels and modes


@pytest.fixture(scope="module")
def levels_summary(run_notebook):
    return run_notebook("03_compare_levels").summary


LEVELS = ["5min", "10min", "15min"]
MINUTES = {"5min": 5, "10min": 10, "15min": 15}
METRES = {"5min": 300, "10min": 500, "15min": 1000}  # GB 50180-2018


@pytest.mark.parametrize("mode", ["time", "distance"])
@pytest.mark.parametrize("level", LEVELS)
def test_levels_match_separate_runs(levels_summary, osm, level, mode):
    s = levels_summary[mode][level]
    ref = lifecircle.analyze(osm, config=lifecircle.load_config(level=level, mode=mode))
    cov = ref.coverage
    assert levels_summary["n_communities"] == len(cov)
    expected_m = MINUTES[level] * 4.5 * 1000 / 60 if mode == "time" else METRES[level]
    assert s["threshold_m"] == pytest.approx(expected_m)
    assert s["keys"] == ref.config.keys
    assert s["complete"] == int(cov["complete"].sum())
    assert s["covered"] == {k: int(cov[f"covered_{k}"].sum()) for k in ref.config.keys}
    for k in ref.config.keys:
        assert s["covered_share"][k] == pytest.approx(cov[f"covered_{k}"].mean(), abs=1e-6)


def test_levels_nest_and_distance_mode_is_stricter(levels_summary):
    t, d = levels_summary["time"], levels_summary["distance"]
    assert levels_summary["nested"] is True
    for lo, hi in zip(LEVELS, LEVELS[1:]):
        assert set(t[lo]["keys"]) < set(t[hi]["keys"])
    for level in LEVELS:
        assert d[level]["keys"] == t[level]["keys"]
        # a shorter threshold over the same network and facilities covers no more
        assert d[level]["threshold_m"] < t[level]["threshold_m"]
        for k in t[level]["keys"]:
            assert d[level]["covered"][k] <= t[level]["covered"][k]


def test_levels_draws_charts(run_notebook):
    assert run_notebook("03_compare_levels").images() >= 2

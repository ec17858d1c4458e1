"""Issue 14: bad input gives one line and exit 2, never a wrong result, a traceback or a half-written folder.

One test (or a parametrized group) per bullet of the issue, then a property
test feeding random TOML documents and option values through the command
line in-process.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecircle import cli
from lifecircle.config import load_config
from lifecircle.errors import ConfigError, InputFileError, LifecircleError

# Names added by issue 14 (lifecircle.fileio's lock and staging names,
# config.check_number, errors.OutputError) are imported inside the tests that
# use them, so that each test fails on its own on the code before it.

TIMEOUT = 180
ROOT = Path(__file__).resolve().parents[1]


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "lifecircle.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=kw.pop("timeout", TIMEOUT), **kw)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


def empty_or_absent(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# ---------------------------------------------------------------------------
# a small town: an analysis of it takes a fraction of a second


def town_xml(extra_nodes: str = "", extra_ways: str = "", n: int = 6, step: float = 0.001) -> str:
    """OSM XML near Helsinki: an n x n street grid, a residential area with two
    homes, and a pharmacy, park, school and bank, each named."""
    lat0, lon0 = 60.17, 24.94
    nodes, ways = [], []

    def nid(i: int, j: int) -> int:
        return 1 + i * n + j

    for i in range(n):
        for j in range(n):
            nodes.append(f'<node id="{nid(i, j)}" version="1" lat="{lat0 + i * step / 2:.7f}" '
                         f'lon="{lon0 + j * step:.7f}"/>')
    wid = 100
    for i in range(n):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for j in range(n))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/>'
                    f'<tag k="name" v="Row {i}"/></way>')
        wid += 1
    for j in range(n):
        refs = "".join(f'<nd ref="{nid(i, j)}"/>' for i in range(n))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="footway"/></way>')
        wid += 1
    k = 1000

    def ring(la: float, lo: float, dla: float, dlo: float, tags: str, way_id: int) -> None:
        nonlocal k
        ids = []
        for a, b in ((la, lo), (la, lo + dlo), (la + dla, lo + dlo), (la + dla, lo)):
            nodes.append(f'<node id="{k}" version="1" lat="{a:.7f}" lon="{b:.7f}"/>')
            ids.append(k)
            k += 1
        refs = "".join(f'<nd ref="{r}"/>' for r in ids + ids[:1])
        ways.append(f'<way id="{way_id}" version="1">{refs}{tags}</way>')

    ring(lat0 + step * 0.6, lon0 + step * 1.1, step * 1.3, step * 2.8,
         '<tag k="landuse" v="residential"/><tag k="name" v="Kortteli"/>', 500)
    ring(lat0 + step * 0.7, lon0 + step * 1.3, step * 0.2, step * 0.3, '<tag k="building" v="apartments"/>', 501)
    ring(lat0 + step * 1.4, lon0 + step * 2.6, step * 0.2, step * 0.3, '<tag k="building" v="apartments"/>', 502)
    for m, (tag, val, name) in enumerate([("amenity", "pharmacy", "Apteekki"), ("leisure", "park", "Puisto"),
                                         ("amenity", "school", "Koulu"), ("amenity", "bank", "Pankki")]):
        nodes.append(f'<node id="{2000 + m}" version="1" lat="{lat0 + step * (0.3 + m * 0.5):.7f}" '
                     f'lon="{lon0 + step * (0.5 + m):.7f}"><tag k="{tag}" v="{val}"/>'
                     f'<tag k="name" v="{name}"/></node>')
    body = "\n".join(nodes) + "\n" + extra_nodes + "\n" + "\n".join(ways) + "\n" + extra_ways
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n{body}\n</osm>\n"


TOWN_CATEGORIES = ("pharmacy", "park", "school", "bank")


@pytest.fixture(scope="module")
def town(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("town") / "town.osm"
    path.write_text(town_xml(), encoding="utf-8")
    return path


def cli_in_process(args: list[str]) -> tuple[int, str, str]:
    """Run the command line in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.run([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def _table_without_shapes(folder: Path, kind: str) -> Path:
    """A CSV, TSV or spreadsheet of names: a table GDAL reads without any geometry."""
    table = pd.DataFrame({"name": ["小区甲", "小区乙"], "value": [1, 2]})
    path = folder / f"table.{kind}"
    if kind == "xlsx":
        table.to_excel(path, index=False)
    else:
        table.to_csv(path, index=False, sep="\t" if kind == "tsv" else ",")
    return path


@pytest.mark.parametrize("command, option, kind, what", [
    ("analyze", "--communities", "csv", "communities file"),
    ("analyze", "--boundary", "tsv", "boundary file"),
    ("analyze", "--population", "xlsx", ""),
    ("scenario", None, "csv", "scenario file"),
    ("suggest", "--candidates", "xlsx", ""),
    ("batch", "--areas", "tsv", "areas file"),
])
def test_a_table_without_shapes_where_shapes_are_needed_is_one_line(tmp_path, town, command, option, kind, what):
    """Each used to end in "AttributeError: 'DataFrame' object has no attribute 'crs'"."""
    table = _table_without_shapes(tmp_path, kind)
    given = [option, table] if option else [table]
    extra = {"suggest": ["--category", "pharmacy"]}.get(command, [])
    source = [] if option == "--boundary" else ["--osm", town]  # a boundary is itself the data source
    status, _, err = cli_in_process([command, *source, *given, *extra, "--out", tmp_path / "out", "-q"])
    line = one_error_line(err)
    assert status == 2 and "Traceback" not in err, err
    assert line.endswith(f"{table.name} has no geometry (a table without shapes); give a GeoJSON, "
                         "GeoPackage or Shapefile"), line
    assert what in line  # the file named by its role where the reader knows it
    assert empty_or_absent(tmp_path / "out")


@pytest.mark.parametrize("command, option, what", [
    ("analyze", "--communities", "communities file"),
    ("analyze", "--boundary", "boundary file"),
    ("batch", "--areas", "areas file"),
])
def test_metres_in_a_file_that_says_degrees_is_one_line(tmp_path, town, command, option, what):
    """A GeoJSON (always WGS 84) holding UTM metres: batch ended in "Unable to determine UTM CRS", the
    communities in "has no area", the boundary in a message naming no file."""
    path = tmp_path / "metres.geojson"
    ring = [[385000, 6672000], [386000, 6672000], [386000, 6673000], [385000, 6673000], [385000, 6672000]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"name": "x"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    source = [] if option == "--boundary" else ["--osm", town]
    status, _, err = cli_in_process([command, *source, option, path, "--out", tmp_path / "out", "-q"])
    assert status == 2 and "Traceback" not in err, err
    assert one_error_line(err) == (f"Error: {what} {path}: coordinates such as (385000, 6672000) are not "
                                   "longitude/latitude, though the file says WGS 84; save it with the CRS its "
                                   "coordinates are in (e.g. a UTM zone)")
    assert empty_or_absent(tmp_path / "out")


def test_a_world_sized_community_is_named_for_what_it_is(tmp_path, town):
    """Projected, a world-sized polygon has no area: it used to be reported as "has no area"."""
    path = tmp_path / "world.geojson"
    ring = [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
    small = [[24.94, 60.16], [24.941, 60.16], [24.941, 60.161], [24.94, 60.161], [24.94, 60.16]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "小区"}, "geometry": {"type": "Polygon", "coordinates": [small]}},
        {"type": "Feature", "properties": {"name": "world"}, "geometry": {"type": "Polygon", "coordinates": [ring]}},
    ]}))
    status, _, err = cli_in_process(["analyze", "--osm", town, "--communities", path, "--out", tmp_path / "out", "-q"])
    assert status == 2
    assert one_error_line(err) == (f"Error: communities file {path}: community 'c2' (world) spans 360.0° x 180.0°, "
                                   "far more than a walk; give each community's own polygon (a district goes in "
                                   "--boundary)")


# ---------------------------------------------------------------------------
# Wrong results with exit 0: every number finite and in range, checked in one place


@pytest.mark.parametrize("args", [
    ["--minutes", "inf"], ["--speed", "inf"], ["--metres", "inf"], ["--metres", "nan"],
    ["--isochrones", "nan"], ["--isochrones", "inf"], ["--isochrones", "5,nan"],
    ["--minutes", "5", "--isochrones", "1e9"],
    ["--min-share", "nan"], ["--max-snap", "inf"], ["--max-snap", "-1"], ["--minutes", "1e9"], ["--speed", "1e-300"],
    ["--buffer", "-5"], ["--buffer", "nan"],
])
def test_non_finite_or_absurd_options_are_refused_before_any_work(tmp_path, args):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    proc = run("analyze", "--out", out, *args)  # not quiet: no progress line may precede the error
    assert proc.returncode == 2, proc.stdout
    line = one_error_line(proc.stderr)
    assert "finite number in" in line, line  # the one check (config.check_number) said it
    assert empty_or_absent(out)
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("text,key", [
    ("minutes = inf\n", "minutes"), ("speed_kmh = inf\n", "speed_kmh"), ("distance_m = nan\n", "distance_m"),
    ("max_snap_m = -inf\n", "max_snap_m"), ("minutes = 100000\n", "minutes"),
    ("[levels.mine]\nminutes = inf\ncategories = [\"park\"]\n", "levels.mine.minutes"),
    ("[categories.park]\ndistance_m = 1e12\n", "categories.park.distance_m"),
])
def test_toml_numbers_are_checked_in_the_same_place(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="finite number in") as e:
        load_config(path)
    assert key in str(e.value) and "\n" not in str(e.value)


def test_check_number_ranges():
    from lifecircle.config import LIMITS, check_number

    for kind, bounds in LIMITS.items():
        for bad in (math.inf, -math.inf, math.nan, bounds.high * 2 + 1, -1.0, True, "5", None):
            with pytest.raises(ConfigError):
                check_number(kind, bad)
        assert check_number(kind, bounds.high) == bounds.high
    assert check_number("--buffer", 0, "buffer_m") == 0.0


def test_buffer_is_refused_where_nothing_is_downloaded(tmp_path, town):
    out = tmp_path / "out"
    proc = run("analyze", "--osm", town, "--out", out, "--buffer", "100")
    assert "--buffer" in one_error_line(proc.stderr) and proc.returncode == 2
    assert empty_or_absent(out)


def test_headline_names_the_uniform_basis(analysis):
    """--minutes 5 judged everything at one 5-minute walk: no "complete 10min life circle"."""
    five = dataclasses.replace(analysis, config=dataclasses.replace(analysis.config, mode="time", minutes=5.0))
    head = cli.summary_text(five).splitlines()[0]
    assert "10min" not in head and "life circle (5-minute walk)" in head, head
    assert "basis: 5 min at 4.5 km/h" in head
    metres = dataclasses.replace(analysis, config=dataclasses.replace(analysis.config, mode="distance",
                                                                      distance_m=420.0))
    assert "10min" not in cli.summary_text(metres).splitlines()[0]
    assert "complete 10min life circle" in cli.summary_text(analysis).splitlines()[0]


# ---------------------------------------------------------------------------
# Security: CSV formula injection


EVIL = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3",
        "\t=1+1", "\r=1+1"]


def test_write_csv_defuses_formulas_and_keeps_numbers(tmp_path):
    from lifecircle import fileio

    frame = pd.DataFrame({"name": EVIL + ["Kallio", "-"], "n": [-1.5] * 6 + [2.0, -3.0]})
    path = fileio.write_csv(frame, tmp_path / "t.csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for row, evil in zip(rows, EVIL):
        assert row["name"] == "'" + evil
    assert rows[6]["name"] == "Kallio" and rows[7]["name"] == "'-"
    assert [float(r["n"]) for r in rows] == frame["n"].tolist()  # negative numbers stay numbers
    assert frame["name"].tolist()[0] == EVIL[0]  # the caller's frame is untouched


def test_no_formula_reaches_any_csv_and_the_geopackage_keeps_names(tmp_path, analysis):
    import geopandas as gpd

    comms = analysis.communities.copy()
    comms.loc[0, "name"] = EVIL[0]
    comms.loc[1, "nearest_school"] = EVIL[1]
    left = analysis.left_out.copy()
    left.loc[len(left)] = {"what": "poi", "id": "node/1", "name": EVIL[2], "category": "park",
                           "reason": "test", "distance_m": 1.0}
    evil = dataclasses.replace(analysis, communities=comms, left_out=left)
    out = tmp_path / "out"
    evil.save(out)
    for name in ("coverage.csv", "basis.csv", "left_out.csv"):
        with open(out / name, newline="", encoding="utf-8-sig") as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
                    assert not (cell.startswith("-") and not _is_number(cell)), (name, cell)
    table = pd.read_csv(out / "coverage.csv")
    assert table["name"].iloc[0] == "'" + EVIL[0]
    assert table["nearest_school"].iloc[1] == "'" + EVIL[1]
    gpkg = gpd.read_file(out / "lifecircle.gpkg", layer="communities")
    assert gpkg["name"].iloc[0] == EVIL[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# Tracebacks: a bad --out fails at once, in one line


def _bad_outs(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {"proc": Path("/proc/x"), "devnull": Path("/dev/null"), "under_file": a_file / "out",
            "long_name": tmp_path / ("n" * 300)}


@pytest.mark.parametrize("which", ["proc", "devnull", "under_file", "long_name"])
def test_bad_out_fails_before_the_analysis(tmp_path, which):
    out = _bad_outs(tmp_path)[which]
    proc = run("analyze", "--out", out)  # progress on: the analysis must not have started
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert "output folder" in line
    assert "reading OSM" not in proc.stderr


@pytest.mark.parametrize("which", ["devnull", "under_file", "long_name"])
def test_bad_fetch_out_fails_before_the_download(tmp_path, which):
    out = _bad_outs(tmp_path)[which]
    try:
        proc = run("fetch", "--bbox", "24.93,60.16,24.95,60.17", "--out", out, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("fetch tried to download before checking --out")
    assert proc.returncode == 2
    assert "output folder" in one_error_line(proc.stderr)


def test_write_errors_are_one_line_naming_the_file(tmp_path, analysis, monkeypatch):
    """A full disk: an OS error from a writer, and pyogrio's "Failed to commit transaction"."""
    import geopandas as gpd
    import pyogrio

    from lifecircle.errors import OutputError

    out = tmp_path / "out"

    def full_disk(self, path, *a, **k):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(OutputError) as e:
        analysis.save(out)
    assert str(e.value) == f"cannot write {out / 'coverage.csv'}: No space left on device"
    assert empty_or_absent(out)
    monkeypatch.undo()

    def no_commit(self, path, *a, **k):
        raise pyogrio.errors.DataSourceError("Failed to commit transaction")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", no_commit)
    with pytest.raises(OutputError, match="Failed to commit transaction") as e:
        analysis.save(out)
    assert "\n" not in str(e.value) and "lifecircle.gpkg" in str(e.value)
    assert empty_or_absent(out)


def test_read_only_folder_fails_at_once(tmp_path, monkeypatch):
    from lifecircle import fileio
    from lifecircle.errors import OutputError

    real_open = os.open

    def read_only(path, flags, *a):
        if str(path).endswith(fileio.LOCK_NAME):
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        with fileio.output_folder(tmp_path / "out"):
            pass
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# Tracebacks: config files have a checked shape


@pytest.mark.parametrize("text,key", [
    (b'level = "\xff\xfe"\n', "UTF-8"),
    (b'level = "mine"\n[levels.mine]\nincludes = "mine"\ncategories = ["park"]\n', "includes itself"),
    (b'level = "a"\n[levels.a]\nincludes = "b"\n[levels.b]\nincludes = "a"\n', "includes itself"),
    (b"levels = { mine = 5 }\n", "levels.mine"),
    (b"categories = 5\n", "categories"),
    (b'use = "canteen"\n', "use"),
    (b"use = [1, 2]\n", "use"),
    (b"level = 5\n", "level"),
    (b"pois = 3\n", "pois"),
    (b'[categories.park]\nlabel_en = 3\n', "categories.park.label_en"),
    (b'[levels.mine]\ncolour = "red"\n', "levels.mine"),
    (b'[levels.mine]\ncategories = "park"\n', "levels.mine.categories"),
])
def test_config_shape(tmp_path, text, key):
    path = tmp_path / "c.toml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert key in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("command", ["analyze", "categories"])
def test_config_shape_on_the_command_line(tmp_path, command):
    path = tmp_path / "c.toml"
    path.write_text("categories = 5\n", encoding="utf-8")
    proc = run(command, "--config", path, *(["--out", tmp_path / "out"] if command == "analyze" else []))
    assert proc.returncode == 2
    assert "categories" in one_error_line(proc.stderr)


def test_repeated_categories_are_merged(tmp_path, town):
    assert load_config(categories=["park", "school", "park"]).keys == ["park", "school"]
    path = tmp_path / "c.toml"
    path.write_text('use = ["park", "park", "bank"]\n', encoding="utf-8")
    assert load_config(path).keys == ["park", "bank"]
    status, stdout, stderr = cli_in_process(["analyze", "--osm", town, "--out", tmp_path / "out", "-q",
                                             "--category", "park", "--category", "park"])
    assert status == 0, stderr
    assert pd.read_csv(tmp_path / "out" / "coverage.csv").filter(like="covered_").columns.tolist() == ["covered_park"]


@pytest.mark.parametrize("lat", ["nan", "abc", "inf"])
def test_invalid_node_location_is_an_input_error(tmp_path, lat):
    from lifecircle.sources.osmfile import read_osm

    bad = town_xml(extra_nodes=f'<node id="3000" version="1" lat="{lat}" lon="24.94">'
                               '<tag k="amenity" v="pharmacy"/></node>')
    path = tmp_path / "bad.osm"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(LifecircleError) as e:
        read_osm(path)
    assert "bad.osm" in str(e.value) and "\n" not in str(e.value)
    proc = run("analyze", "--osm", path, "--out", tmp_path / "out", "-q")
    assert proc.returncode == 2 and "bad.osm" in one_error_line(proc.stderr)


def _as_from_a_shell() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


@pytest.mark.parametrize("delay", [0.4, 0.8, 1.5])
def test_ctrl_c_while_starting_is_one_line(tmp_path, delay):
    # started as a shell starts a foreground command: Ctrl-C not ignored (a test
    # runner's worker may ignore SIGINT, and a child would inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "lifecircle.cli", "analyze", "--out", tmp_path / "out", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_shell)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "Aborted."
    assert empty_or_absent(tmp_path / "out")


# ---------------------------------------------------------------------------
# Leftovers and races


def test_sigterm_while_writing_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    stage_prefix = ".lifecircle-"
    proc = subprocess.Popen([sys.executable, "-m", "lifecircle.cli", "analyze", "--out", out, "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(p.name.startswith(stage_prefix) and p.is_dir() for p in out.iterdir()):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before its staging folder was seen"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr, stderr
    assert empty_or_absent(out), sorted(p.name for p in out.iterdir())


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_staging_folders_of_dead_runs_are_removed(tmp_path, analysis):
    out = tmp_path / "out"
    prefix = ".lifecircle-"
    dead = out / f"{prefix}{_dead_pid()}-abcd"
    old_style = out / f"{prefix}k2j3h4"  # versions before pids in the name
    alive = out / f"{prefix}1-efgh"  # pid 1 is alive: not ours to remove
    for d in (dead, old_style, alive):
        d.mkdir(parents=True)
        (d / "coverage.csv").write_text("half")
    analysis.save(out)
    assert not dead.exists() and not old_style.exists()
    assert alive.exists()
    assert (out / "coverage.csv").read_text() != "half"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [alive.name]


def test_second_run_into_a_locked_folder_names_the_holder(tmp_path, analysis):
    from lifecircle import fileio

    out = tmp_path / "out"
    with fileio.output_folder(out):
        proc = run("analyze", "--out", out, "-q", timeout=60)
        line = one_error_line(proc.stderr)
        assert proc.returncode == 2
        assert f"process {os.getpid()}" in line and str(out) in line
        # the library's save is refused alike from another process, and is re-entrant in this one
        analysis.save(out)
    assert not (out / fileio.LOCK_NAME).exists()
    assert (out / "coverage.csv").exists()


# ---------------------------------------------------------------------------
# Degenerate data, accepted in silence


def _geojson(path: Path, rings: list[tuple[str, list]]) -> Path:
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name, "id": f"c{i}"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}} for i, (name, ring) in enumerate(rings)]}
    path.write_text(json.dumps(gj), encoding="utf-8")
    return path


def test_zero_area_community_is_refused(tmp_path, town):
    from lifecircle.communities import read_communities

    good = [[24.941, 60.1705], [24.944, 60.1705], [24.944, 60.172], [24.941, 60.172], [24.941, 60.1705]]
    flat = [[24.941, 60.1705], [24.944, 60.1705], [24.942, 60.1705], [24.941, 60.1705]]
    path = _geojson(tmp_path / "c.geojson", [("Good", good), ("Flat", flat)])
    with pytest.raises(InputFileError, match="'c1' .*Flat.* has no area"):
        read_communities(path, "EPSG:3067")
    proc = run("analyze", "--osm", town, "--communities", path, "--out", tmp_path / "out", "-q")
    assert proc.returncode == 2 and "no area" in one_error_line(proc.stderr)


def test_repeated_node_ids_are_warned(tmp_path):
    import lifecircle
    from lifecircle.sources.osmfile import read_osm

    # node 8 again, 300 m away: the street through it bends, silently
    extra = '<node id="8" version="1" lat="60.1730" lon="24.9420"/>'
    path = tmp_path / "dup.osm"
    path.write_text(town_xml(extra_nodes=extra), encoding="utf-8")
    data = read_osm(path)
    assert any("node ids repeat" in w and "node/8" in w for w in data.warnings), data.warnings
    a = lifecircle.analyze(path, config=load_config(categories=list(TOWN_CATEGORIES)))
    assert any("node ids repeat" in w for w in a.warnings)
    clean = tmp_path / "clean.osm"
    clean.write_text(town_xml(), encoding="utf-8")
    assert read_osm(clean).warnings == []


def test_far_away_street_node_is_warned(tmp_path, bundled_osm):
    from lifecircle.sources.osmfile import read_osm

    extra_node = '<node id="9000" version="1" lat="89.9" lon="179.9"/>'
    extra_way = '<way id="9001" version="1"><nd ref="1"/><nd ref="9000"/><tag k="highway" v="footway"/></way>'
    path = tmp_path / "far.osm"
    path.write_text(town_xml(extra_nodes=extra_node, extra_ways=extra_way), encoding="utf-8")
    warnings = read_osm(path).warnings
    assert any("far from the rest" in w and "node/9000" in w for w in warnings), warnings
    assert read_osm(bundled_osm).warnings == []  # a real city extract has none


def test_name_column_that_does_not_exist(tmp_path):
    from lifecircle.communities import read_communities

    ring = [[24.941, 60.1705], [24.944, 60.1705], [24.944, 60.172], [24.941, 60.172], [24.941, 60.1705]]
    path = _geojson(tmp_path / "c.geojson", [("A", ring)])
    with pytest.raises(InputFileError) as e:
        read_communities(path, "EPSG:3067", name_column="nope")
    msg = str(e.value)
    assert "no column 'nope'" in msg and "name, id" in msg and "use --name-column" not in msg


def test_geopackage_with_points_first_reads_its_polygon_layer(tmp_path):
    import geopandas as gpd

    from lifecircle.communities import read_communities
    from lifecircle.fileio import read_polygons

    path = tmp_path / "c.gpkg"
    gpd.GeoDataFrame({"name": ["pt"]}, geometry=[shapely.Point(24.94, 60.17)], crs=4326).to_file(path, layer="points")
    gpd.GeoDataFrame({"name": ["Block"]}, geometry=[shapely.box(24.941, 60.1705, 24.944, 60.172)],
                     crs=4326).to_file(path, layer="zones")
    assert read_communities(path, "EPSG:3067")["name"].tolist() == ["Block"]
    assert read_polygons(path, "x", layer="zones")["name"].tolist() == ["Block"]
    with pytest.raises(InputFileError, match="layer 'points'.*no polygons"):
        read_polygons(path, "x", layer="points")
    with pytest.raises(InputFileError, match="no layer 'roads'.*points, zones"):
        read_polygons(path, "x", layer="roads")


def test_gdal_driver_hint_does_not_leak(tmp_path):
    from lifecircle.fileio import read_polygons

    path = tmp_path / "c.geojson"
    path.write_text("not json at all", encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        read_polygons(path, "communities file")
    assert "DRIVER" not in str(e.value) and "c.geojson" in str(e.value)


# ---------------------------------------------------------------------------
# Latent


def test_reversed_edge_geometry_on_utm_coordinates_is_turned():
    """Two nodes 30 m apart north-south: np.isclose's relative tolerance (1e-5 of a
    northing of 6.7e6, so 67 m) took them for one point."""
    import networkx as nx

    from lifecircle.core.network import StreetNetwork

    x0, y0 = 385_000.0, 6_672_000.0
    G = nx.MultiDiGraph(crs="EPSG:32635")
    G.add_node(1, x=x0, y=y0)
    G.add_node(2, x=x0, y=y0 + 30.0)
    backwards = shapely.LineString([(x0, y0 + 30.0), (x0 + 10.0, y0 + 15.0), (x0, y0)])
    G.add_edge(1, 2, length=backwards.length, geometry=backwards)
    G.add_edge(2, 1, length=backwards.length, geometry=shapely.reverse(backwards))
    net = StreetNetwork.from_graph(G)
    assert len(net.eu) == 1
    start = shapely.get_coordinates(net.geoms[0])[0]
    assert tuple(start) == tuple(net.xy[net.eu[0]]), start


# ---------------------------------------------------------------------------
# A CLI that answers at once


def test_importing_the_cli_loads_no_heavy_module():
    code = ("import sys, lifecircle.cli; heavy = [m for m in ('osmnx', 'geopandas', 'folium', 'matplotlib', "
            "'scipy', 'pandas', 'networkx', 'shapely', 'osmium', 'lifecircle.pipeline') if m in sys.modules]; "
            "print(','.join(heavy))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


def test_public_api_still_works_lazily():
    code = ("import lifecircle, sys; assert 'lifecircle.pipeline' not in sys.modules; "
            "from lifecircle import analyze, Analysis, Config, load_config, read_osm, OSMData, BUNDLED_OSM; "
            "assert callable(lifecircle.analyze) and lifecircle.BUNDLED_OSM.exists(); "
            "assert 'analyze' in dir(lifecircle); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr
    import lifecircle

    with pytest.raises(AttributeError):
        lifecircle.no_such_thing  # noqa: B018


@pytest.mark.parametrize("args", [["--help"], ["analyze", "--minutes", "abc"], ["categories", "--level", "10min"]])
def test_cli_answers_without_heavy_imports(args):
    """--help, argument errors and `categories` never import osmnx or geopandas."""
    code = ("import sys; from lifecircle import cli; status = cli.run(sys.argv[1:]); "
            "heavy = [m for m in ('osmnx', 'geopandas', 'folium', 'matplotlib') if m in sys.modules]; "
            "sys.stderr.write('HEAVY:' + ','.join(heavy) + '\\n'); sys.exit(status)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip().splitlines()[-1] == "HEAVY:", proc.stderr
    if args[0] == "analyze":
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[0].startswith("Error: Invalid value for '--minutes'")
    else:
        assert proc.returncode == 0


# ---------------------------------------------------------------------------
# Property: random TOML documents and option values


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"


def _toml(doc: dict) -> str:
    scalars = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [f"[{json.dumps(k)}]\n" + "\n".join(f"{json.dumps(kk)} = {_toml_value(vv)}" for kk, vv in v.items())
              for k, v in doc.items() if isinstance(v, dict)]
    return "\n".join(scalars) + "\n" + "\n".join(tables) + "\n"


_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
    st.sampled_from([0, 0.5, 1, 5, 10, 15, 300, 500, 4.5, 1e308, -0.0]),
)
_scalars = st.one_of(_numbers, st.booleans(), st.text(max_size=8),
                     st.sampled_from(["10min", "5min", "standard", "time", "distance", "park", "school"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.sampled_from(["park", "mine", "x"]), inner,
                                                                         max_size=2)), max_leaves=6)
_keys = st.sampled_from(["level", "minutes", "distance_m", "mode", "speed_kmh", "max_snap_m", "min_share",
                         "use", "categories", "levels", "pois", "colour"])
_category_spec = st.fixed_dictionaries({}, optional={
    "distance_m": _numbers, "tier": st.sampled_from(["5min", "10min", "3min"]), "label_en": _scalars,
    "tags": st.sampled_from([{"amenity": ["pharmacy"]}, {"leisure": "park"}, 3, {}]),
})
_documents = st.one_of(
    st.dictionaries(_keys, _values, max_size=4),
    st.fixed_dictionaries({"use": st.lists(st.sampled_from(TOWN_CATEGORIES + ("canteen", "nope")), max_size=4)},
                          optional={"minutes": _numbers, "speed_kmh": _numbers, "min_share": _numbers,
                                    "mode": st.sampled_from(["standard", "time", "distance", "walk"]),
                                    "distance_m": _numbers}),
    st.fixed_dictionaries({"use": st.just(["park", "school"]), "categories": st.fixed_dictionaries(
        {}, optional={"park": _category_spec, "school": _category_spec})}),
    st.fixed_dictionaries({"use": st.just(["park"]), "level": st.sampled_from(["mine", "10min"]),
                           "levels": st.fixed_dictionaries({}, optional={"mine": st.one_of(
                               _values, st.fixed_dictionaries(
                               {}, optional={"includes": st.sampled_from(["mine", "5min", "nope"]),
                                             "minutes": _numbers, "distance_m": _numbers,
                                             "categories": st.lists(st.sampled_from(["park", "x"]), max_size=2)}))})}),
)
_option_text = st.one_of(
    _numbers.map(lambda v: repr(float(v)) if isinstance(v, float) else str(v)),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e400", "abc", "", "5,10", "5,nan", ",", "0x10"]),
)
_options = st.lists(st.one_of(
    st.tuples(st.sampled_from(["--minutes", "--speed", "--metres", "--min-share", "--max-snap", "--isochrones",
                               "--buffer"]), _option_text),
    st.tuples(st.just("--category"), st.sampled_from(TOWN_CATEGORIES + ("nope",))),
    st.tuples(st.just("--level"), st.sampled_from(["5min", "10min", "15min", "20min"])),
    st.just(("--distance",)),
), max_size=4)


def _check_outputs(out: Path) -> None:
    """A run that succeeded wrote finite limits and no infinity anywhere."""
    cov = pd.read_csv(out / "coverage.csv")
    limits = cov.filter(like="limit_m_")
    assert len(limits.columns) and np.isfinite(limits.to_numpy(dtype=float)).all()
    numeric = cov.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numeric).any()
    basis = pd.read_csv(out / "basis.csv")
    for col in ("distance_m", "minutes", "speed_kmh", "min_share"):
        if col in basis:
            assert np.isfinite(basis[col].to_numpy(dtype=float)).all(), col
    for name in ("coverage.csv", "basis.csv", "report.html"):
        text = (out / name).read_text(encoding="utf-8").lower()
        assert "inf min" not in text and "inf m" not in text and ",inf" not in text, name


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(_documents, st.binary(max_size=40).map(lambda b: b"\xff" + b)), options=_options)
def test_random_configs_and_options_succeed_or_fail_in_one_line(tmp_path_factory, town, doc, options):
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "c.toml"
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    else:
        path.write_text(_toml(doc), encoding="utf-8")
    out = folder / "out"
    args = ["analyze", "--osm", town, "--out", out, "-q", "--config", path]
    if not any(o[0] == "--category" for o in options) and not (isinstance(doc, dict) and "use" in doc):
        args += ["--category", "park"]  # the town has four categories: spare the others' "none found" errors
    for opt in options:
        args += list(opt)
    status, stdout, stderr = cli_in_process(args)
    if status == 0:
        _check_outputs(out)
    else:
        assert status == 2, (status, stderr)
        one_error_line(stderr)
        assert empty_or_absent(out), sorted(out.iterdir())


@settings(max_examples=300, deadline=None, derandomize=True)
@given(doc=_documents, minutes=st.none() | _numbers, speed=st.none() | _numbers, share=st.none() | _numbers,
       metres=st.none() | _numbers, snap=st.none() | _numbers)
def test_random_configs_load_or_fail_in_one_line(tmp_path_factory, doc, minutes, speed, share, metres, snap):
    path = tmp_path_factory.getbasetemp() / "random-config.toml"
    path.write_text(_toml(doc), encoding="utf-8")
    try:
        cfg = load_config(path, minutes=minutes, speed_kmh=speed, min_share=share, distance_m=metres,
                          max_snap_m=snap)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert cfg.keys and len(set(cfg.keys)) == len(cfg.keys)
    for value in (*cfg.limits_m.values(), cfg.speed_kmh, cfg.max_snap_m, cfg.min_share, cfg.minutes):
        assert math.isfinite(value) and value > 0


def test_progress_while_a_large_osm_file_is_read(bundled_osm, monkeypatch):
    from lifecircle.sources import osmfile

    monkeypatch.setattr(osmfile, "_PROGRESS_EVERY_S", 0.0)  # the extract is small: say it at every check
    said: list[str] = []
    data = osmfile.read_osm(bundled_osm, progress=said.append)
    assert said and all("million objects of helsinki-centre.osm.pbf" in m for m in said), said
    assert data.graph.number_of_nodes() > 0


def test_isochrone_frontage_is_close_to_an_exact_buffer(bundled_osm):
    """The README's 25 m frontage: the band around the reached streets has about the area
    of an exact 25 m buffer and reaches little beyond it (a square dilation reached 44 m)."""
    from lifecircle import settings
    from lifecircle.core.engine import node_distances, snap_points
    from lifecircle.core.isochrones import piece_geometries, reach_polygon, reached_pieces
    from lifecircle.core.network import StreetNetwork, project
    from lifecircle.sources.osmfile import read_osm

    net = StreetNetwork.from_graph(project(read_osm(bundled_osm).graph))
    starts = np.random.default_rng(7).choice(net.n, 6, replace=False)
    frontage, limit = settings.frontage_m, 750.0
    for node in starts:
        src = snap_points(net, net.xy[[node]], 5.0)
        nd = node_distances(net, src, 3 * limit)
        poly = reach_polygon(net, nd, limit, src)
        pieces = piece_geometries(net, reached_pieces(net, nd, limit, src))
        streets = shapely.union_all(pieces)
        # the union of the pieces' buffers is the buffer of their union, 30x faster in GEOS
        exact = shapely.union_all(shapely.buffer(pieces, frontage))
        assert poly.covers(streets)  # every reached street is inside, as before
        assert 0.95 < poly.area / exact.area < 1.08, poly.area / exact.area
        outline = shapely.points(shapely.get_coordinates(shapely.get_exterior_ring(
            shapely.get_parts(poly))))
        reach = shapely.distance(outline, streets).max()
        assert reach < 1.4 * frontage, reach


def test_config_made_in_code_is_checked_too():
    cfg = load_config()
    for change in ({"minutes": math.inf}, {"speed_kmh": math.nan}, {"min_share": 2.0}, {"mode": "bike"}):
        with pytest.raises(ConfigError):
            dataclasses.replace(cfg, **change)
    with pytest.raises(ConfigError, match="minutes"):
        cfg.with_threshold(minutes=math.inf)
    assert cfg.with_threshold(minutes=12).minutes == 12


@pytest.mark.parametrize("signal_class", ["KeyboardInterrupt", "Terminated"])
def test_interrupt_inside_an_extension_import_is_an_abort(monkeypatch, signal_class):
    """pybind11 modules turn Ctrl-C during their import into "ImportError: initialization failed"."""
    interrupt = KeyboardInterrupt() if signal_class == "KeyboardInterrupt" else cli.Terminated()

    def importing(*a, **k):
        try:
            raise interrupt
        except KeyboardInterrupt:
            raise ImportError("initialization failed")  # noqa: B904 - as the extension does

    monkeypatch.setattr(cli.cli, "main", importing)
    status, _, stderr = cli_in_process(["analyze"])
    assert status == (130 if signal_class == "KeyboardInterrupt" else 143)
    assert stderr.strip() == "Aborted."

    def bug(*a, **k):
        raise ImportError("a real bug")

    monkeypatch.setattr(cli.cli, "main", bug)
    with pytest.raises(ImportError):
        cli_in_process(["analyze"])

"""``lifecircle batch``: many areas on Dask (issue 13).

Two data sets: the bundled Helsinki extract cut into three strips plus one
area with no streets (it must fail alone), and a generated city of four
districts (bench/region.py). Each area's coverage must equal a separate
``lifecircle.analyze`` of that area's extract with the same options; the
combined table must be the union of the areas'; a rerun skips everything
and a changed option redoes everything; an external ``dask scheduler`` with
two ``dask worker`` processes on 127.0.0.1 gives the same results.

Needs the ``osmium`` command (Debian package osmium-tool, installed by the
README's test command).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

import lifecircle
from lifecircle.batch import OK, buffered, read_areas, slugify
from lifecircle.cli import run
from lifecircle.config import load_config
from lifecircle.fileio import write_csv
from lifecircle.outputs.files import coverage_table

ROOT = Path(__file__).resolve().parents[1]

# one worker runs every test here: the module's batch runs happen once (pytest --dist loadgroup)
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("batch")]


def _bench_region():
    spec = importlib.util.spec_from_file_location("lifecircle_bench_region", ROOT / "bench" / "region.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def _osmium():
    assert shutil.which("osmium"), "lifecircle batch needs the osmium command: apt-get install osmium-tool"


# ---------------------------------------------------------------- helpers


def _separate(extract: Path, polygon, config) -> lifecircle.Analysis:
    """``analyze`` of one area's extract, as a user would run it by hand."""
    return lifecircle.analyze(extract, config=config, area=polygon)


def _same_coverage(batch_rows: gpd.GeoDataFrame, analysis, area_dir: Path, tmp_path: Path) -> None:
    """The batch's rows of one area == the separate analysis (table, geometry and coverage.csv bytes)."""
    ours = batch_rows.drop(columns="area").reset_index(drop=True)
    theirs = analysis.communities.to_crs("EPSG:4326").reset_index(drop=True)
    assert list(ours.columns) == list(theirs.columns)
    pd.testing.assert_frame_equal(ours.drop(columns="geometry"), theirs.drop(columns="geometry"),
                                  check_dtype=False)
    assert [g.wkb for g in ours.geometry] == [g.wkb for g in theirs.geometry]
    # what analyze writes: the area's coverage.csv is byte for byte the separate run's
    mine = tmp_path / f"separate-{area_dir.name}.csv"
    write_csv(coverage_table(analysis), mine)
    assert (area_dir / "coverage.csv").read_bytes() == mine.read_bytes()


def _check_index(out: Path, table: pd.DataFrame) -> str:
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "OpenStreetMap contributors" in page
    # nothing loads from the network but the tiles: no script, stylesheet or image from a URL
    assert re.search(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page, re.I) is None
    assert "L.map(" in page or "L.map (" in page
    for folder, status in zip(table["folder"], table["status"]):
        if status == OK:
            href = "/".join(quote(p) for p in folder.split("/")) + "/map.html"
            assert href in page
            assert (out / folder / "map.html").is_file()
    return page


# ---------------------------------------------------------------- units


def test_slugs_and_names(tmp_path):
    assert slugify("东城区") == "东城区"
    assert slugify("../etc/passwd") == "etc_passwd"
    assert slugify("  ") == "area"
    areas = gpd.GeoDataFrame({"名称": ["A", "A", None]},
                             geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)],
                             crs="EPSG:4326")
    got = read_areas(areas)
    assert list(got["name"]) == ["A", "A (2)", "area 3"]
    assert len(set(got["slug"])) == 3
    with pytest.raises(lifecircle.LifecircleError, match="no column 'nope'"):
        read_areas(areas, name_column="nope")


def test_option_hash_is_stable_across_processes():
    """Resuming relies on the hash of a Config being the same in every process (set order, hash seed)."""
    code = ("from lifecircle.batch import _digest; from lifecircle.config import load_config; "
            "print(_digest(load_config(level='15min')))")
    keys = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2")}
    assert len(keys) == 1 and len(keys.pop()) == 64


def test_bad_input_is_one_line(tmp_path, bundled_osm):
    assert run(["batch", "--osm", str(tmp_path / "missing.osm.pbf"), "--areas", str(tmp_path / "a.gpkg"),
                "--out", str(tmp_path / "out"), "-q"]) == 2
    assert run(["batch", "--osm", str(bundled_osm), "--areas", str(tmp_path / "missing.gpkg"),
                "--out", str(tmp_path / "out"), "-q"]) == 2


def test_a_scheduler_that_is_not_an_address_is_one_line(bundled_osm, tmp_path, capsys):
    areas = tmp_path / "a.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(24.94, 60.165, 24.95, 60.17)],
                     crs="EPSG:4326").to_file(areas)
    status = run(["batch", "--osm", str(bundled_osm), "--areas", str(areas), "--out", str(tmp_path / "out"),
                  "--scheduler", "not-a-scheduler", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err == ["Error: cannot connect to the Dask scheduler not-a-scheduler: missing port number "
                                   "in address 'not-a-scheduler'"]


@pytest.mark.parametrize("limit, message", [
    ("1MB", "Error: memory limit 1MB per worker is below the 512.00 MiB a worker needs to start; give more, or auto"),
    ("50MB", "Error: memory limit 50MB per worker is below the 512.00 MiB"),
    ("lots", "Error: memory limit 'lots' is not a size: give e.g. 4GB, auto or none"),
])
def test_a_memory_limit_no_worker_can_start_in_is_refused_at_once(limit, message, bundled_osm, tmp_path, capsys):
    """It used to start a LocalCluster with 0 workers and wait forever (or end in a traceback)."""
    areas = tmp_path / "a.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(24.94, 60.165, 24.95, 60.17)],
                     crs="EPSG:4326").to_file(areas)
    status = run(["batch", "--osm", str(bundled_osm), "--areas", str(areas), "--out", str(tmp_path / "out"),
                  "--workers", "1", "--memory-limit", limit, "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith(message), err
    assert not (tmp_path / "out").exists()
    # the library refuses the same, and takes what dask takes
    from lifecircle.batch import check_memory_limit

    with pytest.raises(lifecircle.LifecircleError):
        check_memory_limit(limit)
    assert check_memory_limit("4GB") == 4 * 10**9 and check_memory_limit("auto") == "auto"


# ---------------------------------------------------------------- Helsinki: 3 strips and a broken area


@pytest.fixture(scope="module")
def helsinki_areas(tmp_path_factory) -> Path:
    x0, y0, x1, y1 = 24.9352, 60.1642, 24.9534, 60.1791
    ys = [y0 + (y1 - y0) * k / 3 for k in range(4)]
    polys = [shapely.box(x0, ys[k], x1, ys[k + 1]) for k in range(3)]
    names = ["Kaartinkaupunki <b onmouseover=alert(1)>&", "Kluuvi 中心", "Kruununhaka"]
    # 2 km west of the extract: its clip holds no street, so analysing it fails
    polys.append(shapely.box(24.890, 60.170, 24.895, 60.173))
    names.append("Broken (no streets)")
    path = tmp_path_factory.mktemp("helsinki") / "areas.gpkg"
    gpd.GeoDataFrame({"name": names}, geometry=polys, crs="EPSG:4326").to_file(path, driver="GPKG")
    return path


@pytest.fixture(scope="module")
def helsinki_run(helsinki_areas, bundled_osm, tmp_path_factory):
    out = tmp_path_factory.mktemp("helsinki-out")
    start = time.perf_counter()
    status = run(["batch", "--osm", str(bundled_osm), "--areas", str(helsinki_areas), "--out", str(out),
                  "--workers", "2", "--keep-extracts", "-q"])
    return status, out, time.perf_counter() - start


def test_helsinki_broken_area_fails_alone(helsinki_run):
    status, out, _ = helsinki_run
    assert status == 1  # some area failed
    table = pd.read_csv(out / "areas.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "ok", "ok", "failed"]
    broken = table.iloc[3]
    assert broken["error"] and "\n" not in broken["error"]
    assert "no walkable streets" in broken["error"]
    assert table["error"][:3].tolist() == ["", "", ""]
    assert not (out / "areas" / slugify("Broken (no streets)")).exists()
    cov = gpd.read_parquet(out / "coverage.parquet")
    assert set(cov["area"]) == set(table["area"][:3])


def test_helsinki_areas_equal_separate_analyze(helsinki_run, helsinki_areas, bundled_osm, tmp_path):
    """Each strip == analyze of an extract cut by hand (osmium extract -p, same buffer and strategy)."""
    _, out, _ = helsinki_run
    areas = read_areas(helsinki_areas)
    cov = gpd.read_parquet(out / "coverage.parquet")
    config = load_config()
    grown = buffered(areas, config.threshold_m)
    for i in range(3):
        name, slug, poly = areas["name"][i], areas["slug"][i], areas.geometry[i]
        poly_file = tmp_path / f"{i}.geojson"
        poly_file.write_text(json.dumps({"type": "Feature", "properties": {},
                                         "geometry": shapely.geometry.mapping(grown.values[i])}))
        extract = tmp_path / f"{slug}.osm.pbf"
        subprocess.run(["osmium", "extract", "-p", str(poly_file), "-s", "complete_ways", "-o", str(extract),
                        "--overwrite", str(bundled_osm)], check=True, capture_output=True)
        # the batch's extract is the same data as the one cut by hand
        assert (out / ".batch" / "extracts" / f"{slug}.osm.pbf").is_file()
        a = _separate(extract, poly, config)
        assert len(a.communities) > 0
        _same_coverage(cov[cov["area"] == name], a, out / "areas" / slug, tmp_path)


def _opl(path: Path) -> str:
    return subprocess.run(["osmium", "cat", "-f", "opl", str(path)], check=True, capture_output=True,
                          text=True).stdout


def test_split_in_two_levels_gives_the_extracts_of_a_direct_cut(helsinki_areas, bundled_osm, tmp_path):
    """With memory for 2 extracts per osmium run, 3 areas are cut via groups: same objects as cut directly."""
    from lifecircle.batch import extract_memory, split

    areas = read_areas(helsinki_areas).iloc[:3]
    grown = buffered(areas, 300).values
    outputs = [tmp_path / "two" / f"{k}.osm.pbf" for k in range(3)]
    info = split(bundled_osm, grown, outputs, memory=2 * extract_memory(bundled_osm))
    assert (info.levels, info.per_run, info.runs) == (2, 2, 3)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["0.osm.pbf", "1.osm.pbf", "2.osm.pbf"]
    for k, poly in enumerate(grown):
        poly_file = tmp_path / f"{k}.geojson"
        poly_file.write_text(json.dumps({"type": "Feature", "properties": {},
                                         "geometry": shapely.geometry.mapping(poly)}))
        direct = tmp_path / f"direct-{k}.osm.pbf"
        subprocess.run(["osmium", "extract", "-p", str(poly_file), "-s", "complete_ways", "-o", str(direct),
                        "--overwrite", str(bundled_osm)], check=True, capture_output=True)
        assert _opl(outputs[k]) == _opl(direct)


def test_helsinki_index_escapes_names(helsinki_run):
    _, out, _ = helsinki_run
    table = pd.read_csv(out / "areas.csv", keep_default_na=False)
    page = _check_index(out, table)
    assert "<b onmouseover" not in page
    assert "Broken (no streets)" in page  # the failed area is drawn, with its error
    assert "no walkable streets" in page


# ---------------------------------------------------------------- a generated city of four districts


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    return _bench_region().make_region(tmp_path_factory.mktemp("region"), target_nodes=2700, cols=2, rows=2)


@pytest.fixture(scope="module")
def region_runs(region, tmp_path_factory):
    """First run, rerun (nothing changed), run with a changed option: results and timings."""
    out = tmp_path_factory.mktemp("region-out")
    first = lifecircle.batch(region.osm, region.districts, out, workers=2, keep_extracts=True)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "areas").rglob("*") if p.is_file()}
    extracts = out.parent / f"{out.name}-extracts"
    shutil.copytree(out / ".batch" / "extracts", extracts)
    first_areas = out.parent / f"{out.name}-areas"  # the later runs rewrite out/areas
    shutil.copytree(out / "areas", first_areas)
    first_cov = gpd.read_parquet(out / "coverage.parquet")
    start = time.perf_counter()
    again = lifecircle.batch(region.osm, region.districts, out, workers=2)
    again_s = time.perf_counter() - start
    restamps = {p: p.stat().st_mtime_ns for p in (out / "areas").rglob("*") if p.is_file()}
    changed = run(["batch", "--osm", str(region.osm), "--areas", str(region.districts), "--out", str(out),
                   "--workers", "2", "--min-share", "0.75", "-q"])
    return {"out": out, "first": first, "first_cov": first_cov, "extracts": extracts, "stamps": stamps,
            "first_areas": first_areas,
            "again": again, "again_s": again_s, "restamps": restamps, "changed": changed}


def test_region_has_four_districts(region):
    districts = gpd.read_file(region.districts)
    assert len(districts) == 4
    assert districts.crs.to_epsg() == 4326
    # the districts tile the city: no overlaps
    projected = districts.to_crs(districts.estimate_utm_crs())
    assert projected.union_all().area == pytest.approx(projected.area.sum(), rel=1e-6)


def test_region_every_area_equals_separate_analyze(region_runs, region, tmp_path):
    first = region_runs["first"]
    assert first.ok and len(first.areas) == 4
    assert (first.areas["status"] == OK).all() and not first.areas["reused"].any()
    areas = read_areas(region.districts)
    config = load_config()
    cov = region_runs["first_cov"]
    for name, slug, poly in zip(areas["name"], areas["slug"], areas.geometry):
        a = _separate(region_runs["extracts"] / f"{slug}.osm.pbf", poly, config)
        assert len(a.communities) > 10
        rows = cov[cov["area"] == name]
        # only communities whose centre is inside the district are reported
        assert rows.geometry.representative_point().within(poly.buffer(1e-9)).all()
        _same_coverage(rows, a, region_runs["first_areas"] / slug, tmp_path)


def test_region_combined_table_is_the_union(region_runs):
    first, out, cov = region_runs["first"], region_runs["out"], region_runs["first_cov"]
    schema = pq.read_schema(out / "coverage.parquet")
    geo = json.loads(schema.metadata[b"geo"])  # GeoParquet metadata
    assert geo["primary_column"] == "geometry"
    assert cov.crs.to_epsg() == 4326
    table = first.areas
    assert len(cov) == int(table["communities"].sum())
    parts = []
    for name, folder in zip(table["area"], table["folder"]):
        part = pd.read_csv(region_runs["first_areas"] / Path(folder).name / "coverage.csv",
                           dtype={"community_id": str})
        parts.append(part.assign(area=name))
        rows = cov[cov["area"] == name]
        assert list(rows["community_id"].astype(str)) == list(part["community_id"])
        row = table[table["area"] == name].iloc[0]
        assert row["communities"] == len(part)
        assert row["complete_share"] == pytest.approx(part["complete"].mean(), abs=1e-4)
        assert row["covered_school"] == pytest.approx(part["covered_school"].mean(), abs=1e-4)
    union = pd.concat(parts, ignore_index=True)
    assert sorted(zip(union["area"], union["community_id"])) == \
        sorted(zip(cov["area"], cov["community_id"].astype(str)))
    pd.testing.assert_series_equal(cov["share_market"].reset_index(drop=True),
                                   union["share_market"], check_names=False)
    _check_index(out, table)


def test_region_rerun_skips_everything_and_changed_option_redoes_everything(region_runs):
    again = region_runs["again"]
    assert again.areas["reused"].all() and again.ok
    assert region_runs["again_s"] < 15  # no Dask cluster, no split: hashing and combining only
    assert region_runs["restamps"] == region_runs["stamps"]  # no area folder was rewritten
    pd.testing.assert_frame_equal(again.coverage.drop(columns="geometry"),
                                  region_runs["first_cov"].drop(columns="geometry"))
    assert region_runs["changed"] == 0
    out = region_runs["out"]
    table = pd.read_csv(out / "areas.csv", keep_default_na=False)
    assert (table["status"] == "ok").all() and not table["reused"].any()
    cov = gpd.read_parquet(out / "coverage.parquet")
    assert (cov["covered_school"] == (cov["share_school"] >= 0.75)).all()
    assert (pd.read_csv(out / table["folder"][0] / "basis.csv")["min_share"] == 0.75).all()


# ---------------------------------------------------------------- an external scheduler on 127.0.0.1


@pytest.fixture
def scheduler(tmp_path):
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1; always torn down."""
    from distributed import Client

    sched_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    procs = []
    log = open(tmp_path / "dask.log", "w")
    try:
        procs.append(subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                              "--scheduler-file", str(sched_file)],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "dask scheduler did not start"
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for k in range(2):
            procs.append(subprocess.Popen(worker + [address, "--host", "127.0.0.1", "--nthreads", "1",
                                                    "--no-nanny", "--no-dashboard", "--name", f"w{k}",
                                                    "--local-directory", str(tmp_path / f"w{k}")],
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address
    finally:
        # workers first (they tell the scheduler they leave), then the scheduler
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        log.close()


def test_external_scheduler_gives_the_same_results(scheduler, region, region_runs, tmp_path):
    # two of the districts, one for each worker: the same rows as the local cluster gave them
    districts = gpd.read_file(region.districts).iloc[:2]
    two = tmp_path / "two.gpkg"
    districts.to_file(two, driver="GPKG")
    out = tmp_path / "out"
    status = run(["batch", "--osm", str(region.osm), "--areas", str(two), "--out", str(out),
                  "--scheduler", scheduler, "-q"])
    assert status == 0
    table = pd.read_csv(out / "areas.csv", keep_default_na=False)
    assert (table["status"] == "ok").all() and len(table) == 2
    cov = gpd.read_parquet(out / "coverage.parquet")
    first = region_runs["first_cov"]
    first = first[first["area"].isin(set(table["area"]))].reset_index(drop=True)
    assert len(first) > 10
    pd.testing.assert_frame_equal(cov.drop(columns="geometry"), first.drop(columns="geometry"))
    assert [g.wkb for g in cov.geometry] == [g.wkb for g in first.geometry]
    # the areas ran on the external workers, not in this process
    pids = {json.loads(p.read_text())["pid"] for p in (out / ".batch" / "state").glob("*.json")}
    assert os.getpid() not in pids and len(pids) >= 1

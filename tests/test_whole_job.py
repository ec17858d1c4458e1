"""The whole job's plumbing (issue 15): --verbose step times and the GeoPackage written without per-commit syncs."""

from __future__ import annotations

import re
import sqlite3
import time

import geopandas as gpd
import pyogrio
import shapely

from lifecircle.cli import run

LAYERS = ("communities", "pois", "isochrones", "gaps", "routes")


def test_gpkg_keeps_full_detail_and_gdal_settings(analysis, tmp_path):
    """Every layer comes back with every row and vertex; SQLite is consistent; GDAL's sync setting is restored."""
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    analysis.save(tmp_path / "out")
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") == before
    path = tmp_path / "out" / "lifecircle.gpkg"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for layer in LAYERS:
        mine = getattr(analysis, layer).to_crs("EPSG:4326")
        back = gpd.read_file(path, layer=layer)
        assert len(back) == len(mine) > 0, layer
        assert shapely.get_num_coordinates(back.geometry.values).sum() == \
            shapely.get_num_coordinates(mine.geometry.values).sum(), layer
        assert shapely.equals_exact(back.geometry.values, mine.geometry.values, tolerance=1e-9).all(), layer


def test_verbose_prints_step_times_that_add_up(tmp_path, capsys):
    t0 = time.perf_counter()
    assert run(["analyze", "--out", str(tmp_path / "out"), "--quiet", "--verbose"]) == 0
    wall = time.perf_counter() - t0
    err = capsys.readouterr().err
    block = err[err.index("step times (s):"):].splitlines()[1:]
    rows = [re.match(r"^\s+([\d.]+)\s+(.+)$", line).groups() for line in block]
    names = [name for _, name in rows]
    assert names[0] == "checking options, loading libraries" and names[-1] == "total"
    assert "reading OSM data" in names and any(n.startswith("writing outputs") for n in names)
    assert sum(n.startswith("walking distances to ") for n in names) == 8  # one per category of the 10-minute level
    seconds = [float(s) for s, _ in rows]
    # each row rounds to 0.01 s; the steps tile the run, so they add up to the total
    assert abs(sum(seconds[:-1]) - seconds[-1]) <= 0.005 * len(rows)
    assert 0 < seconds[-1] <= wall

"""Residents from real population data: the HSY 250 m grid of central Helsinki (data/), as a vector
grid and as a GeoTIFF, checked against an independent allocation (geopandas overlay and spatial
join) and an independent walk (networkx); census counts from a communities file's column; the
indicators officials report and the problem list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import lifecircle
from lifecircle.communities import residential_buildings
from lifecircle.errors import InputFileError
from lifecircle.population import read_grid

DATA = Path(lifecircle.__file__).resolve().parent.parent / "data"
GRID = DATA / "helsinki-population-grid-2020.gpkg"
TIF = DATA / "helsinki-population-grid-2020.tif"

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_pipeline import EPS, Reference  # noqa: E402


@pytest.fixture(scope="module")
def osm(bundled_osm):
    return lifecircle.read_osm(bundled_osm)


@pytest.fixture(scope="module")
def gridded(osm):
    return lifecircle.analyze(osm, level="15min", population=GRID,
                              population_info={"date": "2020", "licence": "CC BY 4.0"})


def _area(analysis) -> shapely.Geometry:
    xy = analysis.study.net.xy
    return shapely.box(*xy.min(axis=0), *xy.max(axis=0))


def independent_allocation(analysis, osm, grid_path=GRID):
    """Residents per community, done here with geopandas: each cell clipped to the study area by an
    overlay, its people to the residential buildings whose representative point it holds (by floor
    area), else to the communities it overlaps (by area)."""
    crs = analysis.crs
    cells = gpd.read_file(grid_path).to_crs(crs)
    cells["cell_area"] = cells.area
    area = gpd.GeoDataFrame(geometry=[_area(analysis)], crs=crs)
    clipped = gpd.overlay(cells, area, how="intersection")
    clipped["people"] = clipped["population"] * clipped.area / clipped["cell_area"]
    clipped["cell"] = np.arange(len(clipped))
    homes = residential_buildings(osm.features, crs)
    homes["floor"] = homes.area * homes["levels"]
    pts = gpd.GeoDataFrame(homes[["floor"]], geometry=homes.representative_point(), crs=crs)
    joined = gpd.sjoin(pts, clipped[["cell", "people", "geometry"]], predicate="within", how="left")
    joined = joined[~joined.index.duplicated(keep="first")]
    weight = joined.groupby("cell")["floor"].sum()
    homes["people"] = (joined["people"] * joined["floor"] / joined["cell"].map(weight)).fillna(0.0)
    comms = analysis.communities[["community_id", "geometry"]].reset_index(drop=True)
    # a home belongs to the first community holding its point, as the analysis assigns homes
    on = gpd.sjoin(pts, comms, predicate="within", how="inner")
    on = on[~on.index.duplicated(keep="first")]
    per = homes.loc[on.index, "people"].groupby(on["community_id"]).sum()
    empty = clipped[~clipped["cell"].isin(weight.index)]
    parts = gpd.overlay(empty[["people", "cell_area", "geometry"]].assign(clip_area=empty.area), comms,
                        how="intersection")
    per = per.add((parts["people"] * parts.area / parts["clip_area"]).groupby(parts["community_id"]).sum(),
                  fill_value=0.0)
    return per.reindex(comms["community_id"]).fillna(0.0), float(clipped["people"].sum()), homes


def test_residents_and_those_outside_add_up_to_the_grid_over_the_area(gridded, osm):
    pop = gridded.population
    assert pop.kind == "grid" and pop.source == GRID.name and (pop.date, pop.licence) == ("2020", "CC BY 4.0")
    residents = gridded.coverage["residents"].sum()
    _, total, _ = independent_allocation(gridded, osm)
    assert total > 3000  # the grid covers most of the extract
    assert pop.total == pytest.approx(total, rel=1e-9)
    assert residents + pop.outside == pytest.approx(total, rel=0.005)
    assert pop.outside > 0 and residents > 0.5 * total


def test_residents_per_community_equal_an_independent_allocation(gridded, osm):
    want, _, _ = independent_allocation(gridded, osm)
    got = gridded.coverage.set_index("community_id")["residents"]
    assert got.to_numpy() == pytest.approx(want.to_numpy(), rel=1e-6, abs=1e-6)
    assert (got > 0).sum() >= 10


def test_residents_share_equals_an_independent_walk(gridded, osm):
    """residents_share per category: networkx Dijkstra from the analysis's facilities to every home,
    weighted by the homes' people from the independent allocation."""
    _, _, homes = independent_allocation(gridded, osm)
    study = gridded.study
    cfg = gridded.config
    ref = Reference(gridded.graph)
    origins = study.origins
    home_rows = np.flatnonzero(origins.homes)
    for o in home_rows:
        ref.add(("o", int(o)), origins.points[o], cfg.max_snap_m)
    fac, acc = study.facilities, study.access
    for j, p in enumerate(acc.points):
        ref.add(("f", j), p, cfg.max_snap_m)
    R = ref.graph()
    checked = 0
    for key in cfg.keys:
        if key in gridded.no_data:
            continue
        srcs = {("f", j) for j, owner in enumerate(acc.facility) if fac["category"].iat[owner] == key
                and ("f", j) in R}
        dist = nx.multi_source_dijkstra_path_length(R, srcs, cutoff=cfg.limit_m(key) + 1, weight="w")
        for i, cid in enumerate(gridded.coverage["community_id"]):
            mine = home_rows[origins.community[home_rows] == i]
            people = homes["people"].to_numpy()[origins.building[mine]]
            if not len(mine) or people.sum() <= 0:
                continue
            d = np.array([dist.get(("o", int(o)), np.inf) for o in mine])
            if np.any(np.abs(d - cfg.limit_m(key)) < EPS):
                continue
            want = float((people * (d <= cfg.limit_m(key))).sum() / people.sum())
            assert gridded.coverage[f"residents_share_{key}"].iat[i] == pytest.approx(want, abs=5e-5), (key, cid)
            checked += 1
    assert checked >= 50


def test_the_geotiff_gives_the_vector_grids_residents(gridded, osm):
    tif = lifecircle.analyze(osm, level="15min", population=TIF)
    # the same cells, exact squares in the GeoTIFF's own system (GK25), reprojected ones in the vector grid
    assert tif.population.total == pytest.approx(gridded.population.total, rel=0.005)
    got = tif.coverage["residents"].to_numpy()
    want = gridded.coverage["residents"].to_numpy()
    # a home by a cell's edge may fall in the next cell: per community within 2 %, in all within 0.5 %
    assert got == pytest.approx(want, rel=0.02, abs=1.0)
    assert got.sum() == pytest.approx(want.sum(), rel=0.005)
    grid = read_grid(TIF, gridded.crs)
    assert grid.people.sum() == pytest.approx(71724)


def test_without_population_data_the_outputs_say_estimated(tmp_path, osm):
    a = lifecircle.analyze(osm)
    assert a.population.kind == "floor_area"
    assert a.basis["population"].str.startswith("estimated from floor area").all()
    a.save(tmp_path / "out")
    assert "estimated from floor area" in (tmp_path / "out" / "report.html").read_text("utf-8")


def test_census_counts_from_a_column_of_the_communities_file(tmp_path, gridded):
    comms = gridded.communities[["community_id", "name", "geometry"]].to_crs("EPSG:4326").copy()
    comms["常住人口"] = np.arange(len(comms)) * 100 + 50
    path = tmp_path / "社区.geojson"
    comms.to_file(path, driver="GeoJSON")
    a = lifecircle.analyze(population_column=None, communities=path)
    assert a.population.kind == "column" and a.population.source == "常住人口"
    assert a.coverage["residents"].tolist() == comms["常住人口"].tolist()
    assert a.population.total == comms["常住人口"].sum()
    with pytest.raises(InputFileError, match="no column 'people'"):
        lifecircle.analyze(communities=path, population_column="people")


def test_the_command_states_the_source_and_writes_indicators(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lifecircle.cli", "analyze", "--level", "15min", "--population",
                           GRID, "--population-date", "2020", "--population-licence", "CC BY 4.0",
                           "--out", out, "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("Residents:"))
    assert GRID.name in line and "2020" in line and "CC BY 4.0" in line and "outside every community" in line
    basis = pd.read_csv(out / "basis.csv")
    assert basis["population"].str.contains(GRID.name).all()
    cov = pd.read_csv(out / "coverage.csv")
    ind = pd.read_csv(out / "indicators.csv")
    district = ind[ind["scope"] == "district"].set_index("category")
    for key in ("clinic", "park", "school", "market"):
        shares = cov[f"residents_share_{key}"].fillna(cov[f"share_{key}"])
        want = (cov["residents"] * shares).sum() / cov["residents"].sum()
        assert district.loc[key, "population_share"] == pytest.approx(want, abs=1e-3)
        assert 0 <= district.loc[key, "area_share"] <= 1
        assert "GB 50180-2018" in district.loc[key, "source"] and district.loc[key, "definition"]
    assert np.isnan(district.loc["canteen", "population_share"])  # no data: not judged
    problems = pd.read_csv(out / "problems.csv", keep_default_na=False, na_values=[""])
    affected = problems["residents_affected"].to_numpy()
    assert len(problems) > 10 and (np.diff(affected) <= 1e-9).all()
    pairs = {(c, k) for c, k in zip(problems["community_id"], problems["category"])}
    judged = [k for k in basis["category"] if basis.set_index("category").loc[k, "judged"]]
    want = {(c, k) for k in judged for c, ok in zip(cov["community_id"], cov[f"covered_{k}"]) if not ok}
    assert pairs == want


def test_indicators_per_subdistrict_add_up_to_the_district(tmp_path, gridded, osm):
    """Two sub-districts (the extract split west and east): their residents sum to the district's."""
    xy = gridded.study.net.xy
    mid = float(np.median(xy[:, 0]))
    west = shapely.box(xy[:, 0].min() - 10, xy[:, 1].min() - 10, mid, xy[:, 1].max() + 10)
    east = shapely.box(mid, xy[:, 1].min() - 10, xy[:, 0].max() + 10, xy[:, 1].max() + 10)
    path = tmp_path / "街道.geojson"
    gpd.GeoDataFrame({"街道": ["西街道", "东街道"]}, geometry=[west, east], crs=gridded.crs).to_crs(
        "EPSG:4326").to_file(path, driver="GeoJSON")
    a = lifecircle.analyze(osm, level="15min", population=GRID, subdistricts=path)
    from lifecircle.indicators import indicators

    table = indicators(a)
    assert set(table["scope"]) == {"district", "西街道", "东街道"}
    for key in a.config.keys:
        rows = table[table["category"] == key].set_index("scope")
        assert rows.loc["西街道", "residents"] + rows.loc["东街道", "residents"] == pytest.approx(
            rows.loc["district", "residents"], abs=0.2)
        if key not in a.no_data:
            within = rows.loc["西街道", "residents_within"] + rows.loc["东街道", "residents_within"]
            assert within == pytest.approx(rows.loc["district", "residents_within"], abs=0.2)


def test_older_residents_from_an_age_band(tmp_path, osm):
    """A grid with a 60+ column (the HSY counts with a fifth of them older, to test the path): the
    categories for older residents report their share; the totals add up."""
    grid = gpd.read_file(GRID)
    grid["pop_60plus"] = np.round(grid["population"] * 0.2)
    path = tmp_path / "grid_with_age.gpkg"
    grid.to_file(path, driver="GPKG")
    a = lifecircle.analyze(osm, level="15min", population=path)
    assert a.population.has_elderly
    assert a.coverage["elderly"].sum() == pytest.approx(0.2 * a.coverage["residents"].sum(), rel=0.02)
    assert "elderly_share_elderly_care" in a.coverage and "elderly_share_clinic" not in a.coverage


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_text("not a grid"), "cannot be read"),
    (lambda p: gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326").to_file(
        p, driver="GPKG"), "has no population column"),
    (lambda p: gpd.GeoDataFrame({"population": [-5]}, geometry=[shapely.box(0, 0, 1, 1)],
                                crs="EPSG:4326").to_file(p, driver="GPKG"), "negative counts"),
])
def test_a_bad_grid_is_one_line(tmp_path, osm, make, problem):
    path = tmp_path / "bad.gpkg"
    make(path)
    with pytest.raises(InputFileError) as e:
        lifecircle.analyze(osm, population=path)
    assert problem in str(e.value) and "\n" not in str(e.value)

"""Residents: from a population grid, from a column of the communities file, or estimated.

Planners have the population: census counts per community (七普 by 社区/居委会) or a grid
(WorldPop, GHS-POP, a national 100-250 m grid). :func:`read_grid` reads a grid — a raster
(GeoTIFF, by rasterio) or a vector grid of cells (GeoPackage, GeoJSON, Shapefile) — and
:func:`allocate` shares each cell's people out over the homes in it, by their floor area
(dasymetrically), or over the communities it overlaps, by area, where it holds no home. Cells
are intersected with the study area and the communities exactly (shapely's polygon overlay:
the fraction of a cell inside a community is its area there, not a count of pixel centres),
so the residents of all communities plus those outside every community equal the grid's people
over the area. Without a grid or a column the residents are estimated from floor area
(footprint × levels ÷ :data:`lifecircle.settings.floor_area_per_person`), and every output
says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from .errors import InputFileError
from .fileio import find_column

#: Population columns of a vector grid (or of a communities file), in order of preference.
POPULATION_COLUMNS = ("population", "常住人口", "人口", "总人口", "pop", "residents", "inhabitants", "total",
                      "vaesto", "asukkaat", "count", "value")

#: Columns of older residents (aged 60 and over), in order of preference.
ELDERLY_COLUMNS = ("elderly", "pop_60plus", "age_60_plus", "aged_60_plus", "60+", "60岁及以上", "老年人口",
                   "pop60", "ika_65_", "age_65_plus")

RASTER_SUFFIXES = (".tif", ".tiff", ".geotiff")

#: Kinds of population source (:attr:`Population.kind`).
KINDS = ("grid", "column", "floor_area")


@dataclass
class Population:
    """Where a run's residents come from, and how they add up.

    Attributes
    ----------
    kind
        "grid" (a population grid allocated to homes and communities), "column" (the
        communities file's counts) or "floor_area" (estimated from floor area).
    source
        The grid's file or the column's name ("" for the estimate).
    date, licence
        As the user gave them (None when not given).
    total
        Residents in the study area: the grid's people over it, else the communities' sum.
    outside
        Of those, the residents of no community (homes outside every community, cells
        overlapping none); 0 without a grid.
    elderly_total
        Older residents (60+) in the study area, NaN when the data has no age band.
    """

    kind: str
    source: str = ""
    date: str | None = None
    licence: str | None = None
    total: float = math.nan
    outside: float = 0.0
    elderly_total: float = math.nan

    @property
    def has_elderly(self) -> bool:
        return math.isfinite(self.elderly_total)


@dataclass
class Grid:
    """A population grid: cell polygons (a projected CRS) and their people (and older people)."""

    cells: np.ndarray
    people: np.ndarray
    elderly: np.ndarray | None
    path: Path
    crs: Any


def _fail(path: Path, problem: str) -> InputFileError:
    return InputFileError(" ".join(f"population grid {path}: {problem}".split()))


def _raster(path: Path, crs: Any) -> Grid:
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise _fail(path, "has no coordinate system (CRS); save it with one")
            band = src.read(1, masked=True)
            transform, raster_crs = src.transform, src.crs
    except RasterioIOError as e:
        raise _fail(path, f"cannot be read as a GeoTIFF ({' '.join(str(e).split())[:200]})") from None
    values = np.ma.filled(band.astype(float), 0.0)
    values[~np.isfinite(values)] = 0.0
    if (values < 0).any():
        raise _fail(path, "has negative cell values; a population grid counts people")
    rows, cols = np.nonzero(values > 0)
    # each pixel an exact square in the raster's CRS (no resampling)
    t = transform
    x0, y0 = t.c + cols * t.a + rows * t.b, t.f + cols * t.d + rows * t.e
    x1, y1 = x0 + t.a + t.b, y0 + t.d + t.e
    boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1), np.maximum(y0, y1))
    cells = gpd.GeoSeries(boxes, crs=raster_crs).to_crs(crs).to_numpy()
    return Grid(cells, values[rows, cols], None, path, crs)


def _vector(path: Path, crs: Any, column: str | None, elderly_column: str | None) -> Grid:
    from .fileio import read_vector

    try:
        gdf = read_vector(path)
    except InputFileError:
        raise
    except Exception as e:  # pyogrio raises many types for a broken file
        raise _fail(path, f"cannot be read ({' '.join(str(e).split())[:200]})") from None
    if gdf.crs is None:
        raise _fail(path, "has no coordinate system (CRS); save it with one")
    col = column or find_column(gdf.columns, POPULATION_COLUMNS)
    if col is None or col not in gdf.columns:
        want = f"column {column!r}" if column else "population column (population, 人口, 常住人口, pop, …)"
        raise _fail(path, f"has no {want}; found: {', '.join(map(str, gdf.columns))}")
    people = _numbers(gdf[col], path, col)
    old_col = elderly_column or find_column(gdf.columns, ELDERLY_COLUMNS)
    elderly = _numbers(gdf[old_col], path, old_col) if old_col is not None else None
    polys = shapely.get_type_id(gdf.geometry.to_numpy()) >= 3
    if not polys.any():
        raise _fail(path, "holds no polygons: a vector grid is cells (polygons) with a count each")
    gdf = gdf[polys]
    cells = gdf.geometry.to_crs(crs).to_numpy()
    return Grid(cells, people[polys], None if elderly is None else elderly[polys], path, crs)


def _numbers(values: Any, path: Path, col: str) -> np.ndarray:
    import pandas as pd

    out = pd.to_numeric(values, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(out) & values.notna().to_numpy()
    if bad.any():
        raise _fail(path, f"column {col!r} holds {values[bad].iloc[0]!r}, not a number")
    out = np.nan_to_num(out)
    if (out < 0).any():
        raise _fail(path, f"column {col!r} has negative counts")
    return out


def read_grid(path: str | Path, crs: Any, column: str | None = None, elderly_column: str | None = None) -> Grid:
    """Read a population grid, cells projected to ``crs``.

    Parameters
    ----------
    path
        A GeoTIFF (people per pixel; nodata and non-positive pixels are empty) or a vector
        grid (polygons with a population column: :data:`POPULATION_COLUMNS`, or ``column``;
        older residents in :data:`ELDERLY_COLUMNS`, or ``elderly_column``).
    crs
        The analysis CRS.

    Raises
    ------
    InputFileError
        Missing or unreadable file, no CRS, no population column, negative counts.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "not found")
    if path.suffix.lower() in RASTER_SUFFIXES:
        return _raster(path, crs)
    return _vector(path, crs, column, elderly_column)


@dataclass
class Allocation:
    """A grid shared out: per home (building row) and per community, and who is left outside."""

    home_people: np.ndarray
    home_elderly: np.ndarray | None
    community_area_people: np.ndarray
    community_area_elderly: np.ndarray | None
    total: float
    elderly_total: float


def _cells_in(grid: Grid, area: shapely.Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The cells' parts inside the study area and their people (a cell's share by its area inside)."""
    inside = shapely.intersection(grid.cells, area)
    full = shapely.area(grid.cells)
    frac = np.where(full > 0, shapely.area(inside) / np.where(full > 0, full, 1.0), 0.0)
    keep = frac > 0
    elderly = None if grid.elderly is None else grid.elderly[keep] * frac[keep]
    return inside[keep], grid.people[keep] * frac[keep], elderly


def allocate(grid: Grid, area: shapely.Geometry, homes: np.ndarray, home_weight: np.ndarray,
             communities: np.ndarray) -> Allocation:
    """Share a grid's people out over homes and communities, within ``area`` (all projected).

    Parameters
    ----------
    grid
        The population grid.
    area
        The study area: the part of each cell inside it counts, by area.
    homes
        Points of the residential buildings (their representative points).
    home_weight
        Each home's floor area (or any weight): a cell's people go to the homes in it in
        proportion (dasymetric allocation).
    communities
        Community polygons: a cell without homes gives its people to the communities it
        overlaps, by the area of the overlap (and the rest to no community).

    Returns
    -------
    Allocation
        People per home and, from cells without homes, per community; the total over the area.
    """
    cells, people, elderly = _cells_in(grid, area)
    n_homes, n_comm = len(homes), len(communities)
    home_people = np.zeros(n_homes)
    home_elderly = None if elderly is None else np.zeros(n_homes)
    area_people = np.zeros(n_comm)
    area_elderly = None if elderly is None else np.zeros(n_comm)
    cell_of = np.full(n_homes, -1)
    if n_homes and len(cells):
        pt, cell = shapely.STRtree(cells).query(homes, predicate="within")
        order = np.lexsort((cell, pt))
        first = np.unique(pt[order], return_index=True)
        cell_of[first[0]] = cell[order][first[1]]  # a home on a cell border: its first cell
    weight = np.asarray(home_weight, float)
    cell_weight = np.bincount(cell_of[cell_of >= 0], weights=weight[cell_of >= 0], minlength=len(cells))
    has = cell_of >= 0
    share = np.where(has, weight / np.where(has, cell_weight[np.maximum(cell_of, 0)], 1.0), 0.0)
    share[has & (cell_weight[np.maximum(cell_of, 0)] <= 0)] = 0.0
    home_people[has] = people[cell_of[has]] * share[has]
    if elderly is not None:
        home_elderly[has] = elderly[cell_of[has]] * share[has]
    empty = np.flatnonzero(cell_weight <= 0)
    if len(empty) and n_comm:
        ci, co = shapely.STRtree(communities).query(cells[empty], predicate="intersects")
        cell_area = shapely.area(cells[empty])
        part = shapely.area(shapely.intersection(cells[empty][ci], communities[co]))
        frac = np.where(cell_area[ci] > 0, part / np.where(cell_area[ci] > 0, cell_area[ci], 1.0), 0.0)
        np.add.at(area_people, co, people[empty][ci] * frac)
        if elderly is not None:
            np.add.at(area_elderly, co, elderly[empty][ci] * frac)
    return Allocation(home_people, home_elderly, area_people, area_elderly, float(people.sum()),
                      float(elderly.sum()) if elderly is not None else math.nan)


def grid_date(path: Path) -> str | None:
    """A year in the grid's file name (…-2020.gpkg), the nearest thing to a date it carries."""
    years = re.findall(r"(?<!\d)(19[5-9]\d|20[0-9]\d)(?!\d)", path.stem)
    return years[-1] if years else None

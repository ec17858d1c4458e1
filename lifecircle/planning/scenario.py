"""What-if scenarios: what a new canteen, a closed street or a new walkway changes.

A scenario is a vector file (GeoJSON, GeoPackage), one feature per change
(see :data:`CHANGES` and the README's "Scenarios" section). :func:`what_if`
applies it to an :class:`~lifecircle.analysis.Analysis` in the same process
and on the same network index: the analysis' :class:`~lifecircle.pipeline.Study`
is the *before*; the *after* edits a copy of the network arrays
(:mod:`lifecircle.planning.edits`), snaps the new facilities with the
engine, drops the removed ones, and runs the scoring code of ``analyze``
(``pipeline._measure``) on the edited study. Isochrones and routes are
redrawn only for communities near a change (a walk cannot reach farther than
its length), the rest are kept: a what-if costs a fraction of an analysis.

    a = lifecircle.analyze()
    r = a.what_if("data/scenario-example.geojson")
    r.table                    # per community x category: before / after
    r.summary()                # "+1 communities complete, +1,240 residents reach a canteen"
    r.after                    # an Analysis of the after state
    r.map()                    # comparison map
    r.save("out")              # the after state's outputs + scenario.csv, scenario.html
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..analysis import Analysis
from ..config import Config
from ..core.engine import snap_points
from ..errors import InputFileError
from ..text import is_missing, text_of
from .edits import NetworkEdits, Walkway, edge_way_ids, edit_network, streets_along

#: The changes a scenario feature may ask for (its ``change`` column).
CHANGES = ("add_facility", "remove_facility", "add_walkway", "close_street")

#: Columns of :attr:`ScenarioResult.table` (and ``scenario.csv``).
TABLE_COLUMNS = [
    "community_id", "name", "category", "metres_before", "metres_after", "minutes_before", "minutes_after",
    "covered_before", "covered_after", "nearest_before", "nearest_after", "residents",
    "residents_newly_within", "residents_no_longer_within",
]

_COLUMNS = ["row", "change", "category", "name", "facility_id", "bridge", "osm_way_id", "note", "geometry"]
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f", ""}

Progress = Callable[[str], None]


def _where(row: int, change: str) -> str:
    return f"scenario row {row} ({change})" if change else f"scenario row {row}"


# ---------------------------------------------------------------- reading


def _read_file(path: Path) -> gpd.GeoDataFrame:
    from ..errors import first_line
    from ..fileio import read_vector

    if not path.exists():
        raise InputFileError(f"scenario file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"scenario file is not a file: {path}")
    try:
        return read_vector(path)
    except Exception as e:  # pyogrio/GDAL raise many types for bad files
        raise InputFileError(f"cannot read scenario file {path}: {first_line(e)}") from None


def _flag(value: Any, row: int, change: str) -> bool:
    if is_missing(value):
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.number)) and value in (0, 1):  # GDAL reads a boolean column with gaps so
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise InputFileError(f"{_where(row, change)}: bridge must be true or false, not {value!r}")


def _check_lonlat(gdf: gpd.GeoDataFrame) -> None:
    """Refuse coordinates that are not longitude/latitude in a file with no (or a geographic) CRS."""
    if gdf.crs is not None and gdf.crs.is_projected:
        return
    b = shapely.bounds(gdf.geometry.values)
    bad = np.flatnonzero((np.abs(b[:, [0, 2]]) > 180).any(axis=1) | (np.abs(b[:, [1, 3]]) > 90).any(axis=1))
    if len(bad):
        i = int(bad[0])
        x, y = shapely.get_coordinates(gdf.geometry.values[i])[0]
        raise InputFileError(
            f"{_where(i + 1, text_of(gdf['change'].iloc[i]))}: coordinates ({x:.0f}, {y:.0f}) are not "
            "longitude/latitude and the file declares no projected CRS; save it with its CRS (e.g. EPSG:3857)")


def _text_column(gdf: gpd.GeoDataFrame, col: str) -> pd.Series:
    if col not in gdf:
        return pd.Series([""] * len(gdf), index=gdf.index, dtype=object)
    return gdf[col].map(lambda v: "" if is_missing(v) else str(v).strip())


def way_id(text: str, where: str) -> int:
    """An OSM way id as a scenario file gives it ("123", "way/123", or 123.0 from a spreadsheet).

    Raises
    ------
    InputFileError
        Anything else: "1e400", "-5", "1.5", "abc".
    """
    try:
        number = float(text.removeprefix("way/"))
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= 1 and number == int(number) and number < 2**63):
        raise InputFileError(f"{where}: osm_way_id {text!r} is not a way id")
    return int(number)


def _check_row(row: int, change: str, geom, rec: dict, cfg: Config) -> None:
    """One feature's own checks (those that need no network)."""
    where = _where(row, change)
    kind = None if geom is None or geom.is_empty else geom.geom_type
    if kind and not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputFileError(f"{where}: a coordinate is not a number (NaN or infinite)")
    if rec["osm_way_id"]:
        way_id(rec["osm_way_id"], where)
    if change == "add_facility":
        if kind != "Point":
            raise InputFileError(f"{where}: needs a Point geometry, not {kind or 'none'}")
        if rec["category"] not in cfg.keys:
            raise InputFileError(f"{where}: unknown category {rec['category']!r} (this run's: "
                                 f"{', '.join(cfg.keys)})")
    elif change == "remove_facility":
        if not rec["facility_id"]:
            raise InputFileError(f"{where}: needs a facility_id (a poi_id such as node/123)")
    elif change == "add_walkway":
        if kind != "LineString":
            raise InputFileError(f"{where}: needs a LineString geometry, not {kind or 'none'}")
    elif change == "close_street":
        if kind != "LineString" and not rec["osm_way_id"]:
            raise InputFileError(f"{where}: needs a LineString along the street or an osm_way_id")


def read_scenario(scenario: str | Path | gpd.GeoDataFrame, crs: Any, config: Config) -> gpd.GeoDataFrame:
    """Read and check a scenario: one row per change, in ``crs``.

    Parameters
    ----------
    scenario
        A GeoJSON/GeoPackage path, or a GeoDataFrame, with the columns of
        the scenario format (``change`` and, per change, ``category``,
        ``name``, ``facility_id``, ``bridge``, ``osm_way_id``, ``note``).
    crs
        The analysis CRS.
    config
        The run's configuration (its category keys).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``row`` (1-based feature number), ``change``, ``category``,
        ``name``, ``facility_id``, ``bridge`` (bool), ``osm_way_id``,
        ``note``, geometry (in ``crs``).

    Raises
    ------
    InputFileError
        One line naming the row and its change: an unknown change or
        category, a wrong geometry, coordinates that are not lon/lat in a
        file without a projected CRS.
    """
    gdf = scenario.copy() if isinstance(scenario, gpd.GeoDataFrame) else _read_file(Path(scenario))
    if len(gdf) == 0:
        return gpd.GeoDataFrame(columns=_COLUMNS, geometry="geometry", crs=crs)
    if "change" not in gdf:
        cols = ", ".join(str(c) for c in gdf.columns if c != "geometry")
        raise InputFileError(f"scenario has no 'change' column (columns: {cols})")
    gdf = gdf.reset_index(drop=True)
    out = pd.DataFrame({"row": np.arange(1, len(gdf) + 1), "change": _text_column(gdf, "change").values})
    for col in ("category", "name", "facility_id", "osm_way_id", "note"):
        out[col] = _text_column(gdf, col).values
    for rec in out.to_dict("records"):
        if rec["change"] not in CHANGES:
            raise InputFileError(f"{_where(rec['row'], '')}: unknown change {rec['change']!r} "
                                 f"(one of {', '.join(CHANGES)})")
    geoms = gdf.geometry.values
    # a one-part MultiLineString (as some editors save lines) is its line
    one = np.array([g is not None and g.geom_type == "MultiLineString" and len(g.geoms) == 1 for g in geoms])
    geoms = np.where(one, [g.geoms[0] if o else g for g, o in zip(geoms, one)], geoms)
    for rec, geom in zip(out.to_dict("records"), geoms):
        _check_row(rec["row"], rec["change"], geom, rec, config)
    out["bridge"] = [_flag(v, r, c) for v, r, c in zip(
        gdf["bridge"] if "bridge" in gdf else [None] * len(gdf), out["row"], out["change"])]
    raw = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, crs=gdf.crs or "EPSG:4326").values,
                           crs=gdf.crs or "EPSG:4326")
    has = ~raw.geometry.isna() & ~raw.geometry.is_empty
    if has.any():
        _check_lonlat(raw[has])
    return raw.to_crs(crs)[_COLUMNS]


# ---------------------------------------------------------------- applying


@dataclass
class _Plan:
    """A scenario resolved against one analysis: what to close, open, add and drop."""

    changes: gpd.GeoDataFrame
    closed: dict[int, np.ndarray] = field(default_factory=dict)
    walkways: list[Walkway] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added: gpd.GeoDataFrame | None = None


def _closed_edges(rec: dict, geom, study, way_ids: list[set[int]] | None) -> np.ndarray:
    net = study.net
    where = _where(rec["row"], rec["change"])
    if rec["osm_way_id"]:
        wid = way_id(rec["osm_way_id"], where)
        edges = np.array([i for i, ids in enumerate(way_ids) if wid in ids], dtype=np.int64)
        if len(edges) == 0:
            raise InputFileError(f"{where}: no walkable street of OSM way {wid} in the network")
        return edges
    edges = streets_along(net, geom, settings.walkway_join_m)
    if len(edges) == 0:
        raise InputFileError(f"{where}: no walkable street lies along the line (within "
                             f"{settings.walkway_join_m:g} m)")
    return edges


def _new_facilities(rows: pd.DataFrame, geoms: np.ndarray, crs) -> gpd.GeoDataFrame:
    """Facility rows for the added facilities, with ids of their own."""
    return gpd.GeoDataFrame({
        "poi_id": [f"scenario/{r}" for r in rows["row"]], "osm_type": "scenario", "osm_id": rows["row"].values,
        "name": rows["name"].values, "category": rows["category"].values, "source": "scenario",
    }, geometry=geoms, crs=crs)


def _plan(changes: gpd.GeoDataFrame, study) -> _Plan:
    """Check every change against the analysis and resolve it."""
    plan = _Plan(changes)
    known = set(study.facilities["poi_id"])
    way_ids = None
    for rec, geom in zip(changes.drop(columns="geometry").to_dict("records"), changes.geometry.values):
        change, where = rec["change"], _where(rec["row"], rec["change"])
        if change == "remove_facility":
            if rec["facility_id"] not in known:
                raise InputFileError(f"{where}: unknown facility_id {rec['facility_id']!r} (ids as in "
                                     "Analysis.pois' poi_id or the nearest_id_<category> columns)")
            plan.removed.append(rec["facility_id"])
        elif change == "close_street":
            if rec["osm_way_id"] and way_ids is None:
                way_ids = edge_way_ids(study.net, np.arange(len(study.net.eu)))
            plan.closed[rec["row"]] = _closed_edges(rec, geom, study, way_ids)
        elif change == "add_walkway":
            plan.walkways.append(Walkway(rec["row"], geom, rec["name"], rec["bridge"]))
    adds = changes["change"].values == "add_facility"
    plan.added = _new_facilities(changes[adds], changes.geometry.values[adds], changes.crs)
    return plan


def _carried(before, points: np.ndarray, edits: NetworkEdits | None, net, max_snap_m: float):
    """Points snapped on the original network, on the edited one; and which had to be snapped again.

    Homes and facilities keep their place on their street (on its piece,
    if a walkway split it): a walkway adds ways to walk, it does not move
    front doors. Points on a closed street, and points that were too far
    from any street (a new walkway may be near enough now), are snapped again.
    """
    if edits is None:
        return before, np.zeros(len(before), dtype=bool)
    out = edits.carry(before)
    again = np.flatnonzero(out.edge < 0)
    if len(again):
        fresh = snap_points(net, points[again], max_snap_m)
        out.edge[again], out.offset[again], out.leg[again] = fresh.edge, fresh.offset, fresh.leg
    moved = np.zeros(len(before), dtype=bool)
    moved[again] = True
    return out, moved


def _carried_access(study, facilities: gpd.GeoDataFrame, edits: NetworkEdits | None, net):
    """The after state's access points: those of kept facilities carried over, new ones snapped."""
    from ..facilities import access_points
    from ..pipeline import Access

    acc, old = study.access, study.facilities
    row_of = {k: i for i, k in enumerate(zip(old["poi_id"], old["category"]))}
    starts = np.searchsorted(acc.facility, np.arange(len(old) + 1))
    pts, owner, snapped, fresh = [], [], [], []
    carried, _ = _carried(acc.snapped, acc.points, edits, net, study.cfg.max_snap_m)
    for r, key in enumerate(zip(facilities["poi_id"], facilities["category"])):
        i = row_of.get(key)
        if i is None:
            p, _ = access_points(facilities.geometry.values[r:r + 1])
            sn = snap_points(net, p, study.cfg.max_snap_m)
            fresh.append(r)
        else:
            sl = slice(starts[i], starts[i + 1])
            p, sn = acc.points[sl], carried.subset(np.arange(starts[i], starts[i + 1]))
        pts.append(p)
        owner.append(np.full(len(p), r))
        snapped.append(sn)
    from ..core.engine import Snapped

    joined = Snapped(*(np.concatenate([getattr(s, f) for s in snapped]) for f in ("edge", "offset", "leg")))
    owner_arr = np.concatenate(owner).astype(np.int64)
    snap_m = np.full(len(facilities), np.nan)
    np.fmin.at(snap_m, owner_arr[joined.ok], joined.leg[joined.ok])
    return Access(joined, owner_arr, snap_m, np.concatenate(pts))


def _edited_study(study, plan: _Plan):
    """The after state's Study: the edited network, origins and facilities."""
    from ..pipeline import Origins, _community_table

    edits = None
    net = study.net
    if plan.closed or plan.walkways:
        edits = edit_network(net, plan.closed, plan.walkways, settings.walkway_join_m)
        if len(edits.net.length) == 0:
            raise InputFileError(f"the scenario closes all {len(net.length):,} walkable street pieces and adds no "
                                 "walkway: nothing is left to walk on")
        for w in plan.walkways:
            if edits.joins[w.row] == 0:
                raise InputFileError(f"{_where(w.row, 'add_walkway')}: touches no walkable street (its ends and "
                                     f"crossings are more than {settings.walkway_join_m:g} m from any)")
        net = edits.net
    o = study.origins
    snapped, moved = _carried(o.snapped, o.points, edits, net, study.cfg.max_snap_m)
    origins = Origins(o.points, o.community, o.kind, o.building, snapped)
    facilities = study.facilities
    if plan.removed or len(plan.added):
        kept = facilities[~facilities["poi_id"].isin(plan.removed)]
        facilities = pd.concat([kept, plan.added.to_crs(net.crs)], ignore_index=True)
        facilities = gpd.GeoDataFrame(facilities, geometry="geometry", crs=net.crs)
        facilities = facilities.sort_values(["category", "poi_id"], kind="stable").reset_index(drop=True)
    access = study.access if edits is None and facilities is study.facilities else \
        _carried_access(study, facilities, edits, net)
    unsnapped = facilities["poi_id"].str.startswith("scenario/") & ~np.isfinite(access.snap_m)
    if unsnapped.any():
        row = int(facilities["osm_id"][unsnapped].iloc[0])
        raise InputFileError(f"{_where(row, 'add_facility')}: more than {study.cfg.max_snap_m:g} m from any "
                             "walkable street")
    region = study.region if edits is None else net.region(study.communities.geometry.values, study.search)
    after = replace(study, net=net, origins=origins, facilities=facilities, access=access, region=region,
                    table=_community_table(study.communities, origins, study.buildings))
    return after, edits, moved


def _near(points: np.ndarray, places: np.ndarray, radius: float) -> np.ndarray:
    """Mask of ``points`` within ``radius`` of any of ``places``."""
    out = np.zeros(len(points), dtype=bool)
    places = places[~shapely.is_empty(places)] if len(places) else places
    if len(places) and len(points):
        hit = shapely.STRtree(places).query(points, predicate="dwithin", distance=radius)[0]
        out[hit] = True
    return out


@dataclass
class _Changed:
    """Where a scenario changes something (analysis CRS): streets, and facilities by category."""

    streets: np.ndarray
    sites: dict[str, np.ndarray]

    @property
    def all_sites(self) -> np.ndarray:
        return np.concatenate([np.empty(0, dtype=object), *self.sites.values()])


def _changed_places(before, edits: NetworkEdits | None, plan: _Plan) -> _Changed:
    streets = [np.empty(0, dtype=object)]
    if edits is not None:
        streets += [edits.touched, before.study.net.geoms[edits.old_edge < 0]]
    fac = before.study.facilities
    gone = fac[fac["poi_id"].isin(plan.removed)]
    added = plan.added.to_crs(before.crs)
    sites = {}
    for key in before.config.keys:
        sites[key] = np.concatenate([gone.geometry.values[gone["category"].values == key],
                                     added.geometry.values[added["category"].values == key]])
    return _Changed(np.concatenate(streets), sites)


class _Gaps:
    """The after state's gaps, for ``pipeline._measure``: drawn as ``analyze`` draws
    them (each home-less community's outside-reach area is traced around it, so
    redrawing all of them costs little); also keeps each category's walk from
    every origin, for the comparison table."""

    def __init__(self) -> None:
        self.metres: dict[str, np.ndarray] = {}

    def __call__(self, key: str, reach, points, study) -> list[gpd.GeoDataFrame]:
        from ..pipeline import _gap_frames

        self.metres[key] = reach.metres
        return _gap_frames(key, reach, points, study)


def _iso_limits(iso: gpd.GeoDataFrame, cfg: Config) -> list[float]:
    """The isochrone limits of a run, in the order it drew them (each community has all)."""
    col = "minutes" if cfg.mode == "time" else "metres"
    return pd.unique(iso[col]).tolist() if len(iso) else cfg.check_isochrones(None)


def _isochrones(before: Analysis, study, redo: np.ndarray) -> gpd.GeoDataFrame:
    """Isochrones of the after state: redrawn where ``redo``, kept elsewhere."""
    from ..pipeline import community_isochrones

    iso = before.isochrones
    if not redo.any():
        return iso
    col = "minutes" if study.cfg.mode == "time" else "metres"
    limits = _iso_limits(iso, study.cfg)
    ids = study.table["community_id"].values
    centres = study.origins.snapped.subset(study.origins.centres)
    centres = type(centres)(np.where(redo, centres.edge, -1), centres.offset, centres.leg)
    fresh = community_isochrones(study.net, centres, ids, limits, study.cfg)
    # in community order, as analyze writes them
    order = {c: i for i, c in enumerate(ids)}
    kept = iso[~iso["community_id"].isin(ids[redo])]
    out = pd.concat([kept, fresh], ignore_index=True)
    rank = out["community_id"].map(order).values * len(limits) + out[col].map(
        {v: i for i, v in enumerate(limits)}).values
    return gpd.GeoDataFrame(out.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True),
                            geometry="geometry", crs=study.net.crs)


def _routes(before: Analysis, study, communities: gpd.GeoDataFrame, redo: np.ndarray) -> gpd.GeoDataFrame:
    """Routes of the after state: found again where ``redo``, kept elsewhere."""
    from ..pipeline import _routes as find_routes

    routes = before.routes
    if not redo.any():
        return routes
    fresh = find_routes(study, communities, only=redo)
    ids = communities["community_id"].values
    kept = routes[~routes["community_id"].isin(ids[redo])]
    out = pd.concat([kept, fresh], ignore_index=True)
    order = {c: i for i, c in enumerate(ids)}
    cats = {k: i for i, k in enumerate(study.cfg.keys)}
    rank = out["community_id"].map(order).values * len(cats) + out["category"].map(cats).values
    return gpd.GeoDataFrame(out.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True),
                            geometry="geometry", crs=study.net.crs)


def _left_out(before: Analysis, study) -> tuple[pd.DataFrame, list[str]]:
    """What the after state leaves out, and its warnings: the before's, with
    the unsnapped facilities and communities found again on the edited network."""
    from ..pipeline import _left_out as gather
    from ..pipeline import _unsnapped

    left, warnings = before.left_out, list(before.warnings)
    net, cfg, facilities, table = study.net, study.cfg, study.facilities, study.table
    centre = study.origins.centres
    pois = facilities.copy()
    poly = ~pois.geom_type.eq("Point")
    pois.loc[poly, "geometry"] = pois.loc[poly].representative_point()
    fresh = [
        left[left["distance_m"].isna()],
        _unsnapped("poi", facilities["poi_id"], facilities["name"], facilities["category"], pois.geometry.values,
                   np.isfinite(study.access.snap_m), net, cfg.max_snap_m),
        _unsnapped("community", table["community_id"], table["name"], np.full(len(table), ""),
                   study.origins.points[centre], study.origins.snapped.ok[centre], net, cfg.max_snap_m),
    ]
    _category_warnings(before, study, warnings)
    said: list[str] = []
    now: list[str] = []
    new_left = gather(fresh, now)
    if new_left.equals(left):
        return left, warnings
    gather([left], said)  # the line the before's run wrote about its left-out rows
    if said and said[0] in warnings:
        warnings.remove(said[0])
    warnings.extend(now)
    return new_left, warnings


def _category_warnings(before: Analysis, study, warnings: list[str]) -> None:
    """Drop the "no facilities" warning of categories the scenario gives one; add it for those it empties."""
    from ..pipeline import no_facilities_warning

    had = set(before.study.facilities["category"])
    has = set(study.facilities["category"])
    for key in study.cfg.keys:
        text = no_facilities_warning(study.cfg, key)
        if key in has and key not in had and text in warnings:
            warnings.remove(text)
        elif key in had and key not in has:
            warnings.append(text)


def what_if(analysis: Analysis, scenario: str | Path | gpd.GeoDataFrame,
            progress: Progress | None = None) -> "ScenarioResult":
    """Apply a scenario to an analysis and measure the after state.

    Parameters
    ----------
    analysis
        The *before* (from :func:`lifecircle.analyze`; its ``study`` is used).
    scenario
        A scenario file (GeoJSON, GeoPackage) or GeoDataFrame.
    progress
        Called with a short message at each long step.

    Returns
    -------
    ScenarioResult

    Raises
    ------
    InputFileError
        One line naming the scenario row and its change.
    """
    from ..pipeline import _measure, display_points

    say = progress or (lambda msg: None)
    study = analysis.study
    if study is None:
        raise InputFileError("this analysis keeps no study (a loaded or batch result): run analyze() again")
    changes = read_scenario(scenario, analysis.crs, study.cfg)
    plan = _plan(changes, study)
    say(f"applying {len(changes)} changes")
    after, edits, moved = _edited_study(study, plan)
    changed = _changed_places(analysis, edits, plan)
    gap_maker = _Gaps()
    communities, gaps = _measure(after, say, gaps=gap_maker)
    streets, sites = changed.streets, changed.all_sites
    centres = after.origins.points[after.origins.centres]
    cfg = after.cfg
    moved = moved[after.origins.centres]
    iso_limit = max(cfg.to_metres(x) for x in _iso_limits(analysis.isochrones, cfg))
    # a walk of T metres reaches no farther than T; the frontage drawn around it a little more
    redo_iso = moved | _near(centres, streets, iso_limit + 4 * settings.frontage_m)
    nearest = [f"nearest_id_{k}" for k in cfg.keys] + [f"metres_{k}" for k in cfg.keys]
    same = (communities[nearest].fillna(-1).values == analysis.communities[nearest].fillna(-1).values).all(axis=1)
    redo_routes = moved | ~same | _near(centres, np.concatenate([streets, sites]), after.search)
    say(f"isochrones and routes of {int(redo_iso.sum())} and {int(redo_routes.sum())} communities near the changes")
    iso = _isochrones(analysis, after, redo_iso)
    pois = display_points(after.facilities)
    pois["snap_m"] = np.round(after.access.snap_m, 1)
    left, warnings = _left_out(analysis, after)
    result = Analysis(
        config=cfg, communities=communities, pois=gpd.GeoDataFrame(pois, crs=after.net.crs), isochrones=iso,
        gaps=gaps, left_out=left, graph=None, source=analysis.source, crs=after.net.crs,
        warnings=warnings, data_date=analysis.data_date, routes=_routes(analysis, after, communities, redo_routes),
        study=after, facilities=analysis.facilities, review=analysis.review, population=analysis.population,
        facility_sources=analysis.facility_sources,
    )
    out = ScenarioResult(before=analysis, after=result, changes=changes, edits=edits, closed=plan.closed,
                         after_metres=gap_maker.metres)
    result.scenario = out
    return out


# ---------------------------------------------------------------- results


def _reach_within(study, key: str, metres: np.ndarray | None = None) -> np.ndarray:
    """Per origin: within the category's distance (the rule ``_score`` applies);
    ``metres``, the walks if known."""
    from ..pipeline import _walk

    if metres is None:
        points, rows = study.access.of(study.facilities["category"].values == key)
        metres = _walk(study, points, rows).metres
    return np.nan_to_num(metres, nan=np.inf) <= study.cfg.limit_m(key)


def comparison_table(before: Analysis, after: Analysis, after_metres: dict | None = None) -> pd.DataFrame:
    """Per community and category: the walk, coverage and residents within reach, before and after.

    Parameters
    ----------
    before, after
        The two states (``after`` from :func:`what_if`, on the same communities).
    after_metres
        Category -> the after state's walk from every origin, when known
        (what-if keeps them), else walked again.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`, one row per community x category (in
        community, then category order). ``residents_newly_within`` and
        ``residents_no_longer_within`` count the estimated residents of the
        homes that came within (or fell out of) the category's distance.
    """
    b, a, cfg = before.communities, after.communities, after.config
    sb, sa = before.study, after.study
    homes = sb.origins.homes
    residents = sb.buildings["residents"].values[sb.origins.building[homes]]
    owner = sb.origins.community[homes]
    n = len(b)
    parts = []
    for key in cfg.keys:
        wb = _reach_within(sb, key)[homes]
        wa = _reach_within(sa, key, (after_metres or {}).get(key))[homes]
        gained = np.bincount(owner, weights=residents * (wa & ~wb), minlength=n)
        lost = np.bincount(owner, weights=residents * (wb & ~wa), minlength=n)
        parts.append(pd.DataFrame({
            "community_id": b["community_id"].values, "name": b["name"].values, "category": key,
            "metres_before": b[f"metres_{key}"].values, "metres_after": a[f"metres_{key}"].values,
            "minutes_before": b[f"minutes_{key}"].values, "minutes_after": a[f"minutes_{key}"].values,
            "covered_before": b[f"covered_{key}"].values, "covered_after": a[f"covered_{key}"].values,
            "nearest_before": b[f"nearest_id_{key}"].values, "nearest_after": a[f"nearest_id_{key}"].values,
            "residents": b["residents"].values, "residents_newly_within": np.round(gained, 1),
            "residents_no_longer_within": np.round(lost, 1), "_order": np.arange(n),
        }))
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    return table[TABLE_COLUMNS]


@dataclass
class ScenarioResult:
    """Before and after a scenario (from :meth:`lifecircle.analysis.Analysis.what_if`).

    Attributes
    ----------
    before, after
        The two :class:`~lifecircle.analysis.Analysis` states; ``after`` has
        every table of an analysis (``after.coverage``, ``after.save()``...).
    changes
        The scenario, checked: ``row``, ``change``, ``category``, ``name``,
        ``facility_id``, ``bridge``, ``osm_way_id``, ``note``, geometry
        (analysis CRS).
    edits
        The edited network and what the edits touched (None when the
        scenario changes no street).
    closed
        Scenario row -> the original network's edges it closed.
    """

    before: Analysis
    after: Analysis
    changes: gpd.GeoDataFrame
    edits: NetworkEdits | None = field(default=None, repr=False)
    closed: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    # category -> the after state's walk from every origin (kept from its scoring)
    after_metres: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"<ScenarioResult of {len(self.changes)} changes: {self.summary()}>"

    @cached_property
    def table(self) -> pd.DataFrame:
        """Per community x category, before and after (:func:`comparison_table`)."""
        return comparison_table(self.before, self.after, self.after_metres)

    @property
    def changed(self) -> pd.DataFrame:
        """The rows of :attr:`table` where the walk, the coverage or the residents within reach changed."""
        t = self.table
        walk = ~((t["metres_before"] == t["metres_after"]) | (t["metres_before"].isna() & t["metres_after"].isna()))
        return t[walk | (t["covered_before"] != t["covered_after"]) | (t["residents_newly_within"] > 0)
                 | (t["residents_no_longer_within"] > 0)]

    @property
    def has_changes(self) -> bool:
        """Whether the scenario holds any change."""
        return len(self.changes) > 0

    def walkways(self) -> gpd.GeoDataFrame:
        """The new walkways (rows of :attr:`changes`)."""
        return self.changes[self.changes["change"] == "add_walkway"]

    def closed_streets(self) -> gpd.GeoDataFrame:
        """The street edges closed, one row per edge: ``row`` (the scenario row), ``note``, geometry."""
        net = self.before.study.net
        notes = dict(zip(self.changes["row"], self.changes["note"]))
        rows = [(r, notes.get(r, ""), g) for r, edges in self.closed.items() for g in net.geoms[edges]]
        return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["row", "note", "geometry"]), geometry="geometry",
                                crs=self.before.crs)

    def removed_facilities(self) -> gpd.GeoDataFrame:
        """The facilities the scenario removes (rows of the before's ``pois``)."""
        ids = self.changes.loc[self.changes["change"] == "remove_facility", "facility_id"]
        return self.before.pois[self.before.pois["poi_id"].isin(ids)]

    def added_facilities(self) -> gpd.GeoDataFrame:
        """The facilities the scenario adds (rows of the after's ``pois``)."""
        return self.after.pois[self.after.pois["poi_id"].str.startswith("scenario/")]

    def summary(self, lang: str = "en") -> str:
        """One line: communities newly complete, residents newly within reach of each category."""
        from ..i18n import category_label, t

        b, a = self.before.communities, self.after.communities
        d_complete = int(a["complete"].sum()) - int(b["complete"].sum())
        parts = [t("scenario_complete", lang, change=f"{d_complete:+d}", before=int(b["complete"].sum()),
                   after=int(a["complete"].sum()))]
        table = self.table
        for key in self.after.config.keys:
            rows = table[table["category"] == key]
            gained, lost = rows["residents_newly_within"].sum(), rows["residents_no_longer_within"].sum()
            label = category_label(self.after.config, key, lang)
            label = label.lower() if lang == "en" else label
            if round(gained):
                parts.append(t("scenario_gain", lang, residents=f"+{gained:,.0f}", label=label))
            if round(lost):
                parts.append(t("scenario_loss", lang, residents=f"-{lost:,.0f}", label=label))
        if not self.has_changes:
            return t("scenario_none", lang)
        return t("scenario_sep", lang).join(parts)

    def map(self, lang: str = "en"):
        """The comparison map (folium): changed communities, before/after isochrones, the changes drawn."""
        from ..outputs.scenario_map import scenario_map

        return scenario_map(self, lang=lang)

    def save(self, folder: str | Path, lang: str = "en") -> dict[str, Path]:
        """Write the after state's outputs (as :meth:`Analysis.save`) plus
        ``scenario.csv`` (:attr:`table`) and ``scenario.html`` (:meth:`map`)
        into ``folder``; report.html gets a section on the scenario and
        coverage.xlsx a sheet with :attr:`table`. All
        files are staged and moved in together.
        """
        from ..fileio import staging_dir, write_csv
        from ..i18n import t
        from ..outputs.files import save_analysis
        from ..outputs.maps import render_map

        folder = Path(folder)
        with staging_dir(folder) as stage:
            # the workbook gets the comparison as a sheet; an empty scenario writes what analyze writes
            extra = {t("sheet_scenario", lang): self.table} if self.has_changes else None
            written = {k: folder / p.name
                       for k, p in save_analysis(self.after, stage, lang=lang, extra_sheets=extra).items()}
            write_csv(self.table, stage / "scenario.csv")
            written["scenario"] = folder / "scenario.csv"
            (stage / "scenario.html").write_bytes(render_map(self.map(lang)).encode("utf-8"))
            written["scenario_map"] = folder / "scenario.html"
        return written


def report_section(result: ScenarioResult, lang: str = "en") -> str:
    """The report's section on a scenario (HTML, every value escaped): the
    changes, coverage by category before and after, the communities that changed."""
    from ..i18n import category_label, strings
    from ..outputs.htmlassets import templates

    cfg = result.after.config
    labels = {"add_facility": "scenario_add_facility", "remove_facility": "scenario_remove_facility",
              "add_walkway": "scenario_add_walkway", "close_street": "scenario_close_street"}
    tx = strings(lang)
    changes = [{
        "row": r["row"], "change": tx[labels[r["change"]]],
        "what": " · ".join(x for x in (category_label(cfg, r["category"], lang) if r["category"] in cfg.keys else "",
                                       r["name"], r["facility_id"], r["osm_way_id"] and f"way/{r['osm_way_id']}")
                           if x),
        "note": r["note"],
    } for r in result.changes.drop(columns="geometry").to_dict("records")]
    table = result.table
    cats = []
    for key in cfg.keys:
        rows = table[table["category"] == key]
        cats.append({"key": key, "label": category_label(cfg, key, lang),
                     "before": int(rows["covered_before"].sum()), "after": int(rows["covered_after"].sum()),
                     "gained": f"{rows['residents_newly_within'].sum():,.0f}",
                     "lost": f"{rows['residents_no_longer_within'].sum():,.0f}"})
    changed = [{
        "name": r["name"], "id": r["community_id"], "label": category_label(cfg, r["category"], lang),
        "before": _walk_text(r["metres_before"], r["covered_before"]),
        "after": _walk_text(r["metres_after"], r["covered_after"]),
    } for r in result.changed.to_dict("records")]
    return templates().get_template("report_scenario.html.j2").render(
        t=tx, summary=result.summary(lang), changes=changes, categories=cats, changed=changed)


def _walk_text(metres: Any, covered: Any) -> str:
    walk = "—" if is_missing(metres) else f"{float(metres):.0f} m"
    return f"{walk} {'✓' if bool(covered) else '✗'}"

"""The whole analysis: source -> network -> facilities and homes -> coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .analysis import Analysis
from .communities import assign_subdistricts, derive_communities, read_communities, residential_buildings
from .config import Config, load_config
from .core.engine import (
    Snapped,
    nearest_node_facilities,
    nearest_point_facilities,
    origin_node_blocks,
    path_tree,
    route,
    snap_points,
)
from .core.isochrones import ReachArea, reach_polygon
from .core.network import Region, StreetNetwork, graph_is_built, project
from .errors import ConfigError, EmptyAreaError
from .facilities import ReviewSummary, access_points, build_register, counted, display_points, read_review
from .fileio import in_two
from .i18n import STRINGS, Message, labels, localize
from .population import Grid, Population, allocate, grid_date, read_grid
from .sources.osmfile import OSMData, load_source, read_osm  # noqa: F401 (load_source: re-exported)
from .sources.places import PlaceSearch

Progress = Callable[[str], None]

#: The bundled real extract (central Helsinki, ODbL).
BUNDLED_OSM = settings.BUNDLED_OSM

# From this many community centres on, the command draws half their isochrones (and finds half
# their routes) in a second process: fewer take less time than a process takes to start.
_FORK_FROM = 40

# Communities without buildings are scored over points spread at most this
# far apart (and at most _MAX_AREA_POINTS of them).
_AREA_SPACING_M = 50.0
_MAX_AREA_POINTS = 400


def _quiet(msg: str) -> None:
    pass


def _speaker(progress: Progress | None, lang: str) -> Progress:
    """``progress`` hearing every message in ``lang`` (Messages rendered, plain text as it is)."""
    if progress is None:
        return _quiet
    return lambda msg: progress(localize(msg, lang))


def _as_config(config: Config | str | Path | None, level: str | None) -> Config:
    if isinstance(config, Config):
        return config
    return load_config(config, level=level)


def _area_points(poly: shapely.Geometry) -> np.ndarray:
    """A regular grid of points inside ``poly`` (its representative point if tiny)."""
    x0, y0, x1, y1 = poly.bounds
    step = max(_AREA_SPACING_M, np.sqrt(poly.area / _MAX_AREA_POINTS))
    xs = np.arange(x0 + step / 2, x1, step)
    ys = np.arange(y0 + step / 2, y1, step)
    gx, gy = np.meshgrid(xs, ys)
    inside = shapely.contains_xy(poly, gx.ravel(), gy.ravel())
    pts = shapely.points(gx.ravel()[inside], gy.ravel()[inside])
    return pts if len(pts) else np.array([poly.representative_point()], dtype=object)


@dataclass
class Origins:
    """Where walks start: community centres, homes and area samples.

    Attributes
    ----------
    points
        Shapely points (analysis CRS).
    community
        The community row each point belongs to.
    kind
        ``CENTRE``, ``HOME`` or ``AREA`` (a sample point of a community
        without homes).
    building
        The building row of a home, -1 otherwise.
    snapped
        The points snapped onto the network.
    """

    points: np.ndarray
    community: np.ndarray
    kind: np.ndarray
    building: np.ndarray
    snapped: Snapped | None = None

    CENTRE, HOME, AREA = 0, 1, 2

    @property
    def homes(self) -> np.ndarray:
        return self.kind == self.HOME

    @property
    def centres(self) -> np.ndarray:
        return self.kind == self.CENTRE


def _origins(communities: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> Origins:
    """Centres, homes and area sample points of every community."""
    centres = communities.geometry.representative_point().values
    rep = buildings.representative_point()
    hit = gpd.sjoin(
        gpd.GeoDataFrame(geometry=rep.values, crs=buildings.crs),
        communities[["geometry"]], predicate="within", how="inner",
    )
    # a building on a shared border belongs to its first community only
    hit = hit[~hit.index.duplicated(keep="first")]
    n = len(communities)
    pts = [centres, rep.values[hit.index.values]]
    owner = [np.arange(n), hit["index_right"].values]
    kind = [np.full(n, Origins.CENTRE), np.full(len(hit), Origins.HOME)]
    bld = [np.full(n, -1), hit.index.values]
    has_homes = np.zeros(n, bool)
    has_homes[hit["index_right"].values] = True
    for i in np.flatnonzero(~has_homes):
        sample = _area_points(communities.geometry.values[i])
        pts.append(sample)
        owner.append(np.full(len(sample), i))
        kind.append(np.full(len(sample), Origins.AREA))
        bld.append(np.full(len(sample), -1))
    return Origins(np.concatenate(pts), np.concatenate(owner), np.concatenate(kind), np.concatenate(bld))


@dataclass
class Access:
    """Facilities' access points snapped onto the network.

    ``facility`` is the facility row of each access point; ``snap_m`` the
    shortest leg to the street per facility (NaN when none was snapped);
    ``points`` the access points themselves.
    """

    snapped: Snapped
    facility: np.ndarray
    snap_m: np.ndarray
    points: np.ndarray

    def of(self, rows: np.ndarray) -> tuple[Snapped, np.ndarray]:
        """The access points of the facilities where ``rows`` (a mask over facilities) holds."""
        mask = rows[self.facility]
        return self.snapped.subset(mask), self.facility[mask]


def _access(facilities: gpd.GeoDataFrame, net: StreetNetwork, max_snap_m: float,
            entrances: np.ndarray | None = None) -> Access:
    pts, owner = access_points(facilities.geometry.values, net, entrances)
    snapped = snap_points(net, pts, max_snap_m)
    snap_m = np.full(len(facilities), np.nan)
    np.fmin.at(snap_m, owner[snapped.ok], snapped.leg[snapped.ok])
    return Access(snapped, owner, snap_m, pts)


def entrance_points(features: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Mapped entrances (``entrance=*`` nodes), projected: where area facilities are entered."""
    if not len(features):
        return np.empty(0, dtype=object)
    hit = features["tags"].map(lambda t: "entrance" in t).to_numpy(bool) & features.geom_type.eq("Point").to_numpy()
    return features[hit].geometry.to_crs(crs).to_numpy() if hit.any() else np.empty(0, dtype=object)


LEFT_OUT_COLUMNS = ["what", "id", "name", "category", "reason", "distance_m"]


def _unsnapped(what: str, ids, names, categories, points, ok: np.ndarray, net: StreetNetwork,
               max_snap_m: float) -> pd.DataFrame:
    """Left-out rows for the points that could not be snapped, with their distance."""
    bad = ~np.asarray(ok)
    _, dist = net.tree.query_nearest(np.asarray(points)[bad], return_distance=True, all_matches=False)
    return pd.DataFrame({
        "what": what, "id": np.asarray(ids)[bad], "name": np.asarray(names)[bad],
        "category": np.asarray(categories)[bad],
        "reason": f"more than {max_snap_m:g} m from any walkable street", "distance_m": np.round(dist, 1),
    }, columns=LEFT_OUT_COLUMNS)


def _unread(osm: OSMData, cfg: Config) -> pd.DataFrame:
    """Left-out rows for OSM objects of the run's categories, or residential
    areas, that the reader could not turn into a geometry."""
    raw = getattr(osm, "left_out", None)
    if raw is None or len(raw) == 0:
        return pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    rows = []
    for rec in raw.itertuples(index=False):
        tags = rec.tags if isinstance(rec.tags, dict) else {}
        ident = f"{rec.osm_type}/{rec.osm_id}"
        if tags.get("landuse") == "residential":
            rows.append(("community", ident, rec.name, "", rec.reason, np.nan))
        for cat in cfg.categories:
            if cat.matches(tags):
                rows.append(("poi", ident, rec.name, cat.key, rec.reason, np.nan))
    return pd.DataFrame(rows, columns=LEFT_OUT_COLUMNS)


def _unread_keys(osm: OSMData, cfg: Config) -> dict[str, list[str]]:
    """Category key -> the OSM keys it uses that the data was not read with."""
    read = getattr(osm, "feature_keys", None)
    if read is None:
        return {}
    missing = {cat.key: sorted(cat.tag_keys - set(read)) for cat in cfg.categories}
    return {k: v for k, v in missing.items() if v}


@dataclass
class FacilityList:
    """The facilities of a run: those counted, and the register of every candidate with its reason.

    ``counted``: the ``pois`` contract, projected; ``register``: every feature a category's
    rules touched (:data:`lifecircle.facilities.REGISTER_COLUMNS`); ``review``: what the
    planner's review did; ``no_data``: category keys without a single facility; ``sources``:
    (source, date) of OpenStreetMap and each file or place search merged in.
    """

    counted: gpd.GeoDataFrame
    register: gpd.GeoDataFrame
    review: ReviewSummary
    no_data: list[str]
    # where the facilities come from and of when: ("osm", its date), ("amap", fetch date), a file
    sources: list[tuple[str, str]] = field(default_factory=list)


def _poi_sources(pois: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | None, places: PlaceSearch | None,
                 osm: OSMData, net: StreetNetwork, area: shapely.Geometry | None, cfg: Config,
                 say: Progress) -> list[gpd.GeoDataFrame]:
    """The planner's files, then the places a search found (fetched with the data, or now over
    the study area: ``area``, else the extent of the data, streets and features)."""
    out = [] if pois is None else list(pois) if isinstance(pois, (list, tuple)) else [pois]
    out += list(getattr(osm, "places", None) or [])
    if places is not None:
        say(Message("progress_places", service=places.service))
        if area is None:
            streets = gpd.GeoSeries([shapely.multipoints(net.xy)], crs=net.crs).to_crs("EPSG:4326").iloc[0]
            area = shapely.envelope(shapely.union(streets, shapely.box(*osm.features.total_bounds))
                                    if len(osm.features) else streets)
        found = places.run(area, cfg.keys, progress=say)
        say(Message("progress_places_done", service=places.service, n=len(found),
                    requests=found.attrs["requests"], cached=found.attrs["cached"]))
        out.append(found)
    return out


def _sources(data_date: str | None, pois: list[gpd.GeoDataFrame]) -> list[tuple[str, str]]:
    out = [("osm", data_date or "")]
    for frame in pois:
        out.append((str(frame.attrs.get("source", "user")), str(frame.attrs.get("fetched", "") or "")))
    return out


def _facilities(features: gpd.GeoDataFrame, cfg: Config, crs, pois: list[gpd.GeoDataFrame],
                pois_mode: str, review, warnings: list[str], unread: dict[str, list[str]],
                data_date: str | None = None) -> FacilityList:
    """Every candidate facility classified, the user's merged in, the planner's review applied.

    A category on OSM keys the data was not read with (an :class:`OSMData`
    read before the category was defined) would silently miss objects: an
    error when it finds none, a warning otherwise. A category with no facility
    at all has *no data*: it is not judged (every output says so), unless the
    user asked for it by name, which is an error.
    """
    decisions, review_file = None, ""
    if review is not None:
        decisions, review_file = read_review(review, cfg), Path(review).name
    for frame in pois:
        warnings.extend(frame.attrs.get("warnings", []))
    register, summary, merged = build_register(features, cfg, crs, pois, pois_mode, decisions, review_file)
    if merged["merged"] and pois_mode == "add":
        warnings.append(Message("warn_pois_merged", n=merged["merged"]))
    if merged["conflicts"]:
        warnings.append(Message("warn_pois_conflicts", n=merged["conflicts"]))
    if summary.stale:
        warnings.append(Message("warn_review_stale", n=len(summary.stale), file=review_file,
                                ids=", ".join(summary.stale[:5]) + (" …" if len(summary.stale) > 5 else "")))
    facilities = counted(register).sort_values(["category", "poi_id"], kind="stable").reset_index(drop=True)
    no_data = []
    for key in cfg.keys:
        empty = not (facilities["category"] == key).any()
        if key in unread:
            hint = Message("err_unread_keys", category=key, label=labels(cfg, key), keys=unread[key],
                           key_list=repr(unread[key]))
            if empty:
                raise ConfigError(hint)
            warnings.append(Message("warn_unread_keys", hint=hint))
        if empty:
            if key in cfg.explicit:
                raise EmptyAreaError(Message("err_no_facilities", category=key, label=labels(cfg, key)))
            warnings.append(no_facilities_warning(cfg, key))
            no_data.append(key)
    return FacilityList(facilities, register, summary, no_data, _sources(data_date, pois))


def no_facilities_warning(cfg: Config, key: str) -> Message:
    """The warning for a category without facilities (what-if scenarios add and drop it)."""
    return Message("warn_no_facilities", category=key, label=labels(cfg, key))


def _communities(communities, features: gpd.GeoDataFrame, net: StreetNetwork, buildings: gpd.GeoDataFrame,
                 area: shapely.Geometry | None, lang: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The communities to report on (network CRS, inside the area), and those left out."""
    crs = net.crs
    left = pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    if communities is None:
        comms, left = derive_communities(features, net, buildings, lang=lang)
        left = left.reindex(columns=LEFT_OUT_COLUMNS)
    elif isinstance(communities, gpd.GeoDataFrame):
        comms = communities.to_crs(crs).reset_index(drop=True)
        comms["residents_input"] = comms.get("residents_input", np.nan)
        comms["source"] = comms.get("source", "user")
    else:
        comms = read_communities(communities, crs)
    if "partial" not in comms:
        comms["partial"] = False
    if area is not None:
        study = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(crs).iloc[0]
        comms = comms[comms.representative_point().within(study)].reset_index(drop=True)
    extent = shapely.box(*net.xy.min(axis=0), *net.xy.max(axis=0))
    outside = ~comms.intersects(extent)
    if outside.any():
        gone = comms[outside]
        left = pd.concat([left, pd.DataFrame({
            "what": "community", "id": gone["community_id"].values, "name": gone["name"].values,
            "category": "", "reason": "outside the street network's area", "distance_m": np.nan,
        })], ignore_index=True)
    comms = comms[~outside].reset_index(drop=True)
    if len(comms) == 0:
        raise EmptyAreaError(Message("err_no_community"))
    return comms, left


def _community_input(communities, crs, communities_crs: str | None, encoding: str | None,
                     warnings: list[str], population_column: str | None = None):
    """A communities file read (coordinates converted, encoding decided), its warnings kept."""
    if communities is not None and not isinstance(communities, gpd.GeoDataFrame):
        communities = read_communities(communities, crs, coordinate_system=communities_crs, encoding=encoding,
                                       population_column=population_column)
    elif population_column is not None:
        raise ConfigError("population_column applies to a communities file (--communities)")
    if isinstance(communities, gpd.GeoDataFrame):
        warnings.extend(communities.attrs.get("warnings", []))
    return communities


def _community_table(comms: gpd.GeoDataFrame, origins: Origins, buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    """Identity and residents of every community, before any category."""
    out = comms[["community_id", "name"]].copy()
    for col, default in (("name_source", "osm"), ("source", ""), ("partial", False)):
        out[col] = comms[col].values if col in comms else default
    if "subdistrict" in comms:
        out["subdistrict"] = comms["subdistrict"].values
    homes = origins.homes
    n = len(comms)
    n_bld = np.bincount(origins.community[homes], minlength=n)
    pop = np.bincount(origins.community[homes], weights=buildings["residents"].values[origins.building[homes]],
                      minlength=n)
    user_pop = pd.to_numeric(comms["residents_input"], errors="coerce").values
    if "residents_area" in comms:  # a population grid: its people in homes, and in cells without homes
        out["residents"] = pop + comms["residents_area"].to_numpy(float)
    else:
        out["residents"] = np.where(np.isfinite(user_pop), user_pop, np.where(n_bld > 0, pop, np.nan))
    out["home_residents"] = pop
    if "elderly" in buildings:
        old = np.bincount(origins.community[homes], weights=buildings["elderly"].values[origins.building[homes]],
                          minlength=n)
        out["elderly"] = old + (comms["elderly_area"].to_numpy(float) if "elderly_area" in comms else 0.0)
        out["home_elderly"] = old
    out["n_buildings"] = n_bld
    return out


def _residents(population, comms: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, net: StreetNetwork,
               info: Mapping[str, Any] | None, warnings: list[str]) -> Population:
    """Where the residents come from; with a grid, its people shared out over ``buildings``
    (their ``residents``, ``elderly``) and ``comms`` (``residents_area``, ``elderly_area``), in place."""
    info = dict(info or {})
    date, licence = info.get("date"), info.get("licence")
    if population is not None:
        grid = population if isinstance(population, Grid) else read_grid(population, net.crs)
        area = shapely.box(*net.xy.min(axis=0), *net.xy.max(axis=0))
        homes = buildings.geometry.representative_point().to_numpy()
        alloc = allocate(grid, area, homes, buildings["residents"].to_numpy(float), comms.geometry.to_numpy())
        buildings["residents"] = alloc.home_people
        comms["residents_area"] = alloc.community_area_people
        if alloc.home_elderly is not None:
            buildings["elderly"] = alloc.home_elderly
            comms["elderly_area"] = alloc.community_area_elderly
        if comms["residents_input"].notna().any():
            warnings.append(Message("warn_population_both", file=grid.path.name))
        return Population("grid", grid.path.name, date or grid_date(grid.path), licence, alloc.total,
                          elderly_total=alloc.elderly_total)
    if comms["residents_input"].notna().any():
        column = comms.attrs.get("population_column", "") or "residents"
        return Population("column", column, date, licence)
    return Population("floor_area")


def _population_totals(pop: Population, table: pd.DataFrame) -> None:
    """The total and those outside every community, once the communities' residents are known."""
    inside = float(pd.to_numeric(table["residents"], errors="coerce").fillna(0).sum())
    if pop.kind == "grid":
        pop.outside = max(pop.total - inside, 0.0)
    else:
        pop.total = inside


@dataclass
class Reach:
    """One category's walk from every origin: distance and nearest facility row."""

    metres: np.ndarray
    nearest: np.ndarray
    node_metres: np.ndarray


@dataclass
class Study:
    """What every category is measured against, built once per run.

    Attributes
    ----------
    net
        The indexed walk network (its CRS is the analysis CRS).
    cfg
        The run's configuration.
    communities
        Community polygons.
    buildings
        Residential buildings (homes).
    origins
        Where walks start, snapped.
    facilities
        Facilities of every category, one row per (facility, category).
    access
        The facilities' access points, snapped.
    table
        One row per community: identity and residents, then the coverage
        columns each category adds.
    search
        Searches stop at this distance (metres).
    region
        The part of the network the searches use.
    """

    net: StreetNetwork
    cfg: Config
    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    origins: Origins
    facilities: gpd.GeoDataFrame
    access: Access
    table: pd.DataFrame
    search: float
    region: Region
    # where the residents come from, and how they add up
    population: Population = field(default_factory=lambda: Population("floor_area"))
    # per category: per community, the origin its nearest facility was walked from (its
    # centre, or its nearest home where the centre reaches none; -1: none), for the routes
    walk_from: dict[str, np.ndarray] = field(default_factory=dict)


def _study(net: StreetNetwork, cfg: Config, comms: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
           facilities: gpd.GeoDataFrame, entrances: np.ndarray | None = None) -> Study:
    """Snap homes, centres and facilities, and bound the searches."""
    origins = _origins(comms, buildings)
    origins.snapped = snap_points(net, origins.points, cfg.max_snap_m)
    search = cfg.threshold_m * settings.search_factor
    return Study(
        net=net, cfg=cfg, communities=comms, buildings=buildings, origins=origins, facilities=facilities,
        access=_access(facilities, net, cfg.max_snap_m, entrances),
        table=_community_table(comms, origins, buildings),
        search=search,
        # every origin lies in a community, so searching their region loses nothing
        region=net.region(comms.geometry.values, search),
    )


def _score(key: str, reach: Reach, study: Study) -> dict[str, np.ndarray]:
    """Coverage columns of one category.

    Distance, minutes and the nearest facility are those of the community's
    centre; the share is over its homes (or, without homes, points spread
    over its area), and *covered* is that share reaching ``cfg.min_share``:
    one rule, so the flag and the share never disagree.
    """
    cfg, origins, table = study.cfg, study.origins, study.table
    n = len(table)
    limit = cfg.limit_m(key)
    centre, homes, scored = origins.centres, origins.homes, ~origins.centres
    community = origins.community
    metres = np.full(n, np.nan)
    metres[community[centre]] = reach.metres[centre]
    metres[~np.isfinite(metres)] = np.nan
    nearest = np.full(n, -1)
    nearest[community[centre]] = reach.nearest[centre]
    start = np.full(n, -1)
    start[community[centre]] = np.flatnonzero(centre)
    # a centre off every street, or beyond the search, names none: the walk from the
    # community's nearest home (or area point) does, so a covered flag always has its facility
    lost = np.flatnonzero(nearest < 0)
    if len(lost):
        near, near_m, near_from = _nearest_of_scored(reach, origins, n)
        metres[lost], nearest[lost], start[lost] = near_m[lost], near[lost], near_from[lost]
    start[nearest < 0] = -1
    study.walk_from[key] = start
    found = nearest >= 0
    names = np.full(n, "", dtype=object)
    ids = np.full(n, "", dtype=object)
    names[found] = study.facilities["name"].values[nearest[found]]
    ids[found] = study.facilities["poi_id"].values[nearest[found]]
    within = np.nan_to_num(reach.metres, nan=np.inf) <= limit
    total = np.bincount(community[scored], minlength=n)
    good = np.bincount(community[scored], weights=within[scored].astype(float), minlength=n)
    share = np.round(good / np.maximum(total, 1), 4)
    residents = study.buildings["residents"].values[origins.building[homes]]
    covered_residents = np.bincount(community[homes], weights=residents * within[homes], minlength=n)
    home_residents = table["home_residents"].values
    extra = {}
    if "home_elderly" in table and cfg.category(key).for_elderly:
        # older residents within reach, for the categories that are for them (canteen, care home)
        old = study.buildings["elderly"].values[origins.building[homes]]
        covered_old = np.bincount(community[homes], weights=old * within[homes], minlength=n)
        home_old = table["home_elderly"].values
        extra[f"elderly_share_{key}"] = np.where(home_old > 0, np.round(covered_old / np.maximum(home_old, 1e-9), 4),
                                                 np.nan)
    return {
        f"nearest_{key}": names,
        f"nearest_id_{key}": ids,
        f"metres_{key}": np.round(metres, 1),
        f"minutes_{key}": np.round(metres / cfg.metres_per_minute, 2),
        f"limit_m_{key}": np.full(n, limit),
        f"share_{key}": share,
        f"residents_share_{key}": np.where(table["n_buildings"].values > 0,
                                           np.round(covered_residents / np.maximum(home_residents, 1e-9), 4), np.nan),
        f"covered_{key}": share >= cfg.min_share,
        **extra,
    }


def _nearest_of_scored(reach: Reach, origins: Origins, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per community: the facility row, the walk and the origin of its scored point (home or
    area sample) with the shortest walk (-1, NaN and -1 where none reaches one)."""
    near, near_from = np.full(n, -1), np.full(n, -1)
    near_m = np.full(n, np.nan)
    scored = np.flatnonzero(~origins.centres & (reach.nearest >= 0) & np.isfinite(reach.metres))
    if len(scored):
        order = scored[np.lexsort((reach.metres[scored], origins.community[scored]))]
        first = np.unique(origins.community[order], return_index=True)
        rows = order[first[1]]
        near[first[0]], near_m[first[0]], near_from[first[0]] = reach.nearest[rows], reach.metres[rows], rows
    return near, near_m, near_from


def _gap_frames(key: str, reach: Reach, points: Snapped, study: Study) -> list[gpd.GeoDataFrame]:
    """Where a category is out of reach: homes beyond its distance, and the
    parts of home-less communities outside the category's reach.

    ``points`` are the category's access points, for its reach polygon.
    """
    net, origins, table = study.net, study.origins, study.table
    limit = study.cfg.limit_m(key)
    frames = []
    ids = table["community_id"].values
    far = origins.homes & ~(np.nan_to_num(reach.metres, nan=np.inf) <= limit)
    if far.any():
        frames.append(gpd.GeoDataFrame(
            {"category": key, "kind": "building", "community_id": ids[origins.community[far]]},
            geometry=study.buildings.geometry.values[origins.building[far]], crs=net.crs))
    no_homes = np.flatnonzero((table["n_buildings"].values == 0) & (table[f"share_{key}"].values < 1))
    if len(no_homes):
        # traced around each community, not district-wide: the same areas, at a cost that follows their size
        areas = ReachArea(net, reach.node_metres, limit, points).outside(study.communities.geometry.values[no_homes])
        keep = ~shapely.is_empty(areas)
        frames.append(gpd.GeoDataFrame(
            {"category": key, "kind": "area", "community_id": ids[no_homes][keep]},
            geometry=areas[keep], crs=net.crs))
    return frames


def _walk(study: Study, points: Snapped, rows: np.ndarray) -> Reach:
    """Distances and nearest facility from every origin, one search per category.

    ``points`` are the category's access points and ``rows`` the facility
    row of each.
    """
    net, search = study.net, study.search
    node_metres, node_owner = nearest_node_facilities(net, points, rows, search, study.region)
    metres, nearest = nearest_point_facilities(net, node_metres, node_owner, study.origins.snapped, points, rows,
                                               search)
    return Reach(metres, nearest, node_metres)


def no_data_keys(facilities: pd.DataFrame, cfg: Config) -> list[str]:
    """The run's categories without a single facility: not judged (no data is not a finding)."""
    present = set(facilities["category"])
    return [k for k in cfg.keys if k not in present]


def _summarise(out: pd.DataFrame, cfg: Config, no_data: list[str]) -> None:
    """Categories reached, judged and missing per community.

    A category without data is not judged: its ``covered_<k>`` is NA (not False), and
    ``reached``, ``n_categories``, ``complete`` and ``gaps`` count the judged ones only;
    ``no_data`` names the others.
    """
    judged = [k for k in cfg.keys if k not in no_data]
    for k in no_data:
        out[f"covered_{k}"] = pd.array([pd.NA] * len(out), dtype="boolean")
        for col in (f"share_{k}", f"residents_share_{k}"):
            out[col] = np.nan
    covered = out[[f"covered_{k}" for k in judged]].astype(bool)
    out["reached"] = covered.sum(axis=1).astype(int)
    out["n_categories"] = len(judged)
    out["complete"] = out["reached"] == out["n_categories"]
    out["gaps"] = [",".join(k for k, c in zip(judged, row) if not c) for row in covered.itertuples(index=False)]
    out["no_data"] = ",".join(no_data)


def _measure(study: Study, say: Progress, gaps: Callable | None = None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Walk to every category; return the communities with their coverage
    columns, and the gaps (made by ``gaps``, default :func:`_gap_frames`:
    a what-if redraws only those near its changes)."""
    gap_frames = []
    study.walk_from = {}  # this study's own (a what-if's copy shares its before's until here)
    for cat in study.cfg.categories:
        say(Message("progress_walk", category=cat.key, label=labels(study.cfg, cat.key)))
        points, rows = study.access.of(study.facilities["category"].values == cat.key)
        reach = _walk(study, points, rows)
        for name, values in _score(cat.key, reach, study).items():
            study.table[name] = values
        if len(rows):  # a category without data has no gaps: it is not judged
            gap_frames += (gaps or _gap_frames)(cat.key, reach, points, study)
    _summarise(study.table, study.cfg, no_data_keys(study.facilities, study.cfg))
    crs = study.net.crs
    communities = gpd.GeoDataFrame(study.table.drop(columns="home_residents"),
                                   geometry=study.communities.geometry.values, crs=crs)
    if gap_frames:
        gaps = gpd.GeoDataFrame(pd.concat(gap_frames, ignore_index=True), geometry="geometry", crs=crs)
    else:
        gaps = gpd.GeoDataFrame(columns=["category", "kind", "community_id", "geometry"], geometry="geometry", crs=crs)
    return communities, gaps


ROUTE_COLUMNS = ["community_id", "category", "poi_id", "name", "metres", "geometry"]


def _route_rows(study: Study, communities: gpd.GeoDataFrame, todo: np.ndarray) -> list[tuple]:
    """The rows of :func:`_routes` for the communities at positions ``todo``, in that order.

    Each walk starts where its nearest facility was walked from (:attr:`Study.walk_from`):
    the community's centre, or its nearest home where the centre reaches none.
    """
    net, cfg, facilities, access = study.net, study.cfg, study.facilities, study.access
    row_of = {(pid, cat): i for i, (pid, cat) in enumerate(zip(facilities["poi_id"], facilities["category"]))}
    # each facility's access points, in their order (a stable sort), without a mask per route
    order = np.argsort(access.facility, kind="stable")
    first = np.searchsorted(access.facility[order], np.arange(len(facilities) + 1))
    ids = communities["community_id"].to_numpy()
    nearest = {key: (communities[f"nearest_id_{key}"].to_numpy(), communities[f"nearest_{key}"].to_numpy())
               for key in cfg.keys}
    points, snapped = study.origins.points, study.origins.snapped
    rows = []
    for i in todo:
        starts = {key: int(study.walk_from[key][i]) for key in cfg.keys if key in study.walk_from}
        trees: dict[int, Any] = {}
        for key in cfg.keys:
            pid, name = nearest[key][0][i], nearest[key][1][i]
            o = starts.get(key, -1)
            if not pid or o < 0 or not snapped.ok[o]:
                continue
            if o not in trees:
                trees[o] = path_tree(net, snapped.subset(np.array([o])), study.search)
            row = row_of[(pid, key)]
            mine = order[first[row]: first[row + 1]]
            found = route(net, trees[o], access.snapped.subset(mine))
            if found is None:
                continue
            metres, line = found
            # the access point nearest the line's end is the one the walk reached
            ends = access.points[mine]
            end = ends[int(np.argmin(shapely.distance(ends, shapely.Point(line[-1]))))]
            coords = np.vstack([shapely.get_coordinates(points[o]), line, shapely.get_coordinates(end)])
            rows.append((ids[i], key, pid, name, round(metres, 1), shapely.LineString(coords)))
    return rows


def _routes(study: Study, communities: gpd.GeoDataFrame, only: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """The walk from each community to its nearest facility of each category, as a
    line: the start (its centre, or its nearest home where the centre reaches none),
    its street, the streets walked, the facility's street and the access point reached
    (of the communities where ``only`` holds, if given). The command's process finds the second half
    of them in a forked one meanwhile (:data:`lifecircle.settings.parallel_outputs`)."""
    todo = np.arange(len(communities)) if only is None else np.flatnonzero(only)
    rows = in_two(lambda part: _route_rows(study, communities, part), todo, "finding routes", _FORK_FROM)
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=ROUTE_COLUMNS), geometry="geometry", crs=study.net.crs)


def _left_out(parts: list[pd.DataFrame], warnings: list[str]) -> pd.DataFrame:
    left = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) \
        else pd.DataFrame(columns=LEFT_OUT_COLUMNS)
    left = left.reindex(columns=LEFT_OUT_COLUMNS)
    counts = left["what"].value_counts()
    if len(left):
        warnings.append(Message("warn_left_out", what=[_counted(w, int(counts[w])) for w in counts.index]))
    return left


def _counted(what: str, count: int) -> Message | str:
    """"3 pois" / "3 个设施": a Message for the kinds i18n knows, English otherwise."""
    key = f"count_{_plural(what, count)}"
    return Message(key, n=count) if key in STRINGS else f"{count} {_plural(what, count)}"


def _plural(what: str, count: int) -> str:
    if count == 1:
        return what
    return what[:-1] + "ies" if what.endswith("y") else what + "s"


def _everything_left_out(osm: OSMData, study: Study, pois: gpd.GeoDataFrame, comms_left: pd.DataFrame,
                         warnings: list[str]) -> pd.DataFrame:
    """Every object not counted, and why: unread, outside, or too far from a street."""
    net, cfg, facilities, table = study.net, study.cfg, study.facilities, study.table
    centre = study.origins.centres
    return _left_out([
        _unread(osm, cfg),
        comms_left,
        _unsnapped("poi", facilities["poi_id"], facilities["name"], facilities["category"],
                   pois.geometry.values, np.isfinite(study.access.snap_m), net, cfg.max_snap_m),
        _unsnapped("community", table["community_id"], table["name"], np.full(len(table), ""),
                   study.origins.points[centre], study.origins.snapped.ok[centre], net, cfg.max_snap_m),
    ], warnings)


def _read(source: str | Path | OSMData | None, cfg: Config, say: Progress) -> tuple[OSMData, StreetNetwork]:
    """The OSM data and its walk network, projected and indexed."""
    if not isinstance(source, OSMData):  # else read already
        say(Message("progress_read"))
    osm = load_source(source, cfg.tag_keys, say)
    walk = getattr(osm, "walk", None)
    # read from a file: arrays straight to the engine, no networkx graph (unless the
    # caller has read or replaced osm.graph: then that graph, as given, is analysed)
    if walk is not None and not graph_is_built(osm):
        say(Message("progress_project", nodes=len(walk.nodes)))
        return osm, StreetNetwork.from_walk(walk)
    say(Message("progress_project", nodes=osm.graph.number_of_nodes()))
    # a graph read here is ours to project in place; a caller's is copied
    return osm, StreetNetwork.from_graph(project(osm.graph, copy=isinstance(source, OSMData)))


def _result(osm: OSMData, study: Study, comms_left: pd.DataFrame, measured: tuple, limits: list[float],
            warnings: list[str], say: Progress, found: FacilityList) -> Analysis:
    """The Analysis of a run, with what was left out and the partial areas said.

    Its isochrones and routes are made when first read: the command writes
    the documents, which need neither, in another process meanwhile.
    """
    comm_gdf, gaps = measured
    net = study.net
    pois_out = display_points(study.facilities)
    pois_out["snap_m"] = np.round(study.access.snap_m, 1)
    left_out = _everything_left_out(osm, study, pois_out, comms_left, warnings)
    n_partial = int(comm_gdf["partial"].sum())
    if n_partial:
        warnings.append(Message("warn_partial", n=n_partial))

    def isochrones() -> gpd.GeoDataFrame:
        say(Message("progress_isochrones", communities=len(comm_gdf)))
        centres = study.origins.snapped.subset(study.origins.centres)
        return community_isochrones(net, centres, comm_gdf["community_id"].values, limits, study.cfg)

    def routes() -> gpd.GeoDataFrame:
        say(Message("progress_routes"))
        return _routes(study, comm_gdf)

    return Analysis(
        config=study.cfg, communities=comm_gdf, pois=gpd.GeoDataFrame(pois_out, crs=net.crs), isochrones=None,
        gaps=gaps, left_out=left_out, graph=None, source=osm.source, crs=net.crs, warnings=warnings,
        data_date=getattr(osm, "data_date", None), routes=None, study=study,
        pending={"isochrones": isochrones, "routes": routes}, facilities=found.register, review=found.review,
        population=study.population, facility_sources=found.sources,
    )


def analyze(source: str | Path | OSMData | None = None, communities: str | Path | gpd.GeoDataFrame | None = None,
            level: str | None = None, config: Config | str | Path | None = None, *,
            pois: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | None = None, pois_mode: str = "add",
            places: PlaceSearch | None = None,
            isochrone_limits: Iterable[float] | None = None, area: shapely.Geometry | None = None,
            lang: str = "en", progress: Progress | None = None, communities_crs: str | None = None,
            encoding: str | None = None, review: str | Path | None = None,
            population: str | Path | Grid | None = None, population_column: str | None = None,
            population_info: Mapping[str, Any] | None = None,
            subdistricts: str | Path | gpd.GeoDataFrame | None = None) -> Analysis:
    """Run a life-circle analysis: which communities reach which facilities on foot.

    Each category is judged at its own walking distance (by default its GB 50180-2018 tier's:
    300, 500 or 1000 m); a community is *covered* when at least ``config.min_share`` of its
    homes (or of its area, without homes) lie within it, *complete* when covered for all.

    Parameters
    ----------
    source
        OSM file (.osm.pbf/.osm/.osm.bz2), :class:`OSMData` (from :func:`read_osm` or
        ``sources.online.fetch``), or None for the bundled central-Helsinki extract.
    communities
        Polygons (a file with a name column, or a GeoDataFrame with ``community_id``, ``name``);
        None derives them from the extract (cut ones closed and ``partial``; unnamed ones named).
    level, config
        "5min", "10min" (default) or "15min"; a :class:`Config`, a TOML path or None (the
        presets) decides the categories, the basis and ``min_share`` (a Config carries its level).
    pois, pois_mode
        Extra facilities (:data:`lifecircle.facilities.POI_COLUMNS`, any CRS; or a list of such
        frames), "add"ed (duplicates merged) or "replace"-ing the OSM ones of their categories.
    places
        A place search (:class:`lifecircle.sources.places.PlaceSearch`: Amap or Tianditu, with
        the planner's key) run over ``area``, else the network's extent, for every category;
        its places are classified and merged like a file's (duplicates of OSM's kept once).
    review
        The planner's review: ``facilities.csv`` or ``coverage.xlsx`` of an earlier run with
        decisions marked (:mod:`lifecircle.facilities.review`), applied before any walk.
    population, population_column, population_info
        Where the residents come from: a population grid (GeoTIFF or a vector grid of cells,
        :func:`lifecircle.population.read_grid`) shared out over the homes by floor area and over
        the communities by area where a cell holds no home; or a column of the communities file
        (census counts; default detected: population, 人口, 常住人口, …); else estimated from floor
        area. ``population_info``: ``{"date": ..., "licence": ...}`` of the data, for the outputs.
    subdistricts
        Polygons of sub-districts (街道) with a name: each community's is a column of the
        coverage table and the indicators are given for each (:mod:`lifecircle.indicators`).
    isochrone_limits
        Minutes in time mode, else metres; default ``Config.isochrone_limits()``.
    area
        EPSG:4326 polygon: only communities whose centre lies in it are reported.
    lang, progress
        "en" or "zh" for the names given to unnamed communities and for the progress
        messages; a callable given a short message at each long step. ``warnings`` are
        :class:`lifecircle.i18n.Message` (English as ``str``; ``.text(lang)`` in either).
    communities_crs, encoding
        For a ``communities`` file: "wgs84", "gcj02" (Amap AOIs) or "bd09" (Baidu) coordinates,
        converted vertex by vertex to WGS84; the attribute encoding of a shapefile (default:
        its ``.cpg``, else UTF-8, else GB18030 with a warning). See :func:`read_communities`.

    Returns
    -------
    Analysis
        Tables ``coverage``, ``communities``, ``pois``, ``isochrones``, ``gaps``, ``left_out``,
        ``basis`` and the non-fatal ``warnings``: see ``help(lifecircle.Analysis)``.

    Raises
    ------
    LifecircleError
        ``InputFileError``, ``ConfigError`` or ``EmptyAreaError``: one line on bad input.
    """
    say = _speaker(progress, lang)
    cfg = _as_config(config, level)
    limits = cfg.check_isochrones(isochrone_limits)  # before the work: NaN or inf would draw nothing
    osm, net = _read(source, cfg, say)
    warnings: list[str] = list(getattr(osm, "warnings", []))
    sources = _poi_sources(pois, places, osm, net, area, cfg, say)
    found = _facilities(osm.features, cfg, net.crs, sources, pois_mode, review, warnings, _unread_keys(osm, cfg),
                        getattr(osm, "data_date", None))
    say(Message("progress_communities"))
    buildings = residential_buildings(osm.features, net.crs)
    communities = _community_input(communities, net.crs, communities_crs, encoding, warnings, population_column)
    comms, comms_left = _communities(communities, osm.features, net, buildings, area, lang)
    pop = _residents(population, comms, buildings, net, population_info, warnings)
    if subdistricts is not None:
        comms["subdistrict"] = assign_subdistricts(comms, subdistricts, net.crs)
    say(Message("progress_snap", facilities=len(found.counted), communities=len(comms)))
    study = _study(net, cfg, comms, buildings, found.counted, entrance_points(osm.features, net.crs))
    _population_totals(pop, study.table)
    study.population = pop
    measured = _measure(study, say)
    return _result(osm, study, comms_left, measured, limits, warnings, say, found)


def _isochrone_rows(net: StreetNetwork, centres: Snapped, ids, limits: list[float],
                    cfg: Config) -> list[tuple[Any, float, shapely.Geometry]]:
    """(community id, limit, polygon) of each centre and limit, in that order."""
    to_m = cfg.to_metres
    rows = []
    # a chunk of distance rows at a time: all of them at once is n_centres x n_nodes floats
    for positions, block in origin_node_blocks(net, centres, to_m(max(limits))):
        for i, node_metres in zip(positions, block):
            one = centres.subset(np.array([i]))
            rows.extend((ids[i], lim, reach_polygon(net, node_metres, to_m(lim), one)) for lim in limits)
    return rows


def community_isochrones(
    net: StreetNetwork, centres: Snapped, ids, limits: list[float], cfg: Config
) -> gpd.GeoDataFrame:
    """Isochrones from each community centre at each limit.

    ``limits`` are minutes in time mode, else metres. Centres that could
    not be snapped get none. The command's process draws the second half
    of the centres' in a forked one meanwhile
    (:data:`lifecircle.settings.parallel_outputs`): the same polygons.
    """
    rows = in_two(lambda part: _isochrone_rows(net, centres.subset(part), ids[part], limits, cfg),
                  np.arange(len(centres)), "drawing isochrones", _FORK_FROM)
    col = "minutes" if cfg.mode == "time" else "metres"
    return gpd.GeoDataFrame(
        {"community_id": [r[0] for r in rows], col: [r[1] for r in rows]},
        geometry=[r[2] for r in rows], crs=net.crs,
    )

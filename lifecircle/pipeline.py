"""The whole analysis: source -> network -> facilities and homes -> coverage."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .analysis import Analysis
from .communities import derive_communities, read_communities, residential_buildings
from .config import Config, load_config
from .engine import ORIGIN_CHUNK, Snapped, node_distances, origin_node_distances, point_distances, snap_points
from .errors import EmptyAreaError, LifecircleError
from .isochrones import reach_polygon
from .network import StreetNetwork, project
from .pois import access_points, categorize, display_points
from .sources.osmfile import OSMData, read_osm

Progress = Callable[[str], None]

#: The bundled real extract (central Helsinki, ODbL).
BUNDLED_OSM = Path(__file__).resolve().parent.parent / "data" / "helsinki-centre.osm.pbf"

# Communities without buildings are scored over points spread at most this
# far apart (and at most _MAX_AREA_POINTS of them).
_AREA_SPACING_M = 50.0
_MAX_AREA_POINTS = 400


def _quiet(msg: str) -> None:
    pass


def load_source(source: str | Path | OSMData | None) -> OSMData:
    """Return OSM data from a file path, an OSMData, or the bundled extract."""
    if isinstance(source, OSMData):
        return source
    if source is None:
        if not BUNDLED_OSM.exists():
            raise LifecircleError(f"bundled extract not found at {BUNDLED_OSM}; pass an OSM file")
        source = BUNDLED_OSM
    return read_osm(source)


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


def _origins(communities: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame):
    """Centres, homes and area sample points of every community.

    Returns
    -------
    points, owner, kind, building
        Shapely points; the community row each belongs to; 0 = centre,
        1 = building, 2 = area sample; the building row (or -1).
    """
    centres = communities.geometry.representative_point().values
    rep = buildings.representative_point()
    hit = gpd.sjoin(
        gpd.GeoDataFrame(geometry=rep.values, crs=buildings.crs),
        communities[["geometry"]], predicate="within", how="inner",
    )
    # a building on a shared border belongs to its first community only
    hit = hit[~hit.index.duplicated(keep="first")]
    pts = [centres, rep.values[hit.index.values]]
    owner = [np.arange(len(communities)), hit["index_right"].values]
    kind = [np.zeros(len(communities), int), np.ones(len(hit), int)]
    bld = [np.full(len(communities), -1), hit.index.values]
    has_homes = np.zeros(len(communities), bool)
    has_homes[hit["index_right"].values] = True
    for i in np.flatnonzero(~has_homes):
        sample = _area_points(communities.geometry.values[i])
        pts.append(sample)
        owner.append(np.full(len(sample), i))
        kind.append(np.full(len(sample), 2))
        bld.append(np.full(len(sample), -1))
    return (np.concatenate(pts), np.concatenate(owner), np.concatenate(kind), np.concatenate(bld))


def _unsnapped(what: str, ids, names, points, ok: np.ndarray, net: StreetNetwork) -> pd.DataFrame:
    """Rows for the points that could not be snapped, with their distance."""
    bad = ~ok
    _, dist = net.tree.query_nearest(np.asarray(points)[bad], return_distance=True, all_matches=False)
    return pd.DataFrame({"what": what, "id": np.asarray(ids)[bad], "name": np.asarray(names)[bad],
                         "distance_m": np.round(dist, 1)})


def _facilities(features: gpd.GeoDataFrame, cfg: Config, crs, pois: gpd.GeoDataFrame | None,
                pois_mode: str, warnings: list[str]) -> gpd.GeoDataFrame:
    """OSM facilities of the run's categories, merged with the user's."""
    facilities = categorize(features, cfg).to_crs(crs)
    if pois is not None:
        from .sources.userpois import merge_pois

        warnings.extend(pois.attrs.get("warnings", []))
        facilities, merged = merge_pois(facilities, pois.to_crs(crs), mode=pois_mode)
        if merged and pois_mode == "add":
            warnings.append(f"{merged} user POIs duplicated OSM POIs and were merged")
    facilities = facilities.sort_values(["category", "poi_id"], kind="stable").reset_index(drop=True)
    for key in cfg.keys:
        if not (facilities["category"] == key).any():
            if key in cfg.explicit:
                raise EmptyAreaError(f"category {key!r} has no facilities in the study area")
            warnings.append(f"category {key!r}: no facilities in the study area; every community lacks it")
    return facilities


def _communities(communities, features: gpd.GeoDataFrame, net: StreetNetwork,
                 buildings: gpd.GeoDataFrame, area: shapely.Geometry | None) -> gpd.GeoDataFrame:
    """The communities to report on, in the network's CRS and area."""
    crs = net.crs
    if communities is None:
        comms = derive_communities(features, net, buildings)
    elif isinstance(communities, gpd.GeoDataFrame):
        comms = communities.to_crs(crs).reset_index(drop=True)
        if "residents_input" not in comms:
            comms["residents_input"] = np.nan
        if "source" not in comms:
            comms["source"] = "user"
    else:
        comms = read_communities(communities, crs)
    study = shapely.box(*net.xy.min(axis=0), *net.xy.max(axis=0))
    if area is not None:
        study = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(crs).iloc[0]
        comms = comms[comms.representative_point().within(study)].reset_index(drop=True)
    comms = comms[comms.intersects(study)].reset_index(drop=True)
    if len(comms) == 0:
        raise EmptyAreaError("no community lies within the street network's area")
    return comms


def _score(key: str, d: np.ndarray, owner: np.ndarray, kind: np.ndarray, bld: np.ndarray,
           res_b: np.ndarray, pop: np.ndarray, cfg: Config) -> dict[str, np.ndarray]:
    """Coverage columns of one category from every origin's distance ``d``.

    Minutes come from the community's centre (kind 0); shares from its homes
    (kind 1) or, without homes, from points spread over its area (kind 2).
    """
    n = len(pop)
    centre, homes, scored = kind == 0, kind == 1, kind > 0
    metres = np.full(n, np.nan)
    metres[owner[centre]] = d[centre]
    metres[~np.isfinite(metres)] = np.nan
    within = np.nan_to_num(d, nan=np.inf) <= cfg.threshold_m
    total = np.bincount(owner[scored], minlength=n)
    good = np.bincount(owner[scored], weights=within[scored].astype(float), minlength=n)
    covered_pop = np.bincount(owner[homes], weights=res_b[bld[homes]] * within[homes], minlength=n)
    has_homes = np.bincount(owner[homes], minlength=n) > 0
    return {
        f"minutes_{key}": np.round(metres / cfg.metres_per_minute, 2),
        f"metres_{key}": np.round(metres, 1),
        f"covered_{key}": np.nan_to_num(metres, nan=np.inf) <= cfg.threshold_m,
        f"share_{key}": np.round(good / np.maximum(total, 1), 4),
        f"residents_share_{key}": np.where(has_homes, np.round(covered_pop / np.maximum(pop, 1e-9), 4), np.nan),
    }


def _gap_frames(key: str, d: np.ndarray, owner: np.ndarray, kind: np.ndarray, bld: np.ndarray,
                buildings: gpd.GeoDataFrame, comms: gpd.GeoDataFrame, out: pd.DataFrame,
                net: StreetNetwork, nd: np.ndarray, fac: Snapped, cfg: Config) -> list[gpd.GeoDataFrame]:
    """Where a category is out of reach: homes beyond the threshold, and
    the parts of home-less communities outside the category's reach."""
    frames = []
    ids = out["community_id"].values
    far = (kind == 1) & ~(np.nan_to_num(d, nan=np.inf) <= cfg.threshold_m)
    if far.any():
        frames.append(gpd.GeoDataFrame(
            {"category": key, "kind": "building", "community_id": ids[owner[far]]},
            geometry=buildings.geometry.values[bld[far]], crs=net.crs))
    no_homes = np.flatnonzero((out["n_buildings"].values == 0) & (out[f"share_{key}"].values < 1))
    if len(no_homes):
        reach = reach_polygon(net, nd, cfg.threshold_m, fac)
        areas = shapely.difference(comms.geometry.values[no_homes], reach)
        keep = ~shapely.is_empty(areas)
        frames.append(gpd.GeoDataFrame(
            {"category": key, "kind": "area", "community_id": ids[no_homes][keep]},
            geometry=areas[keep], crs=net.crs))
    return frames


def analyze(
    source: str | Path | OSMData | None = None,
    communities: str | Path | gpd.GeoDataFrame | None = None,
    level: str | None = None,
    config: Config | str | Path | None = None,
    *,
    pois: gpd.GeoDataFrame | None = None,
    pois_mode: str = "add",
    isochrone_limits: Iterable[float] | None = None,
    area: shapely.Geometry | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Run a life-circle analysis: which communities reach which facilities on foot.

    Reads the walk network and features, sorts the features into the
    configured categories, finds the communities and their homes, and
    measures the walk along streets from each community's centre (and each
    home) to the nearest facility of every category. A community is
    *covered* for a category when that walk is within the threshold, and
    *complete* when it is covered for all of them.

    Examples::

        import lifecircle
        a = lifecircle.analyze()                     # bundled extract, 10 minutes
        a.coverage[["name", "reached", "complete", "gaps"]]
        a = lifecircle.analyze("city.osm.pbf", level="15min")
        cfg = lifecircle.load_config("my.toml", mode="distance")
        a = lifecircle.analyze("city.osm.pbf", communities="communities.geojson", config=cfg)

    Parameters
    ----------
    source
        An OSM file (.osm.pbf, .osm, .osm.bz2), an :class:`OSMData` (from
        :func:`lifecircle.read_osm`, to reuse one read across runs, or from
        :func:`lifecircle.sources.online.fetch`), or None for the bundled
        central-Helsinki extract (:data:`lifecircle.BUNDLED_OSM`).
    communities
        Community polygons: a file (GeoJSON, GeoPackage, Shapefile with a
        name column) or a GeoDataFrame with ``community_id`` and ``name``
        (optional ``residents_input``, ``source``). None derives them from
        the extract: residential landuse, then neighbourhoods, then small
        administrative areas, else street blocks containing homes.
    level
        "5min", "10min" (the default) or "15min"; each level includes the
        categories of the one below. Ignored when ``config`` is a
        :class:`Config`, which carries its own level.
    config
        A :class:`Config` (from :func:`lifecircle.load_config`, possibly
        changed with ``dataclasses.replace``), a TOML file path, or None for
        the built-in presets. It decides the categories, the threshold
        (minutes at a walking speed, or metres in distance mode) and the
        snapping distance.
    pois
        Extra facilities (columns as :data:`lifecircle.pois.POI_COLUMNS`,
        any CRS), e.g. from :func:`lifecircle.sources.userpois.read_user_pois`.
    pois_mode
        "add" (merged with the OSM facilities, duplicates dropped) or
        "replace" (they stand in for the OSM facilities of their categories).
    isochrone_limits
        Thresholds (minutes, or metres in distance mode) to draw isochrones
        at; default the run's threshold.
    area
        Study area polygon (EPSG:4326): only communities whose centre lies in
        it are reported; facilities outside it still count.
    progress
        Called with a short message at each long step (e.g. ``print``).

    Returns
    -------
    Analysis
        Result tables (``coverage``, ``communities``, ``pois``,
        ``isochrones``, ``gaps``, ``unsnapped``), the config and the network;
        see ``help(lifecircle.Analysis)``. Non-fatal problems, such as a
        preset category with no facility in the area (every community then
        lacks it), are listed in ``Analysis.warnings``.

    Raises
    ------
    LifecircleError
        For bad input, as one of its subclasses: ``InputFileError`` (a file
        missing or unreadable), ``ConfigError`` (an invalid config or
        option), ``EmptyAreaError`` (no community in the network's area, or
        no facility for a category asked for by name).
    """
    say = progress or _quiet
    cfg = _as_config(config, level)
    say("reading OSM data")
    osm = load_source(source)
    say(f"projecting walk network ({osm.graph.number_of_nodes():,} nodes)")
    # a graph read here is ours to project in place; a caller's is copied
    net = StreetNetwork.from_graph(project(osm.graph, copy=isinstance(source, OSMData)))
    crs = net.crs
    warnings: list[str] = []

    features = osm.features
    facilities = _facilities(features, cfg, crs, pois, pois_mode, warnings)

    say("finding communities and homes")
    buildings = residential_buildings(features, crs)
    comms = _communities(communities, features, net, buildings, area)

    say(f"snapping {len(facilities):,} facilities and homes of {len(comms):,} communities")
    pts, owner, kind, bld = _origins(comms, buildings)
    origins = snap_points(net, pts, cfg.max_snap_m)
    acc_pts, acc_owner = access_points(facilities.geometry.values)
    acc = snap_points(net, acc_pts, cfg.max_snap_m)
    poi_snap = np.full(len(facilities), np.nan)
    np.fmin.at(poi_snap, acc_owner[acc.ok], acc.leg[acc.ok])

    out = comms[["community_id", "name", "source"]].copy()
    homes = kind == 1
    n_bld = np.bincount(owner[homes], minlength=len(comms))
    res_b = buildings["residents"].values
    pop = np.bincount(owner[homes], weights=res_b[bld[homes]], minlength=len(comms))
    user_pop = pd.to_numeric(comms["residents_input"], errors="coerce").values
    out["residents"] = np.where(np.isfinite(user_pop), user_pop, np.where(n_bld > 0, pop, np.nan))
    out["n_buildings"] = n_bld

    limit = cfg.threshold_m * settings.search_factor
    # every origin lies in a community, so searching their region loses nothing
    region = net.region(comms.geometry.values, limit)
    gap_rows = []
    for cat in cfg.categories:
        say(f"walking distances to {cat.key}")
        fac = acc.subset(facilities["category"].values[acc_owner] == cat.key)
        nd = node_distances(net, fac, limit, region)
        d = point_distances(net, nd, origins, fac, limit)
        for name, values in _score(cat.key, d, owner, kind, bld, res_b, pop, cfg).items():
            out[name] = values
        gap_rows += _gap_frames(cat.key, d, owner, kind, bld, buildings, comms, out, net, nd, fac, cfg)

    covered = out[[f"covered_{k}" for k in cfg.keys]]
    out["reached"] = covered.sum(axis=1).astype(int)
    out["n_categories"] = len(cfg.keys)
    out["complete"] = out["reached"] == out["n_categories"]
    out["gaps"] = covered.apply(lambda r: ",".join(k for k in cfg.keys if not r[f"covered_{k}"]), axis=1)
    comm_gdf = gpd.GeoDataFrame(out, geometry=comms.geometry.values, crs=crs)

    centre = kind == 0
    say(f"isochrones for {len(comms):,} communities")
    limits = sorted(set(isochrone_limits or [cfg.minutes if cfg.mode == "time" else cfg.distance_m]))
    iso = community_isochrones(net, origins.subset(centre), comm_gdf["community_id"].values, limits, cfg)

    pois_out = display_points(facilities)
    pois_out["snap_m"] = np.round(poi_snap, 1)
    unsnapped = pd.concat([
        _unsnapped("poi", facilities["poi_id"], facilities["name"], pois_out.geometry.values,
                   np.isfinite(poi_snap), net),
        _unsnapped("community", out["community_id"], out["name"], pts[centre], origins.ok[centre], net),
    ], ignore_index=True)
    if len(unsnapped):
        warnings.append(
            f"{len(unsnapped)} facilities or community centres lie more than {cfg.max_snap_m:g} m "
            "from any walkable street and were left out (see unsnapped.csv)"
        )

    gaps = (pd.concat(gap_rows, ignore_index=True) if gap_rows
            else gpd.GeoDataFrame(columns=["category", "kind", "community_id", "geometry"], geometry="geometry", crs=crs))
    return Analysis(
        config=cfg, communities=comm_gdf, pois=gpd.GeoDataFrame(pois_out, crs=crs),
        isochrones=iso, gaps=gpd.GeoDataFrame(gaps, geometry="geometry", crs=crs),
        unsnapped=unsnapped, graph=net.graph, source=osm.source, crs=crs, warnings=warnings,
    )


def community_isochrones(
    net: StreetNetwork, centres: Snapped, ids, limits: list[float], cfg: Config
) -> gpd.GeoDataFrame:
    """Isochrones from each community centre at each limit.

    ``limits`` are minutes in time mode and metres in distance mode.
    """
    to_m = (lambda x: x * cfg.metres_per_minute) if cfg.mode == "time" else (lambda x: x)
    top = to_m(max(limits))
    rows = []
    chunk = ORIGIN_CHUNK  # rows of origins x nodes held at once
    for start in range(0, len(centres), chunk):
        sl = slice(start, start + chunk)
        block = origin_node_distances(net, centres.subset(np.arange(len(centres))[sl]), top)
        for j, i in enumerate(range(start, min(start + chunk, len(centres)))):
            if not centres.ok[i]:
                continue
            one = centres.subset(np.array([i]))
            for lim in limits:
                rows.append((ids[i], lim, reach_polygon(net, block[j], to_m(lim), one)))
    col = "minutes" if cfg.mode == "time" else "metres"
    return gpd.GeoDataFrame(
        {"community_id": [r[0] for r in rows], col: [r[1] for r in rows]},
        geometry=[r[2] for r in rows], crs=net.crs,
    )

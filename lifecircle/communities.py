"""Communities (the unit reported on) and the residential buildings inside them.

Communities come from the user's file, else from polygons in the extract
(residential landuse, then neighbourhoods, then small administrative areas),
else from street blocks that contain residential buildings.

An area of the extract cut by its boundary (``clipped`` in the features
table) is closed along that boundary and kept as a *partial* community; one
that cannot be closed is reported in a left-out table, never dropped
silently. Communities without a name of their own get one people use
(:func:`name_communities`): a place inside, their largest named building,
the street they lie beside, else a number.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .core.areas import close_runs
from .core.network import StreetNetwork, edge_name
from .errors import EmptyAreaError, InputFileError
from .fileio import find_column, read_polygons
from .i18n import check_lang

_NAME_COLUMNS = ("name", "名称", "社区", "community", "community_name", "name_zh", "NAME", "Name")
_ID_COLUMNS = ("community_id", "id", "code", "编码", "ID")
# people, not households (户数 counts homes)
_POP_COLUMNS = ("population", "residents", "常住人口", "户籍人口", "总人口", "人口", "人口数", "pop")
_COLUMNS = ["community_id", "name", "source", "residents_input", "partial", "geometry"]

#: Columns of the left-out table returned with the communities.
LEFT_OUT_COLUMNS = ["what", "id", "name", "reason"]

#: A street names a community only within this distance of its centre (m).
STREET_NAME_RADIUS_M = 300.0

# place=* values for something no larger than a community. A suburb, town
# or city node that happens to fall inside one would name it after the
# whole district, and the same name would repeat across its communities.
_LOCAL_PLACES = frozenset({
    "neighbourhood", "quarter", "locality", "square", "city_block", "plot",
    "hamlet", "isolated_dwelling", "village", "farm", "allotments",
})

_TEMPLATES = {
    "building": {"en": "Residential area at {name}", "zh": "{name}一带居住区"},
    "street": {"en": "Residential area {side} of {name}", "zh": "{name}{side}侧居住区"},
    "number": {"en": "Residential area {k}", "zh": "居住区{k}"},
}
# side index 0..3 = north, south, east, west
_SIDES = {"en": ("north", "south", "east", "west"), "zh": ("北", "南", "东", "西")}
_REPEAT = {"en": " ({i})", "zh": "({i})"}

# Distances equal up to float noise (a centre nearest to a street corner is
# equally near both streets) are ties, settled by name rather than by noise.
_TIE_M = 1e-6



def _polygons(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return features[features.geom_type.isin(["Polygon", "MultiPolygon"])]


def _tag(features: gpd.GeoDataFrame, key: str) -> pd.Series:
    return features["tags"].map(lambda t: t.get(key))


def _clipped(features: gpd.GeoDataFrame) -> pd.Series:
    """The ``clipped`` flag; all False for a reader that does not set it."""
    if "clipped" not in features:
        return pd.Series(False, index=features.index)
    return features["clipped"].eq(True)


def _residential_land(features: gpd.GeoDataFrame, crs) -> gpd.GeoSeries:
    """Residential landuse polygons in ``crs``, clipped ones closed."""
    clipped = _clipped(features)
    res = _tag(features, "landuse").eq("residential")
    whole = features[res & ~clipped & features.geom_type.isin(["Polygon", "MultiPolygon"])]
    closed = [close_runs(g)[0] for g in features.geometry[res & clipped]]
    geoms = list(whole.geometry) + [g for g in closed if g is not None]
    return gpd.GeoSeries(geoms, crs=features.crs).to_crs(crs)


def residential_buildings(features: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    """Residential building footprints with a population proxy.

    A building counts as residential when its ``building`` value says so
    (``settings.residential_buildings``) or when it is a generic building
    (``building=yes``) inside residential landuse (including the part inside
    the extract of residential areas cut by its boundary).

    Parameters
    ----------
    features
        The features table (EPSG:4326).
    crs
        The projected analysis CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id``, ``levels``, ``residents`` (footprint x levels /
        ``settings.floor_area_per_person``), geometry; in ``crs``.
    """
    polys = _polygons(features[~_clipped(features)]).to_crs(crs)
    building = _tag(polys, "building")
    explicit = building.isin(settings.residential_buildings)
    generic = building.eq("yes")
    residential_land = _residential_land(features, crs)
    if len(residential_land) and generic.any():
        inside = polys[generic].representative_point().within(residential_land.union_all())
        generic.loc[inside.index] = inside
    else:
        generic[:] = False
    b = polys[explicit | generic].copy()
    levels = pd.to_numeric(_tag(b, "building:levels"), errors="coerce")
    b["levels"] = levels.where(levels > 0, settings.default_building_levels)
    b["residents"] = b.geometry.area * b["levels"] / settings.floor_area_per_person
    return b[["osm_type", "osm_id", "levels", "residents", "geometry"]].reset_index(drop=True)


def _empty_communities(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns=_COLUMNS, geometry="geometry", crs=crs)


def _empty_left_out() -> pd.DataFrame:
    return pd.DataFrame(columns=LEFT_OUT_COLUMNS, dtype=object)


def _rules(cands: gpd.GeoDataFrame) -> tuple[tuple[str, pd.Series], ...]:
    """(source, mask) of each kind of community polygon, in order of preference."""
    return (
        ("landuse=residential", _tag(cands, "landuse").eq("residential")),
        ("place", _tag(cands, "place").isin(["neighbourhood", "quarter", "suburb"])),
        ("boundary=administrative", _tag(cands, "boundary").eq("administrative")
         & pd.to_numeric(_tag(cands, "admin_level"), errors="coerce").ge(8)),
    )


def _assemble(chosen: gpd.GeoDataFrame, clipped: np.ndarray, source: str,
              crs) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Communities (clipped ones closed) and the clipped ones that cannot be."""
    ids = (chosen["osm_type"] + "/" + chosen["osm_id"].astype(str)).to_numpy(dtype=object)
    names = chosen["name"].fillna("").astype(str).to_numpy(dtype=object)
    geoms = chosen.geometry.to_numpy().copy()
    reasons = np.full(len(chosen), "", dtype=object)
    for i in np.flatnonzero(clipped):
        geoms[i], reasons[i] = close_runs(geoms[i])
    # a sliver at the extract's edge is not a community to report on: its
    # centre and coverage would be those of a corner of it
    area = np.zeros(len(chosen))
    closed = np.flatnonzero(clipped & (reasons == ""))
    if len(closed):
        area[closed] = gpd.GeoSeries(geoms[closed], crs=chosen.crs).to_crs(crs).area.to_numpy()
        small = closed[area[closed] < settings.min_partial_area_m2]
        reasons[small] = [f"cut by the extract's boundary; only {a:.0f} m² of it inside" for a in area[small]]
    ok = reasons == ""
    comms = gpd.GeoDataFrame(
        {"community_id": ids[ok], "name": names[ok], "source": source,
         "residents_input": np.nan, "partial": clipped[ok]},
        geometry=list(geoms[ok]), crs=chosen.crs,
    ).to_crs(crs)
    left_out = pd.DataFrame(
        {"what": "community", "id": ids[~ok], "name": names[~ok], "reason": reasons[~ok]},
        columns=LEFT_OUT_COLUMNS,
    )
    return comms, left_out


def from_extract(features: gpd.GeoDataFrame, crs) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Community polygons found in the extract, and those that had to be left out.

    The first kind of polygon present (residential landuse, then
    neighbourhoods, then administrative areas of level 8 or more) makes the
    communities. A candidate cut by the extract's boundary (``clipped``) is
    closed along that boundary (:func:`close_runs`) and flagged ``partial``;
    one that cannot be closed becomes a left-out row.

    Parameters
    ----------
    features
        The features table; a ``clipped`` column is optional (missing: no
        feature is clipped).
    crs
        The projected analysis CRS.

    Returns
    -------
    communities
        ``community_id`` (``way/123``), ``name`` (the OSM name, "" if none;
        see :func:`name_communities`), ``source``, ``residents_input``
        (NaN), ``partial`` (bool), geometry in ``crs``; in OSM id order.
        Empty if the extract has none.
    left_out
        ``what`` ("community"), ``id``, ``name``, ``reason``: the clipped
        candidates of that kind that could not be closed.
    """
    clipped = _clipped(features)
    whole = features.geom_type.isin(["Polygon", "MultiPolygon"]) & ~clipped
    cands = features[whole | clipped]
    unused = _empty_left_out()
    for source, mask in _rules(cands):
        chosen = cands[mask].sort_values(["osm_type", "osm_id"], kind="stable")
        if len(chosen) == 0:
            continue
        comms, left_out = _assemble(chosen, clipped[chosen.index].to_numpy(), source, crs)
        if len(comms):
            return comms.reset_index(drop=True), left_out
        # none could be closed: say so even though another kind is used
        if unused.empty:
            unused = left_out
    return _empty_communities(crs), unused


def street_blocks(net: StreetNetwork, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Street blocks (faces of the walk network) holding residential buildings.

    Ids are ``block/1``... by position (north-west first); names are left
    empty for :func:`name_communities`; ``partial`` is False.
    """
    lines = shapely.union_all(net.geoms)  # nodes the lines where they cross
    blocks = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    if len(blocks) == 0 or len(buildings) == 0:
        return _empty_communities(net.crs)
    tree = shapely.STRtree(blocks)
    hit = np.unique(tree.query(buildings.representative_point().values, predicate="within")[1])
    blocks = blocks[hit]
    # order by position so ids do not depend on polygonize's order
    c = shapely.get_coordinates(shapely.centroid(blocks))
    blocks = blocks[np.lexsort((c[:, 0].round(3), -c[:, 1].round(3)))]
    return gpd.GeoDataFrame(
        {"community_id": [f"block/{i + 1}" for i in range(len(blocks))],
         "name": "", "source": "street block", "residents_input": np.nan, "partial": False},
        geometry=blocks, crs=net.crs,
    )


def _natural_key(value: object) -> tuple:
    """Sort key putting ``way/9`` before ``way/10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(value)))


def _best_per_polygon(n: int, poly: np.ndarray, item: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """For each of ``n`` polygons, the ``item`` of least ``cost`` among its
    (poly, item) pairs (ties: the lower item), or -1."""
    best = np.full(n, -1, dtype=np.int64)
    if len(poly) == 0:
        return best
    order = np.lexsort((item, cost, poly))
    p, it = poly[order], item[order]
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    best[p[first]] = it[first]
    return best


def _named(features: gpd.GeoDataFrame, mask: pd.Series, crs) -> gpd.GeoDataFrame:
    """Named, uncut point or polygon features under ``mask``, in ``crs``."""
    named = mask & features["name"].fillna("").astype(str).str.strip().ne("") & ~_clipped(features)
    named &= features.geom_type.isin(["Point", "Polygon", "MultiPolygon"])
    return features[named].to_crs(crs)


def _place_names(polys: np.ndarray, centres: np.ndarray, features: gpd.GeoDataFrame,
                 crs) -> np.ndarray:
    """Name of the named local place whose point lies inside each polygon
    ("" if none); of several, the one nearest the polygon's centre."""
    places = _named(features, _tag(features, "place").isin(_LOCAL_PLACES), crs)
    found = np.full(len(polys), "", dtype=object)
    if len(places) == 0 or len(polys) == 0:
        return found
    points = shapely.point_on_surface(places.geometry.to_numpy())
    item, poly = shapely.STRtree(polys).query(points, predicate="within")
    best = _best_per_polygon(len(polys), poly, item, shapely.distance(points[item], centres[poly]))
    names = places["name"].to_numpy(dtype=object)
    found[best >= 0] = names[best[best >= 0]]
    return found


def _building_names(polys: np.ndarray, features: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Name of the largest named building inside each polygon ("" if none)."""
    building = _tag(features, "building")
    blds = _named(features, building.notna() & building.ne("no"), crs)
    blds = blds[blds.geom_type.isin(["Polygon", "MultiPolygon"])]
    found = np.full(len(polys), "", dtype=object)
    if len(blds) == 0 or len(polys) == 0:
        return found
    footprints = blds.geometry.to_numpy()
    item, poly = shapely.STRtree(polys).query(shapely.point_on_surface(footprints), predicate="within")
    best = _best_per_polygon(len(polys), poly, item, -shapely.area(footprints[item]))
    names = blds["name"].to_numpy(dtype=object)
    found[best >= 0] = names[best[best >= 0]]
    return found


def _named_streets(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Geometries and names of the network's named edges.

    Returns
    -------
    geoms
        Projected LineStrings (from the edge arrays: each street once; from
        the graph: both directions of a street, in (u, v, key) order).
    names
        Their names (:func:`lifecircle.core.network.edge_name`).
    """
    if net.names is not None:
        # the edge arrays list each street once, in the (u, v, key) order of
        # its first direction below: same nearest street, same ties
        named = np.flatnonzero(net.names != "")
        return net.geoms[named], net.names[named]
    G = net.graph
    rows = sorted((
        ((u, v, k), name, d.get("geometry"))
        for u, v, k, d in G.edges(keys=True, data=True)
        if (name := edge_name(d.get("name")))
    ), key=lambda r: r[0])
    if not rows:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    geoms = np.array([r[2] for r in rows], dtype=object)
    straight = np.flatnonzero([g is None for g in geoms])
    if len(straight):
        ends = np.array([[(G.nodes[n]["x"], G.nodes[n]["y"]) for n in rows[i][0][:2]] for i in straight])
        geoms[straight] = shapely.linestrings(ends)
    return geoms, np.array([r[1] for r in rows], dtype=object)


def _street_sides(centres: np.ndarray, net: StreetNetwork,
                  radius: float = STREET_NAME_RADIUS_M) -> tuple[np.ndarray, np.ndarray]:
    """The nearest named street to each centre within ``radius``, and the
    side of it the centre lies on.

    Returns
    -------
    names
        Street name, "" if none is near (or the centre lies on it).
    sides
        0..3 = north, south, east, west (of the street), -1 if no name.
    """
    names = np.full(len(centres), "", dtype=object)
    sides = np.full(len(centres), -1, dtype=np.int64)
    geoms, street = _named_streets(net)
    if len(geoms) == 0 or len(centres) == 0:
        return names, sides
    tree = shapely.STRtree(geoms)
    (ci, _), d = tree.query_nearest(centres, max_distance=radius, return_distance=True,
                                    all_matches=False)
    near = np.full(len(centres), np.nan)
    near[ci] = d
    has = np.flatnonzero(np.isfinite(near))
    if len(has) == 0:
        return names, sides
    qi, qe = tree.query(centres[has], predicate="dwithin", distance=near[has] + _TIE_M)
    # among equally near streets, the alphabetically first name
    code = np.unique(street, return_inverse=True)[1]
    best = _best_per_polygon(len(centres), has[qi], qe, code[qe])
    ci = np.flatnonzero(best >= 0)
    ei = best[ci]
    ends = shapely.get_coordinates(shapely.shortest_line(geoms[ei], centres[ci])).reshape(-1, 2, 2)
    dx, dy = (ends[:, 1] - ends[:, 0]).T
    side = np.where(np.abs(dx) > np.abs(dy), np.where(dx > 0, 2, 3), np.where(dy > 0, 0, 1))
    on = (dx == 0) & (dy == 0)  # on the street itself: no side to name
    names[ci[~on]] = street[ei[~on]]
    sides[ci[~on]] = side[~on]
    return names, sides


def _number_repeats(names: np.ndarray, order: np.ndarray, lang: str) -> np.ndarray:
    """Number every occurrence of a repeated name, in ``order``."""
    counts = Counter(names.tolist())
    seen: Counter = Counter()
    out = names.copy()
    for i in order:
        if counts[names[i]] > 1:
            seen[names[i]] += 1
            out[i] = names[i] + _REPEAT[lang].format(i=seen[names[i]])
    return out


def name_communities(comms: gpd.GeoDataFrame, features: gpd.GeoDataFrame, net: StreetNetwork,
                     lang: str = "en") -> gpd.GeoDataFrame:
    """Give every community a name people use.

    A community keeps its own name (from OSM or the user's file). One
    without gets, in this order:

    a. the name of a named local ``place=*`` (neighbourhood, quarter,
       locality, square, city block...; node or polygon) whose point lies
       inside it (of several, the nearest to its centre), as is;
    b. else "Residential area at {building}" / "{building}一带居住区" after
       the largest named building inside it;
    c. else "Residential area north of {street}" / "{street}北侧居住区"
       (south, east, west) after the nearest named street within
       :data:`STREET_NAME_RADIUS_M` of its centre (representative point),
       on the side given by the larger of |dx|, |dy| of the vector from
       the nearest point of the street to the centre;
    d. else "Residential area {k}" / "居住区{k}", k = 1, 2... in
       ``community_id`` order.

    Names that then repeat are numbered in ``community_id`` order: " (1)"
    ... " (k)" in English, "(1)" ... "(k)" in Chinese.

    Parameters
    ----------
    comms
        Communities with ``community_id``, ``name`` (empty or NaN: to be
        named) and geometry; a ``name_source`` column, if present, is kept
        for the names they have.
    features
        The features table (for places and buildings).
    net
        The street network (for street names).
    lang
        "zh" or "en".

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``comms`` with every ``name`` filled and ``name_source``:
        "osm" (the object's own name, unless ``comms`` said otherwise, e.g.
        "user"), "place", "building", "street" or "number".

    Raises
    ------
    ConfigError
        If ``lang`` is not supported.
    """
    lang = check_lang(lang)
    out = comms.copy()
    raw = out["name"].fillna("").astype(str).to_numpy(dtype=object)
    given = np.array([bool(s.strip()) for s in raw], dtype=bool)
    prior = (out["name_source"].fillna("").astype(str).to_numpy(dtype=object)
             if "name_source" in out else np.full(len(out), "", dtype=object))
    names = np.where(given, raw, "").astype(object)
    source = np.where(given, np.where(prior != "", prior, "osm"), "").astype(object)
    order = _id_order(out["community_id"].to_numpy(dtype=object))

    todo = np.flatnonzero(~given)
    if len(todo):
        geoms = out.geometry if out.crs is None else out.geometry.to_crs(net.crs)
        names[todo], source[todo] = _derived_names(geoms.to_numpy()[todo], features, net, lang)
    # numbers go to the communities nothing else names, in id order
    unnamed = order[names[order] == ""]
    names[unnamed] = [_TEMPLATES["number"][lang].format(k=k + 1) for k in range(len(unnamed))]
    source[unnamed] = "number"

    out["name"] = _number_repeats(names, order, lang)
    out["name_source"] = source
    return out


def _id_order(ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in natural order (``way/9`` before ``way/10``)."""
    return np.array(sorted(range(len(ids)), key=lambda i: (_natural_key(ids[i]), i)), dtype=np.int64)


def _derived_names(polys: np.ndarray, features: gpd.GeoDataFrame, net: StreetNetwork,
                   lang: str) -> tuple[np.ndarray, np.ndarray]:
    """Names (and their sources) from a place, a building or a street; ""
    where none applies. ``polys`` are in ``net``'s CRS."""
    centres = shapely.point_on_surface(polys)
    place = _place_names(polys, centres, features, net.crs)
    building = _building_names(polys, features, net.crs)
    street, side = _street_sides(centres, net)
    names = np.full(len(polys), "", dtype=object)
    source = np.full(len(polys), "", dtype=object)
    for j in range(len(polys)):
        if place[j]:
            names[j], source[j] = place[j], "place"
        elif building[j]:
            names[j], source[j] = _TEMPLATES["building"][lang].format(name=building[j]), "building"
        elif street[j]:
            names[j] = _TEMPLATES["street"][lang].format(name=street[j], side=_SIDES[lang][side[j]])
            source[j] = "street"
    return names, source


def read_communities(path: str | Path, crs, name_column: str | None = None,
                     coordinate_system: str | None = None, encoding: str | None = None,
                     population_column: str | None = None) -> gpd.GeoDataFrame:
    """Read community polygons from GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path
        The file; it must have a CRS (or be GeoJSON, which is WGS84).
    crs
        The analysis CRS to project to.
    name_column
        Column with the community names (default: detected, e.g. ``name``).
    coordinate_system
        "wgs84", "gcj02" (Amap AOIs) or "bd09" (Baidu) for longitudes and
        latitudes shifted by a Chinese web map: every vertex is converted to
        WGS84 (:func:`lifecircle.sources.coords.transform_geometries`).
        None: WGS84, with a warning when the file looks like an Amap or
        Baidu export in China.
    encoding
        Attribute encoding of a shapefile (e.g. "gbk", over its ``.cpg``);
        None: UTF-8, else GB18030 with a warning.
    population_column
        Column with each community's residents (census counts: 七普 by 社区); default:
        detected (``population``, ``人口``, ``常住人口``, …), none if there is none.

    Returns
    -------
    geopandas.GeoDataFrame
        ``community_id``, ``name``, ``source`` (the file's name),
        ``residents_input`` (the population column's counts, NaN without one),
        ``partial`` (False), ``name_source`` ("user",
        or "" where the file gives no name), geometry in ``crs``.
        ``attrs["warnings"]`` holds one-line warnings (a guessed encoding,
        an Amap/Baidu export read as WGS-84).
    """
    path = Path(path)
    gdf, notes = _read_shifted(path, coordinate_system, encoding)
    if name_column is not None and name_column not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputFileError(f"communities file {path} has no column {name_column!r} (columns: {cols})")
    name_col = name_column or find_column(gdf.columns, _NAME_COLUMNS)
    if name_col is None or name_col not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputFileError(f"communities file {path} has no name column (columns: {cols}); use --name-column")
    id_col = find_column(gdf.columns, _ID_COLUMNS)
    ids = gdf[id_col].astype(str) if id_col else pd.Series([f"c{i + 1}" for i in range(len(gdf))], index=gdf.index)
    if ids.duplicated().any():
        raise InputFileError(f"communities file {path}: ids in column {id_col!r} are not unique")
    if population_column is not None and population_column not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputFileError(f"communities file {path} has no column {population_column!r} (columns: {cols})")
    pop_col = population_column or find_column(gdf.columns, _POP_COLUMNS)
    pop = pd.to_numeric(gdf[pop_col], errors="coerce") if pop_col else np.nan
    if pop_col and (pop < 0).any():
        raise InputFileError(f"communities file {path}: column {pop_col!r} has negative counts")
    out = gpd.GeoDataFrame(
        {"community_id": ids.values, "name": gdf[name_col].fillna("").astype(str).values,
         "source": path.name, "residents_input": pop if np.isscalar(pop) else pop.values,
         "partial": False},
        geometry=gdf.geometry.values, crs=gdf.crs,
    ).to_crs(crs)
    # "" marks a row the file leaves unnamed, for name_communities to fill
    out["name_source"] = np.where(out["name"].str.strip().ne(""), "user", "")
    out["geometry"] = out.geometry.make_valid()
    # a polygon without area has no homes and no centre to walk from; scored,
    # it would come out "complete" on nothing. In metres: a flat ring gains a
    # few cm2 of rounding when projected, and degrees are no unit for this.
    _check_extent(gdf.geometry, out, path)
    empty = out.geometry.is_empty.to_numpy()
    if empty.all():
        flat = empty
    else:
        metric = out.geometry if out.crs.is_projected else out.geometry.to_crs(out.geometry.estimate_utm_crs())
        flat = empty | ~(metric.area.to_numpy() >= 1.0)
    if flat.any():
        i = int(np.flatnonzero(flat)[0])
        more = f" and {int(flat.sum()) - 1} more" if flat.sum() > 1 else ""
        raise InputFileError(
            f"communities file {path}: community {out['community_id'].iloc[i]!r} "
            f"({out['name'].iloc[i] or 'unnamed'}){more} has no area; fix or remove the polygon")
    out = out.reset_index(drop=True)
    out.attrs["warnings"] = notes
    out.attrs["population_column"] = pop_col or ""
    return out


#: The widest a community may be, in degrees of longitude or latitude (0.5°: about 55 km north-south).
#: A 15-minute life circle is about 2 km across; wider is a district, a province or the world.
MAX_COMMUNITY_DEG = 0.5


def _check_extent(given: gpd.GeoSeries, out: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse a "community" far wider than any walk (projected, the world has no area at all);
    ``given`` are the file's polygons, ``out`` the communities made of them (for their names)."""
    geo = given if given.crs.is_geographic else given.to_crs("EPSG:4326")
    b = shapely.bounds(geo.values)
    wide = np.flatnonzero(np.nan_to_num(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])) > MAX_COMMUNITY_DEG)
    if len(wide):
        i = int(wide[0])
        more = f" and {len(wide) - 1} more" if len(wide) > 1 else ""
        raise InputFileError(
            f"communities file {path}: community {out['community_id'].iloc[i]!r} "
            f"({out['name'].iloc[i] or 'unnamed'}){more} spans {b[i, 2] - b[i, 0]:.1f}° x {b[i, 3] - b[i, 1]:.1f}°, "
            "far more than a walk; give each community's own polygon (a district goes in --boundary)")


def _read_shifted(path: Path, coordinate_system: str | None,
                  encoding: str | None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The file's polygons, GCJ-02/BD-09 vertices converted to WGS84, and warnings."""
    from .sources import coords

    name = coords.normalize_crs(coordinate_system) if coordinate_system is not None else None
    gdf = read_polygons(path, "communities file", encoding=encoding)
    notes = list(gdf.attrs.get("warnings", []))
    if name in (None, "wgs84"):
        if name is None and gdf.crs.is_geographic:
            xy = shapely.get_coordinates(gdf.to_crs("EPSG:4326").geometry.values)
            notes += coords.export_warning(gdf.columns, xy[:, 0], xy[:, 1], f"communities file {path.name}",
                                           "--communities-crs")
        return gdf, notes
    if not gdf.crs.is_geographic:
        raise InputFileError(f"communities file {path}: --communities-crs {name} needs longitude/latitude "
                             f"coordinates, but the file is in {gdf.crs.to_string()}")
    geo = gdf.to_crs("EPSG:4326")
    xy = shapely.get_coordinates(geo.geometry.values)
    notes += coords.outside_warning(xy[:, 0], xy[:, 1], name, f"communities file {path.name}", "--communities-crs")
    geo["geometry"] = coords.transform_geometries(geo.geometry.values, name)
    return geo, notes


def derive_communities(
    features: gpd.GeoDataFrame, net: StreetNetwork, buildings: gpd.GeoDataFrame,
    lang: str = "en",
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Communities from the extract, else street blocks with homes, named.

    Parameters
    ----------
    features
        The features table.
    net
        The street network (its CRS is the analysis CRS).
    buildings
        Residential buildings (:func:`residential_buildings`), for street
        blocks.
    lang
        Language of derived names, "zh" or "en" (:func:`name_communities`).

    Returns
    -------
    communities
        ``community_id``, ``name``, ``name_source``, ``source``,
        ``residents_input``, ``partial``, geometry.
    left_out
        Areas of the extract that could not become communities
        (:func:`from_extract`); reported even when street blocks are used.

    Raises
    ------
    EmptyAreaError
        If neither gives a community.
    """
    gdf, left_out = from_extract(features, net.crs)
    if len(gdf) == 0:
        gdf = street_blocks(net, buildings)
    if len(gdf) == 0:
        cut = (f" ({len(left_out)} cut by the extract's boundary could not be closed)"
               if len(left_out) else "")
        raise EmptyAreaError(
            f"no communities: the extract has no residential areas{cut} and no residential "
            "buildings; give --communities FILE"
        )
    return name_communities(gdf, features, net, lang=lang), left_out


#: Name columns of a sub-districts (街道) file, in order of preference.
_SUBDISTRICT_NAMES = ("name", "街道", "街道名称", "街道办事处", "名称", "subdistrict", "NAME", "Name")


def assign_subdistricts(comms: gpd.GeoDataFrame, subdistricts: str | Path | gpd.GeoDataFrame, crs) -> np.ndarray:
    """The sub-district (街道) of each community: the one its representative point lies in ("" if none).

    ``subdistricts``: polygons with a name column (a file or a GeoDataFrame).
    """
    if isinstance(subdistricts, gpd.GeoDataFrame):
        gdf, label = subdistricts, "sub-districts"
    else:
        label = f"sub-districts file {subdistricts}"
        gdf = read_polygons(subdistricts, "sub-districts file")
    col = find_column(gdf.columns, _SUBDISTRICT_NAMES)
    if col is None:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputFileError(f"{label} has no name column (columns: {cols})")
    polys = gdf.to_crs(crs)
    names = polys[col].fillna("").astype(str).to_numpy(object)
    out = np.full(len(comms), "", dtype=object)
    pts = comms.geometry.representative_point().to_numpy()
    p, s = shapely.STRtree(polys.geometry.to_numpy()).query(pts, predicate="within")
    order = np.lexsort((s, p))
    first = np.unique(p[order], return_index=True)
    out[first[0]] = names[s[order][first[1]]]
    return out

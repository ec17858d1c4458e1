"""Which features are facilities of which category, and why: the facilities register.

Every feature that a category's rules put forward is listed, counted or not,
with the rule that decided. The decision reads, in order:

1. the feature itself (:meth:`lifecircle.config.Category.judge`): its tags,
   its name's grammar (the head noun decides: 北京大学附属小学 is a primary
   school, 某某五中 is not), name exclusions, and whether a tag says it is
   something else (a restaurant named …小学校 is no school);
2. where it stands (:mod:`lifecircle.facilities.context`): inside a
   hospital it is a part of that hospital (a department, a dispensary);
   inside a campus, a school's grounds, a military or private compound it is
   not open to residents, for the categories that must be public; an
   unnamed feature inside a named facility of the same category is a part
   of that facility;
3. its size: an open space smaller than the standard's minimum.

The planner's review (:mod:`lifecircle.facilities.review`) comes after and
has the last word.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import Category, Config, Verdict, folded_name, name_heads, tag_hit
from .context import anchor_points, containers, enclosing

#: Columns of the facilities register (:func:`classify`), in order.
REGISTER_COLUMNS = ["poi_id", "osm_type", "osm_id", "name", "category", "counted", "reason", "rule", "within",
                    "area_m2", "source", "also_in", "note", "tags", "geometry"]

#: Columns of the counted facilities (the ``pois`` contract), in order.
POI_COLUMNS = ["poi_id", "osm_type", "osm_id", "name", "category", "source", "geometry"]

#: Reason codes of a counted facility.
COUNTED_REASONS = ("tag", "name", "user", "review_keep", "review_move")


def tag_text(tags: Mapping[str, str] | Any) -> str:
    """The tags as one line, ``key=value; ...`` in the order the data gives them."""
    if not isinstance(tags, Mapping):
        return ""
    return "; ".join(f"{k}={v}" for k, v in tags.items())


def empty_register(crs: Any) -> gpd.GeoDataFrame:
    """A register with no rows."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in REGISTER_COLUMNS if c != "geometry"})
    frame["counted"] = frame["counted"].astype(bool)
    frame["area_m2"] = frame["area_m2"].astype(float)
    frame["osm_id"] = frame["osm_id"].astype("int64")
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _candidates(features: gpd.GeoDataFrame, cat: Category, names: np.ndarray,
                heads: np.ndarray) -> tuple[np.ndarray, list[Verdict]]:
    """Rows of ``features`` that the category's rules put forward, and their verdicts."""
    keys = set(cat.tag_keys)
    by_name = bool(cat.names or cat.grammar)
    rows, verdicts = [], []
    for i, (tags, name, head) in enumerate(zip(features["tags"], names, heads)):
        # an object with none of the category's keys and no name cannot be one of its own
        if keys.isdisjoint(tags) and not (by_name and name and cat.named_here(name, head)):
            continue
        verdict = cat.judge(tags, name, head)
        if verdict is not None:
            rows.append(i)
            verdicts.append(verdict)
    return np.asarray(rows, dtype=np.int64), verdicts


def _candidate_rows(features: gpd.GeoDataFrame, cfg: Config) -> pd.DataFrame:
    """One row per (feature, category) that some rule of the category touched, with its verdict."""
    names = features["tags"].map(folded_name).to_numpy(object) if len(features) else np.empty(0, dtype=object)
    heads = features["tags"].map(name_heads).to_numpy(object) if len(features) else np.empty(0, dtype=object)
    parts = []
    for cat in cfg.categories:
        rows, verdicts = _candidates(features, cat, names, heads)
        if not len(rows):
            continue
        parts.append(pd.DataFrame({
            "row": rows, "category": cat.key,
            "counted": [v.counted for v in verdicts], "reason": [v.reason for v in verdicts],
            "rule": [v.rule for v in verdicts], "named": [v.named for v in verdicts],
            "public": [v.public for v in verdicts],
        }))
    if not parts:
        return pd.DataFrame(columns=["row", "category", "counted", "reason", "rule", "named", "public"])
    return pd.concat(parts, ignore_index=True)


def _context_text(box: pd.Series, cfg: Config) -> str:
    kind = cfg.within[box["kind"]]
    name = f" {box['name']}" if box["name"] else ""
    return f"{kind.label_en}{name} ({box['container_id']})"


def _apply_context(reg: pd.DataFrame, geoms: np.ndarray, features: gpd.GeoDataFrame, cfg: Config, crs: Any,
                   named: np.ndarray, public: np.ndarray, tags: list, extent: Any = None) -> None:
    """Containment and size, in place: parts of a hospital, facilities not open to residents,
    parts of another facility of the category, open spaces below the minimum area.

    ``named``, ``public``: per row, whether a name rule put it here, and whether its name
    says it serves the public; ``tags``: its tags."""
    boxes = containers(features, cfg, crs, extent)
    points = anchor_points(geoms)
    ids = reg["poi_id"].to_numpy(object)
    inside = enclosing(points, boxes, ids)
    within = np.full(len(reg), "", dtype=object)
    counted = reg["counted"].to_numpy(bool).copy()
    reason = reg["reason"].to_numpy(object).copy()
    rule = reg["rule"].to_numpy(object).copy()
    cats = {c.key: c for c in cfg.categories}
    for i in range(len(reg)):
        if counted[i]:
            _owned(i, cats[reg["category"].iat[i]], tags[i], cfg, public, counted, reason, rule)
        around = inside.of(i)
        if not len(around):
            continue
        within[i] = _context_text(boxes.iloc[around[0]], cfg)
        if not counted[i]:
            continue
        cat = cats[reg["category"].iat[i]]
        is_part = not cat.part_of_tags or any(tag_hit(tags[i], k, v) for k, v in cat.part_of_tags.items())
        for b in around:
            box = boxes.iloc[b]
            if box["kind"] in cat.part_of and is_part and not public[i]:
                counted[i], reason[i] = False, "part_of"
                rule[i] = f"part of {_context_text(box, cfg)}, not a facility of its own"
                break
            if cat.public_only and not cfg.within[box["kind"]].open_to(cat.key) and not public[i]:
                counted[i], reason[i] = False, "not_public"
                rule[i] = f"inside {_context_text(box, cfg)}: not open to residents"
                break
    _holding_an_institution(reg, geoms, features, cfg, crs, public, counted, reason, rule)
    _named_after_its_compound(reg, points, features, crs, cats, counted, reason, rule)
    reg["within"] = within
    reg["counted"], reg["reason"], reg["rule"] = counted, reason, rule
    _same_category_parts(reg, geoms, points, named)
    _too_small(reg, geoms, cats)


#: An area facility no larger than this (m²) that holds the point of a school, campus, hospital or
#: military unit is that institution's ground (a school's track mapped apart from its point): 4 ha,
#: the size of a large school's grounds. A larger park holding a kindergarten's point is still a park.
GROUNDS_MAX_M2 = 40_000.0


def _holding_an_institution(reg: pd.DataFrame, geoms: np.ndarray, features: gpd.GeoDataFrame, cfg: Config,
                            crs: Any, public: np.ndarray, counted: np.ndarray, reason: np.ndarray,
                            rule: np.ndarray) -> None:
    """A public-only area facility that holds the mapped point of a non-public institution (人民中学's
    node inside the track) is that institution's ground, in place."""
    kinds = [k for k in cfg.within.values() if not k.public]
    is_point = features.geom_type.eq("Point").to_numpy()
    if not kinds or not is_point.any():
        return
    nodes = features[is_point]
    owner = [next((k for k in kinds if k.matches(t)), None) for t in nodes["tags"]]
    keep = np.array([k is not None for k in owner], dtype=bool)
    if not keep.any():
        return
    nodes = nodes[keep]
    owner = [k for k in owner if k is not None]
    pts = gpd.GeoSeries(nodes.geometry.to_numpy(), crs=features.crs).to_crs(crs).to_numpy()
    cats = {c.key: c for c in cfg.categories}
    area = shapely.area(np.asarray(geoms, dtype=object))
    polygonal = np.isin(shapely.get_type_id(np.asarray(geoms, dtype=object)), [3, 6])
    tree = shapely.STRtree(pts)
    ids = (nodes["osm_type"] + "/" + nodes["osm_id"].astype(str)).to_numpy(object)
    for i in np.flatnonzero(counted & polygonal & (area <= GROUNDS_MAX_M2) & ~np.asarray(public, bool)):
        if not cats[reg["category"].iat[i]].public_only:
            continue
        hit = [j for j in tree.query(geoms[i], predicate="contains") if ids[j] != reg["poi_id"].iat[i]]
        if hit:
            j = min(hit)
            name = f" {nodes['name'].iat[j]}" if nodes["name"].iat[j] else ""
            counted[i], reason[i] = False, "not_public"
            rule[i] = f"the ground of {owner[j].label_en}{name} ({ids[j]}), whose point lies in it"


def _named_after_its_compound(reg: pd.DataFrame, points: np.ndarray, features: gpd.GeoDataFrame, crs: Any,
                              cats: Mapping[str, Category], counted: np.ndarray, reason: np.ndarray,
                              rule: np.ndarray) -> None:
    """A feature inside a residential area of the very same name is that compound's own (its
    clubhouse, or its label point mis-tagged): not open to residents of others, in place."""
    names = reg["name"].fillna("").astype(str).str.strip().to_numpy(object)
    todo = np.flatnonzero(counted & (names != "") & np.array([cats[k].public_only for k in reg["category"]]))
    if not len(todo):
        return
    res = features[features["tags"].map(lambda t: t.get("landuse") == "residential").to_numpy()
                   & features.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    res = res[res["name"].fillna("").astype(str).str.strip().isin(set(names[todo]))]
    if not len(res):
        return
    geoms = gpd.GeoSeries(res.geometry.to_numpy(), crs=features.crs).to_crs(crs).to_numpy()
    ids = (res["osm_type"] + "/" + res["osm_id"].astype(str)).to_numpy(object)
    tree = shapely.STRtree(geoms)
    for i in todo:
        for j in tree.query(points[i], predicate="within"):
            if res["name"].iat[j].strip() == names[i] and ids[j] != reg["poi_id"].iat[i]:
                counted[i], reason[i] = False, "not_public"
                rule[i] = f"the residential compound {names[i]}'s own ({ids[j]}): for its residents only"
                break


def _owned(i: int, cat: Category, tags: Mapping[str, str], cfg: Config, public: np.ndarray, counted: np.ndarray,
           reason: np.ndarray, rule: np.ndarray) -> None:
    """A facility whose own tags make it an institution's (a campus's building, a pool a
    university operates) is not open to residents, wherever its grounds are mapped."""
    if not cat.public_only or public[i]:
        return
    for kind in cfg.within.values():
        if kind.public:
            continue
        evidence = kind.owns(tags)
        if evidence is not None:
            counted[i], reason[i] = False, "not_public"
            rule[i] = f"a {kind.label_en}'s own ({evidence}): not open to residents"
            return


def _same_category_parts(reg: pd.DataFrame, geoms: np.ndarray, points: np.ndarray, named: np.ndarray) -> None:
    """A feature inside an area of the same category is part of that area.

    A school's building inside its grounds, a pitch inside a sports centre, a
    hospital's wards: counted once, through the whole. A part of an area kept
    out (a building inside a middle school's grounds) is kept out with it,
    unless a name rule says the part is one of the category's itself (the
    小学部 inside a 中学).
    """
    kinds = shapely.get_type_id(np.asarray(geoms, dtype=object))
    areas = np.flatnonzero(np.isin(kinds, [3, 6]))
    if not len(areas):
        return
    tree = shapely.STRtree(geoms[areas])
    pt, hit = tree.query(points, predicate="within")
    cats = reg["category"].to_numpy(object)
    ids = reg["poi_id"].to_numpy(object)
    size = shapely.area(geoms[areas])
    own = shapely.area(np.asarray(geoms, dtype=object))
    unnamed = reg["name"].fillna("").astype(str).str.strip().eq("").to_numpy()
    best: dict[int, tuple[float, int]] = {}
    for p, h in zip(pt, hit):
        outer = int(areas[h])
        if outer == p or cats[outer] != cats[p] or ids[outer] == ids[p]:
            continue
        # the whole is the larger of two (of two the same, the first mapped): a sports
        # centre's point may fall on one of its courts, a school's grounds and main building
        # may share an outline
        if size[h] < own[p] or (size[h] == own[p] and outer > p):
            continue
        if p not in best or size[h] < best[p][0]:
            best[int(p)] = (float(size[h]), outer)
    was = reg["counted"].to_numpy(bool)
    counted = was.copy()
    reason = reg["reason"].to_numpy(object).copy()
    rule = reg["rule"].to_numpy(object).copy()
    for p, (_, outer) in sorted(best.items()):
        # a named part of an area kept out decides for itself (a supermarket in a mall,
        # the 小学部 in a 中学); an unnamed one is the area's
        if not was[p] or (not was[outer] and (named[p] or not unnamed[p])):
            continue
        counted[p], reason[p] = False, "part_of"
        what = f"{reg['name'].iat[outer] or ''} ({ids[outer]})".strip()
        rule[p] = (f"part of {what}, counted there" if was[outer]
                   else f"part of {what}, kept out: {reg['rule'].iat[outer]}")
    reg["counted"], reg["reason"], reg["rule"] = counted, reason, rule


def _too_small(reg: pd.DataFrame, geoms: np.ndarray, cats: Mapping[str, Category]) -> None:
    """Open spaces below their category's minimum area; and, where size is judged, unnamed
    points and cut areas, whose size nothing shows."""
    area = shapely.area(np.asarray(geoms, dtype=object))
    polygonal = np.isin(shapely.get_type_id(np.asarray(geoms, dtype=object)), [3, 6])
    reg["area_m2"] = np.where(polygonal, np.round(area, 1), np.nan)
    minimum = reg["category"].map(lambda k: cats[k].min_area_m2).to_numpy(float)
    judged = reg["counted"].to_numpy(bool) & np.isfinite(minimum)
    small = judged & polygonal & (area < np.nan_to_num(minimum))
    for i in np.flatnonzero(small):
        reg.loc[reg.index[i], ["counted", "reason", "rule"]] = [
            False, "too_small", f"{area[i]:,.0f} m² < {minimum[i]:,.0f} m², the smallest the standard counts"]
    unnamed = reg["name"].fillna("").astype(str).str.strip().eq("").to_numpy()
    for i in np.flatnonzero(judged & ~polygonal & unnamed):
        reg.loc[reg.index[i], ["counted", "reason", "rule"]] = [
            False, "too_small", "an unnamed point or cut area: neither a name nor an area shows it is one"]


def classify(features: gpd.GeoDataFrame, cfg: Config, crs: Any, extent: Any = None) -> gpd.GeoDataFrame:
    """The facilities register of an OSM features table: every candidate, counted or not.

    Parameters
    ----------
    features
        The features table of an OSM source (``tags`` column of dicts, EPSG:4326).
    cfg
        The run's categories and the ``within`` kinds they refer to.
    crs
        The projected CRS (metres) for containment, areas and the result.
    extent
        The data's extent (EPSG:4326 polygon), along which areas the extract cuts are
        closed (:func:`lifecircle.facilities.context.containers`); default the features'.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`REGISTER_COLUMNS`, one row per (feature, category) that a rule of the
        category touched, in ``crs``: ``counted`` (bool), ``reason`` (a code: ``tag``,
        ``name``, ``exclude_tag``, ``exclude_name``, ``tag_conflict``, ``not_judged``,
        ``part_of``, ``not_public``, ``too_small``), ``rule`` (the rule or evidence, in
        words), ``within`` (the smallest area of a ``within`` kind around it), ``area_m2``
        (NaN for points and clipped areas), ``source`` ("osm"), ``also_in`` and ``note``
        (filled by the merge with other sources), ``tags`` (one line).
    """
    found = _candidate_rows(features, cfg)
    if not len(found):
        return empty_register(crs)
    src = features.iloc[found["row"].to_numpy()]
    reg = pd.DataFrame({
        "poi_id": (src["osm_type"] + "/" + src["osm_id"].astype(str)).to_numpy(object),
        "osm_type": src["osm_type"].to_numpy(object),
        "osm_id": src["osm_id"].to_numpy("int64"),
        "name": src["name"].fillna("").astype(str).to_numpy(object),
        "category": found["category"].to_numpy(object),
        "counted": found["counted"].to_numpy(bool),
        "reason": found["reason"].to_numpy(object),
        "rule": found["rule"].to_numpy(object),
        "within": "", "area_m2": math.nan, "source": "osm", "also_in": "", "note": "",
        "tags": src["tags"].map(tag_text).to_numpy(object),
    })
    geoms = gpd.GeoSeries(src.geometry.to_numpy(), crs=features.crs).to_crs(crs).to_numpy()
    _apply_context(reg, geoms, features, cfg, crs, found["named"].to_numpy(bool), found["public"].to_numpy(bool),
                   list(src["tags"]), extent)
    return gpd.GeoDataFrame(reg[REGISTER_COLUMNS[:-1]], geometry=list(geoms), crs=crs)


def counted(register: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The counted rows of a register, as the ``pois`` contract (:data:`POI_COLUMNS`)."""
    rows = register[register["counted"].to_numpy(bool)]
    return gpd.GeoDataFrame(rows[POI_COLUMNS].reset_index(drop=True), geometry="geometry", crs=register.crs)

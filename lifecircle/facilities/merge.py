"""Several sources, one list: the planner's files merged into the facilities register.

A facility that OpenStreetMap and a planner's file (an Amap or Baidu export,
a civil-affairs list of 助餐点) both hold is counted once: the two are matched
by distance and by name (rapidfuzz, on names folded so that Traditional and
Simplified compare equal), and the register's row names both sources. A
place both hold under different categories is listed as a conflict for the
planner's review.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz

from ..config import Config
from ..errors import ConfigError
from ..text import fold, is_missing
from .classify import REGISTER_COLUMNS

#: Names at least this similar (rapidfuzz ``fuzz.ratio``, 0-100) name one facility.
NAME_RATIO = 60.0

#: A POI without a name on either side is a duplicate only this close (m).
UNNAMED_TOLERANCE_M = 10.0

#: Largest distance between two rows of one facility, in metres (Amap's GCJ-02
#: converted back to WGS-84 lands within a few metres; a large site's point
#: may stand anywhere in it).
TOLERANCE_M = 30.0


def normalize_name(name: Any) -> str:
    """A name as compared: Simplified, compatibility-normalised, case-folded, letters and digits only."""
    if is_missing(name):
        return ""
    text = fold(unicodedata.normalize("NFKC", str(name)))
    return "".join(ch for ch in text if ch.isalnum())


def names_similar(a: Any, b: Any, distance_m: float = 0.0) -> bool:
    """Decide whether two POI names at ``distance_m`` denote one facility.

    Parameters
    ----------
    a, b
        Names (None/NaN count as empty).
    distance_m
        Distance between the two POIs in metres.

    Returns
    -------
    bool
        True if the normalised names (:func:`normalize_name`) are equal, one
        contains the other, or their similarity (rapidfuzz ``fuzz.ratio``) is
        at least :data:`NAME_RATIO`; a missing name on either side counts as
        similar only within :data:`UNNAMED_TOLERANCE_M`.
    """
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return distance_m <= UNNAMED_TOLERANCE_M
    if na == nb or na in nb or nb in na:
        return True
    return fuzz.ratio(na, nb) >= NAME_RATIO


def _as_rows(pois: gpd.GeoDataFrame, crs: Any, source: str) -> gpd.GeoDataFrame:
    """Rows of the ``pois`` contract as counted register rows, in ``crs``."""
    pois = pois if pois.crs is not None else pois.set_crs("EPSG:4326")
    pois = pois.to_crs(crs) if crs is not None else pois
    n = len(pois)

    def given(column: str, default: Any) -> Any:
        # a place search says itself how the service filed each place (lifecircle.sources.places)
        return pois[column].to_numpy(object) if column in pois else default

    frame = pd.DataFrame({
        "poi_id": pois["poi_id"].astype(str).to_numpy(object), "osm_type": pois["osm_type"].to_numpy(object),
        "osm_id": pois["osm_id"].to_numpy("int64"), "name": pois["name"].fillna("").astype(str).to_numpy(object),
        "category": pois["category"].to_numpy(object),
        "counted": pois["counted"].to_numpy(bool) if "counted" in pois else np.ones(n, dtype=bool),
        "reason": given("reason", np.full(n, "user", dtype=object)),
        "rule": given("rule", np.full(n, f"listed in the planner's file ({source})", dtype=object)),
        "within": "", "area_m2": np.nan,
        "source": pois["source"].astype(str).to_numpy(object) if "source" in pois else source,
        "also_in": "", "note": "", "tags": given("tags", ""),
    })
    return gpd.GeoDataFrame(frame[REGISTER_COLUMNS[:-1]], geometry=pois.geometry.to_numpy(), crs=pois.crs)


def user_rows(user: gpd.GeoDataFrame, cfg: Config, crs: Any, source: str = "user") -> gpd.GeoDataFrame:
    """A user's facilities (the ``pois`` contract) as register rows, in ``crs``.

    They count as listed, unless their name alone says they are not what the
    category means (a 中学 in a list of schools, a 自助餐 in a list of canteens).
    """
    rows = _as_rows(user, crs, source)
    known = {c.key: c for c in cfg.categories}
    for i, (name, key, kept) in enumerate(zip(rows["name"], rows["category"], rows["counted"])):
        cat = known.get(key)
        if not kept:
            continue
        verdict = cat.name_exclusion(name) if cat is not None else None
        if verdict is not None:
            rows.loc[rows.index[i], ["counted", "reason", "rule"]] = [False, verdict.reason, verdict.rule]
    return rows


def merge_pois(osm_pois: gpd.GeoDataFrame, user_pois: gpd.GeoDataFrame, mode: str = "add",
               tolerance_m: float = TOLERANCE_M) -> tuple[gpd.GeoDataFrame, int]:
    """Combine two tables of the ``pois`` contract (OSM's and a user's): :func:`merge_sources` on them.

    Returns
    -------
    (geopandas.GeoDataFrame, int)
        The rows counted, in ``osm_pois``' CRS with ``osm_pois``' columns (and any the
        user's add) and a fresh index, and the number of rows merged away: user rows dropped
        as duplicates ("add") or OSM rows replaced ("replace").
    """
    crs = osm_pois.crs
    user = user_pois if user_pois.crs is not None else user_pois.set_crs("EPSG:4326")
    user = user.to_crs(crs) if crs is not None else user
    reg, counts = merge_sources(_as_rows(osm_pois, crs, "osm"), _as_rows(user, crs, "user"), mode, tolerance_m)
    keep = reg["counted"].to_numpy(bool)
    n = len(osm_pois)
    columns = list(osm_pois.columns) + [c for c in user.columns if c not in osm_pois.columns]
    user = user.rename_geometry(osm_pois.geometry.name) if user.geometry.name != osm_pois.geometry.name else user
    parts = [p for p in (osm_pois[keep[:n]], user[keep[n:]]) if len(p)]
    if not parts:
        return osm_pois.iloc[:0].reindex(columns=columns).reset_index(drop=True), counts["merged"]
    out = pd.concat(parts, ignore_index=True)
    out = gpd.GeoDataFrame(out.reindex(columns=columns), geometry=osm_pois.geometry.name, crs=crs)
    out.attrs = {}
    return out, counts["merged"]


def _append(text: str, more: str) -> str:
    return f"{text}; {more}" if text else more


def merge_sources(register: gpd.GeoDataFrame, user: gpd.GeoDataFrame, mode: str = "add",
                  tolerance_m: float = TOLERANCE_M) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """The register with a user's rows (:func:`user_rows`) merged in.

    Parameters
    ----------
    register
        The OSM facilities register (:func:`lifecircle.facilities.classify`).
    user
        Register rows of the planner's file, same CRS.
    mode
        "add": a user row that repeats a counted OSM facility (same category,
        within ``tolerance_m``, similar name) is kept as a duplicate, not
        counted; the OSM row lists it in ``also_in``. "replace": the user's
        file is authoritative for its categories, whose OSM rows stop counting.
    tolerance_m
        Largest distance between two rows of one facility (metres).

    Returns
    -------
    register, counts
        The merged register, and counts: ``merged`` (duplicates, or OSM rows
        replaced), ``conflicts`` (the same place, similar names, different
        categories), ``added`` (user rows counted).
    """
    if mode not in ("add", "replace"):
        raise ConfigError(f"POI merge mode must be 'add' or 'replace', not {mode!r}")
    if not tolerance_m >= 0:
        raise ConfigError(f"POI merge tolerance must be a distance in metres >= 0, not {tolerance_m!r}")
    reg = register.copy()
    usr = user.copy()
    counts = {"merged": 0, "conflicts": 0, "added": 0}
    if mode == "replace":
        drop = reg["counted"].to_numpy(bool) & reg["category"].isin(set(usr["category"])).to_numpy()
        reg.loc[drop, ["counted", "reason", "rule"]] = [False, "replaced", "replaced by the planner's file"]
        counts["merged"] = int(drop.sum())
    elif len(reg) and len(usr):
        _match(reg, usr, float(tolerance_m), counts)
    counts["added"] = int(usr["counted"].sum())
    parts = [p for p in (reg, usr) if len(p)]
    if not parts:
        return reg, counts
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=register.crs), counts


def _match(reg: gpd.GeoDataFrame, usr: gpd.GeoDataFrame, tolerance_m: float, counts: dict[str, int]) -> None:
    """Mark user rows that repeat an OSM row (duplicates) or contradict one (conflicts), in place."""
    o_geom = reg.geometry.to_numpy()
    u_geom = usr.geometry.to_numpy()
    u_idx, o_idx = shapely.STRtree(o_geom).query(u_geom, predicate="dwithin", distance=tolerance_m)
    dist = shapely.distance(u_geom[u_idx], o_geom[o_idx])
    order = np.lexsort((o_idx, dist, u_idx))  # per user row, nearest first
    o_cat, u_cat = reg["category"].to_numpy(object), usr["category"].to_numpy(object)
    o_name, u_name = reg["name"].to_numpy(object), usr["name"].to_numpy(object)
    o_counted = reg["counted"].to_numpy(bool)
    o_id, u_id = reg["poi_id"].to_numpy(object), usr["poi_id"].to_numpy(object)
    done = np.zeros(len(usr), dtype=bool)
    for k in order:
        ui, oi, d = int(u_idx[k]), int(o_idx[k]), float(dist[k])
        if done[ui] or not usr["counted"].iat[ui] or not names_similar(u_name[ui], o_name[oi], d):
            continue
        if u_cat[ui] != o_cat[oi]:
            if o_counted[oi]:
                note = f"conflict: {o_id[oi]} ({o_name[oi]}) at {d:.0f} m is {o_cat[oi]} in OpenStreetMap"
                usr.iat[ui, usr.columns.get_loc("note")] = _append(usr["note"].iat[ui], note)
                reg.iat[oi, reg.columns.get_loc("note")] = _append(
                    reg["note"].iat[oi], f"conflict: {u_id[ui]} at {d:.0f} m is {u_cat[ui]} in the planner's file")
                counts["conflicts"] += 1
            continue
        done[ui] = True
        if o_counted[oi]:
            usr.loc[usr.index[ui], ["counted", "reason", "rule"]] = [
                False, "duplicate", f"the same facility as {o_id[oi]} ({d:.0f} m), counted there"]
            reg.iat[oi, reg.columns.get_loc("also_in")] = _append(reg["also_in"].iat[oi], str(u_id[ui]))
            counts["merged"] += 1
        else:
            note = f"{o_id[oi]} at {d:.0f} m was not counted from OpenStreetMap: {reg['rule'].iat[oi]}"
            usr.iat[ui, usr.columns.get_loc("note")] = _append(usr["note"].iat[ui], note)
            usr.iat[ui, usr.columns.get_loc("also_in")] = str(o_id[oi])

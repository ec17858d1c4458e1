"""Interactive map of an analysis: one self-contained, offline HTML file.

The page is a folium map whose CDN links are replaced by Leaflet and jQuery
inlined from the installed XStatic packages (:mod:`lifecircle.outputs.htmlassets`).
Only the tiles (OpenStreetMap's, the user's own, or none) come from the
network; offline they do not load and the data layers draw over the
extract's own streets (:mod:`lifecircle.outputs.basemap`).

Size: the map is for display, so its geometries are simplified (topology
kept) to a tolerance per layer (:data:`DISPLAY_TOLERANCE_M`), rounded to
:data:`COORD_DECIMALS` and written as delta-encoded integers
(:mod:`lifecircle.outputs.compact`); each community's gap buildings become
one shape per category; the markup the community popups share is written
once; the streets are chained into long polylines
(:mod:`lifecircle.outputs.basemap`). The analysis tables (and the
GeoPackage) keep full detail.

Safety: folium pastes popup and tooltip HTML into the page as given, and
Leaflet shows layer names and popup strings through ``innerHTML``. Popups,
the legend and the notes are therefore rendered from the autoescaping
Jinja2 macros of ``templates/map_parts.html.j2``, and the few plain strings
(tooltips, layer names) pass through the same :func:`esc`; the fragments then
travel inside JSON (:func:`lifecircle.outputs.compact.script_json`, which
writes ``</`` and ``<!--`` escaped), so nothing can end the ``<script>`` they
sit in. branca parses every rendered script as a Jinja2 template once more
(all but the data layers' and the inlined libraries', placed as they are:
:class:`lifecircle.outputs.compact.RawElement`): :func:`esc` writes braces
as references, ids carry full-width braces (:func:`id_text`) and
``script_json`` escapes ``{{``, ``{%`` and ``{#``, so no OSM or user string
is ever evaluated there.

Determinism: branca gives every element a random id; :func:`make_map`
renumbers them in tree order so the same analysis always gives the same
bytes. That, and keeping CDN links out, needs branca's and folium's private
attributes, reached through :mod:`lifecircle.adapters` only.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from itertools import count
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from folium.utilities import JsCode

from .. import adapters, settings
from ..config import Category, Config
from ..errors import LifecircleError
from ..facilities.access import display_points
from ..i18n import (
    basis_text,
    category_label,
    check_lang,
    covered_state,
    level_title,
    limit_text,
    reason_text,
    rule_text,
    strings,
    t,
    threshold_text,
)
from ..text import flag_of, int_of, is_missing, text_of
from . import basemap, compact, htmlassets
from .htmlassets import esc, safe_color
from .tiles import OSM_ATTR_HTML as _OSM_ATTR_HTML
from .tiles import Tiles, check_tiles

COORD_DECIMALS = compact.COORD_DECIMALS

#: Douglas-Peucker tolerance (metres, topology kept) of each layer's display
#: geometry: below what the map shows at the zoom it is read at. Isochrones
#: are 25 m street buffers already, so a few metres change nothing visible.
DISPLAY_TOLERANCE_M = {"communities": 0.5, "gaps": 0.5, "isochrones": 2.0, "routes": 1.0}
#: Holes of an isochrone smaller than this (m²) are not drawn: specks between
#: buffered streets that hold half its vertices and no information.
ISOCHRONE_MIN_HOLE_M2 = 100.0

# ColorBrewer RdYlGn (5 classes): red = few categories reached, green = all.
_SCORE_RAMP = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
# Isochrones: a sequential blue ramp (ColorBrewer Blues ends), shortest walk
# darkest; no blue is in the score ramp.
_ISOCHRONE_RAMP = ("#08306b", "#6baed6")
# Gaps: dark hatching with a dashed outline, unlike any filled score colour.
GAP_COLOR = "#252525"

# Leaflet sets string popups/tooltips with innerHTML; the strings are built
# from escaped values in Python, so binding them is safe.
_BIND_JS = JsCode(
    """function (feature, layer) {
        var p = feature.properties;
        if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 460}); }
        if (p.tooltip) { layer.bindTooltip(p.tooltip, {sticky: true}); }
    }"""
)

_PAGE_CSS = """
.lc-poi span { display: block; box-sizing: border-box; width: 24px; height: 24px;
  border-radius: 50%; border: 2px solid; background: #fff; font-size: 13px;
  line-height: 20px; text-align: center; box-shadow: 0 1px 3px rgba(0,0,0,.4); }
.lc-excluded span { width: 16px; height: 16px; border: 1px solid #737373; color: #737373;
  font-size: 12px; line-height: 14px; opacity: .85; }
.lc-no-data { color: #737373; }
.lc-popup { font: 12px/1.4 sans-serif; }
.lc-popup h4 { margin: 0 0 4px; font-size: 14px; }
.lc-popup table { border-collapse: collapse; margin: 4px 0; }
.lc-popup th, .lc-popup td { border-bottom: 1px solid #ddd; padding: 1px 6px; text-align: left; }
.lc-popup td.lc-num { text-align: right; }
.lc-popup .lc-meta { color: #555; }
.lc-box { position: fixed; z-index: 1000; background: rgba(255,255,255,.9);
  font: 12px/1.4 sans-serif; padding: 4px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); }
/* Above Leaflet's scale bar (bottom left) and attribution (bottom right). */
.lc-legend { left: 10px; bottom: 64px; }
.lc-legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #333; }
.lc-attribution { right: 4px; bottom: 26px; max-width: 60%; }
.lc-legend b { display: block; margin-top: 2px; }
.lc-legend .lc-rule, .lc-legend .lc-basis-text { max-width: 240px; color: #444; }
.lc-notes { right: 10px; top: 60px; max-width: 320px; max-height: 40%; overflow: auto; }
.lc-notes ul { margin: 2px 0; padding-left: 16px; }
.lc-popup .lc-partial { color: #a63603; }
.lc-legend { max-height: calc(100% - 170px); overflow-y: auto; }
.lc-legend .lc-swatch { display: inline-block; box-sizing: border-box; width: 18px; height: 14px;
  margin-right: 6px; vertical-align: middle; }
.lc-legend .lc-swatch-poi { width: 18px; height: 18px; border-radius: 50%; border: 2px solid;
  background: #fff; font-size: 10px; line-height: 14px; text-align: center; }
.lc-legend .lc-swatch-iso { border: 2px solid; }
.lc-legend .lc-swatch-gap { border: 1.5px dashed GAPCOLOR;
  background: repeating-linear-gradient(45deg, GAPCOLOR 0 1.5px, transparent 1.5px 5px); }
.lc-legend .lc-swatch-street { height: 2px; background: STREETCOLOR; }
.lc-title { left: 50%; top: 10px; transform: translateX(-50%); text-align: center; max-width: 60%; }
.lc-title h1 { margin: 0; font-size: 16px; }
.lc-title .lc-subtitle { color: #444; }
.lc-notes details { color: #555; }
/* homes beyond reach: hatched (pattern in the page's lc-defs), not a filled colour */
path.lc-gap { fill: url(#lc-hatch); }
""".replace("GAPCOLOR", GAP_COLOR).replace("STREETCOLOR", basemap.STREET_COLOR)

# The hatching of the gap layers: an SVG pattern that Leaflet's SVG paths refer to
# (lines on a transparent ground: the community's score colour shows through).
_HATCH_SVG = (
    '<svg class="lc-defs" width="0" height="0" style="position: absolute" aria-hidden="true"><defs>'
    '<pattern id="lc-hatch" patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">'
    f'<line x1="0" y1="0" x2="0" y2="6" stroke="{GAP_COLOR}" stroke-width="2"/></pattern></defs></svg>'
)


# ---------------------------------------------------------------- formatting


def _fmt_number(value: Any, digits: int) -> str | None:
    if is_missing(value):
        return None
    return f"{float(value):.{digits}f}"


def _ramp_color(ramp: tuple[str, ...], x: float) -> str:
    """The colour at ``x`` in 0..1 along ``ramp`` (linear in RGB between its stops)."""
    x = min(max(float(x), 0.0), 1.0) * (len(ramp) - 1)
    i = min(int(x), len(ramp) - 2)
    a, b = (np.array([int(c[k:k + 2], 16) for k in (1, 3, 5)]) for c in ramp[i:i + 2])
    rgb = np.rint(a + (b - a) * (x - i)).astype(int)
    return "#" + "".join(f"{v:02x}" for v in rgb)


def score_color(score: float) -> str:
    """Return the fill colour for a score in 0..1 (red to green)."""
    if is_missing(score):
        return settings.fallback_color
    return _ramp_color(_SCORE_RAMP, score)


def isochrone_colors(n: int) -> list[str]:
    """One colour per isochrone threshold, shortest first (dark to light blue)."""
    return [_ramp_color(_ISOCHRONE_RAMP, i / (n - 1) if n > 1 else 0.0) for i in range(n)]


def id_text(value: Any) -> str:
    """An id (OSM "way/123", or from a user's file) as a plain feature property.

    Not HTML, so not escaped, but braces become their full-width forms:
    branca parses the rendered script as a Jinja2 template once more, where
    ``{{`` or ``{%`` would be evaluated.
    """
    return text_of(value).replace("{", "\uff5b").replace("}", "\uff5d")


def _share_text(share: Any) -> str:
    """A share as a whole percentage, rounded down, so that a share just below
    ``min_share`` never reads as reaching it next to a ✗."""
    return f"{math.floor(float(share) * 100 + 1e-9):d}%"


@lru_cache(maxsize=None)
def _strings(lang: str) -> Mapping[str, str]:
    """:func:`lifecircle.i18n.strings` once per language (read-only): every popup needs them."""
    return MappingProxyType(strings(lang))


def _parts() -> Any:
    """The macros of ``templates/map_parts.html.j2`` (each returns escaped HTML)."""
    return htmlassets.templates().get_template("map_parts.html.j2").module


# ---------------------------------------------------------------- geometry


def to_display_crs(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 without empty geometries.

    Raises
    ------
    LifecircleError
        If a non-empty table has no CRS (coordinates cannot be placed).
    """
    if gdf is None or len(gdf) == 0:
        return gpd.GeoDataFrame(geometry=[], crs=settings.output_crs)
    if gdf.crs is None:
        raise LifecircleError("a result table has no CRS; cannot draw it on the map")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.crs == settings.output_crs:
        return gdf.copy()
    # as gdf.to_crs, with one cached transformer (building one per call costs more than a layer)
    crs = gdf.crs
    geoms = shapely.transform(np.asarray(gdf.geometry.values, dtype=object), lambda xy: compact.to_lonlat(xy, crs))
    return gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=settings.output_crs))


def display_frame(gdf: gpd.GeoDataFrame | None, layer: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` as the map shows it: simplified to the layer's
    :data:`DISPLAY_TOLERANCE_M` (topology kept) in its own metric CRS, then in
    EPSG:4326 (coordinates are rounded when written)."""
    if gdf is None or len(gdf) == 0 or gdf.crs is None or not gdf.crs.is_projected:
        return to_display_crs(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if layer == "isochrones":
        geoms = _without_small_holes(geoms, ISOCHRONE_MIN_HOLE_M2)
    gdf = gdf.set_geometry(gpd.GeoSeries(display_simplify(geoms, DISPLAY_TOLERANCE_M[layer]),
                                         index=gdf.index, crs=gdf.crs))
    return to_display_crs(gdf)


def display_simplify(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """``geoms`` simplified (Douglas-Peucker) to ``tolerance``, topology kept.

    GEOS's topology-preserving simplifier is several times slower than plain
    Douglas-Peucker, which gives the same shapes but for one case: a ring
    simplified across itself or another ring, which GEOS repairs into a
    valid polygon (``buffer(0)``) that may have lost a part or a hole, or
    everything. Only the geometries where that happened are simplified again
    with the topology-preserving algorithm.
    """
    geoms = np.asarray(geoms, dtype=object)
    fast = shapely.simplify(geoms, tolerance, preserve_topology=False)
    broken = (shapely.is_empty(fast) & ~shapely.is_empty(geoms))
    broken |= shapely.get_num_geometries(fast) != shapely.get_num_geometries(geoms)
    broken |= _num_holes(fast) != _num_holes(geoms)
    if broken.any():
        fast[broken] = shapely.simplify(geoms[broken], tolerance, preserve_topology=True)
    return fast


def _num_holes(geoms: np.ndarray) -> np.ndarray:
    """The number of interior rings of each geometry (of all its polygons; 0 for others)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    return np.bincount(owner, weights=shapely.get_num_interior_rings(parts), minlength=len(geoms))


def _without_small_holes(geoms: np.ndarray, min_area: float) -> np.ndarray:
    """The (multi)polygons without their interior rings smaller than ``min_area``
    (other geometries as they are)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    types = shapely.get_type_id(geoms)
    polygonal = np.flatnonzero(np.isin(types, (3, 6)) & ~shapely.is_empty(geoms))
    if len(polygonal) == 0:
        return geoms
    parts, owner = shapely.get_parts(geoms[polygonal], return_index=True)
    rings, part_of_ring = shapely.get_rings(parts, return_index=True)
    # a part's first ring is its shell, kept whatever its size
    shell = np.concatenate([[True], part_of_ring[1:] != part_of_ring[:-1]])
    keep = shell | (shapely.area(shapely.polygons(rings)) >= min_area)
    kept = shapely.polygons(rings[keep], indices=part_of_ring[keep])
    multi = types[polygonal] == 6
    in_multi = multi[owner]
    out = np.empty(len(polygonal), dtype=object)
    out[~multi] = kept[~in_multi]  # a Polygon is its one part
    if multi.any():
        out[multi] = shapely.multipolygons(kept[in_multi], indices=np.unique(owner[in_multi], return_inverse=True)[1])
    geoms[polygonal] = out
    return geoms


def merged_gaps(gaps: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """One shape per community, category and kind: the gap buildings of a
    community merged for the map (the table keeps one row per building)."""
    keys = ["community_id", "category", "kind"]
    if gaps is None or len(gaps) == 0 or not set(keys) <= set(gaps.columns):
        return gaps
    groups = gaps.groupby(keys, sort=True, dropna=False)
    merged = groups.size().reset_index()[keys]
    group = groups.ngroup().to_numpy()
    geoms = np.asarray(gaps.geometry.values, dtype=object)
    shapes = np.empty(len(merged), dtype=object)
    # a lone building (or a community's area) is its own shape: only groups are unioned
    size = np.bincount(group, minlength=len(merged))
    alone = size[group] == 1
    shapes[group[alone]] = geoms[alone]
    rows = np.flatnonzero(~alone)
    rows = rows[np.argsort(group[rows], kind="stable")]
    for members in np.split(rows, np.flatnonzero(np.diff(group[rows])) + 1) if len(rows) else []:
        shapes[group[members[0]]] = shapely.union_all(geoms[members])
    return gpd.GeoDataFrame(merged, geometry=gpd.GeoSeries(shapes, crs=gaps.crs), crs=gaps.crs)


def _feature_collection(geoms: Iterable[Any], props: Iterable[dict]) -> dict:
    """Build GeoJSON with rounded coordinates (smaller, and stable across runs)."""
    geoms = shapely.transform(np.asarray(list(geoms), dtype=object),
                              lambda xy: np.round(xy, COORD_DECIMALS))
    features = [
        {"type": "Feature", "geometry": shapely.geometry.mapping(g), "properties": p}
        for g, p in zip(geoms, props)
    ]
    return {"type": "FeatureCollection", "features": features}


def _bounds(frames: Iterable[gpd.GeoDataFrame]) -> list[list[float]] | None:
    """Return ``[[south, west], [north, east]]`` of all non-empty frames."""
    boxes = [f.total_bounds for f in frames if len(f)]
    if not boxes:
        return None
    b = np.array(boxes)
    return [[float(b[:, 1].min()), float(b[:, 0].min())], [float(b[:, 3].max()), float(b[:, 2].max())]]


# ---------------------------------------------------------------- popups


def _popup_row(row: pd.Series, cat: Category, lang: str) -> dict[str, Any]:
    """One category's cells of a community popup, as plain text ("" for none)."""
    k = cat.key
    nearest = text_of(row.get(f"nearest_{k}"))
    if not nearest and text_of(row.get(f"nearest_id_{k}")):
        nearest = t("unnamed", lang)
    share = row.get(f"share_{k}")
    return {
        "key": k, "icon": cat.icon, "label": cat.label(lang), "nearest": nearest,
        "minutes": _fmt_number(row.get(f"minutes_{k}"), 1) or "",
        "metres": _fmt_number(row.get(f"metres_{k}"), 0) or "",
        "limit": _fmt_number(row.get(f"limit_m_{k}"), 0) or "",
        "share": "" if is_missing(share) else _share_text(share),
        "covered": flag_of(row.get(f"covered_{k}")),
        "state": covered_state(row.get(f"covered_{k}")),
    }


def community_popup(row: pd.Series, config: Config, lang: str) -> str:
    """Return the popup HTML of one community row (all values escaped).

    Each category row carries ``data-category`` and its cells the classes
    ``lc-nearest``, ``lc-min``, ``lc-m``, ``lc-limit``, ``lc-share`` and
    ``lc-covered``, so the numbers can be read back by tests and scripts.
    The flag and the share come from the same columns (``covered_k`` is
    ``share_k >= min_share``), so they cannot disagree.
    """
    residents = row.get("residents")
    gaps = [category_label(config, g, lang) for g in text_of(row.get("gaps")).split(",") if g]
    n = int_of(row.get("n_categories"), len(config.categories))
    community = {
        "name": text_of(row.get("name")), "id": row.get("community_id"), "partial": flag_of(row.get("partial")),
        "reached": t("reached_value", lang, reached=int_of(row.get("reached")), n=n),
        "residents": "" if is_missing(residents) else f"{float(residents):.0f}",
        "gaps": ", ".join(gaps),
    }
    rows = [_popup_row(row, cat, lang) for cat in config.categories]
    return str(_parts().community_popup(community, rows, _strings(lang)))


def poi_popup(row: pd.Series, category: Category, lang: str) -> str:
    """Return the popup HTML of one facility row (all values escaped)."""
    poi = {"name": text_of(row.get("name")), "icon": category.icon, "label": category.label(lang),
           "id": row.get("poi_id")}
    return str(_parts().poi_popup(poi, strings(lang)))


# ---------------------------------------------------------------- layers


def _geojson_layer(fc: dict, name: str, show: bool = True, **options: Any) -> folium.GeoJson:
    """A GeoJson layer whose features carry ``style``/``popup``/``tooltip``.

    ``name`` is plain text; it is escaped here because Leaflet's layer
    control writes it with ``innerHTML``.
    """
    return folium.GeoJson(fc, name=esc(name), show=show, on_each_feature=_BIND_JS, **options)


def _compact_layer(geoms: Iterable[Any], props: Iterable[dict], name: str, show: bool = True,
                   **options: Any) -> compact.CompactGeoJson:
    """A layer of polygons or lines (communities, isochrones, gaps, routes) in compact form.

    Its features carry ``style``/``popup``/``tooltip`` like
    :func:`_geojson_layer`'s; ``name`` is plain text, escaped here;
    ``options`` are Leaflet's (``className``, ``interactive``).
    """
    return compact.CompactGeoJson(geoms, props, esc(name), show=show, **options)


def _community_layer(communities: gpd.GeoDataFrame, config: Config, lang: str) -> compact.CompactGeoJson:
    props = []
    for row in _records(communities):
        n = int_of(row.get("n_categories"), len(config.categories))
        score = int_of(row.get("reached")) / n if n else float("nan")
        name = text_of(row.get("name")) or t("unnamed", lang)
        props.append({
            "community_id": id_text(row.get("community_id")),
            "style": {"color": "#333333", "weight": 1, "fillColor": score_color(score),
                      "fillOpacity": 0.55},
            "popup": community_popup(row, config, lang),
            "tooltip": esc(name),
        })
    return _compact_layer(communities.geometry, props, t("layer_communities", lang), className="lc-community")


def _poi_layer(pois: gpd.GeoDataFrame, category: Category, lang: str) -> compact.CompactGeoJson:
    """A category's facilities as markers. Their popups differ only in name and id, so
    the layer carries one popup template (:func:`poi_popup` with slots) and each
    facility its escaped name ``n`` (and ``i``, its escaped id, where escaping changes it)."""
    color = safe_color(category.color)
    icon = {"html": f'<span style="border-color: {color}">{esc(category.icon)}</span>',
            "iconSize": [24, 24], "iconAnchor": [12, 12], "popupAnchor": [0, -12],
            "className": f"lc-poi lc-poi-{category.key}"}
    slot = compact.SLOT
    template = pd.Series({"name": f"{slot}n{slot}", "poi_id": f"{slot}i{slot}"})
    shared = {"popup": [poi_popup(template, category, lang), poi_popup(template.drop("name"), category, lang)],
              "tooltip": esc(t("unnamed", lang))}
    props = []
    for row in _records(pois, ["poi_id", "name"]):
        poi_id = id_text(row.get("poi_id"))
        p = {"poi_id": poi_id, "n": esc(text_of(row.get("name")))}
        if esc(poi_id) != poi_id:
            p["i"] = esc(poi_id)
        props.append(p)
    name = t("layer_facilities", lang, label=f"{category.icon} {category.label(lang)}")
    return _compact_layer(pois.geometry, props, name, icon=icon, shared=shared)


def excluded_popup(row: Mapping[str, Any], config: Config, lang: str) -> str:
    """The popup of a candidate not counted: what it is, and why it is not counted (escaped)."""
    key = text_of(row.get("category"))
    poi = {"name": text_of(row.get("name")), "label": category_label(config, key, lang), "id": row.get("poi_id"),
           "reason": reason_text(text_of(row.get("reason")), lang), "rule": text_of(row.get("rule")),
           "within": text_of(row.get("within"))}
    return str(_parts().excluded_popup(poi, strings(lang)))


def _excluded_layer(analysis: Any, config: Config, lang: str) -> compact.CompactGeoJson | None:
    """Every candidate a category's rules touched but did not count, grey, off until asked for."""
    reg = getattr(analysis, "facilities", None)
    if reg is None or not len(reg):
        return None
    out = reg[~reg["counted"].astype(bool)]
    if not len(out):
        return None
    out = display_points(to_display_crs(out))
    icon = {"html": "<span>×</span>", "iconSize": [16, 16], "iconAnchor": [8, 8], "popupAnchor": [0, -8],
            "className": "lc-poi lc-excluded"}
    props = [{"poi_id": id_text(row.get("poi_id")), "category": text_of(row.get("category")),
              "popup": excluded_popup(row, config, lang),
              "tooltip": esc(text_of(row.get("name")) or t("unnamed", lang))}
             for row in _records(out, ["poi_id", "name", "category", "reason", "rule", "within"])]
    labels = t("list_sep", lang).join(sorted({category_label(config, k, lang) for k in out["category"]}))
    return _compact_layer(out.geometry, props, t("layer_excluded", lang, label=labels), show=False, icon=icon)


def _isochrone_values(isochrones: gpd.GeoDataFrame, config: Config) -> list[Any]:
    """The thresholds of the isochrones, shortest first ([None] when they carry none)."""
    col = "minutes" if config.mode == "time" else "metres"
    return sorted(set(isochrones[col])) if col in isochrones and len(isochrones) else [None]


def _isochrone_layers(isochrones: gpd.GeoDataFrame, config: Config, lang: str) -> list[compact.CompactGeoJson]:
    """One layer per isochrone threshold (several with ``--isochrones 5,10,15``), each
    in its own colour of :func:`isochrone_colors`."""
    col = "minutes" if config.mode == "time" else "metres"
    values = _isochrone_values(isochrones, config)
    layers = []
    for value, color in zip(values, isochrone_colors(len(values))):
        style = {"color": color, "weight": 1.5, "fillColor": color, "fillOpacity": 0.08}
        rows = isochrones if value is None else isochrones[isochrones[col] == value]
        props = [{"community_id": id_text(c), "style": style}
                 for c in rows.get("community_id", pd.Series([None] * len(rows)))]
        name = t("layer_isochrones", lang, threshold=threshold_text(config, lang, value))
        # Not interactive: they overlap everything and would swallow the
        # clicks meant for the communities underneath.
        layers.append(_compact_layer(rows.geometry, props, name, show=False, interactive=False,
                                     className="lc-isochrone"))
    return layers


def _gap_layer(gaps: gpd.GeoDataFrame, category: Category, names: dict[str, str],
               lang: str) -> compact.CompactGeoJson:
    # the hatching is a CSS fill (path.lc-gap, _PAGE_CSS); these are its fallbacks
    style = {"color": GAP_COLOR, "weight": 1.5, "dashArray": "4 3", "fillColor": GAP_COLOR, "fillOpacity": 0.9}
    props = []
    tooltips: dict[tuple[str, str], list[str]] = {}
    for row in _records(gaps, ["community_id", "kind"]):
        cid = text_of(row.get("community_id"))
        kind = text_of(row.get("kind"))
        if (cid, kind) not in tooltips:
            kind_text = t(f"gap_kind_{kind}", lang) if kind in ("building", "area") else kind
            tip = _text_pieces("gap_tooltip", lang, label=category.label(lang),
                               community=names.get(cid) or t("unnamed", lang))
            tooltips[cid, kind] = [*tip, f" ({esc(kind_text)})"]
        props.append({"community_id": id_text(cid), "style": style, "tooltip": tooltips[cid, kind]})
    name = t("layer_gaps", lang, label=category.label(lang))
    return _compact_layer(gaps.geometry, props, name, show=False, className=f"lc-gap lc-gap-{category.key}")


def _route_layer(routes: gpd.GeoDataFrame, config: Config, names: dict[str, str],
                 lang: str) -> compact.CompactGeoJson:
    """One layer: the walk from each community's centre to its nearest facility of each category."""
    props, styles = [], {}
    for row in _records(routes, ["category", "community_id", "name", "metres"]):
        key = text_of(row.get("category"))
        cid = text_of(row.get("community_id"))
        if key not in styles:
            color = safe_color(config.category(key).color) if key in config.keys else safe_color(None)
            styles[key] = {"color": color, "weight": 3, "opacity": 0.8, "dashArray": "6 4"}
        tip = _text_pieces("route_tooltip", lang, community=names.get(cid) or t("unnamed", lang),
                           label=category_label(config, key, lang),
                           facility=text_of(row.get("name")) or t("unnamed", lang),
                           metres=f"{float(row.get('metres')):.0f}")
        props.append({"community_id": id_text(cid), "category": key, "tooltip": tip, "style": styles[key]})
    return _compact_layer(routes.geometry, props, t("layer_routes", lang), show=False, className="lc-route")


def _records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts (of ``columns`` only, where given: absent ones are left
    out, so ``row.get`` answers None as for a Series): much faster than ``iterrows``."""
    if columns is not None:
        frame = pd.DataFrame({c: frame[c].values for c in columns if c in frame.columns}, index=range(len(frame)))
    return frame.to_dict("records")


_FIELD = re.compile("\x01(\\w+)\x01")


def _text_pieces(key: str, lang: str, **values: str) -> list[str]:
    """``esc(t(key, lang, **values))`` as pieces to join: the interface text
    between the values, and each value. A layer's tooltips share the first
    (and often the values: a community's name, a facility's), which
    :func:`lifecircle.outputs.compact.code_strings` then writes once."""
    cut = _template_pieces(key, lang, tuple(sorted(values)))
    # odd items are the names of the values, in the order this language places them
    return [esc(values[x]) if i % 2 else x for i, x in enumerate(cut)]


@lru_cache(maxsize=None)
def _template_pieces(key: str, lang: str, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The text of ``t(key, lang)`` cut at its ``fields``: escaped text, field name, escaped text..."""
    cut = _FIELD.split(t(key, lang, **{k: f"\x01{k}\x01" for k in fields}))
    return tuple(x if i % 2 else esc(x) for i, x in enumerate(cut))


def _rows_of(gdf: gpd.GeoDataFrame, column: str, value: str) -> gpd.GeoDataFrame:
    if column not in gdf.columns:
        return gdf.iloc[0:0]
    return gdf[gdf[column] == value]


# ---------------------------------------------------------------- page furniture


def _legend_html(config: Config, lang: str, iso_values: list[Any], no_data: list[str] | None = None) -> str:
    """The legend: score colours, each category's marker and distance ("no data" where
    it has none), the isochrone colours, the gap hatching and the streets."""
    no_data = list(no_data or [])
    n = len(config.categories) - len(no_data)
    entries = [(score_color(k / n if n else float("nan")), t("legend_entry", lang, k=k, n=n))
               for k in range(n, -1, -1)]
    basis = [{"key": c.key, "icon": c.icon, "label": c.label(lang), "limit": limit_text(config, c.key, lang),
              "color": safe_color(c.color), "no_data": t("no_data", lang) if c.key in no_data else ""}
             for c in config.categories]
    iso = [(color, threshold_text(config, lang, value))
           for value, color in zip(iso_values, isochrone_colors(len(iso_values)))] if iso_values != [None] else []
    return str(_parts().legend(entries, basis, basis_text(config, lang), rule_text(config, lang), strings(lang),
                               iso))


def map_notes(analysis: Any, lang: str) -> list[str]:
    """The run's :attr:`~lifecircle.analysis.Analysis.warnings` as the map states them, in ``lang``
    (plain text: the template escapes them)."""
    from ..i18n import localize

    return [localize(w, lang) for w in getattr(analysis, "warnings", []) or []]


def _notes_html(analysis: Any, lang: str) -> str:
    """The run's warnings (categories without facilities, what was left out), if any."""
    notes = map_notes(analysis, lang)
    return str(_parts().notes(notes, strings(lang))) if notes else ""


def _title_html(analysis: Any, lang: str) -> str:
    """The page's heading: the data's name and the level, then what the map is and the data's date."""
    place = text_of(getattr(analysis, "source", ""))
    level = level_title(analysis.config, lang)
    date = text_of(getattr(analysis, "data_date", "") or "")
    return str(_parts().title(f"{place} · {level}" if place else level, date, strings(lang)))


def _page_title(analysis: Any, lang: str) -> str:
    place = text_of(getattr(analysis, "source", ""))
    return " · ".join(x for x in (level_title(analysis.config, lang), place, t("map_title", lang)) if x)


def _attribution_html(analysis: Any, lang: str) -> str:
    source = text_of(getattr(analysis, "source", ""))
    date = text_of(getattr(analysis, "data_date", "") or "")
    return str(_parts().attribution(source, date, strings(lang)))


def _offline_map(location: list[float], lang: str, title: str,
                 tiles: Tiles | None | str = "osm") -> folium.Map:
    """A folium map with no CDN links and Leaflet/jQuery inlined, on ``tiles``
    (a :class:`~lifecircle.outputs.tiles.Tiles`, None for none, or a
    ``--tiles`` value)."""
    if isinstance(tiles, str):
        tiles = check_tiles(tiles)
    m = folium.Map(location=location, zoom_start=14, tiles=None, control_scale=True)
    adapters.drop_cdn_links(m)
    fig = m.get_root()
    fig.title = esc(title)
    fig.header.add_child(Element(f'<meta name="language" content="{esc(lang)}" />'), name="lc_lang")
    # trusted assets, placed as they are (not compiled as templates: see compact.RawElement)
    for name, css in htmlassets.inline_styles():
        fig.header.add_child(compact.RawElement(f"<style>{css}</style>"), name=name)
    for name, js in htmlassets.inline_scripts():
        fig.header.add_child(compact.RawElement(f"<script>{js}</script>"), name=name)
    fig.header.add_child(compact.RawElement(f"<style>{_PAGE_CSS}</style>"), name="lc_css")
    fig.header.add_child(compact.RawElement(f"<script>{compact.DECODE_JS}</script>"), name="lc_decode")
    if tiles is not None:
        credit = _OSM_ATTR_HTML if tiles.attribution is None else esc(tiles.attribution)
        folium.TileLayer(tiles.url, attr=credit, name=esc(t("basemap", lang)),
                         max_zoom=19, control=False).add_to(m)
    return m


def _street_layer(analysis: Any, m: folium.Map, lang: str) -> None:
    """The data's own streets under everything (drawn with every tile blocked)."""
    lonlat, counts = basemap.street_paths(analysis)
    if len(counts) == 0:
        return
    basemap.StreetLayer(lonlat, counts, esc(t("layer_streets", lang)), _OSM_ATTR_HTML).add_to(m)


# ---------------------------------------------------------------- determinism


def _renumber(root: Element) -> None:
    """Replace branca's random element ids with a counter, in tree order.

    Children are keyed by their name where folium uses the key as a JS
    variable, so keys equal to a child's old name are renamed too.
    """
    ids = count()

    def visit(el: Element) -> None:
        adapters.set_id(el, f"{next(ids):04d}")
        kids = adapters.children(el)
        renamed = {}
        for key, child in kids.items():
            old = child.get_name()
            visit(child)
            renamed[child.get_name() if key == old else key] = child
        kids.clear()
        kids.update(renamed)
        for part in ("header", "html", "script"):
            sub = getattr(el, part, None)
            if isinstance(sub, Element) and adapters.parent(sub) is el:
                visit(sub)

    visit(root)


def _check_offline(root: Element) -> None:
    """Refuse elements that would link CDN assets we cannot inline."""
    stack = [root]
    while stack:
        el = stack.pop()
        urls = adapters.cdn_links(el)
        if urls:
            raise LifecircleError(
                f"map element {adapters.name_of(el)} links {urls[0]}, which would not load offline"
            )
        stack.extend(adapters.children(el).values())
        stack.extend(getattr(el, p) for p in ("header", "html", "script")
                     if isinstance(getattr(el, p, None), Element))


_EXTERNAL_TAG = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I
)


# ---------------------------------------------------------------- public


def make_map(analysis: Any, lang: str = "en", tiles: str = "osm", tiles_attribution: str | None = None) -> folium.Map:
    """Build the interactive map of an analysis.

    Layers: the data's walkable streets (canvas, under everything: the map
    reads without tiles); communities coloured by score (categories reached
    / analysed) with a popup table each; one facility layer per category;
    one layer per isochrone threshold, each in its own blue; one hatched gap
    layer per category; the walking routes (isochrones, gaps and routes
    hidden until ticked in the layer control). A title (data, level, date),
    a legend of every colour and icon, and the run's warnings sit on the
    page. The view fits the communities and facilities. Geometries are
    simplified for display (:data:`DISPLAY_TOLERANCE_M`).

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    lang
        "zh" or "en" for every label; OSM names are shown as written.
    tiles
        "osm" (default), "none", or the URL template of a WGS-84 / Web
        Mercator tile service (see :func:`lifecircle.outputs.tiles.check_tiles`).
    tiles_attribution
        Credit for a URL tile source (plain text; default "Tiles: <host>").
        The OpenStreetMap credit for the data is shown in every case.

    Returns
    -------
    folium.Map
        Self-contained (no CDN links); save it with :func:`save_map`.

    Raises
    ------
    ConfigError
        A bad ``tiles`` value or a GCJ-02 tile service.
    """
    check_lang(lang)
    tile_source = check_tiles(tiles, tiles_attribution)
    # loaded with the analysis already (importing it here keeps this module light)
    from ..core.network import gc_paused

    # tens of thousands of small acyclic objects (features, strings): collections
    # of the analysis' heap would add a fifth to the time for nothing
    with gc_paused():
        return _make_map(analysis, lang, tile_source)


def _make_map(analysis: Any, lang: str, tile_source: Tiles | None) -> folium.Map:
    config: Config = analysis.config
    communities = display_frame(analysis.communities, "communities")
    pois = to_display_crs(analysis.pois)
    isochrones = display_frame(analysis.isochrones, "isochrones")
    gaps = display_frame(merged_gaps(analysis.gaps), "gaps")

    bounds = _bounds([communities, pois]) or _bounds([isochrones, gaps])
    center = [0.0, 0.0] if bounds is None else [
        (bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = _offline_map(center, lang, _page_title(analysis, lang), tile_source)

    _street_layer(analysis, m, lang)
    _community_layer(communities, config, lang).add_to(m)
    for cat in config.categories:
        _poi_layer(_rows_of(pois, "category", cat.key), cat, lang).add_to(m)
    for layer in _isochrone_layers(isochrones, config, lang):
        layer.add_to(m)
    names = {text_of(c): text_of(n) for c, n in zip(
        communities.get("community_id", []), communities.get("name", []))}
    for cat in config.categories:
        _gap_layer(_rows_of(gaps, "category", cat.key), cat, names, lang).add_to(m)
    routes = getattr(analysis, "routes", None)
    if routes is not None and len(routes):
        _route_layer(display_frame(routes, "routes"), config, names, lang).add_to(m)
    excluded = _excluded_layer(analysis, config, lang)
    if excluded is not None:
        excluded.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)

    fig = m.get_root()
    fig.html.add_child(Element(_HATCH_SVG), name="lc_defs")
    fig.html.add_child(Element(_title_html(analysis, lang)), name="lc_title")
    fig.html.add_child(Element(_legend_html(config, lang, _isochrone_values(isochrones, config),
                                            analysis.no_data)), name="lc_legend")
    notes = _notes_html(analysis, lang)
    if notes:
        fig.html.add_child(Element(notes), name="lc_notes")
    fig.html.add_child(Element(_attribution_html(analysis, lang)), name="lc_attribution")
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    _renumber(fig)
    return m


def render_map(m: folium.Map) -> str:
    """Render ``m`` to the HTML text of a self-contained page.

    Raises
    ------
    LifecircleError
        If an element would load a script, stylesheet or frame from the
        network (only tile URL templates, inside scripts, may remain).
    """
    root = m.get_root()
    _check_offline(root)
    from ..core.network import gc_paused

    with gc_paused():
        page = root.render()
    found = _EXTERNAL_TAG.search(page)
    if found:
        raise LifecircleError(f"the map page would load {found.group(0)[:80]}... from the network")
    return page


def save_map(m: folium.Map, path: str | Path) -> Path:
    """Write the map to ``path`` atomically (temp file, then rename).

    Parameters
    ----------
    m
        A map from :func:`make_map`.
    path
        Destination ``.html`` file; its folder must exist.

    Returns
    -------
    Path
    """
    return htmlassets.write_atomic(path, render_map(m).encode("utf-8"))

"""The comparison map of a what-if scenario: one offline HTML file, as map.html.

Communities are coloured by what the scenario does to them (categories
gained, lost, or only their walks changed; unchanged ones faint), the
isochrones of the communities that change are drawn before and after, and
the changes themselves (new walkways, closed streets, added and removed
facilities) with their notes. Built with the helpers of
:mod:`lifecircle.outputs.maps`: Leaflet and jQuery inlined, every string
escaped, element ids renumbered so the same result gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import folium
import geopandas as gpd
import pandas as pd
from branca.element import Element

from ..i18n import check_lang, t, threshold_text
from ..text import text_of
from .htmlassets import esc
from .maps import (
    _bounds,
    _feature_collection,
    _geojson_layer,
    _offline_map,
    _renumber,
    community_popup,
    to_display_crs,
)

_GAINED, _LOST, _WALK, _SAME = "#1a9641", "#d7191c", "#fdae61", "#bbbbbb"
_BEFORE, _AFTER = "#7b3294", "#2b8cbe"
_STYLE = {
    "add_walkway": {"color": "#1a9641", "weight": 5, "opacity": 0.9},
    "close_street": {"color": "#d7191c", "weight": 5, "opacity": 0.9, "dashArray": "8 6"},
}
_MARK = {"add_facility": ("+", "#1a9641"), "remove_facility": ("x", "#d7191c")}


def _community_layer(result: Any, lang: str) -> folium.GeoJson:
    after = result.after
    cfg = after.config
    before = result.before.communities.set_index("community_id")["reached"]
    walks = set(result.changed["community_id"])
    comms = to_display_crs(after.communities)
    props = []
    for _, row in comms.iterrows():
        cid = row["community_id"]
        was, now = int(before[cid]), int(row["reached"])
        color = _GAINED if now > was else _LOST if now < was else _WALK if cid in walks else _SAME
        changed = color != _SAME
        props.append({
            "community_id": text_of(cid),
            "style": {"color": "#333333", "weight": 2 if changed else 1, "fillColor": color,
                      "fillOpacity": 0.6 if changed else 0.15},
            "popup": community_popup(row, cfg, lang),
            "tooltip": esc(t("scenario_tooltip", lang, name=text_of(row.get("name")) or t("unnamed", lang),
                             before=was, after=now)),
        })
    return _geojson_layer(_feature_collection(comms.geometry, props), t("layer_scenario_communities", lang))


def _isochrone_layers(result: Any, lang: str) -> list[folium.GeoJson]:
    """Before and after isochrones of the communities that change, one layer per state and threshold."""
    cfg = result.after.config
    ids = set(result.changed["community_id"])
    col = "minutes" if cfg.mode == "time" else "metres"
    layers = []
    for key, iso, color in (("layer_scenario_iso_before", result.before.isochrones, _BEFORE),
                            ("layer_scenario_iso_after", result.after.isochrones, _AFTER)):
        iso = to_display_crs(iso[iso["community_id"].isin(ids)]) if len(iso) else to_display_crs(None)
        values = sorted(set(iso[col])) if len(iso) else []
        for value in values:
            rows = iso[iso[col] == value]
            style = {"color": color, "weight": 2, "fillColor": color, "fillOpacity": 0.08}
            props = [{"community_id": text_of(c), "style": style} for c in rows["community_id"]]
            name = t(key, lang, threshold=threshold_text(cfg, lang, value))
            # the shortest walk's, before and after, shown; the others a tick away in the layer control
            layers.append(_geojson_layer(_feature_collection(rows.geometry, props), name, show=value == values[0],
                                         interactive=False, class_name="lc-scenario-isochrone"))
    return layers


def _change_tip(kind: str, name: str, note: str, lang: str) -> str:
    parts = [t(f"scenario_{kind}", lang), name, note]
    return esc(" · ".join(p for p in parts if p))


def _changes_layer(result: Any, lang: str) -> folium.GeoJson | None:
    """New walkways, closed streets, added and removed facilities, with their notes."""
    notes = dict(zip(result.changes["row"], result.changes["note"]))
    geoms, props = [], []
    walk = to_display_crs(result.walkways())
    for _, row in walk.iterrows():
        geoms.append(row.geometry)
        props.append({"style": _STYLE["add_walkway"], "tooltip": _change_tip("add_walkway", row["name"],
                                                                             row["note"], lang)})
    closed = to_display_crs(result.closed_streets())
    for _, row in closed.iterrows():
        geoms.append(row.geometry)
        props.append({"style": _STYLE["close_street"], "tooltip": _change_tip("close_street", "", row["note"],
                                                                              lang)})
    for kind, pois in (("add_facility", result.added_facilities()), ("remove_facility", result.removed_facilities())):
        pois = to_display_crs(pois)
        for _, row in pois.iterrows():
            note = notes.get(int(row["osm_id"]), "") if kind == "add_facility" else \
                _note_of_removed(result.changes, row["poi_id"])
            geoms.append(row.geometry)
            color = _MARK[kind][1]
            props.append({"kind": kind, "tooltip": _change_tip(kind, text_of(row.get("name")), note, lang),
                          "style": {"color": color, "fillColor": "#ffffff" if kind == "remove_facility" else color}})
    if not geoms:
        return None
    marker = folium.CircleMarker(radius=8, weight=3, fill=True, fill_opacity=0.9)
    layer = _geojson_layer(_feature_collection(geoms, props), t("layer_scenario_changes", lang), marker=marker,
                           class_name="lc-scenario-change")
    return layer


def _note_of_removed(changes: pd.DataFrame, poi_id: str) -> str:
    rows = changes[(changes["change"] == "remove_facility") & (changes["facility_id"] == poi_id)]
    return text_of(rows["note"].iloc[0]) if len(rows) else ""


def _legend(lang: str) -> str:
    entries = [(_GAINED, "gained"), (_LOST, "lost"), (_WALK, "walk"), (_SAME, "same")]
    items = "".join(f'<div><i style="background: {c}"></i>{esc(t("scenario_legend_" + k, lang))}</div>'
                    for c, k in entries)
    return (f'<div class="lc-box lc-legend"><b>{esc(t("layer_scenario_communities", lang))}</b>{items}'
            f'<div><i style="background: {_BEFORE}"></i>{esc(t("scenario_before", lang))}</div>'
            f'<div><i style="background: {_AFTER}"></i>{esc(t("scenario_after", lang))}</div></div>')


def scenario_map(result: Any, lang: str = "en") -> folium.Map:
    """The comparison map of a :class:`~lifecircle.planning.scenario.ScenarioResult`.

    Returns
    -------
    folium.Map
        Self-contained; write it with :func:`lifecircle.outputs.maps.save_map`.
    """
    check_lang(lang)
    comms = to_display_crs(result.after.communities)
    changes = gpd.GeoDataFrame(geometry=list(result.changes.geometry.values), crs=result.changes.crs)
    bounds = _bounds([comms, to_display_crs(changes)])
    center = [0.0, 0.0] if bounds is None else [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = _offline_map(center, lang, f"{t('scenario_title', lang)} · {result.after.config.level}")
    _community_layer(result, lang).add_to(m)
    for layer in _isochrone_layers(result, lang):
        layer.add_to(m)
    layer = _changes_layer(result, lang)
    if layer is not None:
        layer.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    fig = m.get_root()
    fig.html.add_child(Element(_legend(lang)), name="lc_legend")
    fig.html.add_child(Element(f'<div class="lc-box lc-notes">{esc(result.summary(lang))}</div>'), name="lc_notes")
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    _renumber(fig)
    return m

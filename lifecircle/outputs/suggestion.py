"""Files of a site suggestion: suggest.csv, suggest.gpkg, suggest.html and
suggested_scenario.geojson.

The map is built from :mod:`lifecircle.outputs.maps`' pieces (offline page,
community and facility layers, escaping, repeatable element ids); the
scenario file follows the format ``lifecircle scenario`` reads: one
``add_facility`` Point feature per site, EPSG:4326.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
from branca.element import Element

from .. import settings
from ..fileio import staging_dir, write_csv, writing
from ..i18n import category_label, check_lang, t
from . import maps
from .htmlassets import esc, safe_color

if TYPE_CHECKING:
    from ..planning.suggest import Suggestion

#: Decimal places of the scenario file's coordinates (1e-7 degrees: about 1 cm).
SCENARIO_DECIMALS = 7

_SITE_COLOR = "#6a3d9a"
_NEWLY_COLOR = "#33a02c"


def _label(s: "Suggestion", lang: str) -> str:
    """The category's label as it reads inside a phrase ("pharmacy", "药店")."""
    label = category_label(s.analysis.config, s.category, lang)
    return label.lower() if lang == "en" else label


def scenario_frame(s: "Suggestion", lang: str = "en") -> gpd.GeoDataFrame:
    """The chosen sites as scenario changes (``add_facility``), EPSG:4326."""
    sites = s.sites.to_crs(settings.output_crs)
    label = _label(s, lang)
    names = [name or t("suggest_site_name", lang, label=label, rank=rank)
             for name, rank in zip(sites["name"], sites["rank"])]
    notes = [f"lifecircle suggest, rank {rank}: +{gain:,.0f} residents within {s.limit_m:g} m"
             for rank, gain in zip(sites["rank"], sites["residents_gained"])]
    return gpd.GeoDataFrame({"change": "add_facility", "category": s.category, "name": names, "note": notes},
                            geometry=sites.geometry.values, crs=settings.output_crs)


def scenario_geojson(s: "Suggestion", lang: str = "en") -> str:
    """The scenario file's text: a GeoJSON FeatureCollection (RFC 7946, EPSG:4326)."""
    frame = scenario_frame(s, lang)
    features = []
    for row, geom in zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry.values):
        coords = [round(float(geom.x), SCENARIO_DECIMALS), round(float(geom.y), SCENARIO_DECIMALS)]
        features.append({"type": "Feature", "properties": row, "geometry": {"type": "Point", "coordinates": coords}})
    doc = {"type": "FeatureCollection", "name": "suggested_scenario", "features": features}
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


# ---------------------------------------------------------------- map


def _site_layer(s: "Suggestion", sites: gpd.GeoDataFrame, lang: str) -> folium.FeatureGroup:
    """One marker per site, numbered by rank; popup and tooltip escaped, in JSON."""
    group = folium.FeatureGroup(name=esc(t("layer_suggested", lang, label=_label(s, lang))))
    for row, geom in zip(sites.drop(columns="geometry").to_dict("records"), sites.geometry.values):
        rank = int(row["rank"])
        cells = [(t("rank", lang), str(rank)), (t("residents_gained", lang), f"{row['residents_gained']:,.0f}"),
                 (t("residents_cumulative", lang), f"{row['residents_cumulative']:,.0f}"),
                 (t("homes_gained", lang), str(row["homes_gained"])),
                 (t("communities_completed", lang), str(row["completed_names"] or row["communities_completed"]))]
        title = row["name"] or t("suggest_site_name", lang, label=_label(s, lang), rank=rank)
        popup = (f'<div class="lc-popup lc-site" data-rank="{rank}"><h4>{esc(title)}</h4><table>'
                 + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in cells) + "</table></div>")
        tip = t("suggest_tooltip", lang, rank=rank, residents=f"{row['residents_gained']:,.0f}")
        fc = maps._feature_collection([geom], [{"site_id": str(row["site_id"]), "popup": popup, "tooltip": esc(tip)}])
        icon = folium.DivIcon(html=f'<span style="border-color: {_SITE_COLOR}">{rank}</span>', icon_size=(24, 24),
                              icon_anchor=(12, 12), popup_anchor=(0, -12), class_name="lc-poi lc-site-marker")
        maps._geojson_layer(fc, f"S{rank}", marker=folium.Marker(icon=icon), control=False).add_to(group)
    return group


def _newly_layer(newly: gpd.GeoDataFrame, lang: str) -> folium.GeoJson:
    style = {"color": _NEWLY_COLOR, "weight": 1, "fillColor": _NEWLY_COLOR, "fillOpacity": 0.7}
    props = [{"style": style, "tooltip": esc(f"{t('residents', lang)}: {r:,.0f}")} for r in newly.get("residents", [])]
    fc = maps._feature_collection(newly.geometry, props)
    return maps._geojson_layer(fc, t("layer_newly", lang), class_name="lc-newly")


def suggest_map(s: "Suggestion", lang: str = "en") -> folium.Map:
    """The suggestion on a map: communities, the category's facilities and
    gaps, the homes newly within reach, the ranked sites and the summary.

    One self-contained page (no CDN), every OSM or user string escaped,
    the same bytes for the same suggestion.
    """
    check_lang(lang)
    a = s.analysis
    cat = a.config.category(s.category)
    communities = maps.to_display_crs(a.communities)
    pois = maps.to_display_crs(a.pois)
    pois = pois[pois["category"] == s.category] if len(pois) else pois
    gaps = maps.to_display_crs(a.gaps)
    gaps = gaps[gaps["category"] == s.category] if len(gaps) else gaps
    sites = maps.to_display_crs(s.sites)
    bounds = maps._bounds([communities, sites, pois])
    center = [0.0, 0.0] if bounds is None else [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    m = maps._offline_map(center, lang, t("suggest_title", lang, label=cat.label(lang)))
    maps._community_layer(communities, a.config, lang).add_to(m)
    maps._poi_layer(pois, cat, lang).add_to(m)
    names = {str(c): str(n) for c, n in zip(communities.get("community_id", []), communities.get("name", []))}
    maps._gap_layer(gaps, cat, names, lang).add_to(m)
    _newly_layer(maps.to_display_crs(s.newly), lang).add_to(m)
    _site_layer(s, sites, lang).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    fig = m.get_root()
    # top left, beside the zoom buttons: the legend's corner would hide the southern sites
    box = (f'<div class="lc-box lc-suggest" style="left: 56px; top: 10px; max-width: 460px; '
           f'border-left: 4px solid {safe_color(_SITE_COLOR)}">'
           f"<b>{esc(t('suggest_title', lang, label=cat.label(lang)))}</b><br>{esc(s.summary(lang))}<br>"
           f"<span class=\"lc-rule\">{esc(s.method_text(lang))}</span></div>")
    fig.html.add_child(Element(box), name="lc_legend")
    fig.html.add_child(Element(maps._attribution_html(a, lang)), name="lc_attribution")
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    maps._renumber(fig)
    return m


# ---------------------------------------------------------------- files


def _gpkg(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(settings.output_crs)


def save_suggestion(s: "Suggestion", folder: str | Path, lang: str = "en") -> dict[str, Path]:
    """Write the suggestion's files into ``folder`` (staged, then renamed).

    Files: ``suggest.csv`` (the ranked sites; text cells defused against
    spreadsheet formulas), ``suggest.gpkg`` (layers ``suggested_sites`` and
    ``newly_reached``, EPSG:4326), ``suggest.html`` (offline map) and
    ``suggested_scenario.geojson`` (for ``lifecircle scenario``).

    Returns
    -------
    dict
        Output kind -> final path.
    """
    check_lang(lang)
    folder = Path(folder)
    written: dict[str, Path] = {}
    with staging_dir(folder) as stage:
        write_csv(s.sites.drop(columns="geometry"), stage / "suggest.csv")
        written["csv"] = folder / "suggest.csv"
        gpkg = stage / "suggest.gpkg"
        with writing(gpkg):
            for layer, frame in (("suggested_sites", s.sites), ("newly_reached", s.newly)):
                if len(frame):
                    _gpkg(frame).to_file(gpkg, layer=layer, driver="GPKG")
        if gpkg.exists():
            written["gpkg"] = folder / "suggest.gpkg"
        (stage / "suggest.html").write_bytes(maps.render_map(suggest_map(s, lang)).encode("utf-8"))
        written["map"] = folder / "suggest.html"
        (stage / "suggested_scenario.geojson").write_bytes(scenario_geojson(s, lang).encode("utf-8"))
        written["scenario"] = folder / "suggested_scenario.geojson"
    return written

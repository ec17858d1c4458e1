"""Charts (PNG), a static overview map and a self-contained HTML report of an analysis that prints on A4.

Chinese labels need a CJK font: matplotlib's default (DejaVu Sans) has no
Chinese glyphs and would draw empty boxes, warning only once. The font is
looked up by family name in matplotlib's font list (``fonts-noto-cjk``
provides "Noto Sans CJK SC") and set explicitly on every text of a chart,
so the result does not depend on global rcParams.

Outputs are deterministic: no software/time metadata in the PNGs, no
timestamps in the HTML.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from ..config import Config
from ..errors import LifecircleError
from ..i18n import (
    basis_text,
    category_label,
    check_lang,
    covered_mark,
    covered_state,
    level_title,
    limit_text,
    localize,
    not_judged_text,
    population_text,
    reason_text,
    review_text,
    rule_text,
    strings,
    t,
    tier_text,
)
from ..text import flag_of, int_of, is_missing, text_of
from .files import CHART_NAMES
from .htmlassets import data_uri, safe_color, templates, write_atomic

#: CJK font families tried in order (simplified Chinese faces first).
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Hiragino Sans GB", "Heiti SC",
    "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK KR",
)


_DPI = 120
# zlib level of the PNGs: on these flat-coloured images level 3 is both faster (0.11 s instead of
# 0.23 s for the 75k city's overview) and smaller (8%) than the default 6
_PNG_LEVEL = 3


# ---------------------------------------------------------------- fonts


def cjk_family() -> str | None:
    """Return the first installed family of :data:`CJK_FAMILIES`, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


def chart_family(lang: str) -> str:
    """Return the font family for chart text in ``lang``.

    A CJK font is used whenever one is installed (category labels from a
    user config may be Chinese even in English charts).

    Raises
    ------
    LifecircleError
        For ``lang="zh"`` when no CJK font is installed.
    """
    family = cjk_family()
    if family is not None:
        return family
    if lang == "zh":
        raise LifecircleError(
            "no Chinese font found for the charts; install one (e.g. Debian: apt install fonts-noto-cjk)"
        )
    return "DejaVu Sans"


# ---------------------------------------------------------------- numbers


@dataclass(frozen=True)
class CategorySummary:
    """Coverage of one category over all communities.

    Attributes
    ----------
    key, label, color
        From the category.
    covered
        Communities covered (``covered_<key>``: enough of their homes within
        the category's distance).
    share
        ``covered`` / number of communities (NaN without communities).
    residents_share
        Share of all residents within the category's distance (NaN without
        residents).
    """

    key: str
    label: str
    color: str
    covered: int
    share: float
    residents_share: float
    no_data: bool = False


def _residents_share(communities: pd.DataFrame, key: str) -> float:
    """Residents-weighted share of ``key`` over communities with numbers."""
    column = f"residents_share_{key}"
    if "residents" not in communities or column not in communities:
        return float("nan")
    residents = pd.to_numeric(communities["residents"], errors="coerce")
    share = pd.to_numeric(communities[column], errors="coerce")
    ok = residents.notna() & share.notna() & (residents > 0)
    total = residents[ok].sum()
    return float((residents[ok] * share[ok]).sum() / total) if total > 0 else float("nan")


def summarize(communities: pd.DataFrame, config: Config, lang: str) -> list[CategorySummary]:
    """Return the coverage of each category, in report order.

    Parameters
    ----------
    communities
        The coverage table (``Analysis.communities`` or ``.coverage``).
    config
        Gives the categories.
    lang
        Language of the labels.
    """
    n = len(communities)
    out = []
    for cat in config.categories:
        column = f"covered_{cat.key}"
        covered = int(communities[column].fillna(False).astype(bool).sum()) if column in communities else 0
        no_data = column in communities and n > 0 and bool(communities[column].isna().all())
        out.append(CategorySummary(
            key=cat.key, label=cat.label(lang), color=safe_color(cat.color),
            covered=covered, share=float("nan") if no_data else covered / n if n else float("nan"),
            residents_share=_residents_share(communities, cat.key), no_data=no_data,
        ))
    return out


def reached_counts(communities: pd.DataFrame, n_categories: int) -> np.ndarray:
    """Return how many communities reach 0, 1, ..., ``n_categories`` categories."""
    reached = pd.to_numeric(communities.get("reached", pd.Series(dtype=float)), errors="coerce")
    reached = reached.dropna().astype(int).clip(0, n_categories)
    return np.bincount(reached.to_numpy(), minlength=n_categories + 1)


# ---------------------------------------------------------------- charts


def _new_figure(width: float, height: float) -> Figure:
    # on white whatever the rcParams: the PNGs are written without an alpha channel
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def coverage_chart(summary: list[CategorySummary], lang: str, family: str) -> Figure:
    """Horizontal bars: share of communities covered per category."""
    fig = _new_figure(7.0, 1.2 + 0.42 * max(len(summary), 1))
    ax = fig.add_subplot()
    values = [0.0 if is_missing(s.share) else 100.0 * s.share for s in summary]
    y = np.arange(len(summary))
    ax.barh(y, values, color=[s.color for s in summary], edgecolor="#333333", linewidth=0.5)
    no_data = t("no_data", lang)
    ax.set_yticks(y, [s.label for s in summary])
    ax.invert_yaxis()  # first category on top, as in the table
    ax.set_xlim(0, 112)  # room for the value labels
    ax.spines["bottom"].set_bounds(0, 100)
    ax.set_xticks(range(0, 101, 20))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    for yi, v, s in zip(y, values, summary):
        # a category without data is not 0 %: it was not judged
        ax.text(v + 1.5, yi, no_data if s.no_data else f"{v:.0f}%", va="center", fontsize=9, family=family,
                color="#737373" if s.no_data else "black", style="italic" if s.no_data else "normal")
    ax.set_xlabel(t("chart_share_axis", lang), family=family)
    ax.set_title(t("chart_share_title", lang), family=family)
    ax.tick_params(labelfontfamily=family)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def reached_chart(counts: np.ndarray, lang: str, family: str) -> Figure:
    """Histogram of the number of categories each community reaches."""
    fig = _new_figure(7.0, 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(counts))
    ax.bar(x, counts, width=0.8, color="#2b8cbe", edgecolor="#333333", linewidth=0.5)
    for xi, c in zip(x, counts):
        if c:
            ax.text(xi, c, str(int(c)), ha="center", va="bottom", fontsize=9, family=family)
    ax.set_xticks(x)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(int(counts.max()) if len(counts) else 0, 1) * 1.15)
    ax.set_xlabel(t("chart_hist_x", lang), family=family)
    ax.set_ylabel(t("chart_hist_y", lang), family=family)
    ax.set_title(t("chart_hist_title", lang), family=family)
    ax.tick_params(labelfontfamily=family)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def chart_figures(analysis: Any, lang: str = "en") -> dict[str, Figure]:
    """Build the charts of an analysis without saving them.

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    lang
        "zh" or "en".

    Returns
    -------
    dict[str, Figure]
        By file name (:data:`CHART_NAMES`), in that order.

    Raises
    ------
    LifecircleError
        For ``lang="zh"`` without a CJK font.
    """
    check_lang(lang)
    family = chart_family(lang)
    config = analysis.config
    communities = analysis.communities
    return {
        CHART_NAMES[0]: coverage_chart(summarize(communities, config, lang), lang, family),
        CHART_NAMES[1]: reached_chart(
            reached_counts(communities, len(config.categories) - len(analysis.no_data)), lang, family),
    }


def png_bytes(fig: Figure, dpi: float = _DPI) -> bytes:
    """Render ``fig`` (one of :func:`_new_figure`) to PNG bytes at ``dpi``.

    The pixels ``savefig`` would draw, written as RGB (the figure is opaque
    white underneath, so the alpha channel held nothing: a quarter of the
    data to compress) at zlib level :data:`_PNG_LEVEL`, with no metadata
    but the resolution: the bytes depend on neither the clock nor the
    matplotlib version.
    """
    from PIL import Image

    before = fig.dpi
    fig.set_dpi(dpi)
    try:
        rgba, size = fig.canvas.print_to_buffer()
    finally:
        fig.set_dpi(before)
    buf = io.BytesIO()
    Image.frombuffer("RGBA", size, rgba, "raw", "RGBA", 0, 1).convert("RGB").save(
        buf, format="png", compress_level=_PNG_LEVEL, dpi=(dpi, dpi))
    return buf.getvalue()


def make_charts(analysis: Any, folder: str | Path, lang: str = "en") -> list[Path]:
    """Write the PNG charts of an analysis into ``folder``.

    Charts: share of communities covered per category (bars) and the
    distribution of the number of categories reached (histogram).

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    folder
        Existing output folder.
    lang
        "zh" or "en".

    Returns
    -------
    list[Path]
        The files written, in :data:`CHART_NAMES` order.
    """
    folder = Path(folder)
    return [write_atomic(folder / name, png_bytes(fig))
            for name, fig in chart_figures(analysis, lang).items()]


# ---------------------------------------------------------------- overview map

# Printed at the report's full width (about 180 mm), this is about 200 dpi.
_OVERVIEW_DPI = 200
_OVERVIEW_WIDTH_IN = 7.0
_STREET_COLOR = "#c8c8c8"
_NICE_LENGTHS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000)


def _street_path(analysis: Any) -> np.ndarray:
    """The walk network's streets (analysis CRS) as one (n, 2) array, each street's
    vertices followed by a NaN row that breaks the line there."""
    import shapely

    from .basemap import street_geometries

    geoms = street_geometries(analysis)
    if len(geoms) == 0:
        return np.empty((0, 2))
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    ends = np.flatnonzero(np.diff(index)) + 1  # where the next street begins
    return np.insert(xy, np.append(ends, len(xy)), np.nan, axis=0)


def _scale_length(width_m: float) -> float:
    """A round length near a fifth of the map's width."""
    target = width_m / 5
    return float(min(_NICE_LENGTHS_M, key=lambda x: abs(np.log(x / target))))


def _scale_bar(ax: Any, bounds: tuple[float, float, float, float], lang: str, family: str) -> None:
    """A two-segment scale bar in the lower left, in metres of the (projected) analysis CRS."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = bounds
    length = _scale_length(x1 - x0)
    height = (y1 - y0) * 0.012
    left, bottom = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * 0.03
    # a white ground keeps the bar readable over communities and streets
    ax.add_patch(Rectangle((left - length * 0.08, bottom - height * 1.2), length * 1.16, height * 5.2,
                           facecolor="white", edgecolor="none", alpha=0.85, zorder=5))
    for i, color in enumerate(("#222222", "white")):
        ax.add_patch(Rectangle((left + i * length / 2, bottom), length / 2, height, facecolor=color,
                               edgecolor="#222222", linewidth=0.6, zorder=6))
    label = t("metres_value", lang, value=f"{length:g}") if length < 1000 else f"{length / 1000:g} km"
    ax.text(left + length / 2, bottom + height * 1.8, label, ha="center", va="bottom", fontsize=8,
            family=family, zorder=6)


def _north_arrow(ax: Any, lang: str, family: str) -> None:
    """North is up: the analysis CRS is a UTM zone, whose grid north is within
    a degree or two of true north."""
    ax.annotate(t("north", lang), xy=(0.95, 0.95), xytext=(0.95, 0.85), xycoords="axes fraction",
                ha="center", va="center", fontsize=10, fontweight="bold", family=family,
                arrowprops={"arrowstyle": "-|>", "color": "#222222", "linewidth": 1.2}, zorder=6)


def _overview_legend(fig: Figure, config: Config, pois: pd.DataFrame, lang: str, family: str) -> None:
    """Below the map: the reach colours, then the facility markers present."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .maps import score_color

    n = len(config.categories)
    handles = [Patch(facecolor=score_color(k / n) if n else score_color(float("nan")), edgecolor="#333333",
                     linewidth=0.5, label=t("legend_entry", lang, k=k, n=n)) for k in range(n, -1, -1)]
    present = set(pois["category"]) if "category" in pois else set()
    handles += [Line2D([], [], linestyle="none", marker="o", markersize=5, markerfacecolor=safe_color(c.color),
                       markeredgecolor="#333333", markeredgewidth=0.4, label=c.label(lang))
                for c in config.categories if c.key in present]
    legend = fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7, frameon=False,
                        title=t("overview_legend", lang), title_fontsize=8, prop={"family": family, "size": 7})
    legend.get_title().set_family(family)


def _area_path(geom: Any) -> Any:
    """A (multi)polygon as one matplotlib path: each part's exterior, then its holes."""
    import shapely
    from matplotlib.path import Path

    rings = [ring for part in shapely.get_parts(geom) for ring in (part.exterior, *part.interiors)]
    return Path.make_compound_path(*(Path(np.asarray(ring.coords)[:, :2], closed=True) for ring in rings))


def _add_areas(ax: Any, geoms: Any, colors: list[str]) -> None:
    """The communities as one collection of patches, one per (multi)polygon in table order.

    Drawn here rather than by ``GeoDataFrame.plot``, which ends with a full draw of
    the figure (0.24 s on the 75k city, streets included) that the PNG draws again.
    """
    import shapely
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import PathPatch

    # exteriors clockwise, holes anticlockwise: matplotlib fills by the non-zero winding rule,
    # so a hole is left open only when its ring runs against its exterior
    geoms = shapely.normalize(np.asarray(geoms, dtype=object))
    kinds = shapely.get_type_id(geoms)
    shown = np.isin(kinds, [3, 6]) & ~shapely.is_empty(geoms)  # (multi)polygons: what GeoDataFrame.plot fills
    if not shown.any():
        return
    patches = [PathPatch(_area_path(g)) for g in geoms[shown]]
    ax.add_collection(PatchCollection(patches, facecolor=list(np.asarray(colors, dtype=object)[shown]),
                                      edgecolor="#333333", linewidth=0.5, alpha=0.75, zorder=2))


def overview_figure(analysis: Any, lang: str = "en") -> Figure:
    """A static map of the run for print: streets light grey, communities coloured by the
    number of categories they reach (the web map's colours), facilities as small markers
    in their category's colour, a scale bar, a north arrow and the OSM credit. No tiles.

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis` (its tables in the projected analysis CRS).
    lang
        "zh" or "en".

    Raises
    ------
    LifecircleError
        For ``lang="zh"`` without a CJK font.
    """
    from .maps import score_color

    check_lang(lang)
    family = chart_family(lang)
    config, communities, pois = analysis.config, analysis.communities, analysis.pois
    shown = [g for g in (communities.geometry, pois.geometry) if len(g)]
    x0, y0, x1, y1 = pd.concat(shown).total_bounds if shown else (0.0, 0.0, 1.0, 1.0)
    pad = max(x1 - x0, y1 - y0, 100.0) * 0.06
    bounds = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
    aspect = (bounds[3] - bounds[1]) / (bounds[2] - bounds[0])
    # at most ~7 inches of map: with its heading and legend it fits one A4 page
    fig = _new_figure(_OVERVIEW_WIDTH_IN, min(max(_OVERVIEW_WIDTH_IN * aspect, 3.0), 7.0) + 1.2)
    ax = fig.add_subplot()
    # one line broken by NaNs draws 140,000 streets in a fraction of a LineCollection's time
    ax.plot(*_street_path(analysis).T, color=_STREET_COLOR, linewidth=0.5, zorder=1)
    n = len(config.categories)
    reached = pd.to_numeric(communities.get("reached", pd.Series(np.nan, index=communities.index)), errors="coerce")
    colors = [score_color(r / n if n else float("nan")) for r in reached]
    _add_areas(ax, communities.geometry.values, colors)
    colors = {c.key: safe_color(c.color) for c in config.categories}
    if len(pois):
        xy = np.column_stack([pois.geometry.x, pois.geometry.y])
        ax.scatter(xy[:, 0], xy[:, 1], s=9, c=[colors.get(k, safe_color(None)) for k in pois["category"]],
                   edgecolors="#222222", linewidths=0.3, zorder=4)
    ax.set_xlim(bounds[0], bounds[2])
    ax.set_ylim(bounds[1], bounds[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#888888")
    _scale_bar(ax, bounds, lang, family)
    _north_arrow(ax, lang, family)
    ax.text(0.995, 0.005, t("attribution", lang), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            family=family, color="#333333", zorder=6,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
    _overview_legend(fig, config, pois, lang, family)
    return fig


def overview_png(analysis: Any, lang: str = "en") -> bytes:
    """The overview map (:func:`overview_figure`) as PNG bytes, at print resolution."""
    return png_bytes(overview_figure(analysis, lang), dpi=_OVERVIEW_DPI)


# ---------------------------------------------------------------- report


_CSS = """
body { font: 14px/1.5 "Noto Sans CJK SC", "Noto Sans", "Microsoft YaHei", "PingFang SC",
  sans-serif; max-width: 960px; margin: 24px auto; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td { overflow-wrap: anywhere; }  /* long OSM rules and names wrap instead of running off the page */
td.tier, td.num { white-space: nowrap; }
table.basis, table.communities { table-layout: fixed; width: 100%; }
table.basis th:nth-child(1) { width: 16%; }
table.basis th:nth-child(2), table.basis th:nth-child(3) { width: 10%; }
table.basis th:nth-child(4) { width: 28%; }
table.communities th:nth-child(1) { width: 21%; }
table.communities th:nth-child(2) { width: 12%; }
table.communities th:nth-child(3) { width: 10%; }
table.communities th:nth-child(4) { width: 22%; }
td.num { text-align: right; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px;
  border: 1px solid #333; }
img { max-width: 100%; display: block; margin: 8px 0; }
img.overview { max-height: 240mm; width: auto; margin: 8px auto; }
footer { margin-top: 32px; color: #555; font-size: 12px; }
td { vertical-align: top; }
td.nearest-list { font-size: 12px; }
.partial { color: #a63603; font-size: 12px; }
@page { size: A4; margin: 15mm 14mm 16mm;
  @bottom-center { content: counter(page) " / " counter(pages); font: 8pt "Noto Sans CJK SC", sans-serif;
    color: #555; } }
@media print {
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  h1 { font-size: 17pt; }
  h2 { font-size: 13pt; margin-top: 16pt; break-after: avoid; }
  table { width: 100%; }
  thead { display: table-header-group; }
  tr, img, li, footer { break-inside: avoid; }
  section.keep, section.warnings { break-inside: avoid; }
  section.overview, section.charts { break-inside: avoid; }
  td.nearest-list, .partial { font-size: 8.5pt; }
  th, td { padding: 2px 6px; }
}
"""

def _pct(value: float, lang: str) -> str:
    return t("not_available", lang) if is_missing(value) else f"{100.0 * value:.0f}%"


def _facts(analysis: Any, lang: str) -> list[tuple[str, str]]:
    """(label, value) rows of the table at the top: what was analysed, on what basis."""
    config = analysis.config
    communities = analysis.communities
    n = len(communities)
    complete = int(communities["complete"].fillna(False).astype(bool).sum()) if "complete" in communities else 0
    no_data = list(getattr(analysis, "no_data", []) or [])
    complete_text = f"{complete} ({_pct(complete / n if n else float('nan'), lang)})"
    if no_data:
        complete_text += " " + not_judged_text(config, no_data, lang)
    return [
        (t("level", lang), level_title(config, lang)),
        (t("basis", lang), basis_text(config, lang)),
        (t("speed", lang),
         t("speed_value", lang, speed=config.speed_kmh, per_minute=round(config.metres_per_minute, 1))),
        (t("rule", lang), rule_text(config, lang)),
        (t("n_communities", lang), str(n)),
        (t("n_facilities", lang), str(len(analysis.pois))),
        (t("complete_share", lang), complete_text),
        (t("sheet_facilities", lang), review_text(getattr(analysis, "review", None), lang)),
        (t("population", lang), population_text(getattr(analysis, "population", None), lang)),
        (t("data_source", lang), text_of(analysis.source)),
        (t("data_date", lang), text_of(getattr(analysis, "data_date", "") or "") or t("not_available", lang)),
        (t("facility_sources", lang), text_of(analysis.sources_text(lang))),
    ]


def _summary_rows(summary: list[CategorySummary], config: Config, lang: str) -> list[dict[str, Any]]:
    none = t("no_data", lang)
    return [{
        "key": s.key, "color": s.color, "label": s.label, "tier": tier_text(config, s.key, lang),
        "limit": limit_text(config, s.key, lang), "covered": none if s.no_data else s.covered,
        "share": none if s.no_data else _pct(s.share, lang),
        "residents": none if s.no_data else _pct(s.residents_share, lang), "no_data": s.no_data,
    } for s in summary]


#: Rows of the problem list the report shows (all of them are in problems.csv and the workbook).
REPORT_PROBLEMS = 20


def _indicator_rows(analysis: Any, lang: str) -> list[dict[str, Any]]:
    """The district's indicators: per category, residents and residential land within reach."""
    from ..indicators import indicators

    table = indicators(analysis, lang)
    out = []
    for row in table.to_dict("records"):
        scope = t("scope_district", lang) if row["scope"] == "district" else row["scope"]
        out.append({"key": row["category"], "scope": scope, "label": row["label"],
                    "population": _pct(row["population_share"], lang) if not is_missing(row["population_share"])
                    else t("no_data", lang),
                    "area": _pct(row["area_share"], lang) if not is_missing(row["area_share"]) else t("no_data", lang),
                    "elderly": "" if is_missing(row["elderly_share"]) else _pct(row["elderly_share"], lang)})
    return out


def _problem_rows(analysis: Any, lang: str) -> list[dict[str, Any]]:
    from ..indicators import problems

    table = problems(analysis, lang).head(REPORT_PROBLEMS)
    return [{"name": text_of(r["name"]), "id": text_of(r["community_id"]), "label": r["label"],
             "affected": "" if is_missing(r["residents_affected"]) else f"{float(r['residents_affected']):,.0f}",
             "nearest": text_of(r["nearest"]) or "—",
             "walk": "" if is_missing(r["metres"]) else t("metres_value", lang, value=f"{float(r['metres']):.0f}")}
            for r in table.to_dict("records")]


def _facility_rows(analysis: Any, lang: str) -> list[dict[str, Any]]:
    """Per category: facilities counted, candidates kept out by each reason, and whether it has data."""
    reg = getattr(analysis, "facilities", None)
    config = analysis.config
    rows = []
    for cat in config.categories:
        part = reg[reg["category"] == cat.key] if reg is not None and len(reg) else None
        counted = int(part["counted"].sum()) if part is not None else 0
        out = part[~part["counted"].astype(bool)] if part is not None else None
        reasons = [] if out is None else [
            f"{reason_text(str(code), lang)} {int(n)}" for code, n in out["reason"].value_counts().sort_index().items()]
        rows.append({"key": cat.key, "label": cat.label(lang), "counted": counted,
                     "excluded": t("list_sep", lang).join(reasons) or "—",
                     "no_data": t("no_data_long", lang) if counted == 0 else ""})
    return rows


def _basis_rows(config: Config, lang: str) -> list[dict[str, str]]:
    """Per category: its walking distance (and minutes at the run's speed), the clause
    of the standard and the OSM rules that decided it."""
    return [{
        "key": c.key, "label": c.label(lang), "rules": c.describe(brief=True),
        "limit": limit_text(config, c.key, lang),
        "minutes": t("walk_minutes_value", lang, value=round(config.limit_m(c.key) / config.metres_per_minute, 1)),
        "clause": c.clause if config.mode == "standard" else basis_text(config, lang),
    } for c in config.categories]


def _nearest(row: pd.Series, config: Config, lang: str) -> list[dict[str, str]]:
    """One line per category: the nearest facility, the walk to it, covered or not."""
    lines = []
    for cat in config.categories:
        k = cat.key
        name = text_of(row.get(f"nearest_{k}"))
        if not name and text_of(row.get(f"nearest_id_{k}")):
            name = t("unnamed", lang)
        metres = row.get(f"metres_{k}")
        if covered_state(row.get(f"covered_{k}")) == "no_data":
            continue  # said once for the run, not on every community's row
        mark = covered_mark(row.get(f"covered_{k}"), lang)
        lines.append({
            "key": k, "mark": mark, "label": cat.label(lang), "name": name or "—",
            "walk": "" if is_missing(metres) else " · " + t("metres_value", lang, value=f"{float(metres):.0f}"),
        })
    return lines


def _community_rows(communities: pd.DataFrame, config: Config, lang: str) -> list[dict[str, Any]]:
    """One row per community: name, id, categories reached, gaps, nearest facilities."""
    rows = []
    for _, row in communities.iterrows():
        n = int_of(row.get("n_categories"), len(config.categories))
        gaps = [category_label(config, g, lang) for g in text_of(row.get("gaps")).split(",") if g]
        rows.append({
            "name": text_of(row.get("name")), "id": row.get("community_id"),
            "partial": flag_of(row.get("partial")),
            "reached": t("reached_value", lang, reached=int_of(row.get("reached")), n=n),
            "gaps": ", ".join(gaps) if gaps else t("no_gaps", lang),
            "nearest": _nearest(row, config, lang),
        })
    return rows


def report_html(analysis: Any, lang: str = "en", charts: dict[str, bytes] | None = None,
                overview: bytes | None = None) -> str:
    """Return the report page as text.

    Rendered from the Jinja2 template ``lifecircle/templates/report.html.j2``,
    which escapes every value (:func:`lifecircle.outputs.htmlassets.templates`).

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    lang
        "zh" or "en".
    charts
        PNG bytes by file name; rendered from the analysis when None.
    overview
        PNG bytes of the overview map (:func:`overview_png`); rendered when None.

    Returns
    -------
    str
        A complete HTML document with the overview map and the charts inlined
        as data URIs, laid out for A4 print; every string from OSM, user
        files or the config is escaped, and the run's warnings are in ``lang``.
    """
    check_lang(lang)
    if charts is None:
        charts = {name: png_bytes(fig) for name, fig in chart_figures(analysis, lang).items()}
    if overview is None:
        overview = overview_png(analysis, lang)
    config = analysis.config
    alts = {CHART_NAMES[0]: t("chart_share_title", lang), CHART_NAMES[1]: t("chart_hist_title", lang)}
    return templates().get_template("report.html.j2").render(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=f'{t("report_title", lang)} · {level_title(config, lang)}',
        overview=data_uri(overview, "image/png"),
        css=Markup(_CSS),  # a constant of this module
        t=strings(lang),
        facts=_facts(analysis, lang),
        summary=_summary_rows(summarize(analysis.communities, config, lang), config, lang),
        facilities=_facility_rows(analysis, lang),
        indicators=_indicator_rows(analysis, lang),
        problems=_problem_rows(analysis, lang),
        basis=_basis_rows(config, lang),
        images=[(data_uri(png, "image/png"), alts.get(name, name)) for name, png in charts.items()],
        communities=_community_rows(analysis.communities, config, lang),
        warnings=[localize(w, lang) for w in getattr(analysis, "warnings", []) or []],
        source=text_of(analysis.source),
        scenario=_scenario_section(analysis, lang),
    )


def _scenario_section(analysis: Any, lang: str) -> Markup | str:
    """The what-if section (rendered escaped by its own template) of a scenario's after state."""
    result = getattr(analysis, "scenario", None)
    if result is None or not result.has_changes:
        return ""
    from ..planning.scenario import report_section

    return Markup(report_section(result, lang))


def write_report(analysis: Any, folder: str | Path, lang: str = "en") -> Path:
    """Write ``report.html`` (self-contained, charts inlined) into ``folder``.

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    folder
        Existing output folder.
    lang
        "zh" or "en".

    Returns
    -------
    Path
        The report file.
    """
    return write_atomic(Path(folder) / "report.html", report_html(analysis, lang).encode("utf-8"))

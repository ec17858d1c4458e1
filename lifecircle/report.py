"""Charts (PNG) and a one-page, self-contained HTML report of an analysis.

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
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .config import Config
from .errors import LifecircleError
from .htmlassets import data_uri, esc, flag_of, int_of, is_missing, safe_color, text_of, write_atomic
from .i18n import basis_text, check_lang, rule_text, t, tier_text

OSM_ATTRIBUTION = "© OpenStreetMap contributors"

#: CJK font families tried in order (simplified Chinese faces first).
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
    "PingFang SC", "Hiragino Sans GB", "Heiti SC",
    "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans CJK KR",
)

#: Chart file names, in the order :func:`make_charts` returns them.
CHART_NAMES: tuple[str, ...] = ("chart_coverage.png", "chart_reached.png")

_DPI = 120
# Keeps the PNG bytes independent of the matplotlib version and the clock.
_PNG_METADATA = {"Software": None}


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
        out.append(CategorySummary(
            key=cat.key, label=cat.label(lang), color=safe_color(cat.color),
            covered=covered, share=covered / n if n else float("nan"),
            residents_share=_residents_share(communities, cat.key),
        ))
    return out


def reached_counts(communities: pd.DataFrame, n_categories: int) -> np.ndarray:
    """Return how many communities reach 0, 1, ..., ``n_categories`` categories."""
    reached = pd.to_numeric(communities.get("reached", pd.Series(dtype=float)), errors="coerce")
    reached = reached.dropna().astype(int).clip(0, n_categories)
    return np.bincount(reached.to_numpy(), minlength=n_categories + 1)


# ---------------------------------------------------------------- charts


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def coverage_chart(summary: list[CategorySummary], lang: str, family: str) -> Figure:
    """Horizontal bars: share of communities covered per category."""
    fig = _new_figure(7.0, 1.2 + 0.42 * max(len(summary), 1))
    ax = fig.add_subplot()
    values = [0.0 if is_missing(s.share) else 100.0 * s.share for s in summary]
    y = np.arange(len(summary))
    ax.barh(y, values, color=[s.color for s in summary], edgecolor="#333333", linewidth=0.5)
    ax.set_yticks(y, [s.label for s in summary])
    ax.invert_yaxis()  # first category on top, as in the table
    ax.set_xlim(0, 112)  # room for the value labels
    ax.spines["bottom"].set_bounds(0, 100)
    ax.set_xticks(range(0, 101, 20))
    ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
    for yi, v in zip(y, values):
        ax.text(v + 1.5, yi, f"{v:.0f}%", va="center", fontsize=9, family=family)
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
        CHART_NAMES[1]: reached_chart(reached_counts(communities, len(config.categories)), lang, family),
    }


def png_bytes(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes (no metadata that varies between runs)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata=_PNG_METADATA, facecolor="white")
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


# ---------------------------------------------------------------- report


_CSS = """
body { font: 14px/1.5 "Noto Sans CJK SC", "Noto Sans", "Microsoft YaHei", "PingFang SC",
  sans-serif; max-width: 960px; margin: 24px auto; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.num { text-align: right; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px;
  border: 1px solid #333; }
img { max-width: 100%; display: block; margin: 8px 0; }
footer { margin-top: 32px; color: #555; font-size: 12px; }
td { vertical-align: top; }
td.nearest-list { font-size: 12px; }
.partial { color: #a63603; font-size: 12px; }
"""


def _pct(value: float, lang: str) -> str:
    return esc(t("not_available", lang)) if is_missing(value) else f"{100.0 * value:.0f}%"


def _facts_html(analysis: Any, lang: str) -> str:
    config = analysis.config
    communities = analysis.communities
    n = len(communities)
    complete = int(communities["complete"].fillna(False).astype(bool).sum()) if "complete" in communities else 0
    rows = [
        (t("level", lang), esc(config.level)),
        (t("basis", lang), esc(basis_text(config, lang))),
        (t("rule", lang), esc(rule_text(config, lang))),
        (t("n_communities", lang), str(n)),
        (t("n_facilities", lang), str(len(analysis.pois))),
        (t("complete_share", lang), f"{complete} ({_pct(complete / n if n else float('nan'), lang)})"),
        (t("data_source", lang), esc(text_of(analysis.source))),
        (t("data_date", lang), esc(text_of(getattr(analysis, "data_date", "") or "")) or esc(t("not_available", lang))),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _summary_html(summary: list[CategorySummary], config: Config, lang: str) -> str:
    head = "".join(f"<th>{esc(t(k, lang))}</th>" for k in
                   ("category", "tier", "limit", "communities_covered", "share_covered", "residents_covered"))
    rows = "".join(
        f'<tr data-category="{esc(s.key)}"><td><span class="swatch" style="background: {s.color}">'
        f"</span>{esc(s.label)}</td><td>{esc(tier_text(config, s.key, lang))}</td>"
        f'<td class="num limit">{esc(t("metres_value", lang, value=f"{config.limit_m(s.key):g}"))}</td>'
        f"<td class=\"num covered\">{s.covered}</td>"
        f'<td class="num share">{_pct(s.share, lang)}</td>'
        f'<td class="num residents">{_pct(s.residents_share, lang)}</td></tr>'
        for s in summary
    )
    return f'<table class="summary"><tr>{head}</tr>{rows}</table>'


def _basis_html(config: Config, lang: str) -> str:
    """Per category: the clause of the standard and the OSM rules that decided it."""
    head = "".join(f"<th>{esc(t(k, lang))}</th>" for k in ("category", "clause", "osm_rules"))
    rows = "".join(
        f'<tr data-category="{esc(c.key)}"><td>{esc(c.label(lang))}</td>'
        f'<td class="clause">{esc(c.clause if config.mode == "standard" else basis_text(config, lang))}</td>'
        f'<td class="rules">{esc(c.describe())}</td></tr>'
        for c in config.categories
    )
    return f'<h2>{esc(t("basis", lang))}</h2>\n<table class="basis"><tr>{head}</tr>{rows}</table>'


def _nearest_html(row: pd.Series, config: Config, lang: str) -> str:
    """One line per category: the nearest facility, the walk to it, covered or not."""
    lines = []
    for cat in config.categories:
        k = cat.key
        name = text_of(row.get(f"nearest_{k}"))
        if not name and text_of(row.get(f"nearest_id_{k}")):
            name = t("unnamed", lang)
        metres = row.get(f"metres_{k}")
        walk = "" if is_missing(metres) else " · " + t("metres_value", lang, value=f"{float(metres):.0f}")
        mark = "✓" if flag_of(row.get(f"covered_{k}")) else "✗"
        lines.append(f'<div data-category="{esc(k)}">{mark} {esc(cat.label(lang))}: '
                     f'<span class="nearest">{esc(name) if name else "—"}</span>{esc(walk)}</div>')
    return "".join(lines)


def _communities_html(communities: pd.DataFrame, config: Config, lang: str) -> str:
    """One row per community: name, id, categories reached, gaps, nearest facilities."""
    n = len(config.categories)
    head = "".join(f"<th>{esc(t(k, lang))}</th>"
                   for k in ("community", "community_id", "reached", "gaps", "nearest"))
    rows = []
    for _, row in communities.iterrows():
        gaps = [g for g in text_of(row.get("gaps")).split(",") if g]
        labels = []
        for g in gaps:
            try:
                labels.append(config.category(g).label(lang))
            except LifecircleError:
                labels.append(g)
        name = text_of(row.get("name"))
        partial = f'<div class="partial">{esc(t("partial", lang))}</div>' if flag_of(row.get("partial")) else ""
        rows.append(
            f'<tr><td class="name">{esc(name) if name else "<i>" + esc(t("unnamed", lang)) + "</i>"}</td>'
            f'<td class="id">{esc(row.get("community_id"))}{partial}</td>'
            f'<td class="num">{esc(t("reached_value", lang, reached=int_of(row.get("reached")), n=n))}</td>'
            f'<td>{esc(", ".join(labels)) if labels else esc(t("no_gaps", lang))}</td>'
            f'<td class="nearest-list">{_nearest_html(row, config, lang)}</td></tr>'
        )
    return f'<table class="communities"><tr>{head}</tr>{"".join(rows)}</table>'


def report_html(analysis: Any, lang: str = "en", charts: dict[str, bytes] | None = None) -> str:
    """Return the report page as text.

    Parameters
    ----------
    analysis
        A :class:`lifecircle.analysis.Analysis`.
    lang
        "zh" or "en".
    charts
        PNG bytes by file name; rendered from the analysis when None.

    Returns
    -------
    str
        A complete HTML document with the charts inlined as data URIs;
        every string from OSM, user files or the config is escaped.
    """
    check_lang(lang)
    if charts is None:
        charts = {name: png_bytes(fig) for name, fig in chart_figures(analysis, lang).items()}
    config = analysis.config
    alts = {CHART_NAMES[0]: t("chart_share_title", lang), CHART_NAMES[1]: t("chart_hist_title", lang)}
    images = "".join(
        f'<img src="{data_uri(png, "image/png")}" alt="{esc(alts.get(name, name))}">'
        for name, png in charts.items()
    )
    warnings = list(getattr(analysis, "warnings", []) or [])
    warning_html = (
        f'<h2>{esc(t("warnings", lang))}</h2><ul class="warnings">'
        + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"
    ) if warnings else ""
    title = f'{t("report_title", lang)} · {config.level}'
    source = text_of(analysis.source)
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n'
        f'<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n{_facts_html(analysis, lang)}\n"
        f'<h2>{esc(t("summary", lang))}</h2>\n'
        f"{_summary_html(summarize(analysis.communities, config, lang), config, lang)}\n"
        f"{_basis_html(config, lang)}\n"
        f'<h2>{esc(t("charts", lang))}</h2>\n{images}\n'
        f'<h2>{esc(t("communities_heading", lang))}</h2>\n'
        f"{_communities_html(analysis.communities, config, lang)}\n{warning_html}\n"
        f'<footer><div class="attribution">{esc(OSM_ATTRIBUTION)}</div>'
        f'<div class="source">{esc(t("data_source", lang))}: {esc(source)}</div></footer>\n'
        f"</body>\n</html>\n"
    )


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

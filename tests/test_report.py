"""Charts and the HTML report, on the real analysis of the bundled extract."""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest
import shapely
from matplotlib import font_manager
from matplotlib.text import Text

import lifecircle
from lifecircle.errors import LifecircleError
from lifecircle.i18n import basis_text, not_judged_text, rule_text, t, tier_text
from lifecircle.outputs import report
from lifecircle.outputs.htmlassets import esc

HOSTILE_COMMUNITY = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
CJK_COMMUNITY = "赫尔辛基·社区 & 二"
HOSTILE_SOURCE = "file <b>x</b>.osm.pbf"
HOSTILE_WARNING = "category <i>park</i>: 0 features & more"
NOTO_CJK = "NotoSansCJK"


@pytest.fixture(scope="module")
def analysis():
    """The real analysis, with hostile strings where OSM/user text appears."""
    real = lifecircle.analyze()
    communities = real.communities.copy()
    communities.loc[communities.index[0], "name"] = HOSTILE_COMMUNITY
    communities.loc[communities.index[1], "name"] = CJK_COMMUNITY
    return dataclasses.replace(real, communities=communities, source=HOSTILE_SOURCE,
                               warnings=[*real.warnings, HOSTILE_WARNING])


def draw_recording_warnings(figures) -> list[str]:
    """Draw every figure; return the warnings matplotlib emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fig in figures:
            fig.canvas.draw()
    return [str(w.message) for w in caught]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


class Tables(HTMLParser):
    """Collect the text of every table cell, row by row, and img sources."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


# ---------------------------------------------------------------- charts


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_chart_text_uses_the_cjk_font_and_no_glyph_is_missing(analysis, lang):
    figures = report.chart_figures(analysis, lang).values()
    assert draw_recording_warnings(figures) == []
    texts = [x for fig in figures for x in fig.findobj(Text) if x.get_text().strip()]
    # Title, axis labels and tick labels (the category names) all count.
    labels = {x.get_text() for x in texts}
    assert t("chart_share_title", lang) in labels
    assert {c.label(lang) for c in analysis.config.categories} <= labels
    for text in texts:
        path = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
        assert NOTO_CJK in str(path), (text.get_text(), path)
        if hasattr(path, "face_index"):  # the simplified-Chinese face of the collection
            assert font_manager.get_font(path).family_name == "Noto Sans CJK SC"


def test_default_font_would_have_failed(analysis):
    """The check above can fail: DejaVu Sans misses the Chinese glyphs."""
    figures = report.chart_figures(analysis, "zh").values()
    for fig in figures:
        for text in fig.findobj(Text):
            text.set_fontfamily("DejaVu Sans")
    assert any("Glyph" in w and "missing" in w for w in draw_recording_warnings(figures))


def test_chart_values_match_the_analysis(analysis):
    communities = analysis.communities
    figures = report.chart_figures(analysis, "en")
    coverage, reached = (figures[name].axes[0] for name in report.CHART_NAMES)
    widths = [bar.get_width() for bar in coverage.patches]
    # a category without data has no bar, and says "no data" instead of a share
    expected = [0.0 if k in analysis.no_data else 100.0 * communities[f"covered_{k}"].astype(bool).mean()
                for k in analysis.config.keys]
    assert widths == pytest.approx(expected)
    labels = [text.get_text() for text in coverage.texts]
    assert labels[:len(analysis.no_data)] == ["no data"] * len(analysis.no_data) and analysis.no_data == ["canteen"]
    heights = [bar.get_height() for bar in reached.patches]
    n = len(analysis.config.categories) - len(analysis.no_data)
    counts = communities["reached"].value_counts()
    assert heights == [counts.get(k, 0) for k in range(n + 1)]
    assert sum(heights) == len(communities)


def test_make_charts_writes_identical_pngs_twice(analysis, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = report.make_charts(analysis, tmp_path / "a", "zh")
    second = report.make_charts(analysis, tmp_path / "b", "zh")
    assert [p.name for p in first] == list(report.CHART_NAMES)
    for a, b in zip(first, second):
        data = a.read_bytes()
        assert data == b.read_bytes()
        width, height = png_size(data)
        assert width > 600 and height > 300
        assert b"Matplotlib" not in data  # no version in the metadata
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(report.CHART_NAMES)


def test_missing_cjk_font_is_a_one_line_error(analysis, monkeypatch):
    monkeypatch.setattr(report, "CJK_FAMILIES", ("No Such Font Family",))
    with pytest.raises(LifecircleError) as info:
        report.chart_figures(analysis, "zh")
    assert "\n" not in str(info.value) and "font" in str(info.value)
    # English charts fall back to the default font instead.
    assert report.chart_figures(analysis, "en")


# ---------------------------------------------------------------- report


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_contents(analysis, tmp_path, lang):
    path = report.write_report(analysis, tmp_path, lang)
    assert path == tmp_path / "report.html"
    html = path.read_text("utf-8")
    assert "© OpenStreetMap contributors" in html

    # Hostile strings appear only escaped; CJK names exactly as written.
    for raw in (HOSTILE_COMMUNITY, HOSTILE_SOURCE, HOSTILE_WARNING):
        assert raw not in html
        assert esc(raw) in html
    assert CJK_COMMUNITY.replace("&", "&amp;") in html
    assert not re.search(r"<script|<img(?![^>]*src=\"data:image/png;base64,)", html)

    parser = Tables()
    parser.feed(html)
    cells = {row[0]: row[1:] for row in parser.rows if row}
    n = len(analysis.communities)
    config = analysis.config
    reg = analysis.facilities
    for cat in config.categories:
        covered = int(analysis.communities[f"covered_{cat.key}"].fillna(False).astype(bool).sum())
        limit = config.limit_m(cat.key)
        summary, facilities, basis = [row[1:] for row in parser.rows if row and row[0] == cat.label(lang)]
        if cat.key in analysis.no_data:  # never 0 and 0 %: no data
            assert summary[2:4] == [t("no_data", lang)] * 2
            assert facilities[0] == "0" and facilities[1].startswith(t("no_data_long", lang))
        else:
            assert summary[:4] == [tier_text(config, cat.key, lang), t("metres_value", lang, value=f"{limit:g}"),
                                   str(covered), f"{100 * covered / n:.0f}%"]
        # the facilities table counts the register's rows: counted, and kept out by reason
        mine = reg[reg["category"] == cat.key]
        assert facilities[0] == str(int(mine["counted"].sum()))
        # the basis table gives the distance, its minutes at the run's speed, the clause and the OSM rules
        minutes = round(limit / (config.speed_kmh * 1000 / 60), 1)
        assert basis == [t("metres_value", lang, value=f"{limit:g}"), t("walk_minutes_value", lang, value=minutes),
                         cat.clause, cat.describe(brief=True)]
    assert esc(rule_text(config, lang)) in html and esc(basis_text(config, lang)) in html
    # each community lists the nearest facility of every judged category, by name; a category
    # with no data is said once for the run, not on every row
    for _, row in analysis.communities.iterrows():
        listed = cells[row["name"]][3]
        for k in config.keys:
            if k in analysis.no_data:
                assert config.category(k).label(lang) not in listed, (row["name"], k)
                continue
            want = row[f"nearest_{k}"] or (t("unnamed", lang) if row[f"nearest_id_{k}"] else "—")
            assert want in listed, (row["name"], k)
    assert esc(not_judged_text(config, analysis.no_data, lang)) in html
    assert HOSTILE_COMMUNITY in cells  # parsed back to the original text
    assert cells[CJK_COMMUNITY][0] == analysis.communities.iloc[1]["community_id"]

    # The overview map, then both charts inlined, decodable, byte-identical to make_charts' files.
    overview, *images = parser.images
    assert base64.b64decode(overview.split(",", 1)[1]) == report.overview_png(analysis, lang)
    assert len(images) == 2
    charts = report.make_charts(analysis, tmp_path, lang)
    for src, chart in zip(images, charts):
        data = base64.b64decode(src.split(",", 1)[1])
        assert data == chart.read_bytes()


def test_report_is_deterministic(analysis, tmp_path):
    a = report.report_html(analysis, "zh")
    b = report.report_html(analysis, "zh")
    assert a == b


def test_residents_share_is_weighted_by_residents(analysis):
    communities = analysis.communities.copy()
    key, other = analysis.config.keys[:2]
    communities[f"residents_share_{other}"] = np.nan  # as without a population proxy
    communities["residents"] = np.nan
    communities.loc[communities.index[:2], "residents"] = [100.0, 300.0]
    communities[f"residents_share_{key}"] = np.nan
    communities.loc[communities.index[:2], f"residents_share_{key}"] = [1.0, 0.5]
    summary = report.summarize(communities, analysis.config, "en")
    assert summary[0].residents_share == pytest.approx((100 * 1.0 + 300 * 0.5) / 400)
    assert np.isnan(summary[1].residents_share)


def test_templates_escape_every_value_the_way_esc_does():
    """report.html and the map's popups come from templates that escape by
    default, with esc's rules (backtick, $ and backslash too); only Markup
    passes unchanged, and a missing name is an error, not an empty cell."""
    import jinja2
    from markupsafe import Markup

    from lifecircle.outputs.htmlassets import templates

    env = templates()
    raw = '<img src=x onerror=alert(1)>`${x}\\'
    assert env.from_string("{{ v }}").render(v=raw) == esc(raw)
    assert env.from_string("{{ v }}").render(v=Markup("<b>ok</b>")) == "<b>ok</b>"
    assert env.from_string("{{ v }}|{{ w }}").render(v=None, w=float("nan")) == "|"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing }}").render()
    for name in ("report.html.j2", "map_parts.html.j2"):
        assert env.get_template(name).environment.autoescape is True


# ---------------------------------------------------------------- overview map


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_map_draws_the_data(analysis, lang):
    """Every facility at its place in its category's colour, every community in the colour of
    the categories it reaches, every street; a scale bar as long as it says; the OSM credit."""
    from matplotlib.collections import PatchCollection, PathCollection
    from matplotlib.colors import to_hex
    from matplotlib.patches import Rectangle

    from lifecircle.outputs.maps import score_color

    fig = report.overview_figure(analysis, lang)
    assert draw_recording_warnings([fig]) == []  # no glyph missing, in either language
    ax = fig.axes[0]
    config, pois, communities = analysis.config, analysis.pois, analysis.communities

    (markers,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(markers.get_offsets(), np.column_stack([pois.geometry.x, pois.geometry.y]))
    colors = {c.key: c.color.lower() for c in config.categories}
    assert [to_hex(c) for c in markers.get_facecolors()] == [colors[k] for k in pois["category"]]

    # the streets: one line broken by NaN rows, one run per street of the network
    (streets,) = [ln for ln in ax.lines if np.isnan(ln.get_xdata()).any()]
    x = np.asarray(streets.get_xdata())
    runs = np.flatnonzero(np.isnan(x))
    assert len(runs) == len(analysis.study.net.geoms)
    assert np.allclose(x[:runs[0]], shapely.get_coordinates(analysis.study.net.geoms[0])[:, 0])

    # geopandas draws one collection of the community polygons, one patch per row in table order
    (areas,) = [c for c in ax.collections if isinstance(c, PatchCollection)]
    expected = [score_color(r / len(config.categories)) for r in communities["reached"]]
    assert [to_hex(c) for c in areas.get_facecolors()] == expected

    # the bar's two halves span the length its label gives, in the analysis CRS's metres
    assert analysis.communities.crs.axis_info[0].unit_name == "metre"
    halves = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_zorder() == 6]
    total = sum(p.get_width() for p in halves)
    labels = [x.get_text() for x in ax.texts]
    assert t("metres_value", lang, value=f"{total:g}") in labels or f"{total / 1000:g} km" in labels
    assert 0.1 < total / np.diff(ax.get_xlim())[0] < 0.4
    assert t("attribution", lang) in labels
    # the north arrow points up
    (arrow,) = [x for x in ax.texts if x.get_text() == t("north", lang)]
    assert arrow.xy[1] > arrow.xyann[1] and arrow.xy[0] == arrow.xyann[0]
    assert report.overview_png(analysis, lang) == report.overview_png(analysis, lang)

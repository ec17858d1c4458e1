"""The interactive map, checked in real headless Chromium with no network.

The analysis is the real one on the bundled central-Helsinki extract, with
hostile names injected into copies of its POI and community tables.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import shapely

import lifecircle
from lifecircle.i18n import t
from lifecircle.outputs.maps import community_popup, esc, make_map, save_map

sync_api = pytest.importorskip("playwright.sync_api")

TILE_PREFIX = "https://tile.openstreetmap.org/"

# Each payload would set window.__lcPwned or open a dialog if it ever ran.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror="window.__lcPwned=1;alert(2)">',
    "${window.__lcPwned=3}`<svg onload=alert(4)>\\x3cimg src=x onerror=alert(5)\\x3e",
]
CJK_COMMUNITY = '赫尔辛基·社区 <b>"一"</b> & 二'
HOSTILE_COMMUNITY = "<img src=x onerror=window.__lcPwned=6>"

MAP_JS = "window[document.querySelector('.folium-map').id]"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def analysis():
    """The real analysis, with hostile and CJK names in copied tables."""
    real = lifecircle.analyze()
    pois = real.pois.copy()
    for i, name in enumerate(HOSTILE):
        pois.loc[pois.index[i], "name"] = name
    communities = real.communities.copy()
    communities.loc[communities.index[0], "name"] = CJK_COMMUNITY
    communities.loc[communities.index[1], "name"] = HOSTILE_COMMUNITY
    return dataclasses.replace(real, pois=pois, communities=communities)


@pytest.fixture(scope="module")
def map_files(analysis, tmp_path_factory) -> dict[str, Path]:
    """The map saved once per language."""
    folder = tmp_path_factory.mktemp("maps")
    return {lang: save_map(make_map(analysis, lang=lang), folder / f"map-{lang}.html")
            for lang in ("en", "zh")}


class Page:
    """An offline page on a saved map, with everything it logged."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1200, "height": 800})
        self.blocked: list[str] = []
        self.console_errors: list[tuple[str, str]] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())
        assert self.js(f"() => {MAP_JS}._loaded"), "Leaflet map did not load"

    def _route(self, route):
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.console_errors.append((msg.text, msg.location.get("url", "")))

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def count(self, selector: str) -> int:
        return self.js("s => document.querySelectorAll(s).length", selector)

    def real_errors(self) -> list[tuple[str, str]]:
        """Console errors other than the blocked tiles failing to load."""
        return [(text, url) for text, url in self.console_errors
                if not (text.startswith("Failed to load resource") and url.startswith(TILE_PREFIX))]

    def close_popup(self) -> None:
        """Close the open popup and wait until Leaflet's fade-out removed it."""
        # A promise, not wait_for_function, which costs about 2 s per call here.
        self.js(f"""() => new Promise(done => {{
            {MAP_JS}.closePopup();
            const poll = () => document.querySelector('.leaflet-popup') ? setTimeout(poll, 10) : done();
            poll();
        }})""")

    def toggle_layer(self, name: str) -> None:
        """Tick an overlay in the (collapsed) layer control with the mouse."""
        self.page.hover(".leaflet-control-layers")
        label = self.page.locator(".leaflet-control-layers-overlays label", has_text=name)
        assert label.count() == 1, name
        label.locator("input").click()


@pytest.fixture
def page_en(browser, map_files):
    page = Page(browser, map_files["en"])
    yield page
    page.page.close()


@pytest.fixture
def page_zh(browser, map_files):
    page = Page(browser, map_files["zh"])
    yield page
    page.page.close()


# ---------------------------------------------------------------- helpers


def expected_layer_names(analysis, lang: str) -> list[str]:
    config = analysis.config
    # the standard basis draws one isochrone per tier distance: 300 m and 500 m
    assert config.isochrone_limits() == [300, 500]
    return (
        [t("layer_streets", lang), t("layer_communities", lang)]
        + [t("layer_facilities", lang, label=f"{c.icon} {c.label(lang)}") for c in config.categories]
        + [t("layer_isochrones", lang, threshold=t("metres_value", lang, value=v)) for v in (300, 500)]
        + [t("layer_gaps", lang, label=c.label(lang)) for c in config.categories]
        + [t("layer_routes", lang)]
        + [t("layer_excluded", lang, label=t("list_sep", lang).join(sorted(
            {c.label(lang) for c in config.categories
             if not analysis.facilities.loc[analysis.facilities["category"] == c.key, "counted"].all()})))]
    )


def community_click_points(geom, n: int = 25) -> list[tuple[float, float]]:
    """Candidate (lat, lon) points inside a polygon, the most central first."""
    rep = geom.representative_point()
    points = [rep]
    minx, miny, maxx, maxy = geom.bounds
    for x in np.linspace(minx, maxx, n)[1:-1]:
        for y in np.linspace(miny, maxy, n)[1:-1]:
            p = shapely.Point(x, y)
            if geom.contains(p):
                points.append(p)
    inner = geom.buffer(-(maxx - minx) / 50)
    points.sort(key=lambda p: -inner.boundary.distance(p) if inner.contains(p) else 0)
    return [(p.y, p.x) for p in points]


def click_community(page: Page, geom, others=None) -> None:
    """Click the community's polygon at a point where it is the top element
    and no other community (``others``, e.g. a sliver cut by the extract's
    edge overlapping it) lies."""
    for lat, lon in community_click_points(geom):
        if others is not None and others.covers(shapely.Point(lon, lat)):
            continue
        xy = page.js(
            f"""([lat, lon]) => {{
                const m = {MAP_JS};
                const p = m.latLngToContainerPoint([lat, lon]);
                const r = m.getContainer().getBoundingClientRect();
                const x = r.left + p.x, y = r.top + p.y;
                const el = document.elementFromPoint(x, y);
                return el && el.classList.contains('lc-community') ? [x, y] : null;
            }}""",
            [lat, lon],
        )
        if xy:
            page.page.mouse.click(*xy)
            return
    pytest.fail("no point of the community polygon is clickable")


def open_poi(page: Page, poi_id: str, what: str = "Popup") -> None:
    """Open the popup or tooltip of the marker of ``poi_id`` through Leaflet."""
    found = page.js(
        f"""([id, what]) => {{
            let hit = null;
            {MAP_JS}.eachLayer(l => {{
                if (!hit && l.feature && l.feature.properties.poi_id === id && l.getLatLng) hit = l;
            }});
            if (hit) hit['open' + what]();
            return !!hit;
        }}""",
        [poi_id, what],
    )
    assert found, poi_id


def minutes_text(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}"


# ---------------------------------------------------------------- static checks


def test_no_network_assets_in_file(map_files):
    for path in map_files.values():
        html = path.read_text("utf-8")
        tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, flags=re.I)
        assert tags, "page has no script tags at all"
        assert not [tag for tag in tags if re.search(r"\b(?:src|href)\s*=", tag, flags=re.I)]
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html)
        assert not re.search(r"@import", html)
        # The only network URL the scripts use is the tile template.
        assert f"{TILE_PREFIX}{{z}}/{{x}}/{{y}}.png" in html
        assert "cdn." not in html and "code.jquery.com" not in html


def test_output_is_deterministic(analysis, tmp_path):
    first = save_map(make_map(analysis, lang="zh"), tmp_path / "a.html").read_bytes()
    second = save_map(make_map(analysis, lang="zh"), tmp_path / "b.html").read_bytes()
    assert first == second
    # branca's random 32-hex element ids are gone.
    assert not re.search(rb"_[0-9a-f]{32}\b", first)
    # The temporary file was renamed, not left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.html"]


def embedded_features(html: str) -> list[dict]:
    """The GeoJSON features folium embedded in the page's script, and those of
    the compact layers (lcFeatures: communities, isochrones, gaps, routes)."""
    found = re.findall(r"_add\((\{.*?\})\);\n|lcFeatures\((\{.*?\}), \d+\)", html)
    return [f for pair in found for f in json.loads(pair[0] or pair[1])["features"]]


def test_hostile_names_are_escaped_in_the_file(map_files):
    html = map_files["en"].read_text("utf-8")
    strings = [v for f in embedded_features(html) for k, v in f["properties"].items()
               if k in ("popup", "tooltip", "n")]  # n: a facility's escaped name, for its layer's popup
    for name in HOSTILE + [HOSTILE_COMMUNITY]:
        assert name not in html
        assert not any(name in s for s in strings)
        assert any(esc(name) in s for s in strings), name
    assert CJK_COMMUNITY not in html  # it holds markup characters too


# ---------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_page_loads_offline_without_errors(page_en):
    page_en.page.wait_for_timeout(300)
    assert page_en.page_errors == []
    assert page_en.real_errors() == []
    # Everything but the tiles came from the file itself.
    assert page_en.blocked, "the OSM tile layer should have tried to load"
    assert all(url.startswith(TILE_PREFIX) for url in page_en.blocked), page_en.blocked
    assert page_en.js("typeof L.version") == "string"
    assert page_en.js("typeof jQuery") == "function"


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_layer_control_lists_every_layer(browser, map_files, analysis, lang):
    page = Page(browser, map_files[lang])
    labels = page.js(
        "() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')]"
        ".map(l => l.textContent.trim())"
    )
    page.page.close()
    assert labels == expected_layer_names(analysis, lang)


@pytest.mark.browser
def test_attribution_and_legend_visible(page_en, analysis):
    attribution = page_en.page.locator(".leaflet-control-attribution")
    assert "© OpenStreetMap contributors" in attribution.inner_text()
    box = page_en.page.locator(".lc-attribution")
    assert box.is_visible()
    assert box.inner_text().startswith("© OpenStreetMap contributors")
    config = analysis.config
    n = len(config.categories)
    assert page_en.count(".lc-legend div:has(> i)") == n + 1
    # the legend states the basis: each category's distance, and the coverage rule
    rows = page_en.js("() => [...document.querySelectorAll('.lc-basis-row')]"
                      ".map(r => [r.dataset.category, r.querySelector('.lc-limit').textContent])")
    assert rows == [[c.key, f"{config.limit_m(c.key):g} m"] for c in config.categories]
    assert "50%" in page_en.page.locator(".lc-legend .lc-rule").inner_text()
    # and the run's warnings (no canteen, what was left out) are on the map
    notes = page_en.page.locator(".lc-notes")
    assert notes.is_visible()
    assert [li.inner_text() for li in notes.locator("li").all()] == analysis.warnings


@pytest.mark.browser
def test_every_feature_is_drawn(page_en, analysis):
    communities = analysis.communities
    pois = analysis.pois
    assert page_en.count("path.lc-community") == len(communities) > 0
    assert page_en.count(".leaflet-marker-icon.lc-poi") == len(pois) > 0
    for cat in analysis.config.categories:
        expected = int((pois["category"] == cat.key).sum())
        assert page_en.count(f".leaflet-marker-icon.lc-poi-{cat.key}") == expected, cat.key
    # Hidden until ticked, then one SVG path per isochrone / gap row.
    assert page_en.count("path.lc-isochrone") == 0
    page_en.toggle_layer(t("layer_isochrones", "en", threshold="500 m"))
    assert page_en.count("path.lc-isochrone") == int((analysis.isochrones["metres"] == 500).sum()) > 0
    key = analysis.gaps["category"].value_counts().index[0]
    page_en.toggle_layer(t("layer_gaps", "en", label=analysis.config.category(key).label("en")))
    # one shape per community and kind: its gap buildings merged for the map
    shapes = analysis.gaps[analysis.gaps["category"] == key].groupby(["community_id", "kind"]).ngroups
    assert page_en.count(f"path.lc-gap-{key}") == shapes > 0
    assert page_en.count("path.lc-gap") == page_en.count(f"path.lc-gap-{key}")
    # the walking routes to the nearest facilities: one line each
    assert page_en.count("path.lc-route") == 0
    page_en.toggle_layer(t("layer_routes", "en"))
    assert page_en.count("path.lc-route") == len(analysis.routes) > 0


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_clicking_a_community_shows_its_minutes(browser, map_files, analysis, lang, tmp_path):
    page = Page(browser, map_files[lang])
    communities = analysis.communities
    shown = communities.to_crs("EPSG:4326")
    # The biggest polygon (easiest to hit) and the CJK-named one.
    for idx in dict.fromkeys([communities.area.idxmax(), communities.index[0]]):
        row = communities.loc[idx]
        click_community(page, shown.geometry.loc[idx], shapely.union_all(shown.geometry.drop(idx).values))
        popup = page.page.locator(".leaflet-popup-content")
        popup.wait_for()
        assert popup.locator(".lc-id").inner_text() == row["community_id"]
        for cat in analysis.config.categories:
            cells = popup.locator(f'tr[data-category="{cat.key}"]')
            assert cells.locator(".lc-min").inner_text() == minutes_text(row[f"minutes_{cat.key}"])
            if cat.key in analysis.no_data:  # never ✗: no data
                assert cells.locator(".lc-covered").inner_text() == t("no_data", lang)
                continue
            covered = t("yes" if row[f"covered_{cat.key}"] else "no", lang)
            assert cells.locator(".lc-covered").inner_text().endswith(covered)
            share = int(cells.locator(".lc-share").inner_text().rstrip("%"))
            assert (share >= 50) == bool(row[f"covered_{cat.key}"])
            nearest = row[f"nearest_{cat.key}"] or (t("unnamed", lang) if row[f"nearest_id_{cat.key}"] else "—")
            assert cells.locator(".lc-nearest").inner_text() == nearest
        reached = t("reached_value", lang, reached=int(row["reached"]), n=int(row["n_categories"]))
        assert popup.locator(".lc-reached").inner_text() == reached
        if idx == communities.index[0]:
            assert popup.locator(".lc-name").text_content() == CJK_COMMUNITY
            page.page.wait_for_timeout(400)  # let the popup's fade-in finish
            page.page.screenshot(path=tmp_path / f"map-{lang}.png")
        page.close_popup()
    assert page.page_errors == [] and page.real_errors() == []
    page.page.close()


@pytest.mark.browser
def test_hostile_names_display_as_text_and_run_nothing(page_en, analysis, tmp_path):
    pois = analysis.pois
    for i, name in enumerate(HOSTILE):
        poi_id = pois.iloc[i]["poi_id"]
        open_poi(page_en, poi_id, "Popup")
        content = page_en.page.locator(".leaflet-popup-content")
        assert content.locator(".lc-name").text_content() == name
        assert content.locator(".lc-id").text_content() == poi_id
        assert content.locator("img, script, svg").count() == 0
        page_en.close_popup()
        open_poi(page_en, poi_id, "Tooltip")
        assert page_en.page.locator(".leaflet-tooltip").last.text_content() == name
    # The hostile community name, in its tooltip and popup.
    page_en.js(f"""() => {MAP_JS}.eachLayer(l => {{
        if (l.feature && l.feature.properties.community_id === {analysis.communities.iloc[1]['community_id']!r})
            {{ l.openTooltip(l.getCenter()); l.openPopup(l.getCenter()); }}
    }})""")
    assert page_en.page.locator(".leaflet-popup-content .lc-name").text_content() == HOSTILE_COMMUNITY
    assert page_en.page.locator(".leaflet-tooltip").last.text_content() == HOSTILE_COMMUNITY
    # Give any onerror handler time to fire.
    page_en.page.wait_for_timeout(500)
    page_en.page.screenshot(path=tmp_path / "hostile.png")
    assert page_en.dialogs == []
    assert page_en.js("window.__lcPwned === undefined")
    assert page_en.count("body img[src='x'], .leaflet-pane script") == 0
    assert page_en.page_errors == []


@pytest.mark.browser
def test_hostile_category_config_is_inert(browser, analysis, tmp_path):
    """Labels, icons and colours from a user TOML are escaped/validated too."""
    cats = list(analysis.config.categories)
    # the first category with facilities on the map (the extract has no canteen)
    i, first = next((i, c) for i, c in enumerate(cats) if (analysis.pois["category"] == c.key).any())
    hostile = dataclasses.replace(
        first, label_en="<img src=x onerror=window.__lcPwned=7>", icon="<b>!</b>",
        color="red; background: url(https://example.com/x.png)",
    )
    cats[i] = hostile
    config = dataclasses.replace(analysis.config, categories=tuple(cats))
    path = save_map(make_map(dataclasses.replace(analysis, config=config), "en"),
                    tmp_path / "map.html")
    assert "example.com" not in path.read_text("utf-8")
    page = Page(browser, path)
    labels = page.js(
        "() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')]"
        ".map(l => l.textContent.trim())"
    )
    assert t("layer_facilities", "en", label=f"{hostile.icon} {hostile.label_en}") in labels
    marker = page.page.locator(f".lc-poi-{first.key} span").first
    assert marker.text_content() == hostile.icon
    assert marker.evaluate("e => getComputedStyle(e).borderTopColor") == "rgb(85, 85, 85)"
    page.page.wait_for_timeout(300)
    assert page.dialogs == [] and page.js("window.__lcPwned === undefined")
    assert page.count(".leaflet-control-layers img, .lc-poi b") == 0
    assert page.page_errors == [] and page.real_errors() == []
    page.page.close()


def test_one_isochrone_layer_per_threshold(tmp_path):
    """--isochrones 5,10,15: three layers, each with one polygon per community."""
    a = lifecircle.analyze(config=lifecircle.load_config(minutes=10), isochrone_limits=[5, 10, 15])
    html = save_map(make_map(a, lang="en"), tmp_path / "map.html").read_text("utf-8")
    for minutes in (5, 10, 15):
        assert html.count(t("layer_isochrones", "en", threshold=f"{minutes} min")) == 1
    per_limit = a.isochrones.groupby("minutes").size()
    assert per_limit.to_dict() == {5: len(a.communities), 10: len(a.communities), 15: len(a.communities)}
    # a longer walk reaches at least as far: each community's polygons nest
    iso = a.isochrones.set_index(["community_id", "minutes"]).geometry
    for cid in a.communities["community_id"]:
        assert iso[(cid, 15)].area >= iso[(cid, 10)].area >= iso[(cid, 5)].area


def test_no_popup_contradicts_the_coverage_rule(analysis):
    """Every community popup's ✓/✗ agrees with its share against min_share,
    and with the coverage table, for every category."""
    cfg = analysis.config
    checked = 0
    for _, row in analysis.communities.iterrows():
        html = community_popup(row, cfg, "en")
        for cat in cfg.keys:
            if cat in analysis.no_data:
                assert re.search(rf'data-category="{cat}">.*?lc-covered"><i class="lc-no-data">no data</i>', html)
                checked += 1
                continue
            cell = re.search(rf'data-category="{cat}">.*?lc-share">(\d+)%</td><td class="lc-covered">(.)', html)
            share, flag = int(cell.group(1)), cell.group(2) == "✓"
            assert flag == bool(row[f"covered_{cat}"]) == (share >= cfg.min_share * 100), (row["name"], cat)
            checked += 1
    assert checked == len(analysis.communities) * len(cfg.keys)

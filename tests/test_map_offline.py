"""The map without tiles (intranets, offline laptops), its furniture, its tile choices and its size.

Real analysis of the bundled central-Helsinki extract; pages opened in
headless Chromium with every request off the machine aborted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from lifecircle import cli
from lifecircle.errors import ConfigError
from lifecircle.i18n import level_title, localize, t
from lifecircle.outputs import basemap, compact
from lifecircle.outputs.maps import DISPLAY_TOLERANCE_M, community_popup, make_map, save_map, score_color
from lifecircle.outputs.tiles import OSM_TILES, check_tiles

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
MAP_JS = "window[document.querySelector('.folium-map').id]"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: Rounding to 6 decimals moves a point by at most ~0.08 m at 60° N.
ROUNDING_M = 0.15

#: The size budget stated in the README (bytes).
BUDGET_BASE, BUDGET_PER_STREET, BUDGET_PER_COMMUNITY, BUDGET_PER_FACILITY = 350_000, 16, 10_000, 600

GCJ02_TILES = [
    "https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&x={x}&y={y}&z={z}&style=8",
    "https://wprd02.amap.com/appmaptile?x={x}&y={y}&z={z}",
    "https://maponline0.bdimg.com/tile/?qt=vtile&x={x}&y={y}&z={z}",
    "https://api.map.baidu.com/tile/{z}/{x}/{y}",
]
BAD_TILES = ["ftp://tiles.example.org/{z}/{x}/{y}.png", "tiles.example.org/{z}/{x}/{y}.png",
             "https://tiles.example.org/{z}/{x}.png", "https://tiles.example.org/{{z}}/{x}/{y}.png",
             "https://tiles.example.org/{z}/{x}/{y}.png?a=<b>"]
TIANDITU = ("http://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec&STYLE=default"
            "&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY")
HOSTILE_CREDIT = '<img src=x onerror="window.__lcPwned=1">© Example {{ 7*7 }}'


# ---------------------------------------------------------------- tile choices (no browser)


@pytest.mark.parametrize("url", GCJ02_TILES)
def test_gcj02_tile_services_are_refused(url):
    with pytest.raises(ConfigError, match="GCJ-02|BD-09") as e:
        check_tiles(url)
    assert "hundreds of metres" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("url", BAD_TILES)
def test_malformed_tile_urls_are_refused(url):
    with pytest.raises(ConfigError, match="^--tiles: "):
        check_tiles(url)


def test_tile_choices():
    assert check_tiles("osm").url == OSM_TILES and check_tiles("OSM").attribution is None
    assert check_tiles("none") is None
    tianditu = check_tiles(TIANDITU)
    assert tianditu.url == TIANDITU and tianditu.attribution == "Tiles: t0.tianditu.gov.cn"
    assert check_tiles(TIANDITU, " 天地图 ").attribution == "天地图"


def run_cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = cli.run([str(a) for a in args])
    return status, err.getvalue()


@pytest.mark.parametrize("url", [GCJ02_TILES[0], BAD_TILES[0], BAD_TILES[2]])
def test_cli_refuses_bad_tiles_in_one_line_before_any_work(tmp_path, url):
    out = tmp_path / "out"
    status, err = run_cli(["analyze", "--tiles", url, "--out", out])
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("Error: --tiles: "), err
    assert ("GCJ-02" in err) == (url in GCJ02_TILES)
    assert not out.exists()


# ---------------------------------------------------------------- what the page holds (no browser)


def test_compact_coordinates_round_trip():
    """Any lon/lat, including the extremes and long jumps, comes back rounded to 6 decimals."""
    rng = np.random.default_rng(3)
    xy = np.column_stack([rng.uniform(-180, 180, 500), rng.uniform(-90, 90, 500)])
    xy = np.vstack([xy, [[180, 90], [-180, -90], [0, 0], [179.9999995, -0.0000004]]])
    back = compact.decode_coords(compact.encode_coords(xy))
    assert np.array_equal(np.rint(back * 1e6), np.rint(xy * 1e6))
    text = compact.encode_coords(xy)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # mixed geometries keep their nesting
    geoms = [shapely.Point(1, 2), shapely.LineString([(0, 0), (1, 1)]),
             shapely.box(0, 0, 2, 2).difference(shapely.box(0.5, 0.5, 1, 1)),
             shapely.MultiPolygon([shapely.box(5, 5, 6, 6), shapely.box(7, 7, 8, 8)]),
             shapely.MultiLineString([[(0, 0), (3, 3)], [(4, 4), (5, 6), (7, 8)]])]
    decoded = compact.decode_features(compact.compact_features(geoms, [{"i": i} for i in range(5)]))
    assert [p["i"] for _, p in decoded] == list(range(5))
    assert all(g.equals(d) for g, (d, _) in zip(geoms, decoded))



def test_street_trails_draw_every_street_once():
    """Chained streets: each line once, in one direction, and each trail continues
    where the line before it ended (a grid, a loop street, a cycle, parallel lines,
    a lone line)."""
    grid = [((x, y), (x + 1, y)) for x in range(4) for y in range(4)] + \
           [((x, y), (x, y + 1)) for x in range(5) for y in range(3)]
    loop = [((10, 10), (10, 10))]
    cycle = [((20, 0), (21, 0)), ((21, 0), (21, 1)), ((20, 0), (21, 1))]
    parallel = [((30, 0), (31, 0)), ((30, 0), (31, 0)), ((31, 0), (30, 0))]
    lone = [((40, 0), (41, 1))]
    lines = grid + loop + cycle + parallel + lone
    start, end = (np.array([line[k] for line in lines], dtype=float) for k in (0, 1))
    order, forward, first = basemap.street_trails(start, end)
    assert sorted(order) == list(range(len(lines))) and first[0]
    a = np.where(forward[:, None], start[order], end[order])
    b = np.where(forward[:, None], end[order], start[order])
    # a trail goes on from where its last line ended
    assert (a[1:][~first[1:]] == b[:-1][~first[1:]]).all()
    # far fewer trails than lines: the grid needs one per pair of odd crossings
    assert first.sum() < len(lines) / 3
    # and the points of the trails: each line's points once, the shared one not repeated
    ptr = np.arange(len(lines) + 1) * 2
    take, counts = basemap._trail_points(ptr, order, forward, first)
    assert counts.sum() == len(take) == 2 * len(lines) - (~first).sum()


def page_layers(html: str) -> list[dict]:
    """The data of every compact layer in the page (lcFeatures' argument)."""
    return [json.loads(d) for d in re.findall(r"lcFeatures\((\{.*?\}), \d+\)", html)]


def shown_features(html: str, class_name: str, crs) -> tuple[list[dict], gpd.GeoSeries]:
    """Properties and geometry (back in ``crs``) of the features of the layers whose
    className starts with ``class_name``, decoded from the page."""
    options = [o for o in re.findall(r"var options = (\{.*?\});\n", html) if '"lc-streets"' not in o]
    datas = re.findall(r"lcFeatures\((\{.*?\}), \d+\)", html)
    assert len(options) == len(datas)
    props, geoms = [], []
    for option, data in zip(options, datas):
        if json.loads(option).get("className", "").startswith(class_name):
            for geom, p in compact.decode_features(json.loads(data)):
                props.append(p)
                geoms.append(geom)
    return props, gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(crs)


@pytest.fixture(scope="module")
def pages(analysis, tmp_path_factory) -> dict[str, Path]:
    """The default map (OSM tiles) in both languages, and the tile variants, saved once."""
    folder = tmp_path_factory.mktemp("offline-maps")
    out = {lang: save_map(make_map(analysis, lang), folder / f"map-{lang}.html") for lang in ("en", "zh")}
    out["none"] = save_map(make_map(analysis, "en", tiles="none"), folder / "map-none.html")
    out["custom"] = save_map(make_map(analysis, "en", tiles="https://tiles.example.test/{z}/{x}/{y}.png",
                                      tiles_attribution=HOSTILE_CREDIT), folder / "map-custom.html")
    return out


def test_community_polygons_move_less_than_the_tolerance(analysis, pages):
    """Simplification and rounding keep every community within the stated tolerance of
    its full geometry, and the analysis keeps the full geometry."""
    html = pages["en"].read_text("utf-8")
    props, shown = shown_features(html, "lc-community", analysis.crs)
    full = analysis.communities.set_index("community_id").geometry
    assert [p["community_id"] for p in props] == list(analysis.communities["community_id"])
    moved = [shapely.hausdorff_distance(g, full[p["community_id"]], densify=0.25) for p, g in zip(props, shown)]
    assert max(moved) <= DISPLAY_TOLERANCE_M["communities"] + ROUNDING_M
    # the page really is lighter than the data: fewer vertices, not just rounded ones
    assert shapely.get_num_coordinates(shown.values).sum() < shapely.get_num_coordinates(full.values).sum()


def test_community_popups_share_their_markup(analysis, pages):
    """The popups are written as shared parts and their own pieces, and read back
    exactly as :func:`community_popup` renders them."""
    html = pages["en"].read_text("utf-8")
    props, _ = shown_features(html, "lc-community", analysis.crs)
    rows = analysis.communities.to_dict("records")
    assert [p["popup"] for p in props] == [community_popup(row, analysis.config, "en") for row in rows]
    layer = next(d for d in page_layers(html) if "parts" in d)
    coded = [f["properties"]["popup"] for f in layer["features"]]
    assert all(isinstance(c, list) for c in coded)
    # most of each popup is shared: its table's markup, the labels, the common values
    assert sum(len(compact.script_json(c)) for c in coded) < sum(len(p["popup"]) for p in props) / 3
    texts = ["<b>a</b>x<i>y</i>", "<b>a</b>z<i>y</i>", "", "plain"]
    parts, coded = compact.code_strings(texts)
    assert [compact.decode_strings(parts, c) for c in coded] == texts
    assert parts == ["<b>", "a", "</b>", "<i>", "y", "</i>"]


def test_gap_buildings_are_merged_per_community_within_the_tolerance(analysis, pages):
    html = pages["en"].read_text("utf-8")
    props, shown = shown_features(html, "lc-gap", analysis.crs)
    gaps = analysis.gaps
    groups = gaps.groupby(["community_id", "category", "kind"])
    assert len(props) == groups.ngroups < len(gaps)
    # each shape covers its community's gap buildings of that category, and nothing else
    classes = re.findall(r'"className": ?"lc-gap lc-gap-(\w+)"', html)
    assert classes == list(analysis.config.keys)
    full = {k: shapely.union_all(g.geometry.values) for k, g in groups}
    for p, geom in zip(props, shown):
        kind = "area" if "community area" in p["tooltip"] else "building"
        matches = [k for k in full if k[0] == p["community_id"] and k[2] == kind
                   and shapely.hausdorff_distance(geom, full[k], densify=0.25)
                   <= DISPLAY_TOLERANCE_M["gaps"] + ROUNDING_M]
        assert matches, p


def test_map_is_within_the_size_budget(analysis, pages):
    n_streets = len(analysis.study.net.geoms)
    budget = (BUDGET_BASE + BUDGET_PER_STREET * n_streets + BUDGET_PER_COMMUNITY * len(analysis.communities)
              + BUDGET_PER_FACILITY * len(analysis.pois))
    for lang in ("en", "zh"):
        size = pages[lang].stat().st_size
        assert size <= budget, (lang, size, budget)
    # GeoJSON of the same features, rounded the same way, would be far bigger
    html = pages["en"].read_text("utf-8")
    text_bytes = sum(len(d["text"]) for d in page_layers(html))
    geojson_bytes = sum(len(json.dumps(shapely.geometry.mapping(g)))
                        for d in page_layers(html) for g, _ in compact.decode_features(d))
    assert text_bytes * 3 < geojson_bytes


def test_jinja_syntax_in_names_is_text(analysis, tmp_path):
    """branca renders every map script as a template again: names must not be evaluated there."""
    communities = analysis.communities.copy()
    communities.loc[communities.index[0], "name"] = "lcX{{ 7*7 }}Yq lcA{% if true %}lcB{% endif %}lcC"
    communities.loc[communities.index[0], "community_id"] = "user/{{ 6*7 }}"
    poisoned = dataclasses.replace(analysis, communities=communities, source="lcS{{ 5*5 }}.osm.pbf",
                                   warnings=["{# comment #}lcW"])
    html = save_map(make_map(poisoned, "en"), tmp_path / "map.html").read_text("utf-8")
    props, _ = shown_features(html, "lc-community", analysis.crs)
    assert "lcX&#123;&#123; 7*7 &#125;&#125;Yq lcA&#123;% if true %&#125;lcB" in props[0]["popup"]
    assert props[0]["community_id"] == "user/\uff5b\uff5b 6*7 \uff5d\uff5d"
    for evaluated in ("lcX49Yq", "lcAlcBlcC", "lcS25.osm", ">lcW<", "user/42"):
        assert evaluated not in html
    assert "lcS&#123;&#123; 5*5 &#125;&#125;.osm.pbf" in html and "&#123;# comment #&#125;lcW" in html


# ---------------------------------------------------------------- in the browser


sync_api = pytest.importorskip("playwright.sync_api")


class OfflinePage:
    """A saved map opened with every request but the file itself aborted."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1200, "height": 800})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.goto(path.as_uri())
        assert self.js(f"() => {MAP_JS}._loaded")

    def _route(self, route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def toggle(self, name: str) -> None:
        self.page.hover(".leaflet-control-layers")
        label = self.page.locator(".leaflet-control-layers-overlays label", has_text=name)
        assert label.count() == 1, name
        label.locator("input").click()

    def styles(self, selector: str, props: list[str]) -> list[list[str]]:
        return self.js("([s, props]) => [...document.querySelectorAll(s)].map(e => {"
                       " const st = getComputedStyle(e); return props.map(p => st.getPropertyValue(p)); })",
                       [selector, props])

    def tile_layers(self) -> list[str]:
        return self.js(f"() => {{ const out = []; {MAP_JS}.eachLayer(l => {{ if (l instanceof L.TileLayer) "
                       "out.push(l._url); }); return out; }")

    def attribution(self) -> tuple[str, int]:
        return self.js("() => { const a = document.querySelector('.leaflet-control-attribution');"
                       " return [a.textContent, a.querySelectorAll('img, script').length]; }")


def rgb(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def street_latlngs(page: OfflinePage) -> list[list[list[float]]]:
    return page.js(f"""() => {{
        let found = null;
        {MAP_JS}.eachLayer(l => {{ if (l.options && l.options.className === 'lc-streets') found = l; }});
        return found && found.getLatLngs().map(line => line.map(p => [p.lat, p.lng]));
    }}""")


def painted_pixels(page: OfflinePage) -> int:
    """Pixels drawn on the street pane's canvas."""
    return page.js("""() => {
        const c = document.querySelector('.leaflet-lc-streets-pane canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
    }""")


def expected_notes(analysis, lang: str) -> list[str]:
    """The notes of the page: the run's warnings in the page's language, of which
    one names each category that has no facility in the tables."""
    notes = [localize(w, lang) for w in analysis.warnings]
    present = set(analysis.pois["category"])
    for c in analysis.config.categories:
        if c.key not in present:
            named = f"「{c.label(lang)}」" if lang == "zh" else repr(c.key)  # as warn_no_facilities names it
            assert sum(named in n for n in notes) == 1, c.key
    return notes


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_map_reads_with_every_tile_blocked(browser, pages, analysis, lang):
    page = OfflinePage(browser, pages[lang])
    config = analysis.config
    # the streets of the data are drawn, chained into fewer polylines: every street
    # within the display tolerance of a drawn line, and every drawn line of the streets
    lines = street_latlngs(page)
    net = analysis.study.net
    assert lines is not None and 100 < len(lines) < len(net.geoms)
    shown = gpd.GeoSeries([shapely.LineString([(lon, lat) for lat, lon in line]) for line in lines],
                          crs="EPSG:4326").to_crs(analysis.crs).values
    streets = np.asarray(net.geoms)
    near = basemap.STREET_TOLERANCE_M + ROUNDING_M
    # (the union of buffers is the buffer of the union, and 20x faster in GEOS)
    assert shapely.covers(shapely.union_all(shapely.buffer(shown, near)), streets).all()
    assert shapely.covers(shapely.union_all(shapely.buffer(streets, near)), shown).all()
    # each street drawn once: the drawn length is the streets' (simplified: a little shorter)
    assert 0.99 < shapely.length(shown).sum() / shapely.length(streets).sum() <= 1
    assert painted_pixels(page) > 5000
    # the only requests that left the file were tiles, and they were refused
    assert page.blocked and all(u.startswith("https://tile.openstreetmap.org/") for u in page.blocked)

    # title: the data, the level, the date
    title = page.page.locator(".lc-title h1").inner_text()
    assert title == f"{analysis.source} · {level_title(config, lang)}"
    assert page.page.locator(".lc-title .lc-date").inner_text() == analysis.data_date
    assert level_title(config, lang) in page.page.title()

    # each isochrone threshold in its own colour, none of them a score colour
    score_fills = {s[0] for s in page.styles("path.lc-community", ["fill"])}
    judged = len(config.categories) - len(analysis.no_data)  # a category without data is not scored
    assert score_fills and score_fills <= {rgb(score_color(k / judged)) for k in range(judged + 1)}
    colours = []
    for limit in config.isochrone_limits():
        name = t("layer_isochrones", lang, threshold=t("metres_value", lang, value=f"{limit:g}"))
        page.toggle(name)
        strokes = {s[0] for s in page.styles("path.lc-isochrone", ["stroke"])}
        assert len(page.styles("path.lc-isochrone", ["stroke"])) == int((analysis.isochrones["metres"] == limit).sum())
        assert len(strokes) == 1, strokes
        colours += strokes
        page.toggle(name)
    assert len(set(colours)) == len(config.isochrone_limits()) == 2
    assert not set(colours) & score_fills
    legend_iso = page.styles(".lc-iso-row .lc-swatch", ["border-top-color"])
    assert [s[0] for s in legend_iso] == colours

    # gaps: hatched, dashed, in no score colour
    key = analysis.gaps["category"].value_counts().index[0]
    page.toggle(t("layer_gaps", lang, label=config.category(key).label(lang)))
    gap_styles = page.styles(f"path.lc-gap-{key}", ["fill", "stroke-dasharray", "stroke"])
    assert gap_styles and all(s[0] == 'url("#lc-hatch")' and s[1] != "none" for s in gap_styles)
    assert not {s[2] for s in gap_styles} & (score_fills | set(colours))

    # the run's warnings, in the page's language
    notes = page.page.locator(".lc-notes > ul > li")
    assert [li.inner_text() for li in notes.all()] == expected_notes(analysis, lang)
    assert page.page.locator(".lc-notes").is_visible()

    # the legend explains every facility icon with its marker colour
    rows = page.js("() => [...document.querySelectorAll('.lc-basis-row')].map(r => [r.dataset.category,"
                   " r.querySelector('.lc-swatch-poi').textContent,"
                   " getComputedStyle(r.querySelector('.lc-swatch-poi')).borderTopColor])")
    assert rows == [[c.key, c.icon, rgb(c.color)] for c in config.categories]
    if lang == "zh":
        labels = page.js("() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')]"
                         ".map(l => l.textContent.trim())")
        assert labels and all(CJK.search(label) for label in labels), labels
        headings = page.js("() => [...document.querySelectorAll('.lc-legend b, .lc-notes b')].map(b => b.textContent)")
        assert all(CJK.search(h) for h in headings), headings
    assert page.errors == []
    SCREENSHOTS.mkdir(exist_ok=True)
    page.page.mouse.move(600, 400)
    page.page.wait_for_timeout(300)
    page.page.screenshot(path=SCREENSHOTS / f"map-offline-{lang}.png")
    page.page.close()


@pytest.mark.browser
def test_tiles_none_draws_no_tile_layer(browser, pages):
    page = OfflinePage(browser, pages["none"])
    assert page.tile_layers() == []
    assert page.blocked == []
    text, tags = page.attribution()
    assert "© OpenStreetMap contributors" in text and tags == 0
    assert len(street_latlngs(page)) > 100 and painted_pixels(page) > 5000
    assert page.errors == []
    page.page.close()


@pytest.mark.browser
def test_custom_tiles_with_escaped_attribution(browser, pages):
    page = OfflinePage(browser, pages["custom"])
    assert page.tile_layers() == ["https://tiles.example.test/{z}/{x}/{y}.png"]
    assert page.blocked and all(u.startswith("https://tiles.example.test/") for u in page.blocked)
    text, tags = page.attribution()
    # the user's credit shows as text, next to the data's OSM credit
    assert HOSTILE_CREDIT in text and "© OpenStreetMap contributors" in text and tags == 0
    page.page.wait_for_timeout(200)
    assert page.js("window.__lcPwned === undefined") and page.errors == []
    page.page.close()

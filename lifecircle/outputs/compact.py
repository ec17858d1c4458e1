"""Compact geometry for the map page: the big layers' coordinates as one string each.

GeoJSON spends about 24 bytes on a rounded coordinate pair
(``[24.945448, 60.168441], ``). Isochrones, gap areas and walking routes
have hundreds of thousands of vertices in a district, so their layers carry
every coordinate as an integer (degrees × 10^6, the rounding of
:data:`COORD_DECIMALS`) minus the previous one, zig-zag mapped and written
5 bits per character, with a continuation bit, as in the "encoded polyline"
format, in the URL-safe base64 alphabet: 4-6 bytes a pair. The page's
script (:data:`DECODE_JS`) rebuilds plain GeoJSON before Leaflet sees it.

The alphabet has no ``<``, quote, backslash or brace, so the string is safe
in a script and in the Jinja2 pass branca gives every rendered script.

What features repeat is written once per layer: their distinct styles, and
the pieces their popups share (:func:`code_strings`: a community popup's
table markup and labels). The layers' scripts go into the page as they are
(:class:`RawScriptLayer`), not compiled once more as templates by branca.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pyproj
import shapely
from branca.element import Element
from folium.map import Layer
from jinja2 import Template

from .. import settings

#: Marks a slot of a shared popup template (a control character: esc leaves it, OSM names hardly hold it).
SLOT = "\x01"

#: Decimal places kept for lon/lat: 1e-6 degrees is about 0.1 m.
COORD_DECIMALS = 6

_ALPHABET_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET = np.frombuffer(_ALPHABET_TEXT.encode("ascii"), dtype=np.uint8)


def encode_coords(xy: np.ndarray, decimals: int = COORD_DECIMALS) -> str:
    """Encode ``(lon, lat)`` rows as one string of chained (lat, lon) differences.

    Parameters
    ----------
    xy
        Array (n, 2) of longitude, latitude.
    decimals
        Decimal places kept.

    Returns
    -------
    str
        :func:`decode_coords` (and the page's ``lcCoords``) invert it.
    """
    if len(xy) == 0:
        return ""
    ints = np.rint(np.asarray(xy, dtype=float)[:, ::-1] * 10 ** decimals).astype(np.int64).ravel()
    deltas = np.concatenate([ints[:2], ints[2:] - ints[:-2]])
    zig = (deltas << 1) ^ (deltas >> 63)
    # characters per value: one per 5 bits
    n = np.ones(len(zig), dtype=np.int64)
    rest = zig >> 5
    while True:
        more = rest > 0
        if not more.any():
            break
        n += more
        rest >>= 5
    # the k-th character of a value: its k-th 5 bits, plus 32 unless it is the last
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    sixes = ((np.repeat(zig, n) >> (5 * k)) & 31) | ((k < np.repeat(n - 1, n)) << 5)
    return _ALPHABET[sixes].tobytes().decode("ascii")


def decode_coords(text: str, decimals: int = COORD_DECIMALS) -> np.ndarray:
    """Invert :func:`encode_coords`: an array (n, 2) of ``(lon, lat)``."""
    six = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lookup = np.zeros(256, dtype=np.int64)
    lookup[_ALPHABET] = np.arange(64)
    values, value, shift = [], 0, 0
    for b in lookup[six].tolist():
        value |= (b & 31) << shift
        shift += 5
        if b < 32:
            values.append(-((value + 1) >> 1) if value & 1 else value >> 1)
            value, shift = 0, 0
    latlon = np.cumsum(np.asarray(values, dtype=np.int64).reshape(-1, 2), axis=0) / 10 ** decimals
    return latlon[:, ::-1]


@lru_cache(maxsize=8)
def _transformer(crs: pyproj.CRS) -> pyproj.Transformer:
    # building one looks up the PROJ database: longer than transforming a city's streets
    return pyproj.Transformer.from_crs(crs, settings.output_crs, always_xy=True)


def to_lonlat(xy: np.ndarray, crs: Any) -> np.ndarray:
    """``(x, y)`` rows in ``crs`` as ``(lon, lat)`` rows of :data:`settings.output_crs
    <lifecircle.settings.output_crs>` (what geopandas' ``to_crs`` computes, without
    building a transformer per call)."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        return xy
    lon, lat = _transformer(pyproj.CRS.from_user_input(crs)).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


_TYPES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}


def nestings(geoms: np.ndarray) -> tuple[list[str], list[Any]]:
    """The type and coordinate nesting of each geometry, as :func:`decode_features` reads them.

    The nesting is a number of points (Point, LineString), a list of ring
    sizes (Polygon), or a list of those (Multi*).

    Raises
    ------
    TypeError
        For a geometry the map cannot draw (a collection, a bare ring).
    """
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, list(_TYPES))
    if bad.any():
        raise TypeError(f"cannot draw a {geoms[bad][0].geom_type} on the map")
    parts, owner = shapely.get_parts(geoms, return_index=True)
    part_n: list[Any] = shapely.get_num_coordinates(parts).tolist()
    polygons = np.flatnonzero(shapely.get_type_id(parts) == 3)
    if len(polygons):
        rings, ring_owner = shapely.get_rings(parts[polygons], return_index=True)
        sizes = shapely.get_num_coordinates(rings).tolist()
        bounds = np.searchsorted(ring_owner, np.arange(len(polygons) + 1)).tolist()
        for k, i in enumerate(polygons.tolist()):
            part_n[i] = sizes[bounds[k]:bounds[k + 1]]
    first = np.searchsorted(owner, np.arange(len(geoms) + 1)).tolist()
    names = [_TYPES[k] for k in types.tolist()]
    nested = [part_n[first[i]:first[i + 1]] if names[i].startswith("Multi") else part_n[first[i]]
              for i in range(len(geoms))]
    return names, nested


#: The feature properties written as :func:`code_strings` lists.
CODED = ("popup", "tooltip")


def compact_features(geoms: Iterable[Any], props: Iterable[dict]) -> dict:
    """The layer data the page decodes into a GeoJSON FeatureCollection.

    Each feature's ``style`` property is replaced by an index ``s`` into
    one list of distinct styles (a district's routes share eight), and its
    ``popup`` and ``tooltip`` (HTML, or a list of HTML pieces to join) by
    :func:`code_strings`' lists: the layer's ``parts`` hold what they repeat.

    Returns
    -------
    dict
        ``{"text": coordinates, "type": usual type, "styles": [...], "parts": [...],
        "features": [{"n", "properties"} and "type" where not the usual]}``.
    """
    # a GeoSeries as its array (list() would fetch its items one by one)
    geoms = np.asarray(geoms if hasattr(geoms, "__len__") else list(geoms), dtype=object)
    props = [dict(p) for p in props]
    styles: dict[str, int] = {}
    style_of: dict[int, int] = {}  # id of a style dict (alive in props throughout) -> its index
    style_list, features = [], []
    texts = [p[key] for p in props for key in CODED if isinstance(p.get(key), (str, list))]
    parts, coded = code_strings(texts)
    coded_texts = iter(coded)
    names, nested = nestings(geoms)
    # the layer's usual geometry type is written once: features of another type carry theirs
    usual = min(sorted(set(names)), key=lambda t: -names.count(t)) if names else "Point"
    for name, n, p in zip(names, nested, props):
        style = p.pop("style", None)
        if style is not None:
            # most features share one style object: compared by value once per object
            if id(style) not in style_of:
                key = repr(sorted(style.items()))
                if key not in styles:
                    styles[key] = len(style_list)
                    style_list.append(style)
                style_of[id(style)] = styles[key]
            p["s"] = style_of[id(style)]
        for key in CODED:
            if isinstance(p.get(key), (str, list)):
                p[key] = next(coded_texts)
        features.append({"n": n, "properties": p} if name == usual else {"type": name, "n": n, "properties": p})
    text = encode_coords(shapely.get_coordinates(geoms)) if len(geoms) else ""
    data = {"text": text, "type": usual, "styles": style_list, "features": features}
    if parts:
        data["parts"] = parts
    return data


#: Where an HTML string is cut for :func:`code_strings`: around each run of tags.
_TAG_RUN = re.compile(r"((?:<[^>]*>)+)")


def code_strings(texts: list[str | list[str]]) -> tuple[list[str], list[list[int | str] | str]]:
    """Write many similar HTML strings (a layer's popups, tooltips) as references to shared parts.

    A string is cut around its runs of tags; a list is taken as the pieces to
    join (a tooltip: its template's text between the names). A piece found
    more than once among all of them becomes a shared part, written once,
    and each string becomes a list of part indices and (unshared) pieces
    (or stays a string, if none of its pieces is shared).
    Joining a list's items, parts looked up, gives the string back exactly
    (:func:`decode_strings`, and ``lcFeatures`` in the page): a community
    popup's table markup, labels and common values are then written once
    per layer, not once per community.

    Returns
    -------
    tuple
        ``(parts, coded)``: the shared parts (in order of first use) and one list
        (or string) per string.
    """
    pieces = [[x for x in (_TAG_RUN.split(text) if isinstance(text, str) else text) if x] for text in texts]
    seen: dict[str, int] = {}
    for row in pieces:
        for x in row:
            seen[x] = seen.get(x, 0) + 1
    index: dict[str, int] = {}
    coded = []
    for row in pieces:
        out: list[int | str] = []
        for x in row:
            if seen[x] > 1:
                out.append(index.setdefault(x, len(index)))
            elif out and isinstance(out[-1], str):
                out[-1] += x
            else:
                out.append(x)
        # nothing shared: the string itself
        coded.append(out if any(isinstance(x, int) for x in out) else "".join(out))
    return list(index), coded


def decode_strings(parts: list[str], coded: list[int | str] | str) -> str:
    """Invert :func:`code_strings` for one string."""
    if isinstance(coded, str):
        return coded
    return "".join(parts[x] if isinstance(x, int) else x for x in coded)


def decode_features(data: dict) -> list[tuple[Any, dict]]:
    """Invert :func:`compact_features` (as the page does): ``(geometry, properties)`` pairs."""
    xy = decode_coords(data["text"])
    k = 0

    def points(n: int) -> np.ndarray:
        nonlocal k
        k += n
        return xy[k - n:k]

    def build(kind: str, n: Any) -> Any:
        if kind == "Point":
            return shapely.Point(points(n)[0])
        if kind == "LineString":
            return shapely.LineString(points(n))
        if kind == "Polygon":
            rings = [points(m) for m in n]
            return shapely.Polygon(rings[0], rings[1:])
        return getattr(shapely, kind)([build(kind.removeprefix("Multi"), part) for part in n])

    def properties(p: dict) -> dict:
        return {k: decode_strings(data.get("parts", []), v) if k in CODED and isinstance(v, list) else v
                for k, v in p.items()}

    return [(build(f.get("type", data["type"]), f["n"]), properties(f["properties"])) for f in data["features"]]


def script_json(data: Any) -> str:
    """``data`` as JSON to paste into a ``<script>`` that branca renders once more as a template.

    Smaller than Jinja2's ``tojson`` (UTF-8 rather than ``\\uXXXX``, no
    spaces, ``<`` kept) and as safe: ``</`` and ``<!--`` cannot end or
    confuse the script, and ``{{``, ``{%`` and ``{#`` (only ever inside a
    string: JSON objects start ``{"``) are written with an escaped second
    character, so branca's template pass finds nothing to evaluate.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, safe in (("</", "<\\/"), ("<!--", "<\\u0021--"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"),
                      ("{{", "{\\u007b"), ("{%", "{\\u0025"), ("{#", "{\\u0023")):
        text = text.replace(raw, safe)
    return text


#: The page's decoder: ``lcCoords`` (flat lat, lon numbers) and ``lcFeatures`` (GeoJSON).
DECODE_JS = """
function lcCoords(text, decimals) {
  var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", six = {};
  for (var a = 0; a < 64; a++) six[alphabet.charCodeAt(a)] = a;
  var scale = Math.pow(10, decimals), out = [], value = 0, factor = 1, sum = [0, 0], b;
  for (var i = 0; i < text.length; i++) {
    b = six[text.charCodeAt(i)];
    value += (b & 31) * factor;
    factor *= 32;
    if (b < 32) {
      sum[out.length % 2] += value % 2 ? -(value + 1) / 2 : value / 2;
      out.push(sum[out.length % 2] / scale);
      value = 0; factor = 1;
    }
  }
  return out;
}
function lcFeatures(data, decimals) {
  var c = lcCoords(data.text, decimals), k = 0;
  // a layer's shared popup: its slots filled with the feature's escaped values
  function popup(p) {
    return data.popup[p.n ? 0 : 1].replace(/\\u0001(\\w+)\\u0001/g, function (m, key) {
      return key === "i" ? (p.i !== undefined ? p.i : p.poi_id) : (p[key] || "");
    });
  }
  function points(n) {
    var out = [];
    for (var i = 0; i < n; i++, k += 2) out.push([c[k + 1], c[k]]);
    return out;
  }
  function nest(n) { return typeof n === "number" ? points(n) : n.map(nest); }
  // a popup or tooltip written as shared parts (numbers) and its own pieces (strings)
  function joined(coded) {
    return coded.map(function (x) { return typeof x === "number" ? data.parts[x] : x; }).join("");
  }
  return {type: "FeatureCollection", features: data.features.map(function (f) {
    var p = f.properties;
    if (p.s !== undefined) p.style = data.styles[p.s];
    if (Array.isArray(p.popup)) p.popup = joined(p.popup);
    if (Array.isArray(p.tooltip)) p.tooltip = joined(p.tooltip);
    if (data.popup && p.popup === undefined) p.popup = popup(p);
    if (data.tooltip !== undefined && p.tooltip === undefined) p.tooltip = p.n || data.tooltip;
    var type = f.type || data.type;
    var coords = type === "Point" ? points(1)[0] : nest(f.n);
    return {type: "Feature", properties: p, geometry: {type: type, coordinates: coords}};
  })};
}
function lcBindFeature(feature, layer) {
  var p = feature.properties;
  if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 460}); }
  if (p.tooltip) { layer.bindTooltip(p.tooltip, {sticky: true}); }
}
"""


class RawElement(Element):
    """Text that goes into the page as it is.

    A branca :class:`~branca.element.Element` compiles its text as a Jinja2
    template. For the inlined libraries and the data layers' scripts that
    would lex megabytes (a quarter of a second on a city) to find nothing:
    their strings are written so that no template syntax can appear
    (:func:`script_json`, :func:`lifecircle.outputs.htmlassets.esc`), and
    here nothing is evaluated at all.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "RawElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class RawScriptLayer(Layer):
    """A folium layer whose script (the ``script`` macro of the class's ``_script``
    template) goes into the page as a :class:`RawElement`, not as one more template.

    folium's own path (``MacroElement.render``) finds no macro in ``_template``
    and adds nothing; :class:`~folium.map.Layer` still adds the ``addTo`` call
    (after this script) and the layer control still lists the layer.
    """

    _template = Template("")
    _script: Template

    def render(self, **kwargs: Any) -> None:
        script = self._script.module.script(self, kwargs)
        self.get_root().script.add_child(RawElement(str(script)), name=self.get_name())
        super().render(**kwargs)


class CompactGeoJson(RawScriptLayer):
    """A GeoJSON layer whose data is :func:`compact_features` (decoded by the page).

    Features carry ``style``, ``popup`` and ``tooltip`` properties, bound as
    for the other layers; ``name`` is HTML (escaped by the caller). Points
    become markers with ``icon`` (``L.divIcon`` options) when given.

    ``shared`` holds what many features would repeat (facilities: one popup
    per category): ``popup``, two HTML templates (for features with a name
    ``n``, and without) whose slots :data:`SLOT` + key + :data:`SLOT` take the
    feature's property of that key (``i``: its escaped id, else ``poi_id``),
    filled in one pass so a value is never read as a slot; ``tooltip``, the
    text for features without ``n``. Every value is escaped HTML already.
    ``options`` are Leaflet's (``className``, ``interactive``...). The page
    needs :data:`DECODE_JS` in its header.
    """

    _script = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var options = {{ this.options|tojson }};
            options.onEachFeature = lcBindFeature;
            options.style = function (feature) { return feature.properties.style; };
            {%- if this.icon %}
            var icon = {{ this.icon }};
            options.pointToLayer = function (feature, latlng) { return L.marker(latlng, {icon: L.divIcon(icon)}); };
            {%- endif %}
            return L.geoJson(lcFeatures({{ this.json }}, {{ this.decimals }}), options);
        })();
        {% endmacro %}
    """)

    def __init__(self, geoms: Iterable[Any], props: Iterable[dict], name: str, show: bool = True,
                 icon: dict | None = None, shared: dict | None = None, **options: Any):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "CompactGeoJson"
        self.data = {**compact_features(geoms, props), **(shared or {})}
        self.json = script_json(self.data)
        # points are drawn as this L.divIcon (its html escaped by the caller)
        self.icon = script_json(icon) if icon else None
        self.decimals = COORD_DECIMALS
        self.options = options

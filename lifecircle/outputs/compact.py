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
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import numpy as np
import shapely
from folium.map import Layer
from jinja2 import Template

#: Marks a slot of a shared popup template (a control character: esc leaves it, OSM names hardly hold it).
SLOT = "\x01"

#: Decimal places kept for lon/lat: 1e-6 degrees is about 0.1 m.
COORD_DECIMALS = 6

_ALPHABET_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET = np.frombuffer(_ALPHABET_TEXT.encode("ascii"), dtype=np.uint8)
_MAX_CHUNKS = 8  # 40 bits: far more than a zig-zagged degree × 10^6 needs


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
    shifted = zig[:, None] >> (5 * np.arange(_MAX_CHUNKS, dtype=np.int64))
    n_chunks = np.maximum(1, (shifted > 0).sum(axis=1))
    place = np.arange(_MAX_CHUNKS)[None, :]
    sixes = ((shifted & 31) + 32 * (place < (n_chunks - 1)[:, None]))[place < n_chunks[:, None]]
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


def counts(geom: Any) -> Any:
    """The nesting of a geometry's coordinates, as :func:`decode_features` reads it:
    a number of points (Point, LineString), a list of ring sizes (Polygon),
    or a list of those (Multi*)."""
    if isinstance(geom, (shapely.MultiPolygon, shapely.MultiLineString, shapely.MultiPoint)):
        return [counts(part) for part in geom.geoms]
    if isinstance(geom, shapely.Polygon):
        return [len(geom.exterior.coords)] + [len(ring.coords) for ring in geom.interiors]
    if isinstance(geom, (shapely.LineString, shapely.Point)):
        return len(geom.coords)
    raise TypeError(f"cannot draw a {geom.geom_type} on the map")


def compact_features(geoms: Iterable[Any], props: Iterable[dict]) -> dict:
    """The layer data the page decodes into a GeoJSON FeatureCollection.

    Each feature's ``style`` property is replaced by an index ``s`` into
    one list of distinct styles (a district's routes share eight).

    Returns
    -------
    dict
        ``{"text": coordinates, "styles": [...], "features": [{"type", "n", "properties"}]}``.
    """
    geoms = np.asarray(list(geoms), dtype=object)
    styles: dict[str, int] = {}
    style_list, features = [], []
    for geom, p in zip(geoms, props):
        p = dict(p)
        style = p.pop("style", None)
        if style is not None:
            key = repr(sorted(style.items()))
            if key not in styles:
                styles[key] = len(style_list)
                style_list.append(style)
            p["s"] = styles[key]
        features.append({"type": geom.geom_type, "n": counts(geom), "properties": p})
    text = encode_coords(shapely.get_coordinates(geoms)) if len(geoms) else ""
    return {"text": text, "styles": style_list, "features": features}


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

    return [(build(f["type"], f["n"]), f["properties"]) for f in data["features"]]


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
  return {type: "FeatureCollection", features: data.features.map(function (f) {
    var p = f.properties;
    if (p.s !== undefined) p.style = data.styles[p.s];
    if (data.popup && p.popup === undefined) p.popup = popup(p);
    if (data.tooltip !== undefined && p.tooltip === undefined) p.tooltip = p.n || data.tooltip;
    var coords = f.type === "Point" ? points(1)[0] : nest(f.n);
    return {type: "Feature", properties: p, geometry: {type: f.type, coordinates: coords}};
  })};
}
function lcBindFeature(feature, layer) {
  var p = feature.properties;
  if (p.popup) { layer.bindPopup(p.popup, {maxWidth: 460}); }
  if (p.tooltip) { layer.bindTooltip(p.tooltip, {sticky: true}); }
}
"""


class CompactGeoJson(Layer):
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

    _template = Template("""
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

"""What the map draws under the data: the extract's own walkable streets.

Tiles are the only part of the map that needs the network. On an intranet or
an offline laptop they never load, so the streets of the data itself are
drawn as a light base layer: with every tile blocked an official still sees
where the streets are. They are simplified for display, sent as one compact
string (delta-encoded integer coordinates, the "encoded polyline" scheme)
and drawn as a single Leaflet polyline on a canvas, so a district of
100,000 streets stays one layer object and a few megabytes.

The tile source is checked by :mod:`lifecircle.outputs.tiles` (light, so the
command line checks ``--tiles`` before any work).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from folium.map import Layer
from jinja2 import Template

from .. import settings

#: Decimal places of the street base layer's coordinates (as the data layers: ~0.1 m).
STREET_DECIMALS = 6
#: Douglas-Peucker tolerance of the street base layer, metres: far below a pixel at street zoom.
STREET_TOLERANCE_M = 1.0
STREET_COLOR = "#8c8c8c"

_ALPHABET_TEXT = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET = np.frombuffer(_ALPHABET_TEXT.encode("ascii"), dtype=np.uint8)


# ---------------------------------------------------------------- streets


def street_lines(analysis: Any) -> np.ndarray:
    """The walkable streets of the analysis' network, one LineString per street, in
    EPSG:4326 and simplified for display (:data:`STREET_TOLERANCE_M`).

    Read from ``analysis.study.net`` (one geometry per street) or, without a
    study, from the edges of ``analysis.graph`` (one per direction, deduplicated).
    """
    import geopandas as gpd

    net = getattr(getattr(analysis, "study", None), "net", None)
    if net is not None:
        geoms = np.asarray(net.geoms, dtype=object)
    else:
        geoms = _graph_lines(getattr(analysis, "graph", None))
    if len(geoms) == 0 or getattr(analysis, "crs", None) is None:
        return np.empty(0, dtype=object)
    geoms = shapely.simplify(geoms, STREET_TOLERANCE_M)
    shown = gpd.GeoSeries(geoms, crs=analysis.crs).to_crs(settings.output_crs)
    return shown.values[~shown.is_empty.values]


def _graph_lines(graph: Any) -> np.ndarray:
    if graph is None or graph.number_of_edges() == 0:
        return np.empty(0, dtype=object)
    seen, lines = set(), []
    for u, v, data in graph.edges(data=True):
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in (u, v)])
        key = frozenset((u, v)), round(geom.length, 3)
        if key not in seen:  # the reverse direction of a street drawn already
            seen.add(key)
            lines.append(geom)
    return np.asarray(lines, dtype=object)


def encode_lines(lines: np.ndarray, decimals: int = STREET_DECIMALS) -> tuple[str, list[int]]:
    """Encode lines as one string of delta-encoded coordinates and the point count of each.

    Every coordinate (latitude, then longitude) is rounded to ``decimals``,
    taken as the difference from the previous one (across lines: streets
    are stored next to each other, so the differences stay small), zig-zag
    mapped to a non-negative integer and written 5 bits per character,
    ``+ 32`` while more chunks follow (as in the encoded polyline format),
    each 6-bit value as a character of the URL-safe base64 alphabet: no
    ``<``, quote, backslash or brace, so the string is safe in a script and
    in the templates folium renders the script through.

    Returns
    -------
    tuple
        ``(text, counts)``; :func:`decode_lines` inverts it.
    """
    xy, owner = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(owner, minlength=len(lines)).tolist() if len(xy) else [0] * len(lines)
    ints = np.rint(xy[:, ::-1] * 10 ** decimals).astype(np.int64).ravel()
    deltas = np.concatenate([ints[:2], ints[2:] - ints[:-2]]) if len(ints) else ints
    zig = (deltas << 1) ^ (deltas >> 63)
    shifts = 5 * np.arange(8, dtype=np.int64)
    chunks = (zig[:, None] >> shifts) & 31
    n_chunks = np.maximum(1, ((zig[:, None] >> shifts) > 0).sum(axis=1))
    used = np.arange(8)[None, :] < n_chunks[:, None]
    more = np.arange(8)[None, :] < (n_chunks - 1)[:, None]
    sixes = (chunks + 32 * more)[used]
    return _ALPHABET[sixes].tobytes().decode("ascii"), counts


def decode_lines(text: str, counts: list[int], decimals: int = STREET_DECIMALS) -> list[list[tuple[float, float]]]:
    """Invert :func:`encode_lines`: the ``(lat, lon)`` points of each line (as the page's script does)."""
    values, value, shift = [], 0, 0
    for ch in text:
        b = _ALPHABET_TEXT.index(ch)
        value |= (b & 31) << shift
        shift += 5
        if b < 32:
            values.append(-((value + 1) >> 1) if value & 1 else value >> 1)
            value, shift = 0, 0
    coords = np.cumsum(np.asarray(values, dtype=np.int64).reshape(-1, 2), axis=0) / 10 ** decimals
    out, start = [], 0
    for n in counts:
        out.append([(float(a), float(b)) for a, b in coords[start:start + n]])
        start += n
    return out


#: Decodes the street string into Leaflet latlngs (see encode_lines).
STREETS_JS = """
function lcStreetLines(text, counts, decimals) {
  var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", six = {};
  for (var a = 0; a < 64; a++) six[alphabet.charCodeAt(a)] = a;
  var scale = Math.pow(10, decimals), coords = [], i = 0, value = 0, factor = 1, b;
  for (i = 0; i < text.length; i++) {
    b = six[text.charCodeAt(i)];
    value += (b & 31) * factor;
    factor *= 32;
    if (b < 32) { coords.push(value % 2 ? -(value + 1) / 2 : value / 2); value = 0; factor = 1; }
  }
  var lines = [], lat = 0, lon = 0, k = 0;
  for (i = 0; i < counts.length; i++) {
    var line = [];
    for (var j = 0; j < counts[i]; j++, k += 2) {
      lat += coords[k]; lon += coords[k + 1];
      line.push([lat / scale, lon / scale]);
    }
    lines.push(line);
  }
  return lines;
}
"""


class StreetLayer(Layer):
    """The data's streets as one canvas-drawn Leaflet polyline, in a pane under the data layers.

    ``name`` and ``attribution`` are HTML (escaped by the caller): Leaflet's
    layer and attribution controls write them with ``innerHTML``.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var map = {{ this._parent.get_name() }};
            if (!map.getPane('lc-streets')) {
                var pane = map.createPane('lc-streets');
                pane.style.zIndex = 350;
                pane.style.pointerEvents = 'none';
            }
            var options = {{ this.options|tojson }};
            options.renderer = L.canvas({pane: 'lc-streets', padding: 0.5});
            return L.polyline(lcStreetLines({{ this.text|tojson }}, {{ this.counts|tojson }}, {{ this.decimals }}),
                              options);
        })();
        {% endmacro %}
    """)

    def __init__(self, lines: np.ndarray, name: str, attribution: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StreetLayer"
        self.text, self.counts = encode_lines(lines)
        self.decimals = STREET_DECIMALS
        self.options = {"color": STREET_COLOR, "weight": 1.2, "opacity": 0.9, "interactive": False,
                        "pane": "lc-streets", "attribution": attribution, "className": "lc-streets"}

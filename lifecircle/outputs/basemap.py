"""What the map draws under the data: the extract's own walkable streets.

Tiles are the only part of the map that needs the network. On an intranet or
an offline laptop they never load, so the streets of the data itself are
drawn as a light base layer: with every tile blocked an official still sees
where the streets are. They are simplified for display, sent as one compact
string (:mod:`lifecircle.outputs.compact`) and drawn as a single Leaflet
polyline on a canvas, so a district of 100,000 streets stays one layer
object and a few megabytes.

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
from .compact import encode_coords, script_json

#: Decimal places of the street base layer's coordinates (as the data layers: ~0.1 m).
STREET_DECIMALS = 6
#: Douglas-Peucker tolerance of the street base layer, metres: far below a pixel at street zoom.
STREET_TOLERANCE_M = 1.0
STREET_COLOR = "#8c8c8c"


# ---------------------------------------------------------------- streets


def street_lines(analysis: Any) -> np.ndarray:
    """The walkable streets of the analysis' network, one LineString per street, in
    EPSG:4326 and simplified for display (:data:`STREET_TOLERANCE_M`).

    Read from ``analysis.study.net`` (one geometry per street) or, without a
    study, from the edges of ``analysis.graph`` (one per direction, deduplicated).
    """
    import geopandas as gpd

    geoms = street_geometries(analysis)
    if len(geoms) == 0 or getattr(analysis, "crs", None) is None:
        return np.empty(0, dtype=object)
    # a two-point street has nothing to simplify: most of a city's streets
    bent = shapely.get_num_coordinates(geoms) > 2
    geoms = geoms.copy()
    geoms[bent] = shapely.simplify(geoms[bent], STREET_TOLERANCE_M)
    shown = gpd.GeoSeries(geoms, crs=analysis.crs).to_crs(settings.output_crs)
    return shown.values[~shown.is_empty.values]


def street_geometries(analysis: Any) -> np.ndarray:
    """The analysis' streets as LineStrings in its CRS, one per street (not per direction):
    the run's indexed network, or the edges of ``analysis.graph`` without one."""
    net = getattr(getattr(analysis, "study", None), "net", None)
    if net is not None:
        return np.asarray(net.geoms, dtype=object)
    return _graph_lines(getattr(analysis, "graph", None))


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


class StreetLayer(Layer):
    """The data's streets as one canvas-drawn Leaflet polyline, in a pane under the data layers.

    ``name`` and ``attribution`` are HTML (escaped by the caller): Leaflet's
    layer and attribution controls write them with ``innerHTML``. The page
    needs :data:`lifecircle.outputs.compact.DECODE_JS` in its header.
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
            var c = lcCoords({{ this.text|tojson }}, {{ this.decimals }}), k = 0;
            var lines = {{ this.counts_json }}.map(function (n) {
                var line = [];
                for (var i = 0; i < n; i++, k += 2) line.push([c[k], c[k + 1]]);
                return line;
            });
            return L.polyline(lines, options);
        })();
        {% endmacro %}
    """)

    def __init__(self, lines: np.ndarray, name: str, attribution: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "StreetLayer"
        self.text = encode_coords(shapely.get_coordinates(lines), STREET_DECIMALS)
        self.counts = shapely.get_num_coordinates(lines).tolist()
        self.counts_json = script_json(self.counts)
        self.decimals = STREET_DECIMALS
        self.options = {"color": STREET_COLOR, "weight": 1.2, "opacity": 0.9, "interactive": False,
                        "pane": "lc-streets", "attribution": attribution, "className": "lc-streets"}

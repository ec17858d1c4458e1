"""The result of a run: GeoDataFrames plus the config that produced them.

Column contract (all GeoDataFrames carry an explicit CRS, the analysis CRS,
a projected one in metres; ``to_crs("EPSG:4326")`` for display):

``communities``
    ``community_id`` (str, stable), ``name`` (str), ``source`` (where the
    polygon came from), ``residents`` (float, population proxy or user
    column, may be NaN), ``n_buildings`` (int), and per category key ``k``:
    ``minutes_k`` (float, walking minutes from the community's centre to the
    nearest facility, NaN when none within the search limit), ``metres_k``
    (the same as a walking distance), ``covered_k`` (bool, within the
    threshold), ``share_k`` (float 0..1, share of its residential buildings,
    or of its area where it has none, within the threshold),
    ``residents_share_k`` (float, NaN without residents); then ``reached``
    (int, categories covered), ``n_categories`` (int), ``complete`` (bool),
    ``gaps`` (str, the uncovered category keys joined by ",").
``pois``
    ``poi_id`` (str such as "node/123" or "user/7"), ``osm_type``, ``osm_id``,
    ``name``, ``category`` (category key), ``source`` ("osm" or "user"),
    ``snap_m`` (distance to the street, NaN when too far), geometry (Point).
    A facility in two categories has two rows.
``isochrones``
    ``community_id``, ``minutes`` (or ``metres`` in distance mode: the
    threshold), geometry (Polygon/MultiPolygon).
``gaps``
    ``category``, ``kind`` ("building" or "area"), ``community_id``,
    geometry: residential buildings (or community areas without buildings)
    beyond the threshold from that category.
``unsnapped``
    ``what`` ("poi" or "community"), ``id``, ``name``, ``distance_m``:
    points farther than ``config.max_snap_m`` from any walkable street.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx

from .config import Config


@dataclass
class Analysis:
    """Everything a run produced; see the module docstring for columns.

    Attributes
    ----------
    config
        The configuration that decided the numbers.
    communities, pois, isochrones, gaps, unsnapped
        Result tables (GeoDataFrames in ``crs``; ``unsnapped`` is a plain
        DataFrame).
    graph
        The projected walk network (osmnx-compatible MultiDiGraph).
    source
        Human-readable description of where the data came from.
    crs
        The projected CRS of every table.
    warnings
        Non-fatal problems found during the run (one line each).
    """

    config: Config
    communities: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    unsnapped: Any
    graph: nx.MultiDiGraph
    source: str
    crs: Any
    warnings: list[str] = field(default_factory=list)

    @property
    def coverage(self):
        """The coverage table: ``communities`` without geometry."""
        return self.communities.drop(columns="geometry")

    def map(self, lang: str = "en"):
        """Return the interactive folium map of this analysis."""
        from .maps import make_map

        return make_map(self, lang=lang)

    def save(self, folder: str | Path, lang: str = "en") -> dict[str, Path]:
        """Write every output into ``folder``; return the paths by kind."""
        from .outputs import save_analysis

        return save_analysis(self, folder, lang=lang)

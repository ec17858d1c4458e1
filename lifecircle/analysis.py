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
    """The result of :func:`lifecircle.analyze`: result tables, the config, the network.

    Start with :attr:`coverage` (one row per community), :meth:`map` (an
    interactive folium map) and :meth:`save` (CSV, GeoPackage, map, charts,
    report)::

        a = lifecircle.analyze()
        cov = a.coverage
        cov[["name", "reached", "n_categories", "complete", "gaps"]]
        cov["covered_pharmacy"].mean()     # share of communities reaching one
        a.map(lang="zh")
        a.save("out")

    Columns of ``communities`` (and of ``coverage``, which is it without
    geometry), per category key ``k`` in ``config.keys``:

    ``minutes_k``, ``metres_k``
        Walk from the community's centre to the nearest facility (NaN when
        none is within the search limit).
    ``covered_k``
        True when that walk is within the threshold.
    ``share_k``, ``residents_share_k``
        Share (0..1) of the community's homes, or of its residents, within
        the threshold (communities without homes: share of their area).

    and per community ``community_id``, ``name``, ``source``, ``residents``,
    ``n_buildings``, ``reached`` (categories covered), ``n_categories``,
    ``complete`` (all covered) and ``gaps`` (uncovered keys joined by ",").
    The full column contract of every table is in ``help(lifecircle.analysis)``.

    Attributes
    ----------
    config
        The :class:`~lifecircle.config.Config` that decided the numbers:
        level, categories (``config.keys``), threshold (``config.minutes``,
        ``config.distance_m``, ``config.threshold_m``), mode and speed.
    communities
        GeoDataFrame, one row per community (columns above).
    pois
        GeoDataFrame of the facilities counted, one row per (facility,
        category): ``poi_id``, ``name``, ``category``, ``source`` ("osm" or
        "user"), ``snap_m``.
    isochrones
        GeoDataFrame of the area within reach of each community's centre, per
        threshold (``minutes``, or ``metres`` in distance mode).
    gaps
        GeoDataFrame of the homes (or community areas without homes) beyond
        the threshold from each category: ``category``, ``kind``,
        ``community_id``.
    unsnapped
        DataFrame of facilities and communities farther than
        ``config.max_snap_m`` from any walkable street (so not counted).
    graph
        The projected walk network (osmnx-compatible MultiDiGraph).
    source
        Human-readable description of where the data came from.
    crs
        The projected CRS (metres) of every GeoDataFrame; use
        ``to_crs("EPSG:4326")`` for longitude/latitude.
    warnings
        Non-fatal problems found during the run, one line each (e.g. a
        category with no facilities in the area, which every community then
        lacks).
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

    def __repr__(self) -> str:
        c = self.communities
        mode = (f"{self.config.minutes:g} min" if self.config.mode == "time"
                else f"{self.config.distance_m:g} m")
        return (
            f"<Analysis {self.config.level} ({mode}) of {self.source}: {len(c)} communities, "
            f"{int(c['complete'].sum()) if len(c) else 0} complete; {len(self.pois)} facilities in "
            f"{len(self.config.categories)} categories; {len(self.warnings)} warnings>"
        )

    @property
    def coverage(self):
        """The coverage table: ``communities`` without geometry (a DataFrame).

        One row per community; written to ``coverage.csv`` by :meth:`save`.
        """
        return self.communities.drop(columns="geometry")

    def map(self, lang: str = "en"):
        """Return the interactive folium map of this analysis.

        Communities are coloured by the share of categories they reach, with
        a layer per category of facilities and of homes beyond the threshold,
        and the isochrones. It displays inline in a notebook and needs no
        network except for the background tiles;
        :func:`lifecircle.maps.save_map` writes it as one HTML file.

        Parameters
        ----------
        lang
            "en" or "zh": language of the labels and legend.
        """
        from .maps import make_map

        return make_map(self, lang=lang)

    def save(self, folder: str | Path, lang: str = "en") -> dict[str, Path]:
        """Write every output into ``folder`` (created if missing).

        Files: ``coverage.csv`` (:attr:`coverage`), ``unsnapped.csv``,
        ``lifecircle.gpkg`` (layers communities, pois, isochrones, gaps, in
        EPSG:4326), ``map.html``, ``report.html`` and PNG charts. Files are
        written to a staging folder first, so a failure leaves none half
        written.

        Parameters
        ----------
        folder
            Output folder.
        lang
            "en" or "zh": language of the map, charts and report.

        Returns
        -------
        dict
            Output kind (e.g. "coverage", "gpkg", "map", "report") -> path.
        """
        from .outputs import save_analysis

        return save_analysis(self, folder, lang=lang)

"""The result of a run: GeoDataFrames plus the config that produced them.

Column contract (all GeoDataFrames carry an explicit CRS, the analysis CRS,
a projected one in metres; ``to_crs("EPSG:4326")`` for display):

``communities``
    ``community_id`` (str, stable; the OSM id such as "way/123" for
    communities from the extract), ``name`` (str, never empty: unnamed areas
    are named from a place, building or street), ``name_source`` ("osm",
    "user", "place", "building", "street", "number"), ``source`` (where the
    polygon came from), ``partial`` (bool, cut by the edge of the data and
    analysed on the part inside it), ``residents`` (float, population proxy
    or user column, may be NaN), ``n_buildings`` (int), and per category key
    ``k``: ``nearest_k`` and ``nearest_id_k`` (name and ``poi_id`` of the
    nearest facility walking from the community's centre, "" when none
    within the search limit), ``metres_k`` and ``minutes_k`` (that walk, NaN
    when none), ``limit_m_k`` (the distance the category is judged at),
    ``share_k`` (float 0..1, share of its residential buildings, or of its
    area where it has none, within ``limit_m_k``), ``residents_share_k``
    (float, NaN without homes), ``covered_k`` (bool: ``share_k >=
    config.min_share``); then ``reached`` (int, categories covered),
    ``n_categories`` (int), ``complete`` (bool), ``gaps`` (str, the uncovered
    category keys joined by ",").
``pois``
    ``poi_id`` (str such as "node/123" or "user/7"), ``osm_type``, ``osm_id``,
    ``name``, ``category`` (category key), ``source`` ("osm" or "user"),
    ``snap_m`` (distance to the street, NaN when too far), geometry (Point).
    A facility in two categories has two rows.
``isochrones``
    ``community_id``, ``minutes`` (time mode) or ``metres`` (otherwise: the
    threshold), geometry (Polygon/MultiPolygon).
``gaps``
    ``category``, ``kind`` ("building" or "area"), ``community_id``,
    geometry: residential buildings (or community areas without buildings)
    beyond the threshold from that category.
``left_out``
    ``what`` ("poi" or "community"), ``id``, ``name``, ``category``,
    ``reason``, ``distance_m``: facilities and residential areas not counted,
    and why (too far from any walkable street, with the distance; a
    multipolygon incomplete in the extract; outside the network's area).
``routes``
    ``community_id``, ``category``, ``poi_id``, ``name``, ``metres``,
    geometry (LineString): the walk from each community's centre to the
    nearest facility of each category, along the streets (``metres`` equals
    the community's ``metres_<category>``).
``basis``
    One row per category: what it was judged by (tier, distance, minutes at
    the walking speed, coverage rule, clause of the standard, OSM tags and
    name rules) and the data's source and date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from .config import Config
from .core.lazy import Lazy, LazyGraph
from .i18n import basis_name

if TYPE_CHECKING:  # networkx only where a graph is built: it costs every run's start-up
    import networkx as nx


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

    ``nearest_k``, ``nearest_id_k``, ``minutes_k``, ``metres_k``
        The nearest facility walking from the community's centre, and that
        walk (NaN when none is within the search limit).
    ``limit_m_k``
        The walking distance category ``k`` is judged at (its GB 50180 tier's
        by default).
    ``share_k``, ``residents_share_k``
        Share (0..1) of the community's homes, or of its residents, within
        ``limit_m_k`` (communities without homes: share of their area).
    ``covered_k``
        True when ``share_k`` is at least ``config.min_share``.

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
    left_out
        DataFrame of facilities and residential areas not counted, with the
        reason (e.g. farther than ``config.max_snap_m`` from any walkable
        street).
    graph
        The projected walk network (osmnx-compatible MultiDiGraph). Given as
        None, it is built from ``study``'s network on first access (the run
        itself needs none); :meth:`save_graph` writes it.
    source
        Human-readable description of where the data came from.
    crs
        The projected CRS (metres) of every GeoDataFrame; use
        ``to_crs("EPSG:4326")`` for longitude/latitude.
    warnings
        Non-fatal problems found during the run, one line each (e.g. a
        category with no facilities in the area, which every community then
        lacks). Each is a :class:`lifecircle.i18n.Message`: its English text
        as a ``str``, and ``w.text("zh")`` in Chinese.
    data_date
        Date of the OSM data ("YYYY-MM-DD"), when known.
    study
        The run's :class:`lifecircle.pipeline.Study` (indexed network, snapped
        homes, centres and facilities), kept for what-if scenarios and site
        suggestions.
    facilities
        GeoDataFrame of every feature a category's rules touched, counted or
        not, and why (:data:`lifecircle.facilities.REGISTER_COLUMNS`): written
        to ``facilities.csv`` and the workbook's facilities sheet, which the
        planner marks and gives back with ``--review``.
    review
        What the planner's review and files changed
        (:class:`lifecircle.facilities.ReviewSummary`), or None.
    population
        Where the residents come from and how they add up
        (:class:`lifecircle.population.Population`: a grid, a column of the
        communities file, or the floor-area estimate), or None.
    facility_sources
        (source, date) of OpenStreetMap and of each file or place search whose
        facilities were merged in (:func:`lifecircle.i18n.sources_text`).
    routes
        GeoDataFrame of the walk from each community's centre to its
        nearest facility of each category (``community_id``, ``category``,
        ``poi_id``, ``name``, ``metres``).
    """

    config: Config
    communities: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    isochrones: gpd.GeoDataFrame = Lazy()
    gaps: gpd.GeoDataFrame
    left_out: Any
    graph: nx.MultiDiGraph = LazyGraph()
    source: str
    crs: Any
    warnings: list[str] = field(default_factory=list)
    data_date: str | None = None
    routes: Any = Lazy(optional=True)
    # what the run measured against (network, snapped homes and facilities): what-if
    # scenarios and site suggestions start from it instead of re-reading the data
    study: Any = field(default=None, repr=False, compare=False)
    # the what-if result whose after state this is (its report gets a section on it)
    scenario: Any = field(default=None, repr=False, compare=False)
    # layers given as None and made on first read (name -> function): ``lifecircle
    # analyze`` writes its documents, which need neither, while they are made
    pending: dict = field(default_factory=dict, repr=False, compare=False)
    # every candidate facility, counted or not, with the rule that decided (facilities.csv)
    facilities: Any = field(default=None, repr=False, compare=False)
    # what the planner's review and files changed (lifecircle.facilities.ReviewSummary)
    review: Any = field(default=None, repr=False, compare=False)
    # where the residents come from (lifecircle.population.Population)
    population: Any = field(default=None, repr=False, compare=False)
    # where the facilities come from and of when: [("osm", date), ("amap", fetch date), …]
    facility_sources: list = field(default_factory=list, repr=False, compare=False)

    @property
    def no_data(self) -> list[str]:
        """Category keys without a single facility in the data: not judged (``covered_<k>`` is NA).

        No data is not a finding about residents: OpenStreetMap does not map the kind
        here (mainland extracts hold no community canteens), and a file of them
        (``--pois``) is what judges it.
        """
        cov = self.communities
        return [k for k in self.config.keys
                if f"covered_{k}" in cov and len(cov) and bool(cov[f"covered_{k}"].isna().all())]

    def _build_isochrones(self) -> gpd.GeoDataFrame | None:
        return self._make("isochrones")

    def _build_routes(self) -> gpd.GeoDataFrame | None:
        return self._make("routes")

    def make_layers(self) -> None:
        """Make the layers still pending (isochrones, routes) now, rather than on first read."""
        for layer in list(self.pending):
            getattr(self, layer)

    def _make(self, layer: str) -> gpd.GeoDataFrame | None:
        make = self.pending.pop(layer, None)
        return None if make is None else make()

    def _build_graph(self) -> nx.MultiDiGraph | None:
        net = getattr(self.study, "net", None)
        return None if net is None else net.graph

    def save_graph(self, path: str | Path) -> Path:
        """Write the projected walk network as GraphML (``.graphml``, read
        back with ``osmnx.load_graphml``) or GeoPackage (``.gpkg``, layers
        nodes and edges), by osmnx.

        Returns
        -------
        Path
            The file written.
        """
        from .core.network import save_graph

        return save_graph(self.graph, path)

    def __repr__(self) -> str:
        c = self.communities
        return (
            f"<Analysis {self.config.level} ({basis_name(self.config)}) of {self.source}: {len(c)} communities, "
            f"{int(c['complete'].sum()) if len(c) else 0} complete; {len(self.pois)} facilities in "
            f"{len(self.config.categories)} categories; {len(self.warnings)} warnings>"
        )

    @property
    def unsnapped(self):
        """The rows of :attr:`left_out` that are too far from any walkable street
        (the only rows with a ``distance_m``: how far they are)."""
        return self.left_out[self.left_out["distance_m"].notna()]

    def sources_text(self, lang: str = "en") -> str:
        """Where the facilities come from and of when: "OSM 2026-…; Amap 2026-…" (设施来源)."""
        from .i18n import sources_text

        return sources_text(self.facility_sources or [("osm", self.data_date or "")], lang)

    @property
    def basis(self):
        """What every category was judged by, one row per category (a DataFrame).

        Columns: ``category``, ``label_en``, ``label_zh``, ``tier``,
        ``distance_m``, ``minutes`` (at ``speed_kmh``), ``basis``,
        ``speed_kmh``, ``min_share``, ``clause``, ``osm_rules``,
        ``data_source``, ``data_date``, ``facility_sources`` (OSM's date, and each file or place
        search merged in, :func:`lifecircle.i18n.sources_text`), ``judged`` (False: no data),
        ``population`` (where the residents come from, :func:`lifecircle.i18n.population_text`).
        """
        import pandas as pd

        from .i18n import population_text

        cfg = self.config
        no_data = set(self.no_data)
        residents = population_text(self.population)
        sources = self.sources_text()
        rows = [{
            "category": c.key, "label_en": c.label_en, "label_zh": c.label_zh, "tier": c.tier,
            "distance_m": round(cfg.limit_m(c.key), 1),
            "minutes": round(cfg.limit_m(c.key) / cfg.metres_per_minute, 2),
            "basis": cfg.mode, "speed_kmh": cfg.speed_kmh, "min_share": cfg.min_share,
            "clause": c.clause if cfg.mode == "standard" else "",
            "osm_rules": c.describe(), "data_source": self.source, "data_date": self.data_date or "",
            "facility_sources": sources, "judged": c.key not in no_data, "population": residents,
        } for c in cfg.categories]
        return pd.DataFrame(rows)

    @property
    def coverage(self):
        """The coverage table: ``communities`` without geometry (a DataFrame).

        One row per community; written to ``coverage.csv`` by :meth:`save`.
        """
        return self.communities.drop(columns="geometry")

    def map(self, lang: str = "en", tiles: str = "osm", tiles_attribution: str | None = None):
        """Return the interactive folium map of this analysis.

        Communities are coloured by the share of categories they reach, with
        a layer per category of facilities and of homes beyond the threshold,
        and the isochrones. It displays inline in a notebook and needs no
        network except for the background tiles;
        :func:`lifecircle.outputs.maps.save_map` writes it as one HTML file.

        Parameters
        ----------
        lang
            "en" or "zh": language of the labels and legend.
        tiles, tiles_attribution
            Background tiles: "osm", "none" or a WGS-84 tile URL template with
            its credit (see :func:`lifecircle.outputs.maps.make_map`).
        """
        from .outputs.maps import make_map

        return make_map(self, lang=lang, tiles=tiles, tiles_attribution=tiles_attribution)

    def suggest(self, category: str, count: int, candidates=None, **options: Any):
        """Where up to ``count`` new ``category`` facilities would bring the most
        residents within the category's walking distance (the existing ones kept).

        ``candidates``: a vector file or GeoDataFrame of candidate sites, or
        None for points along the streets near uncovered homes. Options and
        the result: :func:`lifecircle.planning.suggest.suggest_sites`
        (a :class:`~lifecircle.planning.suggest.Suggestion`: ``sites``,
        ``summary()``, ``map()``, ``save(folder)``, ``scenario()``).
        """
        from .planning.suggest import suggest_sites

        return suggest_sites(self, category, count, candidates, **options)

    def what_if(self, scenario, progress=None):
        """What a scenario (new facilities, closed streets, new walkways) changes.

        Parameters
        ----------
        scenario
            A scenario file (GeoJSON or GeoPackage, one feature per change;
            see the README's "Scenarios") or a GeoDataFrame of the same columns.
        progress
            Called with a short message at each long step.

        Returns
        -------
        lifecircle.planning.scenario.ScenarioResult
            ``.table`` (before/after per community and category),
            ``.summary()``, ``.after`` (an Analysis), ``.map()``, ``.save(folder)``.
        """
        from .planning.scenario import what_if

        return what_if(self, scenario, progress=progress)

    def save(self, folder: str | Path, lang: str = "en", tiles: str = "osm",
             tiles_attribution: str | None = None, progress: Any = None) -> dict[str, Path]:
        """Write every output into ``folder`` (created if missing).

        Files: ``coverage.csv`` (:attr:`coverage`), ``coverage.xlsx`` (a
        summary, the basis and one sheet per community), ``basis.csv``
        (:attr:`basis`), ``left_out.csv`` (:attr:`left_out`),
        ``lifecircle.gpkg`` (layers communities, pois, isochrones, gaps, in
        EPSG:4326), ``map.html``, ``report.html`` and PNG charts. Files are
        written to a staging folder first, so a failure leaves none half
        written.

        Parameters
        ----------
        folder
            Output folder.
        lang
            "en" or "zh": language of the map, charts, report and workbook.
        tiles, tiles_attribution
            Background tiles of ``map.html``, as for :meth:`map`.
        progress
            Called with a message when the writing starts, if given.

        Returns
        -------
        dict
            Output kind (e.g. "coverage", "gpkg", "map", "report") -> path.
        """
        from .outputs.files import save_analysis

        return save_analysis(self, folder, lang=lang, tiles=tiles, tiles_attribution=tiles_attribution,
                             progress=progress)

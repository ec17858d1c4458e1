"""Package-wide defaults, in one place (as ``osmnx.settings`` does).

Change them at run time (``lifecircle.settings.speed_kmh = 4.0``) or per run
through a TOML config; functions read them when called, not when imported.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The bundled real extract (central Helsinki, ODbL), read when no source is given.
BUNDLED_OSM: Path = Path(__file__).resolve().parent.parent / "data" / "helsinki-centre.osm.pbf"

#: Walking speed in km/h (4.5 km/h = 75 m/min, the usual planning figure).
speed_kmh: float = 4.5

#: Life-circle level used when none is given.
default_level: str = "10min"

#: Points farther than this (metres) from any walkable street are reported
#: and left unsnapped rather than snapped across a river or rail line.
max_snap_m: float = 200.0

#: Searches stop at this multiple of the threshold; times beyond it are NaN.
search_factor: float = 3.0

#: Depth of a street frontage (metres) used to turn reached street segments
#: into isochrone polygons.
frontage_m: float = 25.0

#: Floor area per resident (m2) for the population proxy
#: footprint x building:levels / floor_area_per_person.
floor_area_per_person: float = 35.0

#: Levels assumed for a residential building without building:levels.
default_building_levels: float = 3.0

#: Building values counted as residential wherever they stand.
residential_buildings: tuple[str, ...] = (
    "apartments", "residential", "house", "detached", "semidetached_house",
    "terrace", "dormitory", "bungalow", "farm",
)

#: Projected CRS for the analysis; None picks the local UTM zone.
analysis_crs: str | None = None

#: Display and file CRS.
output_crs: str = "EPSG:4326"

#: Folder for cached Overpass and Nominatim answers (osmnx's HTTP cache), so
#: a repeated online run downloads nothing; None means
#: ``$XDG_CACHE_HOME/lifecircle`` (default ``~/.cache/lifecircle``).
cache_folder: str | None = None


def cache_path() -> Path:
    """The cache folder in use: :data:`cache_folder`, else ``$XDG_CACHE_HOME/lifecircle``.

    Overpass and Nominatim answers are kept in it, and place searches' under ``places/``.
    """
    if cache_folder:
        return Path(cache_folder)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lifecircle"

#: A community is covered for a category when at least this share of its
#: homes (or of its area, where it has none) lies within the category's
#: distance. Half: the flag then says what most of its residents have, and a
#: facility at the community's far corner does not cover the whole of it.
min_share: float = 0.5

#: Colour of a category or layer that sets none.
fallback_color: str = "#555555"

#: A community cut by the extract's boundary with less than this much of its
#: area (m2) inside is listed in left_out.csv rather than reported: what is
#: left is a sliver along the edge, not the community.
min_partial_area_m2: float = 200.0

#: Site suggestions (``lifecircle suggest``): without a candidates file,
#: candidate sites are placed along the streets within the category's
#: distance of an uncovered home, at most this far apart (metres): half a
#: typical block face, so a site is never more than 25 m from one.
suggest_spacing_m: float = 50.0

#: The exact solver (spopt MCLP on CBC) is tried on reduced instances of at
#: most this many cells (demand groups x candidates); larger ones are solved
#: greedily, with a bound on the optimum. spopt builds its model densely, at
#: about 13 us a cell here (3.7 s for 270,000 cells), before CBC starts.
suggest_exact_cells: int = 1_000_000

#: CBC's time limit (seconds) on an exact suggestion; past it the greedy
#: solution is returned with its bound.
suggest_time_limit_s: float = 60.0

#: A new walkway (what-if scenarios) joins a street when its end lies within
#: this many metres of it, or (unless a bridge) it passes a dead end this
#: close; a street to close must lie within this distance of the line drawn.
walkway_join_m: float = 5.0

#: Let the command's own process fork helpers on a machine with two cores or
#: more: one reads the OSM file while this one loads the libraries, one draws
#: half the isochrones, and one writes the documents (workbook, charts,
#: overview map, report.html) while this one writes the tables and the map.
#: The ``lifecircle`` command turns it on for its own, single-threaded
#: process; a library call (a notebook, a Dask worker, a test) does all in
#: one process, because a fork after other libraries started threads can
#: crash the child.
parallel_outputs: bool = False

#: Largest distance (metres) between the points along an area facility's outline from
#: which it is entered (besides where walkable ways meet the outline and its mapped
#: entrances): an open edge can be stepped over anywhere along a street. A walk can be off by
#: at most about the spacing (half of it along the outline, half in the leg to the street); at
#: 5 m no walk on the bundled extract moves by more than 4 m against a 1 m spacing, where
#: the old 50 m (at most 64 points) moved them by tens of metres (tests/test_access.py).
access_spacing_m: float = 5.0

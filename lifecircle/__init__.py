"""lifecircle: which communities reach their daily needs within a short walk.

Public API (the CLI is a thin layer over these)::

    import lifecircle
    a = lifecircle.analyze()                 # bundled central-Helsinki extract
    a.coverage                               # one row per community
    a.map(lang="zh")                         # folium map
    a.save("out")                            # CSV, GeoPackage, map, charts, report
"""

from .analysis import Analysis
from .config import Category, Config, load_config
from .errors import LifecircleError
from .pipeline import BUNDLED_OSM, analyze
from .sources.osmfile import OSMData, read_osm

__all__ = [
    "Analysis", "Category", "Config", "LifecircleError", "OSMData",
    "BUNDLED_OSM", "analyze", "load_config", "read_osm",
]

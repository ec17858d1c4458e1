"""lifecircle: which communities reach their daily needs within a short walk.

Public API (the CLI is a thin layer over these)::

    import lifecircle
    a = lifecircle.analyze()                 # bundled central-Helsinki extract
    a.coverage                               # one row per community
    a.map(lang="zh")                         # folium map
    a.save("out")                            # CSV, GeoPackage, map, charts, report
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import LifecircleError

if TYPE_CHECKING:
    from .analysis import Analysis
    from .batch import batch
    from .config import Category, Config, load_config
    from .pipeline import BUNDLED_OSM, analyze
    from .sources.osmfile import OSMData, read_osm

# Public name -> module defining it. They are imported on first use (PEP 562):
# osmnx, geopandas and friends take seconds to import, and `lifecircle --help`
# or a mistyped option must answer at once.
_LAZY = {
    "Analysis": ".analysis", "Category": ".config", "Config": ".config", "load_config": ".config",
    "BUNDLED_OSM": ".pipeline", "analyze": ".pipeline", "OSMData": ".sources.osmfile",
    "read_osm": ".sources.osmfile", "batch": ".batch",
}

__all__ = [
    "Analysis", "Category", "Config", "LifecircleError", "OSMData",
    "BUNDLED_OSM", "analyze", "batch", "load_config", "read_osm",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

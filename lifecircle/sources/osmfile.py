"""Offline OSM reader (.osm.pbf, .osm, .osm.bz2) built on pyosmium.

One pass over the file yields the walkable ways (split where the extract is
clipped) and the tagged features that can be facilities, buildings or
community polygons. :func:`read_osm` turns them into an osmnx-compatible
walk graph and a features GeoDataFrame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import networkx as nx
import osmium
import shapely

from ..errors import EmptyAreaError, InputFileError, first_line
from ..network import build_walk_graph

#: Tag keys that make an OSM object worth keeping as a feature.
FEATURE_KEYS = frozenset({
    "amenity", "shop", "leisure", "healthcare", "social_facility", "sport",
    "landuse", "building", "place", "boundary",
})

# osmnx's "walk" network filter (osmnx 2.1 `_overpass._get_network_filter`),
# as (key, regex that must NOT match the value) pairs. Overpass `!~` is an
# unanchored regex search, hence re.search below.
_WALK_EXCLUDE = (
    ("area", re.compile("yes")),
    ("access", re.compile("private")),
    ("highway", re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
        "proposed|raceway|razed|rest_area|services")),
    ("foot", re.compile("no")),
    ("service", re.compile("private")),
    ("sidewalk", re.compile("separate")),
    ("sidewalk:both", re.compile("separate")),
    ("sidewalk:left", re.compile("separate")),
    ("sidewalk:right", re.compile("separate")),
)

_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".xml")


def is_walkable(tags: dict[str, str]) -> bool:
    """Return True if a way with these tags is in osmnx's "walk" network."""
    if "highway" not in tags:
        return False
    return not any(k in tags and rx.search(tags[k]) for k, rx in _WALK_EXCLUDE)


@dataclass
class OSMData:
    """Raw OSM content for one study area.

    Attributes
    ----------
    graph
        Walk network, unprojected (EPSG:4326), osmnx-compatible.
    features
        Tagged features: ``osm_type``, ``osm_id``, ``name``, ``tags`` (dict),
        geometry (EPSG:4326).
    source
        Description of where the data came from.
    """

    graph: nx.MultiDiGraph
    features: gpd.GeoDataFrame
    source: str


def _split_at_missing(way: Any) -> Iterator[list[tuple[int, float, float]]]:
    """Yield the runs of a way's nodes whose locations are in the file.

    A clipped extract leaves holes in a way; the pieces on either side are
    kept apart, because joining them would invent a straight street across
    whatever lies between.
    """
    run: list[tuple[int, float, float]] = []
    for n in way.nodes:
        loc = n.location
        if loc.valid():
            run.append((n.ref, loc.lon, loc.lat))
        else:
            if len(run) > 1:
                yield run
            run = []
    if len(run) > 1:
        yield run


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"OSM file not found: {path}")
    if not path.is_file():
        raise InputFileError(f"OSM path is not a file: {path}")
    if not path.name.lower().endswith(_SUFFIXES):
        raise InputFileError(f"{path}: not an OSM file (expected .osm.pbf, .osm or .osm.bz2)")
    return path


def scan_osm(path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read the walkable way pieces and candidate features of an OSM file.

    Parameters
    ----------
    path
        A .osm.pbf, .osm or .osm.bz2 file.

    Returns
    -------
    ways
        One dict per walkable piece: ``osmid``, ``nodes`` [(id, lon, lat)],
        ``tags``.
    features
        One dict per feature: ``osm_type``, ``osm_id``, ``tags``, ``wkb``.
    """
    path = _check_path(path)
    ways: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    wkb = osmium.geom.WKBFactory()
    try:
        fp = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in fp:
            if obj.is_area():
                tags = dict(obj.tags)
                if FEATURE_KEYS.isdisjoint(tags):
                    continue
                try:
                    geom = wkb.create_multipolygon(obj)
                except RuntimeError:  # broken ring: skip the area, keep the run
                    continue
                features.append({
                    "osm_type": "way" if obj.from_way() else "relation",
                    "osm_id": obj.orig_id(), "tags": tags, "wkb": geom,
                })
                continue
            if not obj.tags:
                continue
            tags = dict(obj.tags)
            if obj.is_node():
                if not FEATURE_KEYS.isdisjoint(tags) and obj.location.valid():
                    features.append({
                        "osm_type": "node", "osm_id": obj.id, "tags": tags,
                        "wkb": wkb.create_point(obj),
                    })
            elif obj.is_way() and is_walkable(tags):
                for run in _split_at_missing(obj):
                    ways.append({"osmid": obj.id, "nodes": run, "tags": tags})
    except RuntimeError as e:
        raise InputFileError(f"cannot read OSM file {path}: {first_line(e)}") from None
    return ways, features


def features_frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Build the features GeoDataFrame (EPSG:4326) from scanned features."""
    geoms = shapely.from_wkb([f["wkb"] for f in features]) if features else []
    gdf = gpd.GeoDataFrame(
        {
            "osm_type": [f["osm_type"] for f in features],
            "osm_id": [int(f["osm_id"]) for f in features],
            "name": [f["tags"].get("name", "") for f in features],
            "tags": [f["tags"] for f in features],
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    # pyosmium emits areas after everything else; sort so ids, not file
    # layout, decide the order (and so the output files).
    return gdf.sort_values(["osm_type", "osm_id"], kind="stable").reset_index(drop=True)


def read_osm(path: str | Path, *, simplify: bool = True, retain_all: bool = False) -> OSMData:
    """Read an OSM extract into a walk graph and a features table.

    Parameters
    ----------
    path
        A .osm.pbf, .osm or .osm.bz2 file; may be clipped at its boundary.
    simplify
        Simplify the graph topology as ``osmnx.simplify_graph`` does.
    retain_all
        Keep every connected component, not only the largest.

    Returns
    -------
    OSMData
    """
    ways, features = scan_osm(path)
    if not ways:
        raise EmptyAreaError(f"{path}: no walkable streets in the file")
    graph = build_walk_graph(ways, simplify=simplify, retain_all=retain_all)
    return OSMData(graph=graph, features=features_frame(features), source=Path(path).name)

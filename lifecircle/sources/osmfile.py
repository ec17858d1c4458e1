"""Offline OSM reader (.osm.pbf, .osm, .osm.bz2) built on pyosmium.

One pass over the file yields the walkable ways (split where the extract is
clipped) and the tagged features that can be facilities, buildings or
community polygons. :func:`read_osm` turns them into an osmnx-compatible
walk graph and a features GeoDataFrame.

Nothing with a feature tag is dropped in silence: an area whose outline the
extract cuts becomes its visible lines (``clipped``), and what cannot become
a geometry at all is listed in :attr:`OSMData.left_out` with the reason.
"""

from __future__ import annotations

import re
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np
import osmium
import shapely
from osmium.osm import Area, Node, Relation, Way

from .. import settings
from ..adapters import node_refs, tag_dict
from ..core.lazy import LazyGraph
from ..core.pieces import WalkPieces
from ..errors import EmptyAreaError, InputFileError, first_line
from ..i18n import Message

if TYPE_CHECKING:  # the scan needs none of these (the command's read-ahead process imports only it)
    import geopandas as gpd
    import networkx as nx
    import pandas as pd

    from ..core.network import WalkNetwork

#: Tag keys that make an OSM object worth keeping as a feature: facilities, homes and
#: communities, and what classifies a facility by its context (a campus, a military
#: area, a museum or heritage site, an office) or enters it (``entrance`` nodes).
FEATURE_KEYS = frozenset({
    "amenity", "shop", "leisure", "healthcare", "social_facility", "sport",
    "landuse", "building", "place", "boundary",
    "office", "tourism", "historic", "military", "entrance",
})

#: Keys that describe an object without saying what it is. A node with a name and only
#: these (``name=中国银行中关村支行``, an address, a phone number) is kept as a
#: feature: a name rule may make it a facility.
DESCRIPTIVE_KEYS = frozenset({
    "name", "name:zh", "name:zh-Hans", "name:zh-Hant", "name:en", "official_name", "alt_name", "old_name",
    "short_name", "brand", "brand:wikidata", "brand:en", "brand:zh", "operator", "opening_hours", "phone",
    "contact:phone", "website", "contact:website", "email", "source", "note", "description", "wikidata",
    "wikipedia", "fixme", "FIXME", "level", "check_date", "start_date", "ref",
})


def bare_named(tags: dict[str, str]) -> bool:
    """A node named and described, with no tag saying what it is (read by its name)."""
    return "name" in tags and all(k in DESCRIPTIVE_KEYS or k.startswith(("addr:", "name:")) for k in tags)

#: Columns of :attr:`OSMData.left_out`.
LEFT_OUT_COLUMNS = ("osm_type", "osm_id", "name", "tags", "reason")

#: Reasons given in :attr:`OSMData.left_out`.
REASON_INCOMPLETE = "relation incomplete in the extract"
REASON_INVALID = "invalid geometry"
REASON_OUTSIDE = "outline outside the extract"
REASON_NO_LOCATION = "node without a location"

# Relation types from which pyosmium assembles areas.
_AREA_RELATIONS = frozenset({"multipolygon", "boundary"})

# libosmium writes timestamp 0 (the epoch) for objects that have none.
_NO_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)

# osmnx's "walk" network filter (osmnx 2.1 `_overpass._get_network_filter`),
# as key -> regex that must NOT match the value. Overpass `!~` is an
# unanchored regex search, hence re.search below.
_WALK_EXCLUDE = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
        "proposed|raceway|razed|rest_area|services"),
    "foot": re.compile("no"),
    "service": re.compile("private"),
    "sidewalk": re.compile("separate"),
    "sidewalk:both": re.compile("separate"),
    "sidewalk:left": re.compile("separate"),
    "sidewalk:right": re.compile("separate"),
}
_WALK_EXCLUDE_KEYS = frozenset(_WALK_EXCLUDE)

_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".xml")

# Seconds between progress messages while a file is read, and how often
# (every 2**14 objects) the clock is looked at.
_PROGRESS_EVERY_S = 3.0
_PROGRESS_MASK = 0x3FFF


def is_walkable(tags: dict[str, str]) -> bool:
    """Return True if a way with these tags is in osmnx's "walk" network."""
    if "highway" not in tags:
        return False
    # only the keys the way has (a street has two or three tags, not nine);
    # a loop, not any(): this runs for every way of a city
    for key in _WALK_EXCLUDE_KEYS.intersection(tags):
        if _excludes(key, tags[key]):
            return False
    return True


@lru_cache(maxsize=4096)
def _excludes(key: str, value: str) -> bool:
    """True if osmnx's walk filter excludes a way with this tag. Cached: a
    city has a few dozen highway values, and 140,000 ways to test."""
    return _WALK_EXCLUDE[key].search(value) is not None


def feature_keys(keys: Iterable[str] = ()) -> frozenset[str]:
    """The tag keys read as features: :data:`FEATURE_KEYS` plus ``keys``.

    Parameters
    ----------
    keys
        Extra tag keys, e.g. the keys a custom category names ("highway"
        for ``highway=bus_stop``). A single string counts as one key.
    """
    if isinstance(keys, str):  # "highway" is one key, not seven letters
        keys = (keys,)
    return FEATURE_KEYS | frozenset(str(k) for k in keys if str(k))


def left_out_frame(rows: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    """Build the left-out table from rows with the :data:`LEFT_OUT_COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        ``osm_type`` (str), ``osm_id`` (int64), ``name`` (str), ``tags``
        (dict), ``reason`` (str); sorted by type and id. Empty, with the
        same columns, when there are no rows.
    """
    import pandas as pd

    rows = list(rows)
    frame = pd.DataFrame({
        "osm_type": pd.Series([r["osm_type"] for r in rows], dtype=str),
        "osm_id": pd.Series([int(r["osm_id"]) for r in rows], dtype="int64"),
        "name": pd.Series([str(r.get("name") or "") for r in rows], dtype=str),
        "tags": pd.Series([dict(r["tags"]) for r in rows], dtype=object),
        "reason": pd.Series([r["reason"] for r in rows], dtype=str),
    })
    return frame.sort_values(["osm_type", "osm_id"], kind="stable").reset_index(drop=True)


@dataclass
class OSMData:
    """Raw OSM content for one study area.

    Attributes
    ----------
    graph
        Walk network, unprojected (EPSG:4326), osmnx-compatible. Read from
        a file, it is built from ``walk`` on first access.
    features
        Tagged features: ``osm_type``, ``osm_id``, ``name``, ``tags`` (dict),
        ``clipped`` (bool: an area cut by the extract's boundary, given as
        the MultiLineString of its visible outline), geometry (EPSG:4326).
        Frames built elsewhere may lack ``clipped``; read it as all False.
    source
        Description of where the data came from.
    feature_keys
        The tag keys that were read as features; a category on another key
        cannot have found anything in this data.
    left_out
        Objects with a feature key that could not be made into a geometry:
        ``osm_type``, ``osm_id``, ``name``, ``tags`` (dict), ``reason``
        (see :func:`left_out_frame`).
    data_date
        Date of the data, "YYYY-MM-DD" (UTC), or None if unknown.
    warnings
        Doubts about the file that did not stop the read (repeated node
        ids, street nodes far from the rest), one sentence each.
    places
        Facilities found by a place search with the download (``lifecircle fetch
        --pois-from amap``, :func:`lifecircle.sources.places.search`), merged like a file's.
    walk
        The same walk network as arrays (read from a file; else None):
        :func:`lifecircle.analyze` indexes it without building ``graph``
        (unless ``graph`` was read or set by then: that graph is analysed).
    """

    graph: nx.MultiDiGraph = LazyGraph()
    features: gpd.GeoDataFrame
    source: str
    feature_keys: frozenset[str] = FEATURE_KEYS
    left_out: pd.DataFrame = field(default_factory=left_out_frame)
    data_date: str | None = None
    warnings: list[str] = field(default_factory=list)
    walk: WalkNetwork | None = None
    places: list = field(default_factory=list)

    def _build_graph(self) -> nx.MultiDiGraph | None:
        return None if self.walk is None else self.walk.to_graph()


class OSMScan(NamedTuple):
    """What one pass over an OSM file found (see :func:`scan_osm`)."""

    pieces: WalkPieces
    features: list[dict[str, Any]]
    left_out: list[dict[str, Any]]
    data_date: str | None
    feature_keys: frozenset[str]
    warnings: tuple[str, ...] = ()

    @property
    def ways(self) -> list[dict[str, Any]]:
        """The walkable pieces as dicts (``osmid``, ``tags``, ``nodes`` as [(id, lon, lat)])."""
        return self.pieces.ways()


def _plain_street_tags(way: Any) -> dict[str, str] | None:
    """The tags of a way tagged ``highway`` and at most ``name``, else None.

    Two lookups instead of reading the tags one by one (which costs a
    Python object per tag): most streets of a planned city's extract, and a
    sixth of a historic centre's, carry no other tag. The dict equals
    ``dict(way.tags)``; its key order is fixed, which nothing reading a
    street's tags depends on.
    """
    tags = way.tags
    count = len(tags)
    if not 0 < count < 3:
        return None
    highway = tags.get("highway")
    if highway is None:
        return None
    if count == 1:
        return {"highway": highway}
    name = tags.get("name")
    return None if name is None else {"highway": highway, "name": name}


def _split_at_missing(refs: Iterable[Any]) -> Iterator[list[tuple[int, float, float]]]:
    """Yield the runs of a way's node refs whose locations are in the file.

    A clipped extract leaves holes in a way; the pieces on either side are
    kept apart, because joining them would invent a straight street across
    whatever lies between.
    """
    run: list[tuple[int, float, float]] = []
    for n in refs:
        loc = n.location
        if loc.valid():
            run.append((n.ref, loc.lon, loc.lat))
        else:
            if len(run) > 1:
                yield run
            run = []
    if len(run) > 1:
        yield run


def _is_clipped_ring(refs: list[Any], tags: dict[str, str]) -> bool:
    """True for a closed way (given as its node refs) that pyosmium would
    make an area of, were its nodes all in the file, and whose nodes are
    not all in the file."""
    # libosmium's own area rules: at least 4 nodes, not tagged area=no
    if len(refs) < 4 or refs[0].ref != refs[-1].ref or tags.get("area") == "no":
        return False
    return any(not n.location.valid() for n in refs)


class _PieceLists:
    """Walkable way pieces as they are read, in the flat layout of
    :class:`~lifecircle.core.network.WalkPieces`: typed arrays, no Python
    int or float kept per node, copied into numpy at the end."""

    def __init__(self) -> None:
        self.osmid = array("q")
        self.tags: list[dict[str, str]] = []
        self.names: list[str | None] = []  # WalkPieces.names
        self.start = array("q", [0])
        self.ids = array("q")
        self.lon = array("d")
        self.lat = array("d")

    def __len__(self) -> int:
        return len(self.osmid)

    def add(self, way_id: int, tags: dict[str, str], refs: list[Any]) -> None:
        """Add the pieces of one walkable way (its node refs): the way
        itself, or the runs of nodes that are in the file."""
        if len(refs) < 2:  # one node is no piece, with or without a location
            return
        ids, lon, lat = self.ids, self.lon, self.lat
        mark = len(ids)
        # the common case first: every node is in the file (the whole way is
        # one piece), so no location.valid() call per node
        try:
            for n in refs:
                loc = n.location
                lon.append(loc.lon)  # raises for a location not in the file
                lat.append(loc.lat)
                ids.append(n.ref)
        except osmium.InvalidLocationError:  # a hole: the rare, slow way
            del ids[mark:], lon[mark:], lat[mark:]
            for run in _split_at_missing(refs):
                for nid, x, y in run:
                    ids.append(nid)
                    lon.append(x)
                    lat.append(y)
                self._close(way_id, tags)
            return
        self._close(way_id, tags)

    def _close(self, way_id: int, tags: dict[str, str]) -> None:
        """End a piece at the node references added so far."""
        self.osmid.append(way_id)
        self.tags.append(tags)
        self.names.append(tags.get("name"))
        self.start.append(len(self.ids))

    def pieces(self) -> WalkPieces:
        """The pieces as arrays (what ``WalkPieces.from_ways`` of the same
        pieces gives)."""
        return WalkPieces(
            osmid=np.array(self.osmid, dtype=np.int64), tags=self.tags,
            start=np.array(self.start, dtype=np.int64), ids=np.array(self.ids, dtype=np.int64),
            lon=np.array(self.lon, dtype=np.float64), lat=np.array(self.lat, dtype=np.float64),
            names=self.names,
        )


def _header_date(header: Any) -> str | None:
    """The replication date in a file header as "YYYY-MM-DD", or None."""
    text = header.get("osmosis_replication_timestamp") or ""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc)
    return stamp.date().isoformat()


def _row(osm_type: str, osm_id: int, tags: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A feature or left-out row: identity, name and tags, plus ``extra``."""
    return {"osm_type": osm_type, "osm_id": int(osm_id), "name": tags.get("name", ""), "tags": tags, **extra}


class _Scanner:
    """State of one pass: features, walk pieces and what is left out.

    Areas arrive from pyosmium's assembler after the ways they come from,
    and a relation's area may arrive before or after the relation itself;
    so clipped rings and incomplete relations are settled in
    :meth:`finish`, once everything has been seen.
    """

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys
        self.newest = _NO_TIME
        self.wkb = osmium.geom.WKBFactory()
        self.walk = _PieceLists()
        self.features: list[dict[str, Any]] = []
        self.invalid: dict[tuple[str, int], dict[str, Any]] = {}
        self.clipped: dict[int, tuple[dict[str, str], list[list[tuple[int, float, float]]]]] = {}
        self.assembled_clipped: set[int] = set()
        self.relations: dict[int, dict[str, str]] = {}
        self.assembled_relations: set[int] = set()
        self.other_left_out: list[dict[str, Any]] = []
        self.unordered_nodes = 0  # node ids not above the previous one
        self.first_unordered: int | None = None

    def unordered(self, node_id: int) -> None:
        """Count a node whose id is not above the one before it."""
        self.unordered_nodes += 1
        if self.first_unordered is None:
            self.first_unordered = node_id

    def area(self, obj: Any) -> None:
        tags = tag_dict(obj)
        if self.keys.isdisjoint(tags):
            return
        from_way = obj.from_way()
        osm_type, osm_id = ("way" if from_way else "relation"), obj.orig_id()
        if not from_way:
            self.assembled_relations.add(osm_id)
        try:
            geom = self.wkb.create_multipolygon(obj)
        except RuntimeError:  # broken ring: report it and read on
            self.invalid[(osm_type, osm_id)] = _row(osm_type, osm_id, tags, reason=REASON_INVALID)
            return
        if from_way and osm_id in self.clipped:
            self.assembled_clipped.add(osm_id)
        self.features.append(_row(osm_type, osm_id, tags, wkb=geom, clipped=False))

    def node(self, obj: Any) -> None:
        tags = tag_dict(obj)
        if self.keys.isdisjoint(tags) and not bare_named(tags):
            return
        if not obj.location.valid():
            self.other_left_out.append(_row("node", obj.id, tags, reason=REASON_NO_LOCATION))
            return
        self.features.append(_row("node", obj.id, tags, wkb=self.wkb.create_point(obj), clipped=False))

    def way(self, obj: Any) -> None:
        tags = _plain_street_tags(obj)
        if tags is None:
            tags = tag_dict(obj)
        walkable, feature = is_walkable(tags), not self.keys.isdisjoint(tags)
        if not (walkable or feature):
            return
        refs = node_refs(obj)
        if walkable:
            self.walk.add(obj.id, tags, refs)
        # the assembler makes no area of a ring with missing nodes: keep
        # what the file shows of it (the way object is gone after this call)
        if feature and _is_clipped_ring(refs, tags):
            # a feature row keeps the tags in file order
            self.clipped[obj.id] = (tag_dict(obj), list(_split_at_missing(refs)))

    def relation(self, obj: Any) -> None:
        tags = tag_dict(obj)
        if tags.get("type") in _AREA_RELATIONS and not self.keys.isdisjoint(tags):
            # as on pyosmium's areas, "type" is not a tag of the feature
            self.relations[obj.id] = {k: v for k, v in tags.items() if k != "type"}

    def finish(self, header_date: str | None) -> OSMScan:
        """Settle clipped rings and incomplete relations; return the scan."""
        left_out = list(self.other_left_out)
        for way_id, (tags, runs) in self.clipped.items():
            if way_id in self.assembled_clipped:  # an area after all: never twice
                continue
            # an empty area the assembler may emit for such a ring is not
            # "invalid geometry": the ring is cut, and its lines are kept
            self.invalid.pop(("way", way_id), None)
            if not runs:
                left_out.append(_row("way", way_id, tags, reason=REASON_OUTSIDE))
                continue
            lines = shapely.MultiLineString([[(lon, lat) for _, lon, lat in run] for run in runs])
            self.features.append(_row("way", way_id, tags, wkb=shapely.to_wkb(lines, hex=True), clipped=True))
        left_out.extend(self.invalid.values())
        for rel_id, tags in self.relations.items():
            if rel_id not in self.assembled_relations:
                left_out.append(_row("relation", rel_id, tags, reason=REASON_INCOMPLETE))
        date = header_date
        if date is None and self.newest > _NO_TIME:
            date = self.newest.astimezone(timezone.utc).date().isoformat()
        warnings = []
        if self.unordered_nodes:
            warnings.append(Message("warn_unordered_nodes", n=self.unordered_nodes, first=self.first_unordered))
        pieces = self.walk.pieces()
        warnings += _far_nodes(pieces.ids, pieces.lon, pieces.lat)
        return OSMScan(pieces, self.features, left_out, date, self.keys, tuple(warnings))


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputFileError(Message("err_osm_not_found", path=str(path)))
    if not path.is_file():
        raise InputFileError(Message("err_osm_not_file", path=str(path)))
    if not path.name.lower().endswith(_SUFFIXES):
        raise InputFileError(Message("err_osm_suffix", path=str(path)))
    return path


def scan_osm(path: str | Path, keys: Iterable[str] = (),
             progress: Callable[[str], None] | None = None) -> OSMScan:
    """Read the walkable way pieces and candidate features of an OSM file.

    Parameters
    ----------
    path
        A .osm.pbf, .osm or .osm.bz2 file.
    keys
        Tag keys read as features besides :data:`FEATURE_KEYS`. Walkable
        ways still go to the network; a node (or area) with one of these
        keys becomes a feature too.
    progress
        Called with a short message every few seconds of a long read (a
        city's extract takes minutes), so a terminal shows it is moving.

    Returns
    -------
    OSMScan
        ``pieces``: the walkable way pieces (a clipped way gives one per
        run of nodes in the file); ``ways`` gives them as dicts (``osmid``,
        ``nodes`` [(id, lon, lat)], ``tags``). ``features``: one dict per feature
        (``osm_type``, ``osm_id``, ``name``, ``tags``, ``wkb``, ``clipped``).
        ``left_out``: one dict per object that gave no geometry (``osm_type``,
        ``osm_id``, ``name``, ``tags``, ``reason``). ``data_date``: the
        header's replication date, else the newest object's, "YYYY-MM-DD"
        or None. ``feature_keys``: the keys read.
    """
    path = _check_path(path)
    keys_read = feature_keys(keys)
    try:
        fp = osmium.FileProcessor(str(path)).with_locations().with_areas()
        header_date = _header_date(fp.header)
        scanner = _Scanner(keys_read)
        track_time = header_date is None  # only then is the newest edit needed
        count, said = 0, time.monotonic()
        # locals, not scanner attributes, for what every object touches
        newest, last_node = _NO_TIME, -(1 << 63)
        # inline, not a method per object: most objects are untagged nodes
        for obj in fp:
            count += 1
            if progress is not None and not count & _PROGRESS_MASK and time.monotonic() - said >= _PROGRESS_EVERY_S:
                said = time.monotonic()
                progress(Message("progress_read_count", millions=count / 1e6, file=path.name,
                                 ways=len(scanner.walk), features=len(scanner.features)))
            # isinstance, not obj.is_node() and co.: a Python call less per object
            if isinstance(obj, Area):
                scanner.area(obj)
                continue
            if track_time:
                stamp = obj.timestamp
                if stamp > newest:
                    newest = stamp
            if isinstance(obj, Way):
                scanner.way(obj)  # an untagged way gives nothing either
            elif isinstance(obj, Node):
                # a sorted file (every extract tool writes one) has rising ids;
                # a repeat means two locations for one node, and only one is kept
                nid = obj.id
                if nid <= last_node:
                    scanner.unordered(nid)
                last_node = nid
                if obj.tags:
                    scanner.node(obj)
            elif isinstance(obj, Relation) and obj.tags:
                scanner.relation(obj)
    except (RuntimeError, osmium.InvalidLocationError) as e:  # the latter: lat="nan", lat="abc"
        raise InputFileError(Message("err_osm_unreadable", path=str(path), reason=first_line(e))) from None
    scanner.newest = newest
    return scanner.finish(header_date)


def _far_nodes(ids: np.ndarray, lon: np.ndarray, lat: np.ndarray,
               factor: float = 20.0, floor_km: float = 20.0) -> list[str]:
    """A warning for street nodes far from all the others (a node at 89.9 N in a city), if any.

    A node counts as far when its distance from the median position is more
    than ``factor`` times the 90th percentile of those distances and more
    than ``floor_km``: a regional extract has no such outlier, a typo does.
    ``ids``, ``lon``, ``lat``: every node reference of the walkable pieces.
    """
    if len(ids) < 10:
        return []
    c_lon, c_lat = np.median(lon), np.median(lat)
    # equirectangular distance in km: plenty for "thousands of km away"
    dist = np.hypot((lon - c_lon) * np.cos(np.radians(c_lat)) * 111.32, (lat - c_lat) * 110.57)
    far = dist > max(factor * np.percentile(dist, 90), floor_km)
    if not far.any():
        return []
    i = int(np.argmax(dist))
    nid, lon, lat = int(ids[i]), float(lon[i]), float(lat[i])
    n = len(np.unique(ids[far]))
    return [Message("warn_far_nodes", n=n, node=nid, lat=lat, lon=lon, km=float(dist[i]))]


def features_frame(features: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Build the features GeoDataFrame (EPSG:4326) from scanned features.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_type``, ``osm_id``, ``name``, ``tags``, ``clipped`` (False
        where a feature dict has none), geometry; sorted by type and id.
    """
    import geopandas as gpd
    import pandas as pd

    geoms = shapely.from_wkb([f["wkb"] for f in features]) if features else []
    gdf = gpd.GeoDataFrame(
        {
            "osm_type": [f["osm_type"] for f in features],
            "osm_id": pd.Series([int(f["osm_id"]) for f in features], dtype="int64"),
            "name": [f["tags"].get("name", "") for f in features],
            "tags": [f["tags"] for f in features],
            "clipped": pd.Series([bool(f.get("clipped", False)) for f in features], dtype=bool),
        },
        geometry=list(geoms),
        crs="EPSG:4326",
    )
    # pyosmium emits areas after everything else; sort so ids, not file
    # layout, decide the order (and so the output files).
    return gdf.sort_values(["osm_type", "osm_id"], kind="stable").reset_index(drop=True)


def read_osm(
    path: str | Path, *, keys: Iterable[str] = (), simplify: bool = True, retain_all: bool = False,
    progress: Callable[[str], None] | None = None,
) -> OSMData:
    """Read an OSM extract into a walk graph and a features table.

    Parameters
    ----------
    path
        A .osm.pbf, .osm or .osm.bz2 file; may be clipped at its boundary.
    keys
        Tag keys read as features besides :data:`FEATURE_KEYS`, e.g. the
        keys of custom categories.
    simplify
        Simplify the graph topology as ``osmnx.simplify_graph`` does.
    retain_all
        Keep every connected component, not only the largest.
    progress
        Called with a short message now and then while a large file is read.

    Returns
    -------
    OSMData
        With ``feature_keys``, ``left_out``, ``data_date``, ``warnings`` and
        ``walk`` filled in; ``graph`` is built from ``walk`` when first read.
    """
    return from_scan(scan_osm(path, keys, progress), path, simplify=simplify, retain_all=retain_all)


def from_scan(scan: OSMScan, path: str | Path, *, simplify: bool = True, retain_all: bool = False) -> OSMData:
    """The OSMData of a scan of ``path``: the walk network built, the tables made.

    :func:`read_osm` is this after :func:`scan_osm`; the command runs the scan
    in another process while it loads the libraries, and this step here.
    """
    from ..core.network import build_walk_network

    if not len(scan.pieces.osmid):
        raise EmptyAreaError(Message("err_osm_no_streets", path=str(path)))
    # arrays only: the networkx graph is built if someone reads OSMData.graph
    walk = build_walk_network(scan.pieces, simplify=simplify, retain_all=retain_all)
    return OSMData(
        graph=None, features=features_frame(scan.features), source=Path(path).name,
        feature_keys=scan.feature_keys, left_out=left_out_frame(scan.left_out), data_date=scan.data_date,
        warnings=list(scan.warnings), walk=walk,
    )


def load_source(source: str | Path | OSMData | None, keys: Iterable[str] = (),
                progress: Callable[[str], None] | None = None) -> OSMData:
    """Return OSM data from a file path, an OSMData, or the bundled extract.

    ``keys`` are OSM tag keys to read features by, beyond the built-in ones
    (:data:`lifecircle.sources.osmfile.FEATURE_KEYS`); ``progress`` hears
    how a long read is going.
    """
    if isinstance(source, OSMData):
        return source
    return read_osm(osm_path(source), keys=keys, progress=progress)


def osm_path(source: str | Path | None) -> str | Path:
    """``source``, or the bundled extract for None."""
    if source is not None:
        return source
    if not settings.BUNDLED_OSM.exists():
        raise InputFileError(f"bundled extract not found at {settings.BUNDLED_OSM}; pass an OSM file")
    return settings.BUNDLED_OSM

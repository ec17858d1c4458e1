"""Online source: study areas, Overpass downloads through osmnx, offline bundles.

:func:`study_area` turns a place name (Nominatim), a boundary file or a
bounding box into a polygon; :func:`fetch` downloads the walk network and
the tagged features around it and returns them in exactly the shape the
offline reader (:mod:`lifecircle.sources.osmfile`) produces, so the rest of
the pipeline cannot tell the two apart. :func:`save_bundle` and
:func:`load_bundle` keep a download for use without internet.

Every answer is cached by osmnx in ``settings.cache_folder``; failures of the
services become one-line :class:`~lifecircle.errors.NetworkError` messages.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pandas as pd
import requests
import shapely

from .. import settings
from ..adapters import InsufficientResponseError, is_empty_answer, is_point_only_place, overpass_pause
from ..errors import ConfigError, EmptyAreaError, InputFileError, NetworkError, first_line
from ..fileio import read_polygons, staging_dir
from ..text import is_missing
from .coords import local_utm
from .osmfile import (
    FEATURE_KEYS,
    LEFT_OUT_COLUMNS,
    OSMData,
    bare_named,
    feature_keys,
    features_frame,
    left_out_frame,
)

#: File names inside a bundle folder.
MANIFEST = "bundle.json"
GRAPH_FILE = "graph.graphml"
FEATURES_FILE = "features.gpkg"
_FORMAT = "lifecircle-bundle"
_VERSION = 1

_OFFLINE_HINT = "use `lifecircle fetch` where online, then --bundle"


# --------------------------------------------------------------------------
# osmnx session: cache, status checks, error translation
# --------------------------------------------------------------------------

def cache_folder() -> Path:
    """The folder holding cached Overpass and Nominatim answers (:func:`lifecircle.settings.cache_path`)."""
    return settings.cache_path()


def _service(url: str | None, default: str) -> str:
    """Name the service a URL belongs to (the longest configured prefix wins,
    since a local Nominatim URL can be a prefix of the Overpass one)."""
    if not url:
        return default
    known = [(ox.settings.overpass_url, "Overpass"), (ox.settings.nominatim_url, "Nominatim")]
    hits = [(len(base), name) for base, name in known if url.startswith(str(base).rstrip("/"))]
    return max(hits)[1] if hits else default


def _host(url: str | None) -> str:
    return urlsplit(url or "").netloc or "?"


def _check_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """requests hook: fail at once on an HTTP error or an Overpass runtime error.

    osmnx waits 55 s and retries forever on 429/504 and passes other error
    statuses on as data; a user is better served by a clear message now.
    """
    service = _service(response.url, "the server")
    code = response.status_code
    if code >= 400:
        reason = f" {response.reason}" if response.reason else ""
        if code == 429:
            advice = "the server is rate-limiting you; wait a few minutes and try again"
        elif code >= 500:
            advice = "the server is busy or failing; try again later or use a smaller area"
        else:
            advice = "the request was refused"
        raise NetworkError(f"{service} answered HTTP {code}{reason} ({_host(response.url)}): {advice}")
    # Overpass reports a query that ran out of time or memory as a "remark"
    # next to partial data: never analyse a silently truncated download
    if service == "Overpass" and b'"remark"' in response.content:
        with contextlib.suppress(ValueError):
            remark = str(response.json().get("remark", ""))
            if "error" in remark.lower():
                raise NetworkError(
                    f"Overpass gave up on the query: {first_line(remark)}; use a smaller area or try later")


def _failing_pause(original: Callable[..., float]) -> Callable[..., float]:
    """Wrap osmnx's Overpass slot check so an unreachable server fails at once.

    When the status endpoint cannot be reached osmnx sleeps 60 s and then
    tries anyway; offline that is a minute of silence before the same error.
    """

    def pause(base_endpoint: str, *args: Any, **kwargs: Any) -> float:
        if ox.settings.overpass_rate_limit:
            requests.get(
                base_endpoint.rstrip("/") + "/status", timeout=ox.settings.requests_timeout,
                **ox.settings.requests_kwargs,
            )
        return original(base_endpoint, *args, **kwargs)

    return pause


@contextlib.contextmanager
def _osmnx_session(default_service: str) -> Iterator[None]:
    """Configure osmnx for one call and turn its failures into one-liners.

    Sets the cache (on, in :func:`cache_folder`) and a response hook for the
    duration of the call and restores the user's osmnx settings afterwards.

    Parameters
    ----------
    default_service
        "Overpass" or "Nominatim": named in messages when the failing URL
        does not say which.
    """
    saved = {k: getattr(ox.settings, k) for k in ("use_cache", "cache_folder", "requests_kwargs")}
    kwargs = dict(ox.settings.requests_kwargs)
    hooks = dict(kwargs.get("hooks") or {})
    previous = hooks.get("response") or []
    hooks["response"] = [*([previous] if callable(previous) else previous), _check_response]
    kwargs["hooks"] = hooks
    # osmnx pins each service's host name to one IP by replacing
    # socket.getaddrinfo for good; keep that to the duration of the call
    getaddrinfo = socket.getaddrinfo
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_folder())
    ox.settings.requests_kwargs = kwargs
    try:
        with overpass_pause(_failing_pause):
            yield
    except requests.exceptions.Timeout as e:
        url = e.request.url if e.request is not None else None
        service = _service(url, default_service)
        raise NetworkError(
            f"{service} ({_host(url) if url else 'server'}) did not answer within "
            f"{ox.settings.requests_timeout:g} s (timeout); try again later or use a smaller area"
        ) from None
    except requests.exceptions.ConnectionError as e:
        url = e.request.url if e.request is not None else None
        service = _service(url, default_service)
        where = f" at {_host(url)}" if url else ""
        raise NetworkError(
            f"cannot reach {service}{where} (no internet?) and no cached answer for this area; {_OFFLINE_HINT}"
        ) from None
    except requests.exceptions.RequestException as e:
        url = e.request.url if getattr(e, "request", None) is not None else None
        raise NetworkError(f"{_service(url, default_service)} request failed: {first_line(e)}") from None
    finally:
        socket.getaddrinfo = getaddrinfo
        for k, v in saved.items():
            setattr(ox.settings, k, v)


# --------------------------------------------------------------------------
# study area
# --------------------------------------------------------------------------

def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The (Multi)Polygon part of ``geom`` after make_valid (empty if none)."""
    geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def parse_bbox(text: str) -> shapely.Polygon:
    """Parse "W,S,E,N" (degrees, WGS84) into a rectangle.

    Raises
    ------
    ConfigError
        Not four numbers, out of range, or W >= E / S >= N.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--bbox must be four numbers W,S,E,N (degrees), got {text!r}") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise ConfigError(f"--bbox must be four finite numbers W,S,E,N, got {text!r}")
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise ConfigError(f"--bbox {text!r} is out of range: longitudes -180..180, latitudes -90..90 (order W,S,E,N)")
    if not (w < e and s < n):
        raise ConfigError(f"--bbox {text!r} is empty: need W < E and S < N (order W,S,E,N)")
    return shapely.box(w, s, e, n)


def _read_boundary(path: str | Path) -> shapely.Geometry:
    gdf = read_polygons(path, "boundary file")
    geom = _polygonal(gdf.to_crs("EPSG:4326").geometry.make_valid().union_all())
    if geom.is_empty or geom.area == 0:
        raise InputFileError(f"boundary file {path}: its polygons have no area")
    return geom


def _geocode(place: str) -> shapely.Geometry:
    with _osmnx_session("Nominatim"):
        try:
            gdf = ox.geocode_to_gdf(place)
        except InsufficientResponseError as e:
            if not is_empty_answer(e):
                raise NetworkError(f"Nominatim sent an unexpected answer: {first_line(e)}") from None
            raise ConfigError(
                f"place not found: {place!r}; check the spelling, add the city and country, or use --bbox/--boundary"
            ) from None
        except TypeError as e:
            if not is_point_only_place(e):
                raise
            raise ConfigError(
                f"place {place!r} has no boundary polygon in OpenStreetMap (only a point); use --bbox or --boundary"
            ) from None
    geom = _polygonal(gdf.to_crs("EPSG:4326").union_all())
    if geom.is_empty:
        raise ConfigError(f"place {place!r} has no boundary polygon in OpenStreetMap; use --bbox or --boundary")
    return geom


def study_area(
    place: str | None = None, boundary: str | Path | None = None, bbox: str | None = None
) -> shapely.Polygon | shapely.MultiPolygon:
    """The study area as a (Multi)Polygon in EPSG:4326.

    Give exactly one of the arguments.

    Parameters
    ----------
    place
        A place name geocoded by Nominatim (through osmnx, cached), e.g.
        "Kluuvi, Helsinki"; its boundary polygon is used.
    boundary
        A polygon file (GeoJSON, GeoPackage, Shapefile) with a CRS; all its
        polygons are united and reprojected to EPSG:4326.
    bbox
        "W,S,E,N" in degrees (WGS84).

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon

    Raises
    ------
    ConfigError
        Unknown place, bad bbox, or not exactly one argument.
    InputFileError
        Boundary file missing, unreadable, without CRS or polygons.
    NetworkError
        Nominatim unreachable, failing or too slow.
    """
    given = [x for x in (place, boundary, bbox) if x]
    if len(given) != 1:
        raise ConfigError("give exactly one of place, boundary, bbox")
    if bbox:
        return parse_bbox(bbox)
    if boundary:
        return _read_boundary(boundary)
    return _geocode(str(place).strip())


# --------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------

def _check_area(area: Any) -> shapely.Geometry:
    if not isinstance(area, (shapely.Polygon, shapely.MultiPolygon)) or area.is_empty:
        raise ConfigError("the study area must be a non-empty Polygon or MultiPolygon (EPSG:4326)")
    w, s, e, n = area.bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ConfigError("the study area is not in longitude/latitude degrees (EPSG:4326)")
    return area if area.is_valid else _polygonal(area)


def buffer_area(area: shapely.Geometry, buffer_m: float) -> shapely.Geometry:
    """``area`` grown by ``buffer_m`` metres (buffered in the local UTM zone).

    A zero buffer returns ``area`` itself, so the download is not shifted by
    a round trip through the projection.
    """
    if buffer_m == 0:
        return area
    crs = local_utm(area)
    projected, _ = ox.projection.project_geometry(area, to_crs=crs)
    grown, _ = ox.projection.project_geometry(projected.buffer(buffer_m), crs=crs, to_latlong=True)
    return _polygonal(grown)


def _ring_osmium(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Start a closed ring at its smallest (lon, lat) vertex, as osmium does."""
    ring = coords[:-1]
    i = min(range(len(ring)), key=ring.__getitem__)
    ring = ring[i:] + ring[:i]
    return ring + ring[:1]


def _osmium_form(geom: shapely.Geometry) -> shapely.MultiPolygon:
    """Write a polygon as pyosmium's area assembler does.

    pyosmium gives every area as a MultiPolygon whose outer rings run
    counter-clockwise and inner rings clockwise, each starting at its
    smallest vertex. Facilities are entered from points spaced along the
    outline from its start, so the same polygon must be written the same
    way online and offline to give the same walking times.
    """
    geom = shapely.orient_polygons(geom, exterior_cw=False)
    polys = []
    for poly in shapely.get_parts(geom):
        shell = _ring_osmium(list(poly.exterior.coords))
        holes = sorted(_ring_osmium(list(r.coords)) for r in poly.interiors)
        polys.append(shapely.Polygon(shell, holes))
    return shapely.MultiPolygon(polys)


def _feature_geometry(osm_type: str, geom: shapely.Geometry, tags: dict[str, str]) -> shapely.Geometry | None:
    """The geometry the offline reader would give this element, or None.

    Offline, features are tagged nodes and assembled areas: a closed way
    (pyosmium makes an area of any closed way not tagged ``area=no``, where
    osmnx only of some keys) or a multipolygon/boundary relation. Open ways
    are not features.
    """
    if geom is None or geom.is_empty:
        return None
    kind = geom.geom_type
    if osm_type == "node":
        return geom if kind == "Point" else None
    if osm_type == "way" and kind == "LineString":
        coords = list(geom.coords)
        if len(coords) < 4 or coords[0] != coords[-1] or tags.get("area") == "no":
            return None
        geom = shapely.Polygon(coords)
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
    geom = _polygonal(geom) if geom.geom_type not in ("Polygon", "MultiPolygon") else geom
    if geom.is_empty:
        return None
    return _osmium_form(geom)


def features_from_osmnx(gdf: gpd.GeoDataFrame, keys: Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """Convert an ``osmnx.features_from_*`` frame to the offline features shape.

    Parameters
    ----------
    gdf
        Indexed by (element, id), one column per tag, EPSG:4326.
    keys
        The feature keys: an element with none of them is kept only if it is a
        node with a name and descriptive tags alone
        (:func:`lifecircle.sources.osmfile.bare_named`), as the offline reader
        keeps it (the query asked for ``name`` to find those). None keeps all.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_type``, ``osm_id``, ``name``, ``tags`` (dict of the element's
        tags), ``clipped`` (always False: Overpass sends whole ways, never
        cut at the query's edge), geometry (Point or MultiPolygon,
        EPSG:4326); sorted by type and id, as
        :func:`lifecircle.sources.osmfile.features_frame` makes it.
    """
    feats: list[dict[str, Any]] = []
    wanted = None if keys is None else frozenset(keys)
    if len(gdf):
        flat = gdf.reset_index()
        tag_cols = [c for c in flat.columns if c not in ("element", "id", "geometry")]
        values = flat[tag_cols].to_numpy(dtype=object)
        for i, (osm_type, osm_id, geom) in enumerate(zip(flat["element"], flat["id"], flat.geometry)):
            tags = {k: str(v) for k, v in zip(tag_cols, values[i]) if not is_missing(v)}
            if osm_type == "relation":
                # pyosmium's areas carry the relation's tags without "type"
                tags.pop("type", None)
            if wanted is not None and wanted.isdisjoint(tags) and not (osm_type == "node" and bare_named(tags)):
                continue
            shape = _feature_geometry(osm_type, geom, tags)
            if shape is not None:
                feats.append({"osm_type": osm_type, "osm_id": int(osm_id), "tags": tags,
                              "wkb": shapely.to_wkb(shape), "clipped": False})
    return features_frame(feats)


def fetch(area: shapely.Geometry, buffer_m: float = 0.0, keys: Iterable[str] = ()) -> OSMData:
    """Download the walk network and features of an area from Overpass.

    Parameters
    ----------
    area
        The study area (EPSG:4326), e.g. from :func:`study_area`.
    buffer_m
        Metres fetched beyond the area, so facilities just across its edge
        count for the communities inside.
    keys
        Tag keys asked for as features besides
        :data:`~lifecircle.sources.osmfile.FEATURE_KEYS`, e.g. the keys of
        custom categories ("highway" for ``highway=bus_stop``).

    Returns
    -------
    OSMData
        Graph as ``osmnx.graph_from_polygon(network_type="walk")`` builds it
        and features shaped as the offline reader's; ``pipeline.analyze``
        treats both sources alike. ``feature_keys`` are the keys asked for,
        ``left_out`` is empty (Overpass sends whole objects) and
        ``data_date`` is the day of this call (UTC; an answer osmnx takes
        from its cache may be older).

    Raises
    ------
    EmptyAreaError
        No walkable streets in the (buffered) area.
    NetworkError
        Overpass unreachable (with no cached answer), failing or too slow.
    """
    area = _check_area(area)
    if not math.isfinite(buffer_m) or buffer_m < 0:
        raise ConfigError(f"buffer must be zero or more metres, got {buffer_m}")
    query = buffer_area(area, float(buffer_m))
    keys_read = feature_keys(keys)
    # sorted: the query text is the cache key, and set order varies per process; "name" finds the
    # named nodes that nothing else tags (a bank branch known by its name), as the offline reader does
    tags = {k: True for k in sorted(keys_read | {"name"})}
    # the day of this fetch; an answer osmnx takes from its cache may be
    # older, which osmnx does not tell
    today = datetime.now(timezone.utc).date().isoformat()
    with _osmnx_session("Overpass"):
        try:
            G = ox.graph_from_polygon(query, network_type="walk", simplify=True, retain_all=False)
        except InsufficientResponseError as e:
            if not is_empty_answer(e):
                raise NetworkError(f"Overpass sent an unreadable answer: {first_line(e)}") from None
            raise EmptyAreaError("no walkable streets in the study area (Overpass found none)") from None
        except ValueError as e:
            if not is_empty_answer(e):
                raise
            raise EmptyAreaError("no walkable streets in the study area") from None
        if G.number_of_edges() == 0:
            raise EmptyAreaError("no walkable streets in the study area")
        try:
            raw = ox.features_from_polygon(query, tags=tags)
        except InsufficientResponseError as e:
            if not is_empty_answer(e):
                raise NetworkError(f"Overpass sent an unreadable answer: {first_line(e)}") from None
            raw = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    host = _host(ox.settings.overpass_url)
    return OSMData(graph=G, features=features_from_osmnx(raw, keys_read), source=f"Overpass API ({host})",
                   feature_keys=keys_read, data_date=today)


# --------------------------------------------------------------------------
# bundles
# --------------------------------------------------------------------------

def save_bundle(data: OSMData, folder: str | Path, area: shapely.Geometry | None = None) -> Path:
    """Save downloaded data to a folder for offline runs (``--bundle``).

    The folder gets ``graph.graphml`` (osmnx GraphML), ``features.gpkg``
    (layer "features", tags as a JSON string, with ``clipped``; layer
    "area" if given) and ``bundle.json`` (counts, ``data_date``,
    ``feature_keys`` and the ``left_out`` rows); all are written in a
    staging folder first, so a failed save leaves the folder as it was.

    Parameters
    ----------
    data
        From :func:`fetch` (or any :class:`OSMData`).
    folder
        Created if missing.
    area
        The study area (EPSG:4326), kept so a later run reports on it only.

    Returns
    -------
    Path
        The bundle folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputFileError(f"bundle path {folder} exists and is not a folder")
    feats = pd.DataFrame(data.features.drop(columns="geometry"))
    feats["tags"] = [json.dumps(t, ensure_ascii=False) for t in data.features["tags"]]
    feats["clipped"] = _clipped_column(data.features)
    feats = gpd.GeoDataFrame(feats, geometry=data.features.geometry.values, crs="EPSG:4326")
    manifest = {
        "format": _FORMAT, "version": _VERSION, "source": data.source,
        "nodes": data.graph.number_of_nodes(), "edges": data.graph.number_of_edges(),
        "features": len(feats), "area": area is not None,
        "data_date": data.data_date, "feature_keys": sorted(data.feature_keys),
        "left_out": _left_out_records(data.left_out),
        "places": [{"source": str(p.attrs.get("source", "")), "fetched": str(p.attrs.get("fetched", "")),
                    "count": len(p)} for p in data.places],
    }
    with staging_dir(folder) as stage:
        ox.save_graphml(data.graph, stage / GRAPH_FILE)
        # mixed points, polygons and clipped outlines: declare the layer generic
        feats.to_file(stage / FEATURES_FILE, layer="features", driver="GPKG", geometry_type="Unknown")
        if area is not None:
            gpd.GeoDataFrame(geometry=[area], crs="EPSG:4326").to_file(
                stage / FEATURES_FILE, layer="area", driver="GPKG")
        for places in data.places:  # a place search's answers, kept with the data they go with
            places.to_file(stage / FEATURES_FILE, layer=f"places_{places.attrs['source']}", driver="GPKG")
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return folder


def _clipped_column(features: pd.DataFrame) -> list[bool]:
    """The ``clipped`` flags of a features frame; all False if it has none."""
    if "clipped" not in features.columns:
        return [False] * len(features)
    return [bool(v) for v in features["clipped"].fillna(False)]


def _left_out_records(left_out: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The left-out rows as JSON-ready dicts (the manifest keeps them)."""
    if left_out is None or not len(left_out):
        return []
    return [{"osm_type": str(r["osm_type"]), "osm_id": int(r["osm_id"]), "name": str(r["name"]),
             "tags": dict(r["tags"]), "reason": str(r["reason"])}
            for r in left_out[list(LEFT_OUT_COLUMNS)].to_dict("records")]


def _manifest(folder: Path) -> dict[str, Any]:
    if not folder.exists():
        raise InputFileError(f"bundle folder not found: {folder}")
    if not folder.is_dir():
        raise InputFileError(f"bundle path is not a folder: {folder}")
    path = folder / MANIFEST
    if not path.is_file():
        raise InputFileError(f"{folder} is not a lifecircle bundle (no {MANIFEST}); create one with `lifecircle fetch`")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputFileError(f"corrupt bundle {folder}: {MANIFEST} is not valid JSON ({first_line(e)})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise InputFileError(f"{folder} is not a lifecircle bundle ({MANIFEST} has another format)")
    if meta.get("version") != _VERSION:
        raise InputFileError(
            f"bundle {folder} has version {meta.get('version')}; this lifecircle reads version {_VERSION}")
    return meta


def load_bundle(folder: str | Path) -> OSMData:
    """Load a folder written by :func:`save_bundle` (no network needed).

    Raises
    ------
    InputFileError
        Missing folder or file, corrupt or inconsistent bundle.
    """
    folder = Path(folder)
    meta = _manifest(folder)
    graph_path, feat_path = folder / GRAPH_FILE, folder / FEATURES_FILE
    for p in (graph_path, feat_path):
        if not p.is_file():
            raise InputFileError(f"incomplete bundle {folder}: {p.name} is missing; run `lifecircle fetch` again")
    try:
        G = ox.load_graphml(graph_path)
    except Exception as e:  # XML, type-conversion and WKT errors alike
        raise InputFileError(f"corrupt bundle {folder}: cannot read {GRAPH_FILE} ({first_line(e)})") from None
    try:
        raw = gpd.read_file(feat_path, layer="features")
        tags = [json.loads(t) for t in raw["tags"]]
    except Exception as e:  # pyogrio and JSON errors alike
        raise InputFileError(f"corrupt bundle {folder}: cannot read {FEATURES_FILE} ({first_line(e)})") from None
    counts = (G.number_of_nodes(), G.number_of_edges(), len(raw))
    if counts != (meta.get("nodes"), meta.get("edges"), meta.get("features")):
        raise InputFileError(
            f"inconsistent bundle {folder}: file contents do not match {MANIFEST}; run `lifecircle fetch` again")
    # bundles saved before ``clipped`` existed hold whole areas only
    clipped = _clipped_column(raw)
    features = gpd.GeoDataFrame(
        {"osm_type": raw["osm_type"].astype(str).values, "osm_id": raw["osm_id"].astype("int64").values,
         "name": raw["name"].fillna("").astype(str).values, "tags": tags, "clipped": clipped},
        geometry=raw.geometry.values, crs="EPSG:4326",
    )
    _check_graph(G, folder)
    return OSMData(
        graph=G, features=features, source=f"{meta.get('source', 'bundle')} via bundle {folder}",
        places=_bundle_places(meta, feat_path, folder), **_manifest_extras(meta, folder),
    )


def _bundle_places(meta: dict[str, Any], feat_path: Path, folder: Path) -> list[gpd.GeoDataFrame]:
    """The place searches saved with a bundle (``lifecircle fetch --pois-from``), as fetched."""
    out = []
    for entry in meta.get("places") or []:
        try:
            places = gpd.read_file(feat_path, layer=f"places_{entry['source']}")
        except Exception as e:  # pyogrio errors, a missing layer alike
            raise InputFileError(f"corrupt bundle {folder}: cannot read its {entry.get('source')} places "
                                 f"({first_line(e)})") from None
        if len(places) != entry.get("count"):
            raise InputFileError(
                f"inconsistent bundle {folder}: file contents do not match {MANIFEST}; run `lifecircle fetch` again")
        places["counted"] = places["counted"].astype(bool)
        places["osm_id"] = places["osm_id"].astype("int64")
        places.attrs.update({"source": entry["source"], "fetched": entry.get("fetched", ""), "warnings": []})
        out.append(places)
    return out


def _manifest_extras(meta: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``feature_keys``, ``left_out`` and ``data_date`` from a manifest.

    Older bundles lack them: they were fetched with :data:`FEATURE_KEYS`,
    recorded nothing as left out, and carry no date.
    """
    try:
        keys = meta.get("feature_keys")
        rows = meta.get("left_out") or []
        date = meta.get("data_date")
        return {
            "feature_keys": FEATURE_KEYS if keys is None else frozenset(str(k) for k in keys),
            "left_out": left_out_frame(rows),
            "data_date": None if date is None else str(date),
        }
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise InputFileError(f"corrupt bundle {folder}: {MANIFEST} has bad entries ({first_line(e)})") from None


def _check_graph(G: nx.MultiDiGraph, folder: Path) -> None:
    if G.number_of_edges() == 0:
        raise EmptyAreaError(f"bundle {folder} has no walkable streets")
    if "crs" not in G.graph:
        raise InputFileError(f"corrupt bundle {folder}: the graph has no CRS")
    for node, d in G.nodes(data=True):
        x, y = d.get("x"), d.get("y")
        if not (isinstance(x, float) and isinstance(y, float) and math.isfinite(x) and math.isfinite(y)):
            raise InputFileError(f"corrupt bundle {folder}: node {node} of {GRAPH_FILE} has no x/y position")


def bundle_area(folder: str | Path) -> shapely.Geometry | None:
    """The study area saved with a bundle (EPSG:4326), or None."""
    folder = Path(folder)
    meta = _manifest(folder)
    if not meta.get("area"):
        return None
    try:
        gdf = gpd.read_file(folder / FEATURES_FILE, layer="area").to_crs("EPSG:4326")
    except Exception as e:
        raise InputFileError(f"corrupt bundle {folder}: cannot read its area ({first_line(e)})") from None
    return _polygonal(gdf.union_all()) if len(gdf) else None


__all__ = [
    "study_area", "parse_bbox", "fetch", "buffer_area", "features_from_osmnx",
    "save_bundle", "load_bundle", "bundle_area", "cache_folder",
]

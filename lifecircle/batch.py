"""Many areas in one command, on Dask: split the region once, analyse each area on a worker, combine.

:func:`batch` runs :func:`lifecircle.analyze` for every polygon of an areas
file (districts, street offices) over one large OSM extract:

1. **Split** — ``osmium extract`` with a multi-extract config cuts the
   region into one extract per area, each the area plus a buffer (Debian
   package ``osmium-tool``): one osmium run writes all the extracts that fit
   its memory; beyond that, groups of areas are cut first and then each
   group's areas (:func:`split`), so the big file is read once per run of
   groups, never once per area.
2. **Run** — each area is one Dask task: ``analyze(extract, area=polygon,
   ...)`` with the same options for every area, then ``Analysis.save`` into
   ``OUT/areas/<area>/``. A LocalCluster by default (``workers`` processes
   of one thread, ``memory_limit`` each), or an existing scheduler
   (``scheduler="tcp://host:8786"``), whose workers must see ``OUT`` and the
   input files at the same paths (a shared file system).
3. **Combine** — ``coverage.parquet`` (GeoParquet, EPSG:4326: every
   community of every area, with its ``area``), ``areas.csv`` (one row per
   area: status, one-line error, run time, communities, complete share,
   per-category coverage, residents) and ``index.html`` (an offline map of
   all areas coloured by score, each linking to its own ``map.html``).

An area that fails (no streets, nothing in its clip) is a row of
``areas.csv`` with its error; the others complete. Each area's inputs and
options are hashed; a rerun skips areas whose hash matches a successful
earlier run and redoes the rest (``force=True`` redoes all).

The buffer (``buffer_m`` of :func:`batch`) is ``config.threshold_m`` (the
largest walking distance any category is judged at) unless given. A walk of
at most that length from a home in the area stays within that distance of
the home, so every facility and street that can decide a ``covered_<k>``
flag or share of the area's homes is in the extract; a larger buffer (such
as the search limit, ``threshold_m`` x ``settings.search_factor``) would only
change the informational ``metres_<k>`` of facilities beyond the limit, at
the cost of a much larger extract per area. Homes of a community that
reaches out of the area by more than the buffer, and informational distances
beyond the threshold, are computed on the extract as it is.

An area that fails keeps what an earlier run wrote in its folder (as
``analyze`` keeps a folder on error); ``areas.csv`` and ``index.html`` mark
it failed and do not link it, and its rows leave ``coverage.parquet``. A
rerun retries failed areas.

The state of a batch lives in ``OUT/.batch/`` (one JSON and one GeoParquet
piece per area, and the extracts).

Note: ``import lifecircle.batch`` binds ``lifecircle.batch`` to this module
(Python sets a submodule as an attribute of its package), which would shadow
the function of the same name; the module is therefore callable and
``lifecircle.batch(...)`` runs :func:`batch` either way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unicodedata
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import ConfigError, InputFileError, LifecircleError, first_line

if TYPE_CHECKING:  # heavy: imported where used
    import geopandas as gpd
    import pandas as pd

    from .config import Config

Progress = Callable[[str], None]

#: Status of an area in ``areas.csv``.
OK, FAILED = "ok", "failed"

#: Column of the areas' names in the outputs.
AREA_COLUMN = "area"

#: ``osmium extract`` strategies (``osmium extract --help``).
STRATEGIES = ("simple", "complete_ways", "smart")

# Columns of an areas file tried for the areas' names, preferred first.
_NAME_COLUMNS = ("name", "名称", "district", "区县", "county", "street", "街道", "NAME", "Name", "code", "id")

# Bump when the per-area work changes in a way the hash does not see.
_STATE_VERSION = 1
_STATE = ".batch"


def _quiet(msg: str) -> None:
    pass


# ---------------------------------------------------------------- results


@dataclass
class BatchResult:
    """What :func:`batch` did.

    Attributes
    ----------
    out
        The output folder.
    areas
        The ``areas.csv`` table (one row per area, in the areas file's order).
    coverage
        The ``coverage.parquet`` table: every community of every area that
        succeeded, with its ``area`` (EPSG:4326).
    files
        Output kind ("coverage", "areas", "index") -> path.
    split_s
        Seconds spent by ``osmium extract`` (0 when every area was reused).
    run_s
        Seconds from submitting the first area to the last result.
    dashboard
        The Dask dashboard link, when one was running.
    """

    out: Path
    areas: "pd.DataFrame"
    coverage: "gpd.GeoDataFrame"
    files: dict[str, Path] = field(default_factory=dict)
    split_s: float = 0.0
    run_s: float = 0.0
    dashboard: str | None = None
    split_runs: int = 0

    @property
    def failed(self) -> list[str]:
        """Names of the areas that failed."""
        return [str(n) for n in self.areas.loc[self.areas["status"] == FAILED, AREA_COLUMN]]

    @property
    def ok(self) -> bool:
        """True when every area succeeded."""
        return not self.failed

    def __repr__(self) -> str:
        reused = int(self.areas["reused"].sum()) if len(self.areas) else 0
        return (f"<BatchResult {len(self.areas)} areas ({len(self.failed)} failed, {reused} reused), "
                f"{len(self.coverage)} communities in {self.out}>")


@dataclass
class _Area:
    """One area's work, sent to a Dask worker (everything in it pickles)."""

    index: int
    name: str
    slug: str
    geometry: bytes  # WKB, EPSG:4326
    key: str
    extract: str
    out: str
    piece: str
    config: Any
    isochrone_limits: list[float] | None
    communities: Any
    communities_name_column: str | None
    pois: Any
    pois_crs: str
    pois_mode: str
    lang: str
    communities_crs: str | None = None
    encoding: str | None = None


# ---------------------------------------------------------------- hashing


def _canonical(value: Any) -> Any:
    """A JSON-able, order-independent form of ``value`` (dataclasses, mappings, sets)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _canonical(getattr(value, f.name)) for f in fields(value)}}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # nan, inf and exact values
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, re.Pattern):
        return value.pattern
    return repr(value)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(value), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's content (hex)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _input_hash(value: Any) -> Any:
    """What identifies an optional input: a file's content hash, a frame's content, or None."""
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        p = Path(value)
        if not p.is_file():
            raise InputFileError(f"file not found: {p}")
        h = file_hash(p)
        # a Shapefile is several files: hash its sidecars too
        if p.suffix.lower() == ".shp":
            for side in sorted(p.parent.glob(p.stem + ".*")):
                if side != p:
                    h += file_hash(side)
        return {"file": h}
    import pandas as pd
    import shapely

    frame = value.drop(columns=value.geometry.name) if hasattr(value, "geometry") else value
    rows = pd.util.hash_pandas_object(frame.astype(str), index=False).values.tobytes()
    geoms = b"".join(shapely.to_wkb(value.geometry.values)) if hasattr(value, "geometry") else b""
    return {"frame": hashlib.sha256(rows + geoms + str(getattr(value, "crs", "")).encode()).hexdigest()}


# ---------------------------------------------------------------- areas


#: The longest folder name of an area, in bytes (see :func:`slugify`).
SLUG_BYTES = 160


def slugify(name: str) -> str:
    """A folder name for an area: letters (any script), digits, ``-``, ``_`` and ``.``.

    At most :data:`SLUG_BYTES` bytes of UTF-8, cut between characters: file
    systems limit a name to 255 bytes, and a Chinese character takes three
    (the area's files add a suffix, and two areas of one name a number).
    """
    text = unicodedata.normalize("NFKC", str(name)).strip()
    text = re.sub(r"[^\w.\-]+", "_", text, flags=re.UNICODE).strip("._")
    text = text.encode("utf-8")[:SLUG_BYTES].decode("utf-8", errors="ignore").rstrip("._")
    return text or "area"


def read_areas(path: str | Path | "gpd.GeoDataFrame", name_column: str | None = None) -> "gpd.GeoDataFrame":
    """The areas to analyse: polygons in EPSG:4326 with ``name`` and ``slug`` (unique folder names).

    Parameters
    ----------
    path
        A polygon file (GeoPackage, GeoJSON, Shapefile) or a GeoDataFrame.
    name_column
        Column holding the areas' names; by default the first of ``name``,
        ``名称``, ``district``, ... present, else "area 1", "area 2", ...

    Raises
    ------
    InputFileError
        Missing or unreadable file, no CRS, no polygons, or no such column.
    """
    import geopandas as gpd
    import shapely

    from .fileio import find_column, read_polygons

    if isinstance(path, gpd.GeoDataFrame):
        gdf = path
        if gdf.crs is None:
            raise InputFileError("the areas have no CRS; set one (e.g. EPSG:4326)")
        gdf = gdf[gdf.geometry.notna() & gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
        what = "the areas"
    else:
        gdf = read_polygons(path, "areas file")
        what = f"areas file {path}"
    notes = list(gdf.attrs.get("warnings", []))  # e.g. a GBK shapefile read as GB18030
    if len(gdf) == 0:
        raise InputFileError(f"{what}: no polygons")
    if name_column is not None:
        col = find_column(gdf.columns, [name_column])
        if col is None:
            cols = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
            raise InputFileError(f"{what} has no column {name_column!r} (columns: {cols})")
    else:
        col = find_column([c for c in gdf.columns if c != gdf.geometry.name], _NAME_COLUMNS)
    gdf = gdf.to_crs("EPSG:4326").reset_index(drop=True)
    names = []
    for i, v in enumerate(gdf[col] if col is not None else [None] * len(gdf)):
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        names.append(text or f"area {i + 1}")
    # the same name twice gets " (2)", so names and folders identify one area each
    seen: dict[str, int] = {}
    unique = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        unique.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    slugs, used = [], set()
    for n in unique:
        s, k = slugify(n), 1
        while s.casefold() in used:
            k += 1
            s = f"{slugify(n)}-{k}"
        used.add(s.casefold())
        slugs.append(s)
    geoms = [_polygonal(g) for g in shapely.make_valid(gdf.geometry.values)]
    table = gpd.GeoDataFrame({"name": unique, "slug": slugs}, geometry=geoms, crs="EPSG:4326")
    table.attrs["warnings"] = notes
    return table


def _polygonal(geom):
    """The polygons of a geometry (make_valid may add lines or points), as a (Multi)Polygon."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def buffered(areas: "gpd.GeoDataFrame", buffer_m: float) -> "gpd.GeoSeries":
    """The areas grown by ``buffer_m`` metres (in their local UTM zone), in EPSG:4326."""
    if len(areas) == 0:
        return areas.geometry
    crs = areas.estimate_utm_crs()
    return areas.geometry.to_crs(crs).buffer(buffer_m, quad_segs=8).to_crs("EPSG:4326")


# ---------------------------------------------------------------- split


def _osmium() -> str:
    exe = shutil.which("osmium")
    if exe is None:
        raise LifecircleError("lifecircle batch needs the osmium command (Debian/Ubuntu: apt-get install "
                              "osmium-tool; conda: osmium-tool) to split the region")
    return exe


def _rings(geom) -> list:
    """``osmium extract`` multipolygon coordinates of a (Multi)Polygon."""
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    return [[[list(map(float, c)) for c in ring.coords] for ring in (p.exterior, *p.interiors)]
            for p in polys if not p.is_empty]


# bytes per extract per node id, by strategy (osmium-extract(1), MEMORY USAGE: "the number of
# extracts times the highest node ID used divided by 8" for simple, "twice that" for
# complete_ways, "a bit more" for smart)
_BITS = {"simple": 1 / 8, "complete_ways": 2 / 8, "smart": 2.5 / 8}


def max_node_id(osm: str | Path) -> int:
    """The largest node id in ``osm`` (``osmium fileinfo -e``; 0 when unknown)."""
    proc = subprocess.run([_osmium(), "fileinfo", "-e", "-g", "data.maxid.nodes", str(osm)],
                          capture_output=True, text=True)
    try:
        return max(0, int(proc.stdout.strip()))
    except ValueError:
        return 0


#: A node id no OSM file exceeds for years (planet: ~1.3e10 in 2026): sizes the split
#: without reading the file when even this worst case fits.
WORST_NODE_ID = 2**34


def extract_memory(osm: str | Path | None, strategy: str = "complete_ways") -> int:
    """Bytes ``osmium extract`` needs per extract of ``osm`` (its id sets), by its manual.

    ``osm=None`` gives the worst case (:data:`WORST_NODE_ID`) without reading a file.
    """
    top = WORST_NODE_ID if osm is None else max_node_id(osm)
    return int(_BITS[strategy] * top) + (16 << 20)


def _memory_budget() -> int:
    """Half of this machine's physical memory (bytes)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4 << 30


@dataclass
class SplitInfo:
    """What :func:`split` did.

    ``seconds``; ``runs`` of osmium; ``per_run`` extracts per run (what fits
    the memory); ``bytes_per_extract``; ``levels``: 1 when every extract came
    from the region in one run, 2 when groups of areas were cut first.
    """

    seconds: float = 0.0
    runs: int = 0
    per_run: int = 0
    bytes_per_extract: int = 0
    levels: int = 1


def _osmium_extract(osm: Path, polygons: list, outputs: list[Path], strategy: str) -> None:
    """One ``osmium extract`` run writing ``outputs`` (all in one folder)."""
    folder = outputs[0].parent
    cfg = folder / f".extracts-{os.getpid()}.json"
    config = {"directory": str(folder.resolve()), "extracts": [
        {"output": p.name, "output_format": "pbf", "multipolygon": _rings(g)} for g, p in zip(polygons, outputs)
    ]}
    cfg.write_text(json.dumps(config), encoding="utf-8")
    try:
        proc = subprocess.run([_osmium(), "extract", "--config", str(cfg), "--strategy", strategy, "--overwrite",
                               "--no-progress", str(osm)], capture_output=True, text=True)
    finally:
        cfg.unlink(missing_ok=True)
    if proc.returncode != 0:
        why = next((ln for ln in proc.stderr.splitlines() if ln.strip()), f"exit status {proc.returncode}")
        raise InputFileError(f"osmium extract could not split {osm}: {why.strip()}")


def _groups(polygons: list, size: int) -> list[list[int]]:
    """Polygon indices in spatial groups of at most ``size``: strips by longitude, then by latitude."""
    import numpy as np
    import shapely

    c = shapely.get_coordinates(shapely.centroid(np.asarray(polygons, dtype=object)))
    n = len(polygons)
    n_groups = math.ceil(n / size)
    strips = max(1, round(math.sqrt(n_groups)))
    by_x = np.argsort(c[:, 0], kind="stable")
    groups: list[list[int]] = []
    for strip in np.array_split(by_x, strips):
        strip = strip[np.argsort(c[strip, 1], kind="stable")]
        groups += [list(map(int, g)) for g in np.array_split(strip, math.ceil(len(strip) / size))]
    return [g for g in groups if g]


def _per_run(osm: Path, n_extracts: int, strategy: str, memory: int | None, info: SplitInfo) -> int:
    """How many extracts one osmium run may write; sets ``info.bytes_per_extract`` and ``info.per_run``.

    Parameters
    ----------
    osm
        The region.
    n_extracts
        How many extracts the split writes.
    strategy
        The ``osmium extract`` strategy.
    memory
        Bytes osmium may use (None: half the machine's memory).
    info
        Filled in.

    Returns
    -------
    int
        Extracts per run, at least 1.
    """
    budget = memory or _memory_budget()
    # the largest node id costs a read of the file (osmium fileinfo): only when the worst case does not fit
    info.bytes_per_extract = extract_memory(None, strategy)
    if n_extracts * info.bytes_per_extract > budget:
        info.bytes_per_extract = extract_memory(osm, strategy)
    info.per_run = max(1, int(budget // info.bytes_per_extract))
    return info.per_run


def _split_two_levels(osm: Path, polygons: list, outputs: list[Path], strategy: str, per_run: int) -> int:
    """Cut spatial groups of areas from ``osm`` (their hulls), then each group's areas from its file.

    Parameters
    ----------
    osm
        The region.
    polygons
        The areas' (buffered) polygons, EPSG:4326.
    outputs
        One ``.osm.pbf`` per polygon, all in one folder (which also holds the
        group files while they exist).
    strategy
        The ``osmium extract`` strategy.
    per_run
        Extracts one osmium run may write (at least 2).

    Returns
    -------
    int
        osmium runs made.
    """
    import shapely

    runs = 0
    groups = _groups(polygons, per_run)
    stage = Path(tempfile.mkdtemp(prefix=".groups-", dir=outputs[0].parent))
    try:
        hulls = [shapely.union_all([polygons[i] for i in g]).convex_hull for g in groups]
        files = [stage / f"group-{k:04d}.osm.pbf" for k in range(len(groups))]
        for first in range(0, len(groups), per_run):  # more groups than fit: more level-1 runs
            _osmium_extract(osm, hulls[first:first + per_run], files[first:first + per_run], strategy)
            runs += 1
        for g, f in zip(groups, files):
            _osmium_extract(f, [polygons[i] for i in g], [outputs[i] for i in g], strategy)
            f.unlink()  # frees its disk space before the next group's
            runs += 1
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return runs


def split(osm: str | Path, polygons: Iterable[Any], outputs: Iterable[str | Path],
          strategy: str = "complete_ways", memory: int | None = None) -> SplitInfo:
    """Cut ``osm`` into one extract per polygon with ``osmium extract`` multi-extract configs.

    One osmium run writes many extracts from one read of the input (two
    passes for ``complete_ways``). osmium keeps id sets of a size set by
    the largest node id per extract (osmium-extract(1), MEMORY USAGE: the
    id / 8 bytes for ``simple``, twice that for ``complete_ways``: ~3 GB per
    extract with today's OSM ids), so one run can only write as many
    extracts as fit ``memory``. When all fit, one run over the region
    writes them all. Otherwise the split takes two levels, as osmium's
    manual advises: runs over the region cut spatial groups of areas (the
    convex hull of each group's polygons; as many groups per run as fit),
    then one run per group file cuts its areas: the big file is read
    ``ceil(groups / per_run)`` times, not once per area. A level-2
    extract holds the same objects as one cut from the region directly
    (every way touching a group's hull is complete in the group's file).

    Parameters
    ----------
    osm
        The region (.osm.pbf, .osm, .osm.bz2), sorted by type and id as
        every planet or Geofabrik file is.
    polygons
        Shapely (Multi)Polygons in EPSG:4326 (already buffered).
    outputs
        One ``.osm.pbf`` path per polygon, all in one folder.
    strategy
        ``complete_ways`` (default: every way with a node inside is kept
        whole, so streets and buildings crossing the buffer's edge are not
        cut), ``simple`` (one pass; ways are clipped at the edge, which the
        reader handles) or ``smart`` (also completes multipolygons).
    memory
        Bytes osmium may use (default: half the machine's memory).

    Raises
    ------
    LifecircleError
        osmium is missing or fails (its first error line).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    osm = Path(osm)
    outputs = [Path(p) for p in outputs]
    polygons = list(polygons)
    info = SplitInfo()
    if not outputs:
        return info
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    per_run = _per_run(osm, len(outputs), strategy, memory, info)
    if len(outputs) <= per_run:
        _osmium_extract(osm, polygons, outputs, strategy)
        info.runs = 1
    elif per_run == 1:  # nothing to group by: one run per extract
        for g, p in zip(polygons, outputs):
            _osmium_extract(osm, [g], [p], strategy)
            info.runs += 1
    else:
        info.levels = 2
        info.runs = _split_two_levels(osm, polygons, outputs, strategy, per_run)
    info.seconds = time.perf_counter() - start
    return info


# ---------------------------------------------------------------- one area (on a worker)


def _peak_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def summarise(communities: "pd.DataFrame", keys: list[str]) -> dict[str, Any]:
    """One area's row of ``areas.csv`` from its communities table.

    ``complete_share`` is the share of communities covered for every
    category; ``score`` the mean share of categories they reach (the
    colour of the index map); ``covered_<k>`` the share of communities
    covered for ``k``; ``residents`` the sum of their residents,
    ``residents_complete`` those living in complete communities and
    ``residents_share_<k>`` the share of residents (of communities with
    homes) whose home is within ``k``'s distance.
    """
    import numpy as np

    n = len(communities)
    row: dict[str, Any] = {"communities": n}
    if n == 0:
        row.update({"complete_share": np.nan, "score": np.nan, "residents": 0.0, "residents_complete": 0.0})
        for k in keys:
            row[f"covered_{k}"] = np.nan
            row[f"residents_share_{k}"] = np.nan
        return row
    res = communities["residents"].astype(float).fillna(0).values
    complete = communities["complete"].astype(bool).values
    nc = communities["n_categories"].astype(float).values
    row["complete_share"] = round(float(complete.mean()), 4)
    row["score"] = round(float(np.mean(communities["reached"].astype(float).values / np.maximum(nc, 1))), 4)
    row["residents"] = round(float(res.sum()), 1)
    row["residents_complete"] = round(float(res[complete].sum()), 1)
    homes = communities["n_buildings"].values > 0
    for k in keys:
        covered = communities[f"covered_{k}"]
        if covered.isna().all():  # no data: not judged, not 0 %
            row[f"covered_{k}"] = row[f"residents_share_{k}"] = np.nan
            continue
        row[f"covered_{k}"] = round(float(covered.fillna(False).astype(bool).mean()), 4)
        share = communities[f"residents_share_{k}"].astype(float).values
        total = res[homes].sum()
        row[f"residents_share_{k}"] = round(float((res[homes] * np.nan_to_num(share[homes])).sum() / total), 4) \
            if total > 0 else np.nan
    return row


def run_area(area: _Area) -> dict[str, Any]:
    """Analyse one area and write its outputs (runs on a Dask worker).

    Never raises for a problem of the area itself: the error goes into the
    returned record (``status`` "failed", ``error`` one line).
    """
    import shapely

    from . import pipeline

    start = time.perf_counter()
    record: dict[str, Any] = {"index": area.index, "name": area.name, "slug": area.slug, "key": area.key,
                              "status": FAILED, "error": "", "summary": {}}
    try:
        comms = area.communities
        if isinstance(comms, (str, Path)) and area.communities_name_column:
            from .communities import read_communities

            comms = read_communities(comms, "EPSG:4326", name_column=area.communities_name_column,
                                     coordinate_system=area.communities_crs, encoding=area.encoding)
        pois = area.pois
        if isinstance(pois, (str, Path)):
            from .sources.userpois import read_user_pois

            pois = read_user_pois(pois, area.config, crs=area.pois_crs, encoding=area.encoding)
        analysis = pipeline.analyze(
            area.extract, communities=comms, config=area.config, pois=pois, pois_mode=area.pois_mode,
            area=shapely.from_wkb(area.geometry), isochrone_limits=area.isochrone_limits, lang=area.lang,
            communities_crs=area.communities_crs, encoding=area.encoding,
        )
        analysis.save(area.out, lang=area.lang)
        cov = analysis.communities.to_crs("EPSG:4326")
        cov.insert(0, AREA_COLUMN, area.name)
        piece = Path(area.piece)
        piece.parent.mkdir(parents=True, exist_ok=True)
        tmp = piece.with_name(f".{piece.name}.{os.getpid()}.tmp")
        cov.to_parquet(tmp, index=False)
        os.replace(tmp, piece)
        record["summary"] = summarise(analysis.communities, analysis.config.keys)
        record["warnings"] = len(analysis.warnings)
        record["status"] = OK
    except Exception as e:  # an area's failure stays the area's: reported, never raised
        record["error"] = first_line(e) if isinstance(e, LifecircleError) else f"{type(e).__name__}: {first_line(e)}"
    record["run_s"] = round(time.perf_counter() - start, 2)
    record["peak_mb"] = round(_peak_mb(), 1)
    record["pid"] = os.getpid()
    return record


# ---------------------------------------------------------------- Dask


#: The least memory a local worker may be given: loading its libraries takes about 250 MB, and
#: Dask pauses a worker at 80 % of its limit and stops it at 95 % (a smaller one never starts).
MIN_WORKER_MEMORY = 512 * 2**20


def check_memory_limit(memory_limit: str | float | None) -> str | int | None:
    """``memory_limit`` as Dask takes it, or a one-line error before any work.

    Parameters
    ----------
    memory_limit
        "auto", None or 0 (no limit), a number of bytes or a size such as "4GB".

    Raises
    ------
    ConfigError
        Not a size, or less than :data:`MIN_WORKER_MEMORY`.
    """
    if memory_limit is None or (isinstance(memory_limit, str) and memory_limit.strip().lower() == "auto"):
        return memory_limit
    from dask.utils import format_bytes, parse_bytes

    try:
        size = parse_bytes(memory_limit) if isinstance(memory_limit, str) else float(memory_limit)
    except (ValueError, TypeError):
        size = math.nan
    if not math.isfinite(size) or size < 0:
        raise ConfigError(f"memory limit {memory_limit!r} is not a size: give e.g. 4GB, auto or none")
    if size == 0:  # Dask's "no limit"
        return None
    if size < MIN_WORKER_MEMORY:
        raise ConfigError(f"memory limit {memory_limit} per worker is below the {format_bytes(MIN_WORKER_MEMORY)} "
                          "a worker needs to start; give more, or auto")
    return int(size)


def _client(scheduler: Any, workers: int, memory_limit: str | float | None):
    """A distributed Client (and the LocalCluster it owns, or None)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a declared dependency
        raise LifecircleError("lifecircle batch needs dask.distributed: pip install 'dask[distributed]'") from None
    if scheduler is not None:
        if hasattr(scheduler, "submit"):  # a Client already
            return scheduler, None, False
        try:
            return Client(str(scheduler), timeout="20s"), None, True
        except (OSError, TimeoutError, ValueError) as e:  # ValueError: not an address at all
            raise LifecircleError(f"cannot connect to the Dask scheduler {scheduler}: {first_line(e)}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           memory_limit=memory_limit,  # None or 0: no limit
                           dashboard_address=":0", silence_logs=logging.ERROR)
    return Client(cluster), cluster, True


def _dashboard(client) -> str | None:
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - only a convenience
        return None
    return client.dashboard_link if "dashboard" in services else None


def _run_on_dask(client, cluster, scheduler: Any, todo: list[_Area], say: Progress, n_total: int,
                 done_before: int,
                 on_done: Callable[[_Area, dict], None]) -> tuple[dict[int, dict], float, str | None]:
    """Run ``todo`` on Dask; ``on_done`` is called in this process as each area finishes."""
    import importlib.util

    from distributed import as_completed

    records: dict[int, dict] = {}
    link = _dashboard(client)
    # without a worker the tasks would wait forever: an existing scheduler with none, or
    # local workers that could not start
    try:
        client.wait_for_workers(1, timeout=60)
    except TimeoutError:
        if cluster is None:
            raise LifecircleError(f"the Dask scheduler {scheduler} has no workers") from None
        raise LifecircleError("the local Dask workers did not start within 60 s (see --memory-limit)") from None
    n_workers = len(client.scheduler_info().get("workers", {}))
    where = f"scheduler {scheduler}" if cluster is None else "a LocalCluster"
    if link and importlib.util.find_spec("bokeh") is None:
        link += " (pip install bokeh to see it)"
    say(f"Dask: {where} with {n_workers} workers" + (f"; dashboard: {link}" if link else ""))
    start = time.perf_counter()
    futures = {}
    for a in todo:
        f = client.submit(run_area, a, key=f"lifecircle-area-{a.index}-{a.key[:12]}", pure=False)
        futures[f] = a
    k = done_before
    for f in as_completed(list(futures)):
        a = futures[f]
        try:
            rec = f.result()
        except Exception as e:  # the worker died (memory limit, crash): this area only
            rec = {"index": a.index, "name": a.name, "slug": a.slug, "key": a.key, "status": FAILED,
                   "error": f"{type(e).__name__}: {first_line(e)}", "summary": {}, "run_s": float("nan")}
        records[a.index] = rec
        on_done(a, rec)  # recorded at once: an interrupted batch keeps what finished
        k += 1
        if rec["status"] == OK:
            s = rec["summary"]
            say(f"[{k}/{n_total}] {a.name}: ok in {rec['run_s']:.1f} s, {s['communities']} communities, "
                f"{s['complete_share']:.0%} complete" if s["communities"] else
                f"[{k}/{n_total}] {a.name}: ok in {rec['run_s']:.1f} s, no communities")
        else:
            say(f"[{k}/{n_total}] {a.name}: FAILED: {rec['error']}")
    elapsed = time.perf_counter() - start
    return records, elapsed, link


# ---------------------------------------------------------------- combine


def _areas_table(areas: "gpd.GeoDataFrame", records: dict[int, dict], reused: set[int],
                 keys: list[str]) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for i, (name, slug) in enumerate(zip(areas["name"], areas["slug"])):
        rec = records.get(i, {})
        ok = rec.get("status") == OK
        row = {AREA_COLUMN: name, "folder": f"areas/{slug}" if ok else "", "status": rec.get("status", FAILED),
               "reused": i in reused, "error": rec.get("error", ""), "run_s": rec.get("run_s", float("nan"))}
        summary = rec.get("summary") if ok else None
        if not summary:  # failed: nothing is known about its communities
            summary = {k: float("nan") for k in summarise(pd.DataFrame(), keys)}
        row.update(summary)
        row["worker_peak_mb"] = rec.get("peak_mb", float("nan"))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["communities"] = frame["communities"].astype("Int64")
    return frame


def _coverage(pieces: list[Path]) -> "gpd.GeoDataFrame":
    import geopandas as gpd
    import pandas as pd

    frames = [gpd.read_parquet(p) for p in pieces]
    frames = [f for f in frames if len(f)]
    if not frames:
        return gpd.GeoDataFrame({AREA_COLUMN: pd.Series([], dtype=str)}, geometry=[], crs="EPSG:4326")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")


def index_map(areas: "gpd.GeoDataFrame", table: "pd.DataFrame", lang: str = "en", source: str = "") -> str:
    """The HTML of ``index.html``: every area coloured by score, each linking to its ``map.html``.

    Offline like the per-area maps (Leaflet inlined, no CDN); every name and
    error is escaped. Failed areas are grey, with their error.
    """
    from urllib.parse import quote

    from branca.element import Element

    from . import settings
    from .i18n import strings
    from .outputs import maps
    from .outputs.htmlassets import esc

    shown = areas.reset_index(drop=True)
    props = []
    for i, row in table.reset_index(drop=True).iterrows():
        ok = row["status"] == OK
        score = row.get("score")
        color = maps.score_color(score) if ok else settings.fallback_color
        lines = [f"<h4>{esc(row[AREA_COLUMN])}</h4>"]
        if ok:
            n = int(row["communities"])
            lines.append(f"<div>communities: <b class=\"lc-n\">{n}</b></div>")
            if n:
                lines.append(f"<div>complete: <b class=\"lc-complete\">{float(row['complete_share']):.0%}</b>; "
                             f"score: <b class=\"lc-score\">{float(score):.0%}</b></div>")
            href = "areas/" + quote(str(shown.loc[i, "slug"])) + "/map.html"
            lines.append(f'<div><a class="lc-area-link" href="{esc(href)}" target="_blank">map.html</a> · '
                         f'<a href="{esc(href[:-8] + "report.html")}" target="_blank">report.html</a></div>')
        else:
            lines.append(f'<div class="lc-error">failed: {esc(row["error"])}</div>')
        props.append({
            AREA_COLUMN: esc(row[AREA_COLUMN]),
            "style": {"color": "#333333", "weight": 1.5, "fillColor": color, "fillOpacity": 0.6},
            "popup": '<div class="lc-popup lc-area-popup">' + "".join(lines) + "</div>",
            "tooltip": esc(row[AREA_COLUMN]),
        })
    fc = maps._feature_collection(shown.geometry.values, props)
    b = shown.total_bounds
    center = [float((b[1] + b[3]) / 2), float((b[0] + b[2]) / 2)] if len(shown) else [0.0, 0.0]
    m = maps._offline_map(center, lang, f"lifecircle batch · {len(shown)} areas")
    maps._geojson_layer(fc, "areas", class_name="lc-area").add_to(m)
    fig = m.get_root()
    ramp = "".join(f'<div><i style="background: {maps.score_color(k / 4)}"></i>{k * 25}%</div>'
                   for k in range(4, -1, -1))
    legend = (f'<div class="lc-box lc-legend"><b>score (share of categories reached)</b>{ramp}'
              f'<div><i style="background: {settings.fallback_color}"></i>failed</div></div>')
    fig.html.add_child(Element(legend), name="lc_legend")
    attribution = maps._parts().attribution(source, "", strings(lang))
    fig.html.add_child(Element(str(attribution)), name="lc_attribution")
    if len(shown):
        m.fit_bounds([[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]], padding=(20, 20))
    maps._renumber(fig)
    return maps.render_map(m)


# ---------------------------------------------------------------- the command


def _state_path(out: Path, slug: str) -> Path:
    return out / _STATE / "state" / f"{slug}.json"


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _plan(out: Path, table: "gpd.GeoDataFrame", keys: list[str],
          force: bool) -> tuple[dict[int, dict], set[int], list[int]]:
    """Which areas to reuse (their records), which fail at once (empty polygons), which to run."""
    records: dict[int, dict] = {}
    reused: set[int] = set()
    todo: list[int] = []
    for i, (slug, key) in enumerate(zip(table["slug"], keys)):
        old = _read_state(_state_path(out, slug))
        piece = out / _STATE / "coverage" / f"{slug}.parquet"
        if (not force and old and old.get("key") == key and old.get("status") == OK and piece.exists()
                and (out / "areas" / slug / "coverage.csv").exists()):
            records[i] = old
            reused.add(i)
        elif table.geometry.values[i].is_empty:
            records[i] = {"index": i, "name": table["name"][i], "slug": slug, "key": key, "status": FAILED,
                          "error": "the area's polygon is empty", "summary": {}, "run_s": 0.0}
        else:
            todo.append(i)
    return records, reused, todo


def _write_combined(out: Path, table: "gpd.GeoDataFrame", area_table: "pd.DataFrame",
                    coverage: "gpd.GeoDataFrame", lang: str, source: str) -> None:
    """coverage.parquet, areas.csv and index.html, written together (staging folder)."""
    from .fileio import staging_dir, write_csv

    with staging_dir(out) as stage:
        coverage.to_parquet(stage / "coverage.parquet", index=False)
        write_csv(area_table, stage / "areas.csv")
        page = index_map(table, area_table, lang=lang, source=source)
        (stage / "index.html").write_bytes(page.encode("utf-8"))


@dataclass
class _Job:
    """What the steps of one :func:`batch` call share.

    Attributes
    ----------
    osm
        The region's OSM file.
    out
        The output folder.
    table
        The areas (:func:`read_areas`).
    buffer
        Metres around each area in its extract.
    strategy
        The ``osmium extract`` strategy.
    split_memory
        Bytes ``osmium extract`` may use (None: half the machine's memory).
    keep_extracts
        Keep the extracts of areas that succeeded.
    say
        Progress lines.
    options
        What every area shares; its per-area fields are placeholders, and its
        ``communities`` and ``pois`` are as the caller gave them.
    """

    osm: Path
    out: Path
    table: "gpd.GeoDataFrame"
    buffer: float
    strategy: str
    split_memory: int | None
    keep_extracts: bool
    say: Progress
    options: _Area

    @property
    def state(self) -> Path:
        """``out/.batch``, the batch's own state."""
        return self.out / _STATE

    def piece(self, slug: str) -> Path:
        """An area's GeoParquet piece of ``coverage.parquet``."""
        return self.state / "coverage" / f"{slug}.parquet"

    def record(self, area: _Area, rec: dict) -> None:
        """Store a finished area's record (called in this process as each area finishes).

        Parameters
        ----------
        area
            The area's work.
        rec
            Its record (:func:`run_area`).
        """
        if rec["status"] != OK:
            Path(area.piece).unlink(missing_ok=True)
        _write_json(_state_path(self.out, area.slug), rec)
        if not self.keep_extracts and rec["status"] == OK:  # a failed area's stays, to look into
            Path(area.extract).unlink(missing_ok=True)


@dataclass
class _Run:
    """What running the areas did (all empty when no area ran).

    Attributes
    ----------
    records
        Area index -> its record (:func:`run_area`).
    split_s, split_runs
        Seconds and osmium runs of the split.
    run_s
        Seconds from submitting the first area to the last result.
    link
        The Dask dashboard link, if any.
    """

    records: dict[int, dict] = field(default_factory=dict)
    split_s: float = 0.0
    split_runs: int = 0
    run_s: float = 0.0
    link: str | None = None


def _options(osm: Path, config: "Config | str | Path | None", level: str | None,
             isochrone_limits: Iterable[float] | None, buffer_m: float | None, strategy: str,
             communities: Any, communities_name_column: str | None, pois: Any, pois_crs: str, pois_mode: str,
             lang: str, workers: int | None, communities_crs: str | None = None,
             encoding: str | None = None) -> tuple[_Area, float]:
    """Check :func:`batch`'s options before any work, and gather what every area shares.

    Parameters
    ----------
    osm, config, level, isochrone_limits, buffer_m, strategy, communities, communities_name_column
        As for :func:`batch`.
    pois, pois_crs, pois_mode, lang, workers, communities_crs, encoding
        As for :func:`batch`.

    Returns
    -------
    tuple
        The areas' shared options (an :class:`_Area` whose per-area fields
        are placeholders) and the buffer in metres.

    Raises
    ------
    LifecircleError
        A missing OSM file, an invalid option, or osmium missing.
    """
    from .config import check_number
    from .pipeline import _as_config

    if not osm.is_file():
        raise InputFileError(f"OSM file not found: {osm}")
    cfg = _as_config(config, level)
    limits = cfg.check_isochrones(isochrone_limits) if isochrone_limits is not None else None
    buffer = cfg.threshold_m if buffer_m is None else check_number("buffer_m", buffer_m, "buffer_m")
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if pois_mode not in ("add", "replace"):
        raise ConfigError(f"pois_mode must be 'add' or 'replace', got {pois_mode!r}")
    if lang not in ("en", "zh"):
        raise ConfigError(f"lang must be 'en' or 'zh', got {lang!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a whole number of at least 1, got {workers!r}")
    from .sources import coords, textenc

    communities_crs = coords.normalize_crs(communities_crs) if communities_crs is not None else None
    encoding = textenc.check_encoding(encoding)
    _osmium()  # the split runs here, whichever cluster runs the areas
    shared = _Area(index=-1, name="", slug="", geometry=b"", key="", extract="", out="", piece="", config=cfg,
                   isochrone_limits=limits, communities=communities, communities_name_column=communities_name_column,
                   pois=pois, pois_crs=pois_crs, pois_mode=pois_mode, lang=lang, communities_crs=communities_crs,
                   encoding=encoding)
    return shared, buffer


def _area_keys(job: _Job) -> list[str]:
    """Each area's hash of everything its result depends on (see :func:`_plan`).

    Parameters
    ----------
    job
        The batch.

    Returns
    -------
    list of str
        One hex digest per area of ``job.table``.
    """
    import shapely

    o = job.options
    job.say(f"hashing {job.osm.name}")
    common = {
        "version": _STATE_VERSION, "osm": file_hash(job.osm), "buffer_m": job.buffer, "strategy": job.strategy,
        "config": o.config, "isochrones": o.isochrone_limits, "lang": o.lang,
        "communities": _input_hash(o.communities), "communities_name_column": o.communities_name_column,
        "pois": _input_hash(o.pois), "pois_crs": o.pois_crs, "pois_mode": o.pois_mode,
    }
    # only when given, so that the areas of earlier runs keep their keys
    common.update({k: v for k, v in (("communities_crs", o.communities_crs), ("encoding", o.encoding)) if v})
    base = _digest(common)
    return [_digest({"base": base, "name": n, "geometry": shapely.to_wkb(shapely.normalize(g), hex=True)})
            for n, g in zip(job.table["name"], job.table.geometry.values)]


def _resolved(value: Any) -> Any:
    """A path made absolute (workers may run elsewhere); anything else as it is."""
    return str(Path(value).resolve()) if isinstance(value, (str, Path)) else value


def _work(job: _Job, todo: list[int], keys: list[str], extracts: list[Path]) -> list[_Area]:
    """The Dask tasks' arguments: one :class:`_Area` per area to run.

    Parameters
    ----------
    job
        The batch.
    todo
        Indices of the areas to run.
    keys
        Every area's hash (:func:`_area_keys`).
    extracts
        The extracts of the areas ``todo``, in order.

    Returns
    -------
    list of _Area
        One per area of ``todo``.
    """
    import dataclasses

    import shapely

    table = job.table
    shared = dataclasses.replace(job.options, communities=_resolved(job.options.communities),
                                 pois=_resolved(job.options.pois))
    return [dataclasses.replace(
        shared, index=i, name=str(table["name"][i]), slug=str(table["slug"][i]),
        geometry=shapely.to_wkb(table.geometry.values[i]), key=keys[i], extract=str(p.resolve()),
        out=str((job.out / "areas" / table["slug"][i]).resolve()), piece=str(job.piece(table["slug"][i]).resolve()),
    ) for i, p in zip(todo, extracts)]


def _split_and_run(client: Any, cluster: Any, scheduler: Any, job: _Job, todo: list[int], keys: list[str]) -> _Run:
    """Cut the extracts of the areas ``todo``, then run them on Dask.

    Parameters
    ----------
    client, cluster
        From :func:`_client`.
    scheduler
        As given to :func:`batch` (for messages).
    job
        The batch.
    todo
        Indices of the areas to run.
    keys
        Every area's hash (:func:`_area_keys`).

    Returns
    -------
    _Run
        The finished areas' records and timings.
    """
    n_total = len(job.table)
    grown = buffered(job.table.iloc[todo], job.buffer)
    paths = [job.state / "extracts" / f"{job.table['slug'][i]}.osm.pbf" for i in todo]
    job.say(f"splitting {job.osm.name} into {len(todo)} extracts (osmium extract, {job.strategy})")
    info = split(job.osm, grown.values, paths, strategy=job.strategy, memory=job.split_memory)
    job.say(f"split in {info.seconds:.1f} s ({info.runs} osmium run{'s' if info.runs > 1 else ''}"
            f"{f' in two levels, {info.per_run} extracts per run' if info.levels == 2 else ''})")
    done, run_s, link = _run_on_dask(client, cluster, scheduler, _work(job, todo, keys, paths), job.say, n_total,
                                     n_total - len(todo), job.record)
    return _Run(records=done, split_s=info.seconds, split_runs=info.runs, run_s=run_s, link=link)


def _run_areas(job: _Job, todo: list[int], keys: list[str], workers: int | None,
               memory_limit: str | float | None, scheduler: Any) -> _Run:
    """Start or reach Dask, split and run the areas ``todo``, and let go of Dask.

    Parameters
    ----------
    job
        The batch.
    todo
        Indices of the areas to run (not empty).
    keys
        Every area's hash (:func:`_area_keys`).
    workers, memory_limit, scheduler
        As for :func:`batch`.

    Returns
    -------
    _Run
        The finished areas' records and timings.
    """
    n_workers = workers or max(1, min(os.cpu_count() or 1, len(todo)))
    # connected before the split: an unreachable scheduler fails in seconds, and a local
    # cluster starts while osmium runs
    client, cluster, own = _client(scheduler, n_workers, memory_limit)
    try:
        return _split_and_run(client, cluster, scheduler, job, todo, keys)
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()


def _combine(job: _Job, records: dict[int, dict], reused: set[int],
             keys: list[str]) -> tuple["pd.DataFrame", "gpd.GeoDataFrame"]:
    """Write ``coverage.parquet``, ``areas.csv`` and ``index.html`` from every area's record.

    Parameters
    ----------
    job
        The batch.
    records
        Area index -> record, for every area.
    reused
        Indices of the areas reused from an earlier run.
    keys
        The config's category keys.

    Returns
    -------
    tuple
        The ``areas.csv`` and ``coverage.parquet`` tables.
    """
    area_table = _areas_table(job.table, records, reused, keys)
    coverage = _coverage([job.piece(s) for s, st in zip(job.table["slug"], area_table["status"]) if st == OK])
    job.say("writing coverage.parquet, areas.csv, index.html")
    _write_combined(job.out, job.table, area_table, coverage, job.options.lang, job.osm.name)
    return area_table, coverage


def _result(job: _Job, area_table: "pd.DataFrame", coverage: "gpd.GeoDataFrame", run: _Run) -> BatchResult:
    """Report the outcome in one line and wrap it up.

    Parameters
    ----------
    job
        The batch.
    area_table, coverage
        From :func:`_combine`.
    run
        From :func:`_run_areas` (empty when no area ran).

    Returns
    -------
    BatchResult
        What :func:`batch` returns.
    """
    out, n = job.out, len(job.table)
    failed = int((area_table["status"] == FAILED).sum())
    job.say(f"{n - failed} of {n} areas ok" + (f", {failed} failed (see areas.csv)" if failed else ""))
    return BatchResult(
        out=out, areas=area_table, coverage=coverage, split_s=run.split_s, run_s=run.run_s, dashboard=run.link,
        split_runs=run.split_runs,
        files={"coverage": out / "coverage.parquet", "areas": out / "areas.csv", "index": out / "index.html"},
    )


def _execute(job: _Job, force: bool, workers: int | None, memory_limit: str | float | None,
             scheduler: Any) -> BatchResult:
    """Hash, plan, run and combine the areas of ``job``, holding its output folder.

    Parameters
    ----------
    job
        The batch.
    force, workers, memory_limit, scheduler
        As for :func:`batch`.

    Returns
    -------
    BatchResult
        What :func:`batch` returns.
    """
    from .fileio import output_folder

    job.say(f"{len(job.table)} areas; buffer {job.buffer:g} m")
    with output_folder(job.out):
        keys = _area_keys(job)
        records, reused, todo = _plan(job.out, job.table, keys, force)
        job.say(f"{len(todo)} areas to run, {len(reused)} unchanged since the last run (reused)"
                + (" (--force)" if force else ""))
        run = _run_areas(job, todo, keys, workers, memory_limit, scheduler) if todo else _Run()
        records.update(run.records)
        area_table, coverage = _combine(job, records, reused, job.options.config.keys)
    return _result(job, area_table, coverage, run)


def batch(osm: str | Path, areas: str | Path | "gpd.GeoDataFrame", out: str | Path = "batch-out", *,
          name_column: str | None = None, communities: str | Path | "gpd.GeoDataFrame" | None = None,
          communities_name_column: str | None = None, level: str | None = None,
          config: "Config | str | Path | None" = None, pois: str | Path | "gpd.GeoDataFrame" | None = None,
          pois_crs: str = "wgs84", pois_mode: str = "add", isochrone_limits: Iterable[float] | None = None,
          lang: str = "en", buffer_m: float | None = None, strategy: str = "complete_ways", workers: int | None = None,
          memory_limit: str | float | None = "auto", scheduler: Any = None, force: bool = False,
          keep_extracts: bool = False, split_memory: int | None = None,
          progress: Progress | None = None, communities_crs: str | None = None,
          encoding: str | None = None) -> BatchResult:
    """Analyse every area of ``areas`` over the region ``osm``, on Dask.

    Each area gets exactly the outputs of ``lifecircle analyze`` (via :meth:`Analysis.save`) in
    ``out/areas/<area>/``, computed by ``analyze(extract, area=polygon, ...)`` on its own extract: only the
    communities whose centre lies in the area are reported, while facilities, streets and homes in the buffer
    around it count. Why the default buffer suffices, and what a failed area keeps: :mod:`lifecircle.batch`.

    Examples::

        import lifecircle
        r = lifecircle.batch("province.osm.pbf", "districts.gpkg", "out", workers=8)
        r.areas[["area", "status", "communities", "complete_share"]]

    Parameters
    ----------
    osm
        The region's OSM file (.osm.pbf, .osm, .osm.bz2).
    areas
        Area polygons (GeoPackage, GeoJSON, Shapefile, or a GeoDataFrame), any CRS; one analysis per polygon.
    out
        Output folder: ``areas/<area>/`` per area, ``coverage.parquet``, ``areas.csv``, ``index.html``.
    name_column
        Column of ``areas`` with the names (default: detected; else "area 1", ...), made file-safe for folders.
    communities, communities_name_column, level, config, pois, pois_crs, pois_mode, isochrone_limits, lang
        As for :func:`lifecircle.analyze` (a ``pois`` file is read on each worker with ``pois_crs``).
    buffer_m
        Metres around each area included in its extract (default ``config.threshold_m``).
    strategy
        ``osmium extract`` strategy (see :func:`split`).
    workers
        LocalCluster worker processes (default: CPU count, at most the areas to run); not with ``scheduler``.
    memory_limit
        Per LocalCluster worker ("4GB", bytes, "auto" to share the machine's, None); over it, its area fails alone.
    scheduler
        A Dask scheduler's address ("tcp://host:8786") or a ``distributed.Client``; its workers see the same paths.
    force
        Redo every area, even those unchanged since a successful run.
    split_memory
        Bytes ``osmium extract`` may use (default: half the machine's memory), in as few runs as fit it.
    keep_extracts
        Keep each area's extract in ``out/.batch/extracts/`` (default: deleted once the area has succeeded).
    progress
        Called with one line per step and per finished area.
    communities_crs, encoding
        As for :func:`lifecircle.analyze`: the coordinate system of a ``communities`` file, and the text
        encoding of ``communities`` and ``pois`` shapefiles and CSVs.

    Returns
    -------
    BatchResult
        ``areas`` (the ``areas.csv`` table), ``coverage`` (the ``coverage.parquet`` table), ``failed`` (names).

    Raises
    ------
    LifecircleError
        Bad input, osmium missing or failing, or an unreachable scheduler; one area's failure is its row instead.
    """
    say = progress or _quiet
    memory_limit = check_memory_limit(memory_limit)
    options, buffer = _options(Path(osm), config, level, isochrone_limits, buffer_m, strategy, communities,
                               communities_name_column, pois, pois_crs, pois_mode, lang, workers,
                               communities_crs=communities_crs, encoding=encoding)
    job = _Job(osm=Path(osm), out=Path(out), table=read_areas(areas, name_column), buffer=buffer, strategy=strategy,
               split_memory=split_memory, keep_extracts=keep_extracts, say=say, options=options)
    for note in job.table.attrs.get("warnings", []):
        say(f"warning: {note}")
    return _execute(job, force, workers, memory_limit, scheduler)


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`batch` (see the module's note)."""

    def __call__(self, *args: Any, **kwargs: Any) -> BatchResult:
        return batch(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

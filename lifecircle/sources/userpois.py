"""User-supplied POIs: CSV (Amap/Baidu exports included), GeoJSON, GeoPackage.

:func:`read_user_pois` turns a file of facilities into rows of the ``pois``
contract (see :mod:`lifecircle.analysis`) in EPSG:4326, converting GCJ-02 or
BD-09 coordinates to WGS84 and assigning each row a category key, either from
a ``category`` column or through the ``[pois.typecode]`` / ``[pois.tag]``
tables of the user's TOML. :mod:`lifecircle.facilities.merge` combines them with OSM POIs.

Every problem with the file is an :class:`~lifecircle.errors.InputFileError`
whose message is one line naming the file and the problem.
"""

from __future__ import annotations

import functools
import io
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..config import Config, presets
from ..errors import ConfigError, InputFileError
from ..fileio import find_column, read_vector
from . import coords, textenc

#: Columns (compared case-insensitively, in this order of preference).
LON_COLUMNS = ("lon", "lng", "longitude", "x", "经度")
LAT_COLUMNS = ("lat", "latitude", "y", "纬度")
LOCATION_COLUMNS = ("location",)
NAME_COLUMNS = ("name", "名称")
CATEGORY_COLUMNS = ("category", "类别")
TYPECODE_COLUMNS = ("typecode", "type_code", "类型编码", "分类编码")
TAG_COLUMNS = ("tag",)

#: Output columns, in order (the ``pois`` contract minus ``snap_m``).
COLUMNS = ("poi_id", "osm_type", "osm_id", "name", "category", "source", "geometry")

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SHEET_SUFFIXES = (".xlsx", ".xlsm")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")

# Amap typecodes are six digits with leading zeros ("090601"); a GeoJSON or
# GeoPackage may store them as integers, which loses those zeros.
_TYPECODE_DIGITS = 6


# --------------------------------------------------------------------------
# errors


def _fail(path: Path, problem: str) -> InputFileError:
    """Build the one-line error for ``path`` (newlines in ``problem`` folded)."""
    text = " ".join(f"user POI file {path}: {problem}".split())
    return InputFileError(text)


def _short(value: Any, limit: int = 40) -> str:
    text = " ".join(str(value).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --------------------------------------------------------------------------
# reading the table


def _decode(path: Path, data: bytes, encoding: str | None = None) -> tuple[str, str | None]:
    """The file's text, and a warning if its encoding was guessed as GB18030."""
    head = data[:8192]
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _fail(path, "is a spreadsheet or zip archive, not CSV; name it .xlsx, or save it as CSV (UTF-8)")
    if b"\x00" in head or head.startswith(b"\x1f\x8b"):
        raise _fail(path, "is a binary file, not a CSV text file")
    # Chinese exports (Excel, Amap/Baidu tools) are often GBK rather than UTF-8.
    return textenc.decode_text(data, encoding, f"user POI file {path}")


def _separator(header: str) -> str:
    # Only the header line is sniffed: data lines hold quoted "lon,lat" pairs.
    counts = {sep: header.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(path: Path, encoding: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV as strings, keeping row positions of blank lines; also return warnings."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _fail(path, f"cannot be read ({e.strerror or e})") from None
    text, note = _decode(path, data, encoding)
    if not text.strip():
        raise _fail(path, "is empty")
    header = text.lstrip("\r\n").splitlines()[0]
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=_separator(header), dtype=str, keep_default_na=False,
            na_filter=False, skip_blank_lines=False, skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise _fail(path, f"is not a valid CSV file ({e})") from None
    df.columns = [str(c).strip() for c in df.columns]
    # Blank lines are dropped after parsing so that row numbers match lines.
    blank = df.apply(lambda col: col.str.strip() == "").all(axis=1)
    df = df[~blank]
    if df.empty:
        raise _fail(path, "has a header line but no rows")
    return df, [note] if note else []


def _read_sheet(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The first sheet of a workbook (a department's list of 助餐点) as strings, like a CSV."""
    try:
        df = pd.read_excel(path, sheet_name=0, dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as e:  # openpyxl and zipfile raise many types for a broken workbook
        raise _fail(path, f"is not a readable Excel workbook ({' '.join(str(e).split())[:200]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df[~df.apply(lambda col: col.astype(str).str.strip() == "").all(axis=1)]
    if df.empty:
        raise _fail(path, "has no rows in its first sheet")
    return df, []


def _read_vector(path: Path, encoding: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    chosen, note = textenc.shapefile_encoding(path, encoding, "user POI file")
    try:
        gdf = read_vector(path, encoding=chosen)
    except Exception as e:  # pyogrio/GDAL raise many types for bad files
        # GDAL appends advice about driver prefixes that does not apply here.
        reason = str(e).split("; It might help")[0].rstrip(". ")
        raise _fail(path, f"cannot be read as a {path.suffix.lstrip('.').upper()} file ({reason})") from None
    if len(gdf) == 0:
        raise _fail(path, "has no features")
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        try:
            gdf = gdf.to_crs("EPSG:4326")
        except Exception as e:  # pyproj errors for broken or exotic CRSs
            raise _fail(path, f"its CRS cannot be converted to EPSG:4326 ({e})") from None
    return gdf.reset_index(drop=True), [note] if note else []


def _where(kind: str, i: int) -> str:
    """Describe data row ``i`` the way the user sees it."""
    return f"line {i + 2}" if kind == "csv" else f"feature {i + 1}"


# --------------------------------------------------------------------------
# coordinates


def _csv_coordinates(df: pd.DataFrame, path: Path) -> tuple[pd.Series, pd.Series, str, str]:
    """Return raw longitude and latitude strings and the columns they came from."""
    lon_col = find_column(df.columns, LON_COLUMNS)
    lat_col = find_column(df.columns, LAT_COLUMNS)
    if lon_col is not None and lat_col is not None:
        return df[lon_col], df[lat_col], lon_col, lat_col
    loc_col = find_column(df.columns, LOCATION_COLUMNS)
    if loc_col is not None:
        bad = df[loc_col].str.count(",") != 1
        if bad.any():
            i = int(bad.idxmax())
            raise _fail(path, f"{_where('csv', i)}: {loc_col} {_short(df[loc_col][i])} is not 'lon,lat'")
        parts = df[loc_col].str.split(",", n=1, expand=True, regex=False)
        return parts[0], parts[1], f"{loc_col} (longitude)", f"{loc_col} (latitude)"
    found = ", ".join(map(str, df.columns)) or "none"
    raise _fail(
        path,
        f"no coordinate columns (need lon/lng/longitude/x/经度 and lat/latitude/y/纬度, "
        f"or location = 'lon,lat'); found: {found}",
    )


def _check_coordinates(
    raw_lon: pd.Series, raw_lat: pd.Series, names: tuple[str, str], path: Path, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Parse coordinates; raise naming the first non-numeric or out-of-range row."""
    lon = pd.to_numeric(raw_lon.astype(str).str.strip(), errors="coerce").to_numpy(float)
    lat = pd.to_numeric(raw_lat.astype(str).str.strip(), errors="coerce").to_numpy(float)
    for values, raw, name in ((lon, raw_lon, names[0]), (lat, raw_lat, names[1])):
        finite = np.isfinite(values)
        if not finite.all():
            k = int(np.argmin(finite))
            raise _fail(path, f"{_where(kind, raw.index[k])}: {name} {_short(raw.iloc[k])} is not a number")
    for values, raw, name, limit in ((lon, raw_lon, names[0], 180), (lat, raw_lat, names[1], 90)):
        bad = np.abs(values) > limit
        if bad.any():
            k = int(np.argmax(bad))
            hint = " (longitude and latitude swapped?)" if limit == 90 and abs(lon[k]) <= 90 else ""
            raise _fail(
                path,
                f"{_where(kind, raw.index[k])}: {name} {values[k]:g} is outside -{limit}..{limit}{hint}",
            )
    return lon, lat


def _vector_coordinates(gdf: gpd.GeoDataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        raise _fail(path, f"{_where('vector', int(np.argmax(missing)))} has no geometry")
    # Polygons (a park, a market hall) are reduced to a point inside them.
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    raw_lon = pd.Series(shapely.get_x(points), index=gdf.index)
    raw_lat = pd.Series(shapely.get_y(points), index=gdf.index)
    return _check_coordinates(raw_lon, raw_lat, ("longitude", "latitude"), path, "vector")


# --------------------------------------------------------------------------
# categories


def _category_lookup(config: Config) -> tuple[dict[str, str], set[str]]:
    """Map casefolded keys and labels to category keys; also return all keys.

    Built-in presets count too, so that a file listing e.g. hospitals is
    accepted by a 10-minute run (those rows are dropped with a warning)
    instead of failing as unknown.
    """
    lookup: dict[str, str] = {}
    for key, spec in presets()["categories"].items():
        for text in (key, spec.get("label_zh", ""), spec.get("label_en", "")):
            if text:
                lookup.setdefault(str(text).strip().casefold(), key)
    # The run's categories win: a user TOML may relabel or add categories.
    run: dict[str, str] = {}
    for cat in config.categories:
        for text in (cat.label_en, cat.label_zh, cat.key):
            run[text.strip().casefold()] = cat.key
    lookup.update(run)
    return lookup, set(lookup.values())


def _mapping_table(pois: Mapping[str, Any], name: str, known: set[str]) -> dict[str, str]:
    """Return the validated ``[pois.<name>]`` table (pattern -> category key)."""
    table = pois.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"config: [pois.{name}] must be a table such as \"0901\" = \"clinic\"")
    out: dict[str, str] = {}
    for pattern, key in table.items():
        if not isinstance(key, str):
            raise ConfigError(f"config: [pois.{name}] {pattern!r} must map to a category key string")
        if key not in known:
            raise ConfigError(
                f"config: [pois.{name}] maps {pattern!r} to unknown category {key!r}; "
                f"known: {', '.join(sorted(known))}"
            )
        out[str(pattern).strip()] = key
    return out


def _from_category_column(values: pd.Series, lookup: dict[str, str], path: Path, kind: str) -> pd.Series:
    keys = values.fillna("").astype(str).str.strip()
    blank = keys == ""
    out = keys.str.casefold().map(lookup)
    unknown = out.isna() & ~blank
    if unknown.any():
        i = unknown.idxmax()
        choices = ", ".join(sorted(set(lookup.values())))
        raise _fail(
            path,
            f"{_where(kind, i)}: unknown category {_short(values[i])} "
            f"(use a category key or its label: {choices})",
        )
    return out.where(~blank, None)


@functools.lru_cache(maxsize=1)
def amap_typecodes() -> dict[str, str | None]:
    """The built-in Amap typecode table: code prefix -> category key (None: kept out).

    Read from ``amap_typecodes.toml`` next to this module, which cites its
    source (Amap's published POI classification) and says which categories
    Amap has no code for.
    """
    with open(Path(__file__).with_name("amap_typecodes.toml"), "rb") as f:
        data = tomllib.load(f)
    table: dict[str, str | None] = {str(k): str(v) for k, v in data["typecodes"].items()}
    table.update({str(k): None for k in data.get("excluded", {})})
    return table


def _typecode_strings(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else str(int(v)).zfill(_TYPECODE_DIGITS))
    return values.fillna("").astype(str)


def match_typecode(value: str, tables: list[tuple[dict[str, str | None], list[str]]]) -> str | None:
    """Category of the first code that a table matches (longest prefix within a table).

    ``tables`` are (table, its keys longest first), tried in order for each
    code: the user's [pois.typecode], then the built-in one, whose None
    entries keep a code out. Amap joins several typecodes with "|", the
    primary one first.
    """
    for code in re.split(r"[|;,\s]+", value.strip()):
        if code.isdigit() and len(code) < _TYPECODE_DIGITS:
            code = code.zfill(_TYPECODE_DIGITS)  # Excel drops the leading zero of "090601"
        for table, prefixes in tables:
            for prefix in prefixes:
                if code and code.startswith(prefix):
                    return table[prefix]
    return None


def _match_tag(value: str, table: dict[str, str], patterns: list[str]) -> str | None:
    """Exact tag first, then the longest configured substring of it.

    ``table`` has casefolded keys; ``patterns`` are those keys, longest first.
    """
    text = value.strip().casefold()
    if not text:
        return None
    if text in table:
        return table[text]
    for pattern in patterns:
        if pattern and pattern in text:
            return table[pattern]
    return None


def _no_category_error(df: pd.DataFrame, tags: dict[str, str], path: Path) -> InputFileError:
    found = ", ".join(map(str, df.columns)) or "none"
    tag = "no 'tag' column (for [pois.tag])" if tags else "no 'tag' column with a [pois.tag] mapping in the config"
    return _fail(path, f"no 'category' column, no 'typecode' column (Amap typecodes) and {tag}; found: {found}")


def _from_mapping(df: pd.DataFrame, config: Config, known: set[str], path: Path) -> pd.Series:
    pois = config.extra.get("pois", {}) or {}
    if not isinstance(pois, Mapping):
        raise ConfigError("config: [pois] must be a table")
    typecodes = _mapping_table(pois, "typecode", known)
    tags = _mapping_table(pois, "tag", known)
    tc_col = find_column(df.columns, TYPECODE_COLUMNS)
    tag_col = find_column(df.columns, TAG_COLUMNS) if tags else None
    if tc_col is None and tag_col is None:
        raise _no_category_error(df, tags, path)
    out = pd.Series([None] * len(df), index=df.index, dtype=object)
    if tc_col is not None:
        # the user's table first; codes it does not match fall back to the built-in one
        tables = [(t, sorted(t, key=len, reverse=True)) for t in (typecodes, amap_typecodes())]
        out = _typecode_strings(df[tc_col]).map(lambda v: match_typecode(v, tables)).astype(object)
    if tag_col is not None:
        folded = {k.casefold(): v for k, v in tags.items()}
        patterns = sorted(folded, key=len, reverse=True)
        by_tag = df[tag_col].fillna("").astype(str).map(lambda v: _match_tag(v, folded, patterns))
        out = out.where(out.notna(), by_tag)
    return out


def _assign_categories(
    df: pd.DataFrame, config: Config, path: Path, kind: str
) -> tuple[pd.Series, list[str]]:
    """Return each row's category key (None to drop) and warnings."""
    lookup, known = _category_lookup(config)
    col = find_column(df.columns, CATEGORY_COLUMNS)
    if col is not None:
        keys = _from_category_column(df[col], lookup, path, kind)
    else:
        keys = _from_mapping(df, config, known, path)
    keep = keys.isin(config.keys)
    if keep.all():
        return keys, []
    return keys.where(keep, None), [_skip_warning(keys, keep, path, mapped=col is None)]


def _skip_warning(keys: pd.Series, keep: pd.Series, path: Path, mapped: bool) -> str:
    """One line counting the rows dropped, and why (a Message: English as str, Chinese too)."""
    from ..i18n import Message

    other = keys[~keep & keys.notna()]
    n_none = int(keys.isna().sum())
    parts = []
    if len(other):
        parts.append(Message("skip_other", n=len(other), keys=sorted(set(other))))
    if n_none:
        parts.append(Message("skip_none_mapped" if mapped else "skip_none", n=n_none))
    n_skipped = len(keys) - int(keep.sum())
    why = Message("pair_semicolon", a=parts[0], b=parts[1]) if len(parts) == 2 else parts[0]
    return Message("warn_pois_skipped", file=path.name, n_skipped=n_skipped, n=len(keys), parts=why)


# --------------------------------------------------------------------------
# public API


def read_user_pois(path: str | Path, config: Config, crs: str | None = None,
                   encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a user's POI file into rows of the ``pois`` contract.

    Parameters
    ----------
    path
        CSV (``.csv``, ``.tsv``, ``.txt``; UTF-8 or GBK, comma, tab or
        semicolon separated), Excel (``.xlsx``: its first sheet, read as a
        CSV), GeoJSON, GeoPackage (or Shapefile/FlatGeobuf).
        Names may be in ``name`` or ``名称``.
        CSV coordinates come from lon/lng/longitude/x/经度 and
        lat/latitude/y/纬度 columns (case-insensitive), or an Amap-style
        ``location`` column holding "lon,lat". Polygons are reduced to a
        point inside them.
    config
        The run configuration. Categories come from a ``category`` column
        (a category key, or its ``label_zh``/``label_en``), or else from the
        TOML's ``[pois.typecode]`` (Amap typecode prefix -> key, longest
        prefix wins), else the built-in Amap table
        (:func:`amap_typecodes`), for a ``typecode`` column ("050100", or
        several joined with "|"), and ``[pois.tag]`` (Baidu tag or
        substring -> key).
    crs
        Coordinate system of the file's longitudes and latitudes: "wgs84",
        "gcj02" (Amap, Tencent) or "bd09" (Baidu). None: WGS84, with a
        warning when the file looks like an Amap or Baidu export of places
        in China.
    encoding
        Text encoding of a CSV or a shapefile's ``.dbf`` (e.g. "gbk"); None:
        UTF-8, else GB18030 with a warning (a shapefile's ``.cpg`` is
        honoured).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``poi_id`` ("user/<row>"), ``osm_type`` ("user"), ``osm_id``
        (the 0-based data row), ``name``, ``category``, ``source`` ("user"),
        geometry (Point, EPSG:4326). Rows of categories outside the run, or
        without a category, are dropped; ``gdf.attrs["warnings"]`` holds
        one-line messages saying how many.

    Raises
    ------
    InputFileError
        Missing, unreadable, corrupt or empty file; no coordinate columns;
        a non-numeric or out-of-range coordinate; no category column and no
        usable mapping; an unknown category value; text that ``encoding``
        (or, if none is given, UTF-8 and GB18030) cannot decode.
    ConfigError
        Unknown ``crs`` or ``encoding``, or a ``[pois]`` mapping to an
        unknown category.
    """
    given_crs = crs
    crs = coords.normalize_crs(crs if crs is not None else "wgs84")
    textenc.check_encoding(encoding)
    path = Path(path)
    if not path.exists():
        raise _fail(path, "not found")
    if path.is_dir():
        raise _fail(path, "is a directory, not a file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES or suffix in SHEET_SUFFIXES:
        kind = "csv"
        df, read_notes = _read_sheet(path) if suffix in SHEET_SUFFIXES else _read_csv(path, encoding)
        raw_lon, raw_lat, lon_name, lat_name = _csv_coordinates(df, path)
        lon, lat = _check_coordinates(raw_lon, raw_lat, (lon_name, lat_name), path, kind)
    elif suffix in VECTOR_SUFFIXES:
        kind = "vector"
        gdf, read_notes = _read_vector(path, encoding)
        lon, lat = _vector_coordinates(gdf, path)
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    else:
        raise _fail(path, f"unsupported file type {suffix or '(none)'!r}; use CSV, Excel (.xlsx), GeoJSON or "
                          "GeoPackage")

    categories, notes = _assign_categories(df, config, path, kind)
    if given_crs is None:
        read_notes += coords.export_warning(df.columns, lon, lat, f"user POI file {path.name}", "--pois-crs")
    else:
        read_notes += coords.outside_warning(lon, lat, crs, f"user POI file {path.name}", "--pois-crs")
    notes = read_notes + notes
    lon, lat = coords.to_wgs84(lon, lat, crs)
    keep = categories.notna().to_numpy()
    gdf = _build(df.index.to_numpy()[keep], _names(df)[keep], categories.to_numpy()[keep],
                 np.asarray(lon)[keep], np.asarray(lat)[keep], notes)
    gdf.attrs["source"] = path.name  # the outputs name the file the facilities came from
    return gdf


def _names(df: pd.DataFrame) -> np.ndarray:
    col = find_column(df.columns, NAME_COLUMNS)
    if col is None:
        return np.full(len(df), "", dtype=object)
    return df[col].fillna("").astype(str).str.strip().to_numpy(object)


def _build(
    rows: np.ndarray, names: np.ndarray, categories: np.ndarray,
    lon: np.ndarray, lat: np.ndarray, notes: list[str],
) -> gpd.GeoDataFrame:
    rows = rows.astype("int64")
    gdf = gpd.GeoDataFrame(
        {
            "poi_id": pd.Series([f"user/{i}" for i in rows], dtype=object),
            "osm_type": pd.Series(["user"] * len(rows), dtype=object),
            "osm_id": pd.Series(rows, dtype="int64"),
            "name": pd.Series(list(names), dtype=object),
            "category": pd.Series(list(categories), dtype=object),
            "source": pd.Series(["user"] * len(rows), dtype=object),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    gdf.attrs["warnings"] = list(notes)
    return gdf

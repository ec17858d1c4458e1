"""Writing outputs safely: nothing half-written is ever left under a final name."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import geopandas as gpd
import pyogrio

from .errors import InputFileError, first_line

# GeoPackages record a "last change" time; pin it so one input gives one file.
pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    On any error the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def staging_dir(folder: str | Path) -> Iterator[Path]:
    """Yield a hidden folder inside ``folder`` to write a set of outputs into.

    On success every file in it is moved into ``folder`` (each move an
    atomic rename); on error the staging folder is deleted and ``folder``
    keeps what it had.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".lifecircle-", dir=folder))
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()


def read_polygons(path: str | Path, what: str) -> gpd.GeoDataFrame:
    """Read the polygons of a vector file (GeoJSON, GeoPackage, Shapefile).

    Parameters
    ----------
    path
        The file.
    what
        What the file is for, as named in error messages ("communities file").

    Returns
    -------
    geopandas.GeoDataFrame
        Only Polygon/MultiPolygon rows, in the file's own CRS.

    Raises
    ------
    InputFileError
        Missing or unreadable file, no CRS, or no polygons.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{what} not found: {path}")
    try:
        # GDAL's RuntimeWarnings on damaged files would repeat the error below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = gpd.read_file(path)
    except Exception as e:  # pyogrio/GDAL raise many types for bad files
        raise InputFileError(f"cannot read {what} {path}: {first_line(e)}") from None
    if gdf.crs is None:
        raise InputFileError(f"{what} {path} has no CRS; save it with one (e.g. EPSG:4326)")
    gdf = gdf[gdf.geometry.notna() & gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(gdf) == 0:
        raise InputFileError(f"{what} {path} has no polygons")
    return gdf

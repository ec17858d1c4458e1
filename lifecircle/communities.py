"""Communities (the unit reported on) and the residential buildings inside them.

Communities come from the user's file, else from polygons in the extract
(residential landuse, then neighbourhoods, then small administrative areas),
else from street blocks that contain residential buildings.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .errors import EmptyAreaError, InputFileError
from .fileio import read_polygons
from .network import StreetNetwork

_NAME_COLUMNS = ("name", "名称", "社区", "community", "community_name", "name_zh", "NAME", "Name")
_ID_COLUMNS = ("community_id", "id", "code", "编码", "ID")
_POP_COLUMNS = ("population", "residents", "pop", "人口", "户数", "households")
_COLUMNS = ["community_id", "name", "source", "residents_input", "geometry"]


def _polygons(features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return features[features.geom_type.isin(["Polygon", "MultiPolygon"])]


def _tag(features: gpd.GeoDataFrame, key: str) -> pd.Series:
    return features["tags"].map(lambda t: t.get(key))


def residential_buildings(features: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    """Residential building footprints with a population proxy.

    A building counts as residential when its ``building`` value says so
    (``settings.residential_buildings``) or when it is a generic building
    (``building=yes``) inside residential landuse.

    Parameters
    ----------
    features
        The features table (EPSG:4326).
    crs
        The projected analysis CRS.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_id``, ``levels``, ``residents`` (footprint x levels /
        ``settings.floor_area_per_person``), geometry; in ``crs``.
    """
    polys = _polygons(features).to_crs(crs)
    building = _tag(polys, "building")
    landuse = _tag(polys, "landuse")
    explicit = building.isin(settings.residential_buildings)
    generic = building.eq("yes")
    residential_land = polys[landuse.eq("residential")]
    if len(residential_land) and generic.any():
        inside = polys[generic].representative_point().within(residential_land.union_all())
        generic.loc[inside.index] = inside
    else:
        generic[:] = False
    b = polys[explicit | generic].copy()
    levels = pd.to_numeric(_tag(b, "building:levels"), errors="coerce")
    b["levels"] = levels.where(levels > 0, settings.default_building_levels)
    b["residents"] = b.geometry.area * b["levels"] / settings.floor_area_per_person
    return b[["osm_type", "osm_id", "levels", "residents", "geometry"]].reset_index(drop=True)


def from_extract(features: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    """Community polygons found in the extract, or an empty frame.

    Only polygons complete in the file exist here (pyosmium assembles an
    area only when all its members are present), so clipped boundaries
    never become half-communities.
    """
    polys = _polygons(features)
    rules = (
        ("landuse=residential", "Residential area", _tag(polys, "landuse").eq("residential")),
        ("place", "Neighbourhood", _tag(polys, "place").isin(["neighbourhood", "quarter", "suburb"])),
        ("boundary=administrative", "Area", _tag(polys, "boundary").eq("administrative")
         & pd.to_numeric(_tag(polys, "admin_level"), errors="coerce").ge(8)),
    )
    for source, label, mask in rules:
        chosen = polys[mask]
        if len(chosen):
            ids = chosen["osm_type"] + "/" + chosen["osm_id"].astype(str)
            names = [n if n else f"{label} {i}" for n, i in zip(chosen["name"], ids)]
            gdf = gpd.GeoDataFrame(
                {"community_id": ids.values, "name": names, "source": source,
                 "residents_input": np.nan},
                geometry=chosen.geometry.values, crs=features.crs,
            ).to_crs(crs)
            return gdf.sort_values("community_id").reset_index(drop=True)
    return gpd.GeoDataFrame(columns=_COLUMNS, geometry="geometry", crs=crs)


def street_blocks(net: StreetNetwork, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Street blocks (faces of the walk network) holding residential buildings."""
    lines = shapely.union_all(net.geoms)  # nodes the lines where they cross
    blocks = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(lines))))
    if len(blocks) == 0 or len(buildings) == 0:
        return gpd.GeoDataFrame(columns=_COLUMNS, geometry="geometry", crs=net.crs)
    tree = shapely.STRtree(blocks)
    hit = np.unique(tree.query(buildings.representative_point().values, predicate="within")[1])
    blocks = blocks[hit]
    # order by position so ids do not depend on polygonize's order
    c = shapely.get_coordinates(shapely.centroid(blocks))
    blocks = blocks[np.lexsort((c[:, 0].round(3), -c[:, 1].round(3)))]
    return gpd.GeoDataFrame(
        {"community_id": [f"block/{i + 1}" for i in range(len(blocks))],
         "name": [f"Block {i + 1}" for i in range(len(blocks))],
         "source": "street block", "residents_input": np.nan},
        geometry=blocks, crs=net.crs,
    )


def _pick(columns, candidates) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for c in candidates:
        if c in columns:
            return c
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def read_communities(path: str | Path, crs, name_column: str | None = None) -> gpd.GeoDataFrame:
    """Read community polygons from GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path
        The file; it must have a CRS (or be GeoJSON, which is WGS84).
    crs
        The analysis CRS to project to.
    name_column
        Column with the community names (default: detected, e.g. ``name``).

    Returns
    -------
    geopandas.GeoDataFrame
    """
    path = Path(path)
    gdf = read_polygons(path, "communities file")
    name_col = name_column or _pick(gdf.columns, _NAME_COLUMNS)
    if name_col is None or name_col not in gdf.columns:
        cols = ", ".join(c for c in gdf.columns if c != "geometry")
        raise InputFileError(f"communities file {path} has no name column (columns: {cols}); use --name-column")
    id_col = _pick(gdf.columns, _ID_COLUMNS)
    ids = gdf[id_col].astype(str) if id_col else pd.Series([f"c{i + 1}" for i in range(len(gdf))], index=gdf.index)
    if ids.duplicated().any():
        raise InputFileError(f"communities file {path}: ids in column {id_col!r} are not unique")
    pop_col = _pick(gdf.columns, _POP_COLUMNS)
    pop = pd.to_numeric(gdf[pop_col], errors="coerce") if pop_col else np.nan
    out = gpd.GeoDataFrame(
        {"community_id": ids.values, "name": gdf[name_col].fillna("").astype(str).values,
         "source": path.name, "residents_input": pop if np.isscalar(pop) else pop.values},
        geometry=gdf.geometry.values, crs=gdf.crs,
    ).to_crs(crs)
    out["geometry"] = out.geometry.make_valid()
    return out.reset_index(drop=True)


def derive_communities(
    features: gpd.GeoDataFrame, net: StreetNetwork, buildings: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Communities from the extract, else street blocks with homes."""
    gdf = from_extract(features, net.crs)
    if len(gdf) == 0:
        gdf = street_blocks(net, buildings)
    if len(gdf) == 0:
        raise EmptyAreaError(
            "no communities: the extract has no residential areas and no residential buildings; "
            "give --communities FILE"
        )
    return gdf

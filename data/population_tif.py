"""Write helsinki-population-grid-2020.tif from helsinki-population-grid-2020.gpkg (see README.md).

The grid's cells are 250 m squares of the Helsinki GK25 system (EPSG:3879); the GeoTIFF holds
the same cells and counts, one pixel each (0 where the grid has no cell). Run from this folder:
``python population_tif.py``.
"""

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin

HERE = Path(__file__).resolve().parent
CELL = 250.0

grid = gpd.read_file(HERE / "helsinki-population-grid-2020.gpkg").to_crs("EPSG:3879")
centre = grid.geometry.centroid
x0 = np.floor(centre.x.min() / CELL) * CELL
y1 = np.ceil(centre.y.max() / CELL) * CELL
cols = np.floor((centre.x - x0) / CELL).astype(int)
rows = np.floor((y1 - centre.y) / CELL).astype(int)
band = np.zeros((rows.max() + 1, cols.max() + 1), dtype="float32")
band[rows, cols] = grid["population"].to_numpy(float)
profile = {"driver": "GTiff", "height": band.shape[0], "width": band.shape[1], "count": 1, "dtype": "float32",
           "crs": "EPSG:3879", "transform": from_origin(x0, y1, CELL, CELL), "nodata": 0.0, "compress": "deflate"}
with rasterio.open(HERE / "helsinki-population-grid-2020.tif", "w", **profile) as out:
    out.write(band, 1)
    out.update_tags(SOURCE="HSY population grid 2020 (väestötietoruudukko), CC BY 4.0", PEOPLE=str(band.sum()))

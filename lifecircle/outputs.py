"""Tables and files of an analysis: CSV, GeoPackage, map, charts, report."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from . import settings
from .analysis import Analysis
from .fileio import staging_dir


def coverage_table(analysis: Analysis) -> pd.DataFrame:
    """The per-community coverage table written to ``coverage.csv``."""
    return analysis.coverage


def _gpkg_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(settings.output_crs)


def save_analysis(analysis: Analysis, folder: str | Path, lang: str = "en") -> dict[str, Path]:
    """Write every output of ``analysis`` into ``folder``.

    Files: ``coverage.csv`` (one row per community), ``basis.csv`` (what
    each category was judged by), ``left_out.csv`` (facilities and
    residential areas not counted, and why), ``lifecircle.gpkg`` (layers
    communities, pois, isochrones, gaps; EPSG:4326), ``map.html``,
    ``report.html`` and the PNG charts. All are written to a staging folder
    first, so an error leaves no partial file behind.

    Returns
    -------
    dict
        Output kind -> final path.
    """
    from .maps import make_map, save_map
    from .report import make_charts, write_report

    folder = Path(folder)
    written: dict[str, Path] = {}
    with staging_dir(folder) as stage:
        coverage_table(analysis).to_csv(stage / "coverage.csv", index=False, encoding="utf-8")
        written["coverage"] = folder / "coverage.csv"
        analysis.basis.to_csv(stage / "basis.csv", index=False, encoding="utf-8")
        written["basis"] = folder / "basis.csv"
        analysis.left_out.to_csv(stage / "left_out.csv", index=False, encoding="utf-8")
        written["left_out"] = folder / "left_out.csv"
        gpkg = stage / "lifecircle.gpkg"
        for layer in ("communities", "pois", "isochrones", "gaps"):
            gdf = getattr(analysis, layer)
            if len(gdf):
                _gpkg_frame(gdf).to_file(gpkg, layer=layer, driver="GPKG")
        written["gpkg"] = folder / "lifecircle.gpkg"
        save_map(make_map(analysis, lang=lang), stage / "map.html")
        written["map"] = folder / "map.html"
        for chart in make_charts(analysis, stage, lang=lang):
            written[chart.stem] = folder / chart.name
        report = write_report(analysis, stage, lang=lang)
        written["report"] = folder / report.name
    return written

"""Tables and files of an analysis: CSV, GeoPackage, map, charts, report."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from .. import settings
from ..fileio import alongside, staging_dir, write_csv, writing
from ..i18n import Message
from .tiles import check_tiles

if TYPE_CHECKING:  # heavy: imported where used, so the CLI starts at once
    import geopandas as gpd
    import pandas as pd

    from ..analysis import Analysis


#: Chart file names, in the order :func:`lifecircle.outputs.report.make_charts` returns them.
CHART_NAMES: tuple[str, ...] = ("chart_coverage.png", "chart_reached.png")

#: File name of the static overview map (:func:`lifecircle.outputs.report.overview_figure`).
OVERVIEW_NAME = "overview.png"


#: What writing the outputs imports (:func:`preload`).
_WRITERS = ("pyogrio", "lifecircle.outputs.maps", "lifecircle.outputs.report", "lifecircle.outputs.sheets",
            "matplotlib.collections", "matplotlib.patches", "PIL.Image")


def preload() -> None:
    """Import the output writers' libraries now rather than while writing.

    The command calls it while its OSM file is read in another process: the
    imports cost nothing there, and the process that later writes the
    documents inherits them.
    """
    import importlib

    for name in _WRITERS:
        importlib.import_module(name)


def coverage_table(analysis: "Analysis") -> "pd.DataFrame":
    """The per-community coverage table written to ``coverage.csv`` and ``coverage.xlsx``.

    :attr:`Analysis.coverage` with counts as whole numbers: ``residents``
    (an estimate) rounded to whole people, empty when unknown. The other
    numbers keep the analysis's precision: metres to 0.1 m, minutes to
    0.01 min, shares (0..1) to 4 decimals, the precision ``covered_<k>`` was
    decided at.
    """
    import numpy as np
    import pandas as pd

    table = analysis.coverage.copy()
    if "residents" in table:
        residents = pd.to_numeric(table["residents"], errors="coerce").astype(float)
        table["residents"] = residents.where(np.isfinite(residents)).round().astype("Int64")
    return table


#: Columns of ``facilities.csv`` (:func:`facilities_table`), in order. The last three are
#: the planner's: marked and given back with ``--review`` (:mod:`lifecircle.facilities.review`).
FACILITY_TABLE_COLUMNS = ["poi_id", "category", "name", "counted", "reason", "reason_text", "rule", "within",
                          "area_m2", "source", "also_in", "note", "tags", "lon", "lat", "decision", "new_category",
                          "review_note"]


def facilities_table(analysis: "Analysis", lang: str = "en") -> "pd.DataFrame":
    """Every candidate facility of the run, counted or not, and why: ``facilities.csv``.

    One row per (feature, category) that a category's rules touched
    (:attr:`Analysis.facilities`), sorted by category, counted first, then id;
    ``reason_text`` is the reason code in ``lang``; ``lon``/``lat`` a point of it
    (WGS-84, 7 decimals); ``decision``, ``new_category`` and ``review_note`` are
    empty, for the planner to fill and give back with ``--review``.
    """
    import numpy as np
    import pandas as pd

    from ..i18n import reason_text

    reg = analysis.facilities
    if reg is None or not len(reg):
        return pd.DataFrame(columns=FACILITY_TABLE_COLUMNS)
    points = reg.geometry.representative_point().to_crs("EPSG:4326")
    table = pd.DataFrame(reg.drop(columns="geometry"))
    table["lon"], table["lat"] = np.round(points.x.to_numpy(), 7), np.round(points.y.to_numpy(), 7)
    table["reason_text"] = table["reason"].map(lambda code: reason_text(str(code), lang))
    table["counted"] = table["counted"].astype(bool)
    table["area_m2"] = pd.to_numeric(table["area_m2"], errors="coerce").round(1)
    for col in ("decision", "new_category", "review_note"):
        table[col] = ""
    order = np.lexsort((table["poi_id"].astype(str).to_numpy(), ~table["counted"].to_numpy(),
                        table["category"].astype(str).to_numpy()))
    return table.iloc[order].reset_index(drop=True)[FACILITY_TABLE_COLUMNS]


def _gpkg_frame(gdf: "gpd.GeoDataFrame") -> "gpd.GeoDataFrame":
    return gdf.to_crs(settings.output_crs)


@contextlib.contextmanager
def _unsynced_sqlite() -> Iterator[None]:
    """GDAL's SQLite writes without an fsync per commit, within the block.

    Each layer written is a few commits, each waiting for the disk: 0.8 s of
    the 0.9 s a five-layer GeoPackage took on the bundled extract. The file
    is written into the staging folder and only moved into place once every
    output is written, like the CSV and HTML files next to it, which are not
    synced either.
    """
    import pyogrio

    key = "OGR_SQLITE_SYNCHRONOUS"
    before = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: before})


def _write_gpkg(analysis: "Analysis", gpkg: Path) -> None:
    with writing(gpkg), _unsynced_sqlite():
        for layer in ("communities", "pois", "facilities", "isochrones", "gaps", "routes"):
            gdf = getattr(analysis, layer)
            if gdf is not None and len(gdf):
                _gpkg_frame(gdf).to_file(gpkg, layer=layer, driver="GPKG")


def _write_documents(analysis: "Analysis", lang: str, stage: Path,
                     extra_sheets: "Mapping[str, pd.DataFrame] | None") -> None:
    """The workbook, the charts, the overview map and report.html (which inlines them) into ``stage``."""
    from .report import chart_figures, overview_png, png_bytes, report_html
    from .sheets import coverage_xlsx

    (stage / "coverage.xlsx").write_bytes(coverage_xlsx(analysis, lang, extra=extra_sheets))

    charts = {name: png_bytes(fig) for name, fig in chart_figures(analysis, lang).items()}
    for name, png in charts.items():
        (stage / name).write_bytes(png)
    overview = overview_png(analysis, lang)  # the report's static map, also a file of its own
    (stage / OVERVIEW_NAME).write_bytes(overview)
    (stage / "report.html").write_bytes(report_html(analysis, lang, charts=charts, overview=overview).encode("utf-8"))


def save_analysis(analysis: "Analysis", folder: str | Path, lang: str = "en",
                  extra_sheets: "Mapping[str, pd.DataFrame] | None" = None, tiles: str = "osm",
                  tiles_attribution: str | None = None,
                  progress: "Callable[[str], None] | None" = None) -> dict[str, Path]:
    """Write every output of ``analysis`` into ``folder``.

    Files: ``coverage.csv`` (one row per community), ``coverage.xlsx``
    (summary, basis, facilities and one sheet per community), ``basis.csv`` (what
    each category was judged by), ``left_out.csv`` (facilities and
    residential areas not counted, and why), ``facilities.csv`` (every
    candidate facility, counted or not, and why: :func:`facilities_table`),
    ``indicators.csv`` (the shares of residents and of residential land within reach, per
    category, for the district and each sub-district) and ``problems.csv`` (the problem list,
    community by community: :mod:`lifecircle.indicators`),
    ``lifecircle.gpkg`` (layers communities, pois, facilities, isochrones, gaps,
    routes; EPSG:4326), ``map.html``,
    ``report.html``, the PNG charts and ``overview.png`` (the report's static map). All are written to a staging folder
    first, so an error leaves no partial file behind. ``tiles`` and
    ``tiles_attribution`` choose the map's background (see
    :func:`lifecircle.outputs.maps.make_map`). ``progress`` is told when
    the writing starts (after the isochrones and routes, if they were still
    to be made). Text cells of the CSV
    files are defused against spreadsheet formulas
    (:func:`lifecircle.fileio.write_csv`), and the workbook's are string
    cells; the GeoPackage keeps them as they are.

    ``extra_sheets`` (sheet title -> table, e.g. a what-if comparison) are
    added to ``coverage.xlsx`` after its basis sheet.

    Returns
    -------
    dict
        Output kind -> final path.

    Raises
    ------
    OutputError
        The folder cannot be written or is in use by another run.
    """
    from .maps import make_map, render_map

    folder = Path(folder)
    # a bad tile choice fails before any file is written
    check_tiles(tiles, tiles_attribution)
    written: dict[str, Path] = {}
    with staging_dir(folder) as stage:
        # The staging folder already makes the set atomic: files in it are
        # written plainly, not each through a temporary file of its own.
        # isochrones and routes first, each half in another process (settings.parallel_outputs);
        # then the documents (workbook, charts, report), which need neither, in a second
        # process while this one writes the tables and the map: about half the time on two cores
        analysis.make_layers()
        with alongside(lambda: _write_documents(analysis, lang, stage, extra_sheets)):
            if progress is not None:
                progress(Message("progress_write", folder=str(folder)))
            write_csv(coverage_table(analysis), stage / "coverage.csv")
            write_csv(analysis.basis, stage / "basis.csv")
            write_csv(analysis.left_out, stage / "left_out.csv")
            write_csv(facilities_table(analysis, lang), stage / "facilities.csv")
            from ..indicators import indicators, problems  # pandas: loaded by now

            write_csv(indicators(analysis, lang), stage / "indicators.csv")
            write_csv(problems(analysis, lang), stage / "problems.csv")
            _write_gpkg(analysis, stage / "lifecircle.gpkg")
            page = make_map(analysis, lang=lang, tiles=tiles, tiles_attribution=tiles_attribution)
            (stage / "map.html").write_bytes(render_map(page).encode("utf-8"))
        for kind, name in (("coverage", "coverage.csv"), ("xlsx", "coverage.xlsx"), ("basis", "basis.csv"),
                           ("left_out", "left_out.csv"), ("facilities", "facilities.csv"),
                           ("indicators", "indicators.csv"), ("problems", "problems.csv"),
                           ("gpkg", "lifecircle.gpkg"), ("map", "map.html")):
            written[kind] = folder / name
        for name in (*CHART_NAMES, OVERVIEW_NAME):
            written[Path(name).stem] = folder / name
        written["report"] = folder / "report.html"
    return written

"""The ``lifecircle`` command: a thin click layer over the library.

Every command calls a public library function; user mistakes surface as
:class:`~lifecircle.errors.LifecircleError` and are printed as one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import replace

import click
from click.core import ParameterSource

from .errors import ConfigError, LifecircleError

LEVELS = ("5min", "10min", "15min")


def _progress(quiet: bool, lang: str = "en", steps: list[tuple[str, float]] | None = None):
    start = time.perf_counter()

    def say(msg: str) -> None:
        if steps is not None:
            steps.append((msg, time.perf_counter() - start))
        if not quiet:
            from .i18n import localize

            click.echo(f"[{time.perf_counter() - start:6.1f}s] {localize(msg, lang)}", err=True)

    say.start = start
    return say


def _step_times(steps: list[tuple[str, float]], end: float, lang: str = "en") -> str:
    """--verbose: the seconds each progress step took, until the next one began (the last until ``end``)."""
    from .i18n import localize

    lines = ["step times (s):", f"  {steps[0][1]:8.2f}  checking options, loading libraries"]
    ends = [t for _, t in steps[1:]] + [end]
    lines += [f"  {stop - t:8.2f}  {localize(msg, lang)}" for (msg, t), stop in zip(steps, ends)]
    lines.append(f"  {end:8.2f}  total")
    return "\n".join(lines)


def _floats(text: str | None) -> list[float] | None:
    """The numbers of a comma-separated option; their ranges are checked by the config."""
    if not text:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--isochrones: expected numbers separated by commas, got {text!r}") from None
    if not values:
        raise ConfigError(f"--isochrones: expected numbers separated by commas, got {text!r}")
    return values


def _check_buffer(buffer_m: float | None, area_given: object) -> None:
    """--buffer is a download setting: checked like every number, refused where nothing is downloaded."""
    if buffer_m is None:
        return
    from .config import check_number

    check_number("--buffer", buffer_m, "buffer_m")
    if not area_given:
        raise ConfigError("--buffer applies only to downloads (--place, --boundary or --bbox); "
                          "an --osm file or --bundle is used as it is")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lifecircle")
def cli() -> None:
    """Community life-circle (社区生活圈) accessibility from OpenStreetMap.

    Which communities reach a canteen, school, clinic, bank, market,
    pharmacy, park and sports venue within a 5-, 10- or 15-minute walk.
    """


def _area_options(f):
    """--place / --boundary / --bbox / --buffer, shared by analyze and fetch."""
    for opt in reversed([
        click.option("--place", help='Place name geocoded by Nominatim, e.g. "西工区, 洛阳市, 河南省".'),
        click.option("--boundary", type=click.Path(dir_okay=False),
                     help="Study-area polygon file (GeoJSON, GeoPackage, Shapefile)."),
        click.option("--bbox", help="Study area as W,S,E,N in degrees (WGS84)."),
        click.option("--buffer", "buffer_m", type=float,
                     help="Metres fetched beyond the area so facilities across its edge count (default: one "
                          "threshold's walk)."),
    ]):
        f = opt(f)
    return f


def _run_options(f):
    """The options that decide a run's numbers, shared by analyze and batch."""
    path = click.Path(dir_okay=False)
    for opt in reversed([
        click.option("--config", "config_file", type=path,
                     help="TOML file overriding categories, distances, minutes, speed."),
        click.option("--level", type=click.Choice(LEVELS), help="Life-circle level (GB 50180-2018). Default 10min."),
        click.option("--category", "categories", multiple=True, help="Analyse only these categories (repeatable)."),
        click.option("--minutes", type=float, help="Judge every category at this many minutes' walk "
                     "(an N-minute city) instead of its GB 50180 tier distance."),
        click.option("--distance", "distance_mode", is_flag=True, help="Judge every category at the level's "
                     "walking distance (300/500/1000 m) instead of its own tier's."),
        click.option("--metres", type=float, help="Judge every category at this walking distance in metres."),
        click.option("--speed", type=float, help="Walking speed in km/h (default 4.5): converts distances to "
                     "minutes, and minutes to distances with --minutes."),
        click.option("--min-share", type=float, help="Share of a community's homes that must be within reach "
                     "for it to count as covered (default 0.5)."),
        click.option("--max-snap", type=float, help="Farthest a point may be from a street to count (m, default 200)."),
        click.option("--isochrones", "iso", help="Isochrone thresholds, e.g. 5,10,15 (default: the run's distances)."),
        click.option("--pois", "pois_file", type=path, help="Your own POIs (CSV with lon/lat, GeoJSON, GeoPackage)."),
        click.option("--pois-crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84", show_default=True,
                     help="Coordinate system of --pois (Amap: gcj02, Baidu: bd09)."),
        click.option("--pois-mode", type=click.Choice(["add", "replace"]), default="add", show_default=True,
                     help="Add to OSM POIs (merging duplicates) or replace them for the categories given."),
    ]):
        f = opt(f)
    return f


def _study_area(place, boundary, bbox):
    """Return the study-area polygon (EPSG:4326) from the area options, or None."""
    given = [x for x in (place, boundary, bbox) if x]
    if len(given) > 1:
        raise click.UsageError("give only one of --place, --boundary, --bbox")
    if not given:
        return None
    from .sources import online

    return online.study_area(place=place, boundary=boundary, bbox=bbox)


_place_options = [
    click.option("--pois-from", type=click.Choice(["amap", "tianditu"]),
                 help="Also take every category's facilities from Amap (高德) or Tianditu (天地图) place search "
                      "over the study area, with your key (answers cached: a rerun costs no quota)."),
    click.option("--key", "place_key", metavar="KEY",
                 help="Key for --pois-from (default: $LIFECIRCLE_AMAP_KEY or $LIFECIRCLE_TIANDITU_KEY, which "
                      "keeps it out of your shell history); never written to any output or log."),
]


def _place_search(o: dict):
    """The place search the options ask for (its key checked now, before any work), or None."""
    if not o.get("pois_from"):
        if o.get("place_key"):
            raise click.UsageError("--key goes with --pois-from amap|tianditu")
        return None
    from .settings import cache_path
    from .sources.places import PlaceSearch, key_for

    return PlaceSearch(o["pois_from"], key_for(o["pois_from"], o["place_key"]), cache=cache_path())


def _input_options(f):
    """Where the data and the communities come from: shared by analyze, scenario and suggest."""
    for opt in reversed([
        click.option("--osm", "osm_file", type=click.Path(dir_okay=False),
                     help="OSM extract (.osm.pbf, .osm, .osm.bz2). Default: the bundled central-Helsinki extract."),
        click.option("--bundle", type=click.Path(file_okay=False),
                     help="Folder saved by `lifecircle fetch` (offline)."),
        _area_options,
        click.option("--communities", type=click.Path(dir_okay=False),
                     help="Community polygons (GeoJSON, GeoPackage, Shapefile) with a name column."),
        click.option("--name-column", help="Column of --communities holding the names (default: detected)."),
        click.option("--communities-crs", type=click.Choice(["wgs84", "gcj02", "bd09"]),
                     help="Coordinate system of --communities (Amap AOIs: gcj02, Baidu: bd09); default wgs84."),
        click.option("--encoding", help="Text encoding of --communities and --pois shapefiles (.dbf) and CSVs, "
                     "e.g. gbk (default: UTF-8, else GB18030 with a warning)."),
        *_place_options,
        click.option("--population", "population_file", type=click.Path(dir_okay=False),
                     help="Population grid: a GeoTIFF of people per cell, or cells (GeoPackage, GeoJSON) with a "
                          "population column; shared out over the homes by floor area."),
        click.option("--population-column", help="Column of --communities with each community's residents "
                     "(default: detected, e.g. population, 人口, 常住人口)."),
        click.option("--population-date", help="Date of the population data, for the outputs (e.g. 2020)."),
        click.option("--population-licence", help="Licence of the population data, for the outputs "
                     "(e.g. \"CC BY 4.0\")."),
        click.option("--subdistricts", "subdistricts_file", type=click.Path(dir_okay=False),
                     help="Sub-district (街道) polygons with a name: indicators per sub-district."),
        click.option("--review", "review_file", type=click.Path(dir_okay=False),
                     help="The planner's review: facilities.csv or coverage.xlsx of an earlier run with the "
                          "decision column marked (keep, drop, move, public, not_public)."),
        _run_options,
    ]):
        f = opt(f)
    return f


def _output_options(f=None, *, out: str = "out"):
    """--out, --lang and --quiet, shared by the commands that write a folder."""
    if f is None:
        return lambda g: _output_options(g, out=out)
    for opt in reversed([
        click.option("--out", "out_dir", type=click.Path(file_okay=False), default=out, show_default=True,
                     help="Output folder."),
        click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True,
                     help="Language of the map, report, workbook and terminal."),
        click.option("-q", "--quiet", is_flag=True, help="No progress messages."),
    ]):
        f = opt(f)
    return f


#: the parameters of :func:`_run_options`, in :func:`_run_config`'s order
RUN_KEYS = ("config_file", "level", "categories", "minutes", "distance_mode", "metres", "speed", "max_snap",
            "min_share", "iso")


def _run_config(config_file, level, categories, minutes, distance_mode, metres, speed, max_snap, min_share, iso):
    """The Config and isochrone limits that :func:`_run_options` ask for, every number checked."""
    from .config import load_config

    config = load_config(
        config_file, level=level, categories=list(categories) or None, minutes=minutes,
        distance_m=metres, mode="distance" if (distance_mode or metres is not None) else None,
        speed_kmh=speed, max_snap_m=max_snap, min_share=min_share,
    )
    return config, config.check_isochrones(_floats(iso))


def _check_inputs(o: dict) -> None:
    """Usage errors among the input options, found before any work."""
    from .sources.textenc import check_encoding

    _check_buffer(o["buffer_m"], o["place"] or o["boundary"] or o["bbox"])
    check_encoding(o["encoding"])
    if o["communities_crs"] and not o["communities"]:
        raise click.UsageError("--communities-crs applies to a --communities file")
    if o["population_column"] and not o["communities"]:
        raise click.UsageError("--population-column applies to a --communities file")
    if o["encoding"] and not (o["communities"] or o["pois_file"]):
        raise click.UsageError("--encoding applies to --communities and --pois files")
    if sum(bool(x) for x in (o["osm_file"], o["bundle"], o["place"] or o["boundary"] or o["bbox"])) > 1:
        raise click.UsageError("give only one data source: --osm, --bundle, or an area (--place/--boundary/--bbox)")


def _source(o: dict, config, say):
    """The OSM source and the study area (EPSG:4326 or None) that the input options name."""
    from .i18n import Message

    area = _study_area(o["place"], o["boundary"], o["bbox"])
    if o["bundle"]:
        from .sources import online

        return online.load_bundle(o["bundle"]), online.bundle_area(o["bundle"])  # the fetched area, not its buffer
    if area is not None:
        from .sources import online

        say(Message("progress_download"))
        buffer_m = o["buffer_m"] if o["buffer_m"] is not None else config.threshold_m
        return online.fetch(area, buffer_m=buffer_m, keys=config.tag_keys), area
    return o["osm_file"], None


def _read_ahead(o: dict, config, say):
    """An OSM file (or the bundled one) read in a forked process while this one
    loads the libraries of the analysis (half a second of every run); None
    when the input options name another source."""
    if o["bundle"] or o["place"] or o["boundary"] or o["bbox"]:
        return None
    from .fileio import Forked
    from .i18n import Message

    say(Message("progress_read"))
    return Forked(lambda: _scan(o["osm_file"], config.tag_keys, say), "reading the OSM file")


def _scan(path, keys, say):
    """The scan of an OSM file, and the file: what the read-ahead process sends back."""
    from .sources.osmfile import osm_path, scan_osm  # the reader alone: pandas, scipy are the other process's

    path = osm_path(path)
    return scan_osm(path, keys, say), path


def _load_analysis(o: dict, config, iso_limits, lang: str, say):
    """The analysis of the input options ``o`` (a command's parameters), as ``analyze`` runs it."""
    places = _place_search(o)
    ahead = _read_ahead(o, config, say)
    with ahead or contextlib.nullcontext():  # a failure here stops the reading
        from . import pipeline
        from .communities import read_communities

        user_pois = None
        if o["pois_file"]:
            from .sources.userpois import read_user_pois

            # an unstated --pois-crs lets the reader warn about Amap/Baidu exports read as WGS-84
            stated = click.get_current_context().get_parameter_source("pois_crs") != ParameterSource.DEFAULT
            user_pois = read_user_pois(o["pois_file"], config, crs=o["pois_crs"] if stated else None,
                                       encoding=o["encoding"])
        if ahead and ahead.forked:  # while the file is read elsewhere
            from .outputs.files import preload

            preload()
        if ahead:
            from .sources.osmfile import from_scan

            source, area = from_scan(*ahead.result()), None
        else:
            source, area = _source(o, config, say)
    comms = o["communities"]
    if comms and o["name_column"]:
        comms = read_communities(comms, "EPSG:4326", name_column=o["name_column"],
                                 coordinate_system=o["communities_crs"], encoding=o["encoding"],
                                 population_column=o["population_column"])
    return pipeline.analyze(
        source, communities=comms, config=config, pois=user_pois, pois_mode=o["pois_mode"], places=places, area=area,
        isochrone_limits=iso_limits, lang=lang, progress=say, communities_crs=o["communities_crs"],
        encoding=o["encoding"], review=o["review_file"], population=o["population_file"],
        population_column=None if (o["communities"] and o["name_column"]) else o["population_column"],
        population_info={"date": o["population_date"], "licence": o["population_licence"]},
        subdistricts=o["subdistricts_file"],
    )


def _warn(warnings, lang: str) -> None:
    from .i18n import Message

    for w in warnings:
        click.echo(Message("term_warning", text=w).text(lang), err=True)


def _written(out_dir, written, lang: str) -> None:
    from .i18n import Message

    click.echo(Message("term_outputs", folder=out_dir, files=", ".join(p.name for p in written.values())).text(lang))


@cli.command()
@_input_options
@_output_options
@click.option("--tiles", default="osm", show_default=True,
              help="Map background: osm, none (the data's streets only), or a WGS-84 tile URL template with "
                   "{z}/{x}/{y} (e.g. Tianditu with your key). GCJ-02 services (Amap, Baidu) are refused.")
@click.option("--tiles-attribution", help="Credit shown for a --tiles URL (default: its host name).")
@click.option("--export-graph", "graph_file", type=click.Path(dir_okay=False),
              help="Also write the projected walk network: .graphml (osmnx GraphML) or .gpkg (GeoPackage).")
@click.option("-v", "--verbose", is_flag=True, help="At the end, print the seconds each step took.")
def analyze(out_dir, lang, quiet, tiles, tiles_attribution, graph_file, verbose, **options):
    """Walking access from every community to every daily facility.

    By default each category is judged at its GB 50180-2018 tier's walking
    distance (5-minute facilities at 300 m, 10-minute at 500 m, 15-minute at
    1000 m). Writes coverage.csv, coverage.xlsx, basis.csv, left_out.csv, lifecircle.gpkg,
    map.html, report.html and charts to --out.
    """
    from .fileio import output_folder
    from .i18n import Message
    from .outputs.tiles import check_tiles

    steps: list[tuple[str, float]] | None = [] if verbose else None
    say = _progress(quiet, lang, steps)
    # every option is checked before any work, and all numbers in one place
    # (config.check_number): a bad value costs a second, not a whole analysis
    config, iso_limits = _run_config(*(options[k] for k in RUN_KEYS))
    _check_inputs(options)
    check_tiles(tiles, tiles_attribution)
    if graph_file:
        from .core.network import check_graph_path

        # its folder is checked and locked now, as --out is, not after the analysis
        click.get_current_context().with_resource(output_folder(check_graph_path(graph_file).parent))
    # --out is checked and locked before the work, and released when the command ends
    click.get_current_context().with_resource(output_folder(out_dir))
    analysis = _load_analysis(options, config, iso_limits, lang, say)
    _warn(analysis.warnings, lang)
    written = analysis.save(out_dir, lang=lang, tiles=tiles, tiles_attribution=tiles_attribution, progress=say)
    click.echo(summary_text(analysis, lang))
    _written(out_dir, written, lang)
    if graph_file:
        say(Message("progress_graph", file=graph_file))
        click.echo(Message("term_graph", file=analysis.save_graph(graph_file)).text(lang))
    if steps:
        click.echo(_step_times(steps, time.perf_counter() - say.start, lang), err=True)


def _circle(cfg, lang: str) -> str:
    """What a complete community has: "10min life circle" / "10分钟生活圈", or the uniform walk.

    The level names the standard's circle only when the standard's distances
    are used: "--minutes 5" judged everything at one 5-minute walk.
    """
    from .i18n import level_title, t

    if cfg.mode == "time":
        return t("term_circle_time", lang, minutes=cfg.minutes)
    if cfg.mode == "distance":
        return t("term_circle_distance", lang, metres=cfg.distance_m)
    return t("term_circle_standard", lang, level=cfg.level, title=level_title(cfg, lang))


def summary_text(analysis, lang: str = "en") -> str:
    """The terminal summary in ``lang``: the result, then the basis it was judged on, per category."""
    from .i18n import basis_short, population_text, review_text, t, tier_text

    cov, cfg = analysis.communities, analysis.config
    n = len(cov)
    partial = int(cov["partial"].sum()) if "partial" in cov else 0
    source = str(analysis.source) + (f", {analysis.data_date}" if analysis.data_date else "")
    no_data = analysis.no_data
    circle = _circle(cfg, lang)
    if no_data:  # "complete" counts the judged categories: say which were not
        circle += t("term_not_judged", lang, keys=", ".join(no_data),
                    labels=t("list_sep", lang).join(cfg.category(k).label(lang) for k in no_data))
    lines = [
        t("term_summary", lang, n=n, partial=t("term_partial", lang, n=partial) if partial else "",
          complete=int(cov["complete"].sum()), circle=circle, basis=basis_short(cfg, lang),
          share=cfg.min_share, left=len(analysis.left_out)),
        t("term_data", lang, source=source),
    ]
    for c in cfg.categories:
        tier = ""
        if cfg.mode == "standard":
            tier = t("term_tier", lang, tier=tier_text(cfg, c.key, lang) if lang == "zh" else c.tier)
        key = "term_no_data" if c.key in no_data else "term_category"
        lines.append(t(key, lang, category=c.key, label=c.label(lang), limit=cfg.limit_m(c.key),
                       tier=tier, covered=int(cov[f"covered_{c.key}"].fillna(False).astype(bool).sum()), n=n))
    lines.append(review_text(analysis.review, lang))
    colon = ": " if lang == "en" else "："
    lines.append(t("population", lang) + colon + population_text(analysis.population, lang))
    lines.append(t("facility_sources", lang) + colon + analysis.sources_text(lang))
    return "\n".join(lines)


@cli.command()
@_area_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Bundle folder to write.")
@click.option("--level", type=click.Choice(LEVELS), help="Level whose walking distance sets the default buffer.")
@_place_options[0]
@_place_options[1]
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def fetch(place, boundary, bbox, buffer_m, out_dir, level, pois_from, place_key, quiet):
    """Download an area's walk network and facilities for offline use.

    The bundle folder is then used with `lifecircle analyze --bundle DIR`. With --pois-from,
    the place search's facilities are saved in it too.
    """
    from .config import load_config
    from .fileio import output_folder

    if not (place or boundary or bbox):
        raise click.UsageError("give one of --place, --boundary, --bbox")
    _check_buffer(buffer_m, True)
    places = _place_search({"pois_from": pois_from, "place_key": place_key})
    # a bundle folder that cannot be written fails before the download, not after
    click.get_current_context().with_resource(output_folder(out_dir))
    from .sources import online

    area = _study_area(place, boundary, bbox)
    say = _progress(quiet)
    buffer = buffer_m if buffer_m is not None else load_config(level=level).threshold_m
    say("downloading walk network and facilities (Overpass)")
    data = online.fetch(area, buffer_m=buffer)
    if places is not None:
        data.places.append(places.run(area, load_config(level=level).keys, progress=say))
    path = online.save_bundle(data, out_dir, area=area)
    found = "".join(f", {len(p):,} {p.attrs['source']} places" for p in data.places)
    click.echo(f"saved {data.graph.number_of_nodes():,} nodes, {len(data.features):,} features{found} to {path}")


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file with overrides.")
@click.option("--level", type=click.Choice(LEVELS), help="Show the categories of this level only.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True)
def categories(config_file, level, lang):
    """List the facility categories and their OSM tag filters."""
    from .config import load_config
    from .i18n import basis_short, level_title, t, tier_text

    config = load_config(config_file, level=level)
    click.echo(t("term_categories_head", lang, level=config.level, title=level_title(config, lang),
                 basis=basis_short(config, lang)))
    for c in config.categories:
        tier = tier_text(config, c.key, lang) if lang == "zh" else c.tier
        click.echo(t("term_categories_row", lang, category=c.key, label=c.label(lang), limit=config.limit_m(c.key),
                     tier=tier, clause=c.clause))
        click.echo(f"  {'':<13} {c.describe()}")


@cli.command()
@click.option("--osm", "osm_file", type=click.Path(dir_okay=False), required=True,
              help="The region's OSM file (.osm.pbf, .osm, .osm.bz2).")
@click.option("--areas", "areas_file", type=click.Path(dir_okay=False), required=True,
              help="Area polygons, one analysis each (GeoPackage, GeoJSON, Shapefile): districts, street offices.")
@click.option("--name-column", help="Column of --areas holding the names (default: detected).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="batch-out", show_default=True,
              help="Output folder: areas/<area>/ each, coverage.parquet, areas.csv, index.html.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes of the local Dask cluster (default: CPU count).")
@click.option("--memory-limit", default="auto", show_default=True,
              help='Memory limit per local worker, e.g. "4GB" ("auto": the machine\'s memory shared out).')
@click.option("--scheduler",
              help="Address of a running Dask scheduler (tcp://host:8786) instead of a local cluster; "
                   "its workers must see --out and the inputs at the same paths.")
@click.option("--buffer", "buffer_m", type=float,
              help="Metres around each area in its extract (default: the largest walking distance judged).")
@click.option("--force", is_flag=True, help="Redo every area, even those unchanged since a successful run.")
@click.option("--keep-extracts", is_flag=True, help="Keep each area's extract in OUT/.batch/extracts/.")
@click.option("--communities", type=click.Path(dir_okay=False),
              help="Community polygons (GeoJSON, GeoPackage, Shapefile) with a name column.")
@click.option("--communities-name-column", help="Column of --communities holding the names (default: detected).")
@click.option("--communities-crs", type=click.Choice(["wgs84", "gcj02", "bd09"]),
              help="Coordinate system of --communities (Amap AOIs: gcj02, Baidu: bd09); default wgs84.")
@click.option("--encoding", help="Text encoding of --communities and --pois shapefiles (.dbf) and CSVs, e.g. gbk "
              "(default: UTF-8, else GB18030 with a warning).")
@_run_options
@click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True,
              help="Language of the maps and reports.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def batch(osm_file, areas_file, name_column, out_dir, workers, memory_limit, scheduler, buffer_m, force, keep_extracts,
          communities, communities_name_column, config_file, level, categories, minutes, distance_mode, metres, speed,
          min_share, max_snap, iso, pois_file, pois_crs, pois_mode, lang, quiet, communities_crs=None, encoding=None):
    """Analyse every area of a region (districts, street offices) on Dask.

    Splits --osm once into one extract per area of --areas (with a buffer;
    osmium extract), runs `analyze` for each area on a Dask cluster and
    writes each area's outputs to OUT/areas/<area>/, plus coverage.parquet,
    areas.csv and index.html. A rerun skips areas whose inputs and options
    are unchanged. Exit status 1 when some areas failed (see areas.csv).
    """
    from .config import check_number

    say = _progress(quiet, lang)
    config, iso_limits = _run_config(config_file, level, categories, minutes, distance_mode, metres, speed,
                                     max_snap, min_share, iso)
    if buffer_m is not None:
        check_number("--buffer", buffer_m, "buffer_m")
    if scheduler and workers:
        raise click.UsageError("give --workers or --scheduler, not both")
    limit = None if memory_limit.strip().lower() in ("none", "0") else memory_limit

    from .batch import batch as run_batch

    result = run_batch(
        osm_file, areas_file, out_dir, name_column=name_column, communities=communities,
        communities_name_column=communities_name_column, config=config, pois=pois_file, pois_crs=pois_crs,
        pois_mode=pois_mode, isochrone_limits=iso_limits if iso else None, lang=lang, buffer_m=buffer_m,
        workers=workers, memory_limit=limit, scheduler=scheduler, force=force, keep_extracts=keep_extracts,
        progress=say, communities_crs=communities_crs, encoding=encoding,
    )
    failed = result.failed
    click.echo(f"{len(result.areas) - len(failed)} of {len(result.areas)} areas ok, "
               f"{int(result.areas['reused'].sum())} reused; {len(result.coverage)} communities")
    for name, err in zip(result.areas["area"], result.areas["error"]):
        if err:
            click.echo(f"  failed: {name}: {err}", err=True)
    click.echo(f"outputs in {out_dir}/: coverage.parquet, areas.csv, index.html, areas/<area>/")
    return 1 if failed else 0


@cli.command()
@click.argument("scenario_file", metavar="SCENARIO", type=click.Path(dir_okay=False))
@_input_options
@_output_options(out="scenario-out")
def scenario(scenario_file, out_dir, lang, quiet, **options):
    """What a scenario changes: new facilities, removed ones, new walkways, closed streets.

    SCENARIO is a GeoJSON or GeoPackage file, one feature per change (see
    the README). Takes the inputs and options of `analyze`; writes the
    outputs of the state after the changes, plus scenario.csv (before and
    after per community and category) and scenario.html (comparison map).
    """
    from .fileio import output_folder
    from .i18n import Message
    from .planning.scenario import read_scenario

    say = _progress(quiet, lang)
    config, iso_limits = _run_config(*(options[k] for k in RUN_KEYS))
    _check_inputs(options)
    read_scenario(scenario_file, "EPSG:4326", config)  # a bad file fails before the analysis
    click.get_current_context().with_resource(output_folder(out_dir))
    before = _load_analysis(options, config, iso_limits, lang, say)
    result = before.what_if(scenario_file, progress=say)
    _warn(result.after.warnings, lang)
    say(Message("progress_write", folder=out_dir))
    written = result.save(out_dir, lang=lang)
    click.echo(summary_text(result.after, lang))
    click.echo(Message("term_scenario", summary=result.summary(lang)).text(lang))
    _written(out_dir, written, lang)


def _suggest_config(options: dict, count: int):
    """The run's Config for ``suggest``: the level's categories (so that "complete" means what it means
    in ``analyze``), plus the one ``--category`` when the level lacks it; category and count checked first."""
    from .planning.suggest import check_request

    category = options["categories"]
    if len(category) != 1:
        raise click.UsageError("give one --category to suggest sites for, e.g. --category canteen")
    run = {**{k: options[k] for k in RUN_KEYS}, "categories": ()}
    config, iso_limits = _run_config(**run)
    if category[0] not in config.keys:
        config, iso_limits = _run_config(**{**run, "categories": (*config.keys, category[0])})
    # the level's other categories are there for "complete", not asked for: one of them
    # without facilities is a warning, as in analyze; the one asked for must have some
    config = replace(config, explicit=frozenset(category))
    check_request(config, category[0], count)
    return config, iso_limits


@cli.command()
@_input_options
@_output_options
@click.option("--count", type=int, default=3, show_default=True, help="Most new sites to suggest.")
@click.option("--candidates", "candidates_file", type=click.Path(dir_okay=False),
              help="Candidate sites (points or polygons: vacant lots, plots; GeoJSON, GeoPackage, Shapefile, "
                   "or CSV with lon/lat). Default: points along the streets near uncovered homes.")
@click.option("--time-limit", type=float, help="Seconds the exact solver may take before the greedy choice "
              "is used (default 60).")
def suggest(out_dir, lang, quiet, count, candidates_file, time_limit, **options):
    """Where to build next: up to --count sites for one --category that bring the most residents
    within its walking distance (existing facilities kept).

    Same inputs and options as `analyze`. Writes suggest.csv, suggest.gpkg, suggest.html and
    suggested_scenario.geojson (for `lifecircle scenario`) to --out.
    """
    from .fileio import output_folder
    from .i18n import t

    say = _progress(quiet, lang)
    config, iso_limits = _suggest_config(options, count)
    _check_inputs(options)
    if time_limit is not None and not (time_limit > 0):
        raise ConfigError(f"--time-limit must be a positive number of seconds, got {time_limit:g}")
    if candidates_file:
        from .planning.suggest import read_candidates

        read_candidates(candidates_file, "EPSG:4326")  # a bad file fails now, not after the analysis
    click.get_current_context().with_resource(output_folder(out_dir))
    analysis = _load_analysis(options, config, iso_limits, lang, say)
    _warn(analysis.warnings, lang)
    category = options["categories"][0]
    say(t("progress_suggest", lang, count=count, label=config.category(category).label(lang)))
    result = analysis.suggest(category, count, candidates_file, time_limit=time_limit)
    _warn(result.warnings, lang)
    written = result.save(out_dir, lang=lang)
    click.echo(result.summary(lang))
    click.echo(f"  {result.method_text(lang)}")
    for row in result.sites.itertuples(index=False):
        click.echo("  " + t("suggest_site_line", lang, site=row.site_id, residents=f"{row.residents_gained:,.0f}",
                            lat=f"{row.lat:.6f}", lon=f"{row.lon:.6f}"))
    _written(out_dir, written, lang)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so that staging folders and locks are cleaned up."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def run(args: list[str] | None = None) -> int:
    """Run the command line ``args`` (default ``sys.argv[1:]``) in this process; return the exit status.

    Every user error is one line on stderr, ``Error: ...``, with status 2
    (click's usage errors keep their status); an interrupt is "Aborted."
    with 130 (143 for SIGTERM). Anything else that escapes is a bug.
    """
    try:
        # a command's exit status (batch: 1 when some areas failed) comes back as its return value
        status = cli.main(args, prog_name="lifecircle", standalone_mode=False)
    except click.exceptions.Abort as e:
        click.echo("Aborted.", err=True)
        return 143 if isinstance(e.__cause__, Terminated) else 130
    except click.ClickException as e:
        hint = ""
        if isinstance(e, click.UsageError) and e.ctx is not None:
            hint = f" (see '{e.ctx.command_path} --help')"
        click.echo(f"Error: {e.format_message()}{hint}", err=True)
        return e.exit_code
    except LifecircleError as e:
        click.echo(_error_line(e, sys.argv[1:] if args is None else args), err=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt as e:  # outside a command: while parsing or importing
        click.echo("Aborted.", err=True)
        return 143 if isinstance(e, Terminated) else 130
    except Exception as e:
        # an interrupt inside a C extension's import comes back as another
        # error ("ImportError: initialization failed" from pybind11 modules)
        interrupt = _interrupt_behind(e)
        if interrupt is None:
            raise
        click.echo("Aborted.", err=True)
        return 143 if isinstance(interrupt, Terminated) else 130
    return status if isinstance(status, int) else 0


def _lang_asked(args: list[str]) -> str:
    """The --lang a command line asks for ("en" when none or an unknown one)."""
    from .i18n import LANGS

    lang = "en"
    for arg, following in zip(args, [*args[1:], ""]):
        value = arg.removeprefix("--lang=") if arg.startswith("--lang=") else following if arg == "--lang" else ""
        if value in LANGS:
            lang = value
    return lang


def _error_line(exc: LifecircleError, args: list[str]) -> str:
    """ "Error: ..." in English, or "错误：..." when the command line asked for --lang zh
    (the message itself in Chinese where it was raised as an i18n Message)."""
    from .i18n import Message, localize

    lang = _lang_asked(args)
    text = localize(exc.args[0], lang) if len(exc.args) == 1 and isinstance(exc.args[0], Message) else str(exc)
    return Message("term_error", text=text).text(lang)


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt that ``exc`` was raised while handling, if any."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _redeliver_interrupts(hook_args) -> None:
    """``sys.unraisablehook``: an interrupt that hit a callback Python ignores is raised again.

    Ctrl-C landing in importlib's module-lock cleanup (a weakref callback)
    would otherwise print "Exception ignored ..." and let the run go on.
    """
    if isinstance(hook_args.exc_value, KeyboardInterrupt):
        import _thread

        from .fileio import note_interrupt

        try:
            _thread.interrupt_main(signal.SIGTERM if isinstance(hook_args.exc_value, Terminated) else signal.SIGINT)
        except KeyboardInterrupt as again:
            # the handler ran at once, inside this hook, where raising is ignored
            # again: the staging folder raises it before it commits (fileio.staging_dir)
            note_interrupt(again)
        return
    sys.__unraisablehook__(hook_args)


def main() -> None:
    """Entry point in the calling process: one line per user error, exit status 2
    (``SystemExit``; the ``lifecircle`` command itself runs :func:`console`)."""
    # SIGTERM (kill, systemd, a CI timeout) cleans up as Ctrl-C does
    signal.signal(signal.SIGTERM, _terminate)
    sys.unraisablehook = _redeliver_interrupts
    status = run()
    if status in (130, 143):
        # CPython 3.11 remembers an interrupt that passed through eval() (as
        # namedtuple's does while modules import) and, handled or not, kills
        # the process with SIGINT at exit: leave at once, cleanup being done
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def console() -> None:
    """The ``lifecircle`` command: :func:`main` in a process of its own.

    The process is ours, so the documents are written alongside the map in a
    forked process (:data:`lifecircle.settings.parallel_outputs`), and it
    leaves without the interpreter's teardown of a city's arrays and modules
    (a third of a second): every file is closed, every lock released and every
    worker stopped by then.
    """
    from . import settings

    settings.parallel_outputs = True
    try:
        main()
    except SystemExit as e:
        _leave(e.code if isinstance(e.code, int) else 0 if e.code is None else 1)


if __name__ == "__main__":
    console()

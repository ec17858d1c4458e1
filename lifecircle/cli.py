"""The ``lifecircle`` command: a thin click layer over the library.

Every command calls a public library function; user mistakes surface as
:class:`~lifecircle.errors.LifecircleError` and are printed as one line.
"""

from __future__ import annotations

import sys
import time

import click

from .errors import LifecircleError

LEVELS = ("5min", "10min", "15min")


def _progress(quiet: bool):
    start = time.perf_counter()

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"[{time.perf_counter() - start:6.1f}s] {msg}", err=True)

    return say


def _floats(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"expected numbers separated by commas, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter(f"expected positive numbers, got {text!r}")
    return values


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
        click.option("--boundary", type=click.Path(dir_okay=False), help="Study-area polygon file (GeoJSON, GeoPackage, Shapefile)."),
        click.option("--bbox", help="Study area as W,S,E,N in degrees (WGS84)."),
        click.option("--buffer", "buffer_m", type=float, help="Metres fetched beyond the area so facilities across its edge count (default: one threshold's walk)."),
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


@cli.command()
@click.option("--osm", "osm_file", type=click.Path(dir_okay=False), help="OSM extract (.osm.pbf, .osm, .osm.bz2). Default: the bundled central-Helsinki extract.")
@click.option("--bundle", type=click.Path(file_okay=False), help="Folder saved by `lifecircle fetch` (offline).")
@_area_options
@click.option("--communities", type=click.Path(dir_okay=False), help="Community polygons (GeoJSON, GeoPackage, Shapefile) with a name column.")
@click.option("--name-column", help="Column of --communities holding the names (default: detected).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file overriding categories, minutes, speed, distances.")
@click.option("--level", type=click.Choice(LEVELS), help="Life-circle level (GB 50180-2018). Default 10min.")
@click.option("--category", "categories", multiple=True, help="Analyse only these categories (repeatable).")
@click.option("--minutes", type=float, help="Judge every category at this many minutes' walk (an N-minute city) instead of its GB 50180 tier distance.")
@click.option("--distance", "distance_mode", is_flag=True, help="Judge every category at the level's walking distance (300/500/1000 m) instead of its own tier's.")
@click.option("--metres", type=float, help="Judge every category at this walking distance in metres.")
@click.option("--speed", type=float, help="Walking speed in km/h (default 4.5): converts distances to minutes, and minutes to distances with --minutes.")
@click.option("--min-share", type=float, help="Share of a community's homes that must be within reach for it to count as covered (default 0.5).")
@click.option("--max-snap", type=float, help="Farthest a point may be from a street to count (m, default 200).")
@click.option("--isochrones", "iso", help="Isochrone thresholds, e.g. 5,10,15 (default: the threshold).")
@click.option("--pois", "pois_file", type=click.Path(dir_okay=False), help="Your own POIs (CSV with lon/lat, GeoJSON, GeoPackage).")
@click.option("--pois-crs", type=click.Choice(["wgs84", "gcj02", "bd09"]), default="wgs84", show_default=True, help="Coordinate system of --pois (Amap: gcj02, Baidu: bd09).")
@click.option("--pois-mode", type=click.Choice(["add", "replace"]), default="add", show_default=True, help="Add to OSM POIs (merging duplicates) or replace them for the categories given.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out", show_default=True, help="Output folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True, help="Language of the map and report.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def analyze(osm_file, bundle, place, boundary, bbox, buffer_m, communities, name_column, config_file, level, categories, minutes, distance_mode,
            metres, speed, min_share, max_snap, iso, pois_file, pois_crs, pois_mode, out_dir, lang, quiet):
    """Walking access from every community to every daily facility.

    By default each category is judged at its GB 50180-2018 tier's walking
    distance (5-minute facilities at 300 m, 10-minute at 500 m, 15-minute at
    1000 m). Writes coverage.csv, basis.csv, left_out.csv, lifecircle.gpkg,
    map.html, report.html and charts to --out.
    """
    from . import pipeline
    from .communities import read_communities
    from .config import load_config

    say = _progress(quiet)
    config = load_config(
        config_file, level=level, categories=list(categories) or None, minutes=minutes,
        distance_m=metres, mode="distance" if (distance_mode or metres) else None,
        speed_kmh=speed, max_snap_m=max_snap, min_share=min_share,
    )
    user_pois = None
    if pois_file:
        from .sources.userpois import read_user_pois

        user_pois = read_user_pois(pois_file, config, crs=pois_crs)
    if sum(bool(x) for x in (osm_file, bundle, place or boundary or bbox)) > 1:
        raise click.UsageError("give only one data source: --osm, --bundle, or an area (--place/--boundary/--bbox)")
    area = _study_area(place, boundary, bbox)
    source = osm_file
    if bundle:
        from .sources import online

        source = online.load_bundle(bundle)
        area = online.bundle_area(bundle)  # report on the fetched area, not its buffer
    elif area is not None:
        from .sources import online

        say("downloading walk network and facilities (Overpass)")
        source = online.fetch(area, buffer_m=buffer_m if buffer_m is not None else config.threshold_m)
    comms = communities
    if communities and name_column:
        comms = read_communities(communities, "EPSG:4326", name_column=name_column)
    analysis = pipeline.analyze(
        source, communities=comms, config=config, pois=user_pois, pois_mode=pois_mode, area=area,
        isochrone_limits=_floats(iso), lang=lang, progress=say,
    )
    for w in analysis.warnings:
        click.echo(f"Warning: {w}", err=True)
    say(f"writing outputs to {out_dir}")
    written = analysis.save(out_dir, lang=lang)
    click.echo(summary_text(analysis))
    click.echo(f"outputs in {out_dir}/: " + ", ".join(p.name for p in written.values()))


def summary_text(analysis) -> str:
    """The terminal summary: the result, then the basis it was judged on, per category."""
    from .analysis import basis_name

    cov, cfg = analysis.communities, analysis.config
    n = len(cov)
    partial = int(cov["partial"].sum()) if "partial" in cov else 0
    left = len(analysis.left_out)
    lines = [
        f"{n} communities{f' ({partial} partial)' if partial else ''}, {int(cov['complete'].sum())} with a "
        f"complete {cfg.level} life circle; basis: {basis_name(cfg)}, covered when >= "
        f"{cfg.min_share:.0%} of homes are within reach; {left} left out (left_out.csv)",
        f"data: {analysis.source}" + (f", {analysis.data_date}" if analysis.data_date else ""),
    ]
    for c in cfg.categories:
        limit = cfg.limit_m(c.key)
        tier = f" ({c.tier} tier)" if cfg.mode == "standard" else ""
        lines.append(f"  {c.key:<13} {limit:>6g} m{tier}: {int(cov[f'covered_{c.key}'].sum())}/{n} covered")
    return "\n".join(lines)


@cli.command()
@_area_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Bundle folder to write.")
@click.option("--level", type=click.Choice(LEVELS), help="Level whose walking distance sets the default buffer.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def fetch(place, boundary, bbox, buffer_m, out_dir, level, quiet):
    """Download an area's walk network and facilities for offline use.

    The bundle folder is then used with `lifecircle analyze --bundle DIR`.
    """
    from .config import load_config
    from .sources import online

    area = _study_area(place, boundary, bbox)
    if area is None:
        raise click.UsageError("give one of --place, --boundary, --bbox")
    say = _progress(quiet)
    buffer = buffer_m if buffer_m is not None else load_config(level=level).threshold_m
    say("downloading walk network and facilities (Overpass)")
    data = online.fetch(area, buffer_m=buffer)
    path = online.save_bundle(data, out_dir, area=area)
    click.echo(f"saved {data.graph.number_of_nodes():,} nodes, {len(data.features):,} features to {path}")


@cli.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML file with overrides.")
@click.option("--level", type=click.Choice(LEVELS), help="Show the categories of this level only.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="en", show_default=True)
def categories(config_file, level, lang):
    """List the facility categories and their OSM tag filters."""
    from .config import load_config

    from .analysis import basis_name

    config = load_config(config_file, level=level)
    click.echo(f"level {config.level}, basis: {basis_name(config)}")
    for c in config.categories:
        click.echo(f"  {c.key:<13} {c.label(lang)}: {config.limit_m(c.key):g} m ({c.tier} tier; {c.clause})")
        click.echo(f"  {'':<13} {c.describe()}")


def main() -> None:
    """Console entry point: one line per user error, exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except LifecircleError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()

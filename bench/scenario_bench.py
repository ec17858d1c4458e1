"""What a what-if costs next to the analysis it starts from (issue 12).

    python bench/scenario_bench.py                 # 250,000-node grid (a few minutes on 2 cores)
    python bench/scenario_bench.py --nodes 20000   # smoke run

The city is bench/region.py's: bench/grid.py's street grid (``--nodes``
street nodes) with facilities of the eight 10-minute categories and
residential compounds with apartment buildings, written as an .osm.pbf. One
process then times

1. ``read_osm`` of that file (the part of a full run that reads the data),
2. ``analyze`` of what was read (network index, snapping, scoring, gaps,
   isochrones, routes),
3. ``Analysis.what_if`` of a scenario near the city's centre: a new canteen,
   a removed pharmacy, a 1,700 m walkway across blocks and a closed street,
4. the scenario's comparison table (``ScenarioResult.table``),

and prints a markdown table; with ``--output`` (default bench/RESULTS.md) it
replaces the section between the ``scenario-bench`` markers there. Nothing
here is a test; the machine may be shared, so read ratios loosely.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from region import make_region  # noqa: E402

import lifecircle  # noqa: E402
from lifecircle.sources.osmfile import read_osm  # noqa: E402

START, END = "<!-- scenario-bench -->", "<!-- /scenario-bench -->"


def _timed(fn):
    """``fn()``, its wall-clock seconds and this process's CPU seconds (the machine may be shared)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, (time.perf_counter() - t, time.process_time() - c)


def _scenario(a: lifecircle.Analysis) -> gpd.GeoDataFrame:
    """Four changes around the communities' middle (analysis CRS)."""
    net = a.study.net
    comms = a.communities
    mid = np.median(comms.geometry.representative_point().get_coordinates().values, axis=0)
    near = int(np.argmin(np.hypot(*(comms.geometry.representative_point().get_coordinates().values - mid).T)))
    centre = comms.geometry.representative_point().iloc[near]
    pharmacy = a.pois[a.pois["category"] == "pharmacy"]
    gone = pharmacy["poi_id"].iloc[int(np.argmin(pharmacy.distance(centre).values))]
    # a 1,700 m walkway: a gentle zig-zag eastwards from the centre's street, across blocks
    start = np.array(shapely.get_coordinates(centre)[0])
    xs = start[0] + np.linspace(0, 1500, 9)
    ys = start[1] + np.array([0, 60, -60, 60, -60, 60, -60, 60, 0]) * 1.0
    walk = shapely.LineString(np.column_stack([xs, ys]))
    # a closed street: the one nearest a point 400 m north of the centre
    k = int(net.tree.query_nearest(shapely.Point(start + [0, 400]))[0])
    rows = [
        ("add_facility", "canteen", "new canteen", "", centre),
        ("remove_facility", "", "", gone, None),
        ("add_walkway", "", "riverside walkway", "", walk),
        ("close_street", "", "", "", net.geoms[k]),
    ]
    return gpd.GeoDataFrame({"change": [r[0] for r in rows], "category": [r[1] for r in rows],
                             "name": [r[2] for r in rows], "facility_id": [r[3] for r in rows]},
                            geometry=[r[4] for r in rows], crs=a.crs)


def run(nodes: int, compounds_per_node: float) -> tuple[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        (region, t_make) = _timed(lambda: make_region(tmp, target_nodes=nodes, cols=1, rows=1,
                                                      compounds_per_node=compounds_per_node))
        osm, t_read = _timed(lambda: read_osm(region.osm))
    a, t_analyze = _timed(lambda: lifecircle.analyze(osm))
    sc = _scenario(a)
    r, t_what = _timed(lambda: a.what_if(sc))
    _, t_table = _timed(lambda: r.table)
    net = a.study.net
    facts = {
        "nodes": net.n, "edges": len(net.eu), "communities": len(a.communities),
        "homeless": int((a.communities["n_buildings"] == 0).sum()), "facilities": len(a.pois),
        "make": t_make, "read": t_read, "analyze": t_analyze, "what_if": t_what, "table": t_table,
        "joins": dict(r.edits.joins), "closed": {k: len(v) for k, v in r.closed.items()},
        "walk_m": float(sc.geometry.iloc[2].length), "summary": r.summary(),
        "changed": int(r.changed["community_id"].nunique()),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return _report(facts, nodes), facts


def _report(f: dict, nodes: int) -> str:
    full = tuple(a + b for a, b in zip(f["read"], f["analyze"]))
    what, table = f["what_if"], f["table"]
    rows = [
        ("read_osm (part of a full run)", f["read"], ""),
        ("analyze (network read)", f["analyze"], ""),
        ("**full analyze** (read + analyze)", full, ""),
        ("**what-if** (`Analysis.what_if`)", what, f"{what[1] / full[1]:.1%} of a full analyze, "
                                                   f"{what[1] / f['analyze'][1]:.1%} of analyze alone (CPU)"),
        ("comparison table (`.table`)", table, f"what-if and table: {(what[1] + table[1]) / full[1]:.1%} of a "
                                               "full analyze (CPU)"),
    ]
    lines = [
        "## What-if scenarios (issue 12)\n",
        f"`python bench/scenario_bench.py --nodes {nodes}` — {datetime.date.today()}, {platform.machine()}, "
        f"Python {platform.python_version()}; one process; wall clock and this process's CPU time "
        "(the machine is shared).\n",
        f"City: bench/region.py on bench/grid.py's grid: {f['nodes']:,} street nodes, {f['edges']:,} streets, "
        f"{f['communities']:,} communities ({f['homeless']} without buildings), {f['facilities']:,} facilities "
        f"(10-minute level, 8 categories). Scenario: a canteen at the central community's centre, its nearest "
        f"pharmacy removed, a {f['walk_m']:,.0f} m walkway eastwards across blocks (joined at "
        f"{sum(f['joins'].values())} places), one street closed ({sum(f['closed'].values())} edge). "
        f"Communities that change: {f['changed']} ({f['summary']}).\n",
        "| step | wall | CPU | |", "|---|---|---|---|",
        *(f"| {name} | {t[0]:.2f} s | {t[1]:.2f} s | {note} |" for name, t, note in rows),
        f"\nPeak RSS of the process: {f['peak_mb']:,.0f} MB. Target (issue 12): a what-if costs at most 20 % of a "
        f"full analyze — **{'met' if what[1] <= 0.2 * full[1] else 'not met'}** ({what[1] / full[1]:.1%} of its "
        f"CPU time, {what[0] / full[0]:.1%} of its wall-clock time; {what[1] / f['read'][1]:.1%} of reading the "
        "file alone). The what-if redraws isochrones, routes and the outside-reach areas of home-less communities "
        "only near its changes; analyze draws them all (the areas, one reach polygon per category over the whole "
        "city, are most of its time here: NOTES.md).",
    ]
    return "\n".join(lines)


def _write(report: str, path: Path) -> None:
    text = path.read_text() if path.exists() else ""
    block = f"{START}\n{report}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=250_000)
    ap.add_argument("--compounds-per-node", type=float, default=0.008)
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"), help="markdown file to update ('' for none)")
    args = ap.parse_args(argv)
    report, _ = run(args.nodes, args.compounds_per_node)
    print(report)
    if args.output:
        _write(report, Path(args.output))


if __name__ == "__main__":
    main()

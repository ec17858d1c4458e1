"""Benchmark of ``lifecircle batch``: areas per hour and memory per worker at 1 and 2 workers.

On a generated multi-district city (bench/region.py), ``lifecircle.batch``
runs every district on a Dask LocalCluster of 1 worker, then of 2 workers
(``force=True``: every area is analysed and written, each run in a fresh
folder). Reported per run: the split (``osmium extract``), the wall time
from submitting the first area to the last result, areas per hour, seconds
per area on a worker, and each worker's peak resident memory (its
``ru_maxrss`` after its last area: the analysis, the outputs, and Dask's own
footprint). Then the speed-up from 1 to 2 workers and a worked
extrapolation to 2,800 districts on a 32-core cluster, written between the
``batch-bench`` markers of ``bench/RESULTS.md`` (added at its end if
missing; ``--output ''`` writes nothing).

    python bench/batch_bench.py                  # ~2-3 minutes on 2 cores
    python bench/batch_bench.py --nodes 6000 --districts 3x2   # quicker
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MARK, END = "<!-- batch-bench -->", "<!-- /batch-bench -->"

# Extrapolation assumptions (stated in the report)
N_DISTRICTS = 2800
CORES = 32
CHINA_PBF_MB = 1300          # Geofabrik china-latest.osm.pbf, order of magnitude
MAX_NODE_ID = 13.0e9         # OSM node ids in late 2026, order of magnitude
OSMIUM_MB_S = 60.0           # osmium extract read rate of a PBF with many extracts (per pass), assumed
CLUSTER_GB = 128             # memory of the 32-core node the split runs on


def _run(region, out: Path, workers: int) -> dict:
    import lifecircle
    from lifecircle.batch import extract_memory

    load = os.getloadavg()[0]
    start = time.perf_counter()
    r = lifecircle.batch(region.osm, region.districts, out, workers=workers, force=True, memory_limit=None)
    wall = time.perf_counter() - start
    load = max(load, os.getloadavg()[0])
    assert r.ok, r.areas[["area", "error"]]
    import json

    recs = [json.loads(p.read_text()) for p in (out / ".batch" / "state").glob("*.json")]
    peaks: dict[int, float] = {}
    for rec in recs:
        peaks[rec["pid"]] = max(peaks.get(rec["pid"], 0.0), rec["peak_mb"])
    per_area = [rec["run_s"] for rec in recs]
    return {
        "workers": workers, "areas": len(recs), "wall": wall, "split": r.split_s, "run": r.run_s,
        "per_area_mean": sum(per_area) / len(per_area), "per_area_max": max(per_area),
        "per_area_min": min(per_area), "peaks": sorted(peaks.values(), reverse=True),
        "areas_per_hour": len(recs) / r.run_s * 3600, "communities": len(r.coverage),
        "extract_bytes": extract_memory(region.osm), "load": load,
    }


def _region_stats(region, folder: Path) -> dict:
    """Street nodes per extract (mean), from the extracts of a kept split."""
    import lifecircle

    r = lifecircle.batch(region.osm, region.districts, folder, workers=1, keep_extracts=True,
                         memory_limit=None)
    sizes = []
    from lifecircle.sources.osmfile import read_osm

    for p in sorted((folder / ".batch" / "extracts").glob("*.osm.pbf")):
        sizes.append(len(read_osm(p).walk.nodes))  # the graph's nodes, without building it
    return {"extract_nodes": sum(sizes) / len(sizes), "first_wall": r.run_s,
            "osm_mb": region.osm.stat().st_size / 2**20}


def render(region, args, runs: list[dict], stats: dict, total: float) -> str:
    one, two = runs
    speedup = one["run"] / two["run"]
    eff = speedup / 2
    c_area = one["per_area_mean"]          # worker-seconds per area, measured
    nodes = stats["extract_nodes"]
    c_node = c_area / nodes                # worker-seconds per street node of an extract
    # --- split: memory-bounded osmium runs (lifecircle.batch.split)
    per_extract_gb = 2 / 8 * MAX_NODE_ID / 1e9 + 0.016
    per_run = max(1, int(CLUSTER_GB / 2 // per_extract_gb))
    pass_s = CHINA_PBF_MB / OSMIUM_MB_S
    flat_runs = math.ceil(N_DISTRICTS / per_run)
    split_flat = flat_runs * 2 * pass_s  # complete_ways reads the file twice per run
    groups = math.ceil(N_DISTRICTS / per_run)
    level1 = math.ceil(groups / per_run)
    # level 2: one run per group file; together the group files are the region once, plus their
    # overlap (buffers, hull slack): taken as 1.5x the region
    split_two = level1 * 2 * pass_s + 1.5 * 2 * pass_s
    rounds = math.ceil(N_DISTRICTS / CORES)
    lines = [
        MARK,
        "## lifecircle batch (issue 13)",
        "",
        f"`python bench/batch_bench.py --nodes {args.nodes} --districts {args.districts}` — {date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. Whole run: {total:.0f} s.",
        "",
        f"Region: bench/region.py, {region.n_nodes:,} street nodes, {region.n_compounds} residential compounds, "
        f"{region.n_pois} facilities, cut into {len(region.names)} districts ({stats['osm_mb']:.2f} MB PBF); "
        f"each district's extract (500 m buffer, 10-minute level) holds {nodes:,.0f} street nodes on average. "
        "Each run: a fresh output folder, `lifecircle.batch(..., workers=N, force=True)`: a Dask LocalCluster of "
        "N single-threaded worker processes; per area `analyze` + `Analysis.save` (CSV, GeoPackage, map, "
        "charts, report).",
        "",
        "| workers | areas | split (osmium) | areas run (submit → last result) | areas per hour | "
        "s per area on a worker (mean, min–max) | peak RSS per worker | whole call | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        peaks = ", ".join(f"{p:,.0f} MB" for p in r["peaks"])
        lines.append(
            f"| {r['workers']} | {r['areas']} | {r['split']:.2f} s | {r['run']:.1f} s | {r['areas_per_hour']:,.0f} | "
            f"{r['per_area_mean']:.2f} s ({r['per_area_min']:.2f}–{r['per_area_max']:.2f}) | {peaks} | "
            f"{r['wall']:.1f} s | {r['load']:.1f} |")
    lines += [
        "",
        f"**Speed-up from 1 to 2 workers: {speedup:.2f}×** (parallel efficiency {eff:.0%}). The two cores "
        "also run the client, the scheduler and the nannies, and the first area on each worker pays the imports "
        "(osmnx, geopandas, folium: a few seconds), so small regions understate the steady-state rate. "
        "*load avg* is the machine's 1-minute load average around the run: above the core count, other work "
        "shared the cores and the 2-worker figures are pessimistic. "
        "The per-area seconds include writing every output of `analyze`; peak RSS is per worker process "
        "(its `ru_maxrss`, Dask included).",
        "",
        f"### Extrapolation: {N_DISTRICTS:,} districts on a {CORES}-core cluster",
        "",
        f"1. **Per-area cost, measured:** {c_area:.2f} worker-seconds per area on extracts of {nodes:,.0f} street "
        f"nodes = {c_node * 1000:.2f} ms per street node (analysis and all outputs). The cost is close to "
        "linear in the extract's nodes (NOTES.md: a 75,443-node city, 137 s in one process: 1.8 ms per node). "
        "A Chinese county-level district is far bigger than these generated ones: taking 30,000 walk nodes "
        f"per district plus buffer, one area costs ≈ 30,000 × {c_node * 1000:.2f} ms = "
        f"{30000 * c_node:.0f} s on one core.",
        f"2. **Run time:** {N_DISTRICTS:,} areas / {CORES} workers = {rounds} rounds; at the measured 2-worker "
        f"efficiency of {eff:.0%}: {rounds} × {30000 * c_node:.0f} s / {eff:.2f} = "
        f"**{rounds * 30000 * c_node / eff / 3600:.1f} h** (at 100 % efficiency "
        f"{rounds * 30000 * c_node / 3600:.1f} h). Memory: the measured peak per worker was "
        f"{max(one['peaks']):,.0f} MB on {nodes:,.0f}-node extracts; NOTES.md measured 1,342 MiB for 75k nodes, so "
        f"{CORES} workers of ~1.5–2 GB need ~{CORES * 2} GB.",
        f"3. **Split, measured here:** {one['split']:.2f} s for {one['areas']} extracts of a "
        f"{stats['osm_mb']:.2f} MB file in one osmium run. For real OSM data the split is bounded by osmium's "
        f"memory, not by its speed: `complete_ways` keeps 2 × (largest node id) / 8 bytes per extract, "
        f"≈ {per_extract_gb:.2f} GB with node ids near {MAX_NODE_ID / 1e9:.0f} billion. With half of a "
        f"{CLUSTER_GB} GB node that is {per_run} extracts per osmium run. `lifecircle.batch.split` then cuts in "
        f"two levels: {groups} spatial groups of ≤ {per_run} districts, written by {level1} runs over a "
        f"{CHINA_PBF_MB:,} MB China PBF, then one run per group file. At an assumed {OSMIUM_MB_S:.0f} MB/s "
        f"per pass and two passes per run: {level1} × {2 * pass_s:.0f} s + the group files (the region once "
        f"more, × 1.5 for overlaps) {1.5 * 2 * pass_s:.0f} s ≈ **{split_two / 60:.0f} min**, on one core "
        f"(one level, {flat_runs} runs over the whole file, would take {split_flat / 3600:.1f} h).",
        f"4. **Total:** ≈ {split_two / 60:.0f} min split + {rounds * 30000 * c_node / eff / 3600:.1f} h analysis "
        f"= **{(split_two + rounds * 30000 * c_node / eff) / 3600:.1f} h** "
        f"({(split_two + rounds * 30000 * c_node) / 3600:.1f} h at full efficiency). The generated districts' "
        f"own cost ({c_area:.1f} s each) would give {rounds} × {c_area:.1f} s / {eff:.2f} = "
        f"{rounds * c_area / eff / 60:.0f} min of analysis: the size of real districts, not the machinery, "
        "decides. A split on a separate machine can overlap with the analysis of the first groups.",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=12000, help="street nodes of the generated city (default 12000)")
    ap.add_argument("--districts", default="4x3", help="COLSxROWS districts (default 4x3: 12)")
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"),
                    help="markdown file to put the section in (default bench/RESULTS.md; '' = none)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    from region import make_region

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="lc-batch-bench-"))
    try:
        cols, rows = (int(x) for x in args.districts.lower().split("x"))
        region = make_region(tmp / "region", args.nodes, cols, rows)
        print(f"region: {region.n_nodes:,} nodes, {len(region.names)} districts", flush=True)
        stats = _region_stats(region, tmp / "warm")  # also warms the file cache
        runs = []
        for w in (1, 2):
            print(f"{w} worker(s) …", flush=True)
            runs.append(_run(region, tmp / f"w{w}", w))
            r = runs[-1]
            print(f"  {r['run']:.1f} s, {r['areas_per_hour']:,.0f} areas/h, peaks {r['peaks']}", flush=True)
        report = render(region, args, runs, stats, time.perf_counter() - t0)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report)
    if args.output:
        path = Path(args.output)
        text = path.read_text() if path.exists() else ""
        if MARK in text and END in text:
            start, end = text.index(MARK), text.index(END) + len(END)
            text = text[:start] + report + text[end:]
        else:
            text = text.rstrip("\n") + "\n\n" + report + "\n"
        path.write_text(text)
        print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

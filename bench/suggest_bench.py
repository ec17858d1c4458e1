"""Benchmark of ``suggest``: site selection with 1,000 candidates on the generated grid.

::

    python bench/suggest_bench.py                      # 250,000-node grid (bench/grid.py), ~5 min
    python bench/suggest_bench.py --nodes 20000        # smoke run

The grid, its canteens and the community centres are made as ``bench/run.py``
makes them (same seeds). Each community is a square around its centre with
homes (small residential buildings) set back from the streets inside it,
each with a resident estimate. The study is built by the pipeline's own
step (:func:`lifecircle.pipeline._study`) and measured as ``analyze`` does;
then ``Analysis.suggest`` runs with 1,000 candidate sites (a seeded sample
of the default street candidates, given as a GeoDataFrame so that they are
snapped as a user's file would be), and once more with the default street
candidates.

Timed: the whole ``suggest`` (exact, coverage searched from the side
needing fewer searches), its coverage matrix both ways (searched from the
candidates, from the uncovered homes) and the solvers (greedy alone; greedy,
swaps and the LP bound; spopt's exact MCLP).
Peak memory is the process's RSS high-water mark (``VmHWM``) before and
after ``suggest``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _communities(xy: np.ndarray, centres: np.ndarray, side: float, crs: str):
    import geopandas as gpd
    import shapely

    boxes = shapely.box(xy[centres, 0] - side / 2, xy[centres, 1] - side / 2,
                        xy[centres, 0] + side / 2, xy[centres, 1] + side / 2)
    # overlapping squares would share homes: keep each square's part not in an earlier one
    seen = shapely.Polygon()
    parts = []
    for b in boxes:
        parts.append(shapely.difference(b, seen))
        seen = shapely.union(seen, b)
    keep = ~shapely.is_empty(np.array(parts, dtype=object))
    n = int(keep.sum())
    return gpd.GeoDataFrame({
        "community_id": [f"c{i}" for i in range(n)], "name": [f"Community {i}" for i in range(n)],
        "residents_input": np.nan, "source": "bench", "partial": False, "name_source": "user",
    }, geometry=np.array(parts, dtype=object)[keep], crs=crs)


def _homes(grid, comms, per: int, rng, crs: str):
    """``per`` homes per community: 12 m squares set back 10-25 m from a street inside it."""
    import geopandas as gpd
    import shapely

    geoms = grid.geometries()
    tree = shapely.STRtree(geoms)
    out = []
    for poly in comms.geometry.values:
        idx = tree.query(poly, predicate="intersects")
        if len(idx) == 0:
            continue
        e = rng.choice(idx, size=per)
        on = shapely.line_interpolate_point(geoms[e], rng.random(per), normalized=True)
        ang = rng.uniform(0, 2 * np.pi, per)
        leg = rng.uniform(10, 25, per)
        c = shapely.get_coordinates(on) + np.column_stack([np.cos(ang), np.sin(ang)]) * leg[:, None]
        inside = shapely.contains_xy(poly, c[:, 0], c[:, 1])
        out.append(c[inside])
    c = np.concatenate(out)
    return gpd.GeoDataFrame({"residents": np.round(rng.uniform(10, 200, len(c)), 1)},
                            geometry=shapely.box(c[:, 0] - 6, c[:, 1] - 6, c[:, 0] + 6, c[:, 1] + 6), crs=crs)


def build(nodes: int, n_comms: int, per: int, seed: int):
    """The grid's Analysis (canteens only) with its study, and the times of its steps."""
    import geopandas as gpd
    from grid import CRS, make_grid, random_pois, to_multidigraph

    from lifecircle import pipeline
    from lifecircle.analysis import Analysis
    from lifecircle.config import load_config
    from lifecircle.core.network import StreetNetwork

    times = {}
    grid, times["generate grid"] = _timed(lambda: make_grid(nodes, seed=seed))
    G, times["grid -> MultiDiGraph"] = _timed(lambda: to_multidigraph(grid))
    net, times["network index"] = _timed(lambda: StreetNetwork.from_graph(G))
    pois = random_pois(grid, seed=seed + 1)["canteen"]
    rng = np.random.default_rng(seed + 3)  # bench/run.py's centres
    centres = rng.choice(grid.n, size=min(n_comms, grid.n), replace=False)
    comms = _communities(grid.xy, centres, 400.0, CRS)
    homes = _homes(grid, comms, per, np.random.default_rng(seed + 4), CRS)
    fac = gpd.GeoDataFrame({"poi_id": [f"node/{i}" for i in range(len(pois))], "name": "canteen",
                            "category": "canteen", "source": "osm"},
                           geometry=gpd.points_from_xy(pois[:, 0], pois[:, 1]), crs=CRS)
    cfg = load_config(categories=["canteen"])
    study, times["study (snap homes, facilities)"] = _timed(lambda: pipeline._study(net, cfg, comms, homes, fac))
    (communities, gaps), times["coverage (as analyze)"] = _timed(lambda: pipeline._measure(study, lambda m: None))
    a = Analysis(config=cfg, communities=communities, pois=fac, isochrones=gpd.GeoDataFrame(geometry=[], crs=CRS),
                 gaps=gaps, left_out=None, graph=G, source="bench grid", crs=CRS, study=study)
    return a, grid, times


def main(argv: list[str] | None = None) -> int:
    import geopandas as gpd

    from lifecircle.planning import suggest as sg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=250_000)
    ap.add_argument("--communities", type=int, default=200)
    ap.add_argument("--homes", type=int, default=80, help="homes per community (before clipping)")
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--output", default=str(HERE / "RESULTS.md"),
                    help="markdown file to append the table to ('' for none)")
    args = ap.parse_args(argv)

    wall = time.perf_counter()
    a, grid, prep = build(args.nodes, args.communities, args.homes, args.seed)
    study = a.study
    limit = a.config.limit_m("canteen")
    demand = sg.uncovered(study, "canteen")
    homes = demand.weight > 0
    pool = sg.street_candidates(study.net, study.origins.points[demand.origin[homes]], limit)
    pick = np.sort(np.random.default_rng(args.seed + 5).choice(len(pool.ids), size=min(args.candidates,
                                                                                      len(pool.ids)), replace=False))
    cands = gpd.GeoDataFrame({"candidate_id": pool.ids[pick]}, geometry=pool.points[pick], crs=study.net.crs)
    hwm_before = _hwm_mb()
    s, t_suggest = _timed(lambda: a.suggest("canteen", args.count, cands))
    hwm_after = _hwm_mb()
    hwm_file = _hwm_mb()
    s_default, t_default = _timed(lambda: a.suggest("canteen", args.count))
    hwm_default = _hwm_mb()
    snapped = sg.snap_points(study.net, cands.geometry.values, a.config.max_snap_m)
    n_cand = len(sg._chunks(sg._positions(study.net, snapped), snapped.ok, limit))
    n_dem = len(sg._chunks(sg._positions(study.net, demand.snapped), demand.snapped.ok, limit))
    by_cand, t_cand = _timed(lambda: sg.coverage_matrix(study.net, snapped, demand.snapped, limit, "candidates"))
    by_dem, t_dem = _timed(lambda: sg.coverage_matrix(study.net, snapped, demand.snapped, limit, "demand"))
    same = (by_cand.reach != by_dem.reach).nnz == 0
    greedy, t_greedy = _timed(lambda: sg.greedy(by_cand.reach, demand.weight, args.count))
    heur, t_heur = _timed(lambda: sg.solve(by_cand.reach, demand.weight, args.count, exact=False))
    exact, t_exact = _timed(lambda: sg.mclp(by_cand.reach, demand.weight, args.count))
    groups, _ = sg._groups(by_cand.reach, demand.weight)
    kept = len(sg._undominated(groups))
    wall = time.perf_counter() - wall

    n_homes = int(study.origins.homes.sum())
    lines = [
        f"## `python bench/suggest_bench.py` — {dt.date.today().isoformat()}, {platform.machine()}, "
        f"{len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "",
        f"Grid of {study.net.n:,} nodes ({len(study.net.eu):,} streets), {len(a.communities)} communities "
        f"(400 m squares), {n_homes:,} homes, {int((study.facilities['category'] == 'canteen').sum())} canteens; "
        f"canteen distance {limit:g} m; {demand.weight.astype(bool).sum():,} homes not reached "
        f"({len(demand.origin):,} demand points); {len(cands)} candidates (a seeded sample of "
        f"{len(pool.ids):,} street candidates every {sg.settings.suggest_spacing_m:g} m); count {args.count}. "
        f"Whole run {wall:.0f} s.",
        "",
        "| step | time | notes |",
        "|---|---|---|",
    ]
    lines += [f"| prep: {k} | {v:.2f} s | not part of suggest |" for k, v in prep.items()]
    lines += [
        f"| **`Analysis.suggest`, {len(cands)} candidates, exact** | **{t_suggest:.2f} s** | {s.method}; "
        f"+{s.residents_gained:,.0f} residents with {len(s.sites)} sites; peak RSS {hwm_before:,.0f} MB before, "
        f"{hwm_after:,.0f} MB after |",
        f"| `Analysis.suggest`, default street candidates | {t_default:.2f} s | {s_default.n_candidates:,} "
        f"candidates; {s_default.method}" + (f" ({s_default.note})" if s_default.note else "") + f"; "
        f"+{s_default.residents_gained:,.0f} residents, optimum at most {s_default.bound:,.0f}; peak RSS "
        f"{hwm_default:,.0f} MB after (from {hwm_file:,.0f} MB) |",
        f"| coverage matrix, searched from the {len(cands)} candidates | {t_cand:.2f} s | {n_cand:,} local "
        f"searches; {by_cand.reach.nnz:,} pairs within {limit:g} m |",
        f"| coverage matrix, searched from the {len(demand.origin):,} uncovered homes | {t_dem:.2f} s | {n_dem:,} "
        f"local searches; same matrix: {same}; {t_dem / t_cand:.2f}× the time from the candidates |",
        f"| greedy alone (with its online bound) | {t_greedy:.3f} s | {greedy.value:,.0f} residents, bound "
        f"{greedy.bound:,.0f} |",
        f"| greedy + swaps + LP relaxation bound (`solve(exact=False)`) | {t_heur:.2f} s | {heur.value:,.0f} "
        f"residents, bound {heur.bound:,.0f} ({heur.method}) |",
        f"| spopt MCLP + CBC on the reduced instance (`mclp`) | {t_exact:.2f} s | "
        + (f"{exact.value:,.0f} residents (optimal)" if not isinstance(exact, str) else exact)
        + f"; reduced to {groups.shape[0]:,} demand groups × {kept} candidates |",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as f:
            f.write("\n" + report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

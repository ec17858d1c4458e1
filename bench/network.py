"""Time the walk network's two routes from one scanned OSM file, and check they agree.

networkx route: ``build_walk_graph`` (osmnx's add_edge_lengths, largest_component,
simplify_graph) -> ``project`` -> ``StreetNetwork.from_graph``.
array route: ``WalkPieces.from_ways`` -> ``build_walk_network`` -> ``StreetNetwork.from_walk``
(what ``read_osm`` and ``analyze`` use).

    python bench/network.py data/helsinki-centre.osm.pbf
    python bench/region.py --nodes 75000 --districts 1x1 --out /tmp/city75
    python bench/network.py /tmp/city75/region.osm.pbf --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import shapely

from lifecircle.core.network import (
    StreetNetwork,
    WalkPieces,
    build_walk_graph,
    build_walk_network,
    project,
)
from lifecircle.sources.osmfile import scan_osm


def networkx_route(ways: list) -> StreetNetwork:
    return StreetNetwork.from_graph(project(build_walk_graph(ways), copy=False))


def array_route(ways: list) -> StreetNetwork:
    return StreetNetwork.from_walk(build_walk_network(WalkPieces.from_ways(ways)))


def same(a: StreetNetwork, b: StreetNetwork) -> bool:
    arrays = ("nodes", "xy", "eu", "ev", "length", "geom_length", "names")
    return (a.crs == b.crs and all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays)
            and bool(shapely.equals_exact(a.geoms, b.geoms, tolerance=0).all()))


def timed(label: str, fn, *args, profile: bool = False):
    prof = cProfile.Profile() if profile else None
    t = time.perf_counter()
    if prof:
        prof.enable()
    out = fn(*args)
    if prof:
        prof.disable()
    print(f"{label}: {time.perf_counter() - t:.2f} s{' (under cProfile)' if prof else ''}")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(12)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("osm", help="an .osm.pbf file")
    ap.add_argument("--profile", action="store_true", help="print the cProfile of each route")
    args = ap.parse_args()
    ways = timed("scan (pyosmium, both routes)", scan_osm, args.osm).ways
    new = timed("array route", array_route, ways, profile=args.profile)
    old = timed("networkx route", networkx_route, ways, profile=args.profile)
    print(f"{new.n:,} nodes, {len(new.eu):,} streets; identical arrays: {same(new, old)}")


if __name__ == "__main__":
    main()

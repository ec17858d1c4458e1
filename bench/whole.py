"""The whole job, as a user runs it: ``lifecircle analyze`` against peer pipelines, each a separate process.

Run ``python bench/whole.py`` (the bundled extract and a generated 75,000-node
city, 3 runs each; about 15 minutes on 2 shared cores) or, for instance,
``python bench/whole.py --runs 1 --sizes bundled,20000`` for a quick look.
See bench/README.md.

Every case is one OSM file; every tool starts from it and ends when its last
file is written:

- **lifecircle**: ``python -m lifecircle.cli analyze --osm FILE --out DIR
  --verbose`` (all outputs: CSV, GeoPackage, map, charts, report);
- **osmnx + pandana**: pyosmium writes the walkable ways (split where the
  extract is clipped) and the tagged features to OSM XML; ``ox.graph_from_xml``
  and ``ox.features_from_xml`` read them; ``pandana.Network`` +
  ``set_pois``/``nearest_pois`` per category; each community's centre takes
  its nearest node's distance; one CSV;
- **osmnx + cityseer**: the same XML and osmnx reading, then
  ``io.nx_from_osm_nx``, ``io.network_structure_from_nx`` and
  ``layers.compute_accessibilities`` (Rust core), the centre's nearest street
  node's ``cc_<key>_nearest_max_<d>``; one CSV.

The peers judge each community (``landuse=residential``) by its centre, the
nearest facility of each category within the category's distance (the
10-minute level's: 300 or 500 m), matching the presets' main tags (no name
rules). lifecircle does more (homes, area samples, isochrones, gaps, routes,
map and report), so the comparison favours the peers.

The processes alternate (lifecircle, pandana, cityseer, lifecircle, ...); each
figure is the median over ``--runs``. Wall time is the process's, start to
exit; peak memory is the largest RSS of the process tree (``ru_maxrss`` from
``wait4``: the largest of the process and its waited-for children, as
``/usr/bin/time -v`` reports it); CPU time (user + system) is reported
too, as it suffers less from other work on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUNDLED = ROOT / "data" / "helsinki-centre.osm.pbf"
TOOLS = ("lifecircle", "pandana", "cityseer")

#: The 10-minute level's categories as the peers match them: the presets' main
#: tags (lifecircle.presets.toml), without name rules or exclusions; and the
#: distance each is judged at (metres, its GB 50180 tier's).
PEER_CATEGORIES = {
    "canteen": ({"amenity": ["canteen"]}, 300),
    "clinic": ({"amenity": ["clinic", "doctors"], "healthcare": ["clinic", "doctor"]}, 300),
    "pharmacy": ({"amenity": ["pharmacy"], "healthcare": ["pharmacy"]}, 300),
    "park": ({"leisure": ["park", "garden"]}, 300),
    "sports": ({"leisure": ["sports_centre", "fitness_station", "pitch", "stadium", "swimming_pool"]}, 300),
    "school": ({"amenity": ["school"]}, 500),
    "bank": ({"amenity": ["bank"]}, 500),
    "market": ({"shop": ["supermarket", "greengrocer"], "amenity": ["marketplace"]}, 500),
}

# osmnx's "walk" filter (as lifecircle.sources.osmfile applies it): a way is
# dropped when one of these keys' values matches the pattern.
_WALK_EXCLUDE = {
    "area": "yes", "access": "private",
    "highway": "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|raceway|razed|"
               "rest_area|services",
    "foot": "no", "service": "private", "sidewalk": "separate", "sidewalk:both": "separate",
    "sidewalk:left": "separate", "sidewalk:right": "separate",
}
_FEATURE_KEYS = ("amenity", "shop", "leisure", "healthcare", "landuse")


# ---------------------------------------------------------------- peers (child processes)

def _walkable(tags: dict) -> bool:
    return "highway" in tags and not any(k in tags and re.search(p, tags[k]) for k, p in _WALK_EXCLUDE.items())


def write_xml(pbf: Path, walk_xml: Path, feat_xml: Path) -> None:
    """The walkable ways and the tagged features of ``pbf`` as two OSM XML files.

    osmnx reads XML only, and ``graph_from_xml`` turns every way it is given
    into streets, so the walk file holds the walkable ways alone. A way that
    the extract cuts is split at its missing nodes ("Some edges missing
    nodes" otherwise; joining the pieces would invent streets).
    """
    import osmium

    nodes: dict[int, tuple[float, float, dict]] = {}
    walk: list[tuple[int, list[int], dict]] = []
    feat_ways: list[tuple[int, list[int], dict]] = []
    feat_nodes: list[int] = []
    for obj in osmium.FileProcessor(str(pbf)).with_locations():
        tags = dict(obj.tags)
        if obj.is_node():
            if obj.location.valid():
                nodes[obj.id] = (obj.location.lon, obj.location.lat, tags)
                if any(k in tags for k in _FEATURE_KEYS):
                    feat_nodes.append(obj.id)
        elif obj.is_way():
            refs = [n.ref for n in obj.nodes]
            if _walkable(tags):
                run: list[int] = []
                piece = 0
                for ref in refs + [None]:
                    if ref is not None and ref in nodes:
                        run.append(ref)
                        continue
                    if len(run) >= 2:
                        walk.append((obj.id * 1000 + piece, run, tags))  # unique: ways have < 1000 pieces
                        piece += 1
                    run = []
            elif any(k in tags for k in _FEATURE_KEYS) and all(r in nodes for r in refs):
                feat_ways.append((obj.id, refs, tags))
    _write(walk_xml, nodes, [], walk)
    _write(feat_xml, nodes, feat_nodes, feat_ways)


def _write(path: Path, nodes: dict, tagged: list[int], ways: list) -> None:
    import osmium

    mut = osmium.osm.mutable
    path.unlink(missing_ok=True)
    w = osmium.SimpleWriter(str(path))
    try:
        want = sorted(set(tagged) | {r for _, refs, _ in ways for r in refs})
        keep_tags = set(tagged)
        for i in want:
            lon, lat, tags = nodes[i]
            w.add_node(mut.Node(id=i, location=(lon, lat), version=1, tags=tags if i in keep_tags else {}))
        for wid, refs, tags in ways:
            w.add_way(mut.Way(id=wid, nodes=refs, version=1, tags=tags))
    finally:
        w.close()


def _peer_inputs(osm: Path, work: Path):
    """Projected walk graph, community centres and facility points per category, as a peer reads them."""
    import geopandas as gpd
    import osmnx as ox

    walk_xml, feat_xml = work / "walk.osm", work / "features.osm"
    write_xml(osm, walk_xml, feat_xml)
    G = ox.project_graph(ox.graph_from_xml(walk_xml, bidirectional=True, simplify=True, retain_all=False))
    crs = G.graph["crs"]
    tags: dict[str, object] = {"landuse": ["residential"]}
    for rules, _ in PEER_CATEGORIES.values():
        for k, vals in rules.items():
            tags[k] = sorted(set(tags.get(k, [])) | set(vals)) if isinstance(tags.get(k, []), list) else True
    feats = ox.features_from_xml(feat_xml, tags=tags).to_crs(crs).reset_index()
    homes = feats[(feats.get("landuse") == "residential") & feats.geom_type.isin(["Polygon", "MultiPolygon"])]
    centres = gpd.GeoDataFrame({"community_id": homes["element"].astype(str) + "/" + homes["id"].astype(str)},
                               geometry=homes.geometry.representative_point().values, crs=crs)
    points = {}
    for key, (rules, _) in PEER_CATEGORIES.items():
        hit = False
        for k, vals in rules.items():
            if k in feats:
                hit = hit | feats[k].isin(vals)
        sel = feats[hit] if not isinstance(hit, bool) else feats.iloc[:0]
        points[key] = sel.geometry.centroid
    return G, centres, points


def peer_pandana(osm: Path, out: Path, work: Path) -> None:
    import pandana
    import pandas as pd

    G, centres, points = _peer_inputs(osm, work)
    import osmnx as ox

    nodes, edges = ox.graph_to_gdfs(G)
    edges = edges.reset_index()
    net = pandana.Network(nodes["x"], nodes["y"], edges["u"], edges["v"], edges[["length"]], twoway=True)
    far = max(d for _, d in PEER_CATEGORIES.values())
    at = net.get_node_ids(centres.geometry.x, centres.geometry.y)
    table = {"community_id": centres["community_id"].values}
    for key, (_, limit) in PEER_CATEGORIES.items():
        pts = points[key]
        metres = pd.Series(float("nan"), index=nodes.index)
        if len(pts):
            net.set_pois(key, far, 1, pts.x, pts.y)
            metres = net.nearest_pois(far, key, num_pois=1)[1]
            metres = metres.where(metres < far)  # pandana gives the search limit where it found nothing
        got = metres.reindex(at.values).values
        table[f"metres_{key}"] = got
        table[f"covered_{key}"] = got <= limit
    pd.DataFrame(table).to_csv(out / "coverage.csv", index=False)


def peer_cityseer(osm: Path, out: Path, work: Path) -> None:
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from cityseer.metrics import layers
    from cityseer.tools import io

    G, centres, points = _peer_inputs(osm, work)
    crs = G.graph["crs"]
    nodes, _edges, structure = io.network_structure_from_nx(io.nx_from_osm_nx(G), crs=crs)
    keys = [k for k in PEER_CATEGORIES if len(points[k])]
    pois = gpd.GeoDataFrame({"category": np.concatenate([[k] * len(points[k]) for k in keys])},
                            geometry=pd.concat([points[k] for k in keys]).values, crs=crs)
    distances = sorted({d for _, d in PEER_CATEGORIES.values()})
    nodes = layers.compute_accessibilities(pois, "category", keys, nodes, structure, distances=distances)
    near = nodes.sindex.nearest(centres.geometry.values, return_all=False)[1]
    table = {"community_id": centres["community_id"].values}
    for key, (_, limit) in PEER_CATEGORIES.items():
        col = f"cc_{key}_nearest_max_{distances[-1]}"  # the nearest within the largest distance
        got = nodes[col].values[near].astype(float) if col in nodes else np.full(len(centres), np.nan)
        table[f"metres_{key}"] = got
        table[f"covered_{key}"] = got <= limit
    pd.DataFrame(table).to_csv(out / "coverage.csv", index=False)


# ---------------------------------------------------------------- runner (parent process)

def _case_file(size: str, buildings: str, cache: Path) -> Path:
    """The OSM file of a case: the bundled extract, or a generated city (made once, in a child process)."""
    if size == "bundled":
        return BUNDLED
    folder = cache / f"city-{size}-{buildings}"
    osm = folder / "region.osm.pbf"
    if not osm.exists():
        code = ("import sys; sys.path.insert(0, sys.argv[1]); from region import make_region; "
                "r = make_region(sys.argv[2], int(sys.argv[3]), 1, 1, compounds_per_node=float(sys.argv[4]), "
                "poi_scale=float(sys.argv[5]), without_buildings=float(sys.argv[6])); "
                "print(r.n_nodes, r.n_compounds, r.n_pois)")
        # the city: 365 compounds and 2,250 facilities on 75,443 street nodes
        per_node = str(365 / 75_443)
        scale = str(2_250 / (0.31 * 75_443))  # 0.31: region.py's facilities per node, all categories
        without = "1.0" if buildings == "without" else "0.0"
        res = subprocess.run([sys.executable, "-c", code, str(HERE), str(folder), size, per_node, scale, without],
                             capture_output=True, text=True, check=True)
        (folder / "shape.txt").write_text(res.stdout)
    return osm


def _run(tool: str, osm: Path, out: Path, work: Path) -> dict:
    """One process of ``tool`` on ``osm``: wall time, peak RSS of its tree, and what it printed."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True)
    work.mkdir(parents=True)
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}  # this checkout's lifecircle
    if tool == "lifecircle":
        cmd = [sys.executable, "-m", "lifecircle.cli", "analyze", "--osm", str(osm), "--out", str(out), "--verbose"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--peer", tool, "--osm", str(osm), "--out", str(out),
               "--work", str(work)]
    # output to files, so that wait4 (not communicate) reaps the child and hands back its own rusage
    with open(work / "stdout.txt", "w") as fo, open(work / "stderr.txt", "w") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = (work / "stderr.txt").read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} failed on {osm.name}:\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "steps": _steps(stderr) if tool == "lifecircle" else {},
            "map_bytes": (out / "map.html").stat().st_size if (out / "map.html").exists() else None,
            "gpkg_bytes": (out / "lifecircle.gpkg").stat().st_size if (out / "lifecircle.gpkg").exists() else None,
            "rows": sum(1 for _ in open(out / "coverage.csv", encoding="utf-8-sig")) - 1}


_STEP = re.compile(r"^\s+([\d.]+)\s+(.+)$")


def _steps(stderr: str) -> dict[str, float]:
    """lifecircle's --verbose step times, the eight category walks summed into one row."""
    text = stderr[stderr.rfind("step times (s):"):] if "step times (s):" in stderr else ""
    steps: dict[str, float] = {}
    for line in text.splitlines()[1:]:
        m = _STEP.match(line)
        if not m:
            break
        name = re.sub(r"\d[\d,]*", "N", m.group(2))
        name = re.sub(r"^walking distances to .+", "walking distances + gaps (all categories)", name)
        name = re.sub(r"^read .+ so far$", "reading OSM data", name)  # the reader's progress messages
        name = re.sub(r" to \S+$", "", name)
        steps[name] = steps.get(name, 0.0) + float(m.group(1))
    return steps


def run_case(case: tuple[str, str], runs: int, tmp: Path) -> dict:
    size, buildings = case
    osm = _case_file(size, buildings, tmp / "data")
    results: dict[str, list[dict]] = {t: [] for t in TOOLS}
    for r in range(runs):
        for tool in TOOLS:  # alternated, so a slow spell of the machine hits every tool
            print(f"  {size} {buildings}: run {r + 1}/{runs}, {tool} …", flush=True)
            res = _run(tool, osm, tmp / "out" / tool, tmp / "work" / tool)
            results[tool].append(res)
            print(f"    {res['wall']:.1f} s ({res['cpu']:.1f} s CPU), {res['rss_mib']:,.0f} MiB", flush=True)
    shape = (osm.parent / "shape.txt").read_text().split() if size != "bundled" else None
    return {"size": size, "buildings": buildings, "osm": osm, "shape": shape, "results": results}


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _mib(b):
    return f"{b / 2**20:,.1f} MiB" if b else "—"


def render(cases: list[dict], runs: int, wall: float, args) -> str:
    lines = ["# Whole job: lifecircle analyze against osmnx + pandana and osmnx + cityseer", "",
             f"`python bench/whole.py --runs {runs} --sizes {args.sizes}` — {time.strftime('%Y-%m-%d')}, "
             f"{platform.machine()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}; "
             f"{_versions()}; {_code_version()}. Whole run: {wall / 60:.0f} min.", "",
             "Each tool is a separate process from the OSM file to its last file written (lifecircle: "
             "`lifecircle analyze --verbose`, every output; the peers: one coverage CSV). Median of "
             f"{runs} alternated run(s); *peak RSS* is the largest resident set of the process tree "
             "(`ru_maxrss` of `wait4`, as `/usr/bin/time -v` gives it); *CPU* is its user + system time, "
             "less sensitive than wall time to other work on a shared machine. Ratios and targets are on wall "
             "time.", "",
             "| case | communities | lifecircle | osmnx + pandana | osmnx + cityseer | lc / pandana | lc / cityseer "
             "| map.html | GeoPackage |",
             "|---|---|---|---|---|---|---|---|---|"]
    targets = []
    for c in cases:
        med = {t: (_median([r["wall"] for r in c["results"][t]]), _median([r["rss_mib"] for r in c["results"][t]]),
                   _median([r["cpu"] for r in c["results"][t]])) for t in TOOLS}
        lc = c["results"]["lifecircle"]
        name = "bundled extract (central Helsinki)" if c["size"] == "bundled" else (
            f"generated city, {int(c['shape'][0]):,} nodes, {c['shape'][1]} compounds "
            f"{'with' if c['buildings'] == 'with' else 'without'} buildings, {int(c['shape'][2]):,} facilities")
        comms = f"{lc[0]['rows']:,} / {c['results']['pandana'][0]['rows']:,}"
        cell = {t: f"{med[t][0]:.1f} s ({med[t][2]:.1f} s CPU), {med[t][1]:,.0f} MiB" for t in TOOLS}
        rp, rc = med["lifecircle"][0] / med["pandana"][0], med["lifecircle"][0] / med["cityseer"][0]
        lines.append(f"| {name} | {comms} | {cell['lifecircle']} | {cell['pandana']} | {cell['cityseer']} | "
                     f"{rp:.2f}× | {rc:.2f}× | {_mib(_median([r['map_bytes'] for r in lc]))} | "
                     f"{_mib(_median([r['gpkg_bytes'] for r in lc]))} |")
        lower_mem = med["lifecircle"][1] < min(med["pandana"][1], med["cityseer"][1])
        if c["size"] == "bundled":
            ok = rp <= 0.5 and rc <= 0.5
            targets.append(f"- {name}: lifecircle ≤ 0.5× both peers' wall time: "
                           f"{'met' if ok else 'not met'} ({rp:.2f}×, {rc:.2f}×)")
        else:
            ok = rp <= 0.1 and rc <= 0.2 and lower_mem
            targets.append(f"- {name}: ≤ 0.1× pandana's and ≤ 0.2× cityseer's wall, peak memory below both: "
                           f"{'met' if ok else 'not met'} ({rp:.2f}×, {rc:.2f}×; {med['lifecircle'][1]:,.0f} MiB "
                           f"against {med['pandana'][1]:,.0f} and {med['cityseer'][1]:,.0f})")
    lines += ["", "*communities*: lifecircle's / the peers' (`landuse=residential` polygons; lifecircle also closes "
              "clipped ones and leaves out slivers). *lc / peer*: lifecircle's wall time over the peer's (below 1, "
              "lifecircle is faster).", "", "## Targets (issue 15)", "", *targets, "",
              "## Where lifecircle's time goes (median seconds per step, `--verbose`)", ""]
    steps = []
    for c in cases:
        for r in c["results"]["lifecircle"]:
            steps += [s for s in r["steps"] if s not in steps]
    lines.append("| step | " + " | ".join(_short(c) for c in cases) + " |")
    lines.append("|---|" + "---|" * len(cases))
    for s in steps:
        vals = [_median([r["steps"].get(s) for r in c["results"]["lifecircle"]]) for c in cases]
        lines.append(f"| {s} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in vals) + " |")
    lines += ["", "The process's start (Python, click) before the first row is in the wall time, not in a row."]
    return "\n".join(lines) + "\n"


def _short(c: dict) -> str:
    return "bundled" if c["size"] == "bundled" else f"{int(c['shape'][0]) // 1000}k {c['buildings']} bldg"


def _versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{p} {version(p)}" for p in ("osmnx", "pandana", "cityseer", "shapely", "scipy"))


def _code_version() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "lifecircle"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "code: unknown"
    return f"commit {head}" + (" with local changes" if dirty else "")


def update_readme(report: str, readme: Path) -> None:
    """Put the report's table and targets between the README's whole-table markers."""
    lines = report.splitlines()
    head = next(line for line in lines if line.startswith("`python bench/whole.py"))
    table = []
    for line in lines:
        if line.startswith("| case"):
            table = [line]
        elif table and line.startswith("|"):
            table.append(line)
        elif table:
            break
    targets = report[report.index("## Targets (issue 15)"):].split("\n", 2)[2].split("\n## ")[0].strip()
    block = "\n".join(["<!-- whole-table -->", head, "", *table, "", "Targets of issue 15 in that run:", "",
                       targets, "<!-- /whole-table -->"])
    text = readme.read_text()
    start = text.index("<!-- whole-table -->")
    end = text.index("<!-- /whole-table -->", start) + len("<!-- /whole-table -->")
    readme.write_text(text[:start] + block + text[end:])


def _cases(sizes: str, buildings: str) -> list[tuple[str, str]]:
    out = []
    for size in (s.strip() for s in sizes.split(",") if s.strip()):
        if size == "bundled":
            out.append(("bundled", "with"))
        else:
            out += [(str(int(size)), b) for b in buildings.split(",")]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool per case; the median is reported")
    ap.add_argument("--sizes", default="bundled,75000",
                    help="comma-separated: 'bundled' and/or street nodes of generated cities (default bundled,75000)")
    ap.add_argument("--buildings", default="without,with",
                    help="generated cities' compounds: without, with, or both (default without,with)")
    ap.add_argument("--output", help="markdown report (default bench/WHOLE.md, copied into README.md; '' for none)")
    ap.add_argument("--keep", help="keep generated cities and outputs in this folder")
    ap.add_argument("--peer", choices=("pandana", "cityseer"), help=argparse.SUPPRESS)
    ap.add_argument("--osm", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.peer:  # a child process: one peer pipeline
        {"pandana": peer_pandana, "cityseer": peer_cityseer}[a.peer](Path(a.osm), Path(a.out), Path(a.work))
        return 0
    t0 = time.perf_counter()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="lifecircle-whole-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        cases = [run_case(c, a.runs, tmp) for c in _cases(a.sizes, a.buildings)]
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report = render(cases, a.runs, time.perf_counter() - t0, a)
    raw = [{**c, "osm": str(c["osm"])} for c in cases]
    print(report)
    output = a.output if a.output is not None else str(HERE / "WHOLE.md")
    if output:
        Path(output).write_text(report)
        Path(output).with_suffix(".json").write_text(json.dumps(raw, indent=1))  # every run's figures
        print(f"written to {output} (and every run's figures to {Path(output).with_suffix('.json').name})")
        if Path(output).resolve() == (HERE / "WHOLE.md").resolve():
            update_readme(report, ROOT / "README.md")
            print("table copied into README.md")
    print(json.dumps({"wall_s": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

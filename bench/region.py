"""A generated multi-district region for ``lifecircle batch``: an OSM file and district polygons.

The streets are :func:`grid.make_grid`'s irregular city (seeded, so the same
arguments give the same bytes). On top of it come, all from one seeded
``numpy.random.Generator``:

- facilities of the eight categories of the 10-minute level, as tagged
  nodes set back from a street (``amenity=canteen``, ``amenity=pharmacy``,
  ``leisure=park``, ``leisure=pitch``, ``amenity=school``,
  ``amenity=clinic``, ``amenity=bank``, ``shop=supermarket``);
- residential compounds (``landuse=residential`` closed ways, named), most
  holding a few ``building=apartments`` footprints with ``building:levels``,
  some without buildings (scored over their area);

written as a sorted ``.osm.pbf`` (nodes, then ways, by id) with pyosmium, so
``osmium extract`` can read it. The city's bounding box is cut into
``cols`` x ``rows`` districts along slightly bent lines; their polygons (in
EPSG:4326, column ``name``) are written as a GeoPackage.

Used by ``tests/test_batch.py`` and ``bench/batch_bench.py``::

    python bench/region.py --nodes 6000 --districts 3x2 --out /tmp/region
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from grid import CRS, Grid, make_grid  # noqa: E402

#: Tags of the generated facilities, per category of the 10-minute level.
POI_TAGS = {
    "canteen": {"amenity": "canteen", "name": "社区食堂"},
    "pharmacy": {"amenity": "pharmacy", "name": "Pharmacy"},
    "park": {"leisure": "park", "name": "Park"},
    "sports": {"leisure": "pitch", "sport": "multi", "name": "Pitch"},
    "school": {"amenity": "school", "name": "Primary school 小学"},
    "clinic": {"amenity": "clinic", "name": "Clinic"},
    "bank": {"amenity": "bank", "name": "Bank"},
    "market": {"shop": "supermarket", "name": "Market 菜市场"},
}
# facilities per street node, per category (the order of POI_TAGS)
_POI_RATE = (0.05, 0.04, 0.05, 0.05, 0.02, 0.04, 0.03, 0.03)
_HIGHWAY = ("residential", "tertiary", "footway", "secondary")

#: District names: Chinese district names exercise non-ASCII folder names.
DISTRICT_NAMES = ("东城区", "西城区", "南湖区", "北山区", "Harbour", "Old Town", "新区", "River's End",
                  "高新区", "Lakeside", "老城区", "Airport")


@dataclass
class Region:
    """Paths and shape of a generated region."""

    osm: Path
    districts: Path
    names: list[str]
    n_nodes: int
    n_compounds: int
    n_pois: int


def _lonlat(xy: np.ndarray) -> np.ndarray:
    from pyproj import Transformer

    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _squares(centre: np.ndarray, half: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(k, 4, 2) corners of rotated squares, counter-clockwise."""
    unit = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=float)
    c, s = np.cos(angle), np.sin(angle)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (k, 2, 2)
    pts = unit[None, :, :] * half[:, None, None]
    return centre[:, None, :] + np.einsum("kij,kpj->kpi", rot, pts)


def _compounds(grid: Grid, rng: np.random.Generator, per_node: float, without: float = 0.12):
    """Residential compounds (squares next to street nodes) and their buildings (projected).

    A share ``without`` of them (on average) has no buildings.
    """
    k = max(6, int(round(per_node * grid.n)))
    at = rng.choice(grid.n, size=k, replace=False)
    half = rng.uniform(25, 55, k)
    angle = rng.uniform(-0.2, 0.2, k)
    # set the compound back into the block, off the street corner
    centre = grid.xy[at] + np.column_stack([half + 8, half + 8]) * np.sign(rng.uniform(-1, 1, (k, 2)))
    outline = _squares(centre, half, angle)
    buildings = []
    owner = []
    for i in range(k):
        if rng.random() < without:  # no buildings: scored over its area
            continue
        nb = int(rng.integers(1, 6))
        off = rng.uniform(-0.6, 0.6, (nb, 2)) * half[i]
        b = _squares(centre[i] + off, np.full(nb, rng.uniform(6, 10)), np.full(nb, angle[i]))
        buildings.append(b)
        owner.extend([i] * nb)
    buildings = np.concatenate(buildings) if buildings else np.empty((0, 4, 2))
    return outline, buildings, np.array(owner, dtype=int)


def _district_polygons(xy: np.ndarray, cols: int, rows: int, rng: np.random.Generator):
    """Polygons (projected) cutting the bounding box of ``xy`` into cols x rows districts.

    Inner borders are bent lines (a sine wobble), shared exactly by both
    neighbours, so the districts tile the box without gaps or overlaps.
    """
    import shapely

    x0, y0 = xy.min(axis=0) - 30
    x1, y1 = xy.max(axis=0) + 30
    xs = np.linspace(x0, x1, cols + 1)
    ys = np.linspace(y0, y1, rows + 1)
    steps = 24
    amp_x, amp_y = (x1 - x0) / cols * 0.08, (y1 - y0) / rows * 0.08
    phase = rng.uniform(0, 2 * np.pi, cols + rows + 2)

    def vline(i: int, ya: float, yb: float) -> np.ndarray:
        t = np.linspace(ya, yb, steps)
        wob = 0 * t if i in (0, cols) else amp_x * np.sin((t - y0) / (y1 - y0) * 3 * np.pi + phase[i])
        return np.column_stack([xs[i] + wob, t])

    def hline(j: int, xa: float, xb: float) -> np.ndarray:
        t = np.linspace(xa, xb, steps)
        wob = 0 * t if j in (0, rows) else amp_y * np.sin((t - x0) / (x1 - x0) * 3 * np.pi + phase[cols + 1 + j])
        return np.column_stack([t, ys[j] + wob])

    polys = []
    for j in range(rows):
        for i in range(cols):
            # a cell bounded by its four (possibly bent) lines: intersect the half-planes
            cell = shapely.box(x0 - 1e4, y0 - 1e4, x1 + 1e4, y1 + 1e4)
            for line, keep_right in ((vline(i, y0 - 1e4, y1 + 1e4), True), (vline(i + 1, y0 - 1e4, y1 + 1e4), False)):
                side = x0 - 2e4 if not keep_right else x1 + 2e4
                ring = np.vstack([line, [[side, line[-1, 1]], [side, line[0, 1]]]])
                cell = cell.intersection(shapely.Polygon(ring))
            for line, keep_up in ((hline(j, x0 - 1e4, x1 + 1e4), True), (hline(j + 1, x0 - 1e4, x1 + 1e4), False)):
                side = y1 + 2e4 if keep_up else y0 - 2e4
                ring = np.vstack([line, [[line[-1, 0], side], [line[0, 0], side]]])
                cell = cell.intersection(shapely.Polygon(ring))
            polys.append(cell.intersection(shapely.box(x0, y0, x1, y1)))
    return polys


def make_region(folder: str | Path, target_nodes: int = 6000, cols: int = 3, rows: int = 2, seed: int = 42,
                compounds_per_node: float = 0.06, poi_scale: float = 1.0, without_buildings: float = 0.12) -> Region:
    """Write ``region.osm.pbf`` and ``districts.gpkg`` into ``folder``; return their paths.

    Parameters
    ----------
    folder
        Output folder (created).
    target_nodes
        Street nodes of the whole city (:func:`grid.make_grid`).
    cols, rows
        The city's box is cut into ``cols`` x ``rows`` districts.
    seed
        Seed of the streets and of everything on them.
    compounds_per_node
        Residential compounds per street node.
    poi_scale
        Facilities per street node, as a multiple of the default rates.
    without_buildings
        Share of compounds (on average) without buildings: 1 for none with any.
    """
    import geopandas as gpd
    import osmium

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grid = make_grid(target_nodes, seed=seed)
    rng = np.random.default_rng(seed + 1)

    # ---- nodes: street nodes, bend points, facilities, compound and building corners
    street_ll = _lonlat(grid.xy)
    bent = np.flatnonzero(~np.isnan(grid.mid[:, 0]))
    bend_ll = _lonlat(grid.mid[bent]) if len(bent) else np.empty((0, 2))
    p = grid.length / grid.length.sum()
    pois_xy, pois_tags = [], []
    for tags, rate in zip(POI_TAGS.values(), _POI_RATE):
        k = max(3, int(round(rate * poi_scale * grid.n)))
        e = rng.choice(grid.m, size=k, p=p)
        frac = rng.random(k)
        a, b = grid.xy[grid.u[e]], grid.xy[grid.v[e]]
        on = a + (b - a) * frac[:, None]
        ang = rng.uniform(0, 2 * np.pi, k)
        leg = rng.uniform(3, 25, k)
        pois_xy.append(on + np.column_stack([np.cos(ang), np.sin(ang)]) * leg[:, None])
        pois_tags.extend({**tags, "name": f"{tags['name']} {i + 1}"} for i in range(k))
    pois_ll = _lonlat(np.concatenate(pois_xy))
    outline, buildings, _owner = _compounds(grid, rng, compounds_per_node, without_buildings)
    outline_ll = _lonlat(outline.reshape(-1, 2)).reshape(-1, 4, 2)
    buildings_ll = _lonlat(buildings.reshape(-1, 2)).reshape(-1, 4, 2) if len(buildings) else buildings

    path = folder / "region.osm.pbf"
    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    mut = osmium.osm.mutable
    nid = 0

    def node(lon: float, lat: float, tags: dict | None = None) -> int:
        nonlocal nid
        nid += 1
        writer.add_node(mut.Node(id=nid, location=(float(lon), float(lat)), version=1, tags=tags or {}))
        return nid

    try:
        street_ids = np.array([node(*ll) for ll in street_ll])
        bend_ids = dict(zip(bent.tolist(), [node(*ll) for ll in bend_ll]))
        for ll, tags in zip(pois_ll, pois_tags):
            node(*ll, tags)
        ring_ids = [[node(*c) for c in sq] for sq in outline_ll]
        bld_ids = [[node(*c) for c in sq] for sq in buildings_ll]

        wid = 0
        for i in range(grid.m):
            wid += 1
            refs = [int(street_ids[grid.u[i]])]
            if i in bend_ids:
                refs.append(bend_ids[i])
            refs.append(int(street_ids[grid.v[i]]))
            hw = _HIGHWAY[i % 7 % 4]
            tags = {"highway": hw}
            if hw != "footway":
                tags["name"] = f"Street {i % 97 + 1}"
            writer.add_way(mut.Way(id=wid, nodes=refs, version=1, tags=tags))
        for i, ring in enumerate(ring_ids):
            wid += 1
            writer.add_way(mut.Way(id=wid, nodes=ring + ring[:1], version=1,
                                   tags={"landuse": "residential", "name": f"Compound {i + 1}"}))
        for ring in bld_ids:
            wid += 1
            levels = str(int(rng.integers(2, 12)))
            writer.add_way(mut.Way(id=wid, nodes=ring + ring[:1], version=1,
                                   tags={"building": "apartments", "building:levels": levels}))
    finally:
        writer.close()

    polys = _district_polygons(grid.xy, cols, rows, rng)
    names = [DISTRICT_NAMES[i % len(DISTRICT_NAMES)] + ("" if i < len(DISTRICT_NAMES) else f" {i}")
             for i in range(len(polys))]
    districts = gpd.GeoDataFrame({"name": names, "code": [f"D{i + 1:02d}" for i in range(len(polys))]},
                                 geometry=polys, crs=CRS).to_crs("EPSG:4326")
    gpkg = folder / "districts.gpkg"
    gpkg.unlink(missing_ok=True)
    districts.to_file(gpkg, layer="districts", driver="GPKG")
    return Region(osm=path, districts=gpkg, names=names, n_nodes=grid.n, n_compounds=len(outline),
                  n_pois=len(pois_tags))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=6000, help="street nodes of the city (default 6000)")
    ap.add_argument("--districts", default="3x2", help="COLSxROWS (default 3x2: six districts)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args(argv)
    cols, rows = (int(x) for x in args.districts.lower().split("x"))
    r = make_region(args.out, args.nodes, cols, rows, seed=args.seed)
    print(f"{r.osm} ({r.n_nodes:,} street nodes, {r.n_compounds} compounds, {r.n_pois} facilities); "
          f"{r.districts} ({len(r.names)} districts)")


if __name__ == "__main__":
    main()

"""Gap areas of communities without homes, traced community by community.

The reference is the definition before issue 15: one district-wide reach
polygon per category (:func:`reach_polygon`), then ``shapely.difference`` of
every community with it. :class:`ReachArea` traces the same raster only in a
window around each community, so the areas must agree to floating-point
rounding: the outlines have the same vertices (cell coordinates are computed
from the district raster's origin), only the overlay runs on smaller rings.
Tolerance: 1e-6 m² plus 1e-9 of the polygon's area of symmetric difference,
i.e. rounding of coordinates of some 1e6 m, nowhere near a visible sliver.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

import lifecircle
from lifecircle import pipeline
from lifecircle.core.isochrones import ReachArea, reach_polygon

ROOT = Path(__file__).resolve().parents[1]


def reference_outside(net, node_metres, limit, points, polygons):
    """Before issue 15: a district-wide reach polygon, then one difference with every community."""
    return shapely.difference(polygons, reach_polygon(net, node_metres, limit, points))


def _tolerance(polygons):
    return 1e-6 + 1e-9 * shapely.area(polygons)


def _compare(study, polygons):
    """Both definitions for every category; returns (polygons partly out of reach, fully out) over all."""
    partly = fully = 0
    for cat in study.cfg.categories:
        points, rows = study.access.of(study.facilities["category"].values == cat.key)
        reach = pipeline._walk(study, points, rows)
        limit = study.cfg.limit_m(cat.key)
        new = ReachArea(study.net, reach.node_metres, limit, points).outside(polygons)
        ref = reference_outside(study.net, reach.node_metres, limit, points, polygons)
        sym = shapely.area(shapely.symmetric_difference(new, ref))
        assert (sym <= _tolerance(polygons)).all(), (cat.key, sym.max())
        out = shapely.area(ref)
        partly += int(((out > 1) & (out < shapely.area(polygons) - 1)).sum())
        fully += int((out >= shapely.area(polygons) - 1).sum())
    return partly, fully


def _squares(bounds, sizes, step):
    """Squares of the given sizes centred on a regular grid over ``bounds``."""
    x0, y0, x1, y1 = bounds
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    centres = np.column_stack([xs.ravel(), ys.ravel()])
    half = np.resize(np.asarray(sizes, float), len(centres)) / 2
    return shapely.box(*(centres - half[:, None]).T, *(centres + half[:, None]).T)


def test_bundled_extract_same_areas_as_district_polygon(analysis):
    """Real communities and squares of 30-800 m all over central Helsinki, every category."""
    study = analysis.study
    bounds = (*study.net.xy.min(axis=0), *study.net.xy.max(axis=0))
    polygons = np.concatenate([study.communities.geometry.values,
                               _squares(bounds, [30, 120, 800, 60, 300], 170.0)])
    partly, fully = _compare(study, polygons)
    # the comparison covers partial gaps, not only all-or-nothing ones
    assert partly > 100 and fully > 10


def _bench_region():
    spec = importlib.util.spec_from_file_location("lifecircle_bench_region", ROOT / "bench" / "region.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def homeless_city(tmp_path_factory):
    """A small generated city whose compounds have no buildings, and facilities sparse."""
    region = _bench_region().make_region(tmp_path_factory.mktemp("city"), target_nodes=3000, cols=1, rows=1,
                                         compounds_per_node=0.03, poi_scale=0.15, without_buildings=1.0)
    return lifecircle.analyze(region.osm)


def test_generated_city_gap_layer_is_the_district_difference(homeless_city):
    """analyze's "area" gaps are the district-wide differences, community by community."""
    a = homeless_city
    study, comms = a.study, a.communities
    assert (comms["n_buildings"] == 0).all() and len(comms) > 50
    areas = a.gaps[a.gaps["kind"] == "area"]
    checked = 0
    for cat in study.cfg.categories:
        key = cat.key
        points, rows = study.access.of(study.facilities["category"].values == key)
        reach = pipeline._walk(study, points, rows)
        polys = comms.geometry.values
        ref = reference_outside(study.net, reach.node_metres, cfg_limit(study, key), points, polys)
        # communities fully in reach (share 1) get no row
        ref = np.where(comms[f"share_{key}"].values < 1, ref, shapely.Polygon())
        mine = areas[areas["category"] == key]
        got = dict(zip(mine["community_id"], mine.geometry.values))
        got = np.array([got.get(cid, shapely.Polygon()) for cid in comms["community_id"]], dtype=object)
        sym = shapely.area(shapely.symmetric_difference(got, ref))
        assert (sym <= _tolerance(polys)).all(), (key, sym.max())
        checked += int((shapely.area(ref) > 1).sum())
    assert checked > 100


def cfg_limit(study, key):
    return study.cfg.limit_m(key)

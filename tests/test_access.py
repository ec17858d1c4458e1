"""Area facilities are entered where the streets meet them: where walkable ways cross or touch
their outline, at their mapped entrances, and from points along the outline close enough that a
finer spacing moves no walk by more than 5 m (on the bundled extract)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import lifecircle
from lifecircle import settings
from lifecircle.core.engine import snap_points
from lifecircle.core.network import StreetNetwork
from lifecircle.facilities import access_points


@pytest.fixture(scope="module")
def osm(bundled_osm):
    return lifecircle.read_osm(bundled_osm)


def _walks(osm, spacing: float):
    old = settings.access_spacing_m
    settings.access_spacing_m = spacing
    try:
        a = lifecircle.analyze(osm)
    finally:
        settings.access_spacing_m = old
    study = a.study
    # every origin's walk to every category (homes, area points and centres), not only the centres'
    from lifecircle.pipeline import _walk

    out = {}
    for key in a.config.keys:
        points, rows = study.access.of(study.facilities["category"].to_numpy() == key)
        out[key] = _walk(study, points, rows).metres
    return a, out


def test_a_finer_spacing_moves_no_walk_by_more_than_5_m(osm):
    default, coarse = _walks(osm, settings.access_spacing_m)
    _, fine = _walks(osm, 1.0)
    moved = 0.0
    compared = 0
    for key in default.config.keys:
        a, b = coarse[key], fine[key]
        both = np.isfinite(a) & np.isfinite(b)
        assert (np.isfinite(a) == np.isfinite(b)).all(), key
        if both.any():
            moved = max(moved, float(np.max(np.abs(a[both] - b[both]))))
            compared += int(both.sum())
    assert compared > 300
    assert moved <= 5.0, moved
    # and the old spacing (at most 64 points 50 m apart) did move walks by more
    _, sparse = _walks(osm, 50.0)
    with np.errstate(invalid="ignore"):  # unreachable in both: inf - inf, left out by nanmax
        worst = max(float(np.nanmax(np.abs(sparse[k] - fine[k]))) for k in default.config.keys
                    if np.isfinite(fine[k]).any())
    assert worst > 5.0


def test_areas_are_entered_where_walkable_ways_cross_their_outline(osm):
    net = StreetNetwork.from_walk(osm.walk)
    feats = osm.features.to_crs(net.crs)
    parks = feats[feats["tags"].map(lambda t: t.get("leisure") == "park") & feats.geom_type.isin(
        ["Polygon", "MultiPolygon"])]
    crossed = 0
    for geom in parks.geometry:
        pts, _ = access_points(np.array([geom], dtype=object), net, spacing_m=1e9)  # (4 outline points)
        ring = shapely.boundary(shapely.normalize(geom))
        meets = shapely.intersection(net.geoms[net.tree.query(ring, predicate="intersects")], ring)
        want = np.unique(np.round(shapely.get_coordinates(meets), 3), axis=0)
        got = shapely.get_coordinates(pts)
        for xy in want:  # each crossing is an access point, on a street: a leg of 0 m
            assert np.hypot(*(got - xy).T).min() < 1e-6
        if len(want):
            snapped = snap_points(net, shapely.points(want), 200.0)
            assert np.nanmax(snapped.leg) < 1e-3
            crossed += 1
    assert crossed >= 3  # the extract's parks have footpaths through them


def test_mapped_entrances_are_access_points(osm):
    net = StreetNetwork.from_walk(osm.walk)
    square = shapely.box(0, 0, 100, 100)
    on_edge = shapely.points([[50, 0.5], [100.5, 40]])  # entrances a metre off the outline
    far = shapely.points([[50, 30]])  # inside, 30 m from every side: not an entrance of the outline
    pts, owner = access_points(np.array([square], dtype=object), None, np.concatenate([on_edge, far]),
                               spacing_m=1e9)
    xy = shapely.get_coordinates(pts)
    assert any(np.allclose(p, [50, 0.5]) for p in xy) and any(np.allclose(p, [100.5, 40]) for p in xy)
    assert not any(np.allclose(p, [50, 30]) for p in xy)
    assert (owner == 0).all()
    assert net is not None

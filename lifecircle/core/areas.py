"""Areas cut by the extract's boundary, closed along it (numpy and shapely only)."""

from __future__ import annotations

import numpy as np
import shapely

NO_POINTS = "cut by the extract's boundary; fewer than 3 of its points are inside"
NO_AREA = "cut by the extract's boundary; what is inside encloses no area"


def polygon_parts(geom: shapely.Geometry) -> np.ndarray:
    """The polygons with area in any geometry (collections flattened)."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    parts = parts[shapely.get_type_id(parts) == 3]
    return parts[shapely.area(parts) > 0]


def close_runs(runs: shapely.Geometry | None) -> tuple[shapely.MultiPolygon | None, str]:
    """Close the visible node runs of a clipped closed way into a polygon.

    Parameters
    ----------
    runs
        The runs (a MultiLineString, in way order) of the way's nodes that
        are in the file.

    Returns
    -------
    polygon
        A valid MultiPolygon in the CRS of ``runs``, or None.
    reason
        Why it could not be closed ("" when it could).

    Notes
    -----
    Consecutive runs (and the last back to the first) are joined by straight
    chords. The nodes in between are outside the extract, so the chords run
    along its edge, just inside it: the result is the part of the area
    inside the extract, less the slivers between the last nodes inside and
    the edge itself. ``make_valid`` mends a ring whose chords cross.
    """
    xy = shapely.get_coordinates(runs) if runs is not None else np.empty((0, 2))
    if len(np.unique(xy, axis=0)) < 3:
        return None, NO_POINTS
    ring = np.vstack([xy, xy[:1]])
    parts = polygon_parts(shapely.make_valid(shapely.Polygon(ring)))
    if len(parts) == 0:
        return None, NO_AREA
    return shapely.MultiPolygon(list(parts)), ""

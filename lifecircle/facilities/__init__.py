"""Facilities: which features count for which category, and why.

The facilities *register* lists every feature that a category's rules put
forward, counted or not, with the rule that decided: tags and the name's
grammar (:meth:`lifecircle.config.Category.judge`), where the feature stands
(:mod:`.context`: inside a hospital, a campus, a compound), its size, the
planner's other sources merged in (:mod:`.merge`) and the planner's review
(:mod:`.review`). The counted rows are the facilities walks are measured to;
:mod:`.access` says where each is entered from the street.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd

from ..config import Config
from .access import access_points, display_points
from .classify import POI_COLUMNS, REGISTER_COLUMNS, classify, counted, empty_register
from .merge import merge_pois, merge_sources, names_similar, user_rows
from .review import Decision, ReviewSummary, apply_review, read_review

__all__ = [
    "POI_COLUMNS", "REGISTER_COLUMNS", "Decision", "ReviewSummary", "access_points", "apply_review",
    "build_register", "categorize", "classify", "counted", "display_points", "empty_register", "merge_pois",
    "merge_sources", "names_similar", "read_review", "user_rows",
]


def _as_list(user: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | None) -> list[gpd.GeoDataFrame]:
    if user is None:
        return []
    return list(user) if isinstance(user, (list, tuple)) else [user]


def build_register(features: gpd.GeoDataFrame, cfg: Config, crs: Any,
                   user: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | None = None,
                   mode: str = "add", decisions: list[Decision] | None = None,
                   review_file: str = "") -> tuple[gpd.GeoDataFrame, ReviewSummary, dict[str, int]]:
    """The whole register of a run: OSM's features classified, the planner's files merged, the review applied.

    Parameters
    ----------
    features
        The OSM features table (EPSG:4326).
    cfg
        The run's categories.
    crs
        The projected CRS of the result.
    user
        The planner's facilities (the ``pois`` contract, e.g. from
        :func:`lifecircle.sources.userpois.read_user_pois`), a list of such frames (a file,
        then a place search: :func:`lifecircle.sources.places.search`), or None. Each is
        merged into what came before it, duplicates matched by distance and name.
    mode
        "add" (duplicates merged) or "replace" (the first file replaces OSM for its categories).
    decisions, review_file
        The planner's review (:func:`read_review`) and the file it came from.

    Returns
    -------
    register, summary, merge counts
        The register (:data:`REGISTER_COLUMNS`, in ``crs``, sorted by category and id),
        what the review did (:class:`ReviewSummary`) and what the merge did
        (``merged``, ``conflicts``, ``added``).
    """
    register = classify(features, cfg, crs)
    merged = {"merged": 0, "conflicts": 0, "added": 0}
    for k, frame in enumerate(_as_list(user)):
        # the first file may replace OSM's facilities; later sources (a place search) add to it
        source = str(frame.attrs.get("source", "user"))
        register, counts = merge_sources(register, user_rows(frame, cfg, crs, source), mode=mode if k == 0 else "add")
        merged = {name: merged[name] + counts[name] for name in merged}
    summary = ReviewSummary()
    if decisions is not None:
        register, summary = apply_review(register, decisions, review_file)
    summary.added = merged["added"]
    register = register.sort_values(["category", "poi_id"], kind="stable").reset_index(drop=True)
    return register, summary, merged


def categorize(features: gpd.GeoDataFrame, cfg: Config, crs: Any = None) -> gpd.GeoDataFrame:
    """The counted facilities of ``features`` (the ``pois`` contract), in the features' CRS.

    :func:`classify` measures containment and areas in ``crs`` (default: the local UTM zone).
    """
    if crs is None:
        import shapely

        from ..sources.coords import local_utm

        crs = local_utm(shapely.box(*features.to_crs("EPSG:4326").total_bounds)) if len(features) else "EPSG:3857"
    found = counted(classify(features, cfg, crs))
    return found.to_crs(features.crs) if features.crs is not None else found

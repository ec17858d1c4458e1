"""Walkable way pieces as a reader hands them over: flat arrays, numpy only.

Apart from :mod:`lifecircle.core.network` so that reading a file (in the
command's read-ahead process) imports neither scipy nor pyproj.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any, Iterable

import numpy as np


@dataclass
class WalkPieces:
    """Walkable way pieces as flat arrays: what :func:`lifecircle.core.network.build_walk_graph`
    takes, without a Python tuple per node.

    Attributes
    ----------
    osmid
        Way id of each piece (a clipped way gives several pieces).
    tags
        Way tags of each piece.
    start
        Piece i holds node references ``start[i]:start[i + 1]``.
    ids, lon, lat
        OSM node id and location of each node reference.
    names
        The ``name`` tag (a str) of each piece, None where it has none; or
        None, and the names are looked up in ``tags``. A reader that has
        each way's tags at hand passes them: that saves a pass over a
        city's 100,000 tag dicts.
    """

    osmid: np.ndarray
    tags: list[dict[str, str]]
    start: np.ndarray
    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    names: list[Any] | None = None

    @classmethod
    def from_ways(cls, ways: Iterable[dict[str, Any]]) -> "WalkPieces":
        """Pack way pieces (``osmid``, ``tags``, ``nodes`` as [(id, lon, lat)])."""
        ways = list(ways)
        sizes = np.fromiter((len(w["nodes"]) for w in ways), np.int64, len(ways))
        # one pass in C over the (id, lon, lat) tuples
        flat = np.array(list(chain.from_iterable(w["nodes"] for w in ways)),
                        dtype=[("id", np.int64), ("lon", float), ("lat", float)]).reshape(-1)
        return cls(
            osmid=np.fromiter((w["osmid"] for w in ways), np.int64, len(ways)),
            tags=[w["tags"] for w in ways], start=np.concatenate([[0], np.cumsum(sizes)]),
            ids=flat["id"].copy(), lon=flat["lon"].copy(), lat=flat["lat"].copy(),
        )

    def ways(self) -> list[dict[str, Any]]:
        """The pieces as :func:`lifecircle.core.network.build_walk_graph` takes them."""
        ids, lon, lat = self.ids.tolist(), self.lon.tolist(), self.lat.tolist()
        return [
            {"osmid": int(w), "tags": tags, "nodes": list(zip(ids[a:b], lon[a:b], lat[a:b]))}
            for w, tags, a, b in zip(self.osmid.tolist(), self.tags, self.start[:-1].tolist(),
                                     self.start[1:].tolist())
        ]

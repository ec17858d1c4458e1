"""Shared fixtures: the bundled real extract and one analysis of it."""

from __future__ import annotations

from pathlib import Path

import pytest

BUNDLED_OSM = Path(__file__).resolve().parents[1] / "data" / "helsinki-centre.osm.pbf"


@pytest.fixture(scope="session")
def bundled_osm() -> Path:
    """Path of the bundled central-Helsinki extract (.osm.pbf)."""
    assert BUNDLED_OSM.exists(), f"bundled extract missing: {BUNDLED_OSM}"
    return BUNDLED_OSM


@pytest.fixture(scope="session")
def analysis(bundled_osm):
    """``lifecircle.analyze()`` on the bundled extract (default 10-minute level)."""
    import lifecircle

    return lifecircle.analyze(bundled_osm)

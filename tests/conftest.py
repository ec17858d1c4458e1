"""Shared fixtures: the bundled real extract and one analysis of it."""

from __future__ import annotations

from pathlib import Path

import pytest

BUNDLED_OSM = Path(__file__).resolve().parents[1] / "data" / "helsinki-centre.osm.pbf"

#: An OSM XML extract with a building, a pharmacy, a cycleway and a private
#: road: nothing a pedestrian may walk on.
NO_STREETS_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" version="1" lat="60.1700" lon="24.9400"/>
  <node id="2" version="1" lat="60.1700" lon="24.9410"/>
  <node id="3" version="1" lat="60.1705" lon="24.9410"/>
  <node id="4" version="1" lat="60.1705" lon="24.9400"/>
  <node id="5" version="1" lat="60.1702" lon="24.9405">
    <tag k="amenity" v="pharmacy"/>
  </node>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="apartments"/>
  </way>
  <way id="11" version="1">
    <nd ref="1"/><nd ref="3"/>
    <tag k="highway" v="cycleway"/>
  </way>
  <way id="12" version="1">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="residential"/><tag k="access" v="private"/>
  </way>
</osm>
"""


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


#: Debian's chromium, driven by playwright without its own browser download (NOTES.md).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the map tests (one per test module)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()

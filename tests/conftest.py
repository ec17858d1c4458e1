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


class _BundledRuns:
    """`lifecircle analyze --lang L` on the bundled extract, in a real process: run once per
    language and session, read by every test of the command's files and lines."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done: dict = {}

    def __getitem__(self, lang: str):
        import subprocess
        import sys

        if lang not in self.done:
            out = self.folder / lang / "out"
            proc = subprocess.run([sys.executable, "-m", "lifecircle.cli", "analyze", "--lang", lang, "--out", out],
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stderr
            self.done[lang] = proc, out
        return self.done[lang]


@pytest.fixture(scope="session")
def bundled_runs(tmp_path_factory) -> _BundledRuns:
    """``bundled_runs[lang]``: (the finished process, its output folder); read, never written."""
    return _BundledRuns(tmp_path_factory.mktemp("bundled-runs"))


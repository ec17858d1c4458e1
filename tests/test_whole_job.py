"""The whole job's plumbing (issue 15): --verbose step times and the GeoPackage written without per-commit syncs."""

from __future__ import annotations

import re
import sqlite3
import time

import geopandas as gpd
import pyogrio
import shapely

from lifecircle.cli import run

LAYERS = ("communities", "pois", "isochrones", "gaps", "routes")


def test_gpkg_keeps_full_detail_and_gdal_settings(analysis, tmp_path):
    """Every layer comes back with every row and vertex; SQLite is consistent; GDAL's sync setting is restored."""
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    analysis.save(tmp_path / "out")
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") == before
    path = tmp_path / "out" / "lifecircle.gpkg"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for layer in LAYERS:
        mine = getattr(analysis, layer).to_crs("EPSG:4326")
        back = gpd.read_file(path, layer=layer)
        assert len(back) == len(mine) > 0, layer
        assert shapely.get_num_coordinates(back.geometry.values).sum() == \
            shapely.get_num_coordinates(mine.geometry.values).sum(), layer
        assert shapely.equals_exact(back.geometry.values, mine.geometry.values, tolerance=1e-9).all(), layer


def test_verbose_prints_step_times_that_add_up(tmp_path, capsys):
    t0 = time.perf_counter()
    assert run(["analyze", "--out", str(tmp_path / "out"), "--quiet", "--verbose"]) == 0
    wall = time.perf_counter() - t0
    err = capsys.readouterr().err
    block = err[err.index("step times (s):"):].splitlines()[1:]
    rows = [re.match(r"^\s+([\d.]+)\s+(.+)$", line).groups() for line in block]
    names = [name for _, name in rows]
    assert names[0] == "checking options, loading libraries" and names[-1] == "total"
    assert "reading OSM data" in names and any(n.startswith("writing outputs") for n in names)
    assert sum(n.startswith("walking distances to ") for n in names) == 8  # one per category of the 10-minute level
    seconds = [float(s) for s, _ in rows]
    # each row rounds to 0.01 s; the steps tile the run, so they add up to the total
    assert abs(sum(seconds[:-1]) - seconds[-1]) <= 0.005 * len(rows)
    assert 0 < seconds[-1] <= wall


def _cli(*args, cwd=None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "lifecircle.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_outputs_written_alongside_are_the_serial_ones(analysis, tmp_path):
    """The command writes the report's half in a forked process: every file is the
    same, byte for byte, as a library save that writes one file after the other."""
    from lifecircle import settings

    assert settings.parallel_outputs is False  # a library call never forks
    analysis.save(tmp_path / "serial")
    proc = _cli("analyze", "--out", tmp_path / "forked", "-q")
    assert proc.returncode == 0, proc.stderr
    serial = sorted(p.name for p in (tmp_path / "serial").iterdir())
    assert serial == sorted(p.name for p in (tmp_path / "forked").iterdir()) and "report.html" in serial
    for name in serial:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "forked" / name).read_bytes(), name


SCRIPT = """
import sys
import lifecircle
from lifecircle import settings
from lifecircle.errors import ConfigError
from lifecircle.outputs import maps, report

settings.parallel_outputs = True
a = lifecircle.analyze()
if sys.argv[2] == "child":
    def fail(*args, **kwargs):
        raise ConfigError("no font for the overview: install fonts-noto-cjk")
    report.overview_png = fail  # inherited by the forked process, which fails
else:
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    maps.render_map = fail  # this process fails while the child writes
try:
    a.save(sys.argv[1])
except Exception as e:
    print(type(e).__name__, e)
"""


def test_a_failure_on_either_side_is_one_line_and_writes_nothing(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "save.py"
    script.write_text(SCRIPT)
    for side, expected in (("child", "ConfigError no font for the overview: install fonts-noto-cjk"),
                           ("parent", "OutputError")):
        out = tmp_path / side
        proc = subprocess.run([sys.executable, script, out, side], capture_output=True, text=True, timeout=300)
        assert proc.stdout.startswith(expected), (proc.stdout, proc.stderr)
        assert len(proc.stdout.strip().splitlines()) == 1
        # nothing moved into place, no staging folder left, and no child left behind
        assert not out.exists() or not any(out.iterdir()), sorted(p.name for p in out.iterdir())


FORKED = """
import os, signal, sys
from lifecircle import settings
from lifecircle.errors import InputFileError
from lifecircle.fileio import Forked
from lifecircle.i18n import Message

settings.parallel_outputs = True
print(Forked(lambda: {"pid": os.getpid(), "big": bytes(3_000_000)}, "testing").result()["pid"] != os.getpid())
def fail():
    raise InputFileError(Message("err_osm_not_found", path="x.pbf"))
try:
    Forked(fail, "testing").result()
except InputFileError as e:
    print(type(e.args[0]).__name__, e.args[0].text("zh"))
try:
    Forked(lambda: os.kill(os.getpid(), signal.SIGKILL), "reading the OSM file").result()
except Exception as e:
    print(type(e).__name__, e)
# the command's handlers are the parent's; a child ends on a signal and never forks again
signal.signal(signal.SIGTERM, lambda *a: None)
def inside():
    nested = Forked(os.getpid, "nested")
    return (signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, signal.getsignal(signal.SIGINT) is signal.SIG_DFL,
            nested.forked, nested.result() == os.getpid())
print(Forked(inside, "testing").result())
"""


def test_forked_work_returns_its_value_or_its_error(tmp_path):
    """A forked process's value comes back (larger than a pipe holds); its error comes back
    as the same class with the same message object (so in the run's language); a killed one is one line."""
    import subprocess
    import sys

    script = tmp_path / "forked.py"
    script.write_text(FORKED)
    proc = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "True",
        "Message 找不到 OSM 文件：x.pbf",
        "OutputError reading the OSM file failed: the process reading the OSM file stopped (signal 9)",
        "(True, True, False, True)",
    ]


def test_the_file_read_ahead_gives_the_library_analysis(tmp_path):
    """The command reads the OSM file in a forked process while it loads the analysis's
    libraries: its coverage is the library call's, and a corrupt file is still one line."""
    import lifecircle

    proc = _cli("analyze", "--out", tmp_path / "out", "-q")
    assert proc.returncode == 0, proc.stderr
    mine = (tmp_path / "out" / "coverage.csv").read_bytes()
    lifecircle.analyze().save(tmp_path / "lib")
    assert mine == (tmp_path / "lib" / "coverage.csv").read_bytes()
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all")
    proc = _cli("analyze", "--osm", bad, "--out", tmp_path / "bad", "-q")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("Error: ") and str(bad) in proc.stderr, proc.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())

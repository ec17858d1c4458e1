"""Tests for the ``lifecircle`` command, run as a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import NO_STREETS_XML

from lifecircle.cli import cli as click_group

TIMEOUT = 180


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lifecircle.cli", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
    )


def assert_one_error_line(proc, out_dir: Path):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error:"), proc.stderr
    assert not out_dir.exists() or not any(out_dir.iterdir()), sorted(out_dir.iterdir())
    return lines[0]


# ---------------------------------------------------------------------------
# help


@pytest.mark.parametrize("command", [None, *sorted(click_group.commands)])
def test_help(command):
    args = ["--help"] if command is None else [command, "--help"]
    proc = run(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage:")
    if command is None:
        for name in click_group.commands:
            assert name in proc.stdout
    else:
        for param in click_group.commands[command].params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in proc.stdout, f"{command} --help does not list {opt}"


# ---------------------------------------------------------------------------
# a full run


def test_analyze_writes_outputs(tmp_path, analysis):
    out = tmp_path / "out"
    proc = run("analyze", "--out", out, "-q", "--export-graph", tmp_path / "net" / "walk.graphml")
    assert proc.returncode == 0, proc.stderr
    check_exported_graph(tmp_path / "net" / "walk.graphml", analysis)
    assert "Traceback" not in proc.stderr
    for name in ("coverage.csv", "coverage.xlsx", "lifecircle.gpkg", "map.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "coverage.csv")
    # the command reports what the library computes (residents, an estimate, in whole people)
    buf = io.StringIO()
    analysis.coverage.to_csv(buf, index=False)
    buf.seek(0)
    want = pd.read_csv(buf)
    assert (table["residents"] - want["residents"]).abs().max() <= 0.5
    known = table["residents"].dropna()
    assert len(known) and (known == known.round()).all()
    pd.testing.assert_frame_equal(table.drop(columns="residents"), want.drop(columns="residents"))
    assert f"{len(analysis.communities)} communities" in proc.stdout
    # the summary states the basis: each category's distance and how many it covers
    cfg, cov = analysis.config, analysis.coverage
    lines = proc.stdout.splitlines()
    for key in cfg.keys:
        row = next(line.split() for line in lines if line.split()[:1] == [key])
        assert row[1:3] == [f"{cfg.limit_m(key):g}", "m"], row
        if key in analysis.no_data:  # no data: said so, never "0/19 covered"
            assert "no data, not judged" in " ".join(row), row
            continue
        assert row[-2] == f"{int(cov[f'covered_{key}'].sum())}/{len(cov)}", row
    assert "GB 50180-2018" in proc.stdout and ">= 50% of homes" in proc.stdout
    left = pd.read_csv(out / "left_out.csv")
    assert f"{len(left)} left out" in proc.stdout
    basis = pd.read_csv(out / "basis.csv")
    assert basis["category"].tolist() == cfg.keys
    assert basis["distance_m"].tolist() == [cfg.limit_m(k) for k in cfg.keys]


def check_exported_graph(path, analysis):
    """The GraphML holds the analysis's walk network: nodes, streets, lengths, CRS."""
    import osmnx as ox

    G, H = ox.load_graphml(path), analysis.graph
    assert G.graph["crs"] == H.graph["crs"]
    assert sorted(G.nodes) == sorted(H.nodes)
    assert sorted((u, v, d["length"]) for u, v, d in G.edges(data=True)) == \
        sorted((u, v, d["length"]) for u, v, d in H.edges(data=True))
    net = analysis.study.net
    assert {n: (d["x"], d["y"]) for n, d in G.nodes(data=True)} == dict(zip(net.nodes.tolist(), map(tuple, net.xy)))


def test_export_graph_bad_path_fails_before_the_run(tmp_path):
    out = tmp_path / "out"
    line = assert_one_error_line(run("analyze", "--out", out, "-q", "--export-graph", tmp_path / "walk.txt"), out)
    assert "walk.txt" in line and ".graphml" in line
    assert not (tmp_path / "walk.txt").exists()
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    line = assert_one_error_line(run("analyze", "--out", out, "-q", "--export-graph", blocker / "walk.gpkg"), out)
    assert "blocker" in line


def test_uniform_time_basis_and_min_share(tmp_path, bundled_osm):
    """--minutes judges every category at one walk; --min-share moves the flag."""
    import lifecircle

    out = tmp_path / "out"
    proc = run("analyze", "--out", out, "-q", "--minutes", "10", "--min-share", "0.9")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "coverage.csv")
    want = lifecircle.analyze(bundled_osm, config=lifecircle.load_config(minutes=10, min_share=0.9)).coverage
    for key in ("school", "park", "pharmacy"):
        assert (table[f"limit_m_{key}"] == 750).all()
        assert table[f"covered_{key}"].tolist() == want[f"covered_{key}"].tolist()
        assert (table[f"covered_{key}"] == (table[f"share_{key}"] >= 0.9)).all()
    assert "10 min at 4.5 km/h" in proc.stdout


# ---------------------------------------------------------------------------
# user errors: one line, non-zero status, nothing written


def test_missing_osm_file(tmp_path):
    out = tmp_path / "out"
    line = assert_one_error_line(run("analyze", "--osm", tmp_path / "absent.osm.pbf", "--out", out, "-q"), out)
    assert "absent.osm.pbf" in line


def test_corrupt_osm_file(tmp_path, bundled_osm):
    bad = tmp_path / "cut.osm.pbf"
    data = bundled_osm.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    assert_one_error_line(run("analyze", "--osm", bad, "--out", out, "-q"), out)


def test_random_bytes_osm_file(tmp_path):
    bad = tmp_path / "noise.osm.pbf"
    bad.write_bytes(bytes(range(256)) * 40)
    out = tmp_path / "out"
    assert_one_error_line(run("analyze", "--osm", bad, "--out", out, "-q"), out)


def test_unknown_category_in_use(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('use = ["nope"]\n', encoding="utf-8")
    out = tmp_path / "out"
    line = assert_one_error_line(run("analyze", "--config", cfg, "--out", out, "-q"), out)
    assert "nope" in line


def test_new_category_without_tags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('use = ["nope"]\n\n[categories.nope]\nlabel_en = "Nope"\n', encoding="utf-8")
    out = tmp_path / "out"
    line = assert_one_error_line(run("analyze", "--config", cfg, "--out", out, "-q"), out)
    assert "nope" in line


def test_no_walkable_ways(tmp_path):
    osm = tmp_path / "empty.osm"
    osm.write_text(NO_STREETS_XML, encoding="utf-8")
    out = tmp_path / "out"
    assert_one_error_line(run("analyze", "--osm", osm, "--out", out, "-q"), out)


def test_communities_without_name_column(tmp_path):
    ring = [[24.935, 60.165], [24.945, 60.165], [24.945, 60.170], [24.935, 60.170], [24.935, 60.165]]
    gj = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"value": 3},
         "geometry": {"type": "Polygon", "coordinates": [ring]}},
    ]}
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(gj), encoding="utf-8")
    out = tmp_path / "out"
    line = assert_one_error_line(run("analyze", "--communities", path, "--out", out, "-q"), out)
    assert "name" in line


def test_error_without_quiet_has_no_traceback(tmp_path):
    # progress lines may precede it, but exactly one line is the error
    out = tmp_path / "out"
    proc = run("analyze", "--osm", tmp_path / "absent.osm", "--out", out)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert sum(line.startswith("Error:") for line in proc.stderr.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())

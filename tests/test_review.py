"""The planner corrects, the tool remembers: a review round trip on the bundled extract.

The planner drops one facility, moves one to another category and adds one from a file of
their own (a civil-affairs list of meal points). The run with ``--review`` and ``--pois``
changes exactly those categories' numbers, and those numbers equal an independent
computation: networkx's Dijkstra from the facility set as the planner left it, to every home.
"""

from __future__ import annotations

import html
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import lifecircle
from lifecircle.errors import InputFileError
from lifecircle.facilities import apply_review, read_review

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_pipeline import EPS, Reference  # noqa: E402

# one worker runs every test here: the module's shared runs happen once (pytest --dist loadgroup)
pytestmark = pytest.mark.xdist_group("review")

DROP = ("node/6049453002", "pharmacy")  # Erottajan Apteekki
MOVE = ("node/299983963", "market", "pharmacy")  # S-Market Kasarmitori: its pharmacy counter, not its food
ADD = (24.9465, 60.1705, "Kaisaniemen palvelutalon ruokailu")  # a meal point the city lists


@pytest.fixture(scope="module")
def runs(tmp_path_factory, bundled_osm):
    folder = tmp_path_factory.mktemp("review")
    base = lifecircle.analyze(bundled_osm, level="15min")
    base.save(folder / "before")
    table = pd.read_csv(folder / "before" / "facilities.csv", dtype=str, keep_default_na=False,
                        encoding="utf-8-sig")
    table.loc[(table["poi_id"] == DROP[0]) & (table["category"] == DROP[1]), "decision"] = "删除"
    moved = (table["poi_id"] == MOVE[0]) & (table["category"] == MOVE[1])
    table.loc[moved, ["decision", "new_category"]] = ["move", MOVE[2]]
    table.loc[len(table)] = {**dict.fromkeys(table.columns, ""), "poi_id": "way/1", "category": "park",
                             "decision": "keep"}  # a facility no longer in the data
    table.to_csv(folder / "review.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"name": [ADD[2]], "lon": [ADD[0]], "lat": [ADD[1]], "category": ["canteen"]}).to_csv(
        folder / "meals.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "lifecircle.cli", "analyze", "--level", "15min", "--review", folder / "review.csv",
         "--pois", folder / "meals.csv", "--out", folder / "after", "-q"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from lifecircle.sources.userpois import read_user_pois

    after = lifecircle.analyze(bundled_osm, level="15min", review=folder / "review.csv",
                               pois=read_user_pois(folder / "meals.csv", base.config))
    return base, after, folder, proc


def test_every_output_states_the_review(runs):
    base, after, folder, proc = runs
    r = after.review
    assert (r.decisions, r.dropped, r.moved, r.kept, r.added, r.stale) == (3, 1, 1, 0, 1, ["way/1"])
    line = "planner's review: 3 decisions in review.csv, 0 kept, 1 dropped, 1 moved; 1 added from the " \
           "planner's files; 1 no longer in the data"
    assert line in proc.stdout
    assert any("way/1" in str(w) for w in after.warnings)
    assert line in html.unescape((folder / "after" / "report.html").read_text("utf-8"))
    facilities = pd.read_csv(folder / "after" / "facilities.csv", dtype=str, keep_default_na=False,
                             encoding="utf-8-sig")
    row = facilities[(facilities["poi_id"] == DROP[0]) & (facilities["category"] == DROP[1])].iloc[0]
    assert (row["counted"], row["reason"]) == ("False", "review_drop")
    row = facilities[(facilities["poi_id"] == MOVE[0]) & (facilities["category"] == MOVE[2])].iloc[0]
    assert (row["counted"], row["reason"]) == ("True", "review_move")
    added = facilities[facilities["name"] == ADD[2]].iloc[0]
    assert (added["category"], added["counted"], added["source"]) == ("canteen", "True", "user")
    # the command and the library give the same table
    cov = pd.read_csv(folder / "after" / "coverage.csv")
    assert cov["covered_canteen"].fillna(False).astype(bool).tolist() == \
        after.coverage["covered_canteen"].fillna(False).astype(bool).tolist()


def test_only_the_reviewed_categories_change(runs):
    base, after, _, _ = runs
    b, a = base.coverage, after.coverage
    assert list(a["community_id"]) == list(b["community_id"])
    changed = {"pharmacy", "market", "canteen"}
    for k in base.config.keys:
        cols = [f"share_{k}", f"metres_{k}", f"nearest_id_{k}"]
        same = a[cols].fillna(-1).equals(b[cols].fillna(-1))
        assert same == (k not in changed), k
    # the canteen, without data before, is judged now
    assert "canteen" in base.no_data and "canteen" not in after.no_data


def _reference_shares(analysis, sources_of: dict[str, list]) -> dict[str, list]:
    """Per category and community, the share of its homes (or area points) within the category's
    distance of one of ``sources_of[category]`` (points), by networkx on the analysis graph."""
    from lifecircle.pipeline import _area_points

    cfg = analysis.config
    ref = Reference(analysis.graph)
    study = analysis.study
    origins = study.origins
    scored = np.flatnonzero(~origins.centres)
    for o in scored:
        ref.add(("o", int(o)), origins.points[o], cfg.max_snap_m)
    for key, pts in sources_of.items():
        for j, p in enumerate(pts):
            ref.add((key, j), p, cfg.max_snap_m)
    R = ref.graph()
    assert _area_points  # the analysis's own sample points are the origins above
    out = {}
    for key, pts in sources_of.items():
        names = {(key, j) for j in range(len(pts)) if (key, j) in R}
        dist = nx.multi_source_dijkstra_path_length(R, names, cutoff=cfg.limit_m(key) + 1, weight="w")
        within = defaultdict(list)
        for o in scored:
            within[int(origins.community[o])].append(dist.get(("o", int(o)), np.inf) <= cfg.limit_m(key) + EPS)
        out[key] = [float(np.mean(within[i])) if within[i] else np.nan for i in range(len(analysis.communities))]
    return out


def test_the_reviewed_categories_equal_an_independent_walk(runs):
    """Shares of the changed categories against networkx, from the facilities as the planner left them:
    the base run's access points without the dropped and moved ones (and with the moved one under its
    new category), plus the added point."""
    base, after, _, _ = runs
    study = base.study
    fac, acc = study.facilities, study.access
    import geopandas as gpd

    added = gpd.GeoSeries(gpd.points_from_xy([ADD[0]], [ADD[1]]), crs="EPSG:4326").to_crs(base.crs).iloc[0]

    def points_of(key: str, skip=(), extra=()):
        rows = [i for i, (pid, cat) in enumerate(zip(fac["poi_id"], fac["category"]))
                if cat == key and (pid, cat) not in skip]
        return list(acc.points[np.isin(acc.facility, rows)]) + list(extra)

    moved_points = acc.points[np.isin(acc.facility, np.flatnonzero(
        (fac["poi_id"] == MOVE[0]).to_numpy() & (fac["category"] == MOVE[1]).to_numpy()))]
    sources = {
        "pharmacy": points_of("pharmacy", skip={DROP}, extra=moved_points),
        "market": points_of("market", skip={MOVE[:2]}),
        "canteen": [added],
    }
    want = _reference_shares(after, sources)
    got = after.coverage
    checked = 0
    for key, shares in want.items():
        for i, w in enumerate(shares):
            if np.isnan(w):
                continue
            assert got[f"share_{key}"].iloc[i] == pytest.approx(w, abs=5e-5), (key, i)
            checked += 1
    assert checked >= 3 * len(got) * 0.9
    # the review did change something: the dropped pharmacy's and the moved hall's communities
    assert (got["share_pharmacy"] != base.coverage["share_pharmacy"]).any()
    assert (got["share_market"] != base.coverage["share_market"]).any()


def test_a_review_read_from_the_workbook(runs, tmp_path):
    """The facilities sheet of coverage.xlsx, marked in Chinese, gives the same decisions."""
    import openpyxl

    base, _, folder, _ = runs
    base.save(tmp_path / "zh", lang="zh")
    wb = openpyxl.load_workbook(tmp_path / "zh" / "coverage.xlsx")
    ws = wb["设施清单"]
    head = [c.value for c in ws[1]]
    col_id, col_cat, col_dec = head.index("设施编号") + 1, head.index("类别代码") + 1, head.index("复核决定") + 1
    for r in range(2, ws.max_row + 1):
        if (ws.cell(r, col_id).value, ws.cell(r, col_cat).value) == DROP:
            ws.cell(r, col_dec).value = "删除"
    wb.save(tmp_path / "marked.xlsx")
    decisions = read_review(tmp_path / "marked.xlsx", base.config)
    assert [(d.poi_id, d.category, d.decision) for d in decisions] == [(*DROP, "drop")]
    reg, summary = apply_review(base.facilities, decisions, "marked.xlsx")
    assert summary.dropped == 1 and not reg.loc[(reg["poi_id"] == DROP[0]) & (reg["category"] == DROP[1]),
                                                "counted"].any()


@pytest.mark.parametrize("text, problem", [
    ("poi_id,decision\nnode/1,maybe\n", "unknown decision 'maybe'"),
    ("poi_id,decision,new_category\nnode/1,move,nowhere\n", "'move' needs new_category"),
    ("id_of_thing,what\nnode/1,drop\n", "needs a poi_id column and a decision column"),
    ("poi_id,decision\n,drop\n", "a decision without a facility id"),
])
def test_a_bad_review_file_is_one_line(runs, tmp_path, text, problem):
    base = runs[0]
    path = tmp_path / "r.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError, match=problem) as e:
        read_review(path, base.config)
    assert "\n" not in str(e.value) and str(path) in str(e.value)

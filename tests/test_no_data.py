"""No data is not a finding: a category without a single facility in the data (the bundled
extract maps no community canteen) says "no data" / 无数据 in the terminal, the CSV, the workbook,
the report and the map, never ✗ or "every community lacks it"; and "complete" says which
categories it could not judge."""

from __future__ import annotations

import html
import re

import openpyxl
import pandas as pd
import pytest

# with test_lang / test_no_data on one worker, each language's bundled run happens once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("bundled_runs")


@pytest.fixture(scope="module", params=["en", "zh"])
def run(request, bundled_runs):
    lang = request.param
    proc, out = bundled_runs[lang]
    return lang, out, proc


def test_terminal_says_no_data_and_names_the_file_to_add(run):
    lang, _, proc = run
    line = next(x for x in proc.stdout.splitlines() if x.split()[:1] == ["canteen"])
    if lang == "zh":
        assert "无数据，未判定" in line and "--pois" in line and "已覆盖" not in line
        assert "社区食堂/助餐点 无数据、未判定" in proc.stdout.splitlines()[0]
        assert "所有社区均缺此类" not in proc.stdout + proc.stderr
    else:
        assert "no data, not judged" in line and "--pois" in line and "covered" not in line
        assert "(not judged, no data: canteen)" in proc.stdout.splitlines()[0]
        assert "every community lacks it" not in proc.stdout + proc.stderr


def test_csv_leaves_the_flag_empty_and_counts_the_judged(run):
    _, out, _ = run
    cov = pd.read_csv(out / "coverage.csv")
    assert cov["covered_canteen"].isna().all() and cov["share_canteen"].isna().all()
    judged = [c for c in cov.columns if c.startswith("covered_") and c != "covered_canteen"]
    assert (cov["n_categories"] == len(judged)).all()
    assert (cov["reached"] == cov[judged].sum(axis=1)).all()
    assert not cov["gaps"].fillna("").str.contains("canteen").any()
    assert (cov["no_data"] == "canteen").all()
    facilities = pd.read_csv(out / "facilities.csv", keep_default_na=False)
    assert not ((facilities["category"] == "canteen") & (facilities["counted"] == "True")).any()


def test_workbook_says_no_data(run):
    lang, out, _ = run
    wb = openpyxl.load_workbook(out / "coverage.xlsx")
    word = "无数据" if lang == "zh" else "no data"
    summary = wb.worksheets[0]
    head = [c.value for c in summary[1]]
    col = next(i for i, h in enumerate(head) if h and ("社区食堂" in h or "canteen" in h.lower()))
    assert {summary.cell(r, col + 1).value for r in range(2, summary.max_row) if summary.cell(r, 1).value
            and summary.cell(r, 2).value} == {word}


def test_report_and_map_say_no_data(run):
    lang, out, _ = run
    report = html.unescape((out / "report.html").read_text("utf-8"))
    long = "无数据：OSM 未收录此类设施，请补充数据" if lang == "zh" else "no data: OpenStreetMap holds no facility"
    assert long in report
    label = "社区食堂/助餐点" if lang == "zh" else "Community canteen"
    # the community list never puts ✗ before the canteen
    assert not re.search(rf"✗ {re.escape(label)}", report)
    page = (out / "map.html").read_text("utf-8")
    assert ("无数据" if lang == "zh" else "no data") in html.unescape(page)

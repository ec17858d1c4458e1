"""`lifecircle analyze --lang zh` speaks Chinese throughout; --lang en English.

The terminal (progress, warnings, summary, errors), report.html and the map's notes are
checked against the i18n templates and against counts taken from the output files.
"""

from __future__ import annotations

import pickle
import re
import string
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from lifecircle.i18n import STRINGS, Message, localize
from lifecircle.outputs.htmlassets import esc

# with test_lang / test_no_data on one worker, each language's bundled run happens once (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("bundled_runs")

CJK = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT = 180
WARNING_KEYS = [k for k in STRINGS if k.startswith("warn_")]


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lifecircle.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT)


def pattern(key: str, lang: str) -> re.Pattern:
    """A regex matching any rendering of STRINGS[key][lang]: its literal text, any field value."""
    parts = string.Formatter().parse(STRINGS[key][lang])
    return re.compile("".join(re.escape(text) + ("(.+?)" if field is not None else "")
                              for text, field, _, _ in parts) + "$", re.S)


def template_of(text: str, lang: str) -> str | None:
    """The warning key whose template in ``lang`` ``text`` matches, if any."""
    return next((k for k in WARNING_KEYS if pattern(k, lang).match(text)), None)


class ListItems(HTMLParser):
    """The text of each <li> of <ul class="warnings">."""

    def __init__(self):
        super().__init__()
        self.items: list[str] = []
        self._in_list = False
        self._item: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "ul" and ("class", "warnings") in attrs:
            self._in_list = True
        elif tag == "li" and self._in_list:
            self._item = []

    def handle_endtag(self, tag):
        if tag == "li" and self._item is not None:
            self.items.append("".join(self._item))
            self._item = None
        elif tag == "ul":
            self._in_list = False

    def handle_data(self, data):
        if self._item is not None:
            self._item.append(data)


def report_warnings(folder: Path) -> list[str]:
    parser = ListItems()
    parser.feed((folder / "report.html").read_text("utf-8"))
    return parser.items


@pytest.fixture(scope="module")
def runs(bundled_runs) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """One run of `lifecircle analyze` on the bundled extract per language."""
    return {lang: bundled_runs[lang] for lang in ("zh", "en")}


def test_chinese_run_speaks_chinese(runs, analysis):
    proc, folder = runs["zh"]
    assert "Traceback" not in proc.stderr
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    warnings = [line.removeprefix("警告：") for line in proc.stderr.splitlines() if line.startswith("警告：")]
    assert len(progress) >= 5 and len(warnings) == len(analysis.warnings)
    assert len(progress) + len(warnings) == len(proc.stderr.splitlines())  # no English "Warning:" line left
    for line in progress:
        assert CJK.search(line), line
    # the report lists the same warnings, each a Chinese sentence of an i18n template
    listed = report_warnings(folder)
    assert listed == warnings
    for text in listed:
        assert CJK.search(text) and template_of(text, "zh"), text
        assert not template_of(text, "en"), text
    # ... and the values in them are the run's: the categories without facilities, and what was left out
    coverage = pd.read_csv(folder / "coverage.csv")
    left = pd.read_csv(folder / "left_out.csv")
    categories = set(pd.read_csv(folder / "basis.csv")["category"])
    pois = set(analysis.pois["category"])
    empty = sorted(categories - pois)
    assert empty  # the bundled extract has no canteen
    said = [m.group(2) for m in map(pattern("warn_no_facilities", "zh").match, listed) if m]
    assert sorted(said) == empty
    (left_said,) = [m.group(1) for m in map(pattern("warn_left_out", "zh").match, listed) if m]
    counts = left["what"].value_counts()
    assert left_said == "，".join(f"{counts[w]} 个{'社区' if w == 'community' else '设施'}" for w in counts.index)
    (partial_said,) = [m.group(1) for m in map(pattern("warn_partial", "zh").match, listed) if m]
    assert int(partial_said) == int(coverage["partial"].sum())
    # the map's notes box says them in Chinese too
    html = (folder / "map.html").read_text("utf-8")
    for text in listed:
        assert esc(text) in html


def test_chinese_summary(runs):
    proc, folder = runs["zh"]
    coverage = pd.read_csv(folder / "coverage.csv")
    basis = pd.read_csv(folder / "basis.csv")
    lines = proc.stdout.splitlines()
    n = len(coverage)
    assert lines[0].startswith(f"{n} 个社区") and "10分钟生活圈" in lines[0]
    assert f"其中 {int(coverage['complete'].sum())} 个社区" in lines[0]
    assert f"{len(pd.read_csv(folder / 'left_out.csv'))} 项未计入" in lines[0]
    for row in basis.itertuples():
        (line,) = [x for x in lines if x.split()[:1] == [row.category]]
        assert row.label_zh in line and f"{row.distance_m:g} 米" in line, line
        if coverage[f"covered_{row.category}"].isna().all():  # no data: said so, not "0/19"
            assert "无数据，未判定" in line and "已覆盖" not in line, line
            continue
        assert line.endswith(f"已覆盖 {int(coverage[f'covered_{row.category}'].sum())}/{n}"), line
    assert lines[-1].startswith("输出文件位于")
    assert not re.search(r"\bcommunities\b|\bcovered\b|\bleft out\b|\boutputs in\b", proc.stdout)


def test_english_run_stays_english(runs, analysis):
    proc, folder = runs["en"]
    warnings = [line.removeprefix("Warning: ") for line in proc.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings == [str(w) for w in analysis.warnings] == report_warnings(folder)
    for line in proc.stderr.splitlines() + proc.stdout.splitlines():
        assert not CJK.search(line), line
    for text in warnings:
        assert template_of(text, "en"), text
    assert "10min life circle" in proc.stdout


def test_error_line_in_the_runs_language(tmp_path):
    missing = tmp_path / "nowhere.osm.pbf"
    zh = run("analyze", "--lang", "zh", "--osm", missing, "--out", tmp_path / "a", "-q")
    en = run("analyze", "--lang=en", "--osm", missing, "--out", tmp_path / "b", "-q")
    assert zh.returncode == en.returncode == 2
    assert zh.stderr.strip() == f"错误：找不到 OSM 文件：{missing}"
    assert en.stderr.strip() == f"Error: OSM file not found: {missing}"
    for folder in (tmp_path / "a", tmp_path / "b"):
        assert not folder.exists() or not any(folder.iterdir())


def test_message_is_its_english_text_and_survives_pickling():
    m = Message("warn_left_out", what=[Message("count_communities", n=7), Message("count_poi", n=1)])
    assert m == "left out: 7 communities, 1 poi (see left_out.csv for each and why)"
    assert localize(m, "zh") == "未计入：7 个社区，1 个设施（各项及原因见 left_out.csv）"
    back = pickle.loads(pickle.dumps(m))
    assert type(back) is Message and back.text("zh") == m.text("zh")
    assert localize("plain text", "zh") == "plain text"

"""coverage.xlsx (one sheet per community) and CSVs that open in Excel (UTF-8 with a BOM).

The workbook is read back with openpyxl and compared with the bundled
extract's real analysis; sheet names are checked against Excel's rules
restated here, not imported from the code under test.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest

from lifecircle.i18n import STRINGS
from lifecircle.outputs.files import coverage_table
from lifecircle.outputs.sheets import coverage_workbook, coverage_xlsx, sheet_titles, workbook_bytes

BOM = b"\xef\xbb\xbf"
PASS_FILL, FAIL_FILL = "C6EFCE", "FFC7CE"

#: Names a community can have in OSM or a user's file, each a trap for a sheet name or a cell.
HOSTILE = [
    '=HYPERLINK("http://evil.example","x")', "#N/A", "a[b]c:d*e?f/g\\h", "'quoted'", "''", "", "   ",
    "History", "HISTORY", "Summary", "x" * 100, "x" * 100 + "y", "幸福小区" * 25, "幸福小区" * 25 + "二期",
    "😀" * 40, "Kallio", "KALLIO", "Ｋａｌｌｉｏ", "tab\there\nnewline", "ctrl\x01char", "-2+3", "@SUM(1)",
    "x" * 29 + "'" + "y" * 10,
]


def _zh(key: str, **fields) -> str:
    return STRINGS[key]["zh"].format(**fields) if fields else STRINGS[key]["zh"]


def _valid_title(title: str) -> bool:
    """Excel's rules for a sheet name (31 UTF-16 units, no []:*?/\\, no quote at either end, not History)."""
    units = len(title.encode("utf-16-le")) // 2
    return (1 <= units <= 31 and not set("[]:*?/\\") & set(title) and not title.startswith("'")
            and not title.endswith("'") and title.casefold() != "history")


def _sheet_of(link: str) -> str:
    """The sheet name in an internal link location such as ``'It''s'!A1``."""
    m = re.fullmatch(r"'(.*)'!A1", link)
    assert m, link
    return m.group(1).replace("''", "'")


def _rows_of(ws) -> list[tuple]:
    return list(ws.iter_rows(values_only=True))


def _table_start(ws, first: str) -> int:
    """Row number (1-based) of the table header whose first cell is ``first``."""
    for i, row in enumerate(_rows_of(ws), start=1):
        if row[0] == first and row[1] is not None:
            return i
    raise AssertionError(f"no table headed {first!r} in {ws.title!r}")


def _same(got, want) -> bool:
    if want is None or (isinstance(want, float) and np.isnan(want)):
        return got is None
    return got == pytest.approx(float(want), abs=1e-9)


@pytest.fixture(scope="module")
def saved(analysis, tmp_path_factory):
    """The bundled analysis, one community renamed 幸福小区, saved in Chinese."""
    comms = analysis.communities.copy()
    comms.loc[0, "name"] = "幸福小区"
    renamed = dataclasses.replace(analysis, communities=comms)
    out = tmp_path_factory.mktemp("sheets") / "out"
    written = renamed.save(out, lang="zh")
    return renamed, out, written


def test_workbook_has_a_summary_and_a_sheet_per_community_equal_to_the_coverage_table(saved):
    a, out, written = saved
    assert written["xlsx"] == out / "coverage.xlsx"
    wb = openpyxl.load_workbook(out / "coverage.xlsx")
    cov, cfg = a.coverage, a.config
    keys = cfg.keys
    labels = [cfg.category(k).label_zh for k in keys]
    assert wb.sheetnames[:5] == ["汇总", "判定依据", "设施清单", "指标", "问题清单"]
    assert len(wb.sheetnames) == 5 + len(cov) == 24
    summary = wb["汇总"]
    header = [c.value for c in summary[1]]
    assert header[:8] == [_zh("community"), _zh("community_id"), _zh("residents"), _zh("sheet_homes"),
                          _zh("sheet_cut_by_edge"), _zh("sheet_reached_of", n=7), _zh("sheet_complete"),
                          _zh("gaps")]
    assert header[8:] == [h for lab in labels for h in (f"{lab}：已覆盖", f"{lab}：步行（分钟）")]
    assert summary.freeze_panes == "C2" and summary.auto_filter.ref == f"A1:X{len(cov) + 1}"
    seen_sheets = set()
    for i, row in enumerate(cov.itertuples(index=False), start=2):
        cells = summary[i]
        assert [c.value for c in cells[:4]] == [row.name, row.community_id, round(row.residents), row.n_buildings]
        assert cells[5].value == row.reached
        assert cells[6].value == ("是" if row.complete else "否")
        for j, k in enumerate(keys):
            flag, minutes = cells[8 + 2 * j], cells[9 + 2 * j]
            covered = getattr(row, f"covered_{k}")
            if k in a.no_data:  # never 否: no data, in grey
                assert flag.value == "无数据" and flag.fill.fgColor.rgb[-6:] == "EDEDED"
                continue
            assert flag.value == ("是" if covered else "否")
            assert flag.fill.fgColor.rgb[-6:] == (PASS_FILL if covered else FAIL_FILL)
            assert _same(minutes.value, getattr(row, f"minutes_{k}")), (row.name, k)
        # the name links to the community's own sheet
        sheet = wb[_sheet_of(cells[0].hyperlink.location)]
        seen_sheets.add(sheet.title)
        _check_community_sheet(sheet, row, a)
    assert seen_sheets == set(wb.sheetnames[5:])
    # the summary's counts agree with coverage.csv as pandas reads it
    csv = pd.read_csv(out / "coverage.csv")
    for j, k in enumerate(keys):
        yes = sum(summary.cell(row=r, column=9 + 2 * j).value == "是" for r in range(2, len(cov) + 2))
        assert yes == int((csv[f"covered_{k}"] == True).sum()), k  # noqa: E712 (NaN is not True)
        assert csv[f"covered_{k}"].isna().all() == (k in a.no_data)  # no data: an empty cell, not False
    assert wb[wb.sheetnames[5]]["A1"].value == "幸福小区"


def _check_community_sheet(ws, row, a) -> None:
    cfg = a.config
    rows = _rows_of(ws)
    assert rows[0][0] == row.name
    facts = {r[0]: r[1] for r in rows[1:9] if r[0]}
    assert facts[_zh("community_id")] == row.community_id
    assert facts[_zh("residents")] == round(row.residents)
    assert facts[_zh("sheet_homes")] == row.n_buildings
    assert facts[_zh("reached")] == f"{row.reached} / {row.n_categories}"
    start = _table_start(ws, _zh("category"))
    for k, got in zip(cfg.keys, rows[start:start + len(cfg.keys)]):
        share = getattr(row, f"share_{k}")
        assert got[0] == cfg.category(k).label_zh
        assert got[1] == f"{cfg.category(k).tier.removesuffix('min')}分钟生活圈"
        assert got[2] == cfg.limit_m(k)
        found = getattr(row, f"nearest_id_{k}")
        assert got[3] == (getattr(row, f"nearest_{k}") or ("（未命名）" if found else None))
        assert _same(got[4], getattr(row, f"metres_{k}")) and _same(got[5], getattr(row, f"minutes_{k}"))
        if k in a.no_data:  # no data: said so, never 否
            assert got[6] == "无数据" and got[9] == _zh("no_data_long")
            continue
        assert got[6] == ("是" if getattr(row, f"covered_{k}") else "否")
        assert _same(got[7], share) and _same(got[8], getattr(row, f"residents_share_{k}"))
        missing = got[9]
        if not found and share == 0:
            assert missing == f"步行可达范围内无{cfg.category(k).label_zh}"
        elif share >= 1:
            assert missing is None
        else:  # the share of homes beyond the distance, in per cent
            m = re.fullmatch(r"([\d.]+)% 的住宅在(\d+) 米以外", missing)
            assert m, missing
            assert float(m.group(1)) == pytest.approx(100 * (1 - share), abs=0.05)
            assert float(m.group(2)) == cfg.limit_m(k)


def test_basis_sheet_states_what_each_category_was_judged_by(saved):
    a, out, _ = saved
    ws = openpyxl.load_workbook(out / "coverage.xlsx")["判定依据"]
    rows = _rows_of(ws)
    facts = {r[0]: r[1] for r in rows if r[0] and r[1] is not None}
    assert facts[_zh("data_source")] == "helsinki-centre.osm.pbf"
    assert facts[_zh("data_date")] == a.data_date == "2019-04-21"
    assert facts[_zh("sheet_speed")] == 4.5
    start = _table_start(ws, _zh("category"))
    got = pd.DataFrame(rows[start:], columns=rows[start - 1]).dropna(how="all")
    basis = a.basis
    assert got[_zh("sheet_category_key")].tolist() == basis["category"].tolist()
    assert got[_zh("sheet_limit_metres")].tolist() == basis["distance_m"].tolist() == [300.0] * 5 + [500.0] * 3
    assert got[_zh("sheet_limit_minutes")].tolist() == basis["minutes"].tolist()
    assert got[_zh("clause")].tolist() == basis["clause"].tolist()
    assert got[_zh("osm_rules")].tolist() == basis["osm_rules"].tolist()


def test_csv_files_start_with_a_bom_and_coverage_round_trips_through_pandas(saved):
    a, out, _ = saved
    for name in ("coverage.csv", "basis.csv", "left_out.csv"):
        assert (out / name).read_bytes().startswith(BOM), name
    raw = (out / "coverage.csv").read_bytes()
    assert not raw[3:].startswith(BOM) and "幸福小区".encode() in raw
    want = coverage_table(a)
    text = [c for c in want.columns if want[c].dtype == object or str(want[c].dtype) in ("str", "string")]
    assert {"community_id", "name", "nearest_school", "gaps"} <= set(text)
    back = pd.read_csv(out / "coverage.csv", dtype=dict.fromkeys(text, str))
    assert back.columns[0] == "community_id"  # the BOM is not part of the first name
    back[text] = back[text].fillna("")  # CSV writes "" and NaN alike; pandas reads both as NaN
    for k in a.no_data:  # not judged: an empty cell, read back as NaN
        want[f"covered_{k}"] = want[f"covered_{k}"].astype(float)
    pd.testing.assert_frame_equal(back, want, check_dtype=False)
    # counts are integers in the text: residents are whole people (the estimate, rounded)
    lines = raw.decode("utf-8-sig").splitlines()
    col = lines[0].split(",").index("residents")
    assert re.fullmatch(r"\d+", lines[1].split(",")[col])
    assert back["residents"].tolist() == [round(v) for v in a.coverage["residents"]]


def _hostile_analysis(analysis):
    """The bundled analysis with more communities than it has, named as in HOSTILE."""
    comms = pd.concat([analysis.communities, analysis.communities], ignore_index=True).iloc[:len(HOSTILE)].copy()
    comms["community_id"] = [f"test/{i}" for i in range(len(comms))]
    comms["name"] = HOSTILE
    comms.loc[1, "nearest_school"] = '=HYPERLINK("http://evil.example","school")'
    return dataclasses.replace(analysis, communities=comms)


def test_sheet_names_are_valid_and_unique_for_hostile_long_and_colliding_names(analysis):
    hostile = _hostile_analysis(analysis)
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(coverage_workbook(hostile, "en"))))
    names = wb.sheetnames
    assert names[:5] == ["Summary", "Basis", "Facilities", "Indicators", "Problems"]
    assert len(names) == 5 + len(HOSTILE)
    assert all(_valid_title(n) for n in names), [n for n in names if not _valid_title(n)]
    assert len({n.casefold() for n in names}) == len(names)
    titles = dict(zip(HOSTILE, names[5:]))
    # long names are cut, and those equal once cut differ by a suffix
    assert titles["x" * 100].startswith("x" * 20) and titles["x" * 100 + "y"] != titles["x" * 100]
    assert titles["幸福小区" * 25 + "二期"].startswith("幸福小区幸福小区")
    assert titles["History"] != "History" and titles["Summary"] != "Summary"
    assert titles["KALLIO"].casefold() != titles["Kallio"].casefold()
    summary = wb["Summary"]
    for i, (name, cid) in enumerate(zip(HOSTILE, hostile.communities["community_id"]), start=2):
        cell = summary.cell(row=i, column=1)
        sheet = wb[_sheet_of(cell.hyperlink.location)]
        # the link finds the right community, and its sheet keeps the name as text
        assert sheet["B2"].value == cid
        kept = name.replace("\x01", "") if name.strip() else "(unnamed)"
        assert cell.value == kept and sheet["A1"].value == kept and cell.data_type == "s"
    assert summary["A3"].value == "#N/A" and summary["A3"].data_type == "s"


@pytest.mark.parametrize("via_openpyxl", [False, True], ids=["file", "workbook"])
def test_no_formula_in_the_workbook_whatever_the_names(analysis, via_openpyxl):
    hostile = _hostile_analysis(analysis)
    # the file written, and the workbook as openpyxl reads it, written again by openpyxl
    data = workbook_bytes(coverage_workbook(hostile, "en")) if via_openpyxl else coverage_xlsx(hostile, "en")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == 5 + len(HOSTILE)
        for n in sheets:
            xml = z.read(n)
            assert not re.search(rb"<(?:\w+:)?f[ >]", xml), n  # no formula element anywhere
    wb = openpyxl.load_workbook(io.BytesIO(data))
    evil = wb["Summary"]["A2"]
    assert evil.value == HOSTILE[0] and evil.data_type == "s"
    assert evil.quotePrefix  # retyping it in Excel keeps it text
    school = wb[_sheet_of(wb["Summary"]["A3"].hyperlink.location)]
    start = _table_start(school, "Category")
    cells = [r for r in school.iter_rows(min_row=start + 1) if r[0].value == "Primary school"]
    assert cells[0][3].value == '=HYPERLINK("http://evil.example","school")' and cells[0][3].data_type == "s"


@pytest.mark.parametrize("via_openpyxl", [False, True], ids=["file", "workbook"])
def test_same_analysis_same_bytes_dated_by_the_data(analysis, via_openpyxl):
    def write():
        return workbook_bytes(coverage_workbook(analysis, "en")) if via_openpyxl else coverage_xlsx(analysis, "en")

    first = write()
    assert first == write()
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        assert {i.date_time for i in z.infolist()} == {(2019, 4, 21, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert re.search(r"<dcterms:created[^>]*>2019-04-21T00:00:00Z<", core), core
    assert re.search(r"<dcterms:modified[^>]*>2019-04-21T00:00:00Z<", core), core


def test_extra_tables_become_sheets_after_the_basis(analysis):
    frame = pd.DataFrame({"community": ["Kallio", "=1+1"], "covered before": [True, False],
                          "covered after": [True, True], "gain": [0, 3], "share": [0.25, np.nan]})
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(
        coverage_workbook(analysis, "en", extra={"What-if: +1 clinic": frame, "basis": frame}))))
    # ":" is not allowed; "basis" collides with "Basis" ignoring case
    assert wb.sheetnames[:4] == ["Summary", "Basis", "What-if_ +1 clinic", "basis (2)"]
    rows = _rows_of(wb["What-if_ +1 clinic"])
    assert rows[0] == ("community", "covered before", "covered after", "gain", "share")
    assert rows[1:] == [("Kallio", "yes", "yes", 0, 0.25), ("=1+1", "no", "yes", 3, None)]
    assert wb["What-if_ +1 clinic"]["A3"].data_type == "s"


def test_layout_styles_and_print_setup(saved):
    """What makes the file readable and printable, as a spreadsheet reads it back."""
    a, out, _ = saved
    wb = openpyxl.load_workbook(out / "coverage.xlsx")
    assert wb.properties.creator == "lifecircle" and wb.properties.title
    summary = wb["汇总"]
    head = summary["A1"]
    assert head.font.b and head.fill.fill_type == "solid" and head.fill.fgColor.rgb[-6:] == "D9D9D9"
    assert head.alignment.wrap_text and head.alignment.vertical == "top"
    link = summary["A2"]
    assert link.font.color.rgb[-6:] == "0563C1" and link.font.u == "single"
    minutes = [c for row in summary.iter_rows(min_row=2, min_col=10) for c in row[::2] if c.value is not None]
    assert minutes and {c.number_format for c in minutes} == {"0.0"} and summary["C2"].number_format == "0"
    assert summary.print_title_rows.replace("$", "") == "1:1" and summary.page_setup.orientation == "landscape"
    assert summary.row_dimensions[1].height % 15 == 0
    widths = {}  # column letter -> width; a run of equal widths is one <col> range
    for dim in summary.column_dimensions.values():
        for col in range(dim.min, dim.max + 1):
            widths[openpyxl.utils.get_column_letter(col)] = dim.width
    assert widths["A"] == min(40, max(len(n) for n in a.coverage["name"]) + 2)  # names are Latin here
    assert set(widths) >= set("ABCDEFGH") and all(8 <= w <= 40 for w in widths.values())
    assert all(float(w).is_integer() for w in widths.values())  # stored as computed, no padding added
    ws = wb[wb.sheetnames[5]]
    assert ws["A1"].font.b and ws["A1"].font.sz == 14
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
    start = _table_start(ws, _zh("category"))
    shares = [ws.cell(row=r, column=8) for r in range(start + 1, start + 1 + len(a.config.keys))]
    assert {c.number_format for c in shares if c.value is not None} == {"0.0%"}
    assert wb["判定依据"].freeze_panes.startswith("A")


def test_sheet_titles_many_equal_and_reserved_names():
    titles = sheet_titles(["Kallio"] * 50 + ["history", "Kallio (2)", "[]", "'"], taken=["Summary"],
                          fallback="Community")
    assert len({t.casefold() for t in titles + ["Summary"]}) == 55
    assert titles[:3] == ["Kallio", "Kallio (2)", "Kallio (3)"] and titles[49] == "Kallio (50)"
    assert titles[50] == "history (2)"
    assert titles[51] == "Kallio (2) (2)"  # the real "Kallio (2)" is taken by then
    assert titles[52] == "__" and titles[53] == "Community"
    assert all(_valid_title(t) for t in titles)


def test_a_failed_workbook_write_leaves_no_output(analysis, tmp_path, monkeypatch):
    from pathlib import Path

    from lifecircle.errors import OutputError

    real = Path.write_bytes

    def full_disk(self, data):
        if self.name == "coverage.xlsx":
            raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    out = tmp_path / "out"
    with pytest.raises(OutputError) as e:
        analysis.save(out)
    assert str(e.value) == f"cannot write {out / 'coverage.xlsx'}: No space left on device"
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]

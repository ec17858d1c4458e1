"""``coverage.xlsx``: a summary sheet, the basis, and one sheet per community (一社区一表).

The workbook a planner forwards to a district office: headers in the run's
language, a summary with one row per community (pass/fail coloured, frozen
header, filters, each name linking to its community's sheet), the basis the
numbers were judged on, and one sheet per community with every category's
nearest facility, walk, result and what is missing.

The file is written with XlsxWriter (:func:`coverage_xlsx`), made for
writing a workbook once, fast: about 10 µs a cell where openpyxl, which builds
an object per cell and serialises it through an element tree, took 30.
:func:`coverage_workbook` gives the same workbook as openpyxl reads it, for
adding sheets or restyling before :func:`workbook_bytes` writes it.

Three things make it safe to hand on:

* Every text cell is a string cell, whatever it holds (``write_string``,
  never XlsxWriter's guessing ``write``, which would make a name such as
  ``=HYPERLINK(...)`` a live formula). Texts that a spreadsheet would read
  as a formula when retyped also get Excel's quote prefix.
* Sheet names are valid and unique for any community name
  (:func:`sheet_titles`).
* The bytes depend only on the analysis: the document's created/modified
  times and every zip entry's time are pinned to the data's date.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from ..core.network import gc_paused
from ..i18n import (
    basis_text,
    category_label,
    check_lang,
    covered_state,
    level_title,
    not_judged_text,
    population_text,
    review_text,
    rule_text,
    t,
    tier_text,
)
from ..text import flag_of, is_missing, text_of
from .files import coverage_table, facilities_table

if TYPE_CHECKING:  # openpyxl only to hand a workbook to a caller: imported there
    import pandas as pd
    from openpyxl import Workbook
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

    from ..analysis import Analysis

#: Longest sheet name Excel accepts, in UTF-16 code units (what Excel counts).
MAX_TITLE = 31

#: Characters Excel refuses in a sheet name.
_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# XML 1.0 cannot hold these (C0 controls but tab/newline/CR, lone surrogates,
# U+FFFE/U+FFFF): openpyxl raises on some, and the others make a file Excel
# calls corrupt
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# names Excel reserves, compared case-insensitively
_RESERVED = ("history",)
# a cell starting with one of these is a formula when typed (OWASP), as in fileio
_FORMULA_START = ("=", "+", "-", "@", "\t")

#: Workbook times when the data's date is unknown (as the GeoPackage's).
EPOCH = dt.datetime(2000, 1, 1)

#: Width of a column given none that a wrapped header row is fitted to (openpyxl's
#: default, which the workbook has always had).
DEFAULT_WIDTH = 13
# Calibri 11's widest digit, pixels: XlsxWriter stores a width of p pixels as
# p / 7 characters, so 7 * w pixels is a width of exactly w (set_column(w)
# would add 5 pixels of padding, making every column wider than it was)
_DIGIT_PX = 7


def _style(**props: Any) -> frozenset:
    """A cell's look as XlsxWriter format properties, hashable so each is made once."""
    return frozenset(props.items())


_PLAIN = _style()
_QUOTED = _style(quote_prefix=True)  # Excel's quote prefix: retyping the text keeps it text
_BOLD = _style(bold=True)
_TITLE = _style(bold=True, font_size=14)
_LINK = _style(font_color="#0563C1", underline=1)
_WRAP = _style(text_wrap=True, valign="top")
_HEADER = _BOLD | _WRAP | _style(pattern=1, bg_color="#D9D9D9")
# Excel's own "Good" and "Bad" cell colours
_PASS = _style(pattern=1, bg_color="#C6EFCE", font_color="#006100")
_FAIL = _style(pattern=1, bg_color="#FFC7CE", font_color="#9C0006")
_NODATA = _style(pattern=1, bg_color="#EDEDED", font_color="#595959", italic=True)
_FORMAT = {name: _style(num_format=code)
           for name, code in {"int": "0", "metres": "0", "minutes": "0.0", "share": "0.0%"}.items()}


# ---------------------------------------------------------------- sheet names


def _title_key(title: str) -> str:
    """What Excel compares sheet names by (case-insensitive); NFKC also folds
    full-width letters, erring towards a suffix rather than a clash."""
    return unicodedata.normalize("NFKC", title).casefold()


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clean_title(name: Any) -> str:
    """``name`` as a sheet name could hold it, before shortening: no forbidden
    or control characters, one line, no leading or trailing quote or space."""
    text = _ILLEGAL.sub("", text_of(name))
    text = _FORBIDDEN.sub("_", re.sub(r"\s+", " ", text))
    return text.strip(" '")


def _fit(base: str, suffix: str) -> str:
    """``base + suffix`` within :data:`MAX_TITLE`, ``base`` cut with "…" if need be."""
    if _units(base + suffix) <= MAX_TITLE:
        return base + suffix
    room = MAX_TITLE - _units(suffix) - 1
    cut, used = [], 0
    for ch in base:  # by characters, so no surrogate pair is split
        used += _units(ch)
        if used > room:
            break
        cut.append(ch)
    return "".join(cut).rstrip(" '") + "…" + suffix


def sheet_titles(names: Iterable[Any], taken: Iterable[str] = (), fallback: str = "Sheet") -> list[str]:
    """Valid, unique Excel sheet names for ``names``, in order.

    Excel refuses a name longer than 31 characters, holding any of
    ``[]:*?/\\``, starting or ending with ``'``, empty, called "History", or
    equal to another sheet's ignoring case. Forbidden characters become
    ``_``; a long name is cut and ends with "…"; a name already used gets
    " (2)", " (3)", ...; an empty one becomes ``fallback``.

    Parameters
    ----------
    names
        Wanted names (any text, e.g. community names from OSM).
    taken
        Names of sheets already in the workbook.
    fallback
        Name for a name with nothing left of it.

    Returns
    -------
    list of str
        One name per entry of ``names``.
    """
    seen = {_title_key(x) for x in taken} | set(_RESERVED)
    tries: dict[str, int] = {}  # base -> last suffix tried, so many equal names stay linear
    titles = []
    for name in names:
        base = clean_title(name) or clean_title(fallback) or "Sheet"
        title = _fit(base, "")
        while _title_key(title) in seen:
            n = tries[_title_key(base)] = tries.get(_title_key(base), 1) + 1
            title = _fit(base, f" ({n})")
        seen.add(_title_key(title))
        titles.append(title)
    return titles


def sheet_ref(title: str, cell: str = "A1") -> str:
    """A reference to ``cell`` of sheet ``title`` for a link: ``'It''s'!A1``."""
    return "'" + title.replace("'", "''") + "'!" + cell


# ---------------------------------------------------------------- cells


class _Sheet:
    """An XlsxWriter worksheet and what was written to it.

    XlsxWriter writes and forgets; the column widths and row heights are
    fitted to the texts, so the values are kept here too (row -> column ->
    value, 1-based as in the sheet's A1 names).

    Parameters
    ----------
    sheet
        The worksheet.
    formats
        The workbook's formats by style (see :func:`_style`), shared by its sheets.
    """

    def __init__(self, sheet: "Worksheet", formats: "_Formats"):
        self.sheet = sheet
        self.formats = formats
        self.values: dict[int, dict[int, Any]] = {}
        self.widths: dict[int, float] = {}

    def width(self, col: int, width: float) -> None:
        """Column ``col`` ``width`` characters wide (as stored in the file)."""
        self.widths[col] = width
        self.sheet.set_column_pixels(col - 1, col - 1, round(width * _DIGIT_PX))


class _Formats(dict):
    """XlsxWriter formats by style, each added to the workbook once, when first used."""

    def __init__(self, book: "xlsxwriter.Workbook"):
        super().__init__()
        self.book = book

    def __missing__(self, style: frozenset) -> "Format | None":
        fmt = self[style] = self.book.add_format(dict(sorted(style))) if style else None
        return fmt


def _number(value: Any) -> Any:
    """A plain Python number (or bool); None for missing or infinite."""
    if is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if np.isfinite(value) else None


def put(ws: _Sheet, row: int, col: int, value: Any, style: frozenset = _PLAIN, link: str | None = None) -> None:
    """Write ``value`` to a cell: text always as a string cell, numbers as numbers.

    The one writer of cells here (``row`` and ``col`` 1-based). Text from OSM
    or a user file can look like a formula (``=HYPERLINK(...)``) or an error
    (``#N/A``): it is written as text all the same (``write_string``), and
    with Excel's quote prefix when retyping it would make a formula.
    Characters XML cannot hold are dropped. A missing number leaves the cell
    empty, unstyled. ``link``, a location such as ``'Sheet'!A1``, makes the
    text a link to it.
    """
    r, c = row - 1, col - 1
    if isinstance(value, str):
        value = _ILLEGAL.sub("", value).replace("\r\n", "\n").replace("\r", "\n")
        if value.startswith(_FORMULA_START):
            style = style | _QUOTED
        fmt = ws.formats[style]
        # write_url writes the text as a string cell too; past Excel's 65,530
        # links a sheet, XlsxWriter skips the link and writes nothing
        if link is not None and ws.sheet.write_url(r, c, "internal:" + link, fmt, string=value) != 0:
            link = None
        if value and link is None:
            ws.sheet.write_string(r, c, value, fmt)
        elif not value:  # an empty text is an empty (styled) cell, as openpyxl wrote it
            ws.sheet.write_blank(r, c, None, fmt)
    else:
        value = _number(value)
        if value is None:
            return
        if isinstance(value, bool):
            ws.sheet.write_boolean(r, c, value, ws.formats[style])
        else:
            ws.sheet.write_number(r, c, value, ws.formats[style])
    ws.values.setdefault(row, {})[col] = value


def _yes_no(ws: _Sheet, row: int, col: int, ok: bool, lang: str) -> None:
    """A pass/fail cell: the word (so it survives printing in black and white) and the colour."""
    put(ws, row, col, t("yes" if ok else "no", lang), _PASS if ok else _FAIL)


def _covered(ws: _Sheet, row: int, col: int, value: Any, lang: str) -> None:
    """A ``covered_<k>`` cell: yes, no, or "no data" in grey (a category without data is not a fail)."""
    state = covered_state(value)
    if state == "no_data":
        put(ws, row, col, t("no_data", lang), _NODATA)
    else:
        _yes_no(ws, row, col, state == "yes", lang)


def _header(ws: _Sheet, row: int, texts: list[str]) -> None:
    for col, text in enumerate(texts, start=1):
        put(ws, row, col, text, _HEADER)


def _printable(ws: _Sheet) -> None:
    """Print on landscape A4 pages one sheet wide (a community's sheet is one page to sign)."""
    ws.sheet.set_landscape()
    ws.sheet.set_paper(9)  # A4
    ws.sheet.fit_to_pages(1, 0)


def _display_width(text: str) -> int:
    if text.isascii():  # most texts, numbers always: no wide character
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit_columns(ws: _Sheet, first_row: int = 1, widest: int = 60, header: int | None = None) -> None:
    """Column widths from the longest text at or below ``first_row`` (CJK counts double).

    The ``header`` row, if any, wraps instead: its row grows to hold its
    longest header, so long headers do not make every column wide.
    """
    widths: dict[int, int] = {}
    for row, cells in ws.values.items():
        if row < first_row:
            continue
        for col, value in cells.items():
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            widths[col] = max(widths.get(col, 0), _display_width(shown.split("\n")[0]))
    for col in sorted(widths):
        ws.width(col, min(widest, max(8, widths[col] + 2)))
    if header is not None:
        _grow(ws, header)


def _grow(ws: _Sheet, row: int, most: int = 6) -> None:
    """Make ``row`` tall enough for its wrapped texts (neither Excel nor LibreOffice does on opening).

    A column with no width yet (nothing below its header) is given
    :data:`DEFAULT_WIDTH`, the width the lines are counted at.
    """
    lines = []
    for col, value in ws.values.get(row, {}).items():
        if col not in ws.widths:
            ws.width(col, DEFAULT_WIDTH)
        lines.append(-(-_display_width(str(value)) // max(1, int(ws.widths[col]) - 1)))
    ws.sheet.set_row(row - 1, 15 * min(most, max(lines, default=1)))


# ---------------------------------------------------------------- the sheets


def _labels(analysis: "Analysis", lang: str) -> dict[str, str]:
    return {k: category_label(analysis.config, k, lang) for k in analysis.config.keys}


def _name(row: Mapping[str, Any], lang: str) -> str:
    """The community's name as shown; "(unnamed)" for a blank one (a link needs a text to click)."""
    name = text_of(row.get("name"))
    return name if name.strip() else t("unnamed", lang)


def _gap_text(row: Mapping[str, Any], labels: dict[str, str], lang: str) -> str:
    gaps = [labels.get(k, k) for k in text_of(row.get("gaps")).split(",") if k]
    return t("sheet_list_sep", lang).join(gaps) if gaps else t("no_gaps", lang)


def _summary_sheet(ws: _Sheet, table: "pd.DataFrame", analysis: "Analysis", titles: list[str],
                   lang: str) -> None:
    """One row per community: who, how many homes, what is covered, how far."""
    keys = analysis.config.keys
    labels = _labels(analysis, lang)
    judged = len(keys) - len(analysis.no_data)
    headers = [t("community", lang), t("community_id", lang), t("residents", lang), t("sheet_homes", lang),
               t("sheet_cut_by_edge", lang), t("sheet_reached_of", lang, n=judged), t("sheet_complete", lang),
               t("gaps", lang)]
    for k in keys:
        headers += [t("sheet_cat_covered", lang, label=labels[k]), t("sheet_cat_minutes", lang, label=labels[k])]
    _header(ws, 1, headers)
    for r, (row, title) in enumerate(zip(table.to_dict("records"), titles), start=2):
        put(ws, r, 1, _name(row, lang), _LINK, link=sheet_ref(title))
        put(ws, r, 2, text_of(row["community_id"]))
        put(ws, r, 3, row.get("residents"), _FORMAT["int"])
        put(ws, r, 4, row.get("n_buildings"), _FORMAT["int"])
        put(ws, r, 5, t("yes" if flag_of(row.get("partial")) else "no", lang))
        put(ws, r, 6, row.get("reached"), _FORMAT["int"])
        _yes_no(ws, r, 7, flag_of(row.get("complete")), lang)
        put(ws, r, 8, _gap_text(row, labels, lang))
        for i, k in enumerate(keys):
            _covered(ws, r, 9 + 2 * i, row.get(f"covered_{k}"), lang)
            put(ws, r, 10 + 2 * i, row.get(f"minutes_{k}"), _FORMAT["minutes"])
    note = not_judged_text(analysis.config, analysis.no_data, lang)
    if note:
        put(ws, len(table) + 3, 1, note)
    ws.sheet.freeze_panes("C2")  # the header and the community's name and id stay in view
    ws.sheet.autofilter(f"A1:{xl_col_to_name(len(headers) - 1)}{len(table) + 1}")
    ws.sheet.repeat_rows(0)  # the header on every printed page
    ws.sheet.set_landscape()
    _fit_columns(ws, first_row=2, widest=40, header=1)


def _facts(ws: _Sheet, row: int, facts: list[tuple[str, Any]]) -> int:
    """Label/value lines from ``row`` on; returns the next free row."""
    for label, value in facts:
        put(ws, row, 1, label, _BOLD)
        put(ws, row, 2, value, _FORMAT["int"] if isinstance(value, (int, np.integer)) else _PLAIN)
        row += 1
    return row


def _basis_sheet(ws: _Sheet, analysis: "Analysis", lang: str) -> None:
    """What every category was judged by: tier, distance, clause, OSM rules; source and date."""
    cfg = analysis.config
    put(ws, 1, 1, level_title(cfg, lang), _TITLE)
    row = _facts(ws, 2, [
        (t("basis", lang), basis_text(cfg, lang)),
        (t("rule", lang), rule_text(cfg, lang)),
        (t("sheet_speed", lang), float(cfg.speed_kmh)),
        (t("data_source", lang), text_of(analysis.source)),
        (t("data_date", lang), text_of(analysis.data_date) or t("not_available", lang)),
        (t("facility_sources", lang), text_of(analysis.sources_text(lang))),
        (t("sheet_facilities", lang), review_text(analysis.review, lang)),
        (t("population", lang), population_text(analysis.population, lang)),
        *([("", not_judged_text(cfg, analysis.no_data, lang))] if analysis.no_data else []),
        ("", t("attribution", lang)),
    ])
    head = row + 1
    _header(ws, head, [t("category", lang), t("sheet_category_key", lang), t("tier", lang),
                       t("sheet_limit_metres", lang), t("sheet_limit_minutes", lang), t("clause", lang),
                       t("osm_rules", lang)])
    for r, rec in enumerate(analysis.basis.to_dict("records"), start=head + 1):
        key = rec["category"]
        put(ws, r, 1, category_label(cfg, key, lang))
        put(ws, r, 2, key)
        put(ws, r, 3, tier_text(cfg, key, lang))
        put(ws, r, 4, rec["distance_m"], _FORMAT["metres"])
        put(ws, r, 5, rec["minutes"], _FORMAT["minutes"])
        put(ws, r, 6, text_of(rec["clause"]), _WRAP)
        put(ws, r, 7, text_of(rec["osm_rules"]), _WRAP)
    ws.sheet.freeze_panes(f"A{head + 1}")
    _fit_columns(ws, first_row=head + 1, widest=60, header=head)
    for r in range(head + 1, head + 1 + len(analysis.basis)):
        _grow(ws, r)
    _printable(ws)


def _missing_text(row: Mapping[str, Any], key: str, label: str, analysis: "Analysis", lang: str) -> str:
    """What a category lacks in one community, in words ("" when every home is within reach)."""
    if covered_state(row.get(f"covered_{key}")) == "no_data":
        return t("no_data_long", lang)
    share = row.get(f"share_{key}")
    none_found = not text_of(row.get(f"nearest_id_{key}")) and is_missing(row.get(f"metres_{key}"))
    # none from the centre; homes elsewhere in the community may still reach one
    if none_found and (is_missing(share) or float(share) <= 0):
        return t("sheet_missing_none", lang, label=label)
    if is_missing(share) or float(share) >= 1:
        return ""
    limit = t("metres_value", lang, value=f"{analysis.config.limit_m(key):g}")
    beyond = f"{round(100 * (1 - float(share)), 1):g}"
    homes = (row.get("n_buildings") or 0) > 0
    return t("sheet_missing_homes" if homes else "sheet_missing_area", lang, share=beyond, limit=limit)


def _community_sheet(ws: _Sheet, row: Mapping[str, Any], analysis: "Analysis", lang: str) -> None:
    """One community: who it is, then a line per category."""
    cfg = analysis.config
    labels = _labels(analysis, lang)
    put(ws, 1, 1, _name(row, lang), _TITLE)
    reached = t("reached_value", lang, reached=int(row.get("reached") or 0),
                n=int(row.get("n_categories") or len(cfg.keys)))
    top = _facts(ws, 2, [
        (t("community_id", lang), text_of(row["community_id"])),
        (t("residents", lang), row.get("residents")),
        (t("sheet_homes", lang), row.get("n_buildings")),
        (t("reached", lang), reached),
        (t("gaps", lang), _gap_text(row, labels, lang)),
        (t("sheet_cut_by_edge", lang), t("yes" if flag_of(row.get("partial")) else "no", lang)),
    ])
    _yes_no(ws, top, 2, flag_of(row.get("complete")), lang)
    put(ws, top, 1, t("sheet_complete", lang), _BOLD)
    head = top + 2
    _header(ws, head, [t("category", lang), t("tier", lang), t("sheet_limit_metres", lang), t("nearest", lang),
                       t("walk_metres", lang), t("walk_minutes", lang), t("covered", lang),
                       t("sheet_homes_within", lang), t("sheet_residents_within", lang), t("sheet_missing", lang)])
    for r, k in enumerate(cfg.keys, start=head + 1):
        nearest = text_of(row.get(f"nearest_{k}"))
        if not nearest and text_of(row.get(f"nearest_id_{k}")):
            nearest = t("unnamed", lang)
        put(ws, r, 1, labels[k])
        put(ws, r, 2, tier_text(cfg, k, lang))
        put(ws, r, 3, row.get(f"limit_m_{k}"), _FORMAT["metres"])
        put(ws, r, 4, nearest)
        put(ws, r, 5, row.get(f"metres_{k}"), _FORMAT["metres"])
        put(ws, r, 6, row.get(f"minutes_{k}"), _FORMAT["minutes"])
        _covered(ws, r, 7, row.get(f"covered_{k}"), lang)
        put(ws, r, 8, row.get(f"share_{k}"), _FORMAT["share"])
        put(ws, r, 9, row.get(f"residents_share_{k}"), _FORMAT["share"])
        put(ws, r, 10, _missing_text(row, k, labels[k], analysis, lang))
    _fit_columns(ws, first_row=head + 1, widest=40, header=head)  # before the notes, which overflow
    end = head + len(cfg.keys) + 2
    put(ws, end, 1, rule_text(cfg, lang))
    put(ws, end + 1, 1, t("sheet_note", lang))
    _printable(ws)


def _frame_sheet(ws: _Sheet, frame: "pd.DataFrame", lang: str) -> None:
    """A DataFrame as a plain table: header row frozen, filters on, text as text."""
    _header(ws, 1, [text_of(c) for c in frame.columns])
    for r, values in enumerate(frame.itertuples(index=False), start=2):
        for c, value in enumerate(values, start=1):
            if isinstance(value, (bool, np.bool_)):
                value = t("yes" if value else "no", lang)
            elif not isinstance(value, (str, int, float, np.integer, np.floating)) and not is_missing(value):
                value = str(value)
            put(ws, r, c, value)
    ws.sheet.freeze_panes("A2")
    if len(frame.columns):
        ws.sheet.autofilter(f"A1:{xl_col_to_name(len(frame.columns) - 1)}{len(frame) + 1}")
    _fit_columns(ws, first_row=2, widest=50, header=1)


#: The facilities sheet's columns (of :func:`lifecircle.outputs.files.facilities_table`) and their headers.
_FACILITY_HEADERS = (("poi_id", "facility_id"), ("category", "facility_category_key"), ("label", "facility_label"),
                     ("name", "facility_name"), ("counted", "facility_counted"), ("reason_text", "facility_reason"),
                     ("rule", "facility_rule"), ("within", "facility_within"), ("area_m2", "facility_area"),
                     ("source", "facility_source"), ("also_in", "facility_also_in"), ("note", "facility_note"),
                     ("tags", "facility_tags"), ("lon", "lon"), ("lat", "lat"), ("decision", "facility_decision"),
                     ("new_category", "facility_new_category"), ("review_note", "facility_review_note"))


def _facilities_sheet(ws: _Sheet, analysis: "Analysis", lang: str) -> None:
    """Every candidate facility, counted or not, and why; the last three columns are the planner's
    (read back by ``--review``)."""
    table = facilities_table(analysis, lang)
    headers = [t(key, lang) if key not in ("lon", "lat") else key for _, key in _FACILITY_HEADERS]
    _header(ws, 1, headers)
    labels = _labels(analysis, lang)
    for r, row in enumerate(table.to_dict("records"), start=2):
        for c, (col, _) in enumerate(_FACILITY_HEADERS, start=1):
            if col == "label":
                put(ws, r, c, labels.get(row["category"], text_of(row["category"])))
            elif col == "counted":
                _yes_no(ws, r, c, bool(row["counted"]), lang)
            elif col in ("area_m2", "lon", "lat"):
                put(ws, r, c, row[col], _FORMAT["metres"] if col == "area_m2" else _PLAIN)
            else:
                put(ws, r, c, text_of(row[col]))
    ws.sheet.freeze_panes("D2")
    ws.sheet.autofilter(f"A1:{xl_col_to_name(len(headers) - 1)}{len(table) + 1}")
    _fit_columns(ws, first_row=2, widest=50, header=1)


def _rows(ws: _Sheet, table: "pd.DataFrame", heads: list[tuple[str, str]], lang: str, formats: dict[str, str],
          cell: Callable[[str, Any], tuple | None] | None = None) -> None:
    """A header of ``heads`` ((column, text key) pairs) and the table's rows below it.

    A column in ``formats`` is written with that number format (a key of
    ``_FORMAT``), any other as text; ``cell(column, value)`` may return the
    arguments of :func:`put` after the cell's position instead.
    """
    _header(ws, 1, [t(key, lang) for _, key in heads])
    for r, row in enumerate(table.to_dict("records"), start=2):
        for c, (col, _) in enumerate(heads, start=1):
            value = row[col]
            own = cell(col, value) if cell else None
            if own is not None:
                put(ws, r, c, *own)
            elif col in formats:
                put(ws, r, c, value, _FORMAT[formats[col]])
            else:
                put(ws, r, c, text_of(value))


def _indicator_sheet(ws: _Sheet, analysis: "Analysis", lang: str) -> None:
    """The indicators officials report: per scope and category, population and area coverage side by side."""
    from ..indicators import indicators

    table = indicators(analysis, lang)
    heads = [("scope", "col_scope"), ("label", "category"), ("tier", "tier"), ("limit_m", "sheet_limit_metres"),
             ("residents", "residents"), ("population_share", "col_population_share"),
             ("area_share", "col_area_share"), ("elderly_share", "col_elderly_share"),
             ("communities_covered", "communities_covered")]

    def cell(col: str, value: Any) -> tuple | None:
        if col == "scope":
            return (text_of(t("scope_district", lang) if value == "district" else value),)
        if col in ("population_share", "area_share") and is_missing(value):
            return t("no_data", lang), _NODATA
        return None

    _rows(ws, table, heads, lang, {"population_share": "share", "area_share": "share", "elderly_share": "share",
                                   "residents": "int", "communities_covered": "int", "limit_m": "metres"}, cell)
    note = len(table) + 3
    put(ws, note, 1, t("indicators_note", lang))
    put(ws, note + 1, 1, t("population", lang) + ": " + population_text(analysis.population, lang))
    ws.sheet.freeze_panes("C2")
    _fit_columns(ws, first_row=2, widest=30, header=1)


def _problem_sheet(ws: _Sheet, analysis: "Analysis", lang: str) -> None:
    """The problem list: community by community, what is missing, most residents affected first."""
    from ..indicators import problems

    table = problems(analysis, lang)
    heads = [("name", "community"), ("community_id", "community_id"), ("subdistrict", "col_scope"),
             ("label", "category"), ("residents", "residents"), ("residents_affected", "col_residents_affected"),
             ("elderly_affected", "col_elderly_affected"), ("nearest", "nearest"), ("metres", "walk_metres"),
             ("limit_m", "sheet_limit_metres"), ("share", "sheet_homes_within"), ("gap_area_m2", "col_gap_area")]
    _rows(ws, table, heads, lang, {"residents": "int", "residents_affected": "int", "elderly_affected": "int",
                                   "gap_area_m2": "int", "metres": "metres", "limit_m": "metres", "share": "share"})
    ws.sheet.freeze_panes("B2")
    if len(table):
        ws.sheet.autofilter(f"A1:{xl_col_to_name(len(heads) - 1)}{len(table) + 1}")
    put(ws, len(table) + 3, 1, t("problems_note", lang))
    _fit_columns(ws, first_row=2, widest=40, header=1)


def _stamp(data_date: str | None) -> dt.datetime:
    """The time the workbook says it was made: the data's date (so one input gives one file)."""
    try:
        day = dt.date.fromisoformat(text_of(data_date)[:10])
    except ValueError:
        return EPOCH
    return dt.datetime(max(day.year, 1980), day.month, day.day)  # zip times start in 1980


def _write_book(book: "xlsxwriter.Workbook", analysis: "Analysis", lang: str,
                extra: Mapping[str, "pd.DataFrame"] | None) -> None:
    """The sheets of :func:`coverage_xlsx` into ``book``, and its properties."""
    check_lang(lang)
    table = coverage_table(analysis)
    formats = _Formats(book)
    fixed = [t("sheet_summary", lang), t("sheet_basis", lang), t("sheet_facilities", lang),
             t("sheet_indicators", lang), t("sheet_problems", lang)]
    extra = dict(extra or {})
    extra_titles = sheet_titles(extra, taken=fixed)
    names = [n if clean_title(n) else i for n, i in zip(table["name"], table["community_id"])]
    titles = sheet_titles(names, taken=fixed + extra_titles, fallback=t("community", lang))

    def add(title: str) -> _Sheet:
        return _Sheet(book.add_worksheet(title), formats)

    _summary_sheet(add(fixed[0]), table, analysis, titles, lang)
    _basis_sheet(add(fixed[1]), analysis, lang)
    for title, frame in zip(extra_titles, extra.values()):
        _frame_sheet(add(title), frame, lang)
    _facilities_sheet(add(fixed[2]), analysis, lang)
    _indicator_sheet(add(fixed[3]), analysis, lang)
    _problem_sheet(add(fixed[4]), analysis, lang)
    for row, title in zip(table.to_dict("records"), titles):
        _community_sheet(add(title), row, analysis, lang)
    # created and modified: the data's date, not now (XlsxWriter writes both from "created")
    book.set_properties({"title": t("report_title", lang), "author": "lifecircle",
                         "created": _stamp(analysis.data_date)})


def coverage_xlsx(analysis: "Analysis", lang: str = "en",
                  extra: Mapping[str, "pd.DataFrame"] | None = None) -> bytes:
    """``coverage.xlsx`` of ``analysis``: summary, basis, extra tables, one sheet per community.

    Parameters
    ----------
    analysis
        A finished analysis.
    lang
        "en" or "zh": headers, yes/no, category labels and sheet names of
        the summary and basis.
    extra
        Further tables, sheet title -> DataFrame (e.g. a what-if scenario
        comparison), placed after the basis; titles are made valid and unique.

    Returns
    -------
    bytes
        The file. Sheets: the summary (one row per community, numbers as in
        ``coverage.csv``), the basis, each ``extra`` table, then one sheet per
        community in table order. The same analysis gives the same bytes:
        its created/modified times and its zip entries' times are the data's date.
    """
    raw = io.BytesIO()
    book = xlsxwriter.Workbook(raw, {"in_memory": True})
    # the cells' ~10 small objects each live until the file is written, so the
    # collections they set off free nothing, yet walk the whole heap, the
    # analysis's too: 0.63 s instead of 0.40 for a city of 363 communities
    with gc_paused():
        try:
            _write_book(book, analysis, lang, extra)
        finally:
            book.close()
    return _restamp(raw.getvalue(), _stamp(analysis.data_date))


def coverage_workbook(analysis: "Analysis", lang: str = "en",
                      extra: Mapping[str, "pd.DataFrame"] | None = None) -> "Workbook":
    """The coverage workbook (:func:`coverage_xlsx`) as openpyxl reads it.

    For adding sheets or restyling in Python before writing it with
    :func:`workbook_bytes`; the file itself is :func:`coverage_xlsx`.
    Parameters as :func:`coverage_xlsx`.

    Returns
    -------
    openpyxl.Workbook
        Its created/modified times are the data's date.
    """
    import openpyxl  # only here: writing the file does not need it

    return openpyxl.load_workbook(io.BytesIO(coverage_xlsx(analysis, lang, extra)))


def _restamp(data: bytes, when: dt.datetime) -> bytes:
    """The zip archive ``data`` with every entry dated ``when`` (and readable by all)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def workbook_bytes(wb: "Workbook") -> bytes:
    """The ``.xlsx`` file of the openpyxl workbook ``wb``, the same bytes for the same workbook.

    openpyxl's ``save`` stamps the current time into ``docProps/core.xml``
    and every zip entry; here both are the workbook's own ``modified`` time
    (the data's date in a workbook from :func:`coverage_workbook`).
    """
    from openpyxl.writer.excel import ExcelWriter

    when = wb.properties.modified or EPOCH  # before saving, in case saving touches it
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()  # save() closes the archive
    return _restamp(raw.getvalue(), when)

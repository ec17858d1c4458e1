"""The planner's review: keep, drop, move or open facilities, remembered across runs.

The planner marks rows of the facilities table (``facilities.csv`` or the
facilities sheet of ``coverage.xlsx``) in its ``decision`` column and runs again
with ``--review FILE``. Decisions are keyed by the facility's id (``node/123``,
stable across newer extracts of the same place) and category, applied after
the rules and before any walk is measured. A decision whose facility is no
longer in the data is listed, never silently dropped.

Decisions (English or Chinese):

=============  ==================  ===================================================
decision       中文                 effect
=============  ==================  ===================================================
keep           保留, 计入            counts, whatever the rules said
drop           删除, 不计入          does not count
move           改类                 counts under ``new_category`` instead
public         公开, 开放            counts: open to residents (a school ground with set hours)
not_public     不公开, 不开放         does not count: not open to residents
=============  ==================  ===================================================
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..config import Config
from ..errors import InputFileError
from ..text import is_missing

#: Decision words -> decision.
DECISIONS = {
    "keep": "keep", "保留": "keep", "计入": "keep", "計入": "keep", "yes": "keep",
    "drop": "drop", "删除": "drop", "刪除": "drop", "不计入": "drop", "不計入": "drop", "no": "drop",
    "move": "move", "改类": "move", "改類": "move",
    "public": "public", "公开": "public", "公開": "public", "开放": "public", "開放": "public",
    "not_public": "not_public", "not public": "not_public", "不公开": "not_public", "不公開": "not_public",
    "不开放": "not_public", "不開放": "not_public",
}

#: Column names read from a review file (English as written, or the Chinese headers of the sheet).
ID_COLUMNS = ("poi_id", "设施编号", "設施編號", "编号", "id")
CATEGORY_COLUMNS = ("category", "类别代码", "類別代碼", "类别", "類別")
DECISION_COLUMNS = ("decision", "复核决定", "複核決定", "复核", "决定")
NEW_CATEGORY_COLUMNS = ("new_category", "改为类别", "改為類別", "新类别")
NOTE_COLUMNS = ("review_note", "复核说明", "複核說明")


@dataclass
class ReviewSummary:
    """What a planner's review did to a run.

    ``decisions``: decisions read; ``kept``, ``dropped``, ``moved``: facilities whose
    count they changed that way; ``added``: facilities from the planner's own files
    (``--pois``) counted; ``stale``: ids of decisions whose facility is not in the data.
    """

    file: str = ""
    decisions: int = 0
    kept: int = 0
    dropped: int = 0
    moved: int = 0
    added: int = 0
    stale: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.file or self.added)


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    folded = {str(c).strip().casefold(): c for c in columns}
    return next((folded[n.casefold()] for n in names if n.casefold() in folded), None)


def _read_table(path: Path) -> pd.DataFrame:
    """The rows of a review file: a CSV, or the sheet of a workbook that holds facility ids."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"review file not found: {path}") from None
    except OSError as e:
        raise InputFileError(f"review file {path}: cannot be read ({e.strerror or e})") from None
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_workbook(path, data)
    if path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        raise InputFileError(f"review file {path}: use the facilities table as CSV or coverage.xlsx, "
                             f"not {path.suffix or 'a file without a suffix'}")
    from ..sources.textenc import decode_text

    text, _ = decode_text(data, None, f"review file {path}")
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                           sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except (pd.errors.ParserError, ValueError) as e:
        raise InputFileError(f"review file {path}: not a valid CSV file ({e})") from None


def _read_workbook(path: Path, data: bytes) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a broken file
        raise InputFileError(f"review file {path}: not a readable Excel workbook ({e})") from None
    for ws in wb.worksheets:
        rows = ws.iter_rows(values_only=True)
        for header in rows:
            cells = ["" if c is None else str(c) for c in header]
            if _find(cells, ID_COLUMNS) and _find(cells, DECISION_COLUMNS):
                body = [["" if c is None else str(c) for c in r] for r in rows]
                return pd.DataFrame(body, columns=cells)
            break
    raise InputFileError(f"review file {path}: no sheet with a facility id column (poi_id) and a decision column")


@dataclass
class Decision:
    poi_id: str
    category: str
    decision: str
    new_category: str
    note: str


def read_review(path: str | Path, cfg: Config) -> list[Decision]:
    """The decisions of a review file (rows without a decision are not decisions).

    Raises
    ------
    InputFileError
        A missing or unreadable file, no id or decision column, an unknown decision word,
        a move without a known new category.
    """
    path = Path(path)
    table = _read_table(path)
    cols = list(table.columns)
    id_col, dec_col = _find(cols, ID_COLUMNS), _find(cols, DECISION_COLUMNS)
    if id_col is None or dec_col is None:
        raise InputFileError(f"review file {path}: needs a poi_id column and a decision column; "
                             f"found: {', '.join(map(str, cols)) or 'none'}")
    cat_col, new_col, note_col = _find(cols, CATEGORY_COLUMNS), _find(cols, NEW_CATEGORY_COLUMNS), \
        _find(cols, NOTE_COLUMNS)
    out = []
    for i, row in table.iterrows():
        word = str(row[dec_col]).strip()
        if not word or is_missing(row[dec_col]):
            continue
        decision = DECISIONS.get(word.casefold())
        line = f"row {i + 2}" if path.suffix.lower() != ".xlsx" else f"row {i + 2} of the sheet"
        if decision is None:
            known = ", ".join(sorted({k for k in DECISIONS if k.isascii()}))
            raise InputFileError(f"review file {path}, {line}: unknown decision {word!r} (use {known}, "
                                 f"or 保留/删除/改类/公开/不公开)")
        poi_id = str(row[id_col]).strip()
        if not poi_id:
            raise InputFileError(f"review file {path}, {line}: a decision without a facility id")
        new = str(row[new_col]).strip() if new_col is not None else ""
        if decision == "move" and new not in cfg.keys:
            raise InputFileError(f"review file {path}, {line}: 'move' needs new_category, one of the run's "
                                 f"categories ({', '.join(cfg.keys)}), not {new!r}")
        out.append(Decision(poi_id, str(row[cat_col]).strip() if cat_col is not None else "", decision, new,
                            str(row[note_col]).strip() if note_col is not None else ""))
    return out


def apply_review(register: gpd.GeoDataFrame, decisions: list[Decision], file: str = "") -> tuple[
        gpd.GeoDataFrame, ReviewSummary]:
    """The register with the planner's decisions applied; and what they changed.

    A decision names a facility by id and, if it has rows in several categories, by
    category (no category: every row of the id). The row's ``counted`` follows the
    decision, its ``reason`` becomes ``review_keep``, ``review_drop`` or ``review_move``
    and its ``rule`` says "planner: ...".
    """
    reg = register.copy()
    summary = ReviewSummary(file=file, decisions=len(decisions))
    ids = reg["poi_id"].to_numpy(object)
    cats = reg["category"].to_numpy(object)
    extra = []
    for d in decisions:
        rows = np.flatnonzero((ids == d.poi_id) & ((cats == d.category) if d.category else True))
        if not len(rows):
            summary.stale.append(d.poi_id)
            continue
        note = f" ({d.note})" if d.note else ""
        for r in rows:
            was = bool(reg["counted"].iat[r])
            if d.decision in ("keep", "public"):
                what = "keep" if d.decision == "keep" else "open to residents"
                reg.loc[reg.index[r], ["counted", "reason", "rule"]] = [True, "review_keep", f"planner: {what}{note}"]
                summary.kept += not was
            elif d.decision in ("drop", "not_public"):
                what = "drop" if d.decision == "drop" else "not open to residents"
                reg.loc[reg.index[r], ["counted", "reason", "rule"]] = [False, "review_drop", f"planner: {what}{note}"]
                summary.dropped += was
            else:
                old = cats[r]
                reg.loc[reg.index[r], ["counted", "reason", "rule"]] = [
                    False, "review_move", f"planner: moved to {d.new_category}{note}"]
                there = np.flatnonzero((ids == d.poi_id) & (cats == d.new_category))
                if len(there):
                    reg.loc[reg.index[there], ["counted", "reason", "rule"]] = [
                        True, "review_move", f"planner: moved from {old}{note}"]
                else:
                    row = reg.iloc[[r]].copy()
                    row["category"], row["counted"], row["reason"] = d.new_category, True, "review_move"
                    row["rule"] = f"planner: moved from {old}{note}"
                    extra.append(row)
                summary.moved += 1
    if extra:
        reg = gpd.GeoDataFrame(pd.concat([reg, *extra], ignore_index=True), geometry="geometry", crs=register.crs)
    return reg, summary


def review_counts(summary: ReviewSummary | None) -> dict[str, Any]:
    """The summary as plain numbers (for tables and messages)."""
    s = summary or ReviewSummary()
    return {"decisions": s.decisions, "kept": s.kept, "dropped": s.dropped, "moved": s.moved, "added": s.added,
            "stale": len(s.stale)}

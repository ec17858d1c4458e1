"""Precision and recall of the facility rules on the labelled corpus (see README.md here).

``python tests/corpus/evaluate.py`` prints the table and writes ``RESULTS.md``;
``tests/test_facility_corpus.py`` computes the same numbers and checks them against
that file and the targets.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import shape

HERE = Path(__file__).resolve().parent

#: The categories judged by default (every level's), and those only listed.
JUDGED = ("canteen", "clinic", "pharmacy", "park", "sports", "school", "bank", "market", "kindergarten",
          "health_centre", "culture", "elderly_care")
LISTED = ("hospital",)


#: The development set (the rules were revised after reading its errors) and the held-out one
#: (labelled the same way afterwards, never used to change a rule).
SETS = {"development": HERE, "held-out": HERE / "heldout"}


def sources(folder: Path = HERE) -> list[dict[str, str]]:
    with open(folder / "sources.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load(city: str, folder: Path = HERE) -> tuple[gpd.GeoDataFrame, dict[str, dict], shapely.Geometry]:
    """A corpus file as the features table the reader would give, its labels by id, and its extent."""
    fc = json.loads((folder / f"{city}.geojson").read_text(encoding="utf-8"))
    recs = fc["features"]
    ids = [r["properties"]["id"] for r in recs]
    feats = gpd.GeoDataFrame({
        "osm_type": [i.split("/")[0] for i in ids],
        "osm_id": pd.Series([int(i.split("/")[1]) for i in ids], dtype="int64"),
        "name": [r["properties"]["tags"].get("name", "") for r in recs],
        "tags": [r["properties"]["tags"] for r in recs],
        "clipped": pd.Series([bool(r["properties"]["clipped"]) for r in recs], dtype=bool),
    }, geometry=[shape(r["geometry"]) for r in recs], crs="EPSG:4326")
    labels = {r["properties"]["id"]: r["properties"] for r in recs if r["properties"]["role"] == "candidate"}
    return feats, labels, shapely.box(*fc["extent"])


def config():
    from lifecircle.config import load_config

    return load_config(level="15min", categories=[*JUDGED, *LISTED])


def outcomes(cfg=None, folder: Path = HERE) -> pd.DataFrame:
    """One row per labelled candidate: its label and what the rules decided, per city."""
    from lifecircle.facilities import classify
    from lifecircle.sources.coords import local_utm

    cfg = cfg or config()
    rows = []
    for src in sources(folder):
        feats, labels, extent = load(src["city"], folder)
        crs = local_utm(shapely.box(*feats.total_bounds))
        reg = classify(feats, cfg, crs, extent)
        by_id = {pid: part for pid, part in reg.groupby("poi_id")}
        for ident, props in labels.items():
            mine = by_id.get(ident)
            counted = set() if mine is None else set(mine.loc[mine["counted"], "category"])
            # a part of a whole that is counted (a court of a sports centre) is counted through it
            via = set() if mine is None else set(mine.loc[mine["rule"].str.endswith("counted there"), "category"])
            rows.append({"city": src["city"], "script": src["script"], "id": ident,
                         "name": props["tags"].get("name", ""), "label": props.get("label", ""),
                         "why": props.get("why", ""), "counted": counted, "via": via})
    return pd.DataFrame(rows)


@dataclass
class Score:
    category: str
    predicted: int
    labelled: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else float("nan")

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else float("nan")


def scores(table: pd.DataFrame, keys=(*JUDGED, *LISTED)) -> list[Score]:
    """Per category, over the labelled candidates (``unsure`` left out): facilities counted, labelled
    as the category, and both. A part counted through its whole is neither (it is not counted twice,
    nor missed)."""
    table = table[table["label"] != "unsure"]
    out = []
    for k in keys:
        via = table["via"].map(lambda s, k=k: k in s)
        got = table["counted"].map(lambda s, k=k: k in s) & ~via
        want = table["label"].str.split("|").map(lambda s, k=k: k in s) & ~via
        out.append(Score(k, int(got.sum()), int(want.sum()), int((got & want).sum())))
    return out


def markdown(table: pd.DataFrame, name: str = "development") -> str:
    labelled = table[table["label"] != "unsure"]
    cities = table["city"].nunique()
    unsure = int((table["label"] == "unsure").sum())
    title = name if name.endswith("corpus") else f"{name} set"
    lines = [
        f"**{title}**: {len(labelled)} labelled candidates ({unsure} unsure, "
        f"left out) from {cities} extracts of {len({c.split('_')[0] for c in table['city']})} cities "
        f"({', '.join(sorted(set(table['script'])))} script); "
        f"{int((labelled['label'] != 'none').sum())} of them are facilities.",
        "",
        "| category | counted | labelled | correct | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for s in scores(table):
        def pct(x: float) -> str:
            return "n/a" if x != x else f"{x:.3f}"
        name = s.category + (" (listed, not judged)" if s.category in LISTED else "")
        lines.append(f"| {name} | {s.predicted} | {s.labelled} | {s.correct} | {pct(s.precision)} | "
                     f"{pct(s.recall)} |")
    return "\n".join(lines) + "\n"


def all_outcomes() -> pd.DataFrame:
    """Both sets' outcomes, one table (a ``set`` column names each row's)."""
    return pd.concat([outcomes(folder=folder).assign(set=name) for name, folder in SETS.items()], ignore_index=True)


def report(table: pd.DataFrame) -> str:
    """The tables RESULTS.md and the README carry: the whole corpus, then each set."""
    parts = [markdown(table, "whole corpus")]
    parts += [markdown(table[table["set"] == name], name) for name in SETS]
    return "\n".join(parts)


if __name__ == "__main__":
    text = report(all_outcomes())
    print(text)
    if "--write" in sys.argv:
        first = (HERE / "heldout" / "FIRST-LOOK.md").read_text(encoding="utf-8")
        (HERE / "RESULTS.md").write_text("# Facility rules on the labelled corpus\n\n"
                                         "Written by `python tests/corpus/evaluate.py --write`; checked by "
                                         "`tests/test_facility_corpus.py`.\n\n" + text + "\n" + first,
                                         encoding="utf-8")

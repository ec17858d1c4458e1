"""Build the labelled facility corpus's feature files from the cited OSM extracts.

Not a test: how ``tests/corpus/*.geojson`` were made (see README.md there). For each
extract (listed in ``sources.csv``) it keeps, independently of lifecircle's category rules,

* every *candidate*: an object whose tags or name make it look like any daily facility
  (a broad net: amenity=school/clinic/..., shop=supermarket/convenience/..., leisure=park/
  pitch/..., healthcare=*, building=school/hospital/stadium, or a name holding a word
  such as 学/校/医/诊/药/银行/市场/公园/体育/图书/养老/食堂), and
* its *context*: every area that encloses a candidate (a campus, a hospital, a
  compound, a park),

with their OSM tags and geometry. ``--labels`` joins the hand labels
(``labels.csv``) onto the candidates.

Usage: ``python tests/corpus/build.py EXTRACT_DIR [--labels tests/corpus/labels.csv] [--set heldout]``
(``--set heldout``: the held-out extracts of ``heldout/sources.csv``, written there.)
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import shapely

HERE = Path(__file__).resolve().parent

AMENITY = {"school", "kindergarten", "childcare", "college", "university", "clinic", "doctors", "dentist",
           "hospital", "pharmacy", "bank", "marketplace", "library", "community_centre", "arts_centre",
           "social_centre", "canteen", "social_facility", "nursing_home", "food_court"}
SHOP = {"supermarket", "greengrocer", "convenience", "chemist", "medical_supply", "butcher", "seafood", "farm",
        "deli", "general", "department_store", "mall", "health_food", "herbalist", "frozen_food"}
LEISURE = {"park", "garden", "pitch", "sports_centre", "stadium", "fitness_station", "fitness_centre",
           "swimming_pool", "track", "recreation_ground", "common", "sports_hall"}
BUILDING = {"school", "hospital", "stadium", "kindergarten", "university", "sports_hall", "college"}
WORDS = re.compile("学|學|校|医|醫|诊|診|卫生|衛生|药|藥|银行|銀行|信用社|市场|市場|菜|超市|生鲜|生鮮|街市|公园|公園|"
                   "游园|遊園|绿地|綠地|体育|體育|健身|球场|球場|运动|運動|泳|图书|圖書|书屋|書屋|文化|活动中心|活動中心|"
                   "养老|養老|敬老|老人|长者|長者|安养|安養|护理|護理|托儿|托兒|幼|食堂|饭堂|飯堂|助餐|照料|照顧")


def is_candidate(tags: dict[str, str]) -> bool:
    first = {k: tags.get(k, "").split(";")[0] for k in ("amenity", "shop", "leisure", "building")}
    if first["amenity"] in AMENITY or first["shop"] in SHOP or first["leisure"] in LEISURE:
        return True
    if "healthcare" in tags or "social_facility" in tags or first["building"] in BUILDING:
        return True
    name = " ".join(tags.get(k, "") for k in ("name", "name:zh", "official_name"))
    return bool(name and WORDS.search(name)) and not ("highway" in tags or "railway" in tags)


def build(extract: Path, city: str, out: Path, labels: dict[str, dict[str, str]] | None) -> int:
    from lifecircle.sources.osmfile import features_frame, scan_osm

    feats = features_frame(scan_osm(extract).features)
    cand = feats["tags"].map(is_candidate).to_numpy()
    geoms = feats.geometry.to_numpy()
    areas = shapely.get_type_id(geoms) >= 3
    anchors = shapely.point_on_surface(geoms[cand])
    tree = shapely.STRtree(geoms[areas])
    _, hit = tree.query(anchors, predicate="within")
    area_rows = set(map(int, feats.index[areas][hit]))
    keep = sorted(set(map(int, feats.index[cand])) | area_rows)
    records = []
    for i in keep:
        row = feats.loc[i]
        ident = f"{row['osm_type']}/{row['osm_id']}"
        props = {"id": ident, "city": city, "tags": row["tags"], "clipped": bool(row["clipped"]),
                 "role": "candidate" if cand[i] else "context"}
        if cand[i] and labels is not None and ident in labels.get(city, {}):
            props.update(labels[city][ident])
        geom = shapely.set_precision(row.geometry, 1e-7)
        records.append({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)})
    # the data's extent, along which classify closes the areas the extract cuts
    fc = {"type": "FeatureCollection", "extent": [round(float(v), 7) for v in feats.total_bounds],
          "features": records}
    out.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return int(cand.sum())


def read_labels(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["city"], {})[r["id"]] = {"label": r["label"], "why": r["why"]}
    return out


def main(argv: list[str]) -> None:
    folder = Path(argv[1])
    labels = read_labels(Path(argv[argv.index("--labels") + 1])) if "--labels" in argv else None
    where = HERE / argv[argv.index("--set") + 1] if "--set" in argv else HERE
    with open(where / "sources.csv", encoding="utf-8") as f:
        for src in csv.DictReader(f):
            n = build(folder / src["file"], src["city"], where / f"{src['city']}.geojson", labels)
            print(f"{src['city']}: {n} candidates")


if __name__ == "__main__":
    main(sys.argv)

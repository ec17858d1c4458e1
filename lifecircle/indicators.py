"""The indicators officials report, and the problem list a district works down.

City health checks (城市体检) and life-circle assessments report, per facility category,
the share of **residents** within its walking distance (人口覆盖率) and the share of
**residential land** within it (用地覆盖率), for the district and each sub-district (街道);
:func:`indicators` gives both, side by side, with each indicator's definition and the
clause or guideline it comes from. :func:`problems` lists, community by community, every
category not covered, with the residents it leaves out: the 问题清单.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Columns of :func:`indicators`.
INDICATOR_COLUMNS = ["scope", "category", "label", "tier", "limit_m", "communities", "communities_covered",
                     "residents", "residents_within", "population_share", "elderly", "elderly_within",
                     "elderly_share", "land_m2", "land_within_m2", "area_share", "definition", "source"]

#: Columns of :func:`problems`.
PROBLEM_COLUMNS = ["community_id", "name", "subdistrict", "category", "label", "residents", "residents_affected",
                   "elderly_affected", "nearest", "nearest_id", "metres", "limit_m", "share", "gap_area_m2"]

#: Where each indicator is defined. The walking distances are GB 50180-2018's (表3.0.4, 附录C); the
#: two coverage shares are the forms city health checks report; clauses not checked against the
#: standards' text here are marked so.
SOURCES = {
    "population_share": ("share of the residents whose home lies within the category's walking distance of one "
                         "of its facilities, along the streets",
                         "GB 50180-2018 表3.0.4 and 附录C (walking distances); TD/T 1062-2021 (服务要素 by life-"
                         "circle tier); TD/T 1063-2021 城市体检评估 and 住房和城乡建设部 城市体检指标 (步行可达覆盖率, "
                         "by population) — the latter two not verified from their text here"),
    "area_share": ("share of the residential land (the communities' area) within the category's walking "
                   "distance, each community's land counted in proportion to its homes within reach (to its "
                   "area, where it has no home)",
                   "GB 50180-2018 表3.0.4 and 附录C; TD/T 1063-2021 城市体检评估 (覆盖率 by area) — not verified "
                   "from its text here"),
}


def _covered_fraction(cov: pd.DataFrame, key: str, column: str) -> np.ndarray:
    """Per community, the fraction within reach: of residents (or older residents), else of homes or area."""
    share = pd.to_numeric(cov.get(f"share_{key}"), errors="coerce").to_numpy(float)
    if column not in cov:
        return share
    res = pd.to_numeric(cov[column], errors="coerce").to_numpy(float)
    return np.where(np.isfinite(res), res, share)


def _row(cov: pd.DataFrame, analysis: Any, key: str, scope: str, lang: str) -> dict[str, Any]:
    cfg = analysis.config
    from .i18n import category_label, tier_text

    residents = pd.to_numeric(cov["residents"], errors="coerce").fillna(0).to_numpy(float)
    pop_frac = np.nan_to_num(_covered_fraction(cov, key, f"residents_share_{key}"))
    land = cov["land_m2"].to_numpy(float)
    land_frac = np.nan_to_num(pd.to_numeric(cov[f"share_{key}"], errors="coerce").to_numpy(float))
    covered = cov[f"covered_{key}"]
    no_data = bool(covered.isna().all()) if len(cov) else False
    within = float((residents * pop_frac).sum())
    land_within = float((land * land_frac).sum())
    row = {
        "scope": scope, "category": key, "label": category_label(cfg, key, lang),
        "tier": tier_text(cfg, key, lang), "limit_m": cfg.limit_m(key), "communities": len(cov),
        "communities_covered": np.nan if no_data else int(covered.fillna(False).astype(bool).sum()),
        "residents": round(float(residents.sum()), 1),
        "residents_within": np.nan if no_data else round(within, 1),
        "population_share": np.nan if no_data or residents.sum() <= 0 else round(within / residents.sum(), 4),
        "land_m2": round(float(land.sum()), 1),
        "land_within_m2": np.nan if no_data else round(land_within, 1),
        "area_share": np.nan if no_data or land.sum() <= 0 else round(land_within / land.sum(), 4),
        "definition": "; ".join(f"{k}: {v[0]}" for k, v in SOURCES.items()),
        "source": "; ".join(f"{k}: {v[1]}" for k, v in SOURCES.items()),
    }
    row.update({"elderly": np.nan, "elderly_within": np.nan, "elderly_share": np.nan})
    if "elderly" in cov and f"elderly_share_{key}" in cov and not no_data:
        old = pd.to_numeric(cov["elderly"], errors="coerce").fillna(0).to_numpy(float)
        old_frac = np.nan_to_num(_covered_fraction(cov, key, f"elderly_share_{key}"))
        row["elderly"] = round(float(old.sum()), 1)
        row["elderly_within"] = round(float((old * old_frac).sum()), 1)
        row["elderly_share"] = round(row["elderly_within"] / old.sum(), 4) if old.sum() > 0 else np.nan
    return row


def indicators(analysis: Any, lang: str = "en") -> pd.DataFrame:
    """Per category, the share of residents and of residential land within its walking distance,
    for the district and (when the communities carry one) each sub-district.

    Returns
    -------
    pandas.DataFrame
        :data:`INDICATOR_COLUMNS`: ``scope`` ("district", or the sub-district's name), the
        category, its ``limit_m``; ``communities``/``communities_covered``; ``residents``,
        ``residents_within``, ``population_share`` (0-1); ``elderly…`` (residents aged 60+,
        for the categories for them, when the population data has the age band); ``land_m2``,
        ``land_within_m2``, ``area_share``; each share's ``definition`` and ``source``. A
        category without data has NaN shares: not judged.
    """
    cov = analysis.coverage.copy()
    cov["land_m2"] = analysis.communities.geometry.area.to_numpy(float)
    scopes: list[tuple[str, pd.DataFrame]] = [("district", cov)]
    if "subdistrict" in cov:
        for name, part in cov.groupby(cov["subdistrict"].fillna("").astype(str), sort=True):
            scopes.append((name or "(none)", part))
    rows = [_row(part, analysis, key, scope, lang) for scope, part in scopes for key in analysis.config.keys]
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)


def problems(analysis: Any, lang: str = "en") -> pd.DataFrame:
    """The problem list (问题清单): one row per community and judged category not covered.

    Sorted by the residents it leaves beyond the category's distance (most first), then by
    community id: the order a district works down. ``residents_affected`` is the residents times
    the share of them beyond reach (of homes, or of the area, without homes); ``gap_area_m2`` the
    area of the homes (or of the community's land) beyond reach.
    """
    from .i18n import category_label

    cov = analysis.coverage
    cfg = analysis.config
    gaps = analysis.gaps
    gap_area = {}
    if gaps is not None and len(gaps):
        area = gaps.geometry.area.to_numpy(float)
        for (cid, key), a in pd.Series(area).groupby([gaps["community_id"].to_numpy(), gaps["category"].to_numpy()]):
            gap_area[(cid, key)] = float(a.sum())
    rows = []
    residents = pd.to_numeric(cov["residents"], errors="coerce").to_numpy(float)
    elderly = pd.to_numeric(cov["elderly"], errors="coerce").to_numpy(float) if "elderly" in cov else None
    for key in cfg.keys:
        covered = cov[f"covered_{key}"]
        if covered.isna().all():
            continue  # no data: not judged, not a problem of these communities
        frac = _covered_fraction(cov, key, f"residents_share_{key}")
        old_frac = _covered_fraction(cov, key, f"elderly_share_{key}") if elderly is not None else None
        for i in np.flatnonzero(~covered.fillna(False).astype(bool).to_numpy()):
            cid = cov["community_id"].iat[i]
            rows.append({
                "community_id": cid, "name": cov["name"].iat[i],
                "subdistrict": cov["subdistrict"].iat[i] if "subdistrict" in cov else "",
                "category": key, "label": category_label(cfg, key, lang),
                "residents": round(residents[i], 1) if np.isfinite(residents[i]) else np.nan,
                "residents_affected": round(residents[i] * (1 - np.nan_to_num(frac[i])), 1)
                if np.isfinite(residents[i]) else np.nan,
                "elderly_affected": round(elderly[i] * (1 - np.nan_to_num(old_frac[i])), 1)
                if elderly is not None and np.isfinite(elderly[i]) else np.nan,
                "nearest": cov[f"nearest_{key}"].iat[i], "nearest_id": cov[f"nearest_id_{key}"].iat[i],
                "metres": cov[f"metres_{key}"].iat[i], "limit_m": cfg.limit_m(key),
                "share": cov[f"share_{key}"].iat[i], "gap_area_m2": round(gap_area.get((cid, key), 0.0), 1),
            })
    table = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    if len(table):
        order = np.lexsort((table["category"].to_numpy(str), table["community_id"].to_numpy(str),
                            -np.nan_to_num(table["residents_affected"].to_numpy(float), nan=-1.0)))
        table = table.iloc[order].reset_index(drop=True)
    return table

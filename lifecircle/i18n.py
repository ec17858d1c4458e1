"""User-interface strings in Chinese and English.

Every label that the map and the report show comes from here, so a new
language only needs a new column in :data:`STRINGS`. Category names are
not here: they belong to the configuration (``Category.label(lang)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError, LifecircleError

if TYPE_CHECKING:
    from .config import Config

#: Supported interface languages, default first in the CLI's eyes.
LANGS: tuple[str, ...] = ("zh", "en")

#: ``key -> {lang: text}``. Texts may hold ``str.format`` fields.
STRINGS: dict[str, dict[str, str]] = {
    # Map: layers and controls
    "map_title": {"zh": "生活圈设施可达性地图", "en": "Life-circle facility access map"},
    "basemap": {"zh": "OpenStreetMap 底图", "en": "OpenStreetMap base map"},
    "layer_communities": {"zh": "社区（覆盖类别得分）", "en": "Communities (score)"},
    "layer_facilities": {"zh": "设施：{label}", "en": "Facilities: {label}"},
    "layer_isochrones": {"zh": "步行等时圈（{threshold}）", "en": "Walking isochrones ({threshold})"},
    "layer_routes": {"zh": "步行路线（至各类最近设施）", "en": "Walking routes to the nearest facilities"},
    "route_tooltip": {"zh": "{community} → {label}：{facility}（{metres} 米）",
                      "en": "{community} → {label}: {facility} ({metres} m)"},
    "layer_gaps": {"zh": "覆盖缺口：{label}", "en": "Gaps: {label}"},
    "legend_title": {"zh": "覆盖类别数", "en": "Categories reached"},
    "legend_entry": {"zh": "{k} / {n} 类", "en": "{k} of {n}"},
    # the ODbL's required credit, on the map and in the report
    "attribution": {"zh": "© OpenStreetMap contributors", "en": "© OpenStreetMap contributors"},
    "data_source": {"zh": "数据来源", "en": "Data source"},
    # Thresholds
    "minutes_value": {"zh": "{value} 分钟", "en": "{value} min"},
    "metres_value": {"zh": "{value} 米", "en": "{value} m"},
    # What-if scenarios (lifecircle.planning.scenario)
    "scenario_title": {"zh": "情景模拟", "en": "What-if scenario"},
    "scenario_complete": {"zh": "全部类别均覆盖的社区 {change}（{before} → {after}）",
                          "en": "{change} communities complete ({before} → {after})"},
    "scenario_gain": {"zh": "{residents} 名居民步行可达{label}", "en": "{residents} residents reach a {label}"},
    "scenario_loss": {"zh": "{residents} 名居民不再步行可达{label}",
                      "en": "{residents} residents no longer reach a {label}"},
    "scenario_sep": {"zh": "；", "en": ", "},
    "scenario_none": {"zh": "情景无变化", "en": "the scenario holds no change"},
    "scenario_changes": {"zh": "变更", "en": "Changes"},
    "scenario_row": {"zh": "行", "en": "Row"},
    "scenario_change": {"zh": "变更类型", "en": "Change"},
    "scenario_what": {"zh": "对象", "en": "What"},
    "scenario_note": {"zh": "备注", "en": "Note"},
    "scenario_add_facility": {"zh": "新增设施", "en": "new facility"},
    "scenario_remove_facility": {"zh": "移除设施", "en": "facility removed"},
    "scenario_add_walkway": {"zh": "新增步道", "en": "new walkway"},
    "scenario_close_street": {"zh": "封闭道路", "en": "street closed"},
    "scenario_before": {"zh": "变更前", "en": "Before"},
    "scenario_after": {"zh": "变更后", "en": "After"},
    "scenario_by_category": {"zh": "分类别覆盖社区数", "en": "Communities covered by category"},
    "scenario_gained": {"zh": "新增可达居民", "en": "Residents newly within reach"},
    "scenario_lost": {"zh": "不再可达居民", "en": "Residents no longer within reach"},
    "scenario_changed": {"zh": "变化的社区", "en": "Communities that change"},
    "scenario_no_changed": {"zh": "没有社区发生变化", "en": "No community changes"},
    "layer_scenario_communities": {"zh": "社区（变化）", "en": "Communities (change)"},
    "layer_scenario_iso_before": {"zh": "变更前等时圈（{threshold}）", "en": "Isochrones before ({threshold})"},
    "layer_scenario_iso_after": {"zh": "变更后等时圈（{threshold}）", "en": "Isochrones after ({threshold})"},
    "layer_scenario_changes": {"zh": "情景变更", "en": "Scenario changes"},
    "scenario_legend_gained": {"zh": "覆盖类别增加", "en": "reaches more categories"},
    "scenario_legend_lost": {"zh": "覆盖类别减少", "en": "reaches fewer categories"},
    "scenario_legend_walk": {"zh": "步行距离变化", "en": "walks change"},
    "scenario_legend_same": {"zh": "无变化", "en": "unchanged"},
    "scenario_tooltip": {"zh": "{name}：覆盖类别 {before} → {after}",
                         "en": "{name}: categories reached {before} → {after}"},
    # Popups
    "community": {"zh": "社区", "en": "Community"},
    "community_id": {"zh": "编号", "en": "ID"},
    "unnamed": {"zh": "（未命名）", "en": "(unnamed)"},
    "category": {"zh": "类别", "en": "Category"},
    "walk_minutes": {"zh": "步行（分钟）", "en": "Walk (min)"},
    "walk_metres": {"zh": "距离（米）", "en": "Distance (m)"},
    "covered": {"zh": "已覆盖", "en": "Covered"},
    "building_share": {"zh": "覆盖建筑比例", "en": "Homes within"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "not_reached": {"zh": "—", "en": "—"},
    "reached": {"zh": "覆盖类别", "en": "Categories reached"},
    "reached_value": {"zh": "{reached} / {n}", "en": "{reached} of {n}"},
    "gaps": {"zh": "缺口", "en": "Gaps"},
    "no_gaps": {"zh": "无", "en": "none"},
    "residents": {"zh": "居民（估计）", "en": "Residents (estimate)"},
    "osm_id": {"zh": "OSM 编号", "en": "OSM id"},
    "gap_tooltip": {"zh": "{label} 缺口：{community}", "en": "{label} gap: {community}"},
    "gap_kind_building": {"zh": "住宅建筑", "en": "residential building"},
    "gap_kind_area": {"zh": "社区范围", "en": "community area"},
    # Report
    "report_title": {"zh": "生活圈设施覆盖报告", "en": "Life-circle facility coverage report"},
    "level": {"zh": "生活圈等级", "en": "Life-circle level"},
    "n_communities": {"zh": "社区数", "en": "Communities"},
    "n_facilities": {"zh": "设施数", "en": "Facilities"},
    "complete_share": {"zh": "全部类别均覆盖的社区", "en": "Communities reaching every category"},
    "summary": {"zh": "分类别覆盖情况", "en": "Coverage by category"},
    "communities_covered": {"zh": "覆盖社区数", "en": "Communities covered"},
    "share_covered": {"zh": "覆盖社区比例", "en": "Share of communities"},
    "residents_covered": {"zh": "覆盖居民比例", "en": "Share of residents"},
    "not_available": {"zh": "无数据", "en": "n/a"},
    "charts": {"zh": "图表", "en": "Charts"},
    "chart_share_title": {"zh": "各类别设施覆盖的社区比例", "en": "Share of communities covered by category"},
    "chart_share_axis": {"zh": "覆盖社区比例", "en": "Share of communities covered"},
    "chart_hist_title": {"zh": "社区覆盖类别数分布", "en": "Communities by number of categories reached"},
    "chart_hist_x": {"zh": "覆盖类别数", "en": "Categories reached"},
    "chart_hist_y": {"zh": "社区数", "en": "Number of communities"},
    "communities_heading": {"zh": "社区列表", "en": "Communities"},
    "warnings": {"zh": "警告", "en": "Warnings"},
    # Basis of the numbers
    "basis": {"zh": "判定依据", "en": "Basis"},
    "basis_standard": {"zh": "各类设施按其 GB 50180-2018 生活圈层级的步行距离判定",
                       "en": "each category at its GB 50180-2018 life-circle tier's walking distance"},
    "basis_time": {"zh": "所有类别统一步行 {minutes} 分钟（{speed} km/h）",
                   "en": "every category at a {minutes}-minute walk ({speed} km/h)"},
    "basis_distance": {"zh": "所有类别统一步行 {metres} 米", "en": "every category at a {metres} m walk"},
    "coverage_rule": {"zh": "覆盖：社区内至少 {share}% 的住宅建筑（无建筑时按面积）在该类设施的步行距离内",
                      "en": "Covered: at least {share}% of a community's homes (of its area, without homes) "
                            "within the category's walking distance"},
    "tier": {"zh": "层级", "en": "Tier"},
    "rule": {"zh": "覆盖规则", "en": "Coverage rule"},
    "level_title": {"zh": "{minutes}分钟生活圈", "en": "{minutes}-minute life circle"},
    "tier_value": {"zh": "{minutes}分钟生活圈", "en": "{minutes}-minute"},
    "limit": {"zh": "判定距离", "en": "Distance"},
    "nearest": {"zh": "最近设施", "en": "Nearest facility"},
    "clause": {"zh": "依据条文", "en": "Clause"},
    "osm_rules": {"zh": "OSM 标签与名称规则", "en": "OSM tags and name rules"},
    "data_date": {"zh": "数据日期", "en": "Data date"},
    "partial": {"zh": "部分（被数据边界截断）", "en": "partial (cut by the data's edge)"},
    "notes": {"zh": "说明", "en": "Notes"},
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is supported.

    Parameters
    ----------
    lang
        A language code.

    Returns
    -------
    str
        The same code.

    Raises
    ------
    ConfigError
        If ``lang`` is not one of :data:`LANGS` (a user option, so one line).
    """
    if lang not in LANGS:
        raise ConfigError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return lang


def t(key: str, lang: str = "en", **fields: object) -> str:
    """Return the interface string ``key`` in ``lang``.

    Parameters
    ----------
    key
        A key of :data:`STRINGS`; an unknown key is a programming error
        (``KeyError``).
    lang
        "zh" or "en".
    **fields
        Values for the ``str.format`` fields of the text, if any.

    Returns
    -------
    str
        Plain text, not escaped: escape it where it enters HTML.
    """
    text = STRINGS[key][check_lang(lang)]
    return text.format(**fields) if fields else text


def strings(lang: str = "en") -> dict[str, str]:
    """Every interface string without fields in ``lang``, by key (for templates)."""
    check_lang(lang)
    return {key: texts[lang] for key, texts in STRINGS.items() if "{" not in texts[lang]}


def basis_text(config: Config, lang: str = "en") -> str:
    """The basis of a run in one plain sentence (not escaped)."""
    if config.mode == "time":
        return t("basis_time", lang, minutes=f"{config.minutes:g}", speed=f"{config.speed_kmh:g}")
    if config.mode == "distance":
        return t("basis_distance", lang, metres=f"{config.distance_m:g}")
    return t("basis_standard", lang)


def basis_name(config: Config) -> str:
    """The basis of a run in a few English words, for the terminal and ``repr``:
    "GB 50180-2018 tier distances", "10 min at 4.5 km/h", "500 m".

    The short form of :func:`basis_text`; both read the same fields.
    """
    if config.mode == "time":
        return f"{config.minutes:g} min at {config.speed_kmh:g} km/h"
    if config.mode == "distance":
        return f"{config.distance_m:g} m"
    return "GB 50180-2018 tier distances"


def tier_text(config: Config, key: str, lang: str = "en") -> str:
    """A category's tier, e.g. "5-minute" / "5分钟生活圈" (empty when unknown)."""
    tier = config.category(key).tier
    digits = tier.removesuffix("min")
    return t("tier_value", lang, minutes=digits) if digits.isdigit() else tier


def level_title(config: Config, lang: str = "en") -> str:
    """The run's level as a title: "10分钟生活圈" / "10-minute life circle" (the level name
    itself when it is not "<N>min")."""
    digits = config.level.removesuffix("min")
    return t("level_title", lang, minutes=digits) if digits.isdigit() else config.level


def rule_text(config: Config, lang: str = "en") -> str:
    """The coverage rule in one plain sentence (not escaped)."""
    return t("coverage_rule", lang, share=f"{config.min_share * 100:g}")


def threshold_text(config: Config, lang: str = "en", value: float | None = None) -> str:
    """A threshold as "10 min" / "500 m" (or Chinese), plain text.

    ``value`` is in the run's isochrone unit (minutes in time mode, else
    metres); None means the run's own threshold.
    """
    if config.mode == "time":
        return t("minutes_value", lang, value=f"{config.minutes if value is None else value:g}")
    return t("metres_value", lang, value=f"{config.threshold_m if value is None else value:g}")


def limit_text(config: Config, key: str, lang: str = "en") -> str:
    """The walking distance category ``key`` is judged at, e.g. "300 m" (plain text)."""
    return t("metres_value", lang, value=f"{config.limit_m(key):g}")


def category_label(config: Config, key: str, lang: str = "en") -> str:
    """The label of category ``key`` in ``lang``; the key itself for a
    category the config does not know (e.g. from an older table)."""
    try:
        return config.category(key).label(lang)
    except LifecircleError:
        return key

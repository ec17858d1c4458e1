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
    # Map page furniture
    "layer_streets": {"zh": "可步行街道（数据自带）", "en": "Walkable streets (from the data)"},
    "legend_facilities": {"zh": "设施图标与判定距离", "en": "Facility icons and distances"},
    "legend_isochrones": {"zh": "步行等时圈", "en": "Walking isochrones"},
    "legend_other": {"zh": "其他图层", "en": "Other layers"},
    "legend_gaps": {"zh": "覆盖缺口：超出步行距离的住宅（斜线）", "en": "Gaps: homes beyond the walk (hatched)"},
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
    # Sheets (coverage.xlsx)
    "sheet_summary": {"zh": "汇总", "en": "Summary"},
    "sheet_basis": {"zh": "判定依据", "en": "Basis"},
    "sheet_scenario": {"zh": "方案对比", "en": "Scenario"},
    "sheet_homes": {"zh": "住宅建筑（栋）", "en": "Homes (buildings)"},
    "sheet_reached_of": {"zh": "覆盖类别（共 {n} 类）", "en": "Categories reached (of {n})"},
    "sheet_complete": {"zh": "全部覆盖", "en": "All covered"},
    "sheet_cut_by_edge": {"zh": "被数据边界截断", "en": "Cut by the data's edge"},
    "sheet_cat_covered": {"zh": "{label}：已覆盖", "en": "{label}: covered"},
    "sheet_cat_minutes": {"zh": "{label}：步行（分钟）", "en": "{label}: walk (min)"},
    "sheet_limit_metres": {"zh": "判定距离（米）", "en": "Distance judged at (m)"},
    "sheet_limit_minutes": {"zh": "判定距离步行（分钟）", "en": "Distance judged at (min)"},
    "sheet_homes_within": {"zh": "范围内住宅比例", "en": "Homes within reach"},
    "sheet_residents_within": {"zh": "范围内居民比例", "en": "Residents within reach"},
    "sheet_missing": {"zh": "缺口说明", "en": "What is missing"},
    "sheet_missing_none": {"zh": "步行可达范围内无{label}", "en": "no {label} within walking range"},
    "sheet_missing_homes": {"zh": "{share}% 的住宅在{limit}以外", "en": "{share}% of homes beyond {limit}"},
    "sheet_missing_area": {"zh": "{share}% 的范围在{limit}以外", "en": "{share}% of the area beyond {limit}"},
    "sheet_category_key": {"zh": "类别代码", "en": "Key"},
    "sheet_speed": {"zh": "步行速度（km/h）", "en": "Walking speed (km/h)"},
    "sheet_list_sep": {"zh": "、", "en": ", "},
    "sheet_note": {"zh": "最近设施与步行距离自社区中心点起算；比例按社区内住宅建筑计算（无建筑时按面积）。",
                   "en": "Nearest facility and walk: from the community's centre. Shares: of its homes "
                         "(of its area, without homes)."},
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
    # Site suggestions (lifecircle suggest)
    "suggest_summary": {"zh": "{n} 处选址使另外 {residents} 名居民步行 {metres} 米内可达{label}；{complete}",
                        "en": "{n} sites bring {residents} more residents within {metres} m of {label}; {complete}"},
    "suggest_summary_1": {"zh": "1 处选址使另外 {residents} 名居民步行 {metres} 米内可达{label}；{complete}",
                          "en": "1 site brings {residents} more residents within {metres} m of {label}; {complete}"},
    "suggest_complete": {"zh": "{n} 个社区由此补齐全部设施", "en": "{n} communities become complete"},
    "suggest_complete_1": {"zh": "1 个社区由此补齐全部设施", "en": "1 community becomes complete"},
    "suggest_title": {"zh": "新设施选址建议：{label}", "en": "Where to build next: {label}"},
    "layer_suggested": {"zh": "建议选址（{label}）", "en": "Suggested sites ({label})"},
    "layer_newly": {"zh": "新增覆盖的住宅", "en": "Homes newly within reach"},
    "suggest_tooltip": {"zh": "第 {rank} 处：新增 {residents} 名居民", "en": "Site {rank}: +{residents} residents"},
    "suggest_site_name": {"zh": "建议{label}选址 {rank}", "en": "Suggested {label} site {rank}"},
    "rank": {"zh": "排序", "en": "Rank"},
    "progress_graph": {"zh": "写出步行网络：{file}", "en": "writing the walk network to {file}"},
    "term_graph": {"zh": "步行网络已写出：{file}", "en": "walk network in {file}"},
    "term_scenario": {"zh": "方案：{summary}", "en": "scenario: {summary}"},
    "progress_routes": {"zh": "最近设施的步行路线", "en": "walking routes to the nearest facilities"},
    "progress_suggest": {"zh": "为「{label}」选择至多 {count} 处新址",
                         "en": "choosing up to {count} sites for {label}"},
    "suggest_site_line": {"zh": "{site}：新增 {residents} 名居民（{lat}, {lon}）",
                          "en": "{site}: +{residents} residents ({lat}, {lon})"},
    "suggest_exact": {"zh": "精确解：这些候选点中可使最多居民受益的选择（spopt MCLP，CBC 求解）",
                      "en": "exact: the most residents any choice of these candidates can bring (spopt MCLP, CBC)"},
    "suggest_exact_bound": {"zh": "精确解：这些候选点中可使最多居民受益的选择"
                                  "（贪心与交换求得，达到最优解上界，故为最优）",
                            "en": "exact: the most residents any choice of these candidates can bring (greedy and "
                                  "swaps, meeting an upper bound on the optimum)"},
    "suggest_greedy": {"zh": "贪心解（{note}）：不低于最优解的 {share}%，最优解至多 {bound} 名居民",
                       "en": "greedy ({note}): at least {share}% of the optimum, which is at most {bound} residents"},
    "residents_gained": {"zh": "新增覆盖居民", "en": "Residents newly within reach"},
    "residents_cumulative": {"zh": "累计新增居民", "en": "Residents, cumulative"},
    "homes_gained": {"zh": "新增覆盖住宅", "en": "Homes newly within reach"},
    "communities_completed": {"zh": "补齐全部设施的社区", "en": "Communities becoming complete"},
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
    "rules_note": {"zh": "每条名称规则见 basis.csv 与 lifecircle categories 命令。",
                   "en": "Every name rule is listed in basis.csv and by lifecircle categories."},
    "data_date": {"zh": "数据日期", "en": "Data date"},
    "partial": {"zh": "部分（被数据边界截断）", "en": "partial (cut by the data's edge)"},
    "notes": {"zh": "说明", "en": "Notes"},
    # Inputs as Chinese planners have them (encodings, web-map coordinates)
    "warn_guessed_gb18030": {"zh": "{what} 不是 UTF-8 且未声明编码：已按 GB18030（GBK）读取；"
                                   "如名称显示错误，请用 --encoding 指定",
                             "en": "{what} is not UTF-8 and declares no encoding: read as GB18030 (GBK); "
                                   "give --encoding if names look wrong"},
    "warn_guessed_gb18030_shp": {"zh": "{what} {file} 未声明编码（无 .cpg）且不是 UTF-8：已按 GB18030（GBK）读取；"
                                       "如名称显示错误，请用 --encoding 指定",
                                 "en": "{what} {file} declares no encoding (no .cpg) and is not UTF-8: read as "
                                       "GB18030 (GBK); give --encoding if names look wrong"},
    "warn_crs_outside_china": {"zh": "{what}：{total} 个点中有 {n} 个在中国境外，{option} {name} 在境外不适用："
                                     "这些点按原坐标（WGS-84）读取",
                               "en": "{what}: {n} of {total} points lie outside China, where {option} {name} does not "
                                     "apply: those points are read as given (WGS-84)"},
    "warn_export_crs": {"zh": "{what} 看起来是{source}导出文件，但未指定坐标系：已按 WGS-84 读取，位置会偏离数百米；"
                              "请加 {option} {name}",
                        "en": "{what} looks like a {source} export but no coordinate system was given: read as "
                              "WGS-84, which puts its places a few hundred metres off; give {option} {name}"},
    # Report and terminal
    "list_sep": {"zh": "，", "en": ", "},
    "pair_semicolon": {"zh": "{a}；{b}", "en": "{a}; {b}"},
    "count_poi": {"zh": "{n} 个设施", "en": "{n} poi"},
    "count_pois": {"zh": "{n} 个设施", "en": "{n} pois"},
    "count_community": {"zh": "{n} 个社区", "en": "{n} community"},
    "count_communities": {"zh": "{n} 个社区", "en": "{n} communities"},
    "warn_no_facilities": {"zh": "类别「{label}」（{category}）：数据中没有一个此类设施，无数据、未判定"
                                 "（OSM 未收录此类设施，请用 --pois 补充数据，或用 --pois-from amap 检索高德）",
                           "en": "category {category!r}: not a single facility of it in the data: no data, not "
                                 "judged (add a file of them with --pois, or search Amap with --pois-from amap)"},
    "warn_pois_merged": {"zh": "{n} 个用户设施与 OSM 设施重复，已合并",
                         "en": "{n} user POIs duplicated OSM POIs and were merged"},
    "err_unread_keys": {"zh": "类别「{label}」（{category}）使用的 OSM 键 {keys} 未在读取数据时读入；"
                              "请用 lifecircle.read_osm(path, keys={key_list}) 重新读取",
                        "en": "category {category!r} uses OSM key(s) {keys} that this data was not read with; "
                              "read it with lifecircle.read_osm(path, keys={key_list})"},
    "warn_unread_keys": {"zh": "{hint}：仅带这些标签的对象缺失",
                         "en": "{hint}: objects tagged only with them are missing"},
    "warn_left_out": {"zh": "未计入：{what}（各项及原因见 left_out.csv）",
                      "en": "left out: {what} (see left_out.csv for each and why)"},
    "warn_partial": {"zh": "{n} 个社区被数据边界截断，仅按边界内的部分分析（partial = True）",
                     "en": "{n} communities are cut by the edge of the data and were analysed on "
                           "the part inside it (partial = True)"},
    "warn_unordered_nodes": {"zh": "文件中有 {n:,} 个节点编号重复或顺序错乱（首个为 node/{first}）；"
                                   "重复给出的节点只保留一个位置，可能使街道和设施移位："
                                   "请检查数据（osmium sort、osmium check-refs）",
                             "en": "{n:,} node ids repeat or are out of order in the file (first node/{first}); "
                                   "a node given twice keeps one of its locations, which can move streets and "
                                   "facilities: check the extract (osmium sort, osmium check-refs)"},
    "warn_far_nodes": {"zh": "{n:,} 个街道节点远离数据其余部分（如 node/{node}，位于 {lat:.5f}, {lon:.5f}，"
                             "相距 {km:,.0f} 公里）：坐标可能有误；其街道仍保留",
                       "en": "{n:,} street node(s) lie far from the rest of the extract (e.g. node/{node} at "
                             "{lat:.5f}, {lon:.5f}, {km:,.0f} km away): probably wrong coordinates; their streets "
                             "are kept"},
    "warn_pois_skipped": {"zh": "用户设施文件 {file}：跳过 {n_skipped} / {n} 行：{parts}",
                          "en": "user POI file {file}: skipped {n_skipped} of {n} rows: {parts}"},
    "skip_other": {"zh": "{n} 行属于本次未分析的类别（{keys}）",
                   "en": "{n} in categories not analysed in this run ({keys})"},
    "skip_none": {"zh": "{n} 行没有类别", "en": "{n} without a category"},
    "skip_none_mapped": {"zh": "{n} 行在类型编码/标签表（内置高德类型编码、配置中的 [pois]）中没有类别",
                         "en": "{n} without a category in the typecode/tag tables (built-in Amap typecodes, "
                               "[pois] in the config)"},
    "progress_read": {"zh": "读取 OSM 数据", "en": "reading OSM data"},
    "progress_places": {"zh": "地点搜索（{service}）", "en": "place search ({service})"},
    "progress_places_done": {"zh": "{service}：{n} 个地点，请求 {requests} 次（另 {cached} 次取自缓存，不耗配额）",
                             "en": "{service}: {n} places, {requests} requests ({cached} more from the cache, "
                                   "costing no quota)"},
    "facility_sources": {"zh": "设施来源", "en": "Facility sources"},
    "source_osm": {"zh": "OSM", "en": "OSM"},
    "source_amap": {"zh": "高德", "en": "Amap"},
    "source_tianditu": {"zh": "天地图", "en": "Tianditu"},
    "progress_read_count": {"zh": "已读取 {file} 的 {millions:.1f} 百万个对象，{ways:,} 段街道、{features:,} 个要素",
                            "en": "read {millions:.1f} million objects of {file}, {ways:,} street pieces and "
                                  "{features:,} features so far"},
    "progress_project": {"zh": "投影步行路网（{nodes:,} 个节点）", "en": "projecting walk network ({nodes:,} nodes)"},
    "progress_communities": {"zh": "识别社区与住宅", "en": "finding communities and homes"},
    "progress_snap": {"zh": "将 {facilities:,} 个设施及 {communities:,} 个社区的住宅接入路网",
                      "en": "snapping {facilities:,} facilities and homes of {communities:,} communities"},
    "progress_walk": {"zh": "计算至「{label}」的步行距离", "en": "walking distances to {category}"},
    "progress_isochrones": {"zh": "生成 {communities:,} 个社区的等时圈",
                            "en": "isochrones for {communities:,} communities"},
    "progress_download": {"zh": "下载步行路网与设施（Overpass）",
                          "en": "downloading walk network and facilities (Overpass)"},
    "progress_write": {"zh": "写出结果至 {folder}", "en": "writing outputs to {folder}"},
    "term_warning": {"zh": "警告：{text}", "en": "Warning: {text}"},
    "term_error": {"zh": "错误：{text}", "en": "Error: {text}"},
    "term_outputs": {"zh": "输出文件位于 {folder}/：{files}", "en": "outputs in {folder}/: {files}"},
    "term_summary": {"zh": "{n} 个社区{partial}，其中 {complete} 个社区的{circle}完整；判定依据：{basis}，"
                           "社区内至少 {share:.0%} 的住宅在步行范围内即为覆盖；{left} 项未计入（left_out.csv）",
                     "en": "{n} communities{partial}, {complete} with a complete {circle}; basis: {basis}, "
                           "covered when >= {share:.0%} of homes are within reach; {left} left out (left_out.csv)"},
    "term_partial": {"zh": "（{n} 个被截断）", "en": " ({n} partial)"},
    "term_circle_time": {"zh": "生活圈（步行 {minutes:g} 分钟）", "en": "life circle ({minutes:g}-minute walk)"},
    "term_circle_distance": {"zh": "生活圈（步行 {metres:g} 米）", "en": "life circle ({metres:g} m walk)"},
    "term_circle_standard": {"zh": "{title}", "en": "{level} life circle"},
    "term_data": {"zh": "数据：{source}", "en": "data: {source}"},
    "term_category": {"zh": "  {category:<13} {label}：{limit:g} 米{tier}，已覆盖 {covered}/{n}",
                      "en": "  {category:<13} {limit:>6g} m{tier}: {covered}/{n} covered"},
    "term_tier": {"zh": "（{tier}）", "en": " ({tier} tier)"},
    "basis_short_standard": {"zh": "GB 50180-2018 各层级步行距离", "en": "GB 50180-2018 tier distances"},
    "basis_short_time": {"zh": "步行 {minutes:g} 分钟（{speed:g} km/h）", "en": "{minutes:g} min at {speed:g} km/h"},
    "basis_short_distance": {"zh": "步行 {metres:g} 米", "en": "{metres:g} m"},
    "overview_title": {"zh": "研究范围概览", "en": "Overview of the study area"},
    "overview_legend": {"zh": "社区按覆盖类别数着色；点为设施", "en": "Communities coloured by categories reached; "
                                                                "dots are facilities"},
    "overview_streets": {"zh": "步行路网", "en": "Walk network"},
    "north": {"zh": "北", "en": "N"},
    "speed": {"zh": "步行速度", "en": "Walking speed"},
    "speed_value": {"zh": "{speed:g} km/h（每分钟 {per_minute:g} 米）",
                    "en": "{speed:g} km/h ({per_minute:g} m per minute)"},
    "walk_minutes_value": {"zh": "{value:g} 分钟", "en": "{value:g} min"},
    "overview_heading": {"zh": "概览地图", "en": "Overview map"},
    "err_osm_not_found": {"zh": "找不到 OSM 文件：{path}", "en": "OSM file not found: {path}"},
    "err_osm_not_file": {"zh": "OSM 路径不是文件：{path}", "en": "OSM path is not a file: {path}"},
    "err_osm_suffix": {"zh": "{path}：不是 OSM 文件（应为 .osm.pbf、.osm 或 .osm.bz2）",
                       "en": "{path}: not an OSM file (expected .osm.pbf, .osm or .osm.bz2)"},
    "err_osm_unreadable": {"zh": "无法读取 OSM 文件 {path}：{reason}", "en": "cannot read OSM file {path}: {reason}"},
    "err_osm_no_streets": {"zh": "{path}：文件中没有可步行的街道", "en": "{path}: no walkable streets in the file"},
    "err_no_facilities": {"zh": "类别「{label}」（{category}）在研究范围内没有设施",
                          "en": "category {category!r} has no facilities in the study area"},
    "term_categories_head": {"zh": "{title}，判定依据：{basis}", "en": "level {level}, basis: {basis}"},
    "term_categories_row": {"zh": "  {category:<13} {label}：{limit:g} 米（{tier}；{clause}）",
                            "en": "  {category:<13} {label}: {limit:g} m ({tier} tier; {clause})"},
    "err_no_community": {"zh": "没有社区位于街道网络范围内",
                         "en": "no community lies within the street network's area"},
    # No data is not a finding (a category without a single facility in the data)
    "no_data": {"zh": "无数据", "en": "no data"},
    "no_data_long": {"zh": "无数据：OSM 未收录此类设施，请补充数据（--pois）",
                     "en": "no data: OpenStreetMap holds no facility of this kind here; add a file of them (--pois)"},
    "term_no_data": {"zh": "  {category:<13} {label}：{limit:g} 米{tier}，无数据，未判定（OSM 未收录此类设施；"
                           "请用 --pois 补充设施文件，如民政部门的助餐点、养老机构名单，"
                           "或用 --pois-from amap 检索高德）",
                     "en": "  {category:<13} {limit:>6g} m{tier}: no data, not judged (OpenStreetMap holds "
                           "no facility of this kind here; add a file of them with --pois, e.g. the "
                           "civil-affairs list of meal points and care homes, or search Amap with --pois-from amap)"},
    "term_not_judged": {"zh": "（{labels} 无数据、未判定）", "en": " (not judged, no data: {keys})"},
    "not_judged_note": {"zh": "以下类别无数据、未参与判定：{labels}。“全部覆盖”只针对有数据的类别。",
                        "en": "Not judged for lack of data: {labels}. \"Complete\" counts the judged categories only."},
    "warn_pois_conflicts": {"zh": "{n} 处设施在 OSM 与用户文件中类别不同（同一地点、名称相近），"
                                  "已在 facilities.csv 中标出，请复核",
                            "en": "{n} places are one category in OpenStreetMap and another in the user's file "
                                  "(same place, similar name): marked in facilities.csv for review"},
    "warn_review_stale": {"zh": "复核文件 {file} 中 {n} 条决定对应的设施已不在数据中（{ids}）",
                          "en": "{n} decisions of the review file {file} name facilities no longer in the data "
                                "({ids})"},
    "review_summary": {"zh": "规划复核：{file} 中 {decisions} 条决定，计入 {kept} 个、剔除 {dropped} 个、"
                             "改类 {moved} 个；"
                             "用户文件新增 {added} 个；{stale} 条已失效",
                       "en": "planner's review: {decisions} decisions in {file}, {kept} kept, {dropped} dropped, "
                             "{moved} moved; {added} added from the planner's files; {stale} no longer in the data"},
    "review_summary_none": {"zh": "规划复核：无（可在 facilities.csv 或工作簿“设施清单”中标注后用 --review 重新运行）",
                            "en": "planner's review: none (mark facilities.csv or the workbook's facilities sheet "
                                  "and run again with --review)"},
    "warn_population_both": {"zh": "同时给出了人口格网 {file} 与社区文件的人口列：居民数按人口格网分配",
                             "en": "both a population grid ({file}) and a population column of the communities "
                                   "file were given: the residents are the grid's"},
    "population": {"zh": "人口来源", "en": "Residents"},
    "population_grid": {"zh": "人口格网 {source}（{date}，{licence}）按住宅建筑面积分配：研究范围内 {total:,.0f} 人，"
                              "其中社区内 {inside:,.0f} 人、社区外 {outside:,.0f} 人",
                        "en": "population grid {source} ({date}, {licence}), shared out over homes by floor area: "
                              "{total:,.0f} residents in the area, {inside:,.0f} in communities, {outside:,.0f} "
                              "outside every community"},
    "population_column": {"zh": "社区文件的人口列“{source}”（{date}，{licence}）：共 {total:,.0f} 人",
                          "en": "the communities file's column {source!r} ({date}, {licence}): {total:,.0f} "
                                "residents"},
    "population_floor_area": {"zh": "按建筑面积估算（基底面积 × 层数 ÷ 每人 {per:g} 平方米；"
                                    "未标层数按 {levels:g} 层）：共约 {total:,.0f} 人",
                              "en": "estimated from floor area (footprint × levels ÷ {per:g} m² per resident; "
                                    "{levels:g} levels where none is mapped): about {total:,.0f} residents"},
    "population_elderly": {"zh": "，其中 60 岁及以上 {elderly:,.0f} 人", "en": ", {elderly:,.0f} of them aged 60+"},
    "date_unknown": {"zh": "日期未注明", "en": "date not given"},
    "licence_unknown": {"zh": "许可未注明", "en": "licence not given"},
    "indicators_heading": {"zh": "指标（人口与用地覆盖率）", "en": "Indicators (population and area coverage)"},
    "problems_heading": {"zh": "问题清单", "en": "Problem list"},
    "sheet_indicators": {"zh": "指标", "en": "Indicators"},
    "sheet_problems": {"zh": "问题清单", "en": "Problems"},
    "col_scope": {"zh": "范围", "en": "Scope"},
    "col_population_share": {"zh": "人口覆盖率", "en": "Residents within"},
    "col_area_share": {"zh": "用地覆盖率", "en": "Residential land within"},
    "col_elderly_share": {"zh": "60岁及以上人口覆盖率", "en": "Residents 60+ within"},
    "col_residents_affected": {"zh": "受影响居民", "en": "Residents affected"},
    "col_elderly_affected": {"zh": "受影响60岁及以上居民", "en": "Residents 60+ affected"},
    "col_gap_area": {"zh": "缺口面积（平方米）", "en": "Gap area (m²)"},
    "scope_district": {"zh": "全区", "en": "District"},
    "indicators_note": {"zh": "人口覆盖率：家在该类设施步行距离内的居民比例；用地覆盖率：居住用地（社区范围）"
                              "在步行距离内的比例，按社区内步行可达的住宅比例折算。"
                              "依据见 indicators.csv 的 source 列。",
                        "en": "Residents within: the share of residents whose home lies within the category's walking "
                              "distance; residential land within: the share of the communities' land within it, each "
                              "community's land in proportion to its homes within reach. Sources: the source column "
                              "of indicators.csv."},
    "problems_note": {"zh": "每行为一个社区未覆盖的一类设施，按受影响居民由多到少排列；全部见 problems.csv。",
                      "en": "One row per community and category not covered, most residents affected first; all of "
                            "them in problems.csv."},
    # The facilities register (facilities.csv, the workbook's facilities sheet, the report)
    "sheet_facilities": {"zh": "设施清单", "en": "Facilities"},
    "facilities_heading": {"zh": "设施如何选定", "en": "How facilities were chosen"},
    "facilities_intro": {"zh": "每个类别的候选设施均列于 facilities.csv 与工作簿“设施清单”，注明计入与否及依据。"
                               "在“复核决定”列填写 保留/删除/改类/公开/不公开 后用 --review 重新运行。",
                         "en": "Every candidate of every category is listed in facilities.csv and the workbook's "
                               "facilities sheet, counted or not, with the rule that decided. Mark the decision "
                               "column (keep, drop, move, public, not_public) and run again with --review."},
    "facility_counted": {"zh": "计入", "en": "Counted"},
    "facility_excluded": {"zh": "未计入", "en": "Not counted"},
    "facility_reason": {"zh": "依据", "en": "Reason"},
    "facility_rule": {"zh": "规则/证据", "en": "Rule or evidence"},
    "facility_within": {"zh": "所在区域", "en": "Inside"},
    "facility_area": {"zh": "面积（平方米）", "en": "Area (m²)"},
    "facility_source": {"zh": "来源", "en": "Source"},
    "facility_also_in": {"zh": "其他来源中的同一设施", "en": "Same facility in"},
    "facility_note": {"zh": "备注", "en": "Note"},
    "facility_tags": {"zh": "OSM 标签", "en": "OSM tags"},
    "facility_decision": {"zh": "复核决定", "en": "decision"},
    "facility_new_category": {"zh": "改为类别", "en": "new_category"},
    "facility_review_note": {"zh": "复核说明", "en": "review_note"},
    "facility_id": {"zh": "设施编号", "en": "poi_id"},
    "facility_name": {"zh": "名称", "en": "Name"},
    "facility_label": {"zh": "类别", "en": "Label"},
    "facility_category_key": {"zh": "类别代码", "en": "category"},
    "layer_excluded": {"zh": "未计入的候选设施（{label}）", "en": "Candidates not counted ({label})"},
    "reason_tag": {"zh": "标签", "en": "tag"},
    "reason_name": {"zh": "名称", "en": "name"},
    "reason_user": {"zh": "用户文件", "en": "planner's file"},
    "reason_place_search": {"zh": "地点搜索", "en": "place search"},
    "reason_exclude_type": {"zh": "排除：服务商分类", "en": "excluded by the service's type"},
    "reason_exclude_tag": {"zh": "排除：标签", "en": "excluded by a tag"},
    "reason_exclude_name": {"zh": "排除：名称", "en": "excluded by its name"},
    "reason_tag_conflict": {"zh": "排除：标签与名称矛盾", "en": "a tag says it is something else"},
    "reason_not_judged": {"zh": "列出，不判定", "en": "listed, not judged"},
    "reason_part_of": {"zh": "属于其他设施的一部分", "en": "part of another facility"},
    "reason_not_public": {"zh": "不对居民开放", "en": "not open to residents"},
    "reason_too_small": {"zh": "面积不足", "en": "too small"},
    "reason_duplicate": {"zh": "重复（已在其他来源计入）", "en": "duplicate (counted from another source)"},
    "reason_replaced": {"zh": "被用户文件替代", "en": "replaced by the planner's file"},
    "reason_review_keep": {"zh": "复核：计入", "en": "review: kept"},
    "reason_review_drop": {"zh": "复核：剔除", "en": "review: dropped"},
    "reason_review_move": {"zh": "复核：改类", "en": "review: moved"},
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


def covered_state(value: object) -> str:
    """A ``covered_<k>`` cell as "yes", "no" or "no_data" (NA: the category had no data)."""
    from .text import flag_of, is_missing

    if is_missing(value):
        return "no_data"
    return "yes" if flag_of(value) else "no"


def covered_mark(value: object, lang: str = "en") -> str:
    """A ``covered_<k>`` cell as shown: ✓, ✗, or "no data" / 无数据 (never ✗ for no data)."""
    state = covered_state(value)
    return {"yes": "✓", "no": "✗"}.get(state) or t("no_data", lang)


def reason_text(code: str, lang: str = "en") -> str:
    """A facility's reason code (``tag``, ``not_public``, ...) in words."""
    key = f"reason_{code}"
    return t(key, lang) if key in STRINGS else code


def not_judged_text(config: Config, keys: list[str], lang: str = "en") -> str:
    """The categories not judged for lack of data, as a sentence ("" when none)."""
    if not keys:
        return ""
    return t("not_judged_note", lang, labels=t("list_sep", lang).join(category_label(config, k, lang) for k in keys))


def sources_text(sources: list[tuple[str, str]], lang: str = "en") -> str:
    """Where the facilities come from and of when: "OSM 2026-…；高德 2026-…" (a file by its name)."""
    parts = []
    for source, date in sources:
        name = t(f"source_{source}", lang) if f"source_{source}" in STRINGS else source
        parts.append(f"{name} {date}".strip())
    return ("；" if lang == "zh" else "; ").join(parts)


def population_text(pop: object, lang: str = "en") -> str:
    """Where a run's residents come from and how they add up, in one sentence (:class:`Population`)."""
    from . import settings

    kind = getattr(pop, "kind", "floor_area")
    total = getattr(pop, "total", float("nan"))
    total = 0.0 if total != total else total
    if kind == "floor_area":
        text = t("population_floor_area", lang, per=settings.floor_area_per_person,
                 levels=settings.default_building_levels, total=total)
    else:
        fields = {"source": getattr(pop, "source", ""), "total": total,
                  "date": getattr(pop, "date", None) or t("date_unknown", lang),
                  "licence": getattr(pop, "licence", None) or t("licence_unknown", lang),
                  "outside": getattr(pop, "outside", 0.0), "inside": total - getattr(pop, "outside", 0.0)}
        text = t("population_grid" if kind == "grid" else "population_column", lang, **fields)
    elderly = getattr(pop, "elderly_total", float("nan"))
    if elderly == elderly:
        text += t("population_elderly", lang, elderly=elderly)
    return text


def review_text(review: object, lang: str = "en") -> str:
    """What the planner's review and files changed, in one sentence (:class:`ReviewSummary`)."""
    if review is None or not (getattr(review, "file", "") or getattr(review, "added", 0)):
        return t("review_summary_none", lang)
    return t("review_summary", lang, file=getattr(review, "file", "") or "—",
             decisions=getattr(review, "decisions", 0), kept=getattr(review, "kept", 0),
             dropped=getattr(review, "dropped", 0), moved=getattr(review, "moved", 0),
             added=getattr(review, "added", 0), stale=len(getattr(review, "stale", []) or []))


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


class Message(str):
    """A user-facing sentence kept with its :data:`STRINGS` key and fields.

    ``str(message)`` is the English text, so code and tests that treat
    warnings and progress lines as strings keep working; outputs call
    :func:`localize` (or :meth:`text`) to render it in the run's language.
    A field may itself be a :class:`Message`, a ``{lang: text}`` dict (e.g.
    a category's labels) or a list of those (joined with ``list_sep``).

    Parameters
    ----------
    key
        A key of :data:`STRINGS` (an unknown key is a ``KeyError`` at once).
    **fields
        Values for the text's ``str.format`` fields.
    """

    key: str
    fields: dict[str, object]

    def __new__(cls, key: str, /, **fields: object) -> "Message":
        obj = super().__new__(cls, _render(key, "en", fields))
        obj.key = key
        obj.fields = fields
        return obj

    def __reduce__(self):
        # pickled (Dask, deepcopy of DataFrame.attrs) by key and fields, not as a plain str
        return (_message, (self.key, self.fields))

    def text(self, lang: str = "en") -> str:
        """The sentence in ``lang`` (plain text, not escaped)."""
        return _render(self.key, lang, self.fields)


def _message(key: str, fields: dict[str, object]) -> Message:
    return Message(key, **fields)


def _field(value: object, lang: str) -> object:
    if isinstance(value, Message):
        return value.text(lang)
    if isinstance(value, dict) and lang in value:
        return value[lang]
    if isinstance(value, (list, tuple)):
        return t("list_sep", lang).join(str(_field(v, lang)) for v in value)
    return value


def _render(key: str, lang: str, fields: dict[str, object]) -> str:
    return STRINGS[key][check_lang(lang)].format(**{k: _field(v, lang) for k, v in fields.items()})


def localize(text: object, lang: str = "en") -> str:
    """``text`` in ``lang``: a :class:`Message` rendered, anything else as ``str()``
    (a plain string from code not yet translated stays as it is)."""
    return text.text(lang) if isinstance(text, Message) else str(text)


def labels(config: Config, key: str) -> dict[str, str]:
    """Category ``key``'s label in every language, as a :class:`Message` field."""
    return {lang: category_label(config, key, lang) for lang in LANGS}


def basis_short(config: Config, lang: str = "en") -> str:
    """:func:`basis_name` in ``lang``: "GB 50180-2018 tier distances" / "GB 50180-2018 各层级步行距离"."""
    if config.mode == "time":
        return t("basis_short_time", lang, minutes=config.minutes, speed=config.speed_kmh)
    if config.mode == "distance":
        return t("basis_short_distance", lang, metres=config.distance_m)
    return t("basis_short_standard", lang)

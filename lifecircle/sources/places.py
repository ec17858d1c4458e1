"""Place search where OpenStreetMap maps no facilities: Amap (高德) and Tianditu (天地图), with the planner's key.

On mainland extracts OpenStreetMap holds no community canteen, meal point or care home at all,
and few clinics and markets; Chinese planners take them from the Amap or Tianditu place APIs.
:func:`search` asks a service for every category of a run over the study area — by type code
where Amap's classification has one (``amap_typecodes.toml``), by keyword otherwise
(``place_queries.toml``) — and returns the places as a planner's POI file would give them, for
the same classification, merge and review as every facility (:mod:`lifecircle.facilities`).

- **The area is tiled** into quarters wherever a query fills the service's result cap (a
  service returns at most so many places per query, whatever the area holds), and each tile's
  pages are read to the end.
- **Every answer is cached** under the cache folder, keyed by the request without the key: a
  rerun costs no quota, and a failure keeps what was fetched before it.
- **Rate limits are respected**: requests are spaced (:data:`settings`-style module constants
  ``PACE_S``), a "too frequent" answer, HTTP 429, 5xx or a timeout is retried with backoff.
- **Coordinates**: Amap answers in GCJ-02, converted to WGS-84 (iteratively, below 1 mm);
  Tianditu in CGCS2000, which is WGS-84 to within centimetres, kept as they are.
- **The key** goes in the request and nowhere else: not in the cache, a file, a log line or an
  error message.

Response formats as documented by the services: Amap's 搜索POI 2.0 (多边形区域搜索,
``/v5/place/polygon``: ``status``, ``info``, ``infocode``, ``count``, ``pois`` with ``id``,
``name``, ``location`` "lon,lat", ``type``, ``typecode``, ``address``; lbs.amap.com,
webservice/guide/api-advanced/newpoisearch, and its 错误码说明 for ``infocode``) and Tianditu's
地名搜索 V2.0 (``/v2/search?postStr={...}&type=query&tk=``, ``queryType`` 10 for a polygon:
``count``, ``pois`` with ``hotPointID``, ``name``, ``lonlat``, ``address``, ``status.infocode``
1000 for success; lbs.tianditu.gov.cn/server/search2.html).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import shapely

from ..errors import ConfigError, NetworkError
from . import coords

#: The services, their default base URLs and the environment variable their key may come from.
SERVICES = {
    "amap": {"url": "https://restapi.amap.com", "env": "LIFECIRCLE_AMAP_KEY", "label": "Amap (高德)"},
    "tianditu": {"url": "https://api.tianditu.gov.cn", "env": "LIFECIRCLE_TIANDITU_KEY", "label": "Tianditu (天地图)"},
}

#: Base URLs in use; ``LIFECIRCLE_AMAP_URL`` / ``LIFECIRCLE_TIANDITU_URL`` replace them (a proxy,
#: a private deployment, a local test server).
URLS = {name: spec["url"] for name, spec in SERVICES.items()}


def base_url(service: str) -> str:
    return (os.environ.get(f"LIFECIRCLE_{service.upper()}_URL") or URLS[service]).rstrip("/")

#: Places per page, and the most one query returns (a query that fills it is split into tiles):
#: Amap's page_size is 1-25 and "同请求参数翻页查询最多支持获取200条数据"; Tianditu's
#: ``start`` runs 0-300 and ``count`` 1-300.
PAGE_SIZE = {"amap": 25, "tianditu": 100}
RESULT_CAP = {"amap": 200, "tianditu": 300}

#: Seconds between two requests to a service (Amap's personal keys allow a few a second).
PACE_S = 0.35
#: Attempts per request, and the first backoff (doubled each time) after a refusal for pace.
ATTEMPTS = 4
BACKOFF_S = 1.0
#: Seconds a request may take.
TIMEOUT_S = 15.0
#: Tiles are split at most this many times (4**6 tiles).
MAX_DEPTH = 6

#: Amap infocodes that mean "slow down" (retried), and what the others mean for the planner.
_AMAP_PACE = {"10004", "10019", "10020", "10021", "10014", "10015"}
_AMAP_ADVICE = {
    "10001": "the key is wrong or not a Web Service (Web服务) key: check it at console.amap.com",
    "10003": "the key's daily quota is used up: what was fetched is cached; run again tomorrow or with another key",
    "10044": "the account's daily quota is used up: what was fetched is cached; run again tomorrow",
    "10009": "the key is not for the Web Service platform: create a Web服务 key",
    "10005": "the key does not allow this machine's IP address: add it to the key's whitelist",
    "10006": "the key does not allow this domain",
    "10008": "the key lacks the right to place search",
    "10002": "the service is not available for this key",
}


class PlaceSearchError(NetworkError):
    """A place search service refused or failed (its own code in the message, never the key)."""


@dataclass(frozen=True)
class Query:
    """One search: a category, and Amap type codes or a keyword."""

    category: str
    types: str = ""
    keyword: str = ""

    def label(self) -> str:
        return self.keyword or self.types


@dataclass
class Fetched:
    """What a search brought back: places, pages asked for and pages taken from the cache."""

    places: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    cached: int = 0
    dates: set[str] = field(default_factory=set)


def _query_table() -> dict[str, Any]:
    with open(Path(__file__).with_name("place_queries.toml"), "rb") as f:
        return tomllib.load(f)


def plan(service: str, keys: Iterable[str]) -> list[Query]:
    """The queries for the categories ``keys``: Amap type codes where it has them, then keywords.

    A four-digit code of the typecode table (a 中类 such as 1601 银行) is asked as its six-digit
    中类 code (160100), which Amap reads as the whole 中类.
    """
    check_service(service)
    keys = list(keys)
    table = _query_table().get(service, {})
    out: list[Query] = []
    if service == "amap":
        from .userpois import amap_typecodes

        codes = amap_typecodes()
        for key in keys:
            mine = sorted({c.ljust(6, "0") for c, k in codes.items() if k == key})
            if mine:
                out.append(Query(key, types="|".join(mine)))
    for key in keys:
        out.extend(Query(key, keyword=w) for w in table.get(key, {}).get("keywords", []))
    return out


def check_service(service: str) -> str:
    if service not in SERVICES:
        raise ConfigError(f"unknown place search service {service!r}; use {' or '.join(SERVICES)}")
    return service


def key_for(service: str, key: str | None) -> str:
    """The key given, else the one in the service's environment variable; a one-line error without one."""
    check_service(service)
    key = key or os.environ.get(SERVICES[service]["env"], "")
    if not key.strip():
        raise ConfigError(f"{SERVICES[service]['label']} place search needs a key: give --key or set "
                          f"{SERVICES[service]['env']}")
    return key.strip()


class _Redact(logging.Filter):
    """Takes a key out of the records of a logger (urllib3 logs each URL it asks for at DEBUG)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.key in text:
            record.msg, record.args = text.replace(self.key, "***"), None
        return True


@contextlib.contextmanager
def _redacted_logs(key: str):
    logger = logging.getLogger("urllib3.connectionpool")
    rule = _Redact(key)
    logger.addFilter(rule)
    try:
        yield
    finally:
        logger.removeFilter(rule)


class _Client:
    """Requests to one service: paced, retried, cached; the key kept out of everything else."""

    def __init__(self, service: str, key: str, cache: Path | None, progress: Callable[[str], None] | None):
        self.service, self.key, self.progress = service, key, progress
        self.cache = None if cache is None else cache / "places" / service
        self.label = SERVICES[service]["label"]
        self.last = 0.0
        self.fetched = Fetched()

    def _redact(self, text: str) -> str:
        return text.replace(self.key, "***") if self.key else text

    def _cached(self, params: dict[str, str]) -> tuple[Path | None, dict | None]:
        if self.cache is None:
            return None, None
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        path = self.cache / f"{digest}.json"
        if path.exists():
            try:
                return path, json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return path, None
        return path, None

    def get(self, endpoint: str, params: dict[str, str], check: Callable[[dict], str | None]) -> dict:
        """The answer to ``params`` (no key in them): from the cache, else from the service.

        ``check`` reads an answer: None when it is good, "pace" to retry after a pause, any
        other text a failure to report (the service's own words and code).
        """
        path, hit = self._cached(params)
        if hit is not None:
            self.fetched.cached += 1
            self.fetched.dates.add(hit.get("fetched", ""))
            return hit["answer"]
        import requests

        url = base_url(self.service) + endpoint
        wait = BACKOFF_S
        for attempt in range(ATTEMPTS):
            pause = PACE_S - (time.monotonic() - self.last)
            if pause > 0:
                time.sleep(pause)
            self.last = time.monotonic()
            try:
                response = requests.get(url, params={**params, **self._key_param()}, timeout=TIMEOUT_S)
            except requests.Timeout:
                problem = f"{self.label} did not answer within {TIMEOUT_S:g} s"
            except requests.RequestException as e:
                raise PlaceSearchError(self._redact(
                    f"cannot reach {self.label} ({type(e).__name__}): check the network; "
                    f"{self.fetched.requests} answers fetched so far are cached")) from None
            else:
                self.fetched.requests += 1
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"{self.label} answered HTTP {response.status_code}"
                else:
                    answer = self._json(response)
                    verdict = check(answer)
                    if verdict is None:
                        self._store(path, params, answer)
                        return answer
                    if verdict != "pace":
                        raise PlaceSearchError(self._redact(f"{self.label}: {verdict}"))
                    problem = f"{self.label} asked to slow down"
            if attempt + 1 < ATTEMPTS:
                time.sleep(wait)
                wait *= 2
        raise PlaceSearchError(self._redact(f"{problem} after {ATTEMPTS} attempts; {self.fetched.requests} answers "
                                            f"fetched so far are cached: run again later"))

    def _key_param(self) -> dict[str, str]:
        return {"key": self.key} if self.service == "amap" else {"tk": self.key}

    def _json(self, response: Any) -> dict:
        try:
            data = response.json()
        except ValueError:
            snippet = " ".join(response.text.split())[:120]
            raise PlaceSearchError(self._redact(
                f"{self.label} answered HTTP {response.status_code} with no JSON ({snippet!r})")) from None
        if response.status_code != 200:
            raise PlaceSearchError(self._redact(
                f"{self.label} refused (HTTP {response.status_code}: {json.dumps(data, ensure_ascii=False)[:160]})"))
        return data

    def _store(self, path: Path | None, params: dict[str, str], answer: dict) -> None:
        today = datetime.now(timezone.utc).date().isoformat()
        self.fetched.dates.add(today)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"params": params, "fetched": today, "answer": answer}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, path)


# ---------------------------------------------------------------- the two services


def _amap_check(answer: dict) -> str | None:
    if str(answer.get("status")) == "1":
        return None
    code = str(answer.get("infocode", ""))
    if code in _AMAP_PACE:
        return "pace"
    info = str(answer.get("info", "")) or "error"
    advice = _AMAP_ADVICE.get(code, "see lbs.amap.com (错误码说明)")
    return f"{info} ({code}): {advice}"


def _amap_page(client: _Client, q: Query, rect: tuple[float, float, float, float], page: int) -> list[dict]:
    w, s, e, n = rect
    (gw, ge), (gs, gn) = coords.wgs84_to_gcj02(np.array([w, e]), np.array([s, n]))
    params = {"polygon": f"{gw:.6f},{gn:.6f}|{ge:.6f},{gs:.6f}", "page_size": str(PAGE_SIZE["amap"]),
              "page_num": str(page), "show_fields": "business"}
    if q.types:
        params["types"] = q.types
    if q.keyword:
        params["keywords"] = q.keyword
    answer = client.get("/v5/place/polygon", params, _amap_check)
    out = []
    for p in answer.get("pois") or []:
        lon, lat = (float(v) for v in str(p.get("location", "")).split(","))
        (x,), (y,) = coords.gcj02_to_wgs84(np.array([lon]), np.array([lat]))
        out.append({"id": str(p.get("id", "")), "name": str(p.get("name", "")), "lon": float(x), "lat": float(y),
                    "type": str(p.get("type", "")), "typecode": str(p.get("typecode", "")),
                    "address": str(p.get("address", "") or "")})
    return out


def _tianditu_check(answer: dict) -> str | None:
    status = answer.get("status") or {}
    code = str(status.get("infocode", ""))
    if code == "1000":
        return None
    text = str(status.get("cndesc", "")) or "error"
    if "频繁" in text or "并发" in text:
        return "pace"
    advice = ("the key is wrong or expired: check it at console.tianditu.gov.cn" if "key" in text.lower()
              or "权限" in text or "密钥" in text else "see lbs.tianditu.gov.cn")
    return f"{text} ({code}): {advice}"


def _tianditu_page(client: _Client, q: Query, rect: tuple[float, float, float, float], page: int) -> list[dict]:
    w, s, e, n = rect
    size = PAGE_SIZE["tianditu"]
    post = {"keyWord": q.keyword, "queryType": 10, "start": (page - 1) * size, "count": size,
            "polygon": f"{w:.6f},{s:.6f},{e:.6f},{s:.6f},{e:.6f},{n:.6f},{w:.6f},{n:.6f},{w:.6f},{s:.6f}"}
    answer = client.get("/v2/search", {"postStr": json.dumps(post, ensure_ascii=False, sort_keys=True),
                                       "type": "query"}, _tianditu_check)
    out = []
    for p in answer.get("pois") or []:
        lon, lat = (float(v) for v in str(p.get("lonlat", "")).replace(",", " ").split())
        out.append({"id": str(p.get("hotPointID", "")), "name": str(p.get("name", "")), "lon": lon, "lat": lat,
                    "type": str(p.get("typeName", "") or ""), "typecode": str(p.get("typeCode", "") or ""),
                    "address": str(p.get("address", "") or "")})
    return out


_PAGE = {"amap": _amap_page, "tianditu": _tianditu_page}


def _collect(client: _Client, q: Query, rect: tuple[float, float, float, float], area: shapely.Geometry,
             depth: int, found: dict[tuple[str, str], dict]) -> None:
    """Every place of ``q`` in ``rect``: page by page, or by quarters where the query fills the cap."""
    page_of = _PAGE[client.service]
    size, cap = PAGE_SIZE[client.service], RESULT_CAP[client.service]
    got: list[dict] = []
    page = 1
    while True:
        places = page_of(client, q, rect, page)
        got.extend(places)
        if len(got) >= cap:  # the service would give no more: split the tile
            if depth >= MAX_DEPTH:
                break
            w, s, e, n = rect
            mx, my = (w + e) / 2, (s + n) / 2
            for part in ((w, s, mx, my), (mx, s, e, my), (w, my, mx, n), (mx, my, e, n)):
                if shapely.box(*part).intersects(area):
                    _collect(client, q, part, area, depth + 1, found)
            return
        if len(places) < size:
            break
        page += 1
    for p in got:
        found.setdefault((q.category, p["id"] or f"{p['lon']:.6f},{p['lat']:.6f}"), {**p, "query": q})


def _verdict(service: str, q: Query, p: dict, typecodes: list, not_facilities: dict[str, str]) -> tuple[bool, str, str]:
    """(counted, reason, rule) of a place as the service filed it; its name is judged later
    with every other source's (:func:`lifecircle.facilities.merge.user_rows`)."""
    from .userpois import match_typecode

    label = SERVICES[service]["label"]
    code, kind = p["typecode"], p["type"] or p["typecode"]
    if q.types:
        found_as = match_typecode(code, typecodes)
        if found_as != q.category:
            return False, "exclude_type", f"{label} type {code} {kind}: not filed as {q.category}"
        return True, "place_search", f"{label} type {code} {kind}"
    other = not_facilities.get(code[:2]) if code else None
    if other is not None:
        return False, "exclude_type", f"{label} type {code} {kind}: {other}"
    return True, "place_search", f"{label} keyword {q.keyword}"


@dataclass(frozen=True)
class PlaceSearch:
    """A place search to run for an analysis: the service, the planner's key and the cache.

    The key is left out of the representation, so it reaches no log or traceback.
    """

    service: str
    key: str = field(default="", repr=False)
    cache: Path | None = None

    def __post_init__(self) -> None:
        check_service(self.service)

    def run(self, area: shapely.Geometry, keys: Iterable[str],
            progress: Callable[[str], None] | None = None):
        """:func:`search` over ``area`` for the categories ``keys``."""
        return search(self.service, self.key or None, area, keys, cache=self.cache, progress=progress)


def search(service: str, key: str | None, area: shapely.Geometry, keys: Iterable[str],
           cache: str | Path | None = None, progress: Callable[[str], None] | None = None):
    """Search a service for every category of ``keys`` over ``area`` (EPSG:4326 polygon).

    Parameters
    ----------
    service
        "amap" or "tianditu".
    key
        The planner's key (None: from ``LIFECIRCLE_AMAP_KEY`` / ``LIFECIRCLE_TIANDITU_KEY``).
    area
        The study area; places outside it are dropped.
    keys
        Category keys to search for.
    cache
        Folder for the cached answers (None: none kept).
    progress
        Called with a short message per query.

    Returns
    -------
    geopandas.GeoDataFrame
        The ``pois`` contract (``poi_id`` "amap/<id>", ``osm_type`` the service, ``osm_id`` the
        row, ``name``, ``category``, ``source`` the service), with ``counted``, ``reason`` and
        ``rule`` (how the service filed it: a type that is not the category's, a bus stop named
        after a care home, is kept out), ``tags`` (JSON: ``type``, ``typecode``, ``address``,
        ``fetched``) and the same as columns ``service_id``, ``type``, ``typecode``,
        ``address``, ``fetched``; in EPSG:4326. ``attrs``: ``source`` (the service),
        ``fetched`` (the latest fetch date), ``requests`` and ``cached`` (answers asked for
        and taken from the cache).

    Raises
    ------
    PlaceSearchError
        The service refused (a wrong key, a used-up quota: its own code) or could not be reached.
    """
    import geopandas as gpd
    import pandas as pd

    from .userpois import amap_typecodes

    key = key_for(service, key)
    client = _Client(service, key, Path(cache) if cache is not None else None, progress)
    area = shapely.make_valid(area)
    found: dict[tuple[str, str], dict] = {}
    with _redacted_logs(key):
        for q in plan(service, list(keys)):
            if progress is not None:
                progress(f"{SERVICES[service]['label']}: {q.category} ({q.label()})")
            _collect(client, q, tuple(area.bounds), area, 0, found)
    rows = [p for p in found.values() if area.intersects(shapely.Point(p["lon"], p["lat"]))]
    rows.sort(key=lambda p: (p["query"].category, p["id"], p["name"]))
    fetched = max(client.fetched.dates - {""}, default="")
    table = amap_typecodes()
    typecodes = [(table, sorted(table, key=len, reverse=True))]
    not_facilities = {str(k): str(v) for k, v in _query_table().get(f"{service}_not_facilities", {}).items()}
    verdicts = [_verdict(service, p["query"], p, typecodes, not_facilities) for p in rows]
    tags = [json.dumps({"type": p["type"], "typecode": p["typecode"], "address": p["address"], "fetched": fetched},
                       ensure_ascii=False) for p in rows]
    frame = pd.DataFrame({
        "poi_id": [f"{service}/{p['id']}" for p in rows], "osm_type": service,
        "osm_id": pd.Series(range(len(rows)), dtype="int64"), "name": [p["name"] for p in rows],
        "category": [p["query"].category for p in rows], "source": service,
        "counted": pd.Series([v[0] for v in verdicts], dtype=bool), "reason": [v[1] for v in verdicts],
        "rule": [v[2] for v in verdicts], "tags": tags,
        "service_id": [p["id"] for p in rows], "type": [p["type"] for p in rows],
        "typecode": [p["typecode"] for p in rows], "address": [p["address"] for p in rows], "fetched": fetched,
    })
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy([p["lon"] for p in rows], [p["lat"] for p in rows]),
                           crs="EPSG:4326")
    gdf.attrs.update({"source": service, "fetched": fetched, "requests": client.fetched.requests,
                      "cached": client.fetched.cached, "warnings": []})
    return gdf

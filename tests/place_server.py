"""Local stand-ins for Amap's and Tianditu's place search, for offline tests.

Both answer in the format their documentation gives, from a list of places whose true
WGS-84 positions the tests know:

- **Amap** 搜索POI 2.0, 多边形区域搜索 (``GET /v5/place/polygon``; lbs.amap.com,
  api/webservice/guide/api-advanced/newpoisearch): ``polygon`` as "lon,lat|lon,lat" (a
  rectangle's upper-left and lower-right corners) or a closed ring, ``keywords`` (one) or
  ``types`` (codes joined by "|", a 中类 code such as 160100 standing for its 小类 too),
  ``page_size`` (1-25), ``page_num``, ``key``. The answer: ``status`` "1", ``info`` "OK",
  ``infocode`` "10000", ``count``, ``pois`` with ``id``, ``name``, ``location`` "lon,lat" in
  GCJ-02, ``type``, ``typecode``, ``address``. Amap gives at most 200 places per query
  ("同请求参数翻页查询最多支持获取200条数据", 搜索POI 产品介绍); errors are ``status`` "0"
  with the ``info``/``infocode`` of its 错误码说明 (10001 INVALID_USER_KEY, 10003
  DAILY_QUERY_OVER_LIMIT, 10021 CUQPS_HAS_EXCEEDED_THE_LIMIT).
- **Tianditu** 地名搜索 V2.0 (``GET /v2/search?postStr={...}&type=query&tk=``;
  lbs.tianditu.gov.cn/server/search2.html), 多边形搜索 (``queryType`` 10, ``polygon`` as
  "lon,lat,lon,lat,…"), ``start`` 0-300 and ``count`` 1-300: ``resultType`` 1, ``count``,
  ``pois`` with ``hotPointID``, ``name``, ``lonlat`` "lon,lat" (CGCS2000, as WGS-84),
  ``address``, ``typeName``, ``typeCode``; ``status`` {``infocode`` 1000, ``cndesc``
  "服务正常"} when all is well.

Failure modes for the tests: :attr:`PlaceServer.quota_after` (the key's daily quota runs out
after so many answers), :attr:`PlaceServer.pace_errors` (so many "too frequent" answers
first), :attr:`PlaceServer.slow` (so many answers held back :attr:`PlaceServer.slow_seconds`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import shapely

from lifecircle.sources import coords


@dataclass(frozen=True)
class Place:
    """A place the services know: its true WGS-84 position and what they say of it."""

    id: str
    name: str
    lon: float
    lat: float
    type: str
    typecode: str
    address: str = ""


@dataclass
class PlaceServer:
    """Amap and Tianditu place search over ``places``, on 127.0.0.1."""

    places: list[Place]
    key: str = "0123456789abcdef0123456789abcdef"
    amap_cap: int = 200
    tianditu_cap: int = 300
    quota_after: int | None = None
    pace_errors: int = 0
    slow: int = 0
    slow_seconds: float = 2.0
    answered: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ answers

    def _gate(self, key: str) -> str | None:
        """The failure to answer with, if any: bad key, pace, quota."""
        with self._lock:
            if key != self.key:
                return "key"
            if self.pace_errors > 0:
                self.pace_errors -= 1
                return "pace"
            if self.quota_after is not None and self.answered >= self.quota_after:
                return "quota"
            self.answered += 1
            return None

    def _inside(self, area: shapely.Geometry, gcj: bool) -> list[Place]:
        lon = np.array([p.lon for p in self.places])
        lat = np.array([p.lat for p in self.places])
        if gcj:
            lon, lat = coords.wgs84_to_gcj02(lon, lat)
        inside = shapely.covers(area, shapely.points(lon, lat))
        return [p for p, ok in zip(self.places, inside) if ok]

    def amap(self, q: dict[str, str]) -> dict[str, Any]:
        failure = self._gate(q.get("key", ""))
        if failure is not None:
            info, code = {"key": ("INVALID_USER_KEY", "10001"), "pace": ("CUQPS_HAS_EXCEEDED_THE_LIMIT", "10021"),
                          "quota": ("DAILY_QUERY_OVER_LIMIT", "10003")}[failure]
            return {"status": "0", "info": info, "infocode": code}
        pairs = [tuple(float(v) for v in pair.split(",")) for pair in q["polygon"].split("|")]
        if len(pairs) == 2:  # a rectangle: upper-left, lower-right
            (w, n), (e, s) = pairs
            area = shapely.box(w, s, e, n)
        else:
            area = shapely.Polygon(pairs)
        found = self._inside(area, gcj=True)
        if q.get("keywords"):
            found = [p for p in found if q["keywords"] in p.name]
        if q.get("types"):
            codes = q["types"].split("|")
            found = [p for p in found if any(p.typecode == c or (c.endswith("00") and p.typecode[:4] == c[:4])
                                             for c in codes)]
        found = sorted(found, key=lambda p: p.id)[: self.amap_cap]
        size, page = int(q.get("page_size", 10)), int(q.get("page_num", 1))
        rows = found[(page - 1) * size: page * size]
        glon, glat = coords.wgs84_to_gcj02(np.array([p.lon for p in rows]), np.array([p.lat for p in rows]))
        pois = [{"id": p.id, "name": p.name, "location": f"{x:.6f},{y:.6f}", "type": p.type, "typecode": p.typecode,
                 "address": p.address, "pname": "", "cityname": "", "adname": ""}
                for p, x, y in zip(rows, np.atleast_1d(glon), np.atleast_1d(glat))]
        return {"status": "1", "info": "OK", "infocode": "10000", "count": str(len(pois)), "pois": pois}

    def tianditu(self, q: dict[str, str]) -> dict[str, Any]:
        failure = self._gate(q.get("tk", ""))
        if failure == "key":
            return {"status": {"infocode": 1001, "cndesc": "权限验证失败：key 无效"}}
        if failure == "pace":
            return {"status": {"infocode": 1002, "cndesc": "访问过于频繁"}}
        if failure == "quota":
            return {"status": {"infocode": 1003, "cndesc": "今日访问量已超出限制"}}
        post = json.loads(q["postStr"])
        flat = [float(v) for v in str(post["polygon"]).split(",")]
        area = shapely.Polygon(list(zip(flat[0::2], flat[1::2])))
        found = [p for p in self._inside(area, gcj=False) if post.get("keyWord", "") in p.name]
        found = sorted(found, key=lambda p: p.id)
        start, count = int(post.get("start", 0)), int(post.get("count", 10))
        if start > self.tianditu_cap or not 1 <= count <= 300:
            return {"status": {"infocode": 2000, "cndesc": "参数错误"}}
        rows = found[start: min(start + count, self.tianditu_cap)]
        pois = [{"hotPointID": p.id, "name": p.name, "lonlat": f"{p.lon:.6f},{p.lat:.6f}", "address": p.address,
                 "poiType": 101, "typeName": p.type, "typeCode": p.typecode, "source": "0"} for p in rows]
        return {"resultType": 1, "count": len(found), "keyword": post.get("keyWord", ""), "pois": pois,
                "status": {"infocode": 1000, "cndesc": "服务正常"}}


def _handler(state: PlaceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            with state._lock:
                state.requests.append({"path": url.path, **q})
                slow = state.slow > 0
                state.slow -= 1 if slow else 0
            if slow:
                time.sleep(state.slow_seconds)
            if url.path == "/v5/place/polygon":
                body = state.amap(q)
            elif url.path == "/v2/search":
                body = state.tianditu(q)
            else:
                self.send_error(404)
                return
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                pass

    return Handler

"""A local stand-in for the Overpass and Nominatim APIs, for offline tests.

The answers are real Overpass JSON built from the bundled extract, so that
``osmnx.graph_from_polygon`` / ``features_from_polygon`` see what they would
see online, reduced to what the extract holds. The extract is clipped: a
walkable way that runs out of the file is sent as separate way elements
split at the missing nodes (extra pieces get fresh ids above 10**12), and an
area way or relation that is incomplete is left out, just as the offline
reader treats them.

A features query is answered for the tag keys it names (osmnx asks for
``node['key'](poly:...)`` and the like), so extra keys such as "highway"
reach the fake server as they would reach Overpass.

The first path segment may select a failure mode, so that one server serves
every test at once: ``/m429/...`` and ``/m500/...`` answer with that status,
``/slow/...`` sleeps :attr:`FakeOSMServer.slow_seconds` first, and
``/remark/api/interpreter`` answers as Overpass does when a query ran out of
time (partial data plus a "remark"). Anything else
(e.g. ``/api/interpreter``, ``/search``) answers normally.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import osmium
import shapely

from lifecircle.sources.osmfile import FEATURE_KEYS, is_walkable

#: Ids given to the second and later pieces of a clipped way; OSM way ids are
#: far below this, so they cannot collide.
FRESH_ID_BASE = 10**12

#: Relation types from which pyosmium (and osmnx) build areas.
_AREA_RELATIONS = {"multipolygon", "boundary"}

_POLY = re.compile(r"""poly:["']([^"']*)["']""")
#: A key-only filter of a features query, as osmnx writes it.
_KEY = re.compile(r"""\((?:node|way|relation)\[["']([^"'=\]]+)["']\]""")


@dataclass
class ExtractIndex:
    """The extract, indexed for answering queries.

    Attributes
    ----------
    nodes
        Node id -> (lon, lat, tags) for every node with a location.
    walk
        Walkable way pieces: (id, node ids, tags, LineString).
    feature_ways
        Complete tagged ways: (id, node ids, tags, geometry); a query
        picks those with a key it asks for.
    member_ways
        Complete ways (any tags), by id, for relation members.
    relations
        Complete tagged area relations: (id, members, tags, geometry).
    bounds
        (west, south, east, north) of the extract header.
    """

    nodes: dict[int, tuple[float, float, dict[str, str]]] = field(default_factory=dict)
    walk: list[tuple[int, list[int], dict[str, str], shapely.Geometry]] = field(default_factory=list)
    feature_ways: list[tuple[int, list[int], dict[str, str], shapely.Geometry]] = field(default_factory=list)
    member_ways: dict[int, tuple[list[int], dict[str, str], shapely.Geometry]] = field(default_factory=dict)
    relations: list[tuple[int, list[dict[str, Any]], dict[str, str], shapely.Geometry]] = field(default_factory=list)
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


def index_extract(path: str | Path) -> ExtractIndex:
    """Read an OSM extract with pyosmium into an :class:`ExtractIndex`."""
    idx = ExtractIndex()
    header = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING).header()
    box = header.box()
    idx.bounds = (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
    fresh = FRESH_ID_BASE
    raw_relations = []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if obj.is_node():
            if obj.location.valid():
                idx.nodes[obj.id] = (obj.location.lon, obj.location.lat, dict(obj.tags))
        elif obj.is_way():
            tags = dict(obj.tags)
            refs = [n.ref for n in obj.nodes]
            ok = [n.location.valid() for n in obj.nodes]
            if is_walkable(tags):
                # split at the nodes the extract lacks, as the offline reader does
                runs, run = [], []
                for ref, good in zip(refs, ok):
                    if good:
                        run.append(ref)
                    else:
                        if len(run) > 1:
                            runs.append(run)
                        run = []
                if len(run) > 1:
                    runs.append(run)
                for i, run in enumerate(runs):
                    if i == 0:
                        wid = obj.id
                    else:
                        fresh += 1
                        wid = fresh
                    line = shapely.LineString([idx.nodes[r][:2] for r in run])
                    idx.walk.append((wid, run, tags, line))
            if all(ok) and len(refs) > 1:
                line = shapely.LineString([idx.nodes[r][:2] for r in refs])
                idx.member_ways[obj.id] = (refs, tags, line)
                if tags:
                    idx.feature_ways.append((obj.id, refs, tags, line))
        elif obj.is_relation():
            tags = dict(obj.tags)
            if tags.get("type") in _AREA_RELATIONS:
                members = [{"type": m.type, "ref": m.ref, "role": m.role} for m in obj.members]
                raw_relations.append((obj.id, members, tags))
    kinds = {"n": "node", "w": "way", "r": "relation"}
    for rid, members, tags in raw_relations:
        ways = [m["ref"] for m in members if m["type"] == "w"]
        # incomplete relations are left out, as pyosmium leaves them out
        if not ways or any(w not in idx.member_ways for w in ways):
            continue
        geom = shapely.union_all([idx.member_ways[w][2] for w in ways])
        out = [{"type": kinds[m["type"]], "ref": m["ref"], "role": m["role"]} for m in members
               if m["type"] == "w" or (m["type"] == "n" and m["ref"] in idx.nodes)]
        idx.relations.append((rid, out, tags, geom))
    return idx


def _node_element(idx: ExtractIndex, nid: int) -> dict[str, Any]:
    lon, lat, tags = idx.nodes[nid]
    el: dict[str, Any] = {"type": "node", "id": nid, "lat": lat, "lon": lon}
    if tags:
        el["tags"] = dict(tags)
    return el


def _way_element(wid: int, refs: list[int], tags: dict[str, str]) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "way", "id": wid, "nodes": list(refs)}
    if tags:
        el["tags"] = dict(tags)
    return el


def _query_area(query: str) -> shapely.Geometry:
    """The union of the query's ``poly:'lat lon ...'`` filters."""
    polys = []
    for text in _POLY.findall(query):
        vals = [float(v) for v in text.split()]
        polys.append(shapely.Polygon(list(zip(vals[1::2], vals[0::2]))))
    if not polys:
        raise ValueError("query has no poly: filter")
    return shapely.union_all(polys)


def walk_answer(idx: ExtractIndex, query: str) -> dict[str, Any]:
    """Answer a walk-network query: walkable way pieces and their nodes."""
    area = _query_area(query)
    shapely.prepare(area)
    ways, nodes = [], set()
    for wid, refs, tags, line in idx.walk:
        if area.intersects(line):
            ways.append(_way_element(wid, refs, tags))
            nodes.update(refs)
    return _answer([_node_element(idx, n) for n in sorted(nodes)], sorted(ways, key=lambda e: e["id"]), [])


def _query_keys(query: str) -> frozenset[str]:
    """The tag keys a features query asks for (FEATURE_KEYS if it names none)."""
    return frozenset(_KEY.findall(query)) or FEATURE_KEYS


def features_answer(idx: ExtractIndex, query: str) -> dict[str, Any]:
    """Answer a features query: tagged nodes, ways and relations, recursed down."""
    area = _query_area(query)
    keys = _query_keys(query)
    shapely.prepare(area)
    nodes: set[int] = set()
    ways: dict[int, dict[str, Any]] = {}
    rels = []
    for nid, (lon, lat, tags) in idx.nodes.items():
        if not keys.isdisjoint(tags) and area.intersects(shapely.Point(lon, lat)):
            nodes.add(nid)
    for wid, refs, tags, geom in idx.feature_ways:
        if not keys.isdisjoint(tags) and area.intersects(geom):
            ways[wid] = _way_element(wid, refs, tags)
            nodes.update(refs)
    for rid, members, tags, geom in idx.relations:
        if not keys.isdisjoint(tags) and area.intersects(geom):
            rels.append({"type": "relation", "id": rid, "members": members, "tags": dict(tags)})
            for m in members:
                if m["type"] == "way":
                    refs, wtags, _ = idx.member_ways[m["ref"]]
                    ways[m["ref"]] = _way_element(m["ref"], refs, wtags)
                    nodes.update(refs)
                else:
                    nodes.add(m["ref"])
    return _answer([_node_element(idx, n) for n in sorted(nodes)],
                   [ways[w] for w in sorted(ways)], sorted(rels, key=lambda e: e["id"]))


def _answer(nodes: list, ways: list, rels: list) -> dict[str, Any]:
    # Overpass `out;` lists nodes, then ways, then relations, each by id
    return {
        "version": 0.6, "generator": "lifecircle test server",
        "osm3s": {"timestamp_osm_base": "2024-01-01T00:00:00Z", "copyright": "ODbL"},
        "elements": [*nodes, *ways, *rels],
    }


def nominatim_answer(places: dict[str, shapely.Geometry], query: str) -> list[dict[str, Any]]:
    """Answer a Nominatim search: one result per known place, else []."""
    geom = places.get(query.strip().lower())
    if geom is None:
        return []
    w, s, e, n = geom.bounds
    c = geom.centroid
    return [{
        "place_id": 1, "licence": "Data © OpenStreetMap contributors, ODbL 1.0",
        "osm_type": "relation", "osm_id": 1, "lat": str(c.y), "lon": str(c.x),
        "class": "boundary", "type": "administrative", "place_rank": 20, "importance": 0.5,
        "addresstype": "suburb", "name": query.split(",")[0].strip(), "display_name": query,
        "boundingbox": [str(s), str(n), str(w), str(e)],
        "geojson": shapely.geometry.mapping(geom),
    }]


_STATUS = (
    "Connected as: 1\nCurrent time: 2024-01-01T00:00:00Z\nAnnounced endpoint: none\n"
    "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, time limit, start time):\n"
)


class FakeOSMServer:
    """Overpass + Nominatim on 127.0.0.1 at a free port, in a thread.

    Attributes
    ----------
    port
        The port it listens on.
    requests
        (method, path) of every request received, in order.
    slow_seconds
        How long ``/slow/...`` requests sleep before answering.
    """

    def __init__(self, idx: ExtractIndex, places: dict[str, shapely.Geometry]) -> None:
        self.idx = idx
        self.places = {k.lower(): v for k, v in places.items()}
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = 5.0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        # a client that gave up (timeout test) makes writes fail: not news
        self._httpd.handle_error = lambda request, client_address: None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, mode: str = "") -> str:
        """Base URL, optionally with a failure-mode prefix ("m429", "m500", "slow", "remark")."""
        return f"http://127.0.0.1:{self.port}" + (f"/{mode}" if mode else "")

    def start(self) -> "FakeOSMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self) -> int:
        """Number of requests received so far."""
        with self._lock:
            return len(self.requests)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str, params: dict[str, list[str]]) -> None:
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append((method, parts.path))
                path = parts.path
                mode = ""
                m = re.match(r"^/(m429|m500|slow|remark)(/.*)$", path)
                if m:
                    mode, path = m.group(1), m.group(2)
                if mode == "m429":
                    return self._send(429, b"<html>Too Many Requests</html>", "text/html")
                if mode == "m500":
                    return self._send(500, b"<html>Internal Server Error</html>", "text/html")
                if mode == "slow":
                    time.sleep(server.slow_seconds)
                if mode == "remark" and path == "/api/interpreter":
                    answer = _answer([], [], [])
                    answer["remark"] = 'runtime error: Query timed out in "query" at line 1 after 180 seconds.'
                    return self._send(200, json.dumps(answer).encode())
                if path == "/api/status":
                    return self._send(200, _STATUS.encode(), "text/plain")
                if path == "/api/interpreter":
                    query = (params.get("data") or [""])[0]
                    try:
                        if "(node[" in query or "(relation[" in query:
                            answer = features_answer(server.idx, query)
                        elif "way[\"highway\"]" in query:
                            answer = walk_answer(server.idx, query)
                        else:
                            raise ValueError("unsupported query")
                    except ValueError as e:  # as Overpass answers a bad query
                        return self._send(400, f"Error: {e}".encode(), "text/plain")
                    return self._send(200, json.dumps(answer).encode())
                if path == "/search":
                    q = (params.get("q") or [""])[0]
                    return self._send(200, json.dumps(nominatim_answer(server.places, q)).encode())
                return self._send(404, b"not found", "text/plain")

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                self._handle("GET", parse_qs(urlsplit(self.path).query))

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                self._handle("POST", parse_qs(body))

        return Handler

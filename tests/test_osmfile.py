"""Tests for lifecircle.sources.osmfile against independent readings of the file.

The reference walk graph is built by osmnx itself (``graph_from_xml``) from
an OSM XML file written here: the walkable ways, chosen by osmnx's own "walk"
filter string parsed in this module, split where the clipped extract lacks
nodes. Nothing from lifecircle's reader is used to build it.
"""

from __future__ import annotations

import bz2
import re
import shutil
from collections import Counter
from pathlib import Path

import osmium
import osmnx as ox
import pytest
import shapely
from conftest import NO_STREETS_XML

from lifecircle.config import load_config
from lifecircle.errors import EmptyAreaError, InputFileError
from lifecircle.facilities import categorize
from lifecircle.sources.osmfile import FEATURE_KEYS, OSMData, read_osm

# ---------------------------------------------------------------------------
# osmnx's walk filter, parsed independently


def _parse_overpass_filter(text: str) -> tuple[list[str], list[tuple[str, re.Pattern]]]:
    """Parse an Overpass tag filter like ``["highway"]["area"!~"yes"]...``.

    Returns the keys that must be present and (key, regex) pairs that must
    not match (Overpass ``!~``: the key is absent or its value does not
    contain a match).
    """
    clause = re.compile(r'\["([^"]+)"(?:(!~|~|=|!=)"([^"]*)")?\]')
    required, excluded = [], []
    pos = 0
    for m in clause.finditer(text):
        assert m.start() == pos, f"unparsed filter text: {text[pos:m.start()]!r}"
        pos = m.end()
        key, op, value = m.groups()
        if op is None:
            required.append(key)
        elif op == "!~":
            excluded.append((key, re.compile(value)))
        else:  # not in osmnx 2.1's walk filter; fail loudly if it appears
            raise AssertionError(f"operator {op!r} not handled by this test")
    assert pos == len(text), f"unparsed filter text: {text[pos:]!r}"
    return required, excluded


WALK_FILTER = ox._overpass._get_network_filter("walk")
REQUIRED, EXCLUDED = _parse_overpass_filter(WALK_FILTER)


def walkable(tags: dict[str, str]) -> bool:
    if not all(k in tags for k in REQUIRED):
        return False
    return not any(k in tags and rx.search(tags[k]) for k, rx in EXCLUDED)


def test_filter_parser_reads_osmnx_walk_filter():
    # guards the parser itself: the pieces osmnx 2.1 documents for "walk"
    assert REQUIRED == ["highway"]
    keys = [k for k, _ in EXCLUDED]
    assert "foot" in keys and "access" in keys and "highway" in keys
    assert walkable({"highway": "footway"})
    assert not walkable({"highway": "cycleway"})
    assert not walkable({"highway": "motorway_link"})  # "motor" is a substring match
    assert not walkable({"highway": "residential", "foot": "no"})
    assert not walkable({"highway": "service", "access": "private"})
    assert not walkable({"building": "yes"})


# ---------------------------------------------------------------------------
# independent reading of the extract


def _read_ways(path: Path):
    """All ways as (id, tags, [(node id, lon, lat or None)]) with pyosmium."""
    ways = []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if not obj.is_way():
            continue
        refs = []
        for n in obj.nodes:
            loc = n.location
            refs.append((n.ref, (loc.lon, loc.lat) if loc.valid() else None))
        ways.append((obj.id, dict(obj.tags), refs))
    return ways


def _pieces(refs):
    """Runs of consecutive nodes with known locations (at least two nodes)."""
    run = []
    for ref, loc in refs:
        if loc is None:
            if len(run) > 1:
                yield run
            run = []
        else:
            run.append((ref, loc))
    if len(run) > 1:
        yield run


@pytest.fixture(scope="module")
def file_ways(bundled_osm):
    return _read_ways(bundled_osm)


@pytest.fixture(scope="module")
def walk_pieces(file_ways):
    return [(wid, tags, piece) for wid, tags, refs in file_ways if walkable(tags)
            for piece in _pieces(refs)]


@pytest.fixture(scope="module")
def reference_graph(walk_pieces, tmp_path_factory):
    """osmnx.graph_from_xml on the walkable pieces, each with a fresh way id."""
    path = tmp_path_factory.mktemp("ref") / "walk.osm"
    locs = {}
    for _, _, piece in walk_pieces:
        locs.update(piece)
    writer = osmium.SimpleWriter(str(path))
    try:
        for nid in sorted(locs):
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=locs[nid], version=1))
        for new_id, (_, tags, piece) in enumerate(walk_pieces, start=1):
            writer.add_way(osmium.osm.mutable.Way(
                id=new_id, nodes=[ref for ref, _ in piece], tags=tags, version=1))
    finally:
        writer.close()
    return ox.graph_from_xml(path, bidirectional=True, simplify=True, retain_all=False)


@pytest.fixture(scope="module")
def osm(bundled_osm):
    return read_osm(bundled_osm)


def _edge_multiset(G):
    return Counter((u, v, round(d["length"], 6)) for u, v, d in G.edges(data=True))


def test_walk_graph_matches_osmnx_reference(osm, reference_graph):
    G, R = osm.graph, reference_graph
    assert G.number_of_nodes() == R.number_of_nodes()
    assert G.number_of_edges() == R.number_of_edges()
    # same OSM node ids, same edges with the same lengths
    assert set(G.nodes) == set(R.nodes)
    assert _edge_multiset(G) == _edge_multiset(R)
    total_g = sum(d["length"] for _, _, d in G.edges(data=True))
    total_r = sum(d["length"] for _, _, d in R.edges(data=True))
    assert total_g == pytest.approx(total_r, rel=1e-9)


def test_walk_arrays_match_osmnx_reference(bundled_osm, reference_graph):
    """The arrays analyze uses (no networkx graph) against osmnx's own graph:
    the same nodes and streets, lengths within 1e-6 relative."""
    from lifecircle.core.network import graph_is_built

    osm = read_osm(bundled_osm)
    assert not graph_is_built(osm)  # reading builds no networkx graph
    walk, R = osm.walk, reference_graph
    assert walk.nodes.tolist() == sorted(R.nodes)
    # one row per street: osmnx's edges from the lower id end (both
    # directions are in R), and one of the two directions of a loop
    want = sorted((u, v, d["length"]) for u, v, d in R.edges(data=True) if u < v)
    got = sorted((int(walk.nodes[a]), int(walk.nodes[b]), float(x))
                 for a, b, x in zip(walk.eu, walk.ev, walk.length) if a != b)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    assert [g[2] for g in got] == pytest.approx([w[2] for w in want], rel=1e-6)
    loops = {u: d["length"] for u, v, d in R.edges(data=True) if u == v}
    got_loops = {int(walk.nodes[a]): float(x) for a, b, x in zip(walk.eu, walk.ev, walk.length) if a == b}
    assert got_loops.keys() == loops.keys()
    assert got_loops == pytest.approx(loops, rel=1e-6)
    # each street's polyline runs from its first node to its second
    for i in (0, len(walk.eu) // 2, len(walk.eu) - 1):
        a, b = walk.vertex_ptr[i], walk.vertex_ptr[i + 1] - 1
        for end, node in ((a, walk.eu[i]), (b, walk.ev[i])):
            assert (walk.vertex_lon[end], walk.vertex_lat[end]) == (walk.lon[node], walk.lat[node])


def test_walk_graph_size_as_in_notes(osm):
    # figures recorded in NOTES.md for this extract
    assert osm.graph.number_of_nodes() == 2277
    assert osm.graph.number_of_edges() == 6294


def test_unsimplified_edges_join_consecutive_way_nodes(bundled_osm, file_ways, walk_pieces):
    G = read_osm(bundled_osm, simplify=False, retain_all=True).graph
    consecutive = set()
    for _, _, refs in file_ways:
        for (a, la), (b, lb) in zip(refs, refs[1:]):
            if la is not None and lb is not None:
                consecutive.add(frozenset((a, b)))
    bad = [(u, v) for u, v in G.edges() if u != v and frozenset((u, v)) not in consecutive]
    assert not bad, f"{len(bad)} edges join nodes not consecutive in any way, e.g. {bad[:3]}"
    # and exactly the walkable consecutive pairs are there, in both directions
    expected = {frozenset((a, b)) for _, _, piece in walk_pieces
                for (a, _), (b, _) in zip(piece, piece[1:]) if a != b}
    got = {frozenset((u, v)) for u, v in G.edges()}
    assert got == expected
    assert all(G.has_edge(v, u) for u, v in G.edges())
    assert set(G.nodes) == {ref for _, _, piece in walk_pieces for ref, _ in piece}


def test_named_features_are_categorized(osm):
    pois = categorize(osm.features, load_config(level="10min"))
    school = pois[pois["name"] == "Kaisaniemen ala-aste"]
    pharmacy = pois[pois["name"] == "Apteekki Eliel"]
    assert "school" in set(school["category"])
    assert "pharmacy" in set(pharmacy["category"])
    assert set(pharmacy["poi_id"]) == {"node/1369465553"}
    assert set(school.loc[school["category"] == "school", "poi_id"]) == {"way/596507272"}
    # a pharmacy is not a school and vice versa
    assert "school" not in set(pharmacy["category"])
    assert "pharmacy" not in set(school["category"])


# ---------------------------------------------------------------------------
# bad input


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, f"message is not one line: {msg!r}"
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError) as exc:
        read_osm(tmp_path / "nowhere.osm.pbf")
    assert "nowhere.osm.pbf" in _one_line(exc)


def test_truncated_pbf(tmp_path, bundled_osm):
    bad = tmp_path / "cut.osm.pbf"
    data = bundled_osm.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError) as exc:
        read_osm(bad)
    assert "cut.osm.pbf" in _one_line(exc)


def test_random_bytes_pbf(tmp_path):
    bad = tmp_path / "noise.osm.pbf"
    bad.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputFileError) as exc:
        read_osm(bad)
    _one_line(exc)


def test_garbage_xml(tmp_path):
    bad = tmp_path / "noise.osm"
    bad.write_text("<osm version='0.6'><node id='1' lat='60' lon=", encoding="utf-8")
    with pytest.raises(InputFileError) as exc:
        read_osm(bad)
    _one_line(exc)




def test_no_walkable_ways(tmp_path):
    path = tmp_path / "nostreets.osm"
    path.write_text(NO_STREETS_XML, encoding="utf-8")
    with pytest.raises(EmptyAreaError) as exc:
        read_osm(path)
    _one_line(exc)


# ---------------------------------------------------------------------------
# other formats


@pytest.fixture(scope="module")
def xml_copies(bundled_osm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    osm_path = folder / "centre.osm"
    writer = osmium.SimpleWriter(str(osm_path))
    try:
        for obj in osmium.FileProcessor(str(bundled_osm)):
            writer.add(obj)
    finally:
        writer.close()
    bz2_path = folder / "centre.osm.bz2"
    with open(osm_path, "rb") as src, bz2.open(bz2_path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return osm_path, bz2_path


@pytest.mark.parametrize("which", [0, 1], ids=["osm", "osm.bz2"])
def test_xml_formats_read_the_same(xml_copies, osm, which):
    path = xml_copies[which]
    head = (bz2.open(path) if path.suffix == ".bz2" else open(path, "rb")).read(5)
    assert head == b"<?xml"
    other = read_osm(path)
    assert other.graph.number_of_nodes() == osm.graph.number_of_nodes()
    assert other.graph.number_of_edges() == osm.graph.number_of_edges()
    assert set(other.graph.nodes) == set(osm.graph.nodes)
    assert _edge_multiset(other.graph) == _edge_multiset(osm.graph)
    assert len(other.features) == len(osm.features)


# ---------------------------------------------------------------------------
# nothing dropped in silence: clipped areas, left-out objects, extra keys,
# the date of the data. Every expectation below comes from a plain pyosmium
# pass written here, not from lifecircle's reader.

# Relation types from which pyosmium assembles areas (libosmium's rule).
AREA_RELATION_TYPES = {"multipolygon", "boundary"}


@pytest.fixture(scope="module")
def file_objects(bundled_osm):
    """One plain pass: tagged nodes, every way, area relations, newest edit."""
    nodes, ways, relations = {}, {}, {}
    newest = None
    for obj in osmium.FileProcessor(str(bundled_osm)).with_locations():
        stamp = obj.timestamp
        if stamp.timestamp() > 0 and (newest is None or stamp > newest):
            newest = stamp
        tags = dict(obj.tags)
        if obj.is_node():
            if tags and obj.location.valid():
                nodes[obj.id] = tags
        elif obj.is_way():
            refs = [(n.ref, (n.location.lon, n.location.lat) if n.location.valid() else None) for n in obj.nodes]
            ways[obj.id] = (tags, refs)
        elif tags.get("type") in AREA_RELATION_TYPES:
            relations[obj.id] = (tags, [m.ref for m in obj.members if m.type == "w"])
    return {"nodes": nodes, "ways": ways, "relations": relations, "newest": newest}


def _closed_rings(file_objects, keys=FEATURE_KEYS):
    """Closed ways pyosmium would make areas of: id -> (tags, refs)."""
    return {wid: (tags, refs) for wid, (tags, refs) in file_objects["ways"].items()
            if len(refs) >= 4 and refs[0][0] == refs[-1][0] and tags.get("area") != "no"
            and not keys.isdisjoint(tags)}


def _missing_nodes(refs) -> bool:
    return any(loc is None for _, loc in refs)


def _parts(geom) -> list[list[tuple[float, float]]]:
    return [list(part.coords) for part in geom.geoms]


def test_every_residential_area_is_a_feature(osm, file_objects):
    residential = {wid: refs for wid, (tags, refs) in _closed_rings(file_objects).items()
                   if tags.get("landuse") == "residential"}
    cut = {wid for wid, refs in residential.items() if _missing_nodes(refs)}
    # the figures of the brief, counted here on the file itself
    assert (len(residential), len(cut)) == (26, 13)
    feats = osm.features
    rows = feats[(feats["osm_type"] == "way") & feats["tags"].map(lambda t: t.get("landuse") == "residential")]
    assert set(rows["osm_id"]) == set(residential)
    assert set(rows.loc[rows["clipped"], "osm_id"]) == cut
    assert set(rows.loc[rows["clipped"]].geom_type) == {"MultiLineString"}
    assert set(rows.loc[~rows["clipped"]].geom_type) == {"MultiPolygon"}
    for wid, geom in zip(rows.loc[rows["clipped"], "osm_id"], rows.loc[rows["clipped"]].geometry):
        expected = [[loc for _, loc in piece] for piece in _pieces(residential[wid])]
        assert _parts(geom) == expected, wid


def test_clipped_rows_are_exactly_the_cut_rings(osm, file_objects):
    rings = _closed_rings(file_objects)
    cut = {wid: refs for wid, (tags, refs) in rings.items() if _missing_nodes(refs)}
    with_runs = {wid for wid, refs in cut.items() if any(True for _ in _pieces(refs))}
    feats = osm.features
    assert feats["clipped"].dtype == bool
    clipped = feats[feats["clipped"]]
    assert set(clipped["osm_type"]) == {"way"}
    assert set(clipped["osm_id"]) == with_runs
    for wid, geom in zip(clipped["osm_id"], clipped.geometry):
        assert _parts(geom) == [[loc for _, loc in piece] for piece in _pieces(cut[wid])], wid
    # a cut ring with no two neighbouring nodes in the file is reported, not drawn
    outside = osm.left_out[osm.left_out["reason"] == "outline outside the extract"]
    assert set(outside["osm_id"]) == set(cut) - with_runs
    assert set(outside["osm_type"]) <= {"way"}
    # no object twice, whether as area, outline or left-out row
    keys = list(zip(feats["osm_type"], feats["osm_id"]))
    assert len(keys) == len(set(keys))
    assert not set(keys) & set(zip(osm.left_out["osm_type"], osm.left_out["osm_id"]))


def test_incomplete_relations_are_left_out(osm, file_objects):
    ways = file_objects["ways"]
    tagged = {rid: ws for rid, (tags, ws) in file_objects["relations"].items() if not FEATURE_KEYS.isdisjoint(tags)}
    # complete: every member way in the file, with every node
    complete = {rid for rid, ws in tagged.items()
                if ws and all(w in ways and not _missing_nodes(ways[w][1]) for w in ws)}
    left = osm.left_out
    assert list(left.columns) == ["osm_type", "osm_id", "name", "tags", "reason"]
    incomplete = left[left["reason"] == "relation incomplete in the extract"]
    assert set(incomplete["osm_type"]) == {"relation"}
    assert set(incomplete["osm_id"]) == set(tagged) - complete
    assert len(incomplete) == 25
    feats = osm.features
    assert set(feats.loc[feats["osm_type"] == "relation", "osm_id"]) == complete
    # the rows say what they were: Helsinki's own boundary is one of them
    helsinki = incomplete[incomplete["osm_id"] == 34914].iloc[0]
    assert helsinki["name"] == "Helsinki" and helsinki["tags"]["boundary"] == "administrative"
    assert "type" not in helsinki["tags"]  # as on the areas pyosmium makes of relations
    assert left["osm_id"].dtype == "int64"
    assert list(zip(left["osm_type"], left["osm_id"])) == sorted(zip(left["osm_type"], left["osm_id"]))


@pytest.fixture(scope="module")
def osm_highway(bundled_osm):
    return read_osm(bundled_osm, keys=["highway"])


def _bus_stops(features):
    rows = features[(features["osm_type"] == "node")
                    & features["tags"].map(lambda t: t.get("highway") == "bus_stop")]
    return set(rows["osm_id"])


def test_requested_key_reads_bus_stops(osm, osm_highway, file_objects):
    stops = {nid for nid, tags in file_objects["nodes"].items() if tags.get("highway") == "bus_stop"}
    assert len(stops) > 50  # the extract has a real number of them
    assert _bus_stops(osm_highway.features) == stops
    # none with the default keys: no bus stop here carries another feature key
    assert not any(not FEATURE_KEYS.isdisjoint(file_objects["nodes"][n]) for n in stops)
    assert _bus_stops(osm.features) == set()
    assert osm.feature_keys == FEATURE_KEYS
    assert osm_highway.feature_keys == FEATURE_KEYS | {"highway"}
    # the walk network does not depend on which features are read
    assert set(osm_highway.graph.nodes) == set(osm.graph.nodes)
    assert _edge_multiset(osm_highway.graph) == _edge_multiset(osm.graph)


def test_a_single_key_string_is_one_key(bundled_osm, osm_highway):
    one = read_osm(bundled_osm, keys="highway")
    assert one.feature_keys == osm_highway.feature_keys
    assert len(one.features) == len(osm_highway.features)


def test_data_date_is_the_newest_edit(osm, bundled_osm, file_objects):
    header = osmium.io.Reader(str(bundled_osm), osmium.osm.osm_entity_bits.NOTHING).header()
    # no replication timestamp in this file's header: the newest edit decides
    assert header.get("osmosis_replication_timestamp") == ""
    assert file_objects["newest"].date().isoformat() == "2019-04-21"  # as data/README.md says
    assert osm.data_date == "2019-04-21"


# ---------------------------------------------------------------------------
# small synthetic extracts: every case with a known answer

#: A street (1-2), a complete square park (way 20, nodes 3-6), a park whose
#: ring lost nodes 92 and 93 at the extract's edge (way 21), a ring whose
#: nodes are all outside (way 22), a bow tie (way 23), a complete
#: multipolygon (relation 30 on way 24) and one whose second member is
#: missing (relation 31).
SYNTHETIC_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" version="1" lat="60.1000" lon="24.9000"/>
  <node id="2" version="1" lat="60.1000" lon="24.9100"/>
  <node id="3" version="1" lat="60.1010" lon="24.9000"/>
  <node id="4" version="1" lat="60.1010" lon="24.9010"/>
  <node id="5" version="1" lat="60.1020" lon="24.9010"/>
  <node id="6" version="1" lat="60.1020" lon="24.9000"/>
  <node id="11" version="1" lat="60.1030" lon="24.9000"/>
  <node id="12" version="1" lat="60.1030" lon="24.9010"/>
  <node id="13" version="1" lat="60.1030" lon="24.9020"/>
  <node id="14" version="1" lat="60.1040" lon="24.9020"/>
  <node id="15" version="1" lat="60.1040" lon="24.9000"/>
  <node id="41" version="1" lat="60.1050" lon="24.9000"/>
  <node id="42" version="1" lat="60.1060" lon="24.9010"/>
  <node id="43" version="1" lat="60.1050" lon="24.9010"/>
  <node id="44" version="1" lat="60.1060" lon="24.9000"/>
  <node id="51" version="1" lat="60.1070" lon="24.9000"/>
  <node id="52" version="1" lat="60.1070" lon="24.9010"/>
  <node id="53" version="1" lat="60.1080" lon="24.9010"/>
  <node id="54" version="1" lat="60.1080" lon="24.9000"/>
  <way id="10" version="1">
    <nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="20" version="1">
    <nd ref="3"/><nd ref="4"/><nd ref="5"/><nd ref="6"/><nd ref="3"/>
    <tag k="leisure" v="park"/><tag k="name" v="Whole park"/>
  </way>
  <way id="21" version="1">
    <nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="92"/><nd ref="14"/><nd ref="93"/>
    <nd ref="15"/><nd ref="11"/>
    <tag k="leisure" v="park"/><tag k="name" v="Cut park"/>
  </way>
  <way id="22" version="1">
    <nd ref="94"/><nd ref="95"/><nd ref="96"/><nd ref="94"/>
    <tag k="landuse" v="residential"/>
  </way>
  <way id="23" version="1">
    <nd ref="41"/><nd ref="42"/><nd ref="43"/><nd ref="44"/><nd ref="41"/>
    <tag k="leisure" v="playground"/>
  </way>
  <way id="24" version="1">
    <nd ref="51"/><nd ref="52"/><nd ref="53"/><nd ref="54"/><nd ref="51"/>
  </way>
  <relation id="30" version="1">
    <member type="way" ref="24" role="outer"/>
    <tag k="type" v="multipolygon"/><tag k="landuse" v="residential"/>
  </relation>
  <relation id="31" version="1">
    <member type="way" ref="24" role="outer"/><member type="way" ref="99" role="inner"/>
    <tag k="type" v="multipolygon"/><tag k="amenity" v="school"/><tag k="name" v="Half school"/>
  </relation>
</osm>
"""


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("synthetic") / "cut.osm"
    path.write_text(SYNTHETIC_XML, encoding="utf-8")
    return read_osm(path, retain_all=True)


def _row(frame, osm_type, osm_id):
    rows = frame[(frame["osm_type"] == osm_type) & (frame["osm_id"] == osm_id)]
    assert len(rows) == 1, (osm_type, osm_id, len(rows))
    return rows.iloc[0]


def test_synthetic_clipped_ring_is_its_visible_runs(synthetic):
    cut = _row(synthetic.features, "way", 21)
    assert bool(cut["clipped"]) and cut["name"] == "Cut park"
    assert cut.geometry.geom_type == "MultiLineString"
    # nodes 11 12 13 | 92 missing | 14 alone | 93 missing | 15 11: runs of two or more
    assert _parts(cut.geometry) == [
        [(24.9000, 60.1030), (24.9010, 60.1030), (24.9020, 60.1030)],
        [(24.9000, 60.1040), (24.9000, 60.1030)],
    ]


def test_synthetic_complete_ring_stays_a_polygon(synthetic):
    whole = _row(synthetic.features, "way", 20)
    assert not bool(whole["clipped"])
    assert whole.geometry.geom_type in ("Polygon", "MultiPolygon")
    assert whole.geometry.equals(shapely.box(24.9000, 60.1010, 24.9010, 60.1020))
    rel = _row(synthetic.features, "relation", 30)
    assert not bool(rel["clipped"]) and rel.geometry.equals(shapely.box(24.9000, 60.1070, 24.9010, 60.1080))


def test_synthetic_left_out(synthetic):
    left = synthetic.left_out
    assert list(left.columns) == ["osm_type", "osm_id", "name", "tags", "reason"]
    assert list(zip(left["osm_type"], left["osm_id"], left["reason"])) == [
        ("relation", 31, "relation incomplete in the extract"),
        ("way", 22, "outline outside the extract"),
        ("way", 23, "invalid geometry"),
    ]
    half = _row(left, "relation", 31)
    assert half["name"] == "Half school" and half["tags"] == {"amenity": "school", "name": "Half school"}
    # nothing left out is also a feature, and nothing else is missing
    feats = synthetic.features
    assert set(zip(feats["osm_type"], feats["osm_id"])) == {("way", 20), ("way", 21), ("relation", 30)}
    assert synthetic.data_date is None  # no timestamps anywhere in the file


def test_nothing_left_out_gives_an_empty_frame(tmp_path):
    path = tmp_path / "street.osm"
    path.write_text(SYNTHETIC_XML.split("<way id=\"20\"")[0] + "</osm>\n", encoding="utf-8")
    data = read_osm(path)
    assert len(data.left_out) == 0
    assert list(data.left_out.columns) == ["osm_type", "osm_id", "name", "tags", "reason"]
    assert list(data.features.columns) == ["osm_type", "osm_id", "name", "tags", "clipped", "geometry"]
    assert len(data.features) == 0


def _dated_extract(path: Path, replication: str | None) -> Path:
    """A one-street .osm.pbf edited 2022-06-01 (the way) and 2020-01-02 (its nodes)."""
    header = osmium.io.Header()
    if replication:
        header.set("osmosis_replication_timestamp", replication)
    writer = osmium.SimpleWriter(str(path), 4096, header)
    try:
        for nid, lon in ((1, 24.90), (2, 24.91)):
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=(lon, 60.1), version=1,
                                                    timestamp="2020-01-02T00:00:00Z"))
        writer.add_way(osmium.osm.mutable.Way(id=1, nodes=[1, 2], tags={"highway": "footway"}, version=1,
                                              timestamp="2022-06-01T23:59:59Z"))
    finally:
        writer.close()
    return path


def test_data_date_prefers_the_header(tmp_path):
    dated = _dated_extract(tmp_path / "dated.osm.pbf", "2021-03-04T23:30:00Z")
    assert read_osm(dated).data_date == "2021-03-04"
    # without it, the newest object (a way here, not a node) dates the file
    undated = _dated_extract(tmp_path / "undated.osm.pbf", None)
    assert osmium.io.Reader(str(undated), osmium.osm.osm_entity_bits.NOTHING).header().get(
        "osmosis_replication_timestamp") == ""
    assert read_osm(undated).data_date == "2022-06-01"


def test_osmdata_defaults(osm):
    plain = OSMData(osm.graph, osm.features, "x")
    assert plain.feature_keys == FEATURE_KEYS
    assert plain.data_date is None
    assert list(plain.left_out.columns) == ["osm_type", "osm_id", "name", "tags", "reason"]
    assert len(plain.left_out) == 0
    # each instance its own empty frame
    assert OSMData(osm.graph, osm.features, "y").left_out is not plain.left_out


def test_plain_street_tags_are_the_way_tags(bundled_osm, tmp_path):
    """The two-lookup reading of a street's tags gives dict(way.tags) or
    declines (None): also for a repeated key and a name-only way."""
    from lifecircle.sources.osmfile import _plain_street_tags

    odd = tmp_path / "odd.osm"
    ways = ['<tag k="highway" v="path"/><tag k="highway" v="track"/>', '<tag k="name" v="A"/>',
            '<tag k="name" v="A"/><tag k="highway" v="path"/>', '<tag k="highway" v="path"/>', '']
    odd.write_text('<osm version="0.6"><node id="1" version="1" lat="60.1" lon="24.9"/>' + "".join(
        f'<way id="{i}" version="1"><nd ref="1"/>{tags}</way>' for i, tags in enumerate(ways, 1)) + "</osm>",
        encoding="utf-8")
    plain = 0
    for path in (bundled_osm, odd):
        for obj in osmium.FileProcessor(str(path)):
            if obj.is_way():
                got = _plain_street_tags(obj)
                assert got is None or got == dict(obj.tags)
                plain += got is not None
    assert plain > 100

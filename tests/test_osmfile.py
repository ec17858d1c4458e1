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
from conftest import NO_STREETS_XML

from lifecircle.config import load_config
from lifecircle.errors import EmptyAreaError, InputFileError
from lifecircle.pois import categorize
from lifecircle.sources.osmfile import read_osm

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
    school = pois[pois["name"] == "Ressun lukio"]
    pharmacy = pois[pois["name"] == "Apteekki Eliel"]
    assert "school" in set(school["category"])
    assert "pharmacy" in set(pharmacy["category"])
    assert set(pharmacy["poi_id"]) == {"node/1369465553"}
    assert set(school.loc[school["category"] == "school", "poi_id"]) == {"way/37264738"}
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

"""Every private name lifecircle.adapters relies on, checked against the installed versions.

When one of these fails after an upgrade of osmnx, branca or folium, the
adapter named in the test needs a new way to do its job (see
lifecircle/adapters.py); nothing else in lifecircle touches these names.
"""

from __future__ import annotations

import inspect
from collections.abc import MutableMapping

import folium
import osmnx as ox
import pytest
from branca.element import Element, Figure

from lifecircle import adapters

# ---------------------------------------------------------------- osmnx


def test_insufficient_response_error_is_osmnx_own():
    """osmnx raises this class for empty answers; it must stay a ValueError."""
    assert adapters.InsufficientResponseError.__module__.startswith("osmnx")
    assert issubclass(adapters.InsufficientResponseError, ValueError)


@pytest.mark.parametrize(("module", "message"), [
    ("geocoder", "returned 0 results"),
    ("graph", "No data elements in server response"),
    ("features", "No matching features"),
    ("truncate", "Found no graph nodes within the requested polygon"),
])
def test_empty_answer_messages_are_still_osmnx_wording(module, message):
    """is_empty_answer matches these words: osmnx must still use them."""
    source = inspect.getsource(getattr(ox, module))
    assert message in source, f"osmnx.{module} no longer says {message!r}: update adapters._EMPTY_ANSWERS"
    assert message in adapters._EMPTY_ANSWERS


def test_point_only_place_message():
    assert adapters._POINT_ONLY in inspect.getsource(ox.geocoder)
    assert adapters.is_point_only_place(TypeError("did not geocode query 'x' to a geometry of type (Multi)Polygon."))
    assert not adapters.is_point_only_place(TypeError("something else"))


def test_is_empty_answer_tells_empty_from_broken():
    empty = adapters.InsufficientResponseError("Nominatim geocoder returned 0 results for query 'x'.")
    broken = adapters.InsufficientResponseError("Could not parse the response")
    assert adapters.is_empty_answer(empty)
    assert not adapters.is_empty_answer(broken)
    assert adapters.is_empty_answer(ValueError("Found no graph nodes within the requested polygon."))


def test_overpass_pause_is_looked_up_by_name_and_restored():
    """osmnx calls _get_overpass_pause(base_endpoint) through its module
    globals, so replacing the module attribute takes effect."""
    module = ox._overpass
    original = module._get_overpass_pause
    params = inspect.signature(original).parameters
    assert next(iter(params)) == "base_endpoint"
    assert "_get_overpass_pause(settings.overpass_url)" in inspect.getsource(module)
    calls = []

    def wrap(orig):
        def pause(base_endpoint, *args, **kwargs):
            calls.append(base_endpoint)
            return 0.0
        return pause

    with adapters.overpass_pause(wrap):
        assert module._get_overpass_pause("http://x/api") == 0.0
    assert calls == ["http://x/api"]
    assert module._get_overpass_pause is original


# ---------------------------------------------------------------- pyosmium


def test_tag_dict_and_node_refs_match_the_public_api(bundled_osm, tmp_path):
    """Same tags in the same order, same node refs and locations, for every
    object of the bundled extract and of a file with repeated keys and a
    way whose nodes are partly missing."""
    import osmium

    odd = tmp_path / "odd.osm"
    odd.write_text(
        '<osm version="0.6"><node id="1" version="1" lat="60.1" lon="24.9"/>'
        '<node id="2" version="1" lat="60.2" lon="24.8"><tag k="a" v="1"/><tag k="a" v="2"/></node>'
        '<way id="5" version="1"><nd ref="1"/><nd ref="3"/><nd ref="2"/><tag k="highway" v="path"/></way>'
        '<way id="6" version="1"/></osm>', encoding="utf-8")
    seen = {"n": 0, "w": 0, "r": 0, "a": 0}
    for path in (bundled_osm, odd):
        for obj in osmium.FileProcessor(str(path)).with_locations().with_areas():
            seen[obj.type_str()] += 1
            assert list(adapters.tag_dict(obj).items()) == list(dict(obj.tags).items())
            if obj.is_way():
                got, want = adapters.node_refs(obj), list(obj.nodes)
                assert [(n.ref, n.location) for n in got] == [(n.ref, n.location) for n in want]
    assert all(seen.values()), seen


# ---------------------------------------------------------------- branca / folium


def test_children_parent_and_id():
    root = Figure()
    child = Element()
    root.add_child(child, name="kid")
    kids = adapters.children(root)
    assert isinstance(kids, MutableMapping)
    assert list(kids) == ["kid"] and kids["kid"] is child
    assert adapters.parent(child) is root
    adapters.set_id(child, "0042")
    assert child.get_name().endswith("_0042"), "branca's get_name no longer ends with the element id"
    assert adapters.name_of(folium.GeoJson({"type": "FeatureCollection", "features": []})) == "GeoJson"


def test_renaming_children_changes_the_rendered_order_and_names():
    """maps._renumber rewrites the children mapping in place: branca must
    render from that same mapping."""
    root = Figure()
    for name in ("a", "b"):
        root.html.add_child(Element(f"<p>{name}</p>"), name=name)
    kids = adapters.children(root.html)
    items = list(kids.items())
    kids.clear()
    kids.update(reversed(items))
    page = root.render()
    assert page.index("<p>b</p>") < page.index("<p>a</p>")


def test_cdn_links_and_dropping_them():
    m = folium.Map(tiles=None)
    assert adapters.cdn_links(m), "folium.Map no longer lists CDN assets in default_js/default_css"
    assert adapters.cdn_links(Element()) == []
    class_js = list(type(m).default_js)
    adapters.drop_cdn_links(m)
    assert adapters.cdn_links(m) == []
    assert type(m).default_js == class_js, "dropping must not change folium's class-level lists"
    page = m.get_root().render()
    assert "cdn.jsdelivr.net" not in page and "<script src=" not in page

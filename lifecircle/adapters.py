"""The one place lifecircle touches private parts of its dependencies.

Everything here leans on names that osmnx, pyosmium, branca and folium
do not promise to keep: an underscore-prefixed module, function or attribute, or
the wording of an error message. No public API gives the same effect (see
each function), so the private use is collected here, behind functions
with a stable meaning, and ``tests/test_adapters.py`` checks every
assumption against the installed versions: an upgrade that breaks one fails
there, by name, rather than somewhere in a map or a download.

The README's "Known limitations" lists the versions this was checked with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, MutableMapping
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from branca.element import Element
    from folium.elements import JSCSSMixin

# osmnx, branca and folium are imported where they are used: the OSM file
# reader needs this module, but an offline read needs no osmnx (importing it
# costs a second: it loads scikit-learn) and no folium (a quarter of a second)


def __getattr__(name: str) -> Any:
    # osmnx exports no exception classes at the top level; its services raise
    # this one (a ValueError) for answers with nothing usable in them.
    if name == "InsufficientResponseError":
        from osmnx._errors import InsufficientResponseError

        return InsufficientResponseError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "is_empty_answer", "is_point_only_place", "overpass_pause",
    "tag_dict", "node_refs",
    "children", "parent", "set_id", "name_of", "cdn_links", "drop_cdn_links",
]


# ---------------------------------------------------------------- osmnx


# The only way to tell "the service found nothing" from "the service sent
# something we cannot use" is the message osmnx words each case with:
# geocoder (no place), graph (no walkable way), features (no tagged object),
# truncate (a polygon with no graph node in it).
_EMPTY_ANSWERS = (
    "returned 0 results",
    "No data elements in server response",
    "No matching features",
    "Found no graph nodes within the requested polygon",
)
# geocode_to_gdf raises TypeError when a place has only a point geometry.
_POINT_ONLY = "(Multi)Polygon"


def is_empty_answer(error: BaseException) -> bool:
    """Return True when osmnx raised because the service found nothing.

    Parameters
    ----------
    error
        An :class:`InsufficientResponseError` or ``ValueError`` from osmnx.

    Returns
    -------
    bool
        False for answers osmnx could not read (those are real failures).
    """
    return isinstance(error, ValueError) and any(m.lower() in str(error).lower() for m in _EMPTY_ANSWERS)


def is_point_only_place(error: BaseException) -> bool:
    """Return True for osmnx's error on a place that has no boundary polygon."""
    return isinstance(error, TypeError) and _POINT_ONLY in str(error)


@contextlib.contextmanager
def overpass_pause(wrap: Callable[[Callable[..., float]], Callable[..., float]]) -> Iterator[None]:
    """Replace osmnx's Overpass slot check with ``wrap(original)`` for a while.

    osmnx asks the Overpass status endpoint before every query it does not
    find in its cache, and sleeps 60 s when that endpoint cannot be reached.
    Public settings can only switch the check off altogether
    (``overpass_rate_limit``), which would ignore a busy server's slots;
    wrapping the private ``osmnx._overpass._get_overpass_pause`` lets an
    unreachable server fail at once while a reachable one is still obeyed.

    Parameters
    ----------
    wrap
        Given the original function, returns its replacement (same
        signature: ``(base_endpoint, **kwargs) -> seconds``).
    """
    import osmnx as ox

    module = ox._overpass
    original = module._get_overpass_pause
    module._get_overpass_pause = wrap(original)
    try:
        yield
    finally:
        module._get_overpass_pause = original


# ---------------------------------------------------------------- pyosmium


def tag_dict(obj: Any) -> dict[str, str]:
    """``dict(obj.tags)`` of a pyosmium object, four times faster.

    pyosmium's tag iterator ends with a StopIteration raised in C++, and
    that translation costs more than reading the tags (about 7 us an
    object: a second for a 75,000-node city's 140,000 ways). Asking the tag
    count first and calling the private ``tags_next`` that often never
    reaches the end. Same pairs, same order (a repeated key: the last wins).
    """
    data = obj._pyosmium_data
    return dict(map(data.tags_next, repeat(data.tags_begin(), data.tags_size())))


def node_refs(way: Any) -> list[Any]:
    """``list(way.nodes)``: the way's ``osmium.osm.NodeRef`` objects.

    The public iterator is a generator over ``__getitem__``, two Python
    calls a node; this maps the private C++ getter they end in over the
    indices, in C.
    """
    data = way._pyosmium_data
    refs = data.nodes()
    return list(map(refs.get, repeat(data), range(refs.size(data))))


# ---------------------------------------------------------------- branca / folium


def children(element: Element) -> MutableMapping[str, Element]:
    """The live, ordered ``name -> child`` mapping of a branca element.

    branca has ``add_child`` but no way to list or rename children.
    """
    return element._children


def parent(element: Element) -> Element | None:
    """The element ``element`` was added to, or None (branca keeps no public link)."""
    return element._parent


def set_id(element: Element, ident: str) -> None:
    """Give ``element`` the id its ``get_name()`` (its JS variable) ends with.

    branca draws ids at random when an element is made and offers no setter;
    a fixed id per element is what makes the same map give the same bytes.
    """
    element._id = ident


def name_of(element: Element) -> str:
    """The class name branca shows for ``element`` (e.g. "GeoJson")."""
    return element._name


def cdn_links(element: Any) -> list[str]:
    """The script and stylesheet URLs folium would link for ``element``.

    folium's ``JSCSSMixin`` keeps them in the ``default_js``/``default_css``
    lists and writes a ``<script src>``/``<link>`` for each when rendering;
    it has setters for them but no documented way to remove one.
    """
    from folium.elements import JSCSSMixin

    if not isinstance(element, JSCSSMixin):
        return []
    return [url for _, url in [*element.default_js, *element.default_css]]


def drop_cdn_links(element: JSCSSMixin) -> None:
    """Make ``element`` link no CDN asset (the page inlines them instead).

    Instance attributes, so folium's class-level lists, shared by every map
    of the process, stay untouched.
    """
    element.default_js, element.default_css = [], []

"""Dataclass fields built only when read (a networkx graph, a result layer).

Kept apart from :mod:`lifecircle.core.network` so that modules holding
such a field (``analysis``) import no osmnx.
"""

from __future__ import annotations

from typing import Any


class Lazy:
    """A dataclass field that may be given as None: it is then built on
    first read by the owner's ``_build_<name>()`` and kept.

    Parameters
    ----------
    optional
        False: the field stays required (no default), so existing positional
        and keyword constructions work unchanged. True: its default is None,
        so it can be left out.
    """

    def __init__(self, *, optional: bool = False) -> None:
        self.optional = optional

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_lazy_" + name
        self.builder = "_build_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            # what dataclasses read as the field's default (AttributeError: none)
            if self.optional:
                return None
            raise AttributeError(self.slot)
        value = obj.__dict__.get(self.slot)
        if value is None:
            value = getattr(obj, self.builder)()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


#: A lazy networkx graph field, built by the owner's ``_build_graph()``.
LazyGraph = Lazy


def graph_is_built(obj: Any, name: str = "graph") -> bool:
    """True if ``obj``'s lazy field ``name`` has been given or built already."""
    return obj.__dict__.get("_lazy_" + name) is not None

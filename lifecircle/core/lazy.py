"""A dataclass field for a networkx graph built only when read.

Kept apart from :mod:`lifecircle.core.network` so that modules holding
such a field (``analysis``) import no osmnx.
"""

from __future__ import annotations

from typing import Any


class LazyGraph:
    """A dataclass field holding a networkx graph that may be given as None:
    it is then built on first read by the owner's ``_build_graph()`` and kept.

    The field stays required (no default), so existing positional and
    keyword constructions work unchanged.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_lazy_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            # what dataclasses read as "this field has no default"
            raise AttributeError(self.slot)
        value = obj.__dict__.get(self.slot)
        if value is None:
            value = obj._build_graph()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


def graph_is_built(obj: Any, name: str = "graph") -> bool:
    """True if ``obj``'s lazy graph field has been given or built already."""
    return obj.__dict__.get("_lazy_" + name) is not None

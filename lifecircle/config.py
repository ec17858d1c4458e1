"""Categories, levels and run settings: the built-in presets and TOML overrides.

A run is described by a :class:`Config`: which categories count, the
threshold (minutes at a walking speed, or metres in distance mode) and the
snapping limit. :func:`load_config` builds one from the package presets
(``presets.toml``), an optional user TOML file and keyword overrides.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from . import settings
from .errors import ConfigError

_CATEGORY_FIELDS = {"label_zh", "label_en", "color", "icon", "tags", "names"}
_TOP_FIELDS = {
    "level", "minutes", "distance_m", "mode", "speed_kmh", "max_snap_m",
    "categories", "levels", "use", "pois",
}


@dataclass(frozen=True)
class Category:
    """A kind of daily facility, defined by OSM tag filters.

    Parameters
    ----------
    key
        Short identifier, used in column names (``minutes_<key>``).
    label_zh, label_en
        Display names.
    tags
        ``{osm_key: [values]}``; the value ``"*"`` matches any value.
    names
        Substrings of a POI's name that also put it in this category.
    color, icon
        Map styling.
    """

    key: str
    label_zh: str
    label_en: str
    tags: Mapping[str, tuple[str, ...]]
    names: tuple[str, ...] = ()
    color: str = "#555555"
    icon: str = "●"

    def label(self, lang: str = "en") -> str:
        """Return the display name in ``lang`` ("zh" or "en")."""
        return self.label_zh if lang == "zh" else self.label_en

    def matches(self, tags: Mapping[str, str]) -> bool:
        """Return True if an OSM object with these tags belongs here."""
        for key, values in self.tags.items():
            value = tags.get(key)
            if value is not None and ("*" in values or value in values):
                return True
        if self.names:
            name = " ".join(
                tags.get(k, "") for k in ("name", "name:zh", "name:en", "official_name")
            ).casefold()
            if name.strip() and any(n.casefold() in name for n in self.names):
                return True
        return False


@dataclass(frozen=True)
class Config:
    """Everything that decides a run's numbers.

    Parameters
    ----------
    level
        Name of the life-circle level ("5min", "10min", "15min").
    categories
        The categories analysed, in report order.
    minutes
        Threshold in minutes (time mode).
    distance_m
        Threshold in metres (distance mode), from the level (GB 50180).
    mode
        "time" (minutes at ``speed_kmh``) or "distance" (metres).
    speed_kmh
        Walking speed.
    max_snap_m
        Farthest a point may lie from a walkable street to be snapped.
    explicit
        Category keys the user asked for by name; an empty one of these is an
        error, an empty preset category only a warning.
    """

    level: str
    categories: tuple[Category, ...]
    minutes: float
    distance_m: float
    mode: str = "time"
    speed_kmh: float = 4.5
    max_snap_m: float = 200.0
    explicit: frozenset[str] = field(default_factory=frozenset)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0

    @property
    def threshold_m(self) -> float:
        """The threshold as a walking distance in metres."""
        if self.mode == "distance":
            return float(self.distance_m)
        return float(self.minutes) * self.metres_per_minute

    @property
    def keys(self) -> list[str]:
        """Category keys in report order."""
        return [c.key for c in self.categories]

    def category(self, key: str) -> Category:
        """Return the category called ``key``."""
        for c in self.categories:
            if c.key == key:
                return c
        raise ConfigError(f"unknown category {key!r}; known: {', '.join(self.keys)}")

    def with_threshold(self, minutes: float | None = None, distance_m: float | None = None) -> "Config":
        """Return a copy with another threshold (same mode)."""
        return replace(
            self,
            minutes=self.minutes if minutes is None else float(minutes),
            distance_m=self.distance_m if distance_m is None else float(distance_m),
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None


def presets() -> dict[str, Any]:
    """Return the built-in categories and levels (parsed ``presets.toml``)."""
    text = resources.files("lifecircle").joinpath("presets.toml").read_text("utf-8")
    return tomllib.loads(text)


def _as_tags(key: str, raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"category {key!r}: 'tags' must be a table such as {{ amenity = [\"bank\"] }}")
    tags = {}
    for k, v in raw.items():
        values = (v,) if isinstance(v, str) else tuple(v) if isinstance(v, list) else None
        if values is None or not all(isinstance(x, str) for x in values):
            raise ConfigError(f"category {key!r}: tag {k!r} must be a string or a list of strings")
        tags[str(k)] = values
    return tags


def _make_category(key: str, spec: Mapping[str, Any]) -> Category:
    unknown = set(spec) - _CATEGORY_FIELDS
    if unknown:
        raise ConfigError(f"category {key!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        raise ConfigError(f"category name {key!r} must be letters, digits and _ (starting with a letter)")
    if "tags" not in spec and "names" not in spec:
        raise ConfigError(f"unknown category {key!r}: a new category needs 'tags' or 'names'")
    names = spec.get("names", [])
    if isinstance(names, str):
        names = [names]
    return Category(
        key=key,
        label_zh=str(spec.get("label_zh", key)),
        label_en=str(spec.get("label_en", key)),
        tags=_as_tags(key, spec["tags"]) if "tags" in spec else {},
        names=tuple(str(n) for n in names),
        color=str(spec.get("color", "#555555")),
        icon=str(spec.get("icon", "●")),
    )


def _level_categories(levels: Mapping[str, Any], level: str) -> list[str]:
    if level not in levels:
        raise ConfigError(f"unknown level {level!r}; known: {', '.join(levels)}")
    spec = levels[level]
    keys = _level_categories(levels, spec["includes"]) if "includes" in spec else []
    return keys + [k for k in spec.get("categories", []) if k not in keys]


def load_config(
    path: str | Path | None = None,
    *,
    level: str | None = None,
    categories: list[str] | None = None,
    minutes: float | None = None,
    distance_m: float | None = None,
    mode: str | None = None,
    speed_kmh: float | None = None,
    max_snap_m: float | None = None,
) -> Config:
    """Build the run configuration.

    Precedence, lowest first: built-in presets, the TOML file at ``path``,
    then keyword arguments (as set by CLI options).

    Parameters
    ----------
    path
        Optional TOML file. Top-level keys: ``level``, ``minutes``,
        ``distance_m``, ``mode``, ``speed_kmh``, ``max_snap_m``, ``use`` (list
        of category keys to analyse), ``[categories.<key>]`` tables that
        override or add categories and ``[levels.<name>]`` tables.
    level
        "5min", "10min" or "15min" (or a level defined in the TOML).
    categories
        Category keys to analyse instead of the level's.
    minutes, distance_m, mode, speed_kmh, max_snap_m
        Override the threshold and settings.

    Returns
    -------
    Config
    """
    base = presets()
    user = _read_toml(Path(path)) if path is not None else {}
    unknown = set(user) - _TOP_FIELDS
    if unknown:
        raise ConfigError(f"config: unknown key(s) {', '.join(sorted(unknown))}")

    specs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base["categories"].items()}
    for key, spec in user.get("categories", {}).items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"config: [categories.{key}] must be a table")
        specs[key] = {**specs[key], **spec} if key in specs else dict(spec)
    all_categories = {k: _make_category(k, v) for k, v in specs.items()}

    levels = {**base["levels"], **user.get("levels", {})}
    level = level or user.get("level") or settings.default_level
    keys = _level_categories(levels, level)

    chosen = categories if categories is not None else user.get("use")
    explicit: frozenset[str] = frozenset()
    if chosen is not None:
        keys, explicit = list(chosen), frozenset(chosen)
    for k in keys:
        if k not in all_categories:
            raise ConfigError(f"unknown category {k!r}; known: {', '.join(all_categories)}")
    if not keys:
        raise ConfigError("no categories selected")

    mode = mode or user.get("mode", "time")
    if mode not in ("time", "distance"):
        raise ConfigError(f"mode must be 'time' or 'distance', not {mode!r}")

    def number(name: str, arg: float | None, default: float) -> float:
        value = arg if arg is not None else user.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{name} must be a positive number, not {value!r}")
        return float(value)

    spec = levels[level]
    return Config(
        level=level,
        categories=tuple(all_categories[k] for k in keys),
        minutes=number("minutes", minutes, spec.get("minutes", 10)),
        distance_m=number("distance_m", distance_m, spec.get("distance_m", 500)),
        mode=mode,
        speed_kmh=number("speed_kmh", speed_kmh, settings.speed_kmh),
        max_snap_m=number("max_snap_m", max_snap_m, settings.max_snap_m),
        explicit=explicit,
        extra={"pois": user.get("pois", {})},
    )

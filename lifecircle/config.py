"""Categories, levels and run settings: the built-in presets and TOML overrides.

A run is described by a :class:`Config`: which categories count, the
distance each is judged at, the coverage rule and the snapping limit.
:func:`load_config` builds one from the package presets (``presets.toml``),
an optional user TOML file and keyword overrides.

The basis of a run (``Config.mode``):

``"standard"`` (default)
    Each category at its own life-circle tier's walking distance (GB
    50180-2018 表3.0.4: 5-minute 300 m, 10-minute 500 m, 15-minute 1000 m),
    or at the category's own ``distance_m``.
``"time"``
    Every category at ``minutes`` of walking at ``speed_kmh`` (an
    "N-minute city").
``"distance"``
    Every category at ``distance_m`` metres.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import settings
from .errors import ConfigError
from .text import fold

_CATEGORY_FIELDS = {
    "label_zh", "label_en", "color", "icon", "tags", "names", "rules", "exclude",
    "exclude_names", "tier", "distance_m", "clause",
}
_TOP_FIELDS = {
    "level", "minutes", "distance_m", "mode", "speed_kmh", "max_snap_m", "min_share",
    "categories", "levels", "use", "pois",
}
MODES = ("standard", "time", "distance")

#: OSM name tags a name rule looks at.
NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "name:zh-Hant", "name:en", "official_name", "brand")

TagRule = Mapping[str, tuple[str, ...]]


def _tag_hit(tags: Mapping[str, str], key: str, values: tuple[str, ...]) -> bool:
    value = tags.get(key)
    if value is None:
        return False
    # OSM lists several values with ";" (healthcare:speciality=hypnosis;herbalism)
    return "*" in values or value in values or any(v.strip() in values for v in value.split(";"))


def _rule_hit(tags: Mapping[str, str], rule: TagRule) -> bool:
    return all(_tag_hit(tags, k, v) for k, v in rule.items())


def folded_name(tags: Mapping[str, str]) -> str:
    """The object's names joined and folded (:func:`lifecircle.text.fold`) for name rules."""
    return fold(" ".join(tags.get(k, "") for k in NAME_TAGS).strip())


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
        ``{osm_key: [values]}``, any one of which puts an object here; the
        value ``"*"`` matches any value.
    names
        Substrings of a POI's name that also put it in this category
        (compared folded: Traditional = Simplified, case-insensitive).
    rules
        Tag tables whose conditions must all hold (e.g. a social facility
        for seniors that serves food); any one rule puts an object here.
    exclude, exclude_names
        Tag tables and name substrings that keep an object out whatever
        else it matches.
    tier
        Life-circle level whose walking distance the category is judged at.
    distance_m
        The category's standard walking distance (its own, or its tier's).
    clause
        The clause of the standard the tier and distance come from.
    color, icon
        Map styling.
    """

    key: str
    label_zh: str
    label_en: str
    tags: Mapping[str, tuple[str, ...]]
    names: tuple[str, ...] = ()
    rules: tuple[TagRule, ...] = ()
    exclude: tuple[TagRule, ...] = ()
    exclude_names: tuple[str, ...] = ()
    tier: str = ""
    distance_m: float = float("nan")
    clause: str = ""
    color: str = settings.fallback_color
    icon: str = "●"

    def label(self, lang: str = "en") -> str:
        """Return the display name in ``lang`` ("zh" or "en")."""
        return self.label_zh if lang == "zh" else self.label_en

    @property
    def tag_keys(self) -> frozenset[str]:
        """OSM keys that can put an object in this category (read from the file).

        An object matching a rule carries every key of it, so reading by the
        rule's first key finds them all.
        """
        return frozenset(self.tags) | frozenset(next(iter(r)) for r in self.rules if r)

    def matches(self, tags: Mapping[str, str], name: str | None = None) -> bool:
        """Return True if an OSM object with these tags belongs here.

        Parameters
        ----------
        tags
            The object's tags.
        name
            Its names already folded (:func:`folded_name`), to save folding
            them again for every category.
        """
        if any(_rule_hit(tags, r) for r in self.exclude):
            return False
        include, exclude = self._folded_names
        if include or exclude:
            name = folded_name(tags) if name is None else name
            if name and any(n in name for n in exclude):
                return False
            if name and any(n in name for n in include):
                return True
        return (any(_tag_hit(tags, k, v) for k, v in self.tags.items())
                or any(_rule_hit(tags, r) for r in self.rules))

    @cached_property
    def _folded_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(fold(n) for n in self.names), tuple(fold(n) for n in self.exclude_names)

    def describe(self) -> str:
        """The OSM tags and name rules of this category, in one line."""
        parts = ["; ".join(f"{k}={'|'.join(v)}" for k, v in self.tags.items())]
        parts += [" & ".join(f"{k}={'|'.join(v)}" for k, v in r.items()) for r in self.rules]
        if self.names:
            parts.append(f"name contains {'|'.join(self.names)}")
        if self.exclude_names:
            parts.append(f"not name {'|'.join(self.exclude_names)}")
        parts += ["not " + " & ".join(f"{k}={'|'.join(v)}" for k, v in r.items()) for r in self.exclude]
        return "; ".join(p for p in parts if p)


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
        Threshold in metres (distance mode); the level's walking distance.
    mode
        "standard" (each category at its tier's distance, the default),
        "time" (every category at ``minutes`` at ``speed_kmh``) or
        "distance" (every category at ``distance_m``).
    speed_kmh
        Walking speed (minutes are reported at it in every mode).
    max_snap_m
        Farthest a point may lie from a walkable street to be snapped.
    min_share
        A community is covered for a category when at least this share of
        its homes (or of its area, without homes) is within the category's
        distance.
    explicit
        Category keys the user asked for by name; an empty one of these is an
        error, an empty preset category only a warning.
    """

    level: str
    categories: tuple[Category, ...]
    minutes: float
    distance_m: float
    mode: str = "standard"
    speed_kmh: float = 4.5
    max_snap_m: float = 200.0
    min_share: float = 0.5
    explicit: frozenset[str] = field(default_factory=frozenset)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a Config made or copied in code (dataclasses.replace, with_threshold)
        # gets the same checks as one loaded from TOML and options
        for name in ("minutes", "distance_m", "speed_kmh", "max_snap_m", "min_share"):
            check_number(name, getattr(self, name))
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0

    def limit_m(self, key: str) -> float:
        """The walking distance (metres) category ``key`` is judged at."""
        if self.mode == "distance":
            return float(self.distance_m)
        if self.mode == "time":
            return float(self.minutes) * self.metres_per_minute
        return float(self.category(key).distance_m)

    @property
    def limits_m(self) -> dict[str, float]:
        """Category key -> walking distance (metres) it is judged at."""
        return {k: self.limit_m(k) for k in self.keys}

    @property
    def threshold_m(self) -> float:
        """The largest walking distance of any category (metres): how far searches go."""
        return max(self.limits_m.values())

    @property
    def tag_keys(self) -> frozenset[str]:
        """Every OSM key the categories read."""
        return frozenset().union(*(c.tag_keys for c in self.categories))

    def isochrone_limits(self) -> list[float]:
        """Default isochrone thresholds: minutes in time mode, else metres."""
        if self.mode == "time":
            return [float(self.minutes)]
        return sorted(set(self.limits_m.values()))

    def check_isochrones(self, values: Iterable[Any] | None) -> list[float]:
        """Isochrone thresholds checked (:func:`check_number`), sorted, without repeats.

        Parameters
        ----------
        values
            Minutes in time mode, else metres; None or empty for the default
            (:meth:`isochrone_limits`).

        Raises
        ------
        ConfigError
            A value that is not a finite number in the sane range.
        """
        if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            if values is not None:
                raise ConfigError(f"isochrones must be a list of numbers, not {values!r}")
            values = []
        kind = "isochrone_minutes" if self.mode == "time" else "isochrone_m"
        unit = "minutes" if self.mode == "time" else "metres"
        checked = [check_number(f"isochrones ({unit})", v, kind) for v in values]
        return sorted(set(checked or self.isochrone_limits()))

    def to_metres(self, value: float) -> float:
        """An isochrone threshold (minutes in time mode, else metres) in metres."""
        return value * self.metres_per_minute if self.mode == "time" else float(value)

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
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a folder, not a file: {path}") from None
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


def _as_rules(key: str, field_name: str, raw: Any) -> tuple[TagRule, ...]:
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"category {key!r}: {field_name!r} must be a list of tag tables")
    return tuple(_as_tags(key, r) for r in raw)


def _as_strings(key: str, field_name: str, raw: Any) -> tuple[str, ...]:
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise ConfigError(f"category {key!r}: {field_name!r} must be a list of non-empty strings")
    return tuple(raw)


def _make_category(key: str, spec: Mapping[str, Any], levels: Mapping[str, Any], level: str) -> Category:
    unknown = set(spec) - _CATEGORY_FIELDS
    if unknown:
        raise ConfigError(f"category {key!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        raise ConfigError(f"category name {key!r} must be letters, digits and _ (starting with a letter)")
    if not {"tags", "names", "rules"} & set(spec):
        raise ConfigError(f"unknown category {key!r}: a new category needs 'tags', 'rules' or 'names'")
    # a category without a tier of its own is judged at the run's level
    tier = spec.get("tier", level)
    if tier not in levels:
        raise ConfigError(f"category {key!r}: unknown tier {tier!r}; known: {', '.join(levels)}")
    distance = spec.get("distance_m", levels[tier].get("distance_m"))
    return Category(
        key=key,
        label_zh=str(spec.get("label_zh", key)),
        label_en=str(spec.get("label_en", key)),
        tags=_as_tags(key, spec["tags"]) if "tags" in spec else {},
        names=_as_strings(key, "names", spec.get("names", [])),
        rules=_as_rules(key, "rules", spec.get("rules", [])),
        exclude=_as_rules(key, "exclude", spec.get("exclude", [])),
        exclude_names=_as_strings(key, "exclude_names", spec.get("exclude_names", [])),
        tier=str(tier),
        distance_m=_positive(f"categories.{key}.distance_m", distance),
        clause=str(spec.get("clause", "")),
        color=str(spec.get("color", settings.fallback_color)),
        icon=str(spec.get("icon", "●")),
    )


@dataclass(frozen=True)
class Range:
    """The sane values of one number: ``low < x <= high`` (``low <= x`` when ``closed_low``)."""

    low: float
    high: float
    closed_low: bool = False

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.closed_low else value > self.low
        return above and value <= self.high

    def __str__(self) -> str:
        return f"{'[' if self.closed_low else '('}{self.low:g}, {self.high:g}]"


#: Every number a run takes, from TOML, keyword arguments or CLI options, and
#: its sane range. The bounds are generous (an "N-minute city" of two hours,
#: a search of 20 km) but finite: infinity or NaN would turn every walk into
#: "reached" and every isochrone into nothing, and still exit 0.
LIMITS: dict[str, Range] = {
    "minutes": Range(0, 120),
    "speed_kmh": Range(0.1, 20, closed_low=True),  # slower, and minutes overflow to inf
    "distance_m": Range(0, 20_000),
    "max_snap_m": Range(0, 5_000),
    "min_share": Range(0, 1),
    "buffer_m": Range(0, 50_000, closed_low=True),
    "isochrone_minutes": Range(0, 120),
    "isochrone_m": Range(0, 20_000),
}


def check_number(name: str, value: Any, kind: str | None = None) -> float:
    """``value`` as a float within its sane range, or a one-line ConfigError.

    The one place where every number of a run is checked: TOML values,
    keyword arguments of :func:`load_config` and CLI options alike.

    Parameters
    ----------
    name
        How the user wrote it ("minutes", "--max-snap", "categories.school.distance_m").
    value
        The value as given (a TOML value may be any type).
    kind
        Key of :data:`LIMITS`; by default the last dotted part of ``name``
        without leading dashes, with "-" read as "_".

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        Not a number (booleans and strings included), not finite, or out of range.
    """
    kind = kind or name.rsplit(".", 1)[-1].lstrip("-").replace("-", "_")
    bounds = LIMITS[kind]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number in {bounds}, not {value!r}")
    if not math.isfinite(value) or value not in bounds:
        raise ConfigError(f"{name} must be a finite number in {bounds}, not {value!r}")
    return float(value)


def _positive(name: str, value: Any) -> float:
    """``value`` as a float in its sane range (see :func:`check_number`)."""
    return check_number(name, value)


def _level_categories(levels: Mapping[str, Any], level: str, seen: tuple[str, ...] = ()) -> list[str]:
    if level not in levels:
        raise ConfigError(f"unknown level {level!r}; known: {', '.join(levels)}")
    if level in seen:
        cycle = " -> ".join([*seen, level])
        raise ConfigError(f"levels.{seen[-1]}.includes: level {level!r} includes itself ({cycle})")
    spec = levels[level]
    keys = _level_categories(levels, spec["includes"], (*seen, level)) if "includes" in spec else []
    return keys + [k for k in spec.get("categories", []) if k not in keys]


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _expect(name: str, value: Any, kind: type | tuple[type, ...], what: str) -> None:
    """A ConfigError naming key ``name`` unless ``value`` is of ``kind``."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"config: {name} must be {what}, not {_type_name(value)}")
    if not isinstance(value, kind):
        raise ConfigError(f"config: {name} must be {what}, not {_type_name(value)}")


def _check_shape(user: Mapping[str, Any]) -> None:
    """Check the types of a user TOML document; the first problem is a ConfigError naming its key.

    Values (ranges, known names) are checked where they are used; this keeps
    a wrong type from surfacing later as a TypeError or AttributeError.
    """
    unknown = set(user) - _TOP_FIELDS
    if unknown:
        raise ConfigError(f"config: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("level", "mode"):
        if key in user:
            _expect(key, user[key], str, "a string")
    if "use" in user:
        _expect("use", user["use"], list, 'a list of category names such as ["canteen", "school"]')
        for item in user["use"]:
            _expect("use", item, str, "a list of category names (strings)")
    for key in ("categories", "levels", "pois"):
        if key in user:
            _expect(key, user[key], dict, f"a table of [{key}.<name>] tables")
    for key, spec in user.get("categories", {}).items():
        _expect(f"[categories.{key}]", spec, dict, "a table")
        for field_name in ("label_zh", "label_en", "color", "icon", "tier", "clause"):
            if field_name in spec:
                _expect(f"categories.{key}.{field_name}", spec[field_name], str, "a string")
    for name, spec in user.get("levels", {}).items():
        _expect(f"[levels.{name}]", spec, dict, "a table with minutes, distance_m and categories")
        extra = set(spec) - {"minutes", "distance_m", "includes", "categories"}
        if extra:
            raise ConfigError(f"config: levels.{name}: unknown field(s) {', '.join(sorted(extra))}")
        for field_name in ("minutes", "distance_m"):
            if field_name in spec:
                check_number(f"levels.{name}.{field_name}", spec[field_name])
        if "includes" in spec:
            _expect(f"levels.{name}.includes", spec["includes"], str, "the name of another level")
        if "categories" in spec:
            _expect(f"levels.{name}.categories", spec["categories"], list, "a list of category names")
            for item in spec["categories"]:
                _expect(f"levels.{name}.categories", item, str, "a list of category names (strings)")


def _unique(keys: list[str]) -> list[str]:
    """``keys`` without repeats, first occurrence first: a category asked for twice is one column."""
    return list(dict.fromkeys(keys))


def _category_specs(base: dict[str, Any], user: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The presets' category tables with the user's merged over them (key by key)."""
    specs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base["categories"].items()}
    for key, spec in user.get("categories", {}).items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"config: [categories.{key}] must be a table")
        specs[key] = {**specs[key], **spec} if key in specs else dict(spec)
    return specs


def _selected(level_keys: list[str], chosen: list[str] | None,
              known: Mapping[str, Category]) -> tuple[list[str], frozenset[str]]:
    """The category keys to analyse (the level's, unless chosen by name) and
    those chosen by name."""
    keys, explicit = level_keys, frozenset()
    if chosen is not None:
        keys, explicit = _unique(list(chosen)), frozenset(chosen)
    for k in keys:
        if k not in known:
            raise ConfigError(f"unknown category {k!r}; known: {', '.join(known)}")
    if not keys:
        raise ConfigError("no categories selected")
    return keys, explicit


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
    min_share: float | None = None,
) -> Config:
    """Build the run configuration.

    Precedence, lowest first: built-in presets, the TOML file at ``path``,
    then keyword arguments (as set by CLI options).

    Parameters
    ----------
    path
        Optional TOML file. Top-level keys: ``level``, ``minutes``,
        ``distance_m``, ``mode``, ``speed_kmh``, ``max_snap_m``,
        ``min_share``, ``use`` (list of category keys to analyse),
        ``[categories.<key>]`` tables that override or add categories and
        ``[levels.<name>]`` tables.
    level
        "5min", "10min" or "15min" (or a level defined in the TOML).
    categories
        Category keys to analyse instead of the level's.
    minutes, distance_m, mode, speed_kmh, max_snap_m, min_share
        Override the basis and settings. Giving ``minutes`` (here or in the
        TOML) without a mode means time mode, ``distance_m`` distance mode;
        otherwise the standard basis (each category at its tier's distance).

    Returns
    -------
    Config
    """
    base = presets()
    user = _read_toml(Path(path)) if path is not None else {}
    _check_shape(user)
    if level is not None and not isinstance(level, str):
        raise ConfigError(f"level must be a level name such as '10min', not {level!r}")
    if categories is not None and (isinstance(categories, str) or not all(isinstance(k, str) for k in categories)):
        raise ConfigError(f"categories must be a list of category names, not {categories!r}")

    levels = {**base["levels"], **user.get("levels", {})}
    level = level or user.get("level") or settings.default_level
    level_keys = _level_categories(levels, level)
    all_categories = {k: _make_category(k, v, levels, level) for k, v in _category_specs(base, user).items()}
    keys, explicit = _selected(level_keys, categories if categories is not None else user.get("use"),
                               all_categories)

    mode = mode or user.get("mode") or _implied_mode(minutes, distance_m, user)
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")

    def number(name: str, arg: float | None, default: float) -> float:
        return _positive(name, arg if arg is not None else user.get(name, default))

    share = number("min_share", min_share, settings.min_share)
    if share > 1:
        raise ConfigError(f"min_share must be a share between 0 and 1, not {share!r}")
    spec = levels[level]
    return Config(
        level=level,
        categories=tuple(all_categories[k] for k in keys),
        minutes=number("minutes", minutes, spec.get("minutes", 10)),
        distance_m=number("distance_m", distance_m, spec.get("distance_m", 500)),
        mode=mode,
        speed_kmh=number("speed_kmh", speed_kmh, settings.speed_kmh),
        max_snap_m=number("max_snap_m", max_snap_m, settings.max_snap_m),
        min_share=share,
        explicit=explicit,
        extra={"pois": user.get("pois", {})},
    )


def _implied_mode(minutes: float | None, distance_m: float | None, user: Mapping[str, Any]) -> str:
    """A threshold given without a mode picks the uniform basis it belongs to."""
    if minutes is not None or (distance_m is None and "minutes" in user):
        return "time"
    if distance_m is not None or "distance_m" in user:
        return "distance"
    return "standard"

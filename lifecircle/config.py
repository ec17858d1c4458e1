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
    "exclude_names", "tier", "distance_m", "clause", "grammar", "name_tags", "public_only",
    "part_of", "part_of_tags", "min_area_m2", "context_clause", "for_elderly",
}
_TOP_FIELDS = {
    "level", "minutes", "distance_m", "mode", "speed_kmh", "max_snap_m", "min_share",
    "categories", "levels", "use", "pois", "within",
}
_WITHIN_FIELDS = {"label_zh", "label_en", "tags", "public", "own_tags", "operators", "public_for"}
MODES = ("standard", "time", "distance")

#: OSM name tags a name rule looks at.
NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "name:zh-Hant", "name:en", "official_name", "brand")

#: Keys that say what an object *is*. Of a value listing several ("clinic;doctor;pharmacy") the
#: first is what it is, the rest what it also offers: a community hospital tagged
#: ``healthcare=clinic;doctor;pharmacy`` is not a pharmacy.
MAIN_KEYS = frozenset({"amenity", "shop", "healthcare", "leisure", "office", "tourism", "building", "landuse",
                       "craft", "social_facility"})

#: Keys whose value, when a category does not allow it, says an object is something else: such an
#: object is never put in the category by its name alone (a restaurant named …小学校 is no school).
KIND_KEYS = ("amenity", "shop", "office", "craft", "tourism", "leisure", "healthcare", "historic", "man_made",
             "military", "emergency", "railway", "highway", "public_transport", "aeroway", "club", "landuse",
             "building")

#: Building values that make an object a home, a works or a shed: a name never makes those a facility.
#: Other values (yes, commercial, public, ...) say nothing of the use.
KIND_BUILDINGS = frozenset({"apartments", "residential", "house", "detached", "semidetached_house", "terrace",
                            "dormitory", "bungalow", "farm", "industrial", "warehouse", "garage", "garages",
                            "shed", "roof", "hut", "cabin", "construction", "church", "temple", "mosque",
                            "train_station", "transportation", "parking", "service", "toilets"})

TagRule = Mapping[str, tuple[str, ...]]


def _values(key: str, value: str) -> list[str]:
    """The values of ``key=value`` that count: all of a ";" list, or only the first for a :data:`MAIN_KEYS` key."""
    # OSM lists several values with ";" (healthcare:speciality=hypnosis;herbalism)
    parts = [v.strip() for v in value.split(";")]
    return parts[:1] if key in MAIN_KEYS else parts


def tag_hit(tags: Mapping[str, str], key: str, values: tuple[str, ...]) -> bool:
    value = tags.get(key)
    if value is None:
        return False
    return "*" in values or value in values or any(v in values for v in _values(key, value))


def _rule_hit(tags: Mapping[str, str], rule: TagRule) -> bool:
    return all(tag_hit(tags, k, v) for k, v in rule.items())


def folded_name(tags: Mapping[str, str]) -> str:
    """The object's names joined and folded (:func:`lifecircle.text.fold`) for name rules."""
    return fold(" ".join(tags.get(k, "") for k in NAME_TAGS).strip())


def name_heads(tags: Mapping[str, str]) -> tuple[str, ...]:
    """Each of the object's names, folded and read for its head noun (:func:`name_head`), in
    :data:`NAME_TAGS` order, without repeats; ``("",)`` for an unnamed object.

    A name grammar reads them one by one: joined, the English name would end the string
    and hide the Chinese one's head noun.
    """
    heads = tuple(dict.fromkeys(name_head(fold(tags[k])) for k in NAME_TAGS if tags.get(k, "").strip()))
    return heads or ("",)


def _tag_text(key: str, values: tuple[str, ...]) -> str:
    return f"{key}={'|'.join(values)}"


def _rule_text(rule: TagRule) -> str:
    return " & ".join(_tag_text(k, v) for k, v in rule.items())


def _first_tag(tags: Mapping[str, str], table: Mapping[str, tuple[str, ...]]) -> str | None:
    """``key=value`` of the first tag of ``table`` the object has, or None."""
    for key, values in table.items():
        value = tags.get(key)
        if value is None:
            continue
        if "*" in values or value in values:
            return f"{key}={value}"
        hit = next((v for v in _values(key, value) if v in values), None)
        if hit is not None:
            return f"{key}={hit}"
    return None


#: Brackets around a branch, an alias or a campus (…银行(中关村支行), 校医院（…社区卫生服务中心）): their
#: words are read as part of the name, the brackets dropped (folded text gives ASCII ones).
_BRACKETS = re.compile(r"[()\[\]【】〔〕「」『』《》<>]")

#: Words at the end of a name that say which campus or branch site it is, not what it is.
_CAMPUS = re.compile(r"(校区|分校|分部|本部|校本部|院区|园区|校园|校舍)$")

#: Last characters of a facility's head noun (学, 中, 园, 院, 所, 站, 馆, 心, 部, 室, 堂, 场, 行, 局…):
#: a campus's own name before 校区 (南京三中金銮校区) is cut back to one of them.
_HEAD_END = frozenset("学中校院所园馆站心部室堂场行局店房社处点厅楼区小")


def name_head(name: str) -> str:
    """A folded name read for its head noun: brackets dropped, a campus or branch site at its end cut.

    Chinese facility names end in their head noun: 北京大学附属小学 is a 小学, 某某中学小学部 a
    小学部, 某某五中 a 中. Bracketed words are kept (they are often the branch or the alias:
    中国工商银行(中关村支行) ends in 支行); a campus word at the end is cut with the campus's
    own name before it (南京三中金銮校区 → 南京三中, 某某小学东校区 → 某某小学).
    """
    head = " ".join(_BRACKETS.sub(" ", name).split()).rstrip(" -·・,，")
    cut = _CAMPUS.sub("", head).rstrip()
    if cut != head and cut:
        # the campus's own name: at most four characters, back to the head noun's last one
        for _ in range(4):
            if not cut or cut[-1] in _HEAD_END:
                break
            cut = cut[:-1]
        head = cut or head
    return head


@dataclass(frozen=True)
class NameRule:
    """One rule of a category's name grammar: a regular expression and what it decides.

    Parameters
    ----------
    match
        Regular expression searched in the folded name's head (:func:`name_head`); anchor it
        with ``$`` to test the head noun, leave it unanchored to test any part.
    counts
        True: a name matching makes the object one of the category's (even without its tags,
        unless a tag says it is something else); False: keeps it out whatever its tags.
    why
        The reason, as the facilities table and the report give it.
    reason
        The reason code of an object it keeps out: "exclude_name" by default,
        "not_judged" for objects listed but not judged (a general hospital
        beside community health centres).
    public
        A name that says the facility serves the public in its own right (社区卫生服务中心,
        全民健身中心, a university's 附小): it counts even inside a campus or compound, and is
        not taken for a part of it.
    """

    match: str
    counts: bool
    why: str
    reason: str = "exclude_name"
    public: bool = False

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(fold(self.match))


@dataclass(frozen=True)
class Verdict:
    """Why an object is, or is not, a facility of a category.

    ``counted``: whether it counts; ``reason``: a code (``tag``, ``name``, ``exclude_tag``,
    ``exclude_name``, ``tag_conflict``, and from the context ``part_of``, ``not_public``,
    ``too_small``, ``review_*``); ``rule``: the rule or evidence, in words; ``named``: its
    name says it is one (a name rule put it here); ``public``: its name says it serves the
    public (:attr:`NameRule.public`).
    """

    counted: bool
    reason: str
    rule: str
    named: bool = False
    public: bool = False


@dataclass(frozen=True)
class Category:
    """A kind of daily facility, defined by OSM tag filters and name rules.

    Parameters
    ----------
    key
        Short identifier, used in column names (``minutes_<key>``).
    label_zh, label_en
        Display names.
    tags
        ``{osm_key: [values]}``, any one of which puts an object here; the
        value ``"*"`` matches any value. Of a :data:`MAIN_KEYS` value listing
        several (``clinic;pharmacy``), only the first counts.
    names
        Substrings of a POI's name that also put it in this category
        (compared folded: Traditional = Simplified, case-insensitive).
    rules
        Tag tables whose conditions must all hold (e.g. a social facility
        for seniors that serves food); any one rule puts an object here.
    exclude, exclude_names
        Tag tables and name substrings that keep an object out whatever
        else it matches.
    grammar
        Ordered :class:`NameRule` s read on the name's head; the first that
        matches decides, before ``exclude_names`` and ``names`` (the most
        specific part of a name decides: 北京大学附属小学 is a primary school).
    name_tags
        Tags, besides ``tags``, that an object put here by its name may
        carry (a 社区食堂 tagged ``amenity=restaurant``); any other
        :data:`KIND_KEYS` tag says it is something else.
    public_only
        Count only facilities open to residents: not inside the areas the
        config's ``within`` kinds mark as not public (a campus, a school's
        grounds, a military or private compound).
    part_of
        ``within`` kinds whose features are parts of them, not facilities of
        their own (a department or dispensary inside a hospital).
    part_of_tags
        If given, ``part_of`` holds only for features with one of these tags
        (a garden inside a sports centre is its landscaping; a park is a park).
    min_area_m2
        Smallest area an area facility may have (NaN: any); points count.
    context_clause
        The source of ``public_only`` and ``min_area_m2``.
    for_elderly
        A facility for older residents (a canteen, a care home): with age bands in the
        population data, the share of residents aged 60+ within reach is reported too.
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
    grammar: tuple[NameRule, ...] = ()
    name_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    public_only: bool = False
    part_of: tuple[str, ...] = ()
    part_of_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    min_area_m2: float = float("nan")
    context_clause: str = ""
    for_elderly: bool = False
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

    def matches(self, tags: Mapping[str, str], name: str | None = None,
                heads: tuple[str, ...] | None = None) -> bool:
        """Return True if an OSM object with these tags belongs here, its context aside.

        Parameters
        ----------
        tags
            The object's tags.
        name, heads
            Its names already folded (:func:`folded_name`) and read for their
            heads (:func:`name_heads`), to save doing it again for every category.
        """
        verdict = self.judge(tags, name, heads)
        return verdict is not None and verdict.counted

    def grammar_rule(self, heads: tuple[str, ...]) -> NameRule | None:
        """The grammar rule that decides for these name heads: the first matching the first name
        that any rule matches."""
        for head in heads:
            rule = next((r for r in self.grammar if r.pattern.search(head)), None)
            if rule is not None:
                return rule
        return None

    def judge(self, tags: Mapping[str, str], name: str | None = None,
              heads: tuple[str, ...] | None = None) -> Verdict | None:
        """Whether an object with these tags is one of this category's, and why; its context aside.

        None when no rule of the category puts it here (it is not a candidate); otherwise a
        :class:`Verdict`: counted by a tag or its name, or kept out by an exclusion, its name's
        grammar, or a tag that says it is something else.
        """
        by_tag = _first_tag(tags, self.tags)
        if by_tag is None:
            by_tag = next((_rule_text(r) for r in self.rules if _rule_hit(tags, r)), None)
        grammar, by_name, kept_out = None, None, None
        if self.grammar or self.names or self.exclude_names:
            name = folded_name(tags) if name is None else name
            # the grammar reads even an empty name: a rule matching "" catches the unnamed
            if self.grammar:
                grammar = self.grammar_rule(name_heads(tags) if heads is None else heads)
            if name:
                include, exclude = self._folded_names
                by_name = next((n for n in include if n in name), None)
                kept_out = next((n for n in exclude if n in name), None)
        if by_tag is None and by_name is None and not (grammar is not None and grammar.counts):
            return None
        excluded = next((r for r in self.exclude if _rule_hit(tags, r)), None)
        if excluded is not None:
            return Verdict(False, "exclude_tag", _rule_text(excluded))
        public = False
        if grammar is not None:
            if not grammar.counts:
                return Verdict(False, grammar.reason, grammar.why)
            by_name, public = grammar.why, grammar.public
        elif kept_out is not None:
            return Verdict(False, "exclude_name", f"name contains {kept_out}")
        else:
            by_name = by_name and f"name contains {by_name}"
        named = by_name is not None
        if by_tag is not None:
            return Verdict(True, "tag", by_tag, named, public)
        conflict = self.conflict(tags)
        if conflict is not None:
            return Verdict(False, "tag_conflict", f"{conflict}: the tag says it is something else")
        return Verdict(True, "name", str(by_name), named, public)

    def name_exclusion(self, name: str) -> Verdict | None:
        """Why a name alone keeps a facility out (a user's list: no tags), or None.

        The grammar's exclusions and ``exclude_names``; a catch-all rule (one matching the
        empty name) is a rule about tagged objects and does not apply.
        """
        folded = fold(name)
        if not folded:
            return None
        rule = self.grammar_rule((name_head(folded),))
        if rule is not None:
            if rule.counts or rule.pattern.search(""):
                return None
            return Verdict(False, rule.reason, rule.why)
        kept_out = next((n for n in self._folded_names[1] if n in folded), None)
        return None if kept_out is None else Verdict(False, "exclude_name", f"name contains {kept_out}")

    def conflict(self, tags: Mapping[str, str]) -> str | None:
        """``key=value`` of a tag saying the object is something other than this category, or None."""
        for key in KIND_KEYS:
            value = tags.get(key)
            if value is None:
                continue
            first = _values(key, value)[0]
            if key == "building" and first not in KIND_BUILDINGS:
                continue
            allowed = tuple(self.tags.get(key, ())) + tuple(self.name_tags.get(key, ()))
            allowed += tuple(v for r in self.rules for v in r.get(key, ()))
            if "*" in allowed or first in allowed:
                continue
            return f"{key}={first}"
        return None

    @cached_property
    def _folded_names(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(fold(n) for n in self.names), tuple(fold(n) for n in self.exclude_names)

    @cached_property
    def _counting_grammar(self) -> re.Pattern[str] | None:
        parts = [f"(?:{fold(r.match)})" for r in self.grammar if r.counts]
        return re.compile("|".join(parts)) if parts else None

    def named_here(self, name: str, heads: tuple[str, ...]) -> bool:
        """Whether its name alone could put an object without this category's tags here: a
        name it lists, or a counting grammar rule (a quick test that spares :meth:`judge`)."""
        if name and any(n in name for n in self._folded_names[0]):
            return True
        pattern = self._counting_grammar
        return pattern is not None and any(pattern.search(h) for h in heads)

    def describe(self, brief: bool = False) -> str:
        """The OSM tags and name rules of this category, in one line.

        ``brief``: the name grammar as a count of rules (a printed page's width),
        not each rule; the full line is in basis.csv and ``lifecircle categories``.
        """
        parts = ["; ".join(_tag_text(k, v) for k, v in self.tags.items())]
        parts += [_rule_text(r) for r in self.rules]
        if self.names:
            parts.append(f"name contains {'|'.join(self.names)}")
        if self.grammar and brief:
            parts.append(f"{len(self.grammar)} name rules")
        elif self.grammar:
            parts.append("name grammar: " + ", ".join(f"{'+' if r.counts else '-'}{r.why}" for r in self.grammar))
        if self.exclude_names:
            parts.append(f"not name {'|'.join(self.exclude_names)}")
        parts += ["not " + _rule_text(r) for r in self.exclude]
        if self.public_only:
            parts.append("public only")
        if self.part_of:
            parts.append(f"not part of {'|'.join(self.part_of)}")
        if math.isfinite(self.min_area_m2):
            parts.append(f"area >= {self.min_area_m2:g} m2")
        return "; ".join(p for p in parts if p)


@dataclass(frozen=True)
class Within:
    """A kind of area whose features belong to it (a hospital, a campus, a military compound).

    ``tags`` say which areas are of the kind; ``public``: whether residents may walk in
    (features inside a non-public one do not count for a ``public_only`` category);
    ``public_for``: categories whose facilities inside it are open all the same (a
    bureau's public library).
    ``own_tags`` and ``operators`` say that a feature *itself* belongs to such an
    institution, wherever its area is mapped or not: a sports hall tagged
    ``building=university``, a pool whose ``operator`` names a university (words
    compared folded).
    """

    key: str
    label_zh: str
    label_en: str
    tags: Mapping[str, tuple[str, ...]]
    public: bool = False
    own_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    operators: tuple[str, ...] = ()
    public_for: tuple[str, ...] = ()

    def label(self, lang: str = "en") -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def open_to(self, category: str) -> bool:
        """Whether residents may use a facility of ``category`` inside an area of this kind."""
        return self.public or category in self.public_for

    def matches(self, tags: Mapping[str, str]) -> bool:
        return any(tag_hit(tags, k, v) for k, v in self.tags.items())

    def owns(self, tags: Mapping[str, str]) -> str | None:
        """The tag that makes a feature this institution's own (``key=value``), or None."""
        hit = _first_tag(tags, self.own_tags)
        if hit is not None:
            return hit
        operator = fold(tags.get("operator", ""))
        word = next((w for w in self._operators if operator and w in operator), None)
        return None if word is None else f"operator={tags['operator']}"

    @cached_property
    def _operators(self) -> tuple[str, ...]:
        return tuple(fold(w) for w in self.operators)


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
    extra
        Tables read elsewhere (``pois``).
    within
        Kinds of area whose features belong to them (:class:`Within`): what
        ``Category.public_only`` and ``Category.part_of`` refer to.
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
    within: Mapping[str, Within] = field(default_factory=dict)

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
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"config file {path} nests arrays or tables too deeply to be a configuration") from None
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


def _as_grammar(key: str, raw: Any) -> tuple[NameRule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"category {key!r}: 'grammar' must be a list of {{ match = ..., counts = ..., why = ... }}")
    rules = []
    for item in raw:
        fields = {"match", "counts", "why", "reason", "public"}
        if not isinstance(item, Mapping) or set(item) - fields or not isinstance(item.get("match"), str) \
                or not isinstance(item.get("counts", False), bool) \
                or item.get("reason", "exclude_name") not in ("exclude_name", "not_judged"):
            raise ConfigError(f"category {key!r}: each 'grammar' rule must be {{ match = \"regex\", counts = "
                              f"true|false, why = \"...\" }} (reason: exclude_name or not_judged), not {item!r}")
        rule = NameRule(item["match"], bool(item.get("counts", False)), str(item.get("why", item["match"])),
                        str(item.get("reason", "exclude_name")), bool(item.get("public", False)))
        try:
            _ = rule.pattern  # compiled now: a bad pattern fails at load, naming its category
        except re.error as e:
            raise ConfigError(f"category {key!r}: grammar pattern {item['match']!r} is not a valid "
                              f"regular expression ({e})") from None
        rules.append(rule)
    return tuple(rules)


def _make_category(key: str, spec: Mapping[str, Any], levels: Mapping[str, Any], level: str,
                   within: Mapping[str, Within] | None = None) -> Category:
    unknown = set(spec) - _CATEGORY_FIELDS
    if unknown:
        raise ConfigError(f"category {key!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        raise ConfigError(f"category name {key!r} must be letters, digits and _ (starting with a letter)")
    if not {"tags", "names", "rules", "grammar"} & set(spec):
        raise ConfigError(f"unknown category {key!r}: a new category needs 'tags', 'rules' or 'names'")
    # a category without a tier of its own is judged at the run's level
    tier = spec.get("tier", level)
    if tier not in levels:
        raise ConfigError(f"category {key!r}: unknown tier {tier!r}; known: {', '.join(levels)}")
    distance = spec.get("distance_m", levels[tier].get("distance_m"))
    part_of = _as_strings(key, "part_of", spec.get("part_of", []))
    if within is not None:
        for kind in part_of:
            if kind not in within:
                raise ConfigError(f"category {key!r}: part_of names unknown area kind {kind!r}; "
                                  f"known: {', '.join(within)}")
    public_only = spec.get("public_only", False)
    if not isinstance(public_only, bool):
        raise ConfigError(f"category {key!r}: 'public_only' must be true or false, not {public_only!r}")
    min_area = spec.get("min_area_m2")
    return Category(
        key=key,
        label_zh=str(spec.get("label_zh", key)),
        label_en=str(spec.get("label_en", key)),
        tags=_as_tags(key, spec["tags"]) if "tags" in spec else {},
        names=_as_strings(key, "names", spec.get("names", [])),
        rules=_as_rules(key, "rules", spec.get("rules", [])),
        exclude=_as_rules(key, "exclude", spec.get("exclude", [])),
        exclude_names=_as_strings(key, "exclude_names", spec.get("exclude_names", [])),
        grammar=_as_grammar(key, spec.get("grammar", [])),
        name_tags=_as_tags(key, spec["name_tags"]) if spec.get("name_tags") else {},
        public_only=public_only,
        part_of=part_of,
        part_of_tags=_as_tags(key, spec["part_of_tags"]) if spec.get("part_of_tags") else {},
        min_area_m2=float("nan") if min_area is None else check_number(f"categories.{key}.min_area_m2", min_area),
        context_clause=str(spec.get("context_clause", "")),
        for_elderly=bool(spec.get("for_elderly", False)),
        tier=str(tier),
        distance_m=_positive(f"categories.{key}.distance_m", distance),
        clause=str(spec.get("clause", "")),
        color=str(spec.get("color", settings.fallback_color)),
        icon=str(spec.get("icon", "●")),
    )


def _make_within(base: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Within]:
    """The kinds of area features can be inside (presets' ``[within.*]``, the user's merged over)."""
    specs: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base.get("within", {}).items()}
    for key, spec in user.get("within", {}).items():
        _expect(f"[within.{key}]", spec, dict, "a table")
        specs[key] = {**specs.get(key, {}), **spec}
    kinds = {}
    for key, spec in specs.items():
        unknown = set(spec) - _WITHIN_FIELDS
        if unknown:
            raise ConfigError(f"config: within.{key}: unknown field(s) {', '.join(sorted(unknown))}")
        if "tags" not in spec:
            raise ConfigError(f"config: within.{key} needs 'tags'")
        public = spec.get("public", False)
        if not isinstance(public, bool):
            raise ConfigError(f"config: within.{key}.public must be true or false, not {public!r}")
        kinds[key] = Within(key=key, label_zh=str(spec.get("label_zh", key)), label_en=str(spec.get("label_en", key)),
                            tags=_as_tags(f"within.{key}", spec["tags"]), public=public,
                            own_tags=_as_tags(f"within.{key}", spec["own_tags"]) if spec.get("own_tags") else {},
                            operators=_as_strings(f"within.{key}", "operators", spec.get("operators", [])),
                            public_for=_as_strings(f"within.{key}", "public_for", spec.get("public_for", [])))
    return kinds


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
    "min_area_m2": Range(0, 10_000_000, closed_low=True),
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
    for key in ("categories", "levels", "pois", "within"):
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
    within = _make_within(base, user)
    all_categories = {k: _make_category(k, v, levels, level, within)
                      for k, v in _category_specs(base, user).items()}
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
        within=within,
    )


def _implied_mode(minutes: float | None, distance_m: float | None, user: Mapping[str, Any]) -> str:
    """A threshold given without a mode picks the uniform basis it belongs to."""
    if minutes is not None or (distance_m is None and "minutes" in user):
        return "time"
    if distance_m is not None or "distance_m" in user:
        return "distance"
    return "standard"

"""Text of table values: missing values, display text, folding for name rules.

:func:`is_missing` is the one test for "no value" (None, NaN, NA, NaT) used
by the readers, the map and the report; :func:`text_of`, :func:`int_of` and
:func:`flag_of` build on it.

Folding makes Traditional and Simplified Chinese compare equal. Name rules
(``names``, ``exclude_names``) are written once, usually in Simplified
Chinese, and must match 菜市場 as well as 菜市场. OpenCC's
Traditional-to-Simplified conversion (``t2s``), Unicode NFKC (full-width
letters and digits) and case folding bring both sides to one form.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

import opencc


def is_missing(value: Any) -> bool:
    """Return True for None, NaN, NA and NaT (a scalar test that never raises).

    Lists, dicts and other non-scalars are values, never missing.
    """
    if value is None:
        return True
    # the common cases without pandas (the map asks this for every cell it shows)
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return False
    if kind is float:
        return value != value
    # imported here: config folds names with this module, and the CLI's quick
    # commands (categories, --help) should not pay for pandas
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def int_of(value: Any, default: int = 0) -> int:
    """Return ``value`` as an int, ``default`` for None/NaN."""
    return default if is_missing(value) else int(value)


def flag_of(value: Any) -> bool:
    """Return ``value`` as a bool, False for None/NaN (``bool(nan)`` is True)."""
    return False if is_missing(value) else bool(value)


def text_of(value: Any) -> str:
    """Return ``value`` as display text: ``""`` for None/NaN, else ``str()``."""
    return "" if is_missing(value) else str(value)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Return ``text`` in the form name rules compare: Simplified, NFKC, case-folded."""
    if not text:
        return ""
    return _t2s().convert(unicodedata.normalize("NFKC", text)).casefold()

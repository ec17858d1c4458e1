"""Text folding for name rules: Traditional and Simplified Chinese compare equal.

Name rules (``names``, ``exclude_names``) are written once, usually in
Simplified Chinese, and must match 菜市場 as well as 菜市场. OpenCC's
Traditional-to-Simplified conversion (``t2s``), Unicode NFKC (full-width
letters and digits) and case folding bring both sides to one form.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import opencc


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """Return ``text`` in the form name rules compare: Simplified, NFKC, case-folded."""
    if not text:
        return ""
    return _t2s().convert(unicodedata.normalize("NFKC", text)).casefold()

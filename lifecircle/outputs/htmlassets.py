"""Third-party browser assets, read from the installed XStatic packages.

The map must work without internet, so Leaflet and jQuery are inlined into
the HTML rather than linked from a CDN. Their files are never copied into
this repository: they are read at run time from the ``xstatic-leaflet`` and
``xstatic-jquery`` packages, whose ``BASE_DIR`` points at the data folder.
Leaflet's stylesheet refers to images next to it; those become ``data:``
URIs so the page needs no other file.

Also here, shared by the map and the report: :func:`esc` (escaping of
OSM and user strings), :func:`templates` (the Jinja2 templates of both,
which pass every value through :func:`esc` unless it is marked safe) and
:func:`write_atomic`.
"""

from __future__ import annotations

import base64
import html
import importlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from .. import settings
from ..errors import LifecircleError

# re-exported: the map and the report take their value helpers from here
from ..text import flag_of, int_of, is_missing, text_of  # noqa: F401

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif"}

# A source-map comment makes developer tools request a file that is not there.
_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")
_SAFE_COLOR = re.compile(r"#[0-9A-Fa-f]{3,8}|[A-Za-z]{3,20}")
#: Every character :func:`esc` replaces.
_TO_ESCAPE = re.compile(r"[&<>\"'`$\\{}]")


def esc(value: Any) -> str:
    """Escape ``value`` for HTML text and attribute values.

    Beyond ``html.escape``, the backtick, ``$`` and backslash become
    character references: folium puts some HTML inside JS template
    literals, where ``${...}`` would run and ``\\x3c`` would turn into
    ``<``. The browser displays the original characters.

    Braces become references too: branca parses every rendered map script
    as a Jinja2 template once more, where ``{{ ... }}`` in an OSM name
    would be evaluated (and could run Python).

    Parameters
    ----------
    value
        Any value; None and NaN give an empty string.

    Returns
    -------
    str
    """
    text = text_of(value)
    if not _TO_ESCAPE.search(text):  # most names and numbers: nothing to replace
        return text
    return (
        html.escape(text, quote=True)
        .replace("`", "&#96;")
        .replace("$", "&#36;")
        .replace("\\", "&#92;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
    )


def _finalize(value: Any) -> Markup:
    """Jinja2's last step for every ``{{ value }}``: :func:`esc` unless safe.

    Jinja2's own autoescape leaves the backtick, ``$`` and backslash alone,
    which :func:`esc` does not; running it here keeps one escaping path for
    the report, the map's popups and its page furniture. ``None`` and NaN
    render as nothing.
    """
    return value if isinstance(value, Markup) else Markup(esc(value))


@lru_cache(maxsize=None)
def templates() -> jinja2.Environment:
    """The Jinja2 environment of ``lifecircle/templates`` (autoescaping).

    Every expression is escaped with :func:`esc`; only values wrapped in
    :class:`markupsafe.Markup` in Python (fragments built by trusted code,
    such as the report's stylesheet) pass unchanged. Undefined names are
    errors, so a typo in a template cannot silently print nothing.
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lifecircle.outputs", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def safe_color(color: str, fallback: str | None = None) -> str:
    """Return ``color`` if it is a plain CSS colour, else ``fallback``
    (default ``settings.fallback_color``).

    Category colours come from user TOML and end up in ``style``
    attributes, where ``red; background: url(...)`` would inject CSS.
    """
    if isinstance(color, str) and _SAFE_COLOR.fullmatch(color):
        return color
    return settings.fallback_color if fallback is None else fallback


def _package_dir(name: str) -> Path:
    """Return the data folder of the XStatic package ``xstatic.pkg.<name>``."""
    try:
        module = importlib.import_module(f"xstatic.pkg.{name}")
    except ImportError:
        raise LifecircleError(
            f"the map needs the Python package xstatic-{name}: pip install xstatic-{name}"
        ) from None
    return Path(module.BASE_DIR)


def _read_text(name: str, filename: str) -> str:
    path = _package_dir(name) / filename
    try:
        return path.read_text("utf-8")
    except OSError as e:
        raise LifecircleError(f"cannot read {path}: {e.strerror}") from None


def data_uri(data: bytes, mime: str) -> str:
    """Return ``data`` as a base64 ``data:`` URI.

    Parameters
    ----------
    data
        File contents.
    mime
        Media type such as ``"image/png"``.

    Returns
    -------
    str
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _file_uri(path: Path) -> str:
    return data_uri(path.read_bytes(), _MIME.get(path.suffix.lower(), "application/octet-stream"))


def _script_safe(js: str) -> str:
    """Make JS safe to place between ``<script>`` tags.

    ``</script`` can only occur inside a string, regex or comment in valid
    JS, where ``<\\/script`` means the same thing.
    """
    return _SOURCE_MAP.sub("", js).replace("</script", "<\\/script")


@lru_cache(maxsize=None)
def leaflet_js() -> str:
    """Return the minified Leaflet script (its licence header kept)."""
    return _script_safe(_read_text("leaflet", "leaflet.js"))


@lru_cache(maxsize=None)
def leaflet_css() -> str:
    """Return Leaflet's stylesheet with its ``images/`` inlined as data URIs."""
    folder = _package_dir("leaflet")
    css = _read_text("leaflet", "leaflet.css")
    return _CSS_URL.sub(lambda m: f'url("{_file_uri(folder / m.group(2))}")', css)


@lru_cache(maxsize=None)
def leaflet_icon_js() -> str:
    """Return a script pointing ``L.Icon.Default`` at inlined marker images.

    Leaflet derives the default marker's folder from the stylesheet, which
    fails once the CSS holds data URIs; a plain ``L.marker`` would then
    request ``marker-icon.png`` from the disk. An empty ``imagePath`` plus
    full data URIs keeps it self-contained.
    """
    folder = _package_dir("leaflet") / "images"
    urls = {
        "iconUrl": _file_uri(folder / "marker-icon.png"),
        "iconRetinaUrl": _file_uri(folder / "marker-icon-2x.png"),
        "shadowUrl": _file_uri(folder / "marker-shadow.png"),
    }
    sets = "".join(f'L.Icon.Default.prototype.options.{k}="{v}";' for k, v in urls.items())
    return f'L.Icon.Default.imagePath="";{sets}'


@lru_cache(maxsize=None)
def jquery_js() -> str:
    """Return minified jQuery (folium's popup code calls ``$``)."""
    return _script_safe(_read_text("jquery", "jquery.min.js"))


def inline_scripts() -> list[tuple[str, str]]:
    """Return ``(name, code)`` of every script the map page needs, in load order."""
    return [("leaflet", leaflet_js()), ("leaflet_icons", leaflet_icon_js()), ("jquery", jquery_js())]


def inline_styles() -> list[tuple[str, str]]:
    """Return ``(name, css)`` of every stylesheet the map page needs."""
    return [("leaflet_css", leaflet_css())]


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so readers never see a half-written file.

    The bytes go to a temporary file in the same folder (same file system,
    so the rename is atomic) which then replaces ``path``.

    Parameters
    ----------
    path
        Destination file; its folder must exist.
    data
        Contents.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    LifecircleError
        If the folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise LifecircleError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; outputs should have the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise LifecircleError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    return path

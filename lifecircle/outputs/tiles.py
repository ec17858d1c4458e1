"""The map's tile source: OpenStreetMap's, none, or the user's own service.

Kept free of heavy imports: the command line checks ``--tiles`` before it
reads any data.

Tile sources in GCJ-02 (Amap/Gaode, Tencent, Google China) or Baidu's BD-09
are refused: their tiles are shifted by hundreds of metres from the WGS-84
coordinates of OpenStreetMap data, so every polygon would sit beside its
street.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ConfigError

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR_HTML = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'

# Hosts whose tiles are drawn in GCJ-02 ("Mars coordinates") or Baidu's BD-09.
_GCJ02_HOSTS = {
    "autonavi.com": "Amap/Gaode (GCJ-02)", "amap.com": "Amap/Gaode (GCJ-02)", "gaode.com": "Amap/Gaode (GCJ-02)",
    "baidu.com": "Baidu (BD-09)", "bdimg.com": "Baidu (BD-09)", "bdstatic.com": "Baidu (BD-09)",
    "gtimg.com": "Tencent (GCJ-02)", "map.qq.com": "Tencent (GCJ-02)", "google.cn": "Google China (GCJ-02)",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KNOWN_FIELDS = {"z", "x", "y", "-y", "s", "r"}


@dataclass(frozen=True)
class Tiles:
    """A checked tile source: a Leaflet URL template and its credit.

    ``attribution`` is plain text (escaped where it enters the page), or
    None for OpenStreetMap's tiles, credited with :data:`OSM_ATTR_HTML`.
    """

    url: str
    attribution: str | None


def _gcj02_service(host: str) -> str | None:
    host = host.lower().rstrip(".")
    for domain, service in _GCJ02_HOSTS.items():
        if host == domain or host.endswith("." + domain):
            return service
    return None


def _check_url(url: str) -> str:
    """Return the host of a tile URL template, or raise ConfigError saying what is wrong."""
    if re.search(r"[\s\"'<>`\\]|\{[{%#]", url):
        raise ConfigError(f"--tiles: {url!r} is not a URL template (spaces, quotes, <> or template braces in it)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--tiles: expected osm, none or an http(s) URL template such as "
                          f"https://tiles.example.org/{{z}}/{{x}}/{{y}}.png, got {url!r}")
    fields = set(_PLACEHOLDER.findall(url))
    missing = [f for f in ("z", "x") if f not in fields] + ([] if fields & {"y", "-y"} else ["y"])
    if missing:
        raise ConfigError(f"--tiles: the URL template has no {{{missing[0]}}}; "
                          "Leaflet needs {z}, {x} and {y} to ask for a tile")
    unknown = sorted(fields - _KNOWN_FIELDS)
    if unknown:
        raise ConfigError(f"--tiles: unknown placeholder {{{unknown[0]}}} in the URL template "
                          "(Leaflet knows {z}, {x}, {y}, {-y}, {s}, {r})")
    return parts.hostname


def check_tiles(tiles: str | None = "osm", attribution: str | None = None) -> Tiles | None:
    """Check a ``--tiles`` choice and return the tile source (None for no tiles).

    Parameters
    ----------
    tiles
        "osm" (OpenStreetMap's tile server), "none" (no tiles: the data's own
        streets only) or a Leaflet URL template of the user's tile service in
        WGS-84 / Web Mercator (e.g. Tianditu, whose CGCS2000 is within
        centimetres of WGS-84), with the user's key in the URL.
    attribution
        Credit shown for a URL tile source (plain text, escaped on the page);
        default "Tiles: <host>". Ignored with "osm" and "none".

    Returns
    -------
    Tiles or None

    Raises
    ------
    ConfigError
        For a value that is not osm, none or an http(s) template with {z},
        {x} and {y}; for a tile service in GCJ-02 or BD-09 (Amap/Gaode,
        Baidu, Tencent, Google China), whose tiles are offset by hundreds of
        metres from WGS-84 data.
    """
    choice = (tiles or "osm").strip()
    if choice.lower() == "osm":
        return Tiles(OSM_TILES, None)
    if choice.lower() == "none":
        return None
    host = _check_url(choice)
    service = _gcj02_service(host)
    if service:
        raise ConfigError(f"--tiles: {host} serves {service} tiles, offset by hundreds of metres from the "
                          "WGS-84 OpenStreetMap data; use a WGS-84 / Web Mercator service (e.g. Tianditu) "
                          "or --tiles none")
    return Tiles(choice, (attribution or "").strip() or f"Tiles: {host}")

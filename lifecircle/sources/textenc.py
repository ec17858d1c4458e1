"""Text encodings of user files: CSVs and shapefile attribute tables.

Chinese planners' files are often GBK/GB18030 rather than UTF-8: CSVs saved
by Excel or exported by Amap/Baidu tools, and shapefiles written by ArcGIS or
older GIS software, frequently without a ``.cpg`` file. GDAL reads such a
``.dbf`` as ISO-8859-1, which turns every Chinese name into mojibake without
an error. Here the bytes are checked in Python instead: a file that declares
nothing and is not UTF-8 is read as GB18030 (a superset of GBK and GB2312),
with a warning naming the encoding used; an encoding the user gives must
decode the file, or the read fails with one line.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputFileError
from ..i18n import Message

#: Tried, in this order, when a file declares no encoding.
UTF8 = "utf-8"
#: The fallback for files that are not UTF-8: GB18030 decodes GBK and GB2312.
CHINESE = "gb18030"

# dBASE header: language driver id (LDID) at byte 29; 0 means "not declared"
_LDID_OFFSET = 29
_FIELD_DESCRIPTOR = 32


def check_encoding(name: str | None) -> str | None:
    """Return the canonical Python name of ``name`` (None stays None).

    Raises
    ------
    ConfigError
        If Python knows no such encoding.
    """
    if name is None:
        return None
    try:
        return codecs.lookup(str(name).strip()).name
    except LookupError:
        raise ConfigError(f"unknown encoding {name!r}; use e.g. utf-8, gbk or gb18030") from None


def _first_bad_byte(data: bytes, encoding: str) -> str:
    """Describe where ``data`` stops decoding as ``encoding``."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        return f"byte 0x{data[e.start]:02x} at offset {e.start}"
    return "no error"  # pragma: no cover - only called on failures


def decode_text(data: bytes, encoding: str | None, what: str) -> tuple[str, str | None]:
    """Decode a text file's bytes.

    Parameters
    ----------
    data
        The whole file.
    encoding
        The encoding the user gave (any Python codec name), or None: UTF-8
        (with or without BOM), else GB18030.
    what
        How error and warning messages name the file ("user POI file a.csv").

    Returns
    -------
    (str, str or None)
        The text, and a warning when the encoding was guessed as GB18030.

    Raises
    ------
    InputFileError
        The bytes do not decode with the given encoding, or with either
        guess.
    ConfigError
        Unknown ``encoding``.
    """
    given = check_encoding(encoding)
    if given is not None:
        codec = "utf-8-sig" if given == UTF8 else given
        try:
            return data.decode(codec), None
        except UnicodeDecodeError:
            raise InputFileError(
                f"{what} is not valid {encoding} text ({_first_bad_byte(data, codec)}); "
                f"check --encoding") from None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode(CHINESE)
    except UnicodeDecodeError:
        raise InputFileError(f"{what} is neither UTF-8 nor GBK/GB18030 text; "
                             "give its encoding with --encoding") from None
    return text, Message("warn_guessed_gb18030", what=what)


def _dbf_path(path: Path) -> Path | None:
    for suffix in (".dbf", ".DBF"):
        candidate = path.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def _declares_encoding(path: Path, header: bytes) -> bool:
    """True if the shapefile has a .cpg or its .dbf a language driver id."""
    if any(path.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return True
    return len(header) > _LDID_OFFSET and header[_LDID_OFFSET] != 0


def dbf_text_bytes(data: bytes) -> list[bytes]:
    """The bytes of every character field of a dBASE table, one string per field.

    Each field's values are joined with spaces (the padding dBASE uses), so
    that a multi-byte character never spans two values.
    """
    if len(data) < _FIELD_DESCRIPTOR:
        return []
    n_records = int.from_bytes(data[4:8], "little")
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields, offset, pos = [], 1, _FIELD_DESCRIPTOR  # byte 0 of a record: the deletion flag
    while pos + _FIELD_DESCRIPTOR <= header_len and data[pos] != 0x0D:
        kind, length = chr(data[pos + 11]), data[pos + 16]
        if kind == "C":
            fields.append((offset, length))
        offset += length
        pos += _FIELD_DESCRIPTOR
    body = data[header_len: header_len + n_records * record_len]
    n_full = len(body) // record_len if record_len else 0
    if not fields or n_full == 0:
        return []
    table = np.frombuffer(body[: n_full * record_len], dtype=np.uint8).reshape(n_full, record_len)
    out = []
    for start, length in fields:
        column = np.ascontiguousarray(table[:, start: start + length])
        out.append(b" ".join(bytes(row) for row in column))
    return out


def shapefile_encoding(path: str | Path, encoding: str | None, what: str) -> tuple[str | None, str | None]:
    """The encoding to read a shapefile's attributes with.

    Parameters
    ----------
    path
        The ``.shp`` file (other suffixes: nothing to decide).
    encoding
        The encoding the user gave, or None.
    what
        How messages name the file.

    Returns
    -------
    (str or None, str or None)
        The encoding to pass to GDAL (None: let GDAL decide, from the
        ``.cpg`` or the ``.dbf``'s language driver; always for other
        formats, which are UTF-8), and a warning when it was guessed as
        GB18030.

    Raises
    ------
    InputFileError
        A given encoding does not decode the text fields, or a file that
        declares nothing is neither UTF-8 nor GB18030.
    ConfigError
        Unknown ``encoding``.
    """
    path = Path(path)
    given = check_encoding(encoding)
    if path.suffix.lower() != ".shp":
        return None, None  # GeoJSON, GeoPackage and FlatGeobuf are UTF-8 by definition
    dbf = _dbf_path(path)
    if dbf is None:
        return given, None
    try:
        data = dbf.read_bytes()
    except OSError:
        return given, None  # GDAL reports the unreadable file in its own words
    texts = dbf_text_bytes(data)
    if given is not None:
        for text in texts:
            try:
                text.decode(given)
            except UnicodeDecodeError:
                raise InputFileError(
                    f"{what} {path}: its attribute table ({dbf.name}) is not valid {encoding} text "
                    f"({_first_bad_byte(text, given)}); check --encoding") from None
        return given, None
    if _declares_encoding(path, data[:_FIELD_DESCRIPTOR]) or all(t.isascii() for t in texts):
        return None, None
    for candidate in (UTF8, CHINESE):
        try:
            for text in texts:
                text.decode(candidate)
        except UnicodeDecodeError:
            continue
        if candidate == UTF8:
            return UTF8, None  # GDAL would take undeclared UTF-8 for ISO-8859-1
        return CHINESE, Message("warn_guessed_gb18030_shp", what=what, file=path.name)
    raise InputFileError(f"{what} {path}: its attribute table ({dbf.name}) declares no encoding and is "
                         "neither UTF-8 nor GBK/GB18030; give its encoding with --encoding")

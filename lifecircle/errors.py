"""Errors that the CLI reports as one line, without a traceback."""

import re


class LifecircleError(Exception):
    """A problem with the user's input or environment, reported as one line.

    The CLI prints ``Error: <message>`` and exits with status 2; anything
    else that escapes is a bug and keeps its traceback.
    """


class InputFileError(LifecircleError):
    """An input file is missing, unreadable, corrupt or of the wrong shape."""


class ConfigError(LifecircleError):
    """The TOML configuration or a command option is invalid."""


class EmptyAreaError(LifecircleError):
    """The study area has no walkable streets or no usable features."""


class NetworkError(LifecircleError):
    """An online service (Overpass, Nominatim) could not be used."""


class OutputError(LifecircleError):
    """The output folder cannot be created, written or locked."""


# GDAL's advice to type a driver prefix ("'<DRIVER>:', e.g. 'CSV:path'") is for
# GDAL's own tools; after our "cannot read X" it only confuses.
_GDAL_HINT = re.compile(r"\s*It might help to specify the correct driver explicitly by prefixing the file path "
                        r"with '<DRIVER>:'.*$|\s*[^.]*prefix(ing)? the (file )?path with '<DRIVER>:'.*$", re.IGNORECASE)


def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's message (or its type name), for a one-line error.

    Advice meant for GDAL's command-line tools is dropped.
    """
    text = str(exc).strip()
    if text:
        return _GDAL_HINT.sub("", text.splitlines()[0].strip()).strip() or text.splitlines()[0].strip()
    return type(exc).__name__ if isinstance(exc, BaseException) else ""

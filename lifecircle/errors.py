"""Errors that the CLI reports as one line, without a traceback."""


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


def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's message (or its type name), for a one-line error."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0].strip()
    return type(exc).__name__ if isinstance(exc, BaseException) else ""

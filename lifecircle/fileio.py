"""Writing outputs safely: nothing half-written is ever left under a final name.

An output folder is checked and locked before any work starts
(:func:`output_folder`): one run at a time writes into it, and staging
folders left by runs that died (SIGKILL, power cut) are removed by the next.
Every CSV goes through :func:`write_csv`, which defuses spreadsheet formulas.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import shutil
import signal
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .errors import InputFileError, OutputError, first_line

if TYPE_CHECKING:  # geopandas costs a second to import: only where it is used
    import geopandas as gpd
    import pandas as pd

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: Name prefix of staging folders: ``.lifecircle-<pid>-<random>``.
STAGE_PREFIX = ".lifecircle-"

#: Lock file held inside an output folder while a run writes to it.
LOCK_NAME = ".lifecircle.lock"

# OWASP's CSV-injection rule: a cell starting with one of these is a formula
# (or, for tab and CR, hides one) in Excel, LibreOffice and WPS.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_held: dict[str, list[Any]] = {}  # resolved folder -> [lock fd, depth]
_held_guard = threading.Lock()


def pin_gpkg_date() -> None:
    """Pin the "last change" time GeoPackages record, so one input gives one file."""
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})


def defuse_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula.

    Only strings change; numbers (negative ones included) stay numbers.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(frame: "pd.DataFrame", path: str | Path) -> Path:
    """Write ``frame`` as UTF-8 CSV with a BOM, without its index, every text cell defused.

    The one writer of every CSV the tool makes: a community or facility
    called ``=HYPERLINK(...)`` must not become a live formula when a planner
    opens the table in Excel or WPS (OWASP CSV injection). The frame itself,
    and so the GeoPackage, keeps the names as they are. The BOM is what
    tells Excel the file is UTF-8: without it Chinese Excel reads it as
    GBK and shows 幸福小区 as mojibake; pandas and Python's ``utf-8-sig``
    skip it.
    """
    safe = frame.copy()
    bare_cr = False
    for col in safe.columns:
        if safe[col].dtype == object or str(safe[col].dtype) in ("string", "str"):
            safe[col] = safe[col].map(defuse_cell)
            bare_cr = bare_cr or bool(safe[col].map(lambda v: isinstance(v, str) and "\r" in v).any())
    # pandas quotes only cells holding its line terminator; a bare CR in an
    # unquoted cell ends the row in Excel and starts a new cell after it
    safe.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n" if bare_cr else "\n")
    return Path(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _stage_pid(name: str) -> int | None:
    """The process id in a staging folder's name, or None (older versions wrote none)."""
    head = name[len(STAGE_PREFIX):].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def remove_stale_stages(folder: Path) -> list[Path]:
    """Remove staging folders in ``folder`` whose run has died; return them.

    Call it holding the folder's lock: a live run holds that lock for as long
    as its staging folder exists.
    """
    removed = []
    for item in folder.glob(STAGE_PREFIX + "*"):
        if not item.is_dir() or item.name == LOCK_NAME:
            continue
        pid = _stage_pid(item.name)
        if pid is None or (pid != os.getpid() and not _pid_alive(pid)):
            shutil.rmtree(item, ignore_errors=True)
            removed.append(item)
    return removed


def _why(e: OSError) -> str:
    return e.strerror or first_line(e)


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    try:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"output folder {folder} exists and is not a folder")
        missing = []
        p = folder
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a name too long, a path under a file, /proc, no permission
        raise OutputError(f"cannot create output folder {folder}: {_why(e)}") from None
    return missing


def _acquire(folder: Path) -> int:
    """Open and lock ``folder``'s lock file; return its descriptor."""
    path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot write to output folder {folder}: {_why(e)}") from None
        if fcntl is None:  # pragma: no cover
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputError(f"output folder {folder} is in use by another lifecircle run "
                                  f"(process {holder}); wait for it or choose another folder") from None
            raise OutputError(f"cannot lock output folder {folder}: {_why(e)}") from None
        # the previous holder removes the file on release: a lock on a file
        # that is no longer there (or another one by that name) locks nothing
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as e:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise OutputError(f"cannot write to output folder {folder}: {_why(e)}") from None
    return fd


@contextlib.contextmanager
def output_folder(folder: str | Path) -> Iterator[Path]:
    """Check that ``folder`` can be created and written, and lock it, for the ``with`` block.

    Enter it before the work that fills the folder, so that a bad path or a
    folder another run is writing to fails at once, not after the analysis.
    Staging folders of runs that died are removed. Re-entrant within a process.

    Raises
    ------
    OutputError
        The folder cannot be created or written (one line naming it and the
        reason), or another process holds it.
    """
    folder = Path(folder)
    try:
        key = str(folder.resolve())
    except (OSError, RuntimeError) as e:
        raise OutputError(f"cannot use output folder {folder}: {first_line(e)}") from None
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield folder
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    created = _make_folder(folder)
    try:
        fd = _acquire(folder)
    except BaseException:
        _remove_empty(created)
        raise
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        remove_stale_stages(folder)
        yield folder
    finally:
        with _held_guard:
            del _held[key]
        with contextlib.suppress(OSError):
            os.unlink(folder / LOCK_NAME)  # unlink before unlocking: see _acquire
        os.close(fd)
        _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this run created, deepest first, if nothing was put in them."""
    for p in created:
        try:
            p.rmdir()
        except OSError:
            break


def writing_error(e: BaseException, folder: Path, stage: Path | None = None) -> OutputError:
    """One line for an error while writing into ``folder``: which file, and why."""
    filename = getattr(e, "filename", None)
    target = Path(filename) if filename else folder
    if stage is not None and target.parent == stage:
        target = folder / target.name  # the name the user will look for
    why = _why(e) if isinstance(e, OSError) else first_line(e)
    return OutputError(f"cannot write {target}: {why}")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Tag a GDAL error raised in the block with ``path``, for :func:`writing_error`.

    pyogrio's errors do not say which file they were writing.
    """
    try:
        yield
    except _gdal_write_errors() as e:
        e.filename = str(path)  # type: ignore[attr-defined]
        raise


def _gdal_write_errors() -> tuple[type[BaseException], ...]:
    """pyogrio's errors for a write that failed (a full disk: "Failed to commit transaction")."""
    import sys

    errors = getattr(sys.modules.get("pyogrio"), "errors", None)
    if errors is None:  # not imported: nothing can have raised them
        return ()
    return (errors.DataSourceError, errors.DataLayerError)


#: Interrupts that arrived where Python could not raise them (noted by the
#: CLI's ``sys.unraisablehook``), raised before a staging folder commits.
_noted_interrupts: list[BaseException] = []


def note_interrupt(exc: BaseException) -> None:
    """Remember an interrupt Python swallowed, to raise it before the next commit."""
    _noted_interrupts.append(exc)


def _raise_noted_interrupt() -> None:
    if _noted_interrupts:
        raise _noted_interrupts.pop()


@contextlib.contextmanager
def staging_dir(folder: str | Path) -> Iterator[Path]:
    """Yield a hidden folder inside ``folder`` to write a set of outputs into.

    On success every file in it is moved into ``folder`` (each move an
    atomic rename); on error the staging folder is deleted and ``folder``
    keeps what it had. The folder is locked meanwhile (:func:`output_folder`).

    Raises
    ------
    OutputError
        The folder cannot be written, or another run holds it; an OS or GDAL
        error while writing, as one line naming the file and the reason.
    """
    folder = Path(folder)
    pin_gpkg_date()
    with output_folder(folder):
        try:
            # the process id in the name lets a later run tell a dead run's folder
            stage = Path(tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-", dir=folder))
        except OSError as e:
            raise writing_error(e, folder) from None
        try:
            yield stage
            _raise_noted_interrupt()  # nothing is moved into place for a run that was stopped
            for item in sorted(stage.iterdir()):
                os.replace(item, folder / item.name)
        except OSError as e:
            raise writing_error(e, folder, stage) from None
        except _gdal_write_errors() as e:
            raise writing_error(e, folder, stage) from None
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _polygon_layer(path: Path, what: str, layer: str | None) -> str | None:
    """The layer of ``path`` to read: ``layer``, else the first one with polygons.

    A GeoPackage often holds points or lines before the areas; reading its
    first layer would then say "no polygons" of a file that has them.
    """
    import pyogrio

    try:
        layers = [(str(name), str(kind or "")) for name, kind in pyogrio.list_layers(path)]
    except Exception:  # unreadable: let read_file give GDAL's reason
        return layer
    if layer is not None:
        if layer not in [name for name, _ in layers]:
            names = ", ".join(name for name, _ in layers)
            raise InputFileError(f"{what} {path} has no layer {layer!r} (layers: {names})")
        return layer
    if len(layers) < 2:
        return None
    for name, kind in layers:
        if "polygon" in kind.lower():
            return name
    return None


def read_vector(path: str | Path, layer: str | None = None, encoding: str | None = None) -> "gpd.GeoDataFrame":
    """Read a vector file (GeoJSON, GeoPackage, Shapefile, ...) as it is.

    The one place user vector files are opened. GDAL's RuntimeWarnings on
    damaged files are silenced, since they would only repeat the error the
    caller reports; errors propagate as pyogrio raises them, for the caller
    to word (it knows what the file was for).

    Parameters
    ----------
    path
        The file.
    layer
        Layer to read; by default the file's first.
    encoding
        Encoding of a shapefile's attributes (it overrides a ``.cpg``); see
        :mod:`lifecircle.sources.textenc`.

    Returns
    -------
    geopandas.GeoDataFrame
    """
    import geopandas as gpd

    extra = {"encoding": encoding} if encoding is not None else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gdf = gpd.read_file(path, layer=layer, **extra) if layer is not None else gpd.read_file(path, **extra)
    # GDAL reads a CSV, TSV or spreadsheet without shapes as a plain table
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputFileError(f"{Path(path).name} has no geometry (a table without shapes); give a GeoJSON, "
                             "GeoPackage or Shapefile")
    return gdf


def find_column(columns: Iterable[Any], candidates: Iterable[str]) -> Any | None:
    """Return the column of a user's file named like one of ``candidates``.

    Candidates are tried in order of preference; each matches a column of
    exactly its name first, else one equal to it ignoring case and
    surrounding spaces ("Name ", "NAME").

    Parameters
    ----------
    columns
        The file's column names.
    candidates
        Accepted names, preferred first.

    Returns
    -------
    The column as it is named in the file, or None.
    """
    columns = list(columns)
    folded: dict[str, Any] = {}
    for col in columns:
        folded.setdefault(str(col).strip().casefold(), col)
    for cand in candidates:
        if cand in columns:
            return cand
        if cand.strip().casefold() in folded:
            return folded[cand.strip().casefold()]
    return None


def read_polygons(path: str | Path, what: str, layer: str | None = None,
                  encoding: str | None = None) -> "gpd.GeoDataFrame":
    """Read the polygons of a vector file (GeoJSON, GeoPackage, Shapefile).

    Parameters
    ----------
    path
        The file.
    what
        What the file is for, as named in error messages ("communities file").
    layer
        Layer to read; by default the first layer with polygons.
    encoding
        Attribute encoding of a shapefile (e.g. "gbk", over its ``.cpg``); None:
        UTF-8, else GB18030 with a warning (:func:`lifecircle.sources.textenc.shapefile_encoding`).

    Returns
    -------
    geopandas.GeoDataFrame
        Only Polygon/MultiPolygon rows with an area, in the file's own CRS;
        ``attrs["warnings"]`` says which encoding was guessed, if one was.

    Raises
    ------
    InputFileError
        Missing or unreadable file, no CRS, no such layer, or no polygons.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{what} not found: {path}")
    if not path.is_file():
        raise InputFileError(f"{what} is not a file: {path}")
    chosen = _polygon_layer(path, what, layer)
    from .sources.textenc import shapefile_encoding

    # GDAL reads a .dbf that declares nothing as Latin-1: GBK names would come out garbled
    text_encoding, note = shapefile_encoding(path, encoding, what)
    try:
        gdf = read_vector(path, layer=chosen, encoding=text_encoding)
    except Exception as e:  # pyogrio/GDAL raise many types for bad files
        raise InputFileError(f"cannot read {what} {path}: {first_line(e)}") from None
    if gdf.crs is None:
        raise InputFileError(f"{what} {path} has no CRS; save it with one (e.g. EPSG:4326)")
    gdf = gdf[gdf.geometry.notna() & gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(gdf) == 0:
        where = f" (layer {chosen!r})" if chosen is not None else ""
        raise InputFileError(f"{what} {path}{where} has no polygons")
    _check_degrees(gdf, path, what)
    gdf.attrs["warnings"] = [note] if note else []
    return gdf


def _check_degrees(gdf: "gpd.GeoDataFrame", path: Path, what: str) -> None:
    """Refuse metres in a file whose CRS says degrees (GeoJSON always does)."""
    import numpy as np

    if not gdf.crs.is_geographic:
        return
    x0, y0, x1, y1 = gdf.total_bounds
    if max(abs(x0), abs(x1)) <= 180 and max(abs(y0), abs(y1)) <= 90:
        return
    raise InputFileError(f"{what} {path}: coordinates such as ({np.round(x0):.0f}, {np.round(y0):.0f}) are not "
                         f"longitude/latitude, though the file says {gdf.crs.name}; save it with the CRS its "
                         "coordinates are in (e.g. a UTM zone)")


def _can_fork() -> bool:
    from . import settings

    # forking with other threads alive (a Dask worker, a notebook's kernel threads) can
    # leave a lock held forever in the child: there, one after the other
    return settings.parallel_outputs and hasattr(os, "fork") and threading.active_count() == 1 \
        and (os.cpu_count() or 1) > 1


def _child(work: Callable[[], Any], report: int) -> None:
    """In the forked process: do ``work``, send its value (or its failure, as one
    line) on ``report``, and leave without running the parent's cleanup (its
    staging folder is the parent's to remove)."""
    from . import settings

    # the parent's handlers raise to clean up what is the parent's: here a signal just
    # ends the process (cancel() would otherwise wait for a C call to return), and a
    # child never forks again (cancel() could not reach a grandchild)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    settings.parallel_outputs = False
    status = 0
    try:
        value = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(report, "wb", closefd=False) as f:
            f.write(b"V" + value)
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the parent, as one line
        from .errors import LifecircleError

        status = 1
        with contextlib.suppress(Exception):
            # the error itself when it pickles (a message in the run's language stays one)
            sent = b"P" + pickle.dumps(e) if isinstance(e, LifecircleError) else b""
            sent = sent or b"E" + json.dumps([type(e).__name__, first_line(e)]).encode("utf-8")
            os.write(report, sent)
    finally:
        os._exit(status)


def _raise_child_error(message: bytes, status: int, doing: str) -> None:
    from . import errors

    if message[:1] == b"P":
        try:
            error = pickle.loads(message[1:])
        except Exception:  # noqa: BLE001 - then the process's status says what happened
            error = None
        if isinstance(error, errors.LifecircleError):
            raise error
    name, text = "", None
    if message[:1] == b"E":
        with contextlib.suppress(ValueError):
            name, text = json.loads(message[1:].decode("utf-8"))
    if text is None:  # it died without a word: a signal, or out of memory
        code = os.waitstatus_to_exitcode(status)
        how = f"signal {-code}" if code < 0 else f"status {code}"
        name, text = "", f"the process {doing} stopped ({how})"
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.LifecircleError):
        raise cls(text)
    raise OutputError(f"{doing} failed: {text}" if text else f"{doing} failed")


class Forked:
    """``work()`` started in a forked process; :meth:`result` waits for its value.

    A failure in ``work`` is raised by :meth:`result` as the same
    :class:`LifecircleError` (or an :class:`OutputError`) with its first
    line; :meth:`cancel` stops the process. Without fork (or with
    :data:`settings.parallel_outputs` off, or other threads running),
    ``work`` runs in this process when :meth:`result` is called. As a
    context manager, it is cancelled when the block fails.

    Parameters
    ----------
    work
        What to do; its value must pickle.
    doing
        What it does, for messages: "writing the report".
    """

    def __init__(self, work: Callable[[], Any], doing: str) -> None:
        self.work, self.doing, self.pid = work, doing, None
        if not _can_fork():
            return
        read, write = os.pipe()
        # Ctrl-C or SIGTERM arriving during fork would run its handler inside the
        # at-fork callbacks, where raising is ignored: hold them until fork returns
        stop = {signal.SIGINT, signal.SIGTERM}
        held = signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        try:
            pid = os.fork()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if pid == 0:
            os.close(read)
            _child(work, write)
        os.close(write)
        self.pid, self.pipe = pid, read

    @property
    def forked(self) -> bool:
        """True while ``work`` runs in another process (not yet collected)."""
        return self.pid is not None

    def result(self) -> Any:
        """The value of ``work()``, once it is done."""
        if self.pid is None:
            return self.work()
        try:
            with os.fdopen(self.pipe, "rb") as f:  # read before waiting: a large value fills the pipe
                message = f.read()
            _, status = os.waitpid(self.pid, 0)
        except BaseException:
            self.cancel()
            raise
        self.pid = None
        if status or message[:1] != b"V":
            _raise_child_error(message, status, self.doing)
        return pickle.loads(message[1:])

    def __enter__(self) -> "Forked":
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if error is not None:  # this process failed or was stopped: so is the other
            self.cancel()

    def cancel(self) -> None:
        """Stop the process, if it runs (this one failed or was stopped)."""
        if self.pid is None:
            return
        # first the pipe: a child blocked writing its value to it (done, the parent
        # not reading yet) gets a broken pipe instead of waiting forever
        with contextlib.suppress(OSError):
            os.close(self.pipe)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.pid = None


@contextlib.contextmanager
def alongside(work: Callable[[], None]) -> Iterator[None]:
    """Run ``work`` in a forked process while the block runs; wait for it at the end.

    For output files that do not depend on each other. A failure in ``work``
    is raised here as the same :class:`LifecircleError` (or an
    :class:`OutputError`) with its first line; if the block fails, the child
    is stopped. Without fork (or with :data:`settings.parallel_outputs` off,
    or other threads running), ``work`` runs after the block, in this process.
    """
    with Forked(work, "writing the report") as forked:
        yield
        forked.result()


def in_two(work: Callable[[Any], list], items: Any, doing: str, fork_from: int) -> list:
    """``work(items[:h]) + work(items[h:])``, the second half in a forked process
    (:class:`Forked`) when there are at least ``fork_from`` items; else
    ``work(items)``. ``doing`` names it in messages ("drawing isochrones")."""
    half = len(items) // 2 if len(items) >= fork_from else len(items)
    with Forked(lambda: work(items[half:]), doing) as other:
        return work(items[:half]) + other.result()

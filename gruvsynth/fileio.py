"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

Every file gruvsynth writes (WAV, JSON, CSV, NPZ, figures, screenshots, checkpoints) goes
through :func:`atomic_path` (directly, or through :func:`write_text_atomic`,
:func:`write_json_atomic` and :func:`write_csv_atomic`), so an interrupted write never leaves a half-written file under the
final name: readers see the old file or the new one, never a mix.  A file that cannot be
written (permission denied, a read-only or virtual file system such as ``/proc``, no space)
raises :class:`gruvsynth.errors.OutputError` naming it, never a bare ``OSError``.

:func:`check_writable_folder` checks a folder before long work whose result goes there, and
:func:`rename_no_replace` moves a finished folder into place without replacing anything that
appeared under its name meanwhile.  :func:`read_json` is the one JSON reader, and
:func:`json_ready` the one conversion of results (numpy values, NaN, paths) to JSON.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import ctypes.util
import errno
import io
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from gruvsynth.errors import GruvError, OutputError

__all__ = [
    "TMP_PREFIX",
    "atomic_path",
    "write_text_atomic",
    "write_json_atomic",
    "write_csv_atomic",
    "json_ready",
    "read_json",
    "fsync_folder",
    "writing",
    "check_writable_folder",
    "rename_no_replace",
]

#: Temporary files start with this, so leftovers of a killed process are easy to recognise.
TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path, *, fsync: bool = False) -> Iterator[Path]:
    """Give a temporary path beside ``path``; on success move it onto ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The final file.  Its folder is created if missing.
    fsync : bool
        Flush the new file and its folder to disk before returning (for files whose loss
        after a power cut would matter, such as checkpoints and training history).

    Yields
    ------
    pathlib.Path
        A path in the same folder, with the same suffix (some writers choose the format
        from it), that the caller writes to.  If the ``with`` body raises, it is deleted and
        ``path`` is left as it was.

    Raises
    ------
    OutputError
        The folder cannot be created, or the file cannot be written or moved into place
        (an ``OSError`` of the ``with`` body is turned into one too).
    """
    path = Path(path)
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    # .tmp-<stem>-<random><suffix>: the suffix stays last (Keras and matplotlib choose the
    # format from it), and a leftover starts with the name of the file it was to become.
    tmp = path.with_name(f"{TMP_PREFIX}{path.stem}-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        with writing(path):
            yield tmp
        with writing(path):
            _finish(tmp, path, fsync)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _finish(tmp: Path, path: Path, fsync: bool) -> None:
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_folder(path.parent)


def fsync_folder(folder) -> None:
    """Flush a folder's entries (new, renamed or deleted files) to disk; errors are ignored
    (some file systems cannot open or flush a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return Path(path)


def json_ready(value):
    """``value`` made JSON-ready: numpy values to Python, NaN and infinities to ``None``, paths
    to ``str``, tuples and arrays to lists, mapping keys to ``str``."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def write_json_atomic(path, data, *, indent: int = 2, allow_nan: bool = False,
                      clean: bool = False, fsync: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; returns the path.

    Parameters
    ----------
    path : str or os.PathLike
    data : object
    indent : int
    allow_nan : bool
        ``False`` (the default) refuses NaN and infinities, which are not JSON.
    clean : bool
        Pass ``data`` through :func:`json_ready` first (NaN and infinities become ``null``).
    fsync : bool
        As in :func:`atomic_path`.
    """
    if clean:
        data = json_ready(data)
    text = json.dumps(data, indent=indent, allow_nan=allow_nan) + "\n"
    return write_text_atomic(path, text, fsync=fsync)


def write_csv_atomic(path, rows: Iterable[Mapping], fields: Sequence[str], *,
                     fsync: bool = False) -> Path:
    """Write rows (mappings) as CSV with a header, atomically; returns the path.

    Values go through :func:`json_ready`; ``None`` (and so NaN) is an empty cell, floats are
    written with ``repr`` (exact round trip).

    Parameters
    ----------
    path : str or os.PathLike
    rows : iterable of mapping
    fields : sequence of str
        Column names, in order (a key missing from a row gives an empty cell).
    fsync : bool
        As in :func:`atomic_path`.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        out = []
        for key in fields:
            v = json_ready(row.get(key))
            out.append("" if v is None else (repr(v) if isinstance(v, float) else v))
        writer.writerow(out)
    return write_text_atomic(path, buf.getvalue(), fsync=fsync)


def read_json(path, what: str = "JSON file", *, missing_ok: bool = False, error=None):
    """Read a JSON file.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        What the file is, for messages ("missing <what>", "unreadable <what> (reason)").
    missing_ok : bool
        Return ``None`` for a file that does not exist (else it is an error).
    error : type, optional
        The :class:`~gruvsynth.errors.GruvError` subclass raised (default ``GruvError``).

    Raises
    ------
    GruvError
        (or ``error``) The file is missing (unless ``missing_ok``), unreadable or not JSON.
    """
    error = error or GruvError
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error(f"{path}: missing {what}") from None
    except IsADirectoryError:
        if missing_ok:
            return None
        raise error(f"{path}: unreadable {what} (a folder)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from None


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such folder, and it cannot be created there"
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.contextmanager
def writing(path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into an :class:`OutputError` naming it.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder being written (named in the message).
    """
    try:
        yield
    except GruvError:  # already a package error (some are OSErrors too)
        raise
    except OSError as exc:
        raise OutputError(path, _reason(exc)) from None


def check_writable_folder(folder) -> Path:
    """Make sure files can be created in ``folder``, creating it (and its parents) if missing.

    Call it before long work whose result is written there, so that an unwritable output is
    refused at once rather than after the work.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    OutputError
        The folder cannot be created, is not a folder, or a file cannot be created in it.
    """
    folder = Path(folder)
    with writing(folder):
        if folder.exists() and not folder.is_dir():
            raise OutputError(folder, "it exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-probe"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    return folder


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return libc.renameat2
    except (OSError, AttributeError, TypeError):
        return None


def rename_no_replace(src, dst) -> None:
    """Rename ``src`` to ``dst``, failing if anything (even an empty folder) is at ``dst``.

    On Linux this is one atomic ``renameat2(RENAME_NOREPLACE)`` call; where that is not
    available the check and the rename are two steps (a folder that appears between them is
    replaced only if it is empty, which ``rename`` allows).

    Parameters
    ----------
    src, dst : str or os.PathLike

    Raises
    ------
    FileExistsError
        Something exists at ``dst``.
    OSError
        The rename failed for another reason.
    """
    src, dst = os.fsencode(os.fspath(src)), os.fsencode(os.fspath(dst))
    call = _renameat2()
    if call is not None:
        if call(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # not supported here
            raise OSError(err, os.strerror(err), os.fsdecode(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(dst))
    os.rename(src, dst)

"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

Every file gruvsynth writes (WAV, JSON, CSV, NPZ, figures, checkpoints) goes through
:func:`atomic_path`, so an interrupted write never leaves a half-written file under the
final name: readers see the old file or the new one, never a mix.  A file that cannot be
written (permission denied, a read-only or virtual file system such as ``/proc``, no space)
raises :class:`gruvsynth.errors.OutputError` naming it, never a bare ``OSError``.

:func:`check_writable_folder` checks a folder before long work whose result goes there, and
:func:`rename_no_replace` moves a finished folder into place without replacing anything that
appeared under its name meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from gruvsynth.errors import GruvError, OutputError

__all__ = [
    "TMP_PREFIX",
    "atomic_path",
    "write_text_atomic",
    "write_json_atomic",
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
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{path.name}")
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
        with contextlib.suppress(OSError):
            fd = os.open(path.parent, os.O_RDONLY)
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


def write_json_atomic(path, data, *, indent: int = 2, allow_nan: bool = False,
                      fsync: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; returns the path.

    ``allow_nan=False`` (the default) refuses NaN and infinities, which are not JSON.
    """
    text = json.dumps(data, indent=indent, allow_nan=allow_nan) + "\n"
    return write_text_atomic(path, text, fsync=fsync)


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

"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

Every file gruvsynth writes (WAV, JSON, CSV, NPZ, figures, checkpoints) goes through
:func:`atomic_path`, so an interrupted write never leaves a half-written file under the
final name: readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["TMP_PREFIX", "atomic_path", "write_text_atomic", "write_json_atomic"]

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
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield tmp
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
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


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

"""Finding audio files and checking a path before ffmpeg reads it.

:func:`scan_audio_files` and :func:`list_audio_files` find the audio files among files and
folders; :func:`check_file` refuses a path that is not a readable, non-empty regular file;
:func:`ffmpeg_input` is the name ffmpeg is given for a local file.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from gruvsynth.errors import (
    AudioError,
    EmptyFileError,
    MissingFileError,
    NotAudioError,
    UnreadableFileError,
)

__all__ = ["AUDIO_EXTENSIONS", "scan_audio_files", "list_audio_files", "check_file",
           "ffmpeg_input", "unreadable"]

log = logging.getLogger("gruvsynth.audio")

#: File name extensions (lower case) taken as audio when a folder is searched.
AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".w64", ".rf64", ".bwf",
    ".mp3", ".mp2",
    ".ogg", ".oga", ".opus", ".spx",
    ".flac",
    ".m4a", ".m4b", ".mp4a", ".aac", ".alac",
    ".aif", ".aiff", ".aifc",
    ".caf", ".au", ".snd",
    ".wma", ".mka", ".ac3", ".eac3", ".dts",
    ".ape", ".wv", ".tta", ".mpc", ".amr",
)


def unreadable(path: Path, what: str = "cannot be read") -> UnreadableFileError:
    """The error for a path that cannot be read (permission denied)."""
    return UnreadableFileError(path, f"{what} (permission denied)")


def _walk(folder: Path, recursive: bool, found: set, problems: list) -> None:
    """Add the audio files under ``folder`` to ``found``; unreadable folders to ``problems``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        problems.append(unreadable(folder, "folder cannot be read"))
        return
    except OSError as exc:
        problems.append(UnreadableFileError(folder, f"folder cannot be read ({exc.strerror})"))
        return
    for entry in entries:
        if entry.name.startswith("."):  # hidden files and folders (macOS's ._song.mp3, .git)
            continue
        path = folder / entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    _walk(path, recursive, found, problems)
            elif Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS and entry.is_file():
                found.add(path)
        except OSError:
            problems.append(unreadable(path))


def scan_audio_files(paths, *, recursive: bool = True) -> tuple[list[Path], list[AudioError]]:
    """The audio files among ``paths``, and the paths that could not be looked at.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders, as for :func:`list_audio_files`.
    recursive : bool
        Search sub-folders too.

    Returns
    -------
    files : list of pathlib.Path
        Sorted, without duplicates.
    problems : list of AudioError
        A :class:`~gruvsynth.errors.MissingFileError` for each path that does not exist and
        an :class:`~gruvsynth.errors.UnreadableFileError` for each path, or folder met in the
        search, that cannot be read (permission denied), in the order met.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    problems: list[AudioError] = []
    for p in map(Path, paths):
        try:
            mode = p.stat().st_mode
        except PermissionError:
            problems.append(unreadable(p))
            continue
        except (FileNotFoundError, NotADirectoryError):
            problems.append(MissingFileError(p, "no such file or folder"))
            continue
        except OSError as exc:
            problems.append(UnreadableFileError(p, f"cannot be read ({exc.strerror})"))
            continue
        if stat.S_ISDIR(mode):
            _walk(p, recursive, found, problems)
        else:
            found.add(p)
    return sorted(found), problems


def list_audio_files(paths, *, recursive: bool = True) -> list[Path]:
    """The audio files among ``paths``, files and folders, sorted.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders.  A path given explicitly as a file is kept whatever its extension;
        in folders only files whose extension (any case) is in :data:`AUDIO_EXTENSIONS` are
        taken, skipping hidden files and folders (names starting with ``"."``, such as macOS's
        ``._song.mp3`` resource files).
    recursive : bool
        Search sub-folders too.

    Returns
    -------
    files : list of pathlib.Path
        Sorted, without duplicates.  A sub-folder that cannot be read is left out with a
        warning naming it (:func:`scan_audio_files` returns such problems instead).

    Raises
    ------
    MissingFileError
        A path does not exist.
    UnreadableFileError
        A path given cannot be read (permission denied).
    """
    files, problems = scan_audio_files(paths, recursive=recursive)
    given = {Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)}
    for problem in problems:
        if Path(problem.path) in given:
            raise problem
        log.warning("leaving out %s", problem)
    return files



def check_file(path: Path) -> None:
    """Raise the error for a path that is not a readable, non-empty regular file.

    Raises
    ------
    MissingFileError, UnreadableFileError, NotAudioError, EmptyFileError
    """
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFileError(path, "no such file") from None
    except PermissionError:
        raise unreadable(path) from None
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotAudioError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a special file")
        raise NotAudioError(path, f"is {kind}, not a regular file")
    if st.st_size == 0:
        raise EmptyFileError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise unreadable(path)


def ffmpeg_input(path) -> str:
    """The name ffmpeg/ffprobe are given for a local file: ``file:`` and its absolute path.

    So a name is never read as an option (``-rf.wav``) or as another protocol
    (``concat:a.wav``, ``Intro:Remix.wav``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    return "file:" + os.path.abspath(os.fspath(path))

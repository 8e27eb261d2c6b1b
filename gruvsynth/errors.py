"""The package's own exceptions.

Every error caused by bad input (a file, a folder, a parameter, a corpus, a run folder)
is a :class:`GruvError`, so callers can catch one class.  Messages are one line and name
the file (where there is one) and the reason.  Subclasses also derive from the matching
built-in exception where one exists (``FileNotFoundError``, ``ValueError``) so that
generic handlers keep working.

An error may carry a *hint*, what to do about it, in two wordings: one for Python callers
(``hint``, e.g. "pass overwrite=True to replace it") and one for the ``gruvsynth`` command
(``cli_hint``, e.g. "use --force to replace it").  ``str(error)`` gives the message with the
Python wording; the command prints :meth:`GruvError.cli_message`, with the command's wording.
"""

from __future__ import annotations

import os

__all__ = [
    "GruvError",
    "ParameterError",
    "AudioError",
    "MissingFileError",
    "EmptyFileError",
    "UnreadableFileError",
    "NotAudioError",
    "CorruptAudioError",
    "EmptyAudioError",
    "SilentAudioError",
    "NonFiniteAudioError",
    "DecoderNotFoundError",
    "CorpusError",
    "FetchError",
    "RunError",
    "CheckpointError",
    "TrainingDivergedError",
    "OutputError",
]


class GruvError(Exception):
    """Base class of every error gruvsynth raises on bad input.

    Parameters
    ----------
    *args
        The message (one line), as for :class:`Exception`.
    hint : str, optional
        What to do about it, worded for Python callers; appended to the message after "; ".
    cli_hint : str, optional
        The same worded for the ``gruvsynth`` command (its options rather than parameter
        names); :meth:`cli_message` uses it instead of ``hint``.
    """

    def __init__(self, *args, hint: str | None = None, cli_hint: str | None = None):
        super().__init__(*args)
        self.hint = hint
        self.cli_hint = cli_hint

    def _base(self) -> str:
        return super().__str__()

    def __str__(self) -> str:
        return _join(self._base(), self.hint)

    def cli_message(self) -> str:
        """The message with the command line's wording of the hint (what ``gruvsynth`` prints)."""
        return _join(self._base(), self.cli_hint or self.hint)


def _join(message: str, hint: str | None) -> str:
    return f"{message}; {hint}" if hint else message


class ParameterError(GruvError, ValueError):
    """A function or command was given an invalid parameter value."""


class AudioError(GruvError):
    """A problem with one audio file.

    Parameters
    ----------
    path : str or os.PathLike
        The file concerned; it is named in the message.
    reason : str
        What is wrong, in a few words.
    **kwargs
        ``hint`` and ``cli_hint``, as for :class:`GruvError`.
    """

    def __init__(self, path: str | os.PathLike, reason: str, **kwargs):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}", **kwargs)


class MissingFileError(AudioError, FileNotFoundError):
    """The audio file does not exist."""

    def _base(self) -> str:  # FileNotFoundError would otherwise format errno fields
        return f"{self.path}: {self.reason}"


class UnreadableFileError(AudioError, PermissionError):
    """The file, or a folder on the way to it, cannot be read (permission denied)."""

    def _base(self) -> str:  # PermissionError would otherwise format errno fields
        return f"{self.path}: {self.reason}"


class EmptyFileError(AudioError):
    """The file exists but has zero bytes."""


class NotAudioError(AudioError):
    """ffmpeg does not recognise the file as audio (or it has no audio stream)."""


class CorruptAudioError(AudioError):
    """The file looks like audio but is truncated or corrupt: the decoder reported errors."""


class EmptyAudioError(AudioError):
    """The file decodes to zero samples."""


class SilentAudioError(AudioError):
    """Every sample is (numerically) zero."""


class NonFiniteAudioError(AudioError):
    """The decoded samples contain NaN or infinite values (possible in float WAV files)."""


class DecoderNotFoundError(GruvError):
    """ffmpeg/ffprobe are not installed or not on ``PATH``."""


class CorpusError(GruvError):
    """A corpus folder is missing, incomplete, of another format or inconsistent."""


class FetchError(GruvError):
    """A built-in corpus's music could not be found, downloaded or verified."""


class RunError(GruvError):
    """A run folder is missing, belongs to a different configuration, or is incomplete."""


class CheckpointError(RunError):
    """A checkpoint or model file is truncated, corrupt or not a gruvsynth model."""


class TrainingDivergedError(GruvError):
    """The training loss became NaN or infinite."""


class OutputError(GruvError, OSError):
    """A file or folder cannot be written: permission denied, a read-only or virtual file
    system (``/proc``, ``/sys``), no space left, or the name is taken by something else.

    Parameters
    ----------
    path : str or os.PathLike
        The file or folder that could not be written; it is named in the message.
    reason : str
        Why, in a few words (usually the system's ``strerror``).
    **kwargs
        ``hint`` and ``cli_hint``, as for :class:`GruvError`.
    """

    def __init__(self, path: str | os.PathLike, reason: str, **kwargs):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: cannot write here ({reason})", **kwargs)

    def _base(self) -> str:  # OSError would otherwise format errno fields
        return f"{self.path}: cannot write here ({self.reason})"

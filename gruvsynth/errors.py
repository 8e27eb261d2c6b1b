"""The package's own exceptions.

Every error caused by bad input (a file, a folder, a parameter, a corpus, a run folder)
is a :class:`GruvError`, so callers can catch one class.  Messages are one line and name
the file (where there is one) and the reason.  Subclasses also derive from the matching
built-in exception where one exists (``FileNotFoundError``, ``ValueError``) so that
generic handlers keep working.
"""

from __future__ import annotations

import os

__all__ = [
    "GruvError",
    "ParameterError",
    "AudioError",
    "MissingFileError",
    "EmptyFileError",
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
]


class GruvError(Exception):
    """Base class of every error gruvsynth raises on bad input."""


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
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingFileError(AudioError, FileNotFoundError):
    """The audio file does not exist."""

    def __str__(self) -> str:  # FileNotFoundError would otherwise format errno fields
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

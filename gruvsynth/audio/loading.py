"""Loading audio: :func:`load` decodes a file (:func:`gruvsynth.audio.ffmpeg.decode`) and
checks what came out, :func:`load_many` loads many, skipping bad ones.

How bad input is detected
-------------------------
Each rule raises a :class:`gruvsynth.errors.AudioError` subclass whose message is one line,
``"<path>: <reason>"``:

* the path does not exist: :class:`~gruvsynth.errors.MissingFileError`;
* the file has 0 bytes: :class:`~gruvsynth.errors.EmptyFileError`;
* ffmpeg cannot open the file, and its first bytes are not the signature of an audio
  container (RIFF/WAVE, Ogg, fLaC, ID3/MPEG sync, MP4 ``ftyp``, AIFF, ...), or it opens but
  holds no audio stream (a picture, a video without sound, a folder):
  :class:`~gruvsynth.errors.NotAudioError`;
* ffmpeg cannot open a file that *does* start with an audio signature (a WAV cut inside
  its header, an Ogg file with broken header pages, an M4A without its ``moov`` atom), or
  ``ffmpeg`` exits with an error, or logs a message at level *error* or worse (``CRC
  mismatch!``, ``Header missing``, ``invalid residual``, ...), or a *warning* naming corrupt,
  invalid or truncated data (a WAV whose data chunk is longer than the file logs ``Packet
  corrupt``; an MP3 whose Xing header disagrees with the file size logs ``filesize and
  duration do not match``): :class:`~gruvsynth.errors.CorruptAudioError`.  A WAV written as a
  stream (data size ``0xFFFFFFFF``) always ends with a short packet, so the ``corrupt
  packet`` warning is ignored for it.  With ``strict=False`` these decoder complaints are
  logged as a warning instead, as long as samples came out;
* the decoder produced no samples (a WAV header with no frames):
  :class:`~gruvsynth.errors.EmptyAudioError`;
* a sample is NaN or infinite (possible in float WAV files):
  :class:`~gruvsynth.errors.NonFiniteAudioError`;
* the mono signal's peak is below one 16-bit step, :data:`SILENCE_THRESHOLD` = 2**-15
  (a 16-bit file of all zeros; dithered silence at +-1 LSB counts as sound):
  :class:`~gruvsynth.errors.SilentAudioError`.

Samples of float files (or lossy decoders' overshoot) outside [-1, 1] are clipped to
[-1, 1], since :func:`load` promises [-1, 1], and their number is logged: as a warning when
more than :data:`CLIP_WARN_SHARE` (0.1 %) of the samples were clipped, else at INFO level
(lossy decoders routinely overshoot by a few samples on loud masters).

ffmpeg and ffprobe run with ``-nostdin`` and a time limit (:data:`FFMPEG_TIMEOUT`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gruvsynth import defaults
from gruvsynth.audio.ffmpeg import Decoded, decode, summary
from gruvsynth.audio.files import check_file, list_audio_files
from gruvsynth.checks import check_optional_int
from gruvsynth.errors import (
    AudioError,
    CorruptAudioError,
    EmptyAudioError,
    GruvError,
    NonFiniteAudioError,
    ParameterError,
    SilentAudioError,
)

__all__ = ["SR", "SILENCE_THRESHOLD", "CLIP_WARN_SHARE", "NoUsableAudioError", "check_decoded",
           "load", "load_many"]

log = logging.getLogger("gruvsynth.audio")

#: The sample rate gruvsynth works at (the paper's 44.1 kHz).
SR = defaults.SR

#: A signal whose peak is below one 16-bit step is silent.
SILENCE_THRESHOLD = 2.0**-15

#: Share of clipped samples above which :func:`load` logs a warning rather than an INFO note.
CLIP_WARN_SHARE = 1e-3


class NoUsableAudioError(GruvError):
    """A folder (or list of files) holds no audio file that could be loaded."""



def check_decoded(path: Path, dec: Decoded, *, strict: bool) -> None:
    """Raise the error for a decoded signal that is not usable (see the module's rules).

    Raises
    ------
    CorruptAudioError, EmptyAudioError, NonFiniteAudioError, SilentAudioError
    """
    x = dec.mono
    if dec.returncode != 0 or dec.problems:
        reason = f"decoder errors, truncated or corrupt ({summary(dec.problems)})"
        if strict or x.size == 0:
            raise CorruptAudioError(path, reason)
        log.warning("%s: %s; using the %d samples decoded", path, reason, x.size)
    if x.size == 0:
        raise EmptyAudioError(path, "zero-length audio (no samples)")
    finite = np.isfinite(x)
    if not finite.all():
        n_nan = int(np.count_nonzero(np.isnan(x)))
        n_inf = x.size - int(np.count_nonzero(finite)) - n_nan
        raise NonFiniteAudioError(path, f"{n_nan} NaN and {n_inf} infinite samples")
    peak = float(np.max(np.abs(x)))
    if peak < SILENCE_THRESHOLD:
        raise SilentAudioError(
            path, f"all silent (peak of the mono mix {peak:.3g} is below one 16-bit step, 2**-15)"
        )


def load(path, *, sr: int | None = SR, strict: bool = True, offset: float = 0.0,
         duration: float | None = None) -> np.ndarray:
    """Decode an audio file to mono float32 in [-1, 1] at sample rate ``sr``.

    Parameters
    ----------
    path : str or os.PathLike
        Any file ffmpeg reads (see the module docstring).
    sr : int or None
        Sample rate of the result; ffmpeg resamples when the file's differs.  None keeps the
        file's own rate.
    strict : bool
        True: any decoder error or warning about corrupt data raises
        :class:`~gruvsynth.errors.CorruptAudioError`.  False: such complaints are logged and
        the samples decoded are used, if there are any.
    offset : float
        Start this many seconds into the file (ffmpeg seeks, sample-accurately for audio).
    duration : float, optional
        Decode at most this many seconds (default: to the end).  Only the part asked for
        is decoded, so a minute of a long song costs a minute's decoding.

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        The mean of all channels, clipped to [-1, 1] (a warning logs how many samples were
        clipped).

    Raises
    ------
    MissingFileError, EmptyFileError, NotAudioError, CorruptAudioError, EmptyAudioError,
    NonFiniteAudioError, SilentAudioError
        The file is unusable; the message is ``"<path>: <reason>"``.
    DecoderNotFoundError
        ffmpeg/ffprobe are not installed.
    ParameterError
        ``sr`` is not a positive integer, ``offset`` is negative or ``duration`` is not
        positive.
    """
    check_optional_int("sample rate", sr)
    if not (isinstance(offset, (int, float)) and math.isfinite(offset) and offset >= 0):
        raise ParameterError(f"offset must be a number of seconds >= 0, got {offset!r}")
    if duration is not None and not (isinstance(duration, (int, float))
                                     and math.isfinite(duration) and duration > 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}")
    path = Path(path)
    check_file(path)
    dec = decode(path, sr=sr, offset=offset, duration=duration)
    try:
        check_decoded(path, dec, strict=strict)
    except EmptyAudioError:
        if offset:
            raise EmptyAudioError(path, f"no audio after {offset:g} s (the file is shorter)") from None
        raise
    x = dec.mono
    over = int(np.count_nonzero(np.abs(x) > 1.0))
    if over:
        # Lossy decoders overshoot full scale by a few samples on loud masters: that is
        # normal and logged at INFO; more than CLIP_WARN_SHARE of the samples is a warning.
        level = logging.WARNING if over > CLIP_WARN_SHARE * x.size else logging.INFO
        log.log(level, "%s: clipped %d samples outside [-1, 1] (peak %.4g)", path, over,
                float(np.max(np.abs(x))))
        np.clip(x, -1.0, 1.0, out=x)
    return x


def load_many(paths, *, sr: int | None = SR, strict: bool = True,
              progress: bool = True) -> Iterator[tuple[Path, np.ndarray]]:
    """Load every audio file in ``paths``, skipping bad ones with a warning.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders, as for :func:`list_audio_files`.
    sr : int or None
        Sample rate, as for :func:`load`.
    strict : bool
        As for :func:`load`.
    progress : bool
        Show a progress bar (tqdm, one step per file).

    Yields
    ------
    path : pathlib.Path
        A file that loaded.
    audio : np.ndarray [shape=(n,), dtype=float32]
        Its samples, as :func:`load` returns them.

    Raises
    ------
    NoUsableAudioError
        No file loaded (or there was none).  A bad file is otherwise skipped with a warning
        ``"skipping <path>: <reason>"``, and the end logs ``"skipped K of N files"``.
    MissingFileError
        A path does not exist.
    """
    from tqdm.auto import tqdm

    check_optional_int("sample rate", sr)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files = list_audio_files(paths)
    where = ", ".join(map(os.fspath, paths))
    if not files:
        raise NoUsableAudioError(f"no usable audio in {where}: no audio files found")
    skipped = 0
    for f in tqdm(files, desc="loading audio", unit="file", disable=not progress, leave=False):
        try:
            audio = load(f, sr=sr, strict=strict)
        except AudioError as exc:
            skipped += 1
            log.warning("skipping %s", exc)
            continue
        yield f, audio
    if skipped:
        log.warning("skipped %d of %d files", skipped, len(files))
    else:
        log.info("skipped 0 of %d files", len(files))
    if skipped == len(files):
        raise NoUsableAudioError(
            f"no usable audio in {where}: all {len(files)} files were skipped"
        )

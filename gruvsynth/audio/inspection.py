"""Inspecting a file: :func:`inspect_file` says what it holds and whether :func:`gruvsynth.audio.load`
can use it (``gruvsynth inspect``), as a :class:`FileReport`; it never raises for a bad file.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from gruvsynth.audio.ffmpeg import CLIP_THRESHOLD, decode, probe
from gruvsynth.audio.loading import SILENCE_THRESHOLD, check_decoded
from gruvsynth.checks import check_optional_int
from gruvsynth.errors import AudioError

__all__ = ["SILENCE_BLOCK_SECONDS", "FileReport", "inspect_file"]

#: Length of the blocks whose share is reported as "silence" by :func:`inspect_file`.
SILENCE_BLOCK_SECONDS = 0.25


@dataclasses.dataclass
class FileReport:
    """One row of ``gruvsynth inspect``: what a file holds and whether it is usable.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    format, codec : str or None
        As in :class:`AudioInfo`; None where the file could not be probed.
    sample_rate, channels, bit_depth : int or None
        As in :class:`AudioInfo`.
    duration : float or None
        Seconds of decoded audio (the container's figure when decoding failed).
    peak : float or None
        Largest ``|x|`` over every channel's finite samples, full scale 1.0.
    silence : float or None
        Share of the mono signal's 0.25 s blocks (:data:`SILENCE_BLOCK_SECONDS`; the last,
        shorter block counts as one) whose peak is below :data:`SILENCE_THRESHOLD` (2**-15).
    clipped : float or None
        Share of all channels' samples with ``|x| >= 0.999`` of full scale
        (:data:`CLIP_THRESHOLD`; for files of fewer than 11 bits, the largest positive code,
        ``1 - 2**(1 - bits)``, also counts, since such files cannot reach 0.999).
    status : str
        ``"OK"``, or the problem (the reason part of the error :func:`load` would raise).
    error : str or None
        Name of that error's class, e.g. ``"CorruptAudioError"``; None when OK.
    """

    path: Path
    format: str | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    duration: float | None = None
    peak: float | None = None
    silence: float | None = None
    clipped: float | None = None
    status: str = "OK"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file can be loaded."""
        return self.error is None

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict (path as a string, non-finite numbers as None)."""
        out = dataclasses.asdict(self)
        out["path"] = os.fspath(self.path)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def inspect_file(path, *, sr: int | None = None) -> FileReport:
    """Describe one file and say whether :func:`load` can use it; never raises for a bad file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    sr : int or None
        Decode at this rate; None (default) keeps the file's own rate, so that peak and
        clipping are those of the file, not of a resampler.

    Returns
    -------
    report : FileReport
        Format, rate, bit depth, channels, duration, peak, share of silence, share of clipped
        samples, and ``status``: ``"OK"`` or the problem (the reason :func:`load` would give).
        Fields that could not be measured are None.

    Raises
    ------
    DecoderNotFoundError
        ffmpeg/ffprobe are not installed (a problem with the machine, not the file).
    ParameterError
        ``sr`` is not a positive integer or None.
    """
    check_optional_int("sample rate", sr)
    path = Path(path)
    report = FileReport(path=path)
    try:
        info = probe(path)
        report.format, report.codec = info.format, info.codec
        report.sample_rate, report.channels = info.sample_rate, info.channels
        report.bit_depth, report.duration = info.bit_depth, info.duration
        threshold = CLIP_THRESHOLD
        if info.bit_depth and info.bit_depth < 11:
            threshold = min(threshold, 1.0 - 2.0 ** (1 - info.bit_depth))
        dec = decode(path, sr=sr, clip_threshold=threshold)
        x = dec.mono
        if x.size:
            report.duration = x.size / dec.sample_rate
            report.peak = dec.peak
            report.clipped = dec.n_clipped / dec.n_channel_samples
            block = max(1, round(SILENCE_BLOCK_SECONDS * dec.sample_rate))
            block_peaks = np.maximum.reduceat(np.abs(x), np.arange(0, x.size, block))
            report.silence = float(np.count_nonzero(block_peaks < SILENCE_THRESHOLD)) / block_peaks.size
        check_decoded(path, dec, strict=True)
    except AudioError as exc:
        report.status, report.error = exc.reason, type(exc).__name__
    return report

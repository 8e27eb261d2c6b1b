"""Writing audio: :func:`save`, a 16-bit PCM WAV file, atomically (:mod:`gruvsynth.fileio`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gruvsynth import defaults
from gruvsynth.checks import check_int
from gruvsynth.errors import ParameterError
from gruvsynth.fileio import atomic_path

__all__ = ["save"]

log = logging.getLogger("gruvsynth.audio")


def save(path, audio: np.ndarray, *, sr: int = defaults.SR) -> int:
    """Write mono audio as a 16-bit PCM WAV file, atomically.

    Samples outside [-1, 1] are clipped (never wrapped around, as the original GRUV code did),
    then scaled by 32767 and rounded, so full scale is +-32767.  The file is written under a
    temporary name in the same folder and renamed into place, so ``path`` is never left
    half-written.  Missing parent folders are created.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten if it exists).
    audio : np.ndarray [shape=(n,)]
        Floating-point samples, full scale 1.0.
    sr : int
        Sample rate written in the header.

    Returns
    -------
    n_clipped : int
        Number of samples outside [-1, 1]; a warning is logged when it is not 0.

    Raises
    ------
    ParameterError
        ``audio`` is not a 1-D floating-point array, has NaN/infinite values, or ``sr`` is not
        a positive integer.
    """
    import scipy.io.wavfile

    check_int("sample rate", sr)
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ParameterError(f"audio must be 1-D (mono), not of shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"audio must be floating point with full scale 1.0, not {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"audio has {int(np.count_nonzero(~np.isfinite(x)))} NaN/infinite samples")
    path = Path(path)
    n_clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    if n_clipped:
        log.warning("%s: clipped %d of %d samples outside [-1, 1]", path, n_clipped, x.size)
    data = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        scipy.io.wavfile.write(fh, int(sr), data)
    return n_clipped

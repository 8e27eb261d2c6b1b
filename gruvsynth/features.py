"""Audio blocks ⇄ FFT feature vectors (both directions in one module, round-trip tested).

The paper (§ Model Representation) cuts the mono 44.1 kHz waveform into blocks of ``N``
samples, takes the DFT of each block and concatenates the vector of real parts and the
vector of imaginary parts, giving a ``2N``-wide feature vector per block.  With
``N = 11025`` (a quarter of a second) that is ``D = 22050``.

Two representations are available:

``"fft"`` (faithful default)
    ``concat(Re(FFT(x)), Im(FFT(x)))`` of the full, two-sided FFT, ``D = 2N``.  The inverse
    takes the real part of the inverse FFT, as the paper's code did, because a predicted
    vector need not be Hermitian-symmetric.
``"rfft"`` (compact)
    The same for the one-sided FFT of real input, ``D = 2 (N // 2 + 1)``.  Lossless for real
    audio and half as wide, so the model's first and last dense layers are half the size.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from gruvsynth import defaults
from gruvsynth.errors import ParameterError

__all__ = [
    "BLOCK",
    "REPRESENTATIONS",
    "feature_size",
    "block_size",
    "to_blocks",
    "from_blocks",
    "to_features",
    "to_audio",
    "magnitudes",
    "bin_frequencies",
]

#: Samples per block: a quarter of a second at 44.1 kHz (the paper; ``freq / 4`` in its code).
BLOCK = defaults.BLOCK

#: The feature representations :func:`to_features` knows.
REPRESENTATIONS = ("fft", "rfft")


def _check_representation(representation: str) -> None:
    if representation not in REPRESENTATIONS:
        raise ParameterError(
            f"unknown representation {representation!r}; expected one of {', '.join(REPRESENTATIONS)}"
        )


def _check_block(block: int) -> int:
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 2:
        raise ParameterError(f"block must be an integer >= 2 samples, got {block!r}")
    return int(block)


def feature_size(block: int = BLOCK, representation: str = "fft") -> int:
    """Width ``D`` of one feature vector.

    Parameters
    ----------
    block : int
        Samples per block ``N``.
    representation : {"fft", "rfft"}
        Feature representation.

    Returns
    -------
    int
        ``2 N`` for ``"fft"``, ``2 (N // 2 + 1)`` for ``"rfft"``.
    """
    _check_representation(representation)
    block = _check_block(block)
    return 2 * block if representation == "fft" else 2 * (block // 2 + 1)


def block_size(features: int, representation: str = "fft", *, odd: bool = True) -> int:
    """Block length ``N`` that gives feature width ``features`` (inverse of :func:`feature_size`).

    Parameters
    ----------
    features : int
        Feature width ``D`` (even).
    representation : {"fft", "rfft"}
        Feature representation.
    odd : bool
        For ``"rfft"`` the width does not say whether ``N`` was odd or even
        (``N = 11025`` and ``N = 11024`` both give ``D = 11026``); ``odd=True`` (the paper's
        ``N``) picks the odd one.

    Returns
    -------
    int
        The block length ``N``.
    """
    _check_representation(representation)
    if features < 4 or features % 2:
        raise ParameterError(f"feature width must be an even integer >= 4, got {features!r}")
    half = features // 2
    if representation == "fft":
        return half
    return 2 * half - 1 if odd else 2 * (half - 1)


def to_blocks(audio: np.ndarray, *, block: int = BLOCK) -> np.ndarray:
    """Cut a mono waveform into consecutive blocks, zero-padding the last one.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono waveform.
    block : int
        Samples per block ``N``.

    Returns
    -------
    np.ndarray [shape=(ceil(n_samples / N), N), dtype=float32]
        The blocks; the last is padded with zeros (as the paper's code did).
    """
    block = _check_block(block)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ParameterError(f"audio must be one-dimensional (mono), got shape {audio.shape}")
    n_blocks = -(-audio.shape[0] // block)
    padded = np.zeros(n_blocks * block, dtype=np.float32)
    padded[: audio.shape[0]] = audio
    return padded.reshape(n_blocks, block)


def from_blocks(blocks: np.ndarray) -> np.ndarray:
    """Concatenate blocks back into one waveform (inverse of :func:`to_blocks`, padding kept).

    Parameters
    ----------
    blocks : np.ndarray [shape=(n_blocks, N)]

    Returns
    -------
    np.ndarray [shape=(n_blocks * N,), dtype=float32]
    """
    blocks = np.asarray(blocks, dtype=np.float32)
    if blocks.ndim != 2:
        raise ParameterError(f"blocks must have shape (n_blocks, N), got {blocks.shape}")
    return blocks.reshape(-1)


def to_features(
    audio: np.ndarray, *, block: int = BLOCK, representation: str = "fft"
) -> np.ndarray:
    """Turn a mono waveform into one feature vector per block.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono waveform, typically float32 in [-1, 1].
    block : int
        Samples per block ``N`` (default 11,025 = 0.25 s at 44.1 kHz).
    representation : {"fft", "rfft"}
        ``"fft"``: real and imaginary parts of the full FFT, ``D = 2N`` (the paper).
        ``"rfft"``: of the one-sided FFT, ``D = 2 (N // 2 + 1)``.

    Returns
    -------
    np.ndarray [shape=(n_blocks, D), dtype=float32]
        One row per block, ``[real parts | imaginary parts]``.

    See Also
    --------
    to_audio : the inverse.
    """
    _check_representation(representation)
    blocks = to_blocks(audio, block=block)
    if representation == "fft":
        spectrum = scipy.fft.fft(blocks, axis=1)
    else:
        spectrum = scipy.fft.rfft(blocks, axis=1)
    return np.concatenate([spectrum.real, spectrum.imag], axis=1).astype(np.float32, copy=False)


def _complex(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[1] < 4 or features.shape[1] % 2:
        raise ParameterError(
            f"features must have shape (n_blocks, D) with D even and >= 4, got {features.shape}"
        )
    half = features.shape[1] // 2
    real = features[:, :half].astype(np.float64)
    imag = features[:, half:].astype(np.float64)
    return real + 1j * imag


def to_audio(
    features: np.ndarray, *, representation: str = "fft", block: int | None = None
) -> np.ndarray:
    """Turn feature vectors back into a waveform (inverse of :func:`to_features`).

    Parameters
    ----------
    features : np.ndarray [shape=(n_blocks, D)]
        ``[real parts | imaginary parts]`` per block, e.g. a model's de-normalised predictions.
    representation : {"fft", "rfft"}
        The representation the features are in.
    block : int, optional
        Samples per block ``N``.  Needed only for ``"rfft"`` with an even ``N`` (the width
        of an ``"rfft"`` vector cannot tell ``N = 2k`` from ``N = 2k + 1``; the default
        assumes odd, like the paper's 11,025).  For ``"fft"`` it must equal ``D / 2``.

    Returns
    -------
    np.ndarray [shape=(n_blocks * N,), dtype=float32]
        The waveform.  For ``"fft"`` the real part of the inverse FFT is taken explicitly:
        a predicted vector need not be Hermitian, and its imaginary residue is discarded,
        as in the paper's code.  Not clipped; :func:`gruvsynth.audio.save` clips.
    """
    _check_representation(representation)
    spectrum = _complex(features)
    n = block_size(spectrum.shape[1] * 2, representation)
    if block is not None:
        block = _check_block(block)
        if feature_size(block, representation) != spectrum.shape[1] * 2:
            raise ParameterError(
                f"block {block} does not match feature width {spectrum.shape[1] * 2} "
                f"for representation {representation!r}"
            )
        n = block
    if representation == "fft":
        blocks = scipy.fft.ifft(spectrum, axis=1).real
    else:
        blocks = scipy.fft.irfft(spectrum, n=n, axis=1)
    return blocks.astype(np.float32).reshape(-1)


def magnitudes(features: np.ndarray, *, representation: str = "fft") -> np.ndarray:
    """Magnitude spectrum ``|X_k|`` of each feature vector, non-negative frequencies only.

    Parameters
    ----------
    features : np.ndarray [shape=(..., D)]
    representation : {"fft", "rfft"}

    Returns
    -------
    np.ndarray [shape=(..., N // 2 + 1), dtype=float32]
        Magnitudes of bins ``0 … N // 2`` (for ``"fft"`` the mirrored half is dropped).
    """
    _check_representation(representation)
    features = np.asarray(features, dtype=np.float32)
    half = features.shape[-1] // 2
    mag = np.hypot(features[..., :half], features[..., half:])
    if representation == "fft":
        mag = mag[..., : half // 2 + 1]
    return mag.astype(np.float32, copy=False)


def bin_frequencies(block: int = BLOCK, *, sr: int = defaults.SR) -> np.ndarray:
    """Frequencies in Hz of the bins returned by :func:`magnitudes`.

    Parameters
    ----------
    block : int
        Samples per block ``N``.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    np.ndarray [shape=(N // 2 + 1,)]
    """
    block = _check_block(block)
    return np.arange(block // 2 + 1) * (sr / block)

"""Audio and spectrum metrics (pure numpy): spectral flatness, energy outside a band, the
log-spectral distance to a mean spectrum, RMS, the clipped share, and all of them at once
(:func:`audio_metrics`, with the noise-likeness verdict of :mod:`gruvsynth.noise` when a
calibration is given).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from gruvsynth import defaults, noise
from gruvsynth import features as feats
from gruvsynth.errors import ParameterError

__all__ = [
    "BAND", "FLATNESS_FRAME", "FLATNESS_SEGMENT", "check_audio", "spectral_flatness",
    "energy_outside_band", "mean_spectrum", "log_spectral_distance", "rms", "clipped_share",
    "audio_metrics",
]

#: The band the paper's LSTM concentrated its energy in (Hz); its GRU had "far greater
#: activations outside of the band range of 4000 - 7000".
BAND = defaults.BAND
#: Frame of :func:`spectral_flatness` for audio: one block of 0.25 s at 44.1 kHz.
FLATNESS_FRAME = defaults.BLOCK
#: Welch segment within a frame (samples, Hann window, half overlap).
FLATNESS_SEGMENT = 1024


def check_audio(x, what: str = "audio") -> np.ndarray:
    """``x`` as one-dimensional, non-empty, finite float64 samples.

    Raises
    ------
    ParameterError
        ``x`` is not that; the message names ``what``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"{what} must be one-dimensional (mono samples), got shape {x.shape}")
    if x.size == 0:
        raise ParameterError(f"{what} is empty")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{what} contains NaN or infinite values")
    return x


def _flatness_rows(power: np.ndarray, amin: float) -> float:
    """Mean over rows of geometric / arithmetic mean, rows of zero power skipped."""
    peak = power.max(axis=-1)
    keep = peak > 0
    if not np.any(keep):
        return float("nan")
    p = power[keep]
    p = np.maximum(p, amin * peak[keep][:, None])
    geometric = np.exp(np.mean(np.log(p), axis=-1))
    arithmetic = np.mean(p, axis=-1)
    return float(np.mean(geometric / arithmetic))


def spectral_flatness(
    x: np.ndarray,
    *,
    frame: int = FLATNESS_FRAME,
    segment: int = FLATNESS_SEGMENT,
    amin: float = 1e-10,
) -> float:
    """Spectral flatness: geometric over arithmetic mean of the power spectrum, frame-averaged.

    1 for a flat (white-noise) spectrum, near 0 for a few tones.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples,) or (n_frames, n_bins)]
        Mono audio, or magnitude spectra (one row per frame, e.g. from
        :func:`gruvsynth.features.magnitudes`).
    frame : int
        Audio only: samples per frame (default one 0.25 s block).  A last, shorter frame is
        dropped unless it is the only one.
    segment : int
        Audio only: each frame's power spectrum is a Welch estimate (Hann segments of this
        many samples, half overlap, averaged).  A single periodogram of white noise is
        exponentially distributed per bin and its flatness is ``exp(-γ) ≈ 0.56``, not 1;
        averaging ~20 segments per 0.25 s frame brings it to about 0.97.  The DC and Nyquist
        bins are left out.  Magnitude rows are used as they are (so a single FFT of noise
        gives about 0.56).
    amin : float
        Floor, relative to each frame's peak power, so that exact zeros do not give
        ``log(0)``: a pure tone gives about ``amin``-level flatness rather than 0.

    Returns
    -------
    flatness : float
        In (0, 1]; NaN if every frame is silent (silent frames are skipped).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        if x.shape[1] < 2 or not np.all(np.isfinite(x)):
            raise ParameterError(f"magnitudes must be finite with >= 2 bins, got shape {x.shape}")
        return _flatness_rows(x**2, amin)
    x = check_audio(x)
    frame = int(frame)
    if x.size < frame:
        frames = x[None, :]
    else:
        n = x.size // frame
        frames = x[: n * frame].reshape(n, frame)
    nperseg = int(min(segment, frames.shape[1]))
    if nperseg < 4:
        raise ParameterError(f"audio too short for spectral flatness ({x.size} samples)")
    _, power = scipy.signal.welch(frames, nperseg=nperseg, noverlap=nperseg // 2,
                                  window="hann", detrend=False, axis=-1)
    return _flatness_rows(power[:, 1:-1], amin)


def _frequencies_for(x: np.ndarray, sr: int, freqs) -> tuple[np.ndarray, np.ndarray]:
    """Power per bin and each bin's frequency, for audio (freqs None) or magnitudes."""
    if freqs is None:
        x = check_audio(x)
        power = np.abs(np.fft.rfft(x)) ** 2
        return power, np.fft.rfftfreq(x.size, 1.0 / sr)
    mags = np.asarray(x, dtype=np.float64)
    freqs = np.asarray(freqs, dtype=np.float64)
    if mags.shape[-1] != freqs.shape[0]:
        raise ParameterError(
            f"magnitudes have {mags.shape[-1]} bins but freqs has {freqs.shape[0]} entries"
        )
    power = (mags**2).reshape(-1, freqs.shape[0]).sum(axis=0)
    return power, freqs


def energy_outside_band(
    x: np.ndarray,
    *,
    band: tuple[float, float] = BAND,
    sr: int = defaults.SR,
    freqs: np.ndarray | None = None,
) -> float:
    """Fraction of the spectral energy outside a frequency band.

    Parameters
    ----------
    x : np.ndarray [shape=(n_samples,) or (..., n_bins)]
        Mono audio (``freqs`` not given: the power spectrum of the whole signal is used), or
        magnitudes whose last axis are the bins at ``freqs`` (power summed over the other axes).
    band : (float, float)
        Lower and upper edge in Hz, inclusive (default the paper's 4–7 kHz).
    sr : int
        Sample rate of the audio in Hz.
    freqs : np.ndarray [shape=(n_bins,)], optional
        Bin frequencies when ``x`` holds magnitudes (e.g.
        :func:`gruvsynth.features.bin_frequencies`).

    Returns
    -------
    fraction : float
        Energy outside ``band`` / total energy, in [0, 1]; NaN for silence.
    """
    lo, hi = (float(b) for b in band)
    if not 0 <= lo < hi:
        raise ParameterError(f"band must be (low, high) with 0 <= low < high, got {band!r}")
    power, f = _frequencies_for(x, sr, freqs)
    total = power.sum()
    if total <= 0:
        return float("nan")
    inside = (f >= lo) & (f <= hi)
    return float(power[~inside].sum() / total)


def mean_spectrum(audio: np.ndarray, *, block: int = feats.BLOCK) -> np.ndarray:
    """Magnitude spectrum of each block of ``audio``, averaged over the blocks.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    block : int
        Samples per block (the corpus's ``N``); the last block is zero-padded.

    Returns
    -------
    np.ndarray [shape=(block // 2 + 1,)]
        The same bins as :func:`gruvsynth.features.magnitudes` and
        :func:`gruvsynth.features.bin_frequencies`.
    """
    x = check_audio(audio)
    f = feats.to_features(x.astype(np.float32), block=block, representation="rfft")
    return feats.magnitudes(f, representation="rfft").astype(np.float64).mean(axis=0)


def log_spectral_distance(
    audio: np.ndarray,
    reference: np.ndarray,
    *,
    block: int | None = None,
    floor_db: float = -100.0,
    match_level: bool = False,
) -> float:
    """Log-spectral distance (dB) between the mean spectrum of ``audio`` and a reference.

    ``sqrt(mean_k (20 log10(A_k / R_k))²)`` over the bins ``k``, where ``A`` is
    :func:`mean_spectrum` of ``audio`` and ``R`` the reference (e.g. the dev set's mean
    spectrum); both are floored at ``floor_db`` below the reference's peak.  By default level
    differences count: a copy of the reference played 6 dB softer is 6 dB away.  With
    ``match_level=True`` only the spectral *shape* counts: ``A`` is first scaled to the
    reference's energy, ``A · sqrt(Σ R² / Σ A²)`` (equal RMS), so the distance does not depend
    on the audio's level (the softer copy is 0 dB away).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    reference : np.ndarray [shape=(n_bins,)]
        Mean magnitude spectrum on the bins of blocks of ``block`` samples.
    block : int, optional
        Block size ``N``; default the odd ``N`` with ``N // 2 + 1 = n_bins`` (11,025 for the
        paper's 5,513 bins).
    floor_db : float
        Floor relative to the reference's peak.
    match_level : bool
        Match the audio's energy to the reference's before comparing (see above).

    Returns
    -------
    distance : float
        In dB (0 for identical spectra); NaN for silent audio with ``match_level``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 1 or ref.size < 2 or not np.all(np.isfinite(ref)) or np.any(ref < 0):
        raise ParameterError("reference must be a non-negative mean magnitude spectrum (n_bins,)")
    if block is None:
        block = 2 * (ref.size - 1) + 1
    if int(block) // 2 + 1 != ref.size:
        raise ParameterError(f"block {block} gives {int(block) // 2 + 1} bins, not {ref.size}")
    spec = mean_spectrum(audio, block=int(block))
    peak = ref.max()
    if peak <= 0:
        raise ParameterError("reference spectrum is all zeros")
    if match_level:
        energy = float(np.sum(spec**2))
        if energy <= 0:
            return float("nan")
        spec = spec * math.sqrt(float(np.sum(ref**2)) / energy)
    floor = peak * 10 ** (floor_db / 20)
    diff = 20 * np.log10(np.maximum(spec, floor) / np.maximum(ref, floor))
    return float(np.sqrt(np.mean(diff**2)))


def rms(audio: np.ndarray) -> float:
    """Root-mean-square level of ``audio`` (1 is full scale for a square wave).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]

    Returns
    -------
    float
    """
    x = check_audio(audio)
    return float(np.sqrt(np.mean(x**2)))


def clipped_share(audio: np.ndarray, *, limit: float = 1.0) -> float:
    """Share of samples beyond full scale, which :func:`gruvsynth.audio.save` clips.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Unclipped audio (e.g. :attr:`GenerationResult.audio`).
    limit : float
        Full scale.

    Returns
    -------
    share : float
        In [0, 1].
    """
    x = check_audio(audio)
    return float(np.mean(np.abs(x) > limit))


def audio_metrics(
    audio: np.ndarray,
    *,
    sr: int = defaults.SR,
    band: tuple[float, float] = BAND,
    reference: np.ndarray | None = None,
    block: int | None = None,
    calibration: dict | None = None,
) -> dict:
    """Every audio metric of one waveform.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    sr : int
    band : (float, float)
    reference : np.ndarray [shape=(n_bins,)], optional
        Mean spectrum for :func:`log_spectral_distance` (left out when ``None``).
    block : int, optional
        Block size for the distance.
    calibration : dict, optional
        A corpus's noise calibration (:func:`gruvsynth.noise.calibrate`): with it, the
        noise-likeness verdict (:func:`gruvsynth.noise.noise_verdict`) is added.

    Returns
    -------
    dict
        ``spectral_flatness``, ``outside_band``, ``rms``, ``clipped_share``; with a reference
        ``log_spectral_distance_db`` (level included) and ``shape_distance_db`` (level
        matched, ``match_level=True``); with a calibration ``noise_distance``, ``rms_dbfs``,
        ``noise_like`` (True, False or None) and ``noise_verdict`` (the verdict's words).
    """
    out = {
        "spectral_flatness": spectral_flatness(audio),
        "outside_band": energy_outside_band(audio, band=band, sr=sr),
        "rms": rms(audio),
        "clipped_share": clipped_share(audio),
    }
    if reference is not None:
        out["log_spectral_distance_db"] = log_spectral_distance(audio, reference, block=block)
        out["shape_distance_db"] = log_spectral_distance(audio, reference, block=block,
                                                         match_level=True)
    if calibration is not None:
        verdict = noise.noise_verdict(audio, calibration, sr=sr)
        out.update({"noise_distance": verdict["noise_distance"],
                    "rms_dbfs": verdict["rms_dbfs"], "noise_like": verdict["noise_like"],
                    "noise_verdict": verdict["verdict"]})
    return out

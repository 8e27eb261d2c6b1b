"""Noise-likeness of audio, calibrated on anchors made from each corpus.

The paper heard its GRU's output as "primarily white noise".  A failed model of this kind does
not make *white* noise: its normalised outputs are de-normalised with each bin's mean and
standard deviation, so what it makes is **corpus-shaped noise**, whose long-term spectrum is the
music's.  Plain spectral flatness cannot tell that from music (measured on warzone2100: 0.006
against the dev music's 0.005; white noise 0.97).  This module measures something that
does not depend on the spectrum's shape or level, and checks it on anchors with a known
answer before it judges anything.

The measure: :func:`noise_distance`
-----------------------------------
Cut the audio into frames of 2,048 samples (46 ms at 44.1 kHz; periodic Hann window, no
overlap) and take each frame's power spectrum ``P[t, k]`` (bins from 40 Hz to 16 kHz).  For two
frames ``lag`` frames apart, each bin gives the **normalised power difference**

    ``v = |P[t, k] - P[t + lag, k]| / (P[t, k] + P[t + lag, k])``  in [0, 1],

weighted by the pair's amplitude ``w = sqrt(P[t, k] + P[t + lag, k])``.

For stationary Gaussian noise of *any* spectrum and level, ``P[t, k]`` and ``P[t + lag, k]``
are independent exponential variables with the same mean, so ``v`` is **uniform on [0, 1]**
and independent of their sum, hence of ``w``: the weighted distribution of ``v`` is uniform
whatever the noise's colour.  (Any weight that is a function of the sum would do; the
amplitude lets the loud bins count, as the ear does, without letting a few bass bins decide
alone, which the energy would: measured, weighting by energy gives corpus-shaped noise a
2–4 times higher estimation floor.)  Music departs from it in both directions: held tones change little between frames
(``v`` near 0), onsets, beats and rests change a lot (``v`` near 1).  The score is the
Wasserstein-1 distance between the weighted distribution of ``v`` and the uniform one,
``∫₀¹ |F(x) − x| dx``, summed over the lags of 2, 4, 8 and 16 frames (93 ms to 0.74 s):

* 0 for noise in theory; a measured white noise of 10 s gives about 0.002 (estimation error);
  corpus-shaped noise a little more (its 0.25 s blocks hold each FFT bin's random draw for the
  whole block, so frames within one block are slightly alike);
* a steady chord about 1.8 (each lag at most 0.5);
* music in between, 0.05–1 (see ``docs/evaluation.rst`` for the measured anchors).

Because ``v`` is a ratio, the score does not depend on the level.  Summing several lags keeps
music whose tonal stability at one time scale and dynamics at another happen to mimic a uniform
``v`` from looking like noise.

Calibration: :func:`calibrate`
------------------------------
Anchors made for each corpus from its dev clips and statistics (seeded), each scored clip by
clip (10 s clips; an anchor's score is the median over its clips):

``music``
    the corpus's dev audio (not noise-like);
``corpus_noise``
    blocks whose features are ``mean + std × z``, ``z`` independent standard-normal draws per
    feature and block, inverted to audio with :func:`gruvsynth.features.to_audio`: the
    corpus's statistics without its music (noise-like);
``white_noise``
    Gaussian white noise at the dev audio's RMS (noise-like);
``chord``
    a synthetic A major chord (220, 277.18, 329.63 Hz, four harmonics each) at the same RMS
    (not noise-like).

Reported, not pass/fail: ``phase_randomised`` (the dev audio with each block's FFT phases
drawn at random: its tones are kept, its transients turn into noise) and ``near_silence`` (a
dev clip at −80 dBFS, rounded to 16-bit steps: "too quiet to judge").

**The rule** (:func:`is_noise_like`): with ``m`` the music anchor's score and ``n`` the higher of
the two noise anchors' scores, audio whose score ``s`` is nearer, on a log scale, to the noise
anchors than to the music anchor is noise-like: ``|log s − log n| < |log s − log m|``, which for
``n < m`` is ``s < threshold = sqrt(m · n)``, the geometric mean.  (A log scale because the
noise anchors' scores are small estimation errors, 0 in theory, while structured audio spans
0.05–2.)  The calibration *separates* the anchors when music and the chord are above the
threshold and both noises below it; a corpus whose anchors are not separated gets no verdict.
Audio whose RMS is below :data:`QUIET_DBFS` (−60 dBFS) is **too quiet to judge**: the score does
not depend on level, but at such levels a file's dither and quantisation noise (−101 dBFS for
16-bit) start to count, and a listener hears little.  Margins are the factors by which each
pass/fail anchor lies on its side of the threshold (``m / threshold``, ``threshold / n``,
...; above 1 means on the right side).
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.signal

from gruvsynth import defaults
from gruvsynth import features as feats
from gruvsynth.errors import CorpusError, ParameterError

__all__ = [
    "NOISE_FRAME",
    "NOISE_LAGS",
    "NOISE_BAND",
    "QUIET_DBFS",
    "SILENCE_ANCHOR_DBFS",
    "CALIBRATION_CLIPS",
    "CHORD",
    "NOISE_LIKE",
    "NOT_NOISE_LIKE",
    "TOO_QUIET",
    "TOO_SHORT",
    "UNCALIBRATED",
    "PASS_FAIL_ANCHORS",
    "NOISE_ANCHORS",
    "REPORTED_ANCHORS",
    "NOISE_RULE",
    "rms_dbfs",
    "noise_distance",
    "corpus_shaped_noise",
    "phase_randomised",
    "synthetic_chord",
    "make_anchors",
    "calibrate",
    "calibration_from_scores",
    "is_noise_like",
    "noise_verdict",
    "format_calibration",
]

#: Frame of :func:`noise_distance` in samples (46 ms at 44.1 kHz); frames do not overlap.
NOISE_FRAME = 2048
#: Lags between the compared frames, in frames (93 ms, 186 ms, 0.37 s, 0.74 s at 44.1 kHz).
NOISE_LAGS = (2, 4, 8, 16)
#: Bins used (Hz): above the DC region, below lossy codecs' cut-offs.
NOISE_BAND = (40.0, 16000.0)
#: Resolution of the distribution of ``v`` (histogram bins on [0, 1]).
_V_BINS = 1000
#: Audio quieter than this (RMS, dB re. full scale) is too quiet to judge.
QUIET_DBFS = -60.0
#: Level of the near-silence anchor (RMS, dBFS).
SILENCE_ANCHOR_DBFS = -80.0
#: Dev clips used for the calibration at most (evenly spread over the dev clips).
CALIBRATION_CLIPS = 24
#: The chord anchor: A major (Hz), each note with harmonics 1..4 at amplitudes 1/h.
CHORD = (220.0, 277.18, 329.63)
_CHORD_HARMONICS = 4

#: Verdicts.
NOISE_LIKE = "noise-like"
NOT_NOISE_LIKE = "not noise-like"
TOO_QUIET = "too quiet to judge"
TOO_SHORT = "too short to judge"
UNCALIBRATED = "not judged (the calibration did not separate its anchors)"

#: Anchors with a known answer (pass/fail), the noise ones among them, and the reported ones.
PASS_FAIL_ANCHORS = ("music", "corpus_noise", "white_noise", "chord")
NOISE_ANCHORS = ("corpus_noise", "white_noise")
REPORTED_ANCHORS = ("phase_randomised", "near_silence")

#: The rule in words (used in the docs and the claim's rule text).
NOISE_RULE = (
    "Noise distance: the Wasserstein distance between the amplitude-weighted distribution of "
    "each bin's normalised power difference |P1 - P2| / (P1 + P2) between two 46 ms frames "
    f"and the uniform distribution that stationary Gaussian noise of any spectrum gives, "
    f"summed over lags of {', '.join(str(g) for g in NOISE_LAGS)} frames "
    f"(0 for noise, about 1.8 for a steady chord; independent of level). Audio is noise-like "
    "when its distance is nearer, on a log scale, to the noise anchors (corpus-shaped noise "
    "and white noise) than to the music anchor (the corpus's dev audio): below the threshold "
    "sqrt(music score × the higher noise score); too quiet to judge below "
    f"{QUIET_DBFS:g} dBFS RMS; not judged when the calibration does not put the music and a "
    "synthetic chord above the threshold and both noises below it."
)


def _audio(x, what: str = "audio") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"{what} must be one-dimensional (mono samples), got shape {x.shape}")
    if x.size == 0:
        raise ParameterError(f"{what} is empty")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"{what} contains NaN or infinite values")
    return x


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level in dB re. full scale (a full-scale sine is −3.01 dBFS).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]

    Returns
    -------
    float
        ``20 log10(RMS)``; ``-inf`` for digital silence.
    """
    x = _audio(audio)
    level = float(np.sqrt(np.mean(x**2)))
    return 20 * math.log10(level) if level > 0 else float("-inf")


def _frame_power(x: np.ndarray, frame: int, sr: int, band) -> np.ndarray:
    n = x.size // frame
    frames = x[: n * frame].reshape(n, frame) * scipy.signal.get_window("hann", frame)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(frame, 1.0 / sr)
    lo, hi = float(band[0]), min(float(band[1]), 0.49 * sr)
    return power[:, (f >= lo) & (f <= hi)]


def _uniform_distance(v: np.ndarray, w: np.ndarray) -> float:
    """``∫₀¹ |F(x) − x| dx`` for the ``w``-weighted distribution ``F`` of ``v`` in [0, 1]."""
    total = w.sum()
    if not total > 0:
        return float("nan")
    idx = np.minimum((v * _V_BINS).astype(np.int64), _V_BINS - 1)
    cdf = np.cumsum(np.bincount(idx, weights=w, minlength=_V_BINS)) / total
    edges = np.arange(1, _V_BINS + 1) / _V_BINS
    return float(np.mean(np.abs(cdf - edges)))


def noise_distance(
    audio: np.ndarray,
    *,
    sr: int = defaults.SR,
    frame: int = NOISE_FRAME,
    lags: tuple[int, ...] = NOISE_LAGS,
    band: tuple[float, float] = NOISE_BAND,
) -> float:
    """How far audio is from stationary Gaussian noise: 0 for noise of any colour and level.

    See the module docstring for the definition.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
        Mono audio (at least ``2 * max(lags)`` frames: 1.5 s with the defaults).
    sr : int
        Sample rate in Hz (for the band).
    frame : int
        Samples per frame (no overlap, periodic Hann window).
    lags : tuple of int
        Lags between compared frames, in frames; the distances are summed.
    band : (float, float)
        Bins used (Hz); the upper edge is kept below the Nyquist frequency.

    Returns
    -------
    distance : float
        Sum over ``lags`` of the Wasserstein-1 distance (each in [0, 0.5]) between the
        distribution of ``|P1 - P2| / (P1 + P2)`` weighted by ``sqrt(P1 + P2)`` and the
        uniform one;
        NaN for digital silence.

    Raises
    ------
    ParameterError
        The audio is too short, not 1-D, or not finite; bad ``frame`` or ``lags``.
    """
    x = _audio(audio)
    frame = int(frame)
    lags = tuple(int(g) for g in lags)
    if frame < 16 or not lags or min(lags) < 1:
        raise ParameterError(f"frame must be >= 16 samples and lags >= 1 frame, got {frame}, "
                             f"{lags}")
    need = 2 * max(lags) * frame
    if x.size < need:
        raise ParameterError(f"audio of {x.size / sr:.2f} s is too short for the noise "
                             f"distance (needs at least {need / sr:.2f} s)")
    power = _frame_power(x, frame, int(sr), band)
    if power.shape[1] == 0:
        raise ParameterError(f"no frequency bins in {band} Hz at {sr} Hz")
    total = 0.0
    for lag in lags:
        a, b = power[:-lag], power[lag:]
        w = (a + b).ravel()
        keep = w > 0
        if not np.any(keep):
            return float("nan")
        v = np.abs(a - b).ravel()[keep] / w[keep]
        total += _uniform_distance(v, np.sqrt(w[keep]))
    return float(total)


# --------------------------------------------------------------------------------------------
# The anchors
# --------------------------------------------------------------------------------------------


def corpus_shaped_noise(mean: np.ndarray, std: np.ndarray, n_blocks: int, *,
                        representation: str, block: int, rng: np.random.Generator) -> np.ndarray:
    """Noise with a corpus's statistics and none of its music.

    Each block's features are ``mean + std × z``, ``z`` independent standard-normal draws per
    feature and block, inverted with :func:`gruvsynth.features.to_audio`: what a model whose
    normalised outputs are pure noise makes after de-normalisation.

    Parameters
    ----------
    mean, std : np.ndarray [shape=(D,)]
        The corpus's per-feature statistics (:attr:`gruvsynth.corpus.Corpus.mean`, ``std``).
    n_blocks : int
        Blocks to make.
    representation : {"fft", "rfft"}
    block : int
        Samples per block ``N``.
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [shape=(n_blocks * block,), dtype=float32]
    """
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    z = rng.standard_normal((int(n_blocks), mean.shape[0])).astype(np.float32)
    return feats.to_audio(mean + std * z, representation=representation, block=block)


def phase_randomised(audio: np.ndarray, *, block: int = feats.BLOCK,
                     rng: np.random.Generator) -> np.ndarray:
    """The same audio with each block's FFT phases drawn uniformly at random.

    Keeps each block's magnitude spectrum (its tones); turns its transients into noise.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    block : int
        Samples per block (the last block is zero-padded).
    rng : np.random.Generator

    Returns
    -------
    np.ndarray [shape=(n_blocks * block,), dtype=float32]
    """
    f = feats.to_features(_audio(audio).astype(np.float32), block=block, representation="rfft")
    half = f.shape[1] // 2
    mag = np.hypot(f[:, :half], f[:, half:])
    phase = rng.uniform(0.0, 2 * np.pi, mag.shape)
    phase[:, 0] = 0.0
    out = np.concatenate([mag * np.cos(phase), mag * np.sin(phase)], axis=1)
    return feats.to_audio(out.astype(np.float32), representation="rfft", block=block)


def synthetic_chord(seconds: float, *, sr: int = defaults.SR, rms: float = 0.1,
                    notes: tuple[float, ...] = CHORD) -> np.ndarray:
    """A steady chord: each note with harmonics 1..4 at amplitudes ``1/h``, at a given RMS.

    Parameters
    ----------
    seconds : float
    sr : int
    rms : float
        RMS level of the result.
    notes : tuple of float
        Fundamentals in Hz (default :data:`CHORD`, A major).

    Returns
    -------
    np.ndarray [shape=(round(seconds * sr),), dtype=float32]
    """
    t = np.arange(int(round(seconds * sr))) / sr
    x = np.zeros_like(t)
    for f0 in notes:
        for h in range(1, _CHORD_HARMONICS + 1):
            if h * f0 < sr / 2:
                x += np.sin(2 * np.pi * h * f0 * t) / h
    level = np.sqrt(np.mean(x**2)) if x.size else 0.0
    return (x * (rms / level if level > 0 else 0.0)).astype(np.float32)


def _open(corpus):
    from gruvsynth.corpus import Corpus, open_corpus

    if isinstance(corpus, Corpus):
        return corpus, False
    if isinstance(corpus, (str, os.PathLike)):
        return open_corpus(corpus), True
    raise ParameterError(f"corpus must be a Corpus or a corpus folder, got {type(corpus).__name__}")


def make_anchors(corpus, *, seed: int = 0, clips: int = CALIBRATION_CLIPS) -> dict:
    """The calibration anchors of a corpus, one waveform per dev clip (seeded).

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus or str or os.PathLike
        An open corpus or its folder.
    seed : int
        Seed of every random draw (noise, phases).
    clips : int
        Dev clips used at most, evenly spread over the dev clips in corpus order.

    Returns
    -------
    anchors : dict
        ``music``, ``corpus_noise``, ``white_noise``, ``phase_randomised``: lists of
        float32 waveforms, one per dev clip used (clip length ``T × N`` samples); ``chord`` and
        ``near_silence``: lists of one waveform; ``sr``: the sample rate.

    Raises
    ------
    CorpusError
        The corpus has no dev clips.
    """
    corpus, opened = _open(corpus)
    try:
        inputs, _ = corpus.clips("dev")
        n = len(inputs)
        if n == 0:
            raise CorpusError(f"{corpus.path}: no dev clips to calibrate the noise measure on")
        clips = max(1, int(clips))
        index = np.unique(np.linspace(0, n - 1, min(n, clips)).round().astype(np.int64))
        rep, block, sr = corpus.representation, int(corpus.block), int(corpus.sr)
        rng = np.random.default_rng(seed)
        music = [feats.to_audio(corpus.denormalise(inputs[int(i)]), representation=rep,
                                block=block) for i in index]
        level = float(np.sqrt(np.mean(np.concatenate(music).astype(np.float64) ** 2)))
        blocks = int(corpus.clip_blocks)
        anchors = {
            "sr": sr,
            "music": music,
            "corpus_noise": [corpus_shaped_noise(corpus.mean, corpus.std, blocks,
                                                 representation=rep, block=block, rng=rng)
                             for _ in index],
            "white_noise": [(level * rng.standard_normal(m.size)).astype(np.float32)
                            for m in music],
            "chord": [synthetic_chord(music[0].size / sr, sr=sr, rms=level)],
            "phase_randomised": [phase_randomised(m, block=block, rng=rng) for m in music],
        }
        quiet = music[0].astype(np.float64)
        quiet_level = np.sqrt(np.mean(quiet**2))
        if quiet_level > 0:
            quiet = quiet * (10 ** (SILENCE_ANCHOR_DBFS / 20) / quiet_level)
        anchors["near_silence"] = [(np.round(quiet * 32767) / 32767).astype(np.float32)]
        return anchors
    finally:
        if opened:
            corpus.close()


def _rule(score: float, threshold, separated: bool) -> bool | None:
    if threshold is None or not separated or score is None or not math.isfinite(score):
        return None
    return bool(score < threshold)


def calibrate(corpus, *, seed: int = 0, clips: int = CALIBRATION_CLIPS) -> dict:
    """Build a corpus's anchors, score them, and derive the threshold and the margins.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus or str or os.PathLike
        An open corpus or its folder.
    seed : int
        Seed of the anchors (:func:`make_anchors`).
    clips : int
        Dev clips used at most.

    Returns
    -------
    calibration : dict
        JSON-ready:

        ``anchors``
            For each of :data:`PASS_FAIL_ANCHORS` and ``phase_randomised``: ``score`` (median
            of the clips' :func:`noise_distance`), ``min``, ``max``, ``clips``, ``expected``
            (pass/fail anchors: ``"noise-like"`` or ``"not noise-like"``), ``verdict`` and
            ``noise_like``; ``music`` also ``noise_like_clips`` (how many dev clips alone
            would be called noise-like); ``near_silence``: :func:`noise_verdict`'s
            ``rms_dbfs``, ``noise_distance``, ``verdict`` (``"too quiet to judge"``) and
            ``noise_like`` (None).
        ``threshold``
            ``sqrt(music score × max(corpus_noise, white_noise score))``, None when the music
            is not above both noises.
        ``margins``
            ``music`` and ``chord``: score / threshold; ``corpus_noise`` and
            ``white_noise``: threshold / score.  Above 1: on the right side.
        ``separated``
            True when every margin is above 1.

        Also ``quiet_dbfs``, ``seed``, ``clip_seconds``, ``frame``, ``lags``, ``band_hz``,
        ``sr``, ``measure`` (``"noise_distance"``) and ``rule`` (:data:`NOISE_RULE`); and
        ``reason`` when the corpus's clips are too short for the measure (then every score is
        NaN, the threshold None and nothing is judged).
    """
    corpus, opened = _open(corpus)
    try:
        anchors = make_anchors(corpus, seed=seed, clips=clips)
        path = os.fspath(corpus.path)
    finally:
        if opened:
            corpus.close()
    sr = anchors["sr"]
    names = (*PASS_FAIL_ANCHORS, "phase_randomised")
    need = 2 * max(NOISE_LAGS) * NOISE_FRAME
    short = anchors["music"][0].size < need
    if short:  # clips shorter than the measure needs: no scores, no threshold, no verdicts
        scores = {name: [float("nan")] for name in names}
    else:
        scores = {name: [noise_distance(x, sr=sr) for x in anchors[name]] for name in names}
    out = calibration_from_scores(scores, corpus=path, seed=seed,
                                  clip_seconds=anchors["music"][0].size / sr, sr=sr)
    if short:
        out["reason"] = (f"dev clips of {anchors['music'][0].size / sr:.2f} s are shorter than "
                         f"the noise distance needs ({need / sr:.2f} s)")
    out["anchors"]["near_silence"] = noise_verdict(anchors["near_silence"][0], out, sr=sr)
    return out


def calibration_from_scores(scores: dict, *, corpus: str | None = None, seed: int | None = None,
                            clip_seconds: float | None = None, sr: int = defaults.SR) -> dict:
    """The threshold, margins and anchors' verdicts from the anchors' scores.

    What :func:`calibrate` does once it has scored its anchors (also useful to judge with
    anchors scored elsewhere).

    Parameters
    ----------
    scores : dict
        Anchor name → list of :func:`noise_distance` values (one per clip); at least the
        :data:`PASS_FAIL_ANCHORS`.
    corpus : str, optional
    seed : int, optional
    clip_seconds : float, optional
    sr : int
        Recorded in the result.

    Returns
    -------
    calibration : dict
        As :func:`calibrate`'s, without ``near_silence`` and ``reason``.
    """
    missing = [name for name in PASS_FAIL_ANCHORS if not scores.get(name)]
    if missing:
        raise ParameterError(f"no scores for the anchors {', '.join(missing)}")
    med = {name: float(np.median(v)) for name, v in scores.items()}
    music, noisy = med["music"], max(med[n] for n in NOISE_ANCHORS)
    threshold = math.sqrt(music * noisy) if music > noisy > 0 else (
        0.5 * music if music > noisy else None)
    margins = {}
    if threshold:
        margins = {"music": music / threshold, "chord": med["chord"] / threshold,
                   **{n: (threshold / med[n] if med[n] > 0 else float("inf"))
                      for n in NOISE_ANCHORS}}
    separated = bool(margins) and all(m > 1 for m in margins.values())
    out = {"measure": "noise_distance", "corpus": corpus, "seed": seed,
           "clip_seconds": clip_seconds, "frame": NOISE_FRAME, "lags": list(NOISE_LAGS),
           "band_hz": list(NOISE_BAND), "sr": int(sr), "quiet_dbfs": QUIET_DBFS,
           "threshold": threshold, "margins": margins, "separated": separated, "anchors": {},
           "rule": NOISE_RULE}
    for name, values in scores.items():
        verdict = _rule(med[name], threshold, separated)
        entry = {"score": med[name], "min": float(np.min(values)), "max": float(np.max(values)),
                 "clips": len(values), "noise_like": verdict,
                 "verdict": UNCALIBRATED if verdict is None else
                 (NOISE_LIKE if verdict else NOT_NOISE_LIKE)}
        if name in PASS_FAIL_ANCHORS:
            entry["expected"] = NOISE_LIKE if name in NOISE_ANCHORS else NOT_NOISE_LIKE
        if name == "music" and threshold is not None:
            entry["noise_like_clips"] = int(sum(v < threshold for v in values))
        out["anchors"][name] = entry
    return out


def is_noise_like(score: float | None, calibration: dict) -> bool | None:
    """The calibrated rule: is a noise distance nearer the noise anchors than the music anchor?

    Parameters
    ----------
    score : float or None
        A :func:`noise_distance`.
    calibration : dict
        From :func:`calibrate`.

    Returns
    -------
    bool or None
        ``score < calibration["threshold"]``; None when the score is missing or NaN, or the
        calibration did not separate its anchors.
    """
    return _rule(score, calibration.get("threshold"), bool(calibration.get("separated")))


def noise_verdict(audio: np.ndarray, calibration: dict, *, sr: int = defaults.SR) -> dict:
    """Judge audio against a corpus's calibration.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    calibration : dict
        From :func:`calibrate`.
    sr : int
        Sample rate of ``audio``.

    Returns
    -------
    dict
        ``noise_distance`` (float; None when too short), ``rms_dbfs``, ``noise_like`` (True,
        False, or None when too quiet, too short or uncalibrated) and ``verdict``: one of
        :data:`NOISE_LIKE`, :data:`NOT_NOISE_LIKE`, :data:`TOO_QUIET`, :data:`TOO_SHORT`,
        :data:`UNCALIBRATED`.
    """
    level = rms_dbfs(audio)
    try:
        score = noise_distance(audio, sr=sr)
    except ParameterError as exc:
        if "too short" not in str(exc):
            raise
        return {"noise_distance": None, "rms_dbfs": level, "noise_like": None,
                "verdict": TOO_SHORT}
    quiet = float(calibration.get("quiet_dbfs", QUIET_DBFS))
    if not level >= quiet:
        return {"noise_distance": score, "rms_dbfs": level, "noise_like": None,
                "verdict": TOO_QUIET}
    verdict = is_noise_like(score, calibration)
    return {"noise_distance": score, "rms_dbfs": level, "noise_like": verdict,
            "verdict": UNCALIBRATED if verdict is None else
            (NOISE_LIKE if verdict else NOT_NOISE_LIKE)}


_LABELS = {"music": "dev music", "corpus_noise": "corpus-shaped noise",
           "white_noise": "white noise", "chord": "synthetic chord",
           "phase_randomised": "phase-randomised music", "near_silence": "near-silence"}


def format_calibration(calibration: dict) -> str:
    """The calibration as a few lines of text (anchors, threshold, margins).

    Parameters
    ----------
    calibration : dict
        From :func:`calibrate`.

    Returns
    -------
    str
    """
    def num(x, spec=".3g"):
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(
            x, spec)

    anchors = calibration.get("anchors") or {}
    margins = calibration.get("margins") or {}
    lines = [f"noise-likeness calibration ({calibration.get('corpus')}; seed "
             f"{calibration.get('seed')}, {anchors.get('music', {}).get('clips')} clips of "
             f"{num(calibration.get('clip_seconds'), '.3g')} s):",
             f"  {'anchor':24} {'distance':>9} {'clips min-max':>16} {'margin':>7}  verdict"]
    for name in (*PASS_FAIL_ANCHORS, *REPORTED_ANCHORS):
        a = anchors.get(name)
        if not a:
            continue
        if name == "near_silence":
            lines.append(f"  {_LABELS[name]:24} {num(a.get('noise_distance')):>9} "
                         f"{'':>16} {'':>7}  {a.get('verdict')} "
                         f"({num(a.get('rms_dbfs'), '.1f')} dBFS)")
            continue
        span = f"{num(a.get('min'))}-{num(a.get('max'))}"
        margin = f"x{num(margins[name], '.2f')}" if name in margins else ""
        expected = f" (expected {a['expected']})" if "expected" in a else " (reported only)"
        lines.append(f"  {_LABELS[name]:24} {num(a.get('score')):>9} {span:>16} {margin:>7}  "
                     f"{a.get('verdict')}{expected}")
    lines.append(f"  threshold {num(calibration.get('threshold'))} (geometric mean of the dev "
                 "music and the higher noise anchor); anchors "
                 + ("separated" if calibration.get("separated") else "NOT separated: no "
                    "verdicts"))
    if calibration.get("reason"):
        lines.append(f"  ({calibration['reason']})")
    return "\n".join(lines)

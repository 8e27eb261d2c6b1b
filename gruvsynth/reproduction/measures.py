"""The measures the claim rules use: smoothed final losses, the epoch a run starts to overfit,
replicates and their spread, out-of-band odds, white noise's flatness, and the learned gate.

These are plain functions of the results files' numbers (training histories, shares); the
rules that compare them live in :mod:`gruvsynth.reproduction.rules` and
:mod:`gruvsynth.reproduction.claims`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gruvsynth import defaults

__all__ = [
    "SMOOTH_FRACTION",
    "OVERFIT_RISE",
    "LEARN_MARGIN",
    "final_value",
    "overfit_epoch",
    "replicates",
    "finite_values",
    "finals",
    "mean_of",
    "separated",
    "log_odds",
    "white_noise_flatness",
    "learned",
    "relative_to_mean_predictor",
    "spearman",
]

#: Final losses are the mean over the last this share of the evaluated epochs (at least one).
SMOOTH_FRACTION = 0.1
#: C2: a run overfits when its final dev loss is above its lowest by more than this share.
OVERFIT_RISE = 0.02
#: Loss-based claims (C1, C2, C3, C7) are judged only on models that learned: a final training
#: loss at least this share below the best trivial predictor's training loss on the corpus.
LEARN_MARGIN = 0.10


def _finite(values) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    return a[np.isfinite(a)]


def final_value(history: Sequence[Mapping], key: str = "loss", *,
                fraction: float = SMOOTH_FRACTION) -> float | None:
    """A run's final loss, smoothed: the mean over the last ``fraction`` of the evaluated epochs.

    Parameters
    ----------
    history : sequence of dict
        Per epoch: ``epoch``, ``loss``, ``dev_loss`` (``None``/NaN where not evaluated).
    key : {"loss", "dev_loss"}
    fraction : float
        Share of the evaluated epochs averaged (at least one epoch).

    Returns
    -------
    float or None
        ``None`` without any finite value.
    """
    v = _finite(r.get(key) for r in history)
    if v.size == 0:
        return None
    k = max(1, math.ceil(fraction * v.size))
    return float(v[-k:].mean())


def overfit_epoch(history: Sequence[Mapping], *, rise: float = OVERFIT_RISE,
                  fraction: float = SMOOTH_FRACTION) -> int | None:
    """The epoch after which a run overfits: that of its lowest dev loss, if the dev loss rose.

    Parameters
    ----------
    history : sequence of dict
    rise : float
        The smoothed final dev loss must exceed the lowest by more than this share.
    fraction : float
        As for :func:`final_value`.

    Returns
    -------
    int or None
        The epoch of the lowest dev loss, or ``None`` when the dev loss did not rise (no
        overfitting within the run) or there is no dev loss.
    """
    rows = [(r["epoch"], r.get("dev_loss")) for r in history]
    rows = [(e, float(d)) for e, d in rows if d is not None and math.isfinite(float(d))]
    if not rows:
        return None
    best_epoch, best = min(rows, key=lambda t: t[1])
    final = final_value(history, "dev_loss", fraction=fraction)
    if final is None or not final > best * (1.0 + rise):
        return None
    return int(best_epoch)


def replicates(value) -> list:
    """The replicates' histories of a configuration: a single history (a list of epoch dicts)
    becomes a list of one; a list of histories is kept."""
    value = list(value or [])
    if not value or isinstance(value[0], Mapping):
        return [value] if value else []
    return [list(h or []) for h in value]


def finite_values(value) -> list[float]:
    """Finite numbers from a number or a sequence of numbers (replicates' final values).

    Parameters
    ----------
    value : float, sequence of float or None

    Returns
    -------
    list of float
        ``None``, NaN and infinities left out.
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    return [float(v) for v in items if v is not None and math.isfinite(float(v))]


def finals(histories, key: str) -> list[float]:
    """The final values (:func:`final_value`) of a configuration's replicates, finite ones only.

    Parameters
    ----------
    histories : list
        One history or a list of them (:func:`replicates`).
    key : {"loss", "dev_loss"}

    Returns
    -------
    list of float
    """
    return finite_values([final_value(h, key) for h in replicates(histories)])


def mean_of(values) -> float | None:
    """The mean of the finite values, or None without any."""
    values = finite_values(list(values))
    return float(np.mean(values)) if values else None


def separated(a: Sequence[float], b: Sequence[float]) -> str | None:
    """How two sets of replicate values compare beyond their spread.

    Parameters
    ----------
    a, b : sequence of float
        The final values of each configuration's seeds.

    Returns
    -------
    {"below", "above"} or None
        ``"below"`` when every value of ``a`` is below every value of ``b``, ``"above"``
        when every one is above, None when the ranges overlap or a side has no value.
    """
    a, b = finite_values(list(a)), finite_values(list(b))
    if not a or not b:
        return None
    if max(a) < min(b):
        return "below"
    if min(a) > max(b):
        return "above"
    return None


def log_odds(share) -> float | None:
    """``log(share / (1 - share))``: the log of out-of-band over in-band energy.

    Parameters
    ----------
    share : float or None
        The share of the energy outside the band (0 … 1).

    Returns
    -------
    float or None
        None for an unknown share; ±inf at 0 and 1.
    """
    if share is None or not math.isfinite(float(share)):
        return None
    share = float(share)
    if share <= 0.0:
        return float("-inf")
    if share >= 1.0:
        return float("inf")
    return math.log(share / (1.0 - share))


_NOISE_FLATNESS: float | None = None


def white_noise_flatness() -> float:
    """Spectral flatness of white noise, as :func:`gruvsynth.evaluation.spectral_flatness`
    measures it (one second of seeded Gaussian noise at 44.1 kHz; about 0.97).

    Returns
    -------
    float
    """
    global _NOISE_FLATNESS
    if _NOISE_FLATNESS is None:
        from gruvsynth.evaluation import spectral_flatness  # scipy: only when asked

        noise = np.random.default_rng(0).standard_normal(defaults.SR)
        _NOISE_FLATNESS = float(spectral_flatness(noise))
    return _NOISE_FLATNESS


def learned(history: Sequence[Mapping], baseline: Mapping | None, *,
            margin: float = LEARN_MARGIN) -> tuple[bool | None, float | None]:
    """Whether a run learned: its final training loss beats the best baseline by ``margin``.

    Parameters
    ----------
    history : sequence of dict
        The run's history (``loss`` per epoch).
    baseline : mapping or None
        The corpus's training-split baselines ``{"mean", "persistence", "linear"}``.
    margin : float
        Required skill (``1 - loss / best baseline``).

    Returns
    -------
    learned : bool or None
        None when the loss or the baseline is unknown.
    skill : float or None
    """
    from gruvsynth.evaluation import best_baseline, skill  # scipy: only when asked

    _, best = best_baseline(baseline or {})
    value = skill(final_value(history, "loss"), best)
    return (None if value is None else value >= margin), value


def relative_to_mean_predictor(dev_loss, baselines: Mapping, corpus: str) -> float | None:
    """A dev loss over the corpus's mean-predictor dev loss (None where either is unknown).

    Parameters
    ----------
    dev_loss : float or None
    baselines : mapping
        ``{corpus: {"dev": {"mean", ...}, ...}}``.
    corpus : str

    Returns
    -------
    float or None
    """
    mean = (((baselines or {}).get(corpus) or {}).get("dev") or {}).get("mean")
    if dev_loss is None or mean is None or not mean > 0:
        return None
    return float(dev_loss) / float(mean)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation of ``x`` and ``y``; None with fewer than 3 points, a
    constant side or an undefined result.

    Parameters
    ----------
    x, y : sequence of float

    Returns
    -------
    float or None
    """
    import scipy.stats  # only when asked: keeps `gruvsynth report --help` light

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    rho = scipy.stats.spearmanr(x, y).statistic
    return float(rho) if math.isfinite(rho) else None

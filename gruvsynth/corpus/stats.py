"""Per-feature statistics of a corpus: running moments, and the report on features with
(almost) no spread.

The mean and standard deviation are accumulated chunk by chunk (:class:`RunningMoments`), so
a corpus is never in memory whole.  Features whose spread is below :data:`SPREAD_FLOOR` (a
pure tone has almost nothing else) are counted by :func:`spread_report`, with what they do to
the mean predictor's dev loss; :func:`describe_spread` words it for a warning.
"""

from __future__ import annotations

import numpy as np

from gruvsynth.corpus.layout import SPREAD_FLOOR, SPREAD_HARM, STD_FLOOR

__all__ = ["RunningMoments", "spread_report", "describe_spread"]


class RunningMoments:
    """Per-feature count, mean and sum of squared deviations, merged in float64.

    Rows are added chunk by chunk (each chunk's own mean and ``M2``, then the pairwise update
    of Chan, Golub & LeVeque), so a whole corpus never needs to be in memory.

    Parameters
    ----------
    width : int
        Number of features ``D``.
    """

    def __init__(self, width: int):
        self.n = 0
        self.mean = np.zeros(width, dtype=np.float64)
        self.m2 = np.zeros(width, dtype=np.float64)

    def add(self, rows: np.ndarray) -> None:
        """Accumulate rows.

        Parameters
        ----------
        rows : np.ndarray [shape=(m, D)]
        """
        rows = np.asarray(rows)
        if rows.shape[0] == 0:
            return
        mean = rows.mean(axis=0, dtype=np.float64)
        dev = rows - mean  # float64
        m2 = np.einsum("ij,ij->j", dev, dev)
        self._merge(rows.shape[0], mean, m2)

    def merge(self, other: RunningMoments) -> None:
        """Accumulate another :class:`RunningMoments` (of the same width)."""
        self._merge(other.n, other.mean, other.m2)

    def _merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if n_b == 0:
            return
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta * delta * (n_a * n_b / n)
        self.n = n

    def std(self, floor: float = STD_FLOOR) -> np.ndarray:
        """Population standard deviation, at least ``floor``.

        Returns
        -------
        np.ndarray [shape=(D,), dtype=float64]
        """
        var = self.m2 / self.n if self.n else np.zeros_like(self.m2)
        return np.maximum(np.sqrt(np.maximum(var, 0.0)), floor)



def spread_report(train: RunningMoments, dev: RunningMoments, *,
                  std_floor: float = STD_FLOOR) -> dict:
    """How many features have (almost) no spread, and what that does to the losses.

    Parameters
    ----------
    train : RunningMoments
        Moments of the blocks the statistics come from.
    dev : RunningMoments
        Moments of the dev blocks (``n = 0`` when there is no dev split).
    std_floor : float
        The floor applied to the standard deviation.

    Returns
    -------
    dict
        ``spread_floor`` (:data:`SPREAD_FLOOR`), ``std_floor``; ``low_features`` (spread below
        the spread floor, not counting those always zero), ``zero_features`` (zero in every
        block: harmless), ``floored_features`` (std raised to ``std_floor``);
        ``mean_predictor_dev_loss`` (MSE of always predicting the training mean, in normalised
        units, about 1 when train and dev are alike; None without dev blocks) and
        ``low_features_dev_loss`` (the part of it from the low-spread features); ``harmful``
        (the low-spread features add more than :data:`SPREAD_HARM` to that loss; without
        dev blocks there is no dev loss to spoil, so False).
    """
    raw = train.std(0.0)
    std = np.maximum(raw, std_floor)
    zero_train = (train.m2 == 0) & (train.mean == 0)
    zero_dev = (dev.m2 == 0) & (dev.mean == 0) if dev.n else np.ones_like(zero_train)
    zero = zero_train & zero_dev
    low = (raw < SPREAD_FLOOR) & ~zero
    total = low_part = None
    if dev.n:
        per_feature = (dev.m2 / dev.n + (dev.mean - train.mean) ** 2) / std.astype(np.float64) ** 2
        total = float(per_feature.mean())
        low_part = float(per_feature[low].sum() / per_feature.size)
    n_low = int(np.count_nonzero(low))
    harmful = bool(n_low and low_part is not None and low_part > SPREAD_HARM)
    return {"spread_floor": SPREAD_FLOOR, "std_floor": float(std_floor),
            "low_features": n_low, "zero_features": int(np.count_nonzero(zero)),
            "floored_features": int(np.count_nonzero(raw < std_floor)),
            "mean_predictor_dev_loss": total, "low_features_dev_loss": low_part,
            "harmful": harmful}


def describe_spread(spread: dict, width: int) -> str:
    """One line about the low-spread features of a :func:`spread_report`, for a warning."""
    text = (f"{spread['low_features']} of {width} features have a spread below "
            f"{spread['spread_floor']:g} in the training clips (std floored at "
            f"{spread['std_floor']:g}), so any block that differs there gets a normalised "
            f"value of about difference / {spread['std_floor']:g}")
    if spread.get("mean_predictor_dev_loss") is not None:
        text += (f"; the mean predictor's dev loss is {spread['mean_predictor_dev_loss']:.3g} "
                 f"(about 1 on well-normalised data), {spread['low_features_dev_loss']:.3g} of "
                 "it from these features")
    return (text + ": training fits them at no cost (train loss near 0) while the dev loss "
            "explodes; a larger std floor avoids this")


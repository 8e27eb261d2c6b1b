"""What trivial predictors get over the blocks the model's loss uses, and the model's skill
against them (:func:`baseline_losses`, :func:`best_baseline`, :func:`skill`), and a model's
loss over a whole split (:func:`split_loss`).
"""

from __future__ import annotations

import math

import numpy as np

from gruvsynth.errors import ParameterError

__all__ = ["BASELINES", "baseline_losses", "best_baseline", "skill", "split_loss"]

#: The trivial predictors of :func:`baseline_losses`, in the order they are reported.
BASELINES = ("mean", "persistence", "linear")
#: Clips read at a time by :func:`baseline_losses` and :func:`split_loss`.
_CHUNK_CLIPS = 16


def _moments(corpus, split: str) -> tuple[dict, int]:
    """Per-feature sums over every (clip, position) the loss uses: x², x·y, y² (float64)."""
    inputs, _ = corpus.clips(split)
    n_clips, steps, width = inputs.shape
    sums = {k: np.zeros(width) for k in ("xx", "xy", "yy")}
    for i in range(0, n_clips, _CHUNK_CLIPS):
        rows = corpus.rows(split, np.arange(i, min(i + _CHUNK_CLIPS, n_clips)))
        x = rows[:, :-1].astype(np.float64).reshape(-1, width)
        y = rows[:, 1:].astype(np.float64).reshape(-1, width)
        sums["xx"] += np.einsum("ij,ij->j", x, x)
        sums["xy"] += np.einsum("ij,ij->j", x, y)
        sums["yy"] += np.einsum("ij,ij->j", y, y)
    return sums, n_clips * steps * width


def baseline_losses(corpus, *, splits=("train", "dev")) -> dict:
    """The MSE of three trivial predictors over exactly the blocks the model's loss uses.

    Every clip of the split, every one of its ``T`` positions, every feature, in normalised
    space (the training loss's definition):

    ``mean``
        Predict the training mean: 0 in normalised space, so the loss is the mean of ``y²``.
    ``persistence``
        Predict that the next block equals the current one: the mean of ``(y - x)²``.
    ``linear``
        The best per-feature linear persistence ``y_k ≈ a_k x_k``, with ``a_k = Σ x_k y_k /
        Σ x_k²`` fitted on the training split (least squares) and used as it is on the dev
        split.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
        An open corpus.
    splits : sequence of {"train", "dev"}
        The splits to report (the linear fit always uses ``"train"``).

    Returns
    -------
    baselines : dict
        ``{split: {"mean": float, "persistence": float, "linear": float}}`` for each split
        with clips (``None`` values for a split without clips), plus ``"linear_scale"``:
        ``{"mean": float, "median": float}`` of the fitted ``a_k`` (about −0.05 on music).
    """
    for split in splits:
        if split not in ("train", "dev"):
            raise ParameterError(f"splits must be 'train' or 'dev', got {split!r}")
    moments = {"train": _moments(corpus, "train")}
    train = moments["train"][0]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(train["xx"] > 0, train["xy"] / train["xx"], 0.0)
    out: dict = {}
    for split in splits:
        if split not in moments:
            moments[split] = _moments(corpus, split)
        sums, count = moments[split]
        if count == 0:
            out[split] = {name: None for name in BASELINES}
            continue
        xx, xy, yy = sums["xx"], sums["xy"], sums["yy"]
        out[split] = {
            "mean": float(yy.sum() / count),
            "persistence": float(max((yy - 2 * xy + xx).sum(), 0.0) / count),
            "linear": float(max((yy - 2 * scale * xy + scale ** 2 * xx).sum(), 0.0) / count),
        }
    out["linear_scale"] = {"mean": float(scale.mean()), "median": float(np.median(scale))}
    return out


def best_baseline(losses) -> tuple[str | None, float | None]:
    """The lowest of one split's baseline losses.

    Parameters
    ----------
    losses : dict
        ``{"mean": float, "persistence": float, "linear": float}`` (one split of
        :func:`baseline_losses`).

    Returns
    -------
    name : str or None
    loss : float or None
        ``(None, None)`` when no loss is known.
    """
    known = [(float(v), k) for k, v in (losses or {}).items()
             if k in BASELINES and v is not None and math.isfinite(float(v))]
    if not known:
        return None, None
    loss, name = min(known)
    return name, loss


def skill(model_loss, baseline) -> float | None:
    """``1 - model_loss / baseline``: 0 at the trivial predictor's level, 1 for a perfect model,
    negative when the model is worse.

    Parameters
    ----------
    model_loss : float or None
    baseline : float or None
        The best baseline loss of the same split (:func:`best_baseline`).

    Returns
    -------
    float or None
        None when either is unknown or the baseline is not positive.
    """
    if model_loss is None or baseline is None:
        return None
    model_loss, baseline = float(model_loss), float(baseline)
    if not (math.isfinite(model_loss) and math.isfinite(baseline)) or baseline <= 0:
        return None
    return 1.0 - model_loss / baseline


def split_loss(model, corpus, split: str = "train", *, batch_size: int = 5) -> float:
    """A model's MSE over every clip of a split (normalised space, as training reports it).

    Parameters
    ----------
    model : keras.Model
        Run in float32 whatever precision trained it (:func:`gruvsynth.models.float32_model`).
    corpus : gruvsynth.corpus.Corpus
    split : {"train", "dev"}
    batch_size : int
        Clips predicted at a time.

    Returns
    -------
    float
        NaN when the split has no clips.
    """
    from gruvsynth.models import float32_model

    model = float32_model(model)
    inputs, _ = corpus.clips(split)
    n_clips = len(inputs)
    sq_err, count = 0.0, 0
    for i in range(0, n_clips, batch_size):
        rows = corpus.rows(split, np.arange(i, min(i + batch_size, n_clips)))
        x, y = rows[:, :-1], rows[:, 1:]
        p = np.asarray(model.predict_on_batch(x), dtype=np.float64)
        sq_err += float(np.sum((p - y) ** 2))
        count += y.size
    return sq_err / count if count else float("nan")

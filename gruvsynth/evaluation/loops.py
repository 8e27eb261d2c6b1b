"""Loops and novelty of a generation sequence: :func:`detect_loop` (the paper's "generation
loops") and the distance of each generated block to its nearest training block
(:func:`nearest_distances`, :func:`novelty`, :func:`copy_verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from gruvsynth.checks import check_int
from gruvsynth.errors import ParameterError

__all__ = [
    "LOOP_THRESHOLD", "LOOP_MAX_PERIOD", "LOOP_MIN_BLOCKS", "NEAR_COPY", "detect_loop",
    "nearest_distances", "locate_training_block", "copy_verdict", "novelty",
]

#: Cosine similarity above which two blocks count as the same (loop detection).
LOOP_THRESHOLD = 0.99
#: Longest loop period looked for, in blocks (4 s of 0.25 s blocks).
LOOP_MAX_PERIOD = 16
#: Blocks a loop must repeat for, at the least, to be reported (2 s of 0.25 s blocks).
LOOP_MIN_BLOCKS = 8
#: Relative distance ``||g - t|| / ||t||`` below which a generated block is a near-copy of its
#: nearest training block ``t`` (an error 26 dB below the block).
NEAR_COPY = 0.05


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(x, axis=1)
    zero = norms <= np.finfo(np.float32).tiny
    unit = np.zeros_like(x)
    unit[~zero] = x[~zero] / norms[~zero, None]
    return unit, zero


def detect_loop(
    blocks: np.ndarray,
    *,
    seed_blocks: int,
    threshold: float = LOOP_THRESHOLD,
    max_period: int = LOOP_MAX_PERIOD,
    min_blocks: int = LOOP_MIN_BLOCKS,
) -> dict:
    """Find where a generation sequence gets stuck in a loop (the paper's "generation loops").

    Definition: the sequence *loops from block s with period p* when every later block repeats
    the pattern ``blocks[s : s + p]``: ``cos(blocks[t], blocks[s + (t - s) % p]) > threshold``
    for every ``t`` from ``s + p`` to the end, and there are at least
    ``max(min_blocks, p)`` such repeated blocks.  Period 1 is "consecutive blocks are
    near-identical".  Comparing with the pattern's *first* occurrence (not only with the
    block ``p`` earlier) keeps a slow drift, whose neighbours are all similar, from counting as
    a loop.  The loop reported is the one with the earliest start ``s`` (the smallest period
    among equal starts).  A loop must last to the end of the sequence: one that the model
    escapes from is not reported.

    Parameters
    ----------
    blocks : np.ndarray [shape=(n_blocks, D)]
        A generation sequence from :func:`gruvsynth.generation.generate` (normalised).
    seed_blocks : int
        Its seed length: blocks ``0 … seed_blocks - 1`` come from the first pass, block ``k >=
        seed_blocks`` from iteration ``k - seed_blocks + 1``.
    threshold : float
        Cosine similarity above which two blocks are the same.
    max_period : int
        Longest period looked for, in blocks.
    min_blocks : int
        Fewest repeated blocks for a loop.

    Returns
    -------
    dict
        ``looped`` (bool); ``start`` (first block of the loop's pattern, or ``None``);
        ``period`` (blocks, or ``None``); ``iteration`` (the iteration that produced block
        ``start``, 0 for the first pass, or ``None``); ``loop_free_blocks`` (``start``, or all
        ``n_blocks`` without a loop); ``loop_free_times`` (``loop_free_blocks / seed_blocks``,
        a lower bound when ``looped`` is false); ``n_blocks``, ``seed_blocks``, ``threshold``,
        ``max_period``, ``min_blocks``.
    """
    x = np.asarray(blocks, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ParameterError(f"blocks must have shape (n_blocks, D), got {x.shape}")
    seed_blocks = check_int("seed_blocks", seed_blocks)
    if not -1 <= threshold <= 1:
        raise ParameterError(f"threshold must be a cosine similarity in [-1, 1], got {threshold}")
    max_period = int(max_period)
    min_blocks = int(min_blocks)
    if max_period < 1 or min_blocks < 1:
        raise ParameterError("max_period and min_blocks must be positive")
    n = x.shape[0]
    found = _first_loop(x, threshold=threshold, max_period=max_period, min_blocks=min_blocks)
    result = {
        "looped": found is not None,
        "start": None,
        "period": None,
        "iteration": None,
        "loop_free_blocks": n,
        "loop_free_times": n / seed_blocks,
        "n_blocks": n,
        "seed_blocks": int(seed_blocks),
        "threshold": float(threshold),
        "max_period": max_period,
        "min_blocks": min_blocks,
    }
    if found is not None:
        s, p = found
        result.update(start=s, period=p, iteration=max(0, s - seed_blocks + 1),
                      loop_free_blocks=s, loop_free_times=s / seed_blocks)
    return result


def _first_loop(x: np.ndarray, *, threshold: float, max_period: int, min_blocks: int
                ) -> tuple[int, int] | None:
    """``(start, period)`` of the earliest loop of :func:`detect_loop`'s definition, or None."""
    n = x.shape[0]
    unit, zero = _unit_rows(x)
    sim = unit @ unit.T
    sim[np.ix_(zero, zero)] = 1.0  # two all-zero blocks are the same block
    t_all = np.arange(n)
    for s in range(n):
        for p in range(1, max_period + 1):
            if n - s - p < max(min_blocks, p):
                continue
            t = t_all[s + p:]
            if np.all(sim[t, s + (t - s) % p] > threshold):
                return s, p
    return None


def _training_chunks(training, chunk: int) -> Iterable[np.ndarray]:
    if hasattr(training, "songs") and hasattr(training, "song_blocks"):
        for name in training.songs("train"):
            song = training.song_blocks(name)
            for i in range(0, song.shape[0], chunk):
                yield np.asarray(song[i: i + chunk], dtype=np.float32)
        return
    if isinstance(training, np.ndarray):
        training = [training]
    for part in training:
        part = np.asarray(part, dtype=np.float32)
        if part.ndim != 2:
            raise ParameterError(f"training blocks must have shape (n, D), got {part.shape}")
        for i in range(0, part.shape[0], chunk):
            yield part[i: i + chunk]


def nearest_distances(
    generated: np.ndarray,
    training,
    *,
    chunk: int = 512,
    return_index: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance of each generated block to its nearest training block (Euclidean).

    Training blocks are read ``chunk`` rows at a time, so the training set is never loaded
    whole.

    Parameters
    ----------
    generated : np.ndarray [shape=(n, D)]
        Normalised generated blocks.
    training : Corpus or np.ndarray [shape=(m, D)] or iterable of np.ndarray [shape=(m_i, D)]
        The training blocks, normalised; a :class:`gruvsynth.corpus.Corpus` gives every block of
        its training songs.
    chunk : int
        Training rows compared at a time.
    return_index : bool
        Also return where ``t*`` is.

    Returns
    -------
    distance : np.ndarray [shape=(n,)]
        ``||g - t*||``, ``t*`` the nearest training block.
    nearest_norm : np.ndarray [shape=(n,)]
        ``||t*||``.
    index : np.ndarray [shape=(n,), dtype=int64]
        With ``return_index``: the row of ``t*`` among all training rows, counted in the order
        they are read (a corpus: its training songs in order, each song's blocks in time
        order; see :func:`locate_training_block`).

    Raises
    ------
    ParameterError
        If there are no training blocks or the widths differ.
    """
    g = np.asarray(generated, dtype=np.float32)
    if g.ndim != 2 or g.shape[0] == 0:
        raise ParameterError(f"generated blocks must have shape (n, D), got {g.shape}")
    g_sq = np.sum(g.astype(np.float64) ** 2, axis=1)
    best = np.full(g.shape[0], np.inf)
    best_norm = np.zeros(g.shape[0])
    best_index = np.zeros(g.shape[0], dtype=np.int64)
    seen = 0
    for part in _training_chunks(training, int(chunk)):
        if part.shape[0] == 0:
            continue
        if part.shape[1] != g.shape[1]:
            raise ParameterError(
                f"training blocks have {part.shape[1]} features, generated {g.shape[1]}"
            )
        t_sq = np.sum(part.astype(np.float64) ** 2, axis=1)
        d2 = g_sq[:, None] + t_sq[None, :] - 2.0 * (g @ part.T).astype(np.float64)
        j = np.argmin(d2, axis=1)
        d = d2[np.arange(g.shape[0]), j]
        better = d < best
        best[better] = d[better]
        best_norm[better] = np.sqrt(t_sq[j[better]])
        best_index[better] = seen + j[better]
        seen += part.shape[0]
    if seen == 0:
        raise ParameterError("no training blocks to compare with")
    if return_index:
        return np.sqrt(np.maximum(best, 0.0)), best_norm, best_index
    return np.sqrt(np.maximum(best, 0.0)), best_norm


def locate_training_block(corpus, index: int) -> tuple[str, int, float]:
    """Which training song and moment a row of :func:`nearest_distances` is.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    index : int
        A row among all training rows (training songs in order, blocks in time order).

    Returns
    -------
    song : str
    block : int
        The block's index in the song's stored blocks.
    seconds : float
        Its start in the original song, counting the excerpt's start (``start_seconds``).
    """
    index = int(index)
    start = float((corpus.manifest.get("parameters") or {}).get("start_seconds") or 0.0)
    for name in corpus.songs("train"):
        n = corpus.song_length(name)
        if index < n:
            return name, index, start + index * corpus.block / corpus.sr
        index -= n
    raise ParameterError(f"training row {index} is past the corpus's training blocks")


def copy_verdict(nov: dict, corpus, *, majority: float = 0.5) -> dict:
    """Whether generated blocks copy the training data, in words a listener can check.

    Parameters
    ----------
    nov : dict
        From :func:`novelty` (with its per-block ``index`` and ``relative``).
    corpus : gruvsynth.corpus.Corpus
    majority : float
        Share of near-copy blocks from which the sample counts as a near-copy.

    Returns
    -------
    dict
        ``verdict`` (``"near-copy"`` or ``"new"``), ``song`` and ``from_seconds`` (where the
        first near-copy block's match is, or None), ``text`` (e.g. ``"near-copy of training
        song track07.ogg from 1:20"``), ``near_copy_share``.
    """
    share = float(nov["near_copy_share"])
    copies = np.flatnonzero(np.asarray(nov["relative"]) < nov["near_copy"])
    song = seconds = None
    if copies.size:
        song, _, seconds = locate_training_block(corpus, int(nov["index"][copies[0]]))
    if share >= majority and song is not None:
        minutes, rest = divmod(int(round(seconds)), 60)
        text = f"near-copy of training song {song} from {minutes}:{rest:02d}"
        verdict = "near-copy"
    else:
        text = f"new ({share:.0%} of its blocks are near-copies of training blocks)"
        verdict = "new"
    return {"verdict": verdict, "song": song, "from_seconds": seconds, "text": text,
            "near_copy_share": share}


def novelty(
    generated: np.ndarray,
    training,
    *,
    near_copy: float = NEAR_COPY,
    chunk: int = 512,
) -> dict:
    """How far generated blocks are from the training data.

    Parameters
    ----------
    generated : np.ndarray [shape=(n, D)]
        Normalised generated blocks (e.g. the blocks after the seed).
    training : Corpus or np.ndarray or iterable of np.ndarray
        See :func:`nearest_distances`.
    near_copy : float
        A block is a *near-copy* when ``||g - t*|| / ||t*|| < near_copy`` (default 0.05: the
        difference is 26 dB below the training block).
    chunk : int
        Training rows compared at a time.

    Returns
    -------
    dict
        ``median_distance`` (RMS per feature, ``||g - t*|| / sqrt(D)``, in standard deviations
        of the training data), ``median_relative`` (``||g - t*|| / ||t*||``),
        ``near_copy_share`` (share of blocks that are near-copies), ``near_copy`` (the
        threshold), ``n_blocks``; plus the per-block arrays ``distance``, ``relative`` and
        ``index`` (the nearest training row, :func:`locate_training_block`).
    """
    if not near_copy > 0:
        raise ParameterError(f"near_copy must be positive, got {near_copy!r}")
    dist, norm, index = nearest_distances(generated, training, chunk=chunk, return_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(norm > 0, dist / np.where(norm > 0, norm, 1), np.where(dist > 0,
                                                                                  np.inf, 0.0))
    width = np.asarray(generated).shape[1]
    per_feature = dist / math.sqrt(width)
    return {
        "median_distance": float(np.median(per_feature)),
        "median_relative": float(np.median(relative)),
        "near_copy_share": float(np.mean(relative < near_copy)),
        "near_copy": float(near_copy),
        "n_blocks": int(dist.shape[0]),
        "distance": per_feature,
        "relative": relative,
        "index": index,
    }

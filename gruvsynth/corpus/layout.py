"""The corpus folder's format: its names and sizes, and the rules that cut songs into clips.

A corpus folder (written by :func:`gruvsynth.corpus.prepare_corpus`, read by
:func:`gruvsynth.corpus.open_corpus`) holds:

``corpus.h5``
    ``features`` (float32, ``(rows, D)``, raw, i.e. not normalised): per song the blocks its
    clips use plus the one block after its last clip, songs one after another.  Targets are
    the same rows shifted by one, not a second copy.  Chunked by whole clips' worth of rows
    (at most 4 MiB), uncompressed, so a random clip is one or two contiguous reads.
    ``mean``, ``std`` (float32, ``(D,)``).  ``songs/``: one entry per song: ``name``,
    ``split``, ``offset`` (first row), ``n_clips``, ``n_rows``, ``source`` (path),
    ``sha256`` (of the source file).
``manifest.json``
    Format version, package version, every parameter, the sources with their sha256, the
    split lists, ``stats_from``, the counts, ``D``, the features' ``spread`` and the skipped
    files with reasons.

While it is written the folder is ``.<name>.partial-<pid>`` beside its final place
(:data:`PARTIAL_PATTERN`); a corpus it replaces is moved aside as ``.<name>.old-<pid>``.

The rules (public so that tests and docs can check each on its own): :func:`clip_count`,
:func:`next_block_targets`, :func:`split_songs`, and the storage sizes :func:`chunk_rows` and
:func:`data_bytes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from gruvsynth import defaults
from gruvsynth.errors import ParameterError

__all__ = [
    "FORMAT", "FORMAT_VERSION", "SPLITS", "MANIFEST_NAME", "DATA_NAME", "STD_FLOOR",
    "SPREAD_FLOOR", "SPREAD_HARM", "MAX_ROW_BYTES", "CHECK_ROWS", "SR", "BLOCK", "CLIP_BLOCKS",
    "DEV_FRACTION", "SPLIT_SEED", "REPRESENTATION", "STATS_FROM", "STATS_CHOICES", "FFT_ROWS",
    "CHUNK_BYTES", "PARTIAL_PATTERN", "LEFTOVER_PATTERN",
    "clip_count", "chunk_rows", "data_bytes", "next_block_targets", "split_songs",
]

#: ``manifest.json``'s ``"format"`` value, which marks a folder as a gruvsynth corpus.
FORMAT = "gruvsynth-corpus"
#: Version of the on-disk layout; :func:`open_corpus` refuses any other.
FORMAT_VERSION = 1
#: The two splits.
SPLITS = ("train", "dev")
#: File names inside a corpus folder.
MANIFEST_NAME = "manifest.json"
DATA_NAME = "corpus.h5"
#: Lower bound of the per-feature standard deviation (the authors' code); ``std_floor``.
STD_FLOOR = 1e-8
#: A feature whose training spread (std before the floor) is below this is counted as having
#: (almost) none, in raw feature units (FFT coefficients of samples in [-1, 1]: a full-scale
#: tone gives about N/2 in its bin).  Features that are zero in every block (the imaginary
#: part of the DC bin) are counted apart: they normalise to 0 everywhere and do no harm.
SPREAD_FLOOR = 1e-6
#: Those features are reported as harmful when their share of the mean predictor's dev loss
#: (the loss of always predicting the training mean, about 1 on well-normalised data) is
#: above this.
SPREAD_HARM = 1.0
#: Largest stored row (one block's features, float32): one HDF5 chunk holds at most 4 GiB.
MAX_ROW_BYTES = 2**32 - 1
#: A sample of this many feature rows (evenly spaced, plus the first and last) is checked for
#: NaN and infinite values when a corpus is opened.
CHECK_ROWS = 32

# defaults (the paper's values where it has one)
SR = defaults.SR
BLOCK = defaults.BLOCK
CLIP_BLOCKS = defaults.CLIP_BLOCKS
DEV_FRACTION = 0.2
SPLIT_SEED = 0
REPRESENTATION = "fft"
STATS_FROM = "train"
STATS_CHOICES = ("train", "all")

#: Blocks turned into features (and accumulated into statistics) at a time.
FFT_ROWS = 128
#: Upper bound of one HDF5 chunk (unless one row is larger).
CHUNK_BYTES = 4 << 20
#: The name of a corpus folder being written by a prepare (``name``, ``pid``).
PARTIAL_PATTERN = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)$")
#: The names a prepare leaves beside ``name`` while it runs: its partial folder and the
#: corpus it is replacing.
LEFTOVER_PATTERN = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)$")


def clip_count(n_blocks: int, clip_blocks: int = CLIP_BLOCKS) -> int:
    """Number of whole clips a song of ``n_blocks`` blocks gives.

    Parameters
    ----------
    n_blocks : int
        Blocks in the song.
    clip_blocks : int
        Blocks per clip ``T``.

    Returns
    -------
    int
        ``(n_blocks - 1) // T`` (at least 0): clips start at ``0, T, 2T, ...`` while
        ``start + T < n_blocks``, the authors' rule, so the block after each clip exists.
    """
    return max(0, (int(n_blocks) - 1) // int(clip_blocks))


def chunk_rows(width: int, clip_blocks: int = CLIP_BLOCKS) -> int:
    """Feature rows per HDF5 chunk of ``corpus.h5``: a clip's worth, at most 4 MiB.

    Parameters
    ----------
    width : int
        Features per row ``D``.
    clip_blocks : int
        Blocks per clip ``T``.

    Returns
    -------
    int
    """
    return max(1, min(int(clip_blocks), CHUNK_BYTES // (int(width) * 4)))


def data_bytes(n_rows: int, width: int, clip_blocks: int = CLIP_BLOCKS) -> int:
    """Bytes the feature rows of a corpus take in ``corpus.h5`` (whole chunks of float32).

    Parameters
    ----------
    n_rows : int
        Feature rows: per song, its clips' blocks and the block after the last clip.
    width : int
        Features per row ``D``.
    clip_blocks : int
        Blocks per clip ``T``.

    Returns
    -------
    int
        Without the song table and the statistics (a few kilobytes and ``2 D`` floats).
    """
    rows = chunk_rows(width, clip_blocks)
    return -(-int(n_rows) // rows) * rows * int(width) * 4


def next_block_targets(features: np.ndarray) -> np.ndarray:
    """The target of every block: the next block, zeros after the last (the authors' code).

    Parameters
    ----------
    features : np.ndarray [shape=(n_blocks, D)]
        One song's blocks.

    Returns
    -------
    np.ndarray [shape=(n_blocks, D)]
        ``targets[i] = features[i + 1]`` and ``targets[-1] = 0``.
    """
    features = np.asarray(features)
    targets = np.zeros_like(features)
    targets[:-1] = features[1:]
    return targets


def split_songs(
    names: Sequence[str], *, dev_fraction: float = DEV_FRACTION, seed: int = SPLIT_SEED
) -> dict[str, list[str]]:
    """Split songs (not clips) into train and dev, deterministically.

    Parameters
    ----------
    names : sequence of str
        Unique song names, in corpus order.
    dev_fraction : float
        Fraction of songs in dev, in ``[0, 1)``.
    seed : int
        Seed of the permutation; the same names and seed always give the same split.

    Returns
    -------
    dict
        ``{"train": [...], "dev": [...]}``, each in corpus order; together they hold every
        name exactly once.

    Notes
    -----
    ``n_dev = floor(n * dev_fraction + 0.5)`` (round half up: 20 songs → 4 dev, 2 songs at
    0.2 → 0), then, when ``n >= 2`` and ``dev_fraction > 0``, clamped to ``[1, n - 1]`` so
    each split has at least one song.  With one song, or ``dev_fraction = 0``, dev is empty.
    The dev songs are the first ``n_dev`` of ``numpy.random.default_rng(seed).permutation(n)``.
    """
    names = list(names)
    if len(set(names)) != len(names):
        raise ParameterError("song names must be unique")
    if not 0.0 <= float(dev_fraction) < 1.0:
        raise ParameterError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    n = len(names)
    n_dev = math.floor(n * float(dev_fraction) + 0.5)
    if n >= 2 and dev_fraction > 0:
        n_dev = min(max(n_dev, 1), n - 1)
    elif n < 2:
        n_dev = 0
    perm = np.random.default_rng(int(seed)).permutation(n)
    dev = {int(i) for i in perm[:n_dev]}
    return {
        "train": [name for i, name in enumerate(names) if i not in dev],
        "dev": [name for i, name in enumerate(names) if i in dev],
    }

"""Seeds for generation: windows of consecutive blocks inside a corpus's songs, or from a
user's audio file prepared like the corpus.  Keras-free.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gruvsynth import features as feats
from gruvsynth.checks import check_choice, check_int
from gruvsynth.errors import ParameterError
from gruvsynth.generation.sizes import DEFAULT_SEED_BLOCKS, SEED_SPLITS

__all__ = ["Seed", "seed_windows", "pick_windows", "file_seed"]


@dataclass
class Seed:
    """One seed window and where it came from.

    Attributes
    ----------
    blocks : np.ndarray [shape=(seed_blocks, D), dtype=float32]
        Normalised feature vectors.
    source : str
        ``"dev"``, ``"train"`` or the audio file's path.
    song : str
        The song's name in the corpus, or the file's name.
    start : int
        Index of the window's first block within the song or file.
    """

    blocks: np.ndarray
    source: str
    song: str
    start: int

    def describe(self) -> dict:
        """The seed's origin as JSON-ready data (no arrays)."""
        return {"source": self.source, "song": self.song, "start_block": int(self.start),
                "blocks": int(self.blocks.shape[0])}


def _song_names(corpus, split: str) -> list[str]:
    songs = corpus.songs(split)
    return [s if isinstance(s, str) else getattr(s, "name", str(s)) for s in songs]


def _song_length(corpus, name: str) -> int:
    """Stored blocks of one song, without reading them (from the manifest when possible)."""
    lengths = getattr(corpus, "song_length", None)
    if callable(lengths):
        return int(lengths(name))
    for song in (getattr(corpus, "manifest", None) or {}).get("songs", []):
        if isinstance(song, dict) and song.get("name") == name and "n_rows" in song:
            return int(song["n_rows"])
    return int(corpus.song_blocks(name).shape[0])


def seed_windows(corpus, split: str, *, seed_blocks: int) -> list[tuple[str, int]]:
    """Every song of a split with the number of seed windows that fit inside it.

    A window is ``seed_blocks`` consecutive blocks of one song; a song of ``n`` blocks holds
    ``n - seed_blocks + 1`` of them (``0`` if it is shorter).  The windows of all songs, in the
    corpus's song order and by start block within a song, are numbered ``0, 1, …``; that number
    is the ``seed_index``.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    split : {"dev", "train"}
    seed_blocks : int

    Returns
    -------
    windows : list of (str, int)
        ``(song name, number of windows)`` per song.
    """
    check_choice("seed split", split, SEED_SPLITS)
    seed_blocks = check_int("seed_blocks", seed_blocks)
    return [
        (name, max(0, _song_length(corpus, name) - seed_blocks + 1))
        for name in _song_names(corpus, split)
    ]


def _indices(seed_index, n_seeds: int, total: int, rng_seed, what: str) -> list[int]:
    """Window numbers: the given ones (checked) or ``n_seeds`` distinct random ones."""
    if seed_index is not None:
        index = [seed_index] if isinstance(seed_index, numbers.Integral) else list(seed_index)
        if len(index) != n_seeds:
            raise ParameterError(
                f"give one seed index per seed: n_seeds={n_seeds} but {len(index)} index(es)"
            )
        for i in index:
            if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < total:
                raise ParameterError(
                    f"seed index {i!r} is out of range: {what} has {total} seed window(s), "
                    f"numbered 0 to {total - 1}"
                )
        return [int(i) for i in index]
    rng = np.random.default_rng(rng_seed)
    return [int(i) for i in rng.choice(total, size=n_seeds, replace=n_seeds > total)]


def pick_windows(
    corpus,
    split: str,
    *,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    n_seeds: int = 1,
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
) -> list[Seed]:
    """Choose seed windows inside a corpus's songs (never past a song's end).

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    split : {"dev", "train"}
        Which songs.
    seed_blocks : int
        Window length in blocks.
    n_seeds : int
        How many windows.
    seed_index : int or sequence of int, optional
        Window numbers (see :func:`seed_windows`), one per seed: deterministic choice.
    seed : int, optional
        Seed of the random choice when ``seed_index`` is not given (distinct windows while there
        are enough).

    Returns
    -------
    seeds : list of Seed

    Raises
    ------
    ParameterError
        If no song of the split holds a window of ``seed_blocks`` blocks, or an index is out of
        range.
    """
    n_seeds = check_int("n_seeds", n_seeds)
    windows = seed_windows(corpus, split, seed_blocks=seed_blocks)
    total = sum(n for _, n in windows)
    if total == 0:
        longest = max((_song_length(corpus, name) for name, _ in windows), default=0)
        raise ParameterError(
            f"no {split} song is at least {seed_blocks} blocks long (the longest has {longest}); "
            "use a smaller seed_blocks"
        )
    chosen = []
    for index in _indices(seed_index, n_seeds, total, seed, f"the {split} split"):
        rest = index
        for name, n in windows:
            if rest < n:
                song = np.asarray(corpus.song_blocks(name)[rest: rest + seed_blocks],
                                  dtype=np.float32)
                chosen.append(Seed(song, split, name, rest))
                break
            rest -= n
    return chosen


def file_seed(
    path,
    corpus,
    *,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    n_seeds: int = 1,
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
) -> list[Seed]:
    """Seed windows from a user's audio file, prepared like the corpus.

    The file is decoded with :func:`gruvsynth.audio.load` at the corpus's sample rate, cut into
    the corpus's blocks (a last, incomplete block is dropped) and features
    (:func:`gruvsynth.features.to_features`), and normalised with the corpus's training-set
    statistics.  Window ``k`` starts at block ``k``.  Without ``seed_index`` and ``seed`` the
    first window (the start of the file) is used for every seed; with ``seed`` windows are
    random.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file (any format ffmpeg decodes).
    corpus : gruvsynth.corpus.Corpus
        Gives the block size, representation, sample rate and statistics.
    seed_blocks, n_seeds, seed_index, seed
        As for :func:`pick_windows`.

    Returns
    -------
    seeds : list of Seed

    Raises
    ------
    gruvsynth.errors.AudioError
        If the file cannot be decoded.
    ParameterError
        If the file is shorter than ``seed_blocks`` blocks.
    """
    from gruvsynth import audio as audio_io

    seed_blocks = check_int("seed_blocks", seed_blocks)
    n_seeds = check_int("n_seeds", n_seeds)
    block, sr = int(corpus.block), int(corpus.sr)
    samples = audio_io.load(path, sr=sr)
    n_full = samples.shape[0] // block
    if n_full < seed_blocks:
        raise ParameterError(
            f"{os.fspath(path)}: only {n_full} whole block(s) ({samples.shape[0] / sr:.2f} s); "
            f"a seed of {seed_blocks} blocks needs {seed_blocks * block / sr:g} s "
            "(use a longer file or a smaller seed_blocks)"
        )
    x = feats.to_features(samples[: n_full * block], block=block,
                          representation=corpus.representation)
    x = np.asarray(corpus.normalise(x), dtype=np.float32)
    total = n_full - seed_blocks + 1
    if seed_index is None and seed is None:
        index = [0] * n_seeds
    else:
        index = _indices(seed_index, n_seeds, total, seed, os.fspath(path))
    name = Path(path).name
    return [Seed(x[i: i + seed_blocks], os.fspath(path), name, i) for i in index]

"""Prepared corpora: songs → FFT blocks → train/dev clips with next-block targets, on disk.

This package re-exports its public names, so ``from gruvsynth.corpus import ...`` keeps
working; they live in :mod:`gruvsynth.corpus.layout` (the folder's format and the rules that
cut songs into clips: :func:`clip_count`, :func:`split_songs`, ...),
:mod:`gruvsynth.corpus.stats` (:class:`RunningMoments`, :func:`spread_report`),
:mod:`gruvsynth.corpus.build` (:func:`prepare_corpus`), :mod:`gruvsynth.corpus.install`
(the partial folder and its installation) and :mod:`gruvsynth.corpus.reader`
(:func:`open_corpus`, :class:`Corpus`, :class:`ClipArray`).
"""

from gruvsynth.corpus.build import prepare_corpus
from gruvsynth.corpus.layout import (
    BLOCK,
    CHECK_ROWS,
    CLIP_BLOCKS,
    DATA_NAME,
    DEV_FRACTION,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MAX_ROW_BYTES,
    REPRESENTATION,
    SPLIT_SEED,
    SPLITS,
    SPREAD_FLOOR,
    SPREAD_HARM,
    SR,
    STATS_CHOICES,
    STATS_FROM,
    STD_FLOOR,
    chunk_rows,
    clip_count,
    data_bytes,
    next_block_targets,
    split_songs,
)
from gruvsynth.corpus.reader import ClipArray, Corpus, open_corpus
from gruvsynth.corpus.stats import RunningMoments, describe_spread, spread_report

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SPLITS",
    "STD_FLOOR",
    "SPREAD_FLOOR",
    "MAX_ROW_BYTES",
    "Corpus",
    "ClipArray",
    "prepare_corpus",
    "open_corpus",
    "split_songs",
    "clip_count",
    "chunk_rows",
    "data_bytes",
    "next_block_targets",
    "RunningMoments",
    "spread_report",
    "describe_spread",
    # constants also used by name elsewhere (the command line, experiments, tests)
    "MANIFEST_NAME",
    "DATA_NAME",
    "SPREAD_HARM",
    "CHECK_ROWS",
    "SR",
    "BLOCK",
    "CLIP_BLOCKS",
    "DEV_FRACTION",
    "SPLIT_SEED",
    "REPRESENTATION",
    "STATS_FROM",
    "STATS_CHOICES",
]

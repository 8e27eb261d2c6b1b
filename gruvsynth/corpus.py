"""Prepared corpora: songs → FFT blocks → train/dev clips with next-block targets, on disk.

:func:`prepare_corpus` turns a built-in corpus (:mod:`gruvsynth.sources`) or a folder/list of
the user's audio files into a corpus folder; :func:`open_corpus` reads one back as a
:class:`Corpus` whose clips are streamed from disk.

What preparation does, per the paper and the authors' code (``convert_wav_files_to_nptensor``):

1. Decode each song to mono float32 at ``sr`` (:func:`gruvsynth.audio.load`), optionally
   keep only ``max_seconds`` of it from ``start_seconds`` on (only that part is decoded;
   the manifest's per-song ``seconds`` is the length used); cut it into blocks of ``block``
   samples (the last one zero-padded) and turn each block into a feature vector
   (:func:`gruvsynth.features.to_features`, width ``D``).
2. Cut the song into non-overlapping clips of ``T = clip_blocks`` blocks, whole clips only.
   As in the authors' code (``while cur_seq + max_seq_len < total_seq``) a clip is taken
   only while ``start + T < n_blocks``, so a song of ``n_blocks`` blocks gives
   ``(n_blocks - 1) // T`` clips and the block after every clip exists.
3. The target of each block is the next block.  The code's convention is "zeros after the
   song's last block" (:func:`next_block_targets`); with the strict clip rule above that
   zero vector never falls inside a clip, so every target is a real block.
4. Split the songs (not the clips) into train and dev (:func:`split_songs`), so no song is
   in both.
5. Per-feature mean and standard deviation over every input block of the training clips,
   ``std`` clamped at ``std_floor = 1e-8`` (population std, as the code's
   ``np.mean(abs(x - mean)**2)``).  The code used all songs; ``stats_from="all"`` restores
   that.  Inputs and targets are both normalised with these input statistics, as in the code.
   Features whose spread is below :data:`SPREAD_FLOOR` (a pure tone has almost nothing
   else) are counted in the manifest's ``spread`` with what they do to the mean predictor's
   dev loss, and a warning says so when they dominate it: training fits them at no cost while
   every dev block that differs costs ``(difference / std)**2``.  A larger ``std_floor``
   avoids that.

On disk (a folder, written atomically: built as ``.<name>.partial-<pid>`` beside it and
renamed into place only when complete; a prepare refuses to start while another live one is
writing the same folder, and installing never replaces or deletes a folder that appeared
meanwhile unless ``overwrite`` is given and it is recognisably a corpus):

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

:func:`open_corpus` checks what it opens: the manifest, the datasets' shapes, the song table
(offsets, row and clip counts, splits), finite statistics with ``std > 0``, and a sample of
the feature rows for NaN or infinite values.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from gruvsynth import __version__
from gruvsynth.audio import load, scan_audio_files
from gruvsynth.errors import AudioError, CorpusError, OutputError, ParameterError
from gruvsynth.features import REPRESENTATIONS, feature_size, to_features
from gruvsynth.fileio import rename_no_replace, writing
from gruvsynth.sources import BUILTIN_CORPORA, corpus_info, fetch_corpus, sha256_file

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
]

log = logging.getLogger("gruvsynth.corpus")

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
SR = 44100
BLOCK = 11025
CLIP_BLOCKS = 40
DEV_FRACTION = 0.2
SPLIT_SEED = 0
REPRESENTATION = "fft"
STATS_FROM = "train"
STATS_CHOICES = ("train", "all")

_FFT_ROWS = 128  # blocks turned into features (and accumulated into statistics) at a time
_CHUNK_BYTES = 4 << 20  # upper bound of one HDF5 chunk (unless one row is larger)
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.partial-(?P<pid>\d+)$")
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?:partial|old)-(?P<pid>\d+)$")


# ---------------------------------------------------------------------------------------------
# pieces (public so that tests and docs can check each rule on its own)


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
    return max(1, min(int(clip_blocks), _CHUNK_BYTES // (int(width) * 4)))


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


# ---------------------------------------------------------------------------------------------
# preparation


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _resolve_source(source, *, cache_dir, progress) -> tuple[dict, list[tuple[str, Path, str | None]]]:
    """``(description, [(song name, path, pinned sha256 or None), ...])`` in corpus order."""
    if isinstance(source, str) and source in BUILTIN_CORPORA:
        info = corpus_info(source)
        paths = fetch_corpus(source, cache_dir=cache_dir, progress=progress)
        entries = [
            (track["file"], path, track["sha256"])
            for track, path in zip(info["tracks"], paths, strict=True)
        ]
        desc = {"kind": "builtin", "name": source, "package": info["package"],
                "version": info["version"]}
        return desc, entries
    if isinstance(source, (str, os.PathLike)):
        inputs = [Path(source)]
    elif isinstance(source, Sequence) and source:
        inputs = [Path(p) for p in source]
    else:
        raise ParameterError(
            f"source must be a built-in corpus ({', '.join(BUILTIN_CORPORA)}), a folder or a "
            f"list of audio files, got {source!r}"
        )
    found, problems = scan_audio_files(inputs, recursive=True)
    for problem in problems:
        if Path(problem.path) in inputs:  # a path given: an error
            if isinstance(problem, FileNotFoundError):
                hint = f" (built-in corpora: {', '.join(BUILTIN_CORPORA)})" if len(inputs) == 1 else ""
                raise CorpusError(f"{problem.path}: no such file or folder{hint}")
            raise CorpusError(str(problem))
        log.warning("leaving out %s", problem)  # a sub-folder found on the way
    files = [Path(p).resolve() for p in found]
    if not files:
        why = f" ({'; '.join(map(str, problems))})" if problems else ""
        raise CorpusError(f"{', '.join(map(str, inputs))}: no audio files found{why}")
    files = list(dict.fromkeys(files))  # drop duplicates, keep order
    base = Path(os.path.commonpath([f.parent for f in files]))
    entries = [(f.relative_to(base).as_posix(), f, None) for f in files]
    desc = {"kind": "files", "inputs": [str(p.resolve()) for p in inputs]}
    return desc, entries


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_partials(out: Path) -> None:
    """Remove the partial (and replaced) folders left by earlier, interrupted prepares of ``out``.

    Raises
    ------
    CorpusError
        Another prepare that is still running is writing ``out``.
    """
    if not out.parent.is_dir():
        return
    for entry in out.parent.iterdir():
        m = _LEFTOVER.match(entry.name)
        if not m or m["name"] != out.name or not entry.is_dir():
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and _pid_alive(pid):
            raise CorpusError(
                f"{out}: another gruvsynth prepare (pid {pid}) is writing this corpus "
                f"({entry.name}); wait for it to finish or choose another folder")
        log.info("removing %s, left by an interrupted prepare", entry)
        shutil.rmtree(entry, ignore_errors=True)


def _already_exists(out: Path) -> CorpusError:
    return CorpusError(f"{out}: already exists",
                       hint="choose another folder, or pass overwrite=True to replace it",
                       cli_hint="choose another folder, or use --force to replace it")


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out`` unless ``overwrite`` and it is recognisably a corpus."""
    try:
        exists = out.exists() or out.is_symlink()
    except OSError as exc:
        raise CorpusError(f"{out}: cannot be looked at ({exc.strerror})") from None
    if not exists:
        return
    if not overwrite:
        raise _already_exists(out)
    _check_replaceable(out, out)


def _check_replaceable(folder: Path, out: Path) -> None:
    """Raise unless ``folder`` (``out``, or where it was moved) is a gruvsynth corpus: a real
    folder holding nothing but ``manifest.json`` (of this format) and ``corpus.h5``."""
    refuse = "refusing to replace it"
    if folder.is_symlink() or not folder.is_dir():
        raise CorpusError(f"{out}: exists and is not a folder; {refuse}")
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as exc:
        raise CorpusError(f"{out}: cannot be read ({exc.strerror}); {refuse}") from None
    extra = [n for n in names if n not in (MANIFEST_NAME, DATA_NAME)]
    if extra:
        raise CorpusError(f"{out}: exists and is not a gruvsynth corpus (it holds {extra[0]!r}); "
                          f"{refuse}")
    if MANIFEST_NAME in names:
        try:
            manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CorpusError(f"{out}: exists and its {MANIFEST_NAME} is not a gruvsynth "
                              f"corpus manifest; {refuse}")


def _max_block(representation: str) -> int:
    """The largest block whose feature row fits in :data:`MAX_ROW_BYTES`."""
    rows = MAX_ROW_BYTES // 4  # float32 features per row
    return rows // 2 if representation == "fft" else 2 * (rows // 2 - 1) + 1


def _check_sizes(*, block: int, clip_blocks: int, width: int, sr: int, representation: str,
                 max_seconds: float | None) -> None:
    """Refuse a block the on-disk format cannot hold, or a clip longer than the audio used."""
    row_bytes = 4 * width
    if row_bytes > MAX_ROW_BYTES:
        raise ParameterError(
            f"block {block} gives D = {width} features per block, {row_bytes / 2**30:.1f} GiB "
            f"per stored row; the corpus file (HDF5) holds at most 4 GiB per chunk, so a block "
            f"of the {representation} representation has at most {_max_block(representation)} "
            f"samples (the paper's: 11025 = 0.25 s at 44.1 kHz)")
    clip_seconds = clip_blocks * block / sr
    if max_seconds is not None and clip_blocks * block >= round(max_seconds * sr):
        raise ParameterError(
            f"a clip of {clip_blocks} blocks of {block} samples needs more than "
            f"{clip_seconds:.6g} s of each song, but at most {max_seconds:g} s is used; no song "
            "could give one clip",
            hint="use a smaller block or clip_blocks, or a larger max_seconds",
            cli_hint="use a smaller --block or --clip-blocks, or a larger --max-seconds")


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


def _decode(path: Path, pinned: str | None, sr: int, start: float = 0.0,
            seconds: float | None = None):
    """Run in the prefetch thread: the decoded song and its sha256 (or the AudioError)."""
    try:
        audio = load(path, sr=sr, offset=start, duration=seconds)
    except AudioError as exc:
        return None, None, exc
    digest = pinned or sha256_file(path)
    return audio, digest, None


def prepare_corpus(
    source,
    out: str | os.PathLike,
    *,
    songs: int | None = None,
    max_seconds: float | None = None,
    start_seconds: float = 0.0,
    representation: str = REPRESENTATION,
    block: int = BLOCK,
    clip_blocks: int = CLIP_BLOCKS,
    dev_fraction: float = DEV_FRACTION,
    split_seed: int = SPLIT_SEED,
    stats_from: str = STATS_FROM,
    sr: int = SR,
    cache_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    std_floor: float = STD_FLOOR,
) -> Corpus:
    """Decode songs, cut them into clips of FFT blocks, split, normalise, write a corpus folder.

    Parameters
    ----------
    source : str, os.PathLike or sequence of them
        A built-in corpus name (``"wesnoth"``, ``"warzone2100"``; fetched with
        :func:`gruvsynth.sources.fetch_corpus`), or a folder (searched recursively) or a list
        of audio files and folders.  Pass a :class:`~pathlib.Path` for a folder whose name is
        also a built-in corpus's.
    out : str or os.PathLike
        The corpus folder to create.
    songs : int, optional
        Use only the first ``songs`` files (manifest order for a built-in corpus, sorted file
        order for folders), before the split; a file among them that is skipped is not
        replaced by a later one.  Default: all.
    max_seconds : float, optional
        Use at most ``max_seconds`` of each song (from ``start_seconds`` on).  Default: whole
        songs.  Only that part is decoded.
    start_seconds : float
        Skip this many seconds at the start of each song (default 0, the paper).  With
        ``max_seconds`` it picks an excerpt past the intros, which are often quiet and
        unlike the rest of a song; a song shorter than ``start_seconds`` is skipped.
    representation : {"fft", "rfft"}
        Feature representation (:func:`gruvsynth.features.to_features`); ``"fft"`` is the paper's.
    block : int
        Samples per block ``N`` (the paper: 11,025 = 0.25 s).
    clip_blocks : int
        Blocks per clip ``T`` (the paper: 40 = 10 s).
    dev_fraction : float
        Fraction of songs held out as dev (the paper: 0.2); see :func:`split_songs`.
    split_seed : int
        Seed of the song split.
    stats_from : {"train", "all"}
        Songs whose clips give the mean and std: ``"train"`` (default, no dev leakage) or
        ``"all"`` (the authors' code).
    sr : int
        Sample rate songs are decoded at (the paper: 44,100 Hz).
    cache_dir : str or os.PathLike, optional
        Cache folder for built-in corpora (:func:`gruvsynth.sources.default_cache_dir`).
    overwrite : bool
        Replace ``out`` if it is an existing corpus (a folder holding only a gruvsynth
        ``manifest.json`` and ``corpus.h5``, checked at the start and again when the new corpus
        is installed); otherwise an existing ``out`` is an error.
    progress : bool
        Show a progress bar (one step per song).
    std_floor : float
        Lower bound of the per-feature standard deviation (default ``1e-8``, the authors'
        code).  A larger floor (e.g. ``1e-3``) keeps features with (almost) no spread in the
        training clips from getting huge normalised values; see :data:`SPREAD_FLOOR`.

    Returns
    -------
    Corpus
        The new corpus, opened.

    Raises
    ------
    ParameterError
        A parameter is out of range.
    CorpusError
        ``out`` exists (and ``overwrite`` is false, or it is not a corpus), a folder appeared
        at ``out`` while preparing, another prepare is writing ``out``, the source does not
        exist or cannot be read, or no song is usable.
    OutputError
        ``out``'s folder cannot be written.
    FetchError
        A built-in corpus cannot be fetched or verified.

    Notes
    -----
    A file that cannot be decoded, or is too short for one clip (``T * N`` samples or fewer),
    is skipped with a warning naming it and the reason, and the end says how many were
    skipped.  Songs are decoded one ahead in a thread while the current one is transformed,
    so memory holds about two decoded songs and a few hundred feature rows, never the corpus.
    """
    if representation not in REPRESENTATIONS:
        raise ParameterError(f"representation must be one of {', '.join(REPRESENTATIONS)}, "
                             f"got {representation!r}")
    block = _check_int("block", block, 2)
    clip_blocks = _check_int("clip_blocks", clip_blocks, 1)
    sr = _check_int("sr", sr, 1)
    split_seed = _check_int("split_seed", split_seed, 0)
    if songs is not None:
        songs = _check_int("songs", songs, 1)
    if max_seconds is not None and not (isinstance(max_seconds, (int, float))
                                        and math.isfinite(max_seconds) and max_seconds > 0):
        raise ParameterError(f"max_seconds must be a positive number, got {max_seconds!r}")
    if not 0.0 <= float(dev_fraction) < 1.0:
        raise ParameterError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    if stats_from not in STATS_CHOICES:
        raise ParameterError(f"stats_from must be one of {', '.join(STATS_CHOICES)}, "
                             f"got {stats_from!r}")
    if (isinstance(std_floor, bool) or not isinstance(std_floor, (int, float))
            or not math.isfinite(std_floor) or std_floor <= 0):
        raise ParameterError(f"std_floor must be a positive number, got {std_floor!r}")
    std_floor = float(std_floor)
    width = feature_size(block, representation)
    _check_sizes(block=block, clip_blocks=clip_blocks, width=width, sr=sr,
                 representation=representation, max_seconds=max_seconds)

    out = Path(out).expanduser().absolute()
    _check_out(out, overwrite)
    desc, entries = _resolve_source(source, cache_dir=cache_dir, progress=progress)
    n_files = len(entries)
    if songs is not None:
        entries = entries[:songs]
    if not (isinstance(start_seconds, (int, float)) and math.isfinite(start_seconds)
            and start_seconds >= 0):
        raise ParameterError(f"start_seconds must be a number >= 0, got {start_seconds!r}")
    start_seconds = float(start_seconds)
    max_samples = None if max_seconds is None else int(round(max_seconds * sr))

    with writing(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    _clean_partials(out)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    with writing(out):
        partial.mkdir()
    params = {
        "representation": representation, "block": block, "clip_blocks": clip_blocks,
        "dev_fraction": float(dev_fraction), "split_seed": split_seed, "stats_from": stats_from,
        "sr": sr, "songs": songs, "max_seconds": max_seconds, "start_seconds": start_seconds,
        "std_floor": std_floor,
    }
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gruv-decode")
    try:
        rows_per_chunk = chunk_rows(width, clip_blocks)
        fft_rows = max(1, min(_FFT_ROWS, _CHUNK_BYTES // (width * 4)))
        kept: list[dict] = []
        moments: list[RunningMoments] = []
        skipped: list[dict] = []
        with writing(partial / DATA_NAME):
            h5 = h5py.File(partial / DATA_NAME, "w")
        with h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["format_version"] = FORMAT_VERSION
            feats = h5.create_dataset("features", shape=(0, width), maxshape=(None, width),
                                      chunks=(rows_per_chunk, width), dtype=np.float32)
            rows_total = 0
            with _progress_bar(len(entries), progress) as bar:
                decode = functools.partial(_decode, sr=sr, start=start_seconds,
                                           seconds=max_seconds)
                future = pool.submit(decode, entries[0][1], entries[0][2]) if entries else None
                for i, (name, path, _) in enumerate(entries):
                    bar.set_postfix_str(name[-40:], refresh=False)
                    audio, digest, error = future.result()
                    future = (pool.submit(decode, entries[i + 1][1], entries[i + 1][2])
                              if i + 1 < len(entries) else None)
                    if error is not None:
                        skipped.append({"path": str(path), "reason": error.reason})
                        log.warning("skipping %s", error)
                        bar.update()
                        continue
                    seconds = audio.shape[0] / sr
                    if max_samples is not None:
                        audio = audio[:max_samples]
                    n_blocks = -(-audio.shape[0] // block)
                    n_clips = clip_count(n_blocks, clip_blocks)
                    if n_clips == 0:
                        reason = (f"too short for one clip ({audio.shape[0] / sr:.2f} s used; a clip "
                                  f"of {clip_blocks} blocks needs more than "
                                  f"{clip_blocks * block / sr:.2f} s)")
                        skipped.append({"path": str(path), "reason": reason})
                        log.warning("skipping %s: %s", path, reason)
                        bar.update()
                        continue
                    n_rows = n_clips * clip_blocks + 1
                    n_inputs = n_clips * clip_blocks
                    feats.resize((rows_total + n_rows, width))
                    song_moments = RunningMoments(width)
                    for start in range(0, n_rows, fft_rows):
                        stop = min(start + fft_rows, n_rows)
                        rows = to_features(audio[start * block: stop * block], block=block,
                                           representation=representation)
                        feats[rows_total + start: rows_total + stop] = rows
                        song_moments.add(rows[: max(0, min(stop, n_inputs) - start)])
                    del audio
                    kept.append({
                        "name": name, "path": str(path), "sha256": digest,
                        "seconds": round(seconds, 3), "n_blocks": n_blocks, "n_clips": n_clips,
                        "n_rows": n_rows, "offset": rows_total,
                    })
                    moments.append(song_moments)
                    rows_total += n_rows
                    bar.update()
            if skipped:
                log.warning("skipped %d of %d files", len(skipped), len(entries))
            if not kept:
                raise CorpusError(
                    f"{_describe(desc)}: no usable song (all {len(entries)} files skipped; "
                    f"first: {skipped[0]['path']}: {skipped[0]['reason']})"
                    if skipped else f"{_describe(desc)}: no songs"
                )

            split = split_songs([s["name"] for s in kept], dev_fraction=dev_fraction,
                                seed=split_seed)
            dev_names = set(split["dev"])
            if not split["dev"]:
                log.warning("the dev split is empty (%d usable song%s, dev_fraction %g)",
                            len(kept), "" if len(kept) == 1 else "s", dev_fraction)
            stats, dev_stats = RunningMoments(width), RunningMoments(width)
            for song, m in zip(kept, moments, strict=True):
                song["split"] = "dev" if song["name"] in dev_names else "train"
                if stats_from == "all" or song["split"] == "train":
                    stats.merge(m)
                if song["split"] == "dev":
                    dev_stats.merge(m)
            mean = stats.mean.astype(np.float32)
            std = stats.std(std_floor).astype(np.float32)
            spread = spread_report(stats, dev_stats, std_floor=std_floor)
            if spread["harmful"]:
                log.warning("%s", describe_spread(spread, width))
            h5.create_dataset("mean", data=mean)
            h5.create_dataset("std", data=std)
            group = h5.create_group("songs")
            text = h5py.string_dtype()
            group.create_dataset("name", data=np.array([s["name"] for s in kept], dtype=object),
                                 dtype=text)
            group.create_dataset("split", data=np.array([s["split"] for s in kept], dtype=object),
                                 dtype=text)
            group.create_dataset("source", data=np.array([s["path"] for s in kept], dtype=object),
                                 dtype=text)
            group.create_dataset("sha256", data=np.array([s["sha256"] for s in kept],
                                                         dtype=object), dtype=text)
            for key in ("offset", "n_clips", "n_rows"):
                group.create_dataset(key, data=np.array([s[key] for s in kept], dtype=np.int64))
            for key, value in params.items():
                h5.attrs[key] = "none" if value is None else value
            h5.attrs["features"] = width

        counts = {
            "files": n_files, "used_files": len(entries), "songs": len(kept),
            "skipped": len(skipped),
            "train_songs": len(split["train"]), "dev_songs": len(split["dev"]),
            "train_clips": sum(s["n_clips"] for s in kept if s["split"] == "train"),
            "dev_clips": sum(s["n_clips"] for s in kept if s["split"] == "dev"),
            "rows": rows_total, "stats_blocks": int(stats.n),
        }
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "gruvsynth_version": __version__, "source": desc, "parameters": params,
            "features": width, "stats_from": stats_from, "split": split, "counts": counts,
            "spread": spread, "songs": kept, "skipped": skipped, "data": DATA_NAME,
        }
        with writing(partial / MANIFEST_NAME):
            (partial / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n",
                                                 encoding="utf-8")
        _install(partial, out, overwrite=overwrite)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pool.shutdown(wait=True)
    return open_corpus(out)


def _describe(desc: dict) -> str:
    return desc["name"] if desc["kind"] == "builtin" else ", ".join(desc["inputs"])


def _install(partial: Path, out: Path, *, overwrite: bool) -> None:
    """Rename the finished ``partial`` folder to ``out``.

    Nothing this prepare did not make is ever deleted: a folder that appeared at ``out``
    meanwhile (another prepare's corpus, a user's folder) makes it fail, unless
    ``overwrite`` is given and the folder is recognisably a corpus (checked again here, and
    once more after it is moved aside); then it is replaced.
    """
    def appeared() -> CorpusError:
        return CorpusError(f"{out}: a folder appeared there while this prepare was running "
                           "(another prepare, or made by hand); it is left as it is and this "
                           "prepare's corpus is discarded")

    try:
        rename_no_replace(partial, out)
        return
    except FileExistsError:
        if not overwrite:
            raise appeared() from None
    except OSError as exc:
        raise OutputError(out, exc.strerror or str(exc)) from None
    # --force: replace the corpus that is there, if it is one
    _check_replaceable(out, out)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    with writing(out):
        os.rename(out, old)
    try:
        _check_replaceable(old, out)  # it may have been swapped since the check above
    except CorpusError:
        with contextlib.suppress(OSError):
            rename_no_replace(old, out)
        raise
    try:
        rename_no_replace(partial, out)
    except OSError:
        with contextlib.suppress(OSError):
            rename_no_replace(old, out)
        raise appeared() from None
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _progress_bar(total: int, progress: bool):
    """A tqdm bar (one step per song); meanwhile gruvsynth's log lines are written through tqdm."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    redirect = (logging_redirect_tqdm([logging.getLogger("gruvsynth")]) if progress
                else contextlib.nullcontext())
    with redirect, tqdm(total=total, unit="song", desc="prepare", disable=not progress,
                        dynamic_ncols=True, leave=False) as bar:
        yield bar


# ---------------------------------------------------------------------------------------------
# reading


class ClipArray:
    """Lazy, read-only array of normalised clips, shape ``(n_clips, T, D)``, float32.

    Rows are read from the corpus's HDF5 file on indexing: an int gives one clip
    ``(T, D)``; a slice, an integer array (any order, repeats allowed) or a boolean mask gives
    ``(k, T, D)``; a tuple indexes further into the result.  ``np.asarray`` reads all clips.
    Inputs and targets are two views of the same rows, the targets shifted by one block.

    Parameters
    ----------
    corpus : Corpus
        The open corpus.
    starts : np.ndarray [shape=(n_clips,), dtype=int64]
        Row of each clip's first block in ``features``.
    shift : int
        0 for inputs, 1 for targets.
    """

    def __init__(self, corpus: Corpus, starts: np.ndarray, shift: int):
        self._corpus = corpus
        self._starts = np.asarray(starts, dtype=np.int64)
        self._shift = int(shift)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_clips, T, D)``."""
        return (len(self._starts), self._corpus.clip_blocks, self._corpus.features)

    @property
    def dtype(self) -> np.dtype:
        """Always float32."""
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        """Always 3."""
        return 3

    @property
    def nbytes(self) -> int:
        """Bytes the whole array would take in memory."""
        return int(np.prod(self.shape)) * 4

    def __len__(self) -> int:
        return len(self._starts)

    def __repr__(self) -> str:
        kind = "targets" if self._shift else "inputs"
        return f"<ClipArray {kind} shape={self.shape} float32 from {self._corpus.path}>"

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        out = self._corpus._read(self._starts, self._shift)
        return out if dtype is None else out.astype(dtype, copy=False)

    def _indices(self, key) -> np.ndarray:
        n = len(self._starts)
        if isinstance(key, slice):
            return np.arange(n)[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean index of shape {idx.shape} for {n} clips")
            return np.flatnonzero(idx)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"clips are indexed by integers, slices or masks, not {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"clip index out of range for {n} clips")
        return np.where(idx < 0, idx + n, idx)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if not key:
                return np.asarray(self)
            head, rest = key[0], key[1:]
            picked = self[head]
            if isinstance(head, (int, np.integer)):  # one clip: (T, D)
                return picked[rest]
            return picked[(slice(None), *rest)]
        if isinstance(key, (int, np.integer)):
            n = len(self._starts)
            if not -n <= key < n:
                raise IndexError(f"clip {key} out of range for {n} clips")
            return self._corpus._read(self._starts[[int(key) % n]], self._shift)[0]
        return self._corpus._read(self._starts[self._indices(key)], self._shift)


class Corpus:
    """A prepared corpus, open for reading (use :func:`open_corpus`).

    Attributes
    ----------
    path : pathlib.Path
        The corpus folder.
    manifest : dict
        The parsed ``manifest.json``.
    manifest_hash : str
        SHA-256 (hex) of ``manifest.json``'s bytes: identifies the corpus for training runs.
    mean, std : np.ndarray [shape=(D,), dtype=float32]
        Normalisation statistics (``std >= std_floor``, 1e-8 unless prepared with another).
    representation : str
        ``"fft"`` or ``"rfft"``.
    block : int
        Samples per block ``N``.
    clip_blocks : int
        Blocks per clip ``T``.
    features : int
        Feature width ``D``.
    sr : int
        Sample rate in Hz.
    """

    def __init__(self, path: Path, manifest: dict, manifest_hash: str, h5: h5py.File):
        self.path = path
        self.manifest = manifest
        self.manifest_hash = manifest_hash
        params = manifest["parameters"]
        self.representation = params["representation"]
        self.block = int(params["block"])
        self.clip_blocks = int(params["clip_blocks"])
        self.sr = int(params["sr"])
        self.features = int(manifest["features"])
        self._h5 = h5
        self._data = h5["features"]
        self.mean = h5["mean"][()].astype(np.float32)
        self.std = h5["std"][()].astype(np.float32)
        table = h5["songs"]
        names = list(table["name"].asstr()[()])
        splits = list(table["split"].asstr()[()])
        offsets = table["offset"][()].astype(np.int64)
        n_clips = table["n_clips"][()].astype(np.int64)
        n_rows = table["n_rows"][()].astype(np.int64)
        self._songs = {
            name: (split, int(off), int(k), int(r))
            for name, split, off, k, r in zip(names, splits, offsets, n_clips, n_rows, strict=True)
        }
        self._order = names
        per_split: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
        for name in names:
            split, offset, k, _ = self._songs[name]
            per_split[split].append(offset + self.clip_blocks * np.arange(k, dtype=np.int64))
        # row of each clip's first block, per split: songs in corpus order, clips in time order
        self._starts = {
            split: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            for split, parts in per_split.items()
        }

    # -- lifecycle
    def close(self) -> None:
        """Close the HDF5 file (the arrays from :meth:`clips` stop working)."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        c = self.manifest["counts"]
        return (f"<Corpus {self.path}: {c['train_songs']} train / {c['dev_songs']} dev songs, "
                f"{c['train_clips']} / {c['dev_clips']} clips of {self.clip_blocks} x "
                f"{self.features} ({self.representation})>")

    # -- contents
    @property
    def spread(self) -> dict | None:
        """The manifest's report on features with (almost) no spread (see
        :func:`spread_report`); None for a corpus prepared before it was recorded."""
        spread = self.manifest.get("spread")
        return spread if isinstance(spread, dict) else None

    def _check_split(self, split: str) -> str:
        if split not in SPLITS:
            raise ParameterError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        return split

    def songs(self, split: str | None = None) -> list[str]:
        """Names of the songs in a split (``None``: all), in corpus order.

        Parameters
        ----------
        split : {"train", "dev"}, optional

        Returns
        -------
        list of str
        """
        if split is None:
            return list(self._order)
        self._check_split(split)
        return [n for n in self._order if self._songs[n][0] == split]

    def clips(self, split: str) -> tuple[ClipArray, ClipArray]:
        """Normalised clips of a split and their next-block targets, read lazily.

        Parameters
        ----------
        split : {"train", "dev"}

        Returns
        -------
        inputs : ClipArray [shape=(n_clips, T, D), dtype=float32]
            Songs in corpus order, each song's clips in time order.
        targets : ClipArray [shape=(n_clips, T, D), dtype=float32]
            ``targets[i, t]`` is the block after ``inputs[i, t]`` (so
            ``targets[i, :-1] == inputs[i, 1:]``).
        """
        starts = self._starts[self._check_split(split)]
        return ClipArray(self, starts, 0), ClipArray(self, starts, 1)

    def batch(self, split: str, index) -> tuple[np.ndarray, np.ndarray]:
        """Read some clips and their targets with one read per clip (for training loops).

        Parameters
        ----------
        split : {"train", "dev"}
        index : array-like of int
            Clip indices in the split (any order, repeats allowed).

        Returns
        -------
        inputs, targets : np.ndarray [shape=(k, T, D), dtype=float32]
        """
        rows = self.rows(split, index)
        return rows[:, :-1], rows[:, 1:]

    def rows(self, split: str, index=None) -> np.ndarray:
        """Clips with their next block: rows of ``T + 1`` normalised blocks.

        Parameters
        ----------
        split : {"train", "dev"}
        index : array-like of int, optional
            Clip indices in the split (any order, repeats allowed); all clips by default.

        Returns
        -------
        rows : np.ndarray [shape=(k, T + 1, D), dtype=float32]
            ``rows[:, :-1]`` are the inputs and ``rows[:, 1:]`` the targets of the clips.
        """
        view = ClipArray(self, self._starts[self._check_split(split)], 0)
        picked = view._starts if index is None else view._starts[view._indices(index)]
        return self._read(picked, 0, extra=1)

    def song_blocks(self, name: str) -> np.ndarray:
        """All stored blocks of one song, normalised (e.g. for generation seeds).

        Parameters
        ----------
        name : str
            A name from :meth:`songs`.

        Returns
        -------
        np.ndarray [shape=(n_clips * T + 1, D), dtype=float32]
            The blocks its clips use plus the one after the last clip.
        """
        if name not in self._songs:
            raise ParameterError(f"{self.path}: no song named {name!r}")
        _, offset, _, n_rows = self._songs[name]
        rows = self._dataset()[offset: offset + n_rows]
        return self.normalise(rows)

    def song_length(self, name: str) -> int:
        """How many blocks of a song are stored (:meth:`song_blocks`'s length).

        Parameters
        ----------
        name : str
            A name from :meth:`songs`.

        Returns
        -------
        int
        """
        if name not in self._songs:
            raise ParameterError(f"{self.path}: no song named {name!r}")
        return self._songs[name][3]

    def normalise(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / std`` in float32.

        Parameters
        ----------
        x : np.ndarray [shape=(..., D)]

        Returns
        -------
        np.ndarray [shape=(..., D), dtype=float32]
        """
        x = np.asarray(x, dtype=np.float32)
        return (x - self.mean) / self.std

    def denormalise(self, x: np.ndarray) -> np.ndarray:
        """``x * std + mean`` in float32 (inverse of :meth:`normalise`).

        Parameters
        ----------
        x : np.ndarray [shape=(..., D)]

        Returns
        -------
        np.ndarray [shape=(..., D), dtype=float32]
        """
        x = np.asarray(x, dtype=np.float32)
        return x * self.std + self.mean

    # -- internals
    def _dataset(self):
        if self._h5 is None:
            raise CorpusError(f"{self.path}: the corpus is closed")
        return self._data

    def _read(self, starts: np.ndarray, shift: int, *, extra: int = 0) -> np.ndarray:
        """Normalised rows ``[s + shift, s + shift + T + extra)`` for each start ``s``."""
        data = self._dataset()
        length = self.clip_blocks + extra
        out = np.empty((len(starts), length, self.features), dtype=np.float32)
        if len(starts) == 0:
            return out
        first: dict[int, int] = {}
        for j, s in enumerate(starts):
            s = int(s)
            if s in first:  # a repeat: copy instead of reading again
                out[j] = out[first[s]]
                continue
            first[s] = j
            data.read_direct(out, np.s_[s + shift: s + shift + length], np.s_[j])
        out -= self.mean
        out /= self.std
        return out


def _validate(h5: h5py.File, manifest: dict, data_path: Path, *, rows: int, width: int,
              n_songs: int) -> None:
    """Raise a :class:`CorpusError` naming the first thing in the file that is inconsistent."""
    def bad(what: str) -> CorpusError:
        return CorpusError(f"{data_path}: {what}; the corpus was changed or damaged after "
                           "gruvsynth prepare wrote it (prepare it again)")

    expected = {"features": (rows, width), "mean": (width,), "std": (width,)}
    expected.update({f"songs/{k}": (n_songs,) for k in
                     ("name", "split", "offset", "n_clips", "n_rows")})
    for key, shape in expected.items():
        if h5[key].shape != shape:
            raise bad(f"{key!r} has shape {h5[key].shape}, expected {shape} from "
                      f"{MANIFEST_NAME} ({rows} rows, D = {width}, {n_songs} songs)")
    for key in ("mean", "std"):
        values = h5[key][()]
        if not np.isfinite(values).all():
            n = int(np.count_nonzero(~np.isfinite(values)))
            raise bad(f"{key!r} has {n} NaN or infinite values")
    std = h5["std"][()]
    if (std <= 0).any():
        raise bad(f"'std' has {int(np.count_nonzero(std <= 0))} values <= 0")
    names = list(h5["songs/name"].asstr()[()])
    splits = list(h5["songs/split"].asstr()[()])
    offsets = h5["songs/offset"][()]
    n_clips = h5["songs/n_clips"][()]
    n_rows = h5["songs/n_rows"][()]
    if len(set(names)) != len(names):
        raise bad("the song names are not unique")
    wrong = sorted(set(splits) - set(SPLITS))
    if wrong:
        raise bad(f"song split {wrong[0]!r} is neither 'train' nor 'dev'")
    for key, values in (("offset", offsets), ("n_clips", n_clips), ("n_rows", n_rows)):
        if not np.issubdtype(values.dtype, np.integer):
            raise bad(f"'songs/{key}' is not integers ({values.dtype})")
    t = int(manifest["parameters"]["clip_blocks"])
    start = 0
    for name, off, k, r in zip(names, offsets.tolist(), n_clips.tolist(), n_rows.tolist(),
                               strict=True):
        if k < 1 or r != k * t + 1:
            raise bad(f"song {name!r} has {r} rows for {k} clips (expected {k} x {t} + 1)")
        if off != start:
            raise bad(f"song {name!r} starts at row {off}, expected {start} (right after the "
                      "song before it)")
        start += r
    if start != rows:
        raise bad(f"the songs hold {start} rows, the features {rows}")
    counts = manifest.get("counts") or {}
    for split in SPLITS:
        have = sum(k for s, k in zip(splits, n_clips.tolist(), strict=True) if s == split)
        want = counts.get(f"{split}_clips")
        if want is not None and want != have:
            raise bad(f"the song table has {have} {split} clips, {MANIFEST_NAME} says {want}")
    if rows:
        picks = np.unique(np.linspace(0, rows - 1, min(rows, CHECK_ROWS)).round().astype(np.int64))
        for i in picks.tolist():
            row = h5["features"][i]
            if not np.isfinite(row).all():
                raise bad(f"feature row {i} has {int(np.count_nonzero(~np.isfinite(row)))} NaN "
                          "or infinite values")


def open_corpus(path: str | os.PathLike) -> Corpus:
    """Open a corpus folder written by :func:`prepare_corpus`.

    Parameters
    ----------
    path : str or os.PathLike
        The corpus folder.

    Returns
    -------
    Corpus

    Raises
    ------
    CorpusError
        The folder is missing or cannot be read, is an unfinished prepare, lacks
        ``manifest.json`` or ``corpus.h5``, holds a corrupt or foreign file, has another format
        version, or its contents disagree: shapes, the song table (offsets, row and clip
        counts, splits), statistics that are not finite or a ``std`` that is not positive, or
        NaN/infinite values in a sample of the feature rows (:data:`CHECK_ROWS`).
    """
    path = Path(path).expanduser()
    try:
        is_dir = path.is_dir()
    except PermissionError:
        raise CorpusError(f"{path}: cannot be read (permission denied)") from None
    if not is_dir and not os.path.lexists(path):
        raise CorpusError(f"{path}: no such corpus folder")
    if not is_dir:
        raise CorpusError(f"{path}: not a folder (a corpus is a folder made by gruvsynth prepare)")
    if _PARTIAL.match(path.name):
        raise CorpusError(f"{path}: an unfinished (interrupted) prepare, not a corpus; "
                          "run gruvsynth prepare again")
    manifest_path = path / MANIFEST_NAME
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no {MANIFEST_NAME}; not a gruvsynth corpus") from None
    except OSError as exc:
        raise CorpusError(f"{manifest_path}: cannot read ({exc.strerror or exc})") from None
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{manifest_path}: corrupt manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorpusError(f"{manifest_path}: not a gruvsynth corpus manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise CorpusError(f"{path}: corpus format version {version!r}, this gruvsynth "
                          f"({__version__}) reads version {FORMAT_VERSION}; prepare it again")
    try:
        params = manifest["parameters"]
        width = int(manifest["features"])
        rows = int(manifest["counts"]["rows"])
        n_songs = len(manifest["songs"])
        int(params["block"]), int(params["clip_blocks"]), int(params["sr"])
        params["representation"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{manifest_path}: incomplete manifest (missing {exc})") from None
    data_path = path / DATA_NAME
    if not data_path.is_file():
        raise CorpusError(f"{path}: no {DATA_NAME}; the corpus is incomplete")
    if not os.access(data_path, os.R_OK):
        raise CorpusError(f"{data_path}: cannot be read (permission denied)")
    try:
        h5 = h5py.File(data_path, "r")
    except PermissionError:
        raise CorpusError(f"{data_path}: cannot be read (permission denied)") from None
    except OSError:
        raise CorpusError(f"{data_path}: corrupt or not an HDF5 file") from None
    try:
        if h5.attrs.get("format") != FORMAT or h5.attrs.get("format_version") != FORMAT_VERSION:
            raise CorpusError(f"{data_path}: not a gruvsynth corpus file (format version "
                              f"{FORMAT_VERSION})")
        for key in ("features", "mean", "std", "songs/name", "songs/split", "songs/offset",
                    "songs/n_clips", "songs/n_rows"):
            if key not in h5:
                raise CorpusError(f"{data_path}: no {key!r} dataset; the file is incomplete")
        _validate(h5, manifest, data_path, rows=rows, width=width, n_songs=n_songs)
        corpus = Corpus(path, manifest, hashlib.sha256(raw).hexdigest(), h5)
    except CorpusError:
        h5.close()
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        h5.close()
        raise CorpusError(f"{data_path}: corrupt corpus file ({exc})") from None
    return corpus

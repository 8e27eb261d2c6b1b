"""Reading a corpus folder: :func:`open_corpus` checks it and gives a :class:`Corpus`, whose
clips (:class:`ClipArray`) are streamed from disk.

:func:`open_corpus` checks what it opens: the manifest, the datasets' shapes, the song table
(offsets, row and clip counts, splits), finite statistics with ``std > 0``, and a sample of
the feature rows (:data:`~gruvsynth.corpus.layout.CHECK_ROWS`) for NaN or infinite values.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from gruvsynth import __version__
from gruvsynth.checks import check_choice
from gruvsynth.corpus.layout import (
    CHECK_ROWS,
    DATA_NAME,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    PARTIAL_PATTERN,
    SPLITS,
)
from gruvsynth.errors import CorpusError, ParameterError

__all__ = ["ClipArray", "Corpus", "open_corpus"]


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
        return check_choice("split", split, SPLITS)

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
    _check_folder(path)
    manifest, raw = _read_manifest(path)
    data_path = path / DATA_NAME
    h5 = _open_data(path, data_path)
    try:
        if h5.attrs.get("format") != FORMAT or h5.attrs.get("format_version") != FORMAT_VERSION:
            raise CorpusError(f"{data_path}: not a gruvsynth corpus file (format version "
                              f"{FORMAT_VERSION})")
        for key in ("features", "mean", "std", "songs/name", "songs/split", "songs/offset",
                    "songs/n_clips", "songs/n_rows"):
            if key not in h5:
                raise CorpusError(f"{data_path}: no {key!r} dataset; the file is incomplete")
        _validate(h5, manifest, data_path, rows=int(manifest["counts"]["rows"]),
                  width=int(manifest["features"]), n_songs=len(manifest["songs"]))
        corpus = Corpus(path, manifest, hashlib.sha256(raw).hexdigest(), h5)
    except CorpusError:
        h5.close()
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        h5.close()
        raise CorpusError(f"{data_path}: corrupt corpus file ({exc})") from None
    return corpus


def _check_folder(path: Path) -> None:
    """Raise unless ``path`` is a folder that is not an unfinished prepare."""
    try:
        is_dir = path.is_dir()
    except PermissionError:
        raise CorpusError(f"{path}: cannot be read (permission denied)") from None
    if not is_dir and not os.path.lexists(path):
        raise CorpusError(f"{path}: no such corpus folder")
    if not is_dir:
        raise CorpusError(f"{path}: not a folder (a corpus is a folder made by gruvsynth prepare)")
    if PARTIAL_PATTERN.match(path.name):
        raise CorpusError(f"{path}: an unfinished (interrupted) prepare, not a corpus; "
                          "run gruvsynth prepare again")


def _read_manifest(path: Path) -> tuple[dict, bytes]:
    """The corpus's parsed manifest, checked for format and completeness, and its bytes."""
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
        int(manifest["features"]), int(manifest["counts"]["rows"]), len(manifest["songs"])
        int(params["block"]), int(params["clip_blocks"]), int(params["sr"])
        params["representation"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CorpusError(f"{manifest_path}: incomplete manifest (missing {exc})") from None
    return manifest, raw


def _open_data(path: Path, data_path: Path) -> h5py.File:
    """``corpus.h5``, open for reading."""
    if not data_path.is_file():
        raise CorpusError(f"{path}: no {DATA_NAME}; the corpus is incomplete")
    if not os.access(data_path, os.R_OK):
        raise CorpusError(f"{data_path}: cannot be read (permission denied)")
    try:
        return h5py.File(data_path, "r")
    except PermissionError:
        raise CorpusError(f"{data_path}: cannot be read (permission denied)") from None
    except OSError:
        raise CorpusError(f"{data_path}: corrupt or not an HDF5 file") from None

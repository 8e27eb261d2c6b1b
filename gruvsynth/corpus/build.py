"""Preparing a corpus: songs → FFT blocks → train/dev clips with next-block targets, on disk.

:func:`prepare_corpus` turns a built-in corpus (:mod:`gruvsynth.sources`) or a folder/list of
the user's audio files into a corpus folder (its format: :mod:`gruvsynth.corpus.layout`;
installed as :mod:`gruvsynth.corpus.install` says).

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
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import logging
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from gruvsynth import __version__
from gruvsynth.audio import load, scan_audio_files
from gruvsynth.checks import check_choice, check_float, check_int, check_optional_int
from gruvsynth.corpus.install import check_out, clean_partials, install, partial_folder
from gruvsynth.corpus.layout import (
    BLOCK,
    CHUNK_BYTES,
    CLIP_BLOCKS,
    DATA_NAME,
    DEV_FRACTION,
    FFT_ROWS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MAX_ROW_BYTES,
    REPRESENTATION,
    SPLIT_SEED,
    SR,
    STATS_CHOICES,
    STATS_FROM,
    STD_FLOOR,
    chunk_rows,
    clip_count,
    split_songs,
)
from gruvsynth.corpus.reader import Corpus, open_corpus
from gruvsynth.corpus.stats import RunningMoments, describe_spread, spread_report
from gruvsynth.errors import AudioError, CorpusError, ParameterError
from gruvsynth.features import REPRESENTATIONS, feature_size, to_features
from gruvsynth.fileio import write_json_atomic, writing
from gruvsynth.sources import BUILTIN_CORPORA, corpus_info, fetch_corpus, sha256_file

__all__ = ["prepare_corpus"]

log = logging.getLogger("gruvsynth.corpus")


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
    params = _checked_parameters(
        representation=representation, block=block, clip_blocks=clip_blocks, sr=sr,
        split_seed=split_seed, songs=songs, max_seconds=max_seconds, dev_fraction=dev_fraction,
        stats_from=stats_from, std_floor=std_floor)
    out = Path(out).expanduser().absolute()
    check_out(out, overwrite)
    desc, entries = _resolve_source(source, cache_dir=cache_dir, progress=progress)
    n_files = len(entries)
    if params["songs"] is not None:
        entries = entries[:params["songs"]]
    if not (isinstance(start_seconds, (int, float)) and math.isfinite(start_seconds)
            and start_seconds >= 0):
        raise ParameterError(f"start_seconds must be a number >= 0, got {start_seconds!r}")
    params["start_seconds"] = float(start_seconds)

    with writing(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    clean_partials(out)
    partial = partial_folder(out)
    with writing(out):
        partial.mkdir()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gruv-decode")
    try:
        built = _build(partial / DATA_NAME, entries, params, desc, pool, progress=progress)
        built["counts"] = {"files": n_files, "used_files": len(entries), **built["counts"]}
        write_json_atomic(partial / MANIFEST_NAME, _manifest(desc, params, built), indent=1,
                          allow_nan=True)
        install(partial, out, overwrite=overwrite)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pool.shutdown(wait=True)
    return open_corpus(out)


def _checked_parameters(*, representation, block, clip_blocks, sr, split_seed, songs,
                        max_seconds, dev_fraction, stats_from, std_floor) -> dict:
    """The parameters, checked and in canonical types, in the manifest's order (without
    ``start_seconds``, checked later, after the source is found)."""
    check_choice("representation", representation, REPRESENTATIONS)
    block = check_int("block", block, minimum=2)
    clip_blocks = check_int("clip_blocks", clip_blocks)
    sr = check_int("sr", sr)
    split_seed = check_int("split_seed", split_seed, minimum=0)
    songs = check_optional_int("songs", songs)
    if max_seconds is not None:
        check_float("max_seconds", max_seconds, positive=True)
    if not 0.0 <= float(dev_fraction) < 1.0:
        raise ParameterError(f"dev_fraction must be in [0, 1), got {dev_fraction!r}")
    check_choice("stats_from", stats_from, STATS_CHOICES)
    std_floor = check_float("std_floor", std_floor, positive=True)
    width = feature_size(block, representation)
    _check_sizes(block=block, clip_blocks=clip_blocks, width=width, sr=sr,
                 representation=representation, max_seconds=max_seconds)
    return {
        "representation": representation, "block": block, "clip_blocks": clip_blocks,
        "dev_fraction": float(dev_fraction), "split_seed": split_seed, "stats_from": stats_from,
        "sr": sr, "songs": songs, "max_seconds": max_seconds, "start_seconds": 0.0,
        "std_floor": std_floor,
    }


def _build(data_path: Path, entries: list, params: dict, desc: dict, pool, *,
           progress: bool) -> dict:
    """Write ``corpus.h5``: every usable song's feature rows, the statistics and the song
    table; returns ``songs`` (the kept songs), ``skipped``, ``split``, ``spread`` and the
    ``counts`` of songs, clips and rows."""
    width = feature_size(params["block"], params["representation"])
    with writing(data_path):
        h5 = h5py.File(data_path, "w")
    with h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["format_version"] = FORMAT_VERSION
        feats = h5.create_dataset("features", shape=(0, width), maxshape=(None, width),
                                  chunks=(chunk_rows(width, params["clip_blocks"]), width),
                                  dtype=np.float32)
        kept, moments, skipped = _add_songs(feats, entries, params, pool, progress=progress)
        if skipped:
            log.warning("skipped %d of %d files", len(skipped), len(entries))
        if not kept:
            raise CorpusError(
                f"{_describe(desc)}: no usable song (all {len(entries)} files skipped; "
                f"first: {skipped[0]['path']}: {skipped[0]['reason']})"
                if skipped else f"{_describe(desc)}: no songs"
            )
        split, stats, spread = _split_and_stats(kept, moments, params, width)
        h5.create_dataset("mean", data=stats.mean.astype(np.float32))
        h5.create_dataset("std", data=stats.std(params["std_floor"]).astype(np.float32))
        _write_song_table(h5, kept)
        for key, value in params.items():
            h5.attrs[key] = "none" if value is None else value
        h5.attrs["features"] = width
    counts = {
        "songs": len(kept), "skipped": len(skipped),
        "train_songs": len(split["train"]), "dev_songs": len(split["dev"]),
        "train_clips": sum(s["n_clips"] for s in kept if s["split"] == "train"),
        "dev_clips": sum(s["n_clips"] for s in kept if s["split"] == "dev"),
        "rows": sum(s["n_rows"] for s in kept), "stats_blocks": int(stats.n),
    }
    return {"songs": kept, "skipped": skipped, "split": split, "spread": spread,
            "counts": counts, "features": width}


def _add_songs(feats, entries: list, params: dict, pool, *, progress: bool
               ) -> tuple[list[dict], list[RunningMoments], list[dict]]:
    """Decode the songs (one ahead, in ``pool``) and append each usable one's rows to
    ``feats``; returns the kept songs, their moments and the skipped files."""
    sr, block, clip_blocks = params["sr"], params["block"], params["clip_blocks"]
    max_seconds = params["max_seconds"]
    max_samples = None if max_seconds is None else int(round(max_seconds * sr))
    kept: list[dict] = []
    moments: list[RunningMoments] = []
    skipped: list[dict] = []
    rows_total = 0
    decode = functools.partial(_decode, sr=sr, start=params["start_seconds"],
                               seconds=max_seconds)
    with _progress_bar(len(entries), progress) as bar:
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
            moments.append(_write_rows(feats, audio, rows_total, n_clips, params))
            del audio
            n_rows = n_clips * clip_blocks + 1
            kept.append({
                "name": name, "path": str(path), "sha256": digest,
                "seconds": round(seconds, 3), "n_blocks": n_blocks, "n_clips": n_clips,
                "n_rows": n_rows, "offset": rows_total,
            })
            rows_total += n_rows
            bar.update()
    return kept, moments, skipped


def _write_rows(feats, audio: np.ndarray, offset: int, n_clips: int, params: dict
                ) -> RunningMoments:
    """Append one song's feature rows at ``offset``, a few at a time; returns the moments of
    its input blocks (every row but the last)."""
    block, clip_blocks = params["block"], params["clip_blocks"]
    width = feats.shape[1]
    fft_rows = max(1, min(FFT_ROWS, CHUNK_BYTES // (width * 4)))
    n_rows = n_clips * clip_blocks + 1
    n_inputs = n_clips * clip_blocks
    feats.resize((offset + n_rows, width))
    song_moments = RunningMoments(width)
    for start in range(0, n_rows, fft_rows):
        stop = min(start + fft_rows, n_rows)
        rows = to_features(audio[start * block: stop * block], block=block,
                           representation=params["representation"])
        feats[offset + start: offset + stop] = rows
        song_moments.add(rows[: max(0, min(stop, n_inputs) - start)])
    return song_moments


def _split_and_stats(kept: list[dict], moments: list[RunningMoments], params: dict,
                     width: int) -> tuple[dict, RunningMoments, dict]:
    """Split the kept songs (setting each one's ``split``); returns the split, the moments
    the statistics come from and the spread report (warning when it is harmful)."""
    split = split_songs([s["name"] for s in kept], dev_fraction=params["dev_fraction"],
                        seed=params["split_seed"])
    dev_names = set(split["dev"])
    if not split["dev"]:
        log.warning("the dev split is empty (%d usable song%s, dev_fraction %g)",
                    len(kept), "" if len(kept) == 1 else "s", params["dev_fraction"])
    stats, dev_stats = RunningMoments(width), RunningMoments(width)
    for song, m in zip(kept, moments, strict=True):
        song["split"] = "dev" if song["name"] in dev_names else "train"
        if params["stats_from"] == "all" or song["split"] == "train":
            stats.merge(m)
        if song["split"] == "dev":
            dev_stats.merge(m)
    spread = spread_report(stats, dev_stats, std_floor=params["std_floor"])
    if spread["harmful"]:
        log.warning("%s", describe_spread(spread, width))
    return split, stats, spread


def _write_song_table(h5: h5py.File, kept: list[dict]) -> None:
    """The ``songs/`` group: one entry per kept song."""
    group = h5.create_group("songs")
    text = h5py.string_dtype()
    for key, field in (("name", "name"), ("split", "split"), ("source", "path"),
                       ("sha256", "sha256")):
        group.create_dataset(key, data=np.array([s[field] for s in kept], dtype=object),
                             dtype=text)
    for key in ("offset", "n_clips", "n_rows"):
        group.create_dataset(key, data=np.array([s[key] for s in kept], dtype=np.int64))


def _manifest(desc: dict, params: dict, built: dict) -> dict:
    """``manifest.json``'s contents."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "gruvsynth_version": __version__, "source": desc, "parameters": params,
        "features": built["features"], "stats_from": params["stats_from"],
        "split": built["split"], "counts": built["counts"], "spread": built["spread"],
        "songs": built["songs"], "skipped": built["skipped"], "data": DATA_NAME,
    }


def _describe(desc: dict) -> str:
    return desc["name"] if desc["kind"] == "builtin" else ", ".join(desc["inputs"])


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



def _decode(path: Path, pinned: str | None, sr: int, start: float = 0.0,
            seconds: float | None = None):
    """Run in the prefetch thread: the decoded song and its sha256 (or the AudioError)."""
    try:
        audio = load(path, sr=sr, offset=start, duration=seconds)
    except AudioError as exc:
        return None, None, exc
    digest = pinned or sha256_file(path)
    return audio, digest, None


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


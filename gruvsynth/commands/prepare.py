"""``gruvsynth prepare``: turn songs into a train/dev corpus of FFT clips (see :mod:`gruvsynth.corpus`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gruvsynth import corpus as _corpus
from gruvsynth.cli import subcommand_main
from gruvsynth.commands import argtypes
from gruvsynth.errors import ParameterError
from gruvsynth.features import REPRESENTATIONS
from gruvsynth.sources import BUILTIN_CORPORA

HELP = "decode songs into a train/dev corpus of FFT clips on disk"
DESCRIPTION = f"""\
Turn songs into a prepared corpus folder: decode each song to mono at --sr Hz, cut it into
blocks of --block samples, take each block's FFT (--representation), cut songs into
non-overlapping clips of --clip-blocks blocks (whole clips only) whose targets are the next
blocks, split the songs into train and dev, and store the raw features once (HDF5) with the
mean and std of the training clips and a manifest.json.  The folder appears only when
complete; an existing one is kept unless --force is given.

SOURCE is a built-in corpus ({", ".join(BUILTIN_CORPORA)}: free game soundtracks standing in
for the paper's David Bowie and Madeon sets, fetched from Debian packages), or audio files or
folders of your own (also with --audio-dir).  Files that cannot be decoded, or are too short
for one clip, are skipped with a warning.

examples:
  gruvsynth prepare wesnoth -o data/wesnoth
  gruvsynth prepare --audio-dir ~/Music/x -o data/x
  gruvsynth prepare warzone2100 -o data/small --songs 4 --max-seconds 60 --representation rfft
"""

#: Defaults (each the paper's value where it has one).
SONGS = None
MAX_SECONDS = None
START_SECONDS = 0.0
REPRESENTATION = _corpus.REPRESENTATION
BLOCK = _corpus.BLOCK
CLIP_BLOCKS = _corpus.CLIP_BLOCKS
DEV_FRACTION = _corpus.DEV_FRACTION
SPLIT_SEED = _corpus.SPLIT_SEED
STATS_FROM = _corpus.STATS_FROM
SR = _corpus.SR
STD_FLOOR = _corpus.STD_FLOOR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``prepare``'s arguments to ``parser``."""
    parser.add_argument(
        "source", nargs="*", metavar="SOURCE",
        help=f"a built-in corpus ({' or '.join(BUILTIN_CORPORA)}), or audio files/folders",
    )
    parser.add_argument(
        "--audio-dir", action="append", default=[], metavar="DIR", type=Path,
        help="a folder of your own audio, searched recursively (any format ffmpeg reads); "
        "may be repeated",
    )
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUT",
                        help="the corpus folder to create (required)")
    parser.add_argument(
        "--songs", type=argtypes.positive_int, default=SONGS, metavar="K",
        help="use only the first K songs (manifest order for a built-in corpus, sorted file "
        "order for folders), before the split (default: all; the paper: 20 per corpus)",
    )
    parser.add_argument(
        "--max-seconds", type=argtypes.positive_float, default=MAX_SECONDS, metavar="S",
        help="use at most S seconds of each song, from --start-seconds on (default: whole "
        "songs, as the paper); only that part is decoded",
    )
    parser.add_argument(
        "--start-seconds", type=argtypes.non_negative_float, default=START_SECONDS,
        metavar="S",
        help="skip the first S seconds of each song, e.g. quiet intros when using "
        f"--max-seconds; shorter songs are skipped (default: {START_SECONDS:g}, the paper)",
    )
    parser.add_argument(
        "--representation", choices=REPRESENTATIONS, default=REPRESENTATION,
        help="features per block: 'fft' = real and imaginary parts of the full FFT, D = 2N; "
        "'rfft' = of the one-sided FFT, D = 2(N//2+1), half as wide and lossless "
        f"(default: {REPRESENTATION}, the paper's)",
    )
    parser.add_argument(
        "--block", type=argtypes.positive_int, default=BLOCK, metavar="N",
        help=f"samples per block (default: {BLOCK} = 0.25 s at 44.1 kHz, the paper's)",
    )
    parser.add_argument(
        "--clip-blocks", type=argtypes.positive_int, default=CLIP_BLOCKS, metavar="T",
        help=f"blocks per clip (default: {CLIP_BLOCKS} = 10 s, the paper's)",
    )
    parser.add_argument(
        "--dev-fraction", type=argtypes.fraction, default=DEV_FRACTION, metavar="F",
        help=f"fraction of songs held out for dev, rounded half up, at least one song in each "
        f"split when there are two or more (default: {DEV_FRACTION}, the paper's 80/20)",
    )
    parser.add_argument(
        "--split-seed", type=argtypes.count, default=SPLIT_SEED, metavar="SEED",
        help=f"seed of the song split (default: {SPLIT_SEED}; the paper does not say)",
    )
    parser.add_argument(
        "--stats-from", choices=_corpus.STATS_CHOICES, default=STATS_FROM,
        help="songs whose clips give the normalisation mean and std: 'train' (no dev "
        f"leakage) or 'all' (the authors' code) (default: {STATS_FROM})",
    )
    parser.add_argument(
        "--sr", type=argtypes.positive_int, default=SR, metavar="HZ",
        help=f"sample rate songs are decoded at (default: {SR}, the paper's)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, metavar="DIR",
        help="where built-in corpora are downloaded when their Debian package is not "
        "installed (default: $GRUVSYNTH_CACHE, else ~/.cache/gruvsynth)",
    )
    parser.add_argument(
        "--std-floor", type=argtypes.positive_float, default=STD_FLOOR, metavar="S",
        help=f"lower bound of each feature's standard deviation (default: {STD_FLOOR:g}, the "
        "authors' code); a larger one, e.g. 1e-3, keeps features with (almost) no spread in "
        "the training clips (a pure tone) from dominating the dev loss")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT if it is an existing corpus: a folder holding only a "
                        "gruvsynth manifest.json and corpus.h5 (default: refuse; any other "
                        "folder is never replaced)")


def _source(args: argparse.Namespace):
    given = list(args.source)
    if len(given) == 1 and not args.audio_dir and given[0] in BUILTIN_CORPORA:
        return given[0]
    if any(s in BUILTIN_CORPORA and not Path(s).exists() for s in given):
        raise ParameterError("a built-in corpus cannot be combined with other sources")
    paths = [Path(s) for s in given] + list(args.audio_dir)
    if not paths:
        raise ParameterError(
            f"no source: give a built-in corpus ({', '.join(BUILTIN_CORPORA)}), audio files, "
            "or --audio-dir DIR"
        )
    return paths


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def _spread_row(spread: dict, width: int) -> str:
    """The summary's line on features with (almost) no spread."""
    low = spread["low_features"]
    text = (f"{low} of {width} features below {spread['spread_floor']:g}"
            f" (std floor {spread['std_floor']:g}; {spread['zero_features']} always zero, "
            "harmless)")
    if spread["mean_predictor_dev_loss"] is not None:
        text += f"; mean predictor's dev loss {spread['mean_predictor_dev_loss']:.3g}"
    if spread["harmful"]:
        text += (f", {spread['low_features_dev_loss']:.3g} of it from those features: the dev "
                 "loss will be far above the train loss; prepare again with a larger "
                 "--std-floor, e.g. 1e-3")
    return text


def run(args: argparse.Namespace) -> int:
    """Prepare the corpus and print a summary."""
    progress = getattr(args, "verbosity", 0) >= 0
    source = _source(args)
    with _corpus.prepare_corpus(
        source, args.out, songs=args.songs, max_seconds=args.max_seconds,
        start_seconds=args.start_seconds,
        representation=args.representation, block=args.block, clip_blocks=args.clip_blocks,
        dev_fraction=args.dev_fraction, split_seed=args.split_seed, stats_from=args.stats_from,
        sr=args.sr, cache_dir=args.cache_dir, overwrite=args.force, progress=progress,
        std_floor=args.std_floor,
    ) as corpus:
        m = corpus.manifest
        c = m["counts"]
        seconds = corpus.clip_blocks * corpus.block / corpus.sr
        rows = [
            ("corpus", str(corpus.path)),
            ("songs", f"{c['songs']} ({c['train_songs']} train, {c['dev_songs']} dev)"),
            ("clips", f"{c['train_clips']} train, {c['dev_clips']} dev "
                      f"({corpus.clip_blocks} blocks = {seconds:g} s each)"),
            ("features", f"D = {corpus.features} ({corpus.representation}, block {corpus.block})"),
            ("statistics", f"from {m['stats_from']} ({c['stats_blocks']} blocks)"),
            ("spread", _spread_row(corpus.spread, corpus.features)),
            ("on disk", _human(_size(corpus.path))),
            ("skipped", f"{c['skipped']} of {c['used_files']} files"),
        ]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"{key:<{width}}  {value}")
        for item in m["skipped"]:
            print(f"  skipped {item['path']}: {item['reason']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``gruvsynth prepare`` alone."""
    return subcommand_main("prepare", argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

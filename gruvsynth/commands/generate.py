"""``gruvsynth generate``: extend a seed with a trained run's model and write WAV files."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gruvsynth.backends import BACKENDS
from gruvsynth.cli import subcommand_main
from gruvsynth.commands import argtypes
from gruvsynth.defaults import (  # the paper's or the authors' code's where they have one
    DEFAULT_CHECKPOINT,
    DEFAULT_METHOD,
    DEFAULT_N_SEEDS,
    DEFAULT_SEED_BLOCKS,
    DEFAULT_SEED_FROM,
    DEFAULT_TIMES,
    GENERATION_METHODS,
)

HELP = "generate music (WAV) from a trained run, seeded from its corpus or your audio"

DESCRIPTION = """\
Generate music with a trained run's model, by the paper's algorithm (section 5): the model
reads a seed of --seed-blocks consecutive blocks and predicts the next block at every position
(all these predictions are kept); then, each iteration, its last prediction is appended to its
input and the new last prediction is kept.  The output is seed-blocks + iterations blocks long,
de-normalised, inverse-FFT'd (real part), concatenated and written as a 16-bit WAV (clipped
to [-1, 1]); the seed's own audio is written beside it as OUT.seed.wav, and the settings and
the number of clipped samples as OUT.json.  With --n-seeds K > 1 the files are OUT-1.wav,
OUT-1.seed.wav, OUT-1.json, OUT-2.wav, ...

The seed is a window of consecutive blocks inside one dev or training song (always inside the
data), chosen with --seed-index (windows numbered over all songs of the split, in corpus order)
or at random (--seed), or taken from your own audio file (decoded, cut into the run's blocks
and normalised with the run's training statistics; by default from its start).

Length: one of --iterations N, --seconds S (length of the output) or --times K (output length
as a multiple of the seed; default 3, what the paper found best before generation loops set
in).

--method stateful (default) carries the recurrent state and feeds one block per iteration
(O(n)); --method faithful re-feeds the whole growing sequence every iteration (O(n^2)), as the
authors' code.  Both give the same blocks to within float rounding.

A generation whose arrays would need more than 4 GiB of memory (about 80 minutes of audio per
seed at the paper's sizes) is refused unless --force is given.  The run's corpus must still be
the one it was trained on.  A run whose model uses a cell of your own needs --cell-module
MODULE (the module that registers the cell): gruvsynth never imports a module because a run
folder names it.

examples:
  gruvsynth generate runs/lstm -o out/lstm.wav
  gruvsynth generate runs/lstm -o out/lstm.wav --seed-from train --seed-index 0 --times 4
  gruvsynth generate runs/gru -o out/gru.wav --n-seeds 5 --seed 1 --seconds 30
  gruvsynth generate runs/lstm -o out/mine.wav --seed-from my_song.mp3 --checkpoint latest
  gruvsynth generate runs/mgu -o out/mgu.wav --cell-module my_cells
"""


log = logging.getLogger("gruvsynth.generate")


def _indices(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 0 or a comma-separated list of them, got {text!r}"
        ) from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"seed indices must be >= 0, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``gruvsynth generate``'s arguments to ``parser``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                        help="run folder made by `gruvsynth train`")
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUT.wav",
                        help="the WAV file to write (required); OUT.seed.wav and OUT.json are "
                        "written beside it; missing folders are created")
    s = parser.add_argument_group("seed")
    s.add_argument(
        "--seed-from", default=DEFAULT_SEED_FROM, metavar="dev|train|FILE",
        help="take the seed from the corpus's dev songs, its training songs, or an audio file "
        f"of yours (default: {DEFAULT_SEED_FROM}; the authors' code used training data, which "
        "tends to give verbatim copies)")
    s.add_argument(
        "--seed-index", type=_indices, default=None, metavar="K[,K...]",
        help="which seed window(s): numbered over all songs of the split in corpus order, or "
        "the start block in a file; one per seed (default: random with --seed; a file: its "
        "start)")
    s.add_argument("--seed", type=argtypes.count, default=None, metavar="N",
                   help="random seed of the window choice (default: fresh randomness)")
    s.add_argument(
        "--seed-blocks", type=argtypes.positive_int, default=DEFAULT_SEED_BLOCKS, metavar="B",
        help=f"seed length in blocks (default: {DEFAULT_SEED_BLOCKS} = one 10 s clip of 0.25 s "
        "blocks, the authors' code)")
    s.add_argument("--n-seeds", type=argtypes.positive_int, default=DEFAULT_N_SEEDS, metavar="K",
                   help=f"generate K outputs from K seeds in one batch (default: "
                   f"{DEFAULT_N_SEEDS})")
    length = parser.add_argument_group("length (at most one)")
    g = length.add_mutually_exclusive_group()
    g.add_argument("--iterations", type=argtypes.count, metavar="N",
                   help="iterations after the first pass (output = seed-blocks + N blocks)")
    g.add_argument("--seconds", type=argtypes.positive_float, metavar="S",
                   help="length of the output in seconds (rounded up to whole blocks; at least "
                   "the seed's length)")
    g.add_argument("--times", type=argtypes.at_least_one, metavar="K",
                   help=f"output length as a multiple of the seed (default: {DEFAULT_TIMES:g}, "
                   "what the paper found best)")
    m = parser.add_argument_group("model")
    m.add_argument("--method", choices=GENERATION_METHODS[::-1],  # the default first
                   default=DEFAULT_METHOD,
                   help="stateful: O(n), carries the recurrent state; faithful: O(n^2), "
                   f"re-feeds the whole sequence as the authors' code (default: "
                   f"{DEFAULT_METHOD})")
    m.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, metavar="final|latest|best|PATH",
                   help="the model: the final model.keras, the latest checkpoint, the epoch "
                   "with the lowest dev loss (checkpoints/best.keras), or a model file "
                   f"(default: {DEFAULT_CHECKPOINT})")
    m.add_argument("--backend", choices=BACKENDS, default=None,
                   help="Keras backend (default: $KERAS_BACKEND if set, else tensorflow)")
    argtypes.add_cell_module_argument(m)
    parser.add_argument("--force", action="store_true",
                        help="generate even when the output needs more than 4 GiB of memory "
                        "(default: refuse)")


def run(args: argparse.Namespace) -> int:
    """Run ``gruvsynth generate``."""
    from gruvsynth.backends import select_backend

    select_backend(args.backend)
    from gruvsynth.fileio import check_writable_folder
    from gruvsynth.generation import generate_from_run, output_paths
    from gruvsynth.train.config import import_cell_modules
    from gruvsynth.train.runs import open_run

    import_cell_modules(args.cell_module)
    quiet = getattr(args, "verbosity", 0) < 0
    out = args.out
    paths = output_paths(out, args.n_seeds)  # refuse a bad output name before the work
    check_writable_folder(Path(paths[0]["wav"]).expanduser().parent)
    seed_index = args.seed_index
    if seed_index is not None and len(seed_index) == 1 and args.n_seeds == 1:
        seed_index = seed_index[0]
    run_ = open_run(args.run_dir)
    result = generate_from_run(
        run_, seed_from=args.seed_from, seed_index=seed_index, seed=args.seed,
        seed_blocks=args.seed_blocks, iterations=args.iterations, seconds=args.seconds,
        times=args.times, n_seeds=args.n_seeds, method=args.method, which=args.checkpoint,
        progress=not quiet, force=args.force,
    )
    written = result.save(Path(out).expanduser())
    if not quiet:
        s = result.settings
        for w, seed in zip(written, result.seeds, strict=True):
            clipped = f", {w['clipped']} samples clipped" if w["clipped"] else ""
            print(f"{w['wav']}: {s['output_blocks']} blocks "
                  f"({result.audio.shape[1] / result.sr:.2f} s) from {seed.source} "
                  f"{seed.song!r} block {seed.start}{clipped}")
    return 0


def main(argv=None) -> int:
    """Run ``gruvsynth generate`` alone."""
    return subcommand_main("generate", argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``gruvsynth evaluate``: objective measures of a trained run (see :mod:`gruvsynth.evaluation`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gruvsynth.backends import BACKENDS
from gruvsynth.cli import subcommand_main
from gruvsynth.commands import argtypes
from gruvsynth.defaults import BAND
from gruvsynth.errors import ParameterError

HELP = ("measure a trained run (dev loss, Figure 3 spectra, audio metrics, loops, novelty), "
        "or any audio files against a corpus")

#: The paper's band, as the description writes it ("4-7 kHz").
_BAND = f"{BAND[0] / 1000:g}-{BAND[1] / 1000:g} kHz"

DESCRIPTION = f"""\
Evaluate a run folder made by `gruvsynth train`, or (--audio) any audio files against a
corpus.

A run folder:

  * the model's training and dev loss (MSE over every clip, as in training) beside what
    trivial predictors get on the same blocks: the training mean, persistence (the next
    block equals this one) and the best per-feature linear persistence, with
    skill = 1 - model loss / best baseline (0: no better than a trivial predictor);
  * Figure 3's data: the model predicts the next block of every block of every dev clip; the
    magnitude spectra of the true next blocks and of the predictions, averaged over all dev
    clips at each block position (mean spectrograms) and over time (mean spectra), saved as
    fig3.npz with the bin frequencies;
  * audio metrics of real dev audio and of generated audio (--n-seeds sequences from random dev
    windows, 3x the seed long): spectral flatness (white noise 1, tones 0), share of energy
    outside {_BAND} (the paper's GRU observation), log-spectral distance to the dev set's mean
    spectrum (as it is, and level matched), RMS level, share of clipped samples, and the
    noise-likeness verdict calibrated on the corpus (see below);
  * generation loops (first block from which the output repeats itself) and the loop-free
    length as a multiple of the seed;
  * novelty: each generated block's distance to its nearest training block, and the share of
    near-copies.

Writes RUN_DIR/evaluation/fig3.npz and evaluation.json (or --out-dir, --json) and prints a
short table.  The run's corpus must still be the one it was trained on (its manifest hash is
compared).  A run whose model uses a cell of your own needs --cell-module MODULE.

Audio files (--audio FILE... --corpus CORPUS_DIR, no RUN_DIR, no Keras needed): every audio
metric of each file against the corpus's dev set (its mean spectrum and its metrics are
printed beside), and the noise-likeness verdict: the noise distance (how far the frames'
power changes are from those of stationary Gaussian noise of any spectrum: 0 for noise)
compared with anchors made from the corpus (its dev music, corpus-shaped noise, white noise,
a chord; seeded by --seed).  A file is noise-like when its distance is nearer, on a log scale,
to the noise anchors than to the music: below the threshold sqrt(music x noise); "too quiet
to judge" below -60 dBFS RMS.  --json FILE writes a list with one object per file: "file",
"noise_like" (true/false, or null with "verdict" "too quiet to judge"), "verdict",
"noise_distance", "noise_threshold", "flatness", "rms_dbfs", ...

examples:
  gruvsynth evaluate runs/lstm
  gruvsynth evaluate runs/gru --checkpoint latest --json results/gru.json
  gruvsynth evaluate runs/lstm --no-generate
  gruvsynth evaluate --audio mine.wav theirs.ogg --corpus data/warzone2100 --json verdicts.json
"""

#: Defaults.
DEFAULT_CHECKPOINT = "final"
DEFAULT_N_SEEDS = 3
DEFAULT_SEED = 0
DEFAULT_METHOD = "stateful"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``gruvsynth evaluate``'s arguments to ``parser``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, nargs="?", default=None,
                        help="run folder made by `gruvsynth train` (not with --audio)")
    parser.add_argument("--audio", type=Path, metavar="FILE", nargs="+", default=None,
                        help="measure these audio files against --corpus instead of a run")
    parser.add_argument("--corpus", type=Path, metavar="CORPUS_DIR", default=None,
                        help="with --audio: the corpus folder (made by `gruvsynth prepare`) "
                        "whose dev set and statistics calibrate the verdicts")
    parser.add_argument("--json", type=Path, metavar="FILE", default=None,
                        help="write the results here (default: OUT_DIR/evaluation.json; with "
                        "--audio: not written unless given)")
    parser.add_argument("--out-dir", type=Path, metavar="DIR", default=None,
                        help="folder for fig3.npz and evaluation.json "
                        "(default: RUN_DIR/evaluation)")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT,
                        metavar="final|latest|best|PATH",
                        help="the model to evaluate: the final model, the latest checkpoint, "
                        "the epoch with the lowest dev loss, or a model file "
                        f"(default: {DEFAULT_CHECKPOINT})")
    parser.add_argument("--n-seeds", type=argtypes.positive_int, default=DEFAULT_N_SEEDS, metavar="K",
                        help=f"generated samples to measure (default: {DEFAULT_N_SEEDS})")
    parser.add_argument("--seed", type=argtypes.count, default=DEFAULT_SEED, metavar="N",
                        help="random seed of the seed windows (with --audio: of the noise "
                        f"anchors) (default: {DEFAULT_SEED})")
    parser.add_argument("--method", choices=("stateful", "faithful"), default=DEFAULT_METHOD,
                        help=f"generation method (default: {DEFAULT_METHOD})")
    parser.add_argument("--no-generate", action="store_true",
                        help="skip generation (dev loss, Figure 3 and dev audio only)")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="Keras backend (default: $KERAS_BACKEND if set, else tensorflow)")
    argtypes.add_cell_module_argument(parser)


def run_audio(args: argparse.Namespace) -> int:
    """Run ``gruvsynth evaluate --audio FILE... --corpus CORPUS_DIR`` (no Keras)."""
    from gruvsynth.evaluation import evaluate_audio, format_audio_table

    if args.run_dir is not None:
        raise ParameterError("give either RUN_DIR or --audio FILE... --corpus CORPUS_DIR, "
                             "not both")
    if args.corpus is None:
        raise ParameterError("--audio needs --corpus CORPUS_DIR (the corpus that calibrates "
                             "the verdicts)")
    results = evaluate_audio(args.audio, args.corpus, json_path=args.json, seed=args.seed)
    if getattr(args, "verbosity", 0) >= 0:
        print(format_audio_table(results))
        if results["json"]:
            print(f"results: {results['json']}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``gruvsynth evaluate``."""
    if args.audio is not None:
        return run_audio(args)
    if args.run_dir is None:
        raise ParameterError("give a RUN_DIR, or --audio FILE... --corpus CORPUS_DIR")
    if args.corpus is not None:
        raise ParameterError("--corpus goes with --audio (a run uses its own corpus)")
    from gruvsynth.backends import select_backend

    select_backend(args.backend)
    from gruvsynth.evaluation import evaluate_run, format_table
    from gruvsynth.train.config import import_cell_modules
    from gruvsynth.train.runs import open_run

    import_cell_modules(args.cell_module)
    quiet = getattr(args, "verbosity", 0) < 0
    generate = False if args.no_generate else {
        "n_seeds": args.n_seeds, "seed": args.seed, "method": args.method,
    }
    results = evaluate_run(open_run(args.run_dir), which=args.checkpoint, generate=generate,
                           json_path=args.json, out_dir=args.out_dir, seed=args.seed,
                           progress=not quiet)
    if not quiet:
        print(format_table(results))
        print(f"results: {results['json']}")
    return 0


def main(argv=None) -> int:
    """Run ``gruvsynth evaluate`` alone."""
    return subcommand_main("evaluate", argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``gruvsynth evaluate``: objective measures of a trained run (see :mod:`gruvsynth.evaluation`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gruvsynth.cli import subcommand_main
from gruvsynth.commands import argtypes

HELP = "measure a trained run: dev loss, Figure 3 spectra, audio metrics, loops, novelty"

DESCRIPTION = """\
Evaluate a run folder made by `gruvsynth train`:

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
    outside 4-7 kHz (the paper's GRU observation), log-spectral distance to the dev set's mean
    spectrum, RMS level, share of clipped samples;
  * generation loops (first block from which the output repeats itself) and the loop-free
    length as a multiple of the seed;
  * novelty: each generated block's distance to its nearest training block, and the share of
    near-copies.

Writes RUN_DIR/evaluation/fig3.npz and evaluation.json (or --out-dir, --json) and prints a
short table.  The run's corpus must still be the one it was trained on (its manifest hash is
compared).  A run whose model uses a cell of your own needs --cell-module MODULE.

examples:
  gruvsynth evaluate runs/lstm
  gruvsynth evaluate runs/gru --checkpoint latest --json results/gru.json
  gruvsynth evaluate runs/lstm --no-generate
"""

#: Defaults.
DEFAULT_CHECKPOINT = "final"
DEFAULT_N_SEEDS = 3
DEFAULT_SEED = 0
DEFAULT_METHOD = "stateful"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``gruvsynth evaluate``'s arguments to ``parser``."""
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                        help="run folder made by `gruvsynth train`")
    parser.add_argument("--json", type=Path, metavar="FILE", default=None,
                        help="write the results here (default: OUT_DIR/evaluation.json)")
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
                        help=f"random seed of the seed windows (default: {DEFAULT_SEED})")
    parser.add_argument("--method", choices=("stateful", "faithful"), default=DEFAULT_METHOD,
                        help=f"generation method (default: {DEFAULT_METHOD})")
    parser.add_argument("--no-generate", action="store_true",
                        help="skip generation (dev loss, Figure 3 and dev audio only)")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND if set, else tensorflow)")
    argtypes.add_cell_module_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``gruvsynth evaluate``."""
    from gruvsynth.backend import select_backend

    select_backend(args.backend)
    from gruvsynth.evaluation import evaluate_run, format_table
    from gruvsynth.training import import_cell_modules, open_run

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

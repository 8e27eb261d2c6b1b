"""``gruvsynth train``: train (or resume) a GRUV model on a prepared corpus."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gruvsynth.backends import BACKENDS, PRECISIONS
from gruvsynth.checks import check_choice
from gruvsynth.defaults import (
    DEFAULT_RECIPE,
    KERAS01_ORTHOGONAL_SCALE,
    RECIPES,
    RMSPROP_EPSILON,
)
from gruvsynth.distribute import MODES, DistributeConfig
from gruvsynth.errors import ParameterError
from gruvsynth.train.config import TrainConfig
from gruvsynth.train.resident import DEFAULT_STEPS_PER_CALL, FEEDS, check_steps_per_call

HELP = "train an LSTM/GRU model on a prepared corpus (resumable)"

DESCRIPTION = """\
Train a GRUV model (input projection -> recurrent layer(s) -> output projection, MSE loss,
RMSprop) on a corpus folder made by `gruvsynth prepare`, writing a run folder: config.json,
versions.json, history.csv/history.json (train and dev loss per epoch), checkpoints/ and the
final model.keras.  The defaults are the paper's (LSTM, 2048 hidden units, batch 5, 2000
epochs, learning rate 1e-3).

Running the same command again on the same run folder (-o) resumes from the last checkpoint
with the same optimizer state and shuffling; a larger --epochs trains further.  A run folder
trained with other settings is refused.  `gruvsynth train -o RUN_DIR` without CORPUS_DIR
resumes a run with its own settings, corpus and backend.

Any option can also be given in a TOML file (--config FILE.toml), with the option's name
written with underscores (batch_size = 5, lr = 0.001, no_input_projection = true, out =
"runs/x"); a [train] table is used if the file has one.  The command line wins over the file.

examples:
  gruvsynth train corpora/wesnoth                        # the paper's LSTM, dated run folder
  gruvsynth train corpora/wesnoth --cell gru -o runs/gru # the paper's GRU
  gruvsynth train corpora/tiny --hidden 64 --epochs 20 --quiet
  gruvsynth train -o runs/gru --epochs 3000              # resume and train further
  gruvsynth train corpora/wesnoth --config experiments/configs/lstm.toml --seed 1

several devices and machines (--distribute data-parallel; see docs/distributed.rst):
  each global batch (--batch-size) is split between the devices and their gradients are
  averaged, so the learning rate and the checkpoints keep their meaning; only process 0 (JAX)
  or the chief (TensorFlow) writes the run folder; a run may resume with another setting.
  1 machine, all its GPUs:
    KERAS_BACKEND=jax gruvsynth train corpora/wesnoth -o runs/lstm --distribute data-parallel
    gruvsynth train corpora/wesnoth -o runs/lstm --backend tensorflow --distribute data-parallel
  M machines (JAX): on each machine i = 0..M-1, with the run folder on a shared file system
    gruvsynth train corpora/wesnoth -o /shared/runs/lstm --backend jax \
        --distribute data-parallel --coordinator HOST0:1234 --num-processes M --process-id i
  M machines (TensorFlow): set TF_CONFIG on each machine (MultiWorkerMirroredStrategy), then
    gruvsynth train corpora/wesnoth -o /shared/runs/lstm --backend tensorflow \
        --distribute data-parallel
  on a CPU, --devices N splits the processor into N devices (for testing)
"""

_D = TrainConfig()
#: Defaults (the paper's values where it has one).
DEFAULT_CELL = _D.cell
DEFAULT_HIDDEN = _D.hidden
DEFAULT_LAYERS = _D.layers
DEFAULT_EPOCHS = _D.epochs
DEFAULT_BATCH_SIZE = _D.batch_size
DEFAULT_LR = _D.learning_rate
DEFAULT_SEED = _D.seed
DEFAULT_CHECKPOINT_EVERY = _D.checkpoint_every
DEFAULT_EVAL_EVERY = _D.eval_every
DEFAULT_KEEP_CHECKPOINTS = _D.keep_checkpoints
DEFAULT_RUN_DIR = "runs/<YYYYmmdd-HHMMSS>-<cell>-h<hidden>"


def _exponent(value: float) -> str:
    """A power of ten as the help writes it: ``1e-07`` -> ``"1e-7"``."""
    mantissa, _, power = f"{value:.0e}".partition("e")
    return f"{mantissa}e{int(power)}"


#: Default distribution mode (one device).
DEFAULT_DISTRIBUTE = "none"

#: TOML keys (option names with underscores) -> TrainConfig fields.
TOML_KEYS = {
    "cell": "cell", "hidden": "hidden", "layers": "layers", "epochs": "epochs",
    "batch_size": "batch_size", "lr": "learning_rate", "learning_rate": "learning_rate",
    "seed": "seed", "checkpoint_every": "checkpoint_every", "eval_every": "eval_every",
    "keep_checkpoints": "keep_checkpoints", "backend": "backend",
    "input_projection": "input_projection", "no_input_projection": "input_projection",
    "precision": "precision", "recipe": "recipe",
    "keep_best": "keep_best", "no_keep_best": "keep_best",
}
#: TOML keys that are not training-config fields.
TOML_OTHER_KEYS = ("corpus", "corpus_dir", "out", "run_dir", "quiet", "feed",
                   "steps_per_call")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``gruvsynth train``'s arguments to ``parser``, one group after another in the order
    ``--help`` shows them."""
    parser.add_argument(
        "corpus", nargs="?", metavar="CORPUS_DIR",
        help="corpus folder made by `gruvsynth prepare` (may be omitted to resume -o RUN_DIR)")
    parser.add_argument(
        "-o", "--out", metavar="RUN_DIR",
        help=f"run folder; an existing one with the same settings is resumed "
             f"(default: {DEFAULT_RUN_DIR})")
    _model_options(parser.add_argument_group("model"))
    _training_options(parser.add_argument_group("training"))
    checkpoints = parser.add_argument_group("checkpoints and settings")
    _checkpoint_options(checkpoints)
    _device_options(parser.add_argument_group(
        "several devices and machines",
        "data-parallel training on Keras's own engines: keras.distribution.DataParallel "
        "(jax) or tf.distribute MirroredStrategy / MultiWorkerMirroredStrategy (tensorflow)"))
    checkpoints.add_argument(  # last in its group: --help has always shown it there
        "--config", metavar="FILE.toml",
        help="read options from a TOML file (keys: option names with underscores); "
             "the command line wins")


def _model_options(m) -> None:
    """The ``model`` group: cell, recipe and sizes."""
    m.add_argument(
        "--cell", metavar="NAME",
        help="recurrent cell: lstm (keras.layers.LSTM), gru (keras.layers.GRU), keras01_lstm, "
             "keras01_gru (Keras 0.1's LSTM and GRU, the cells the authors' code ran), "
             "peephole_lstm (the paper's eq. 6-11), paper_gru (eq. 2-5), or module:Class for "
             f"your own registered cell (default: {DEFAULT_CELL}; paper: lstm and gru)")
    m.add_argument(
        "--recipe", choices=RECIPES,
        help=f"optimizer and initialisation: keras3 (Keras 3's RMSprop epsilon "
             f"{_exponent(RMSPROP_EPSILON['keras3'])} and initialisers) or keras01 (what the "
             f"authors' code ran under Keras 0.1.0: RMSprop epsilon "
             f"{_exponent(RMSPROP_EPSILON['keras01'])}, each gate's weights drawn on their "
             f"own, orthogonal x{KERAS01_ORTHOGONAL_SCALE:g}, LSTM forget bias 0; for lstm, "
             f"gru and keras01_*) (default: {DEFAULT_RECIPE})")
    m.add_argument(
        "--hidden", type=int, metavar="N",
        help=f"hidden units of the input projection and recurrent layer(s) "
             f"(default: {DEFAULT_HIDDEN}; paper: 2048)")
    m.add_argument(
        "--layers", type=int, metavar="N",
        help=f"stacked recurrent layers (default: {DEFAULT_LAYERS}; paper: 1)")
    m.add_argument(
        "--no-input-projection", dest="input_projection", action="store_const", const=False,
        default=None,
        help="leave out the per-step Dense(hidden) before the recurrent layer (the paper's "
             "text); default: included, as in the authors' code")


def _training_options(t) -> None:
    """The ``training`` group: epochs, batches, learning rate, seed, backend, precision, feed."""
    t.add_argument(
        "--epochs", type=int, metavar="N",
        help=f"epochs in total; raise it to train a finished run further "
             f"(default: {DEFAULT_EPOCHS}; paper: 2000)")
    t.add_argument(
        "--batch-size", type=int, metavar="N",
        help=f"clips per training step (default: {DEFAULT_BATCH_SIZE}; paper's code: 5)")
    t.add_argument(
        "--lr", type=float, metavar="RATE", dest="learning_rate",
        help=f"RMSprop learning rate (default: {DEFAULT_LR:g}; paper's code: 1e-3)")
    t.add_argument(
        "--seed", type=int, metavar="N",
        help=f"seed of the initial weights and the shuffling (default: {DEFAULT_SEED}; "
             "paper: not given)")
    t.add_argument(
        "--eval-every", type=int, metavar="K",
        help=f"compute the dev loss every K epochs (default: {DEFAULT_EVAL_EVERY}; paper: 1)")
    t.add_argument(
        "--backend", choices=BACKENDS,
        help="Keras backend (default: $KERAS_BACKEND if set, else tensorflow; the paper used "
             "Theano)")
    t.add_argument(
        "--precision", choices=PRECISIONS,
        help="arithmetic: float32 (the paper's), tf32 (float32 with TF32 matrix products on "
             "GPUs), bfloat16 (Keras's mixed_bfloat16: float32 weights, bfloat16 layer "
             "arithmetic); auto = float32 on a CPU, tf32 on a GPU (default: auto)")
    t.add_argument(
        "--feed", choices=FEEDS, default=None,
        help="how batches reach the model: stream (read from the corpus each step), resident "
             "(jax: the clips copied to the device once, several steps per compiled call), "
             "auto = resident on a JAX GPU where the clips fit (default: auto; not part of "
             "the run's settings)")
    t.add_argument(
        "--steps-per-call", type=int, metavar="N",
        help=f"training steps per compiled call with the resident feed "
             f"(default: {DEFAULT_STEPS_PER_CALL})")


def _checkpoint_options(c) -> None:
    """The ``checkpoints and settings`` group (its ``--config`` is added by
    :func:`add_arguments`)."""
    c.add_argument(
        "--checkpoint-every", type=int, metavar="K",
        help=f"save model and optimizer state every K epochs and at the end "
             f"(default: {DEFAULT_CHECKPOINT_EVERY}; about 1 GB each at the paper's size)")
    c.add_argument(
        "--keep-checkpoints", type=int, metavar="N",
        help=f"keep the newest N checkpoints, 0 keeps all "
             f"(default: {DEFAULT_KEEP_CHECKPOINTS})")
    c.add_argument(
        "--no-keep-best", dest="keep_best", action="store_const", const=False, default=None,
        help="do not keep checkpoints/best.keras, the epoch with the lowest dev loss "
             "(default: kept, rewritten whenever the dev loss improves; about 1 GB at the "
             "paper's size)")


def _device_options(d) -> None:
    """The ``several devices and machines`` group (data-parallel training)."""
    d.add_argument(
        "--distribute", choices=MODES, default=DEFAULT_DISTRIBUTE,
        help="none: one device; data-parallel: replicate the model on every device (and "
             "process) and split each global batch between them "
             f"(default: {DEFAULT_DISTRIBUTE})")
    d.add_argument(
        "--devices", type=int, metavar="N",
        help="devices per process (default: all visible GPUs/TPUs, else the CPU); on a CPU "
             "a larger N splits the processor into N logical devices")
    d.add_argument(
        "--coordinator", metavar="HOST:PORT",
        help="jax, several processes: address of process 0 "
             "(default: $KERAS_DISTRIBUTION_JOB_ADDRESSES); tensorflow reads $TF_CONFIG")
    d.add_argument(
        "--num-processes", type=int, metavar="M",
        help="jax: number of processes/machines (default: $KERAS_DISTRIBUTION_NUM_PROCESSES "
             "or 1)")
    d.add_argument(
        "--process-id", type=int, metavar="I",
        help="jax: this process's index 0..M-1; process 0 writes the run folder "
             "(default: $KERAS_DISTRIBUTION_PROCESS_ID)")


def _load_toml(path: str | Path) -> dict:
    """Parse a TOML file into a dict, with errors as :class:`ParameterError`."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: not valid TOML ({exc})") from None
    return data


def read_config_file(path: str | Path) -> tuple[dict, dict]:
    """Read a training TOML file.

    Parameters
    ----------
    path : str or Path
        A TOML file whose keys are ``gruvsynth train`` option names written with underscores;
        if it has a ``[train]`` table, only that table is read.

    Returns
    -------
    fields : dict
        :class:`~gruvsynth.train.config.TrainConfig` field values.
    other : dict
        ``corpus``, ``out`` and ``quiet`` if present.

    Raises
    ------
    ParameterError
        The file is missing or invalid, or has an unknown key.
    """
    data = _load_toml(path)
    if isinstance(data.get("train"), dict):
        data = data["train"]
    fields, other, unknown = {}, {}, []
    for key, value in data.items():
        if key in TOML_KEYS:
            if key in ("no_input_projection", "no_keep_best"):
                if not isinstance(value, bool):
                    raise ParameterError(f"{path}: {key} must be true or false")
                value = not value
            fields[TOML_KEYS[key]] = value
        elif key in TOML_OTHER_KEYS:
            other[{"corpus_dir": "corpus", "run_dir": "out"}.get(key, key)] = value
        else:
            unknown.append(key)
    if unknown:
        raise ParameterError(
            f"{path}: unknown option(s) {', '.join(sorted(unknown))}; valid keys: "
            f"{', '.join(sorted(set(TOML_KEYS) | set(TOML_OTHER_KEYS)))}")
    return fields, other


def run(args: argparse.Namespace) -> int:
    """Run ``gruvsynth train`` with parsed arguments."""
    from gruvsynth.train.config import require_imported_cell
    from gruvsynth.train.loop import train
    from gruvsynth.train.runs import CONFIG_NAME, open_run

    fields, other = read_config_file(args.config) if args.config else ({}, {})
    corpus = args.corpus or other.get("corpus")
    out = args.out or other.get("out")
    quiet = getattr(args, "verbosity", 0) < 0 or (other.get("quiet") is True
                                                  and getattr(args, "verbosity", 0) == 0)
    cli = {name: getattr(args, name) for name in TrainConfig.fields()
           if getattr(args, name, None) is not None}
    base = TrainConfig()
    if corpus is None:
        if out is None or not (Path(out) / CONFIG_NAME).exists():
            raise ParameterError(
                "give CORPUS_DIR to start a run (or -o RUN_DIR of an existing run to resume it)")
        existing = open_run(out)
        if "cell" not in fields and "cell" not in cli:  # the run's own cell: never imported
            require_imported_cell(existing.config.get("cell"), where=existing.path)
        base = TrainConfig.from_dict(existing.config)
        corpus = existing.config["corpus"]
        if "backend" not in fields and "backend" not in cli and os.environ.get("KERAS_BACKEND"):
            fields["backend"] = os.environ["KERAS_BACKEND"]  # else the run's own backend
    config = base.replace(**fields).replace(**cli)
    dist = None
    if getattr(args, "distribute", DEFAULT_DISTRIBUTE) != "none" or any(
            getattr(args, k, None) is not None
            for k in ("devices", "coordinator", "num_processes", "process_id")):
        dist = DistributeConfig(mode=getattr(args, "distribute", DEFAULT_DISTRIBUTE),
                                devices=args.devices, coordinator=args.coordinator,
                                num_processes=args.num_processes, process_id=args.process_id)
    feed = getattr(args, "feed", None) or other.get("feed") or "auto"
    steps_per_call = getattr(args, "steps_per_call", None)
    if steps_per_call is None:
        steps_per_call = other.get("steps_per_call")
    steps_per_call = check_steps_per_call(steps_per_call)  # before Keras starts
    check_choice("feed", feed, FEEDS)
    train(corpus, out, config=config, progress=not quiet, distribute=dist, feed=feed,
          steps_per_call=steps_per_call)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``gruvsynth train`` alone (``python -m gruvsynth.commands.train``)."""
    from gruvsynth.cli import subcommand_main

    return subcommand_main("train", argv)


if __name__ == "__main__":
    sys.exit(main())

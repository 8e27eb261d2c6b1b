"""What a training run is: its configuration, its cell spec, its shuffling.

:class:`TrainConfig` holds what to train and how (the paper's defaults); :func:`cell_spec` and
:func:`cell_from_spec` turn its cell into JSON and back for a run's ``config.json`` (never
importing a module because a run's files name it: :func:`require_imported_cell`,
:func:`import_cell_modules`); :func:`epoch_order` is the shuffling of each epoch, a function of
``(seed, epoch)`` alone.  The key tuples say which fields may change when a run folder is
trained again (:data:`RESUMABLE_KEYS`) and which must match (:data:`COMPARED_KEYS`, compared by
:func:`config_differences`, hashed into each checkpoint by :func:`config_hash`).

Keras-free: this module is the start of ``config → runs → steps → loop``
(:mod:`gruvsynth.train`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import re
import sys

import numpy as np

from gruvsynth.backends import BACKENDS, PRECISIONS
from gruvsynth.checks import check_bool, check_choice, check_float, check_int
from gruvsynth.defaults import (
    DEFAULT_CELL,
    DEFAULT_HIDDEN,
    DEFAULT_LEARNING_RATE,
    DEFAULT_RECIPE,
    RECIPES,
)
from gruvsynth.errors import ParameterError, RunError

__all__ = [
    "TrainConfig",
    "RESUMABLE_KEYS",
    "CORPUS_KEYS",
    "COMPARED_KEYS",
    "ADDED_DEFAULTS",
    "config_differences",
    "config_hash",
    "cell_spec",
    "cell_from_spec",
    "spec_module",
    "cell_label",
    "cell_module_hint",
    "import_cell_modules",
    "require_imported_cell",
    "epoch_order",
]

#: Config keys that may differ when a run folder is trained again: they change how long it
#: trains, how many checkpoints are kept, and which backend computes, not what is trained.
RESUMABLE_KEYS = ("epochs", "keep_checkpoints", "backend", "keep_best")
#: Keys of ``config.json`` that describe the corpus and must match on resume.
CORPUS_KEYS = ("corpus_hash", "features", "representation", "block", "clip_blocks")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What to train and how; the defaults are the paper's (Nayebi & Vitelli 2015, §5).

    Parameters
    ----------
    cell : str, type or keras.layers.Layer
        Recurrent cell: ``"lstm"`` (``keras.layers.LSTM``), ``"gru"`` (``keras.layers.GRU``),
        ``"keras01_lstm"``, ``"keras01_gru"`` (the Keras 0.1 cells the authors' code ran),
        ``"peephole_lstm"``, ``"paper_gru"`` (the paper's equations), a name registered with
        :func:`gruvsynth.models.register_cell`, ``"package>Class"`` (a registered Keras
        name), ``"module:Class"`` (imported), or a cell class or instance
        (see :func:`gruvsynth.models.build_model`).
    hidden : int
        Units of the input projection and recurrent layer(s); 2048 in the paper.
    layers : int
        Recurrent layers; 1 in the paper.
    input_projection : bool
        Per-time-step ``Dense(hidden)`` before the recurrent layer (the authors' code).
    epochs : int
        Epochs to train in total (a resumed run continues up to this); 2000 in the paper.
    batch_size : int
        Clips per training step; 5 in the authors' code.
    learning_rate : float
        RMSprop learning rate; 1e-3 (Keras's default, used by the authors' code).
    seed : int
        Seeds the initial weights and the per-epoch shuffling.
    checkpoint_every : int
        Save a checkpoint every this many epochs (and at the last epoch).  At the paper's
        size a checkpoint (weights + RMSprop state) is about 1 GB.
    eval_every : int
        Compute the dev loss every this many epochs.
    keep_best : bool
        Keep the checkpoint of the epoch with the lowest dev loss (``checkpoints/best.keras``),
        written whenever the dev loss improves (users of the original code saw the dev loss
        rise through training).
    keep_checkpoints : int
        How many of the newest checkpoints to keep (0 keeps all).
    backend : {"tensorflow", "jax", "torch"} or None
        Keras backend; ``None`` uses ``KERAS_BACKEND`` if set, else TensorFlow.
    precision : {"auto", "float32", "tf32", "bfloat16"}
        Arithmetic (:func:`gruvsynth.backends.resolve_precision`): ``"auto"`` is float32 (the
        paper's) on a CPU and TF32 matrix products on a GPU; ``"bfloat16"`` is Keras's
        ``mixed_bfloat16`` (float32 weights and optimizer).
    recipe : {"keras3", "keras01"}
        Optimizer and initialisation (:data:`gruvsynth.defaults.RECIPES`): ``"keras3"``
        (default) or ``"keras01"``, what the authors' code ran under Keras 0.1.0 (RMSprop
        epsilon 1e-6, per-gate initialisation, LSTM forget bias 0).
    """

    cell: object = DEFAULT_CELL
    hidden: int = DEFAULT_HIDDEN
    layers: int = 1
    input_projection: bool = True
    epochs: int = 2000
    batch_size: int = 5
    learning_rate: float = DEFAULT_LEARNING_RATE
    seed: int = 0
    checkpoint_every: int = 10
    eval_every: int = 1
    keep_checkpoints: int = 3
    keep_best: bool = True
    backend: str | None = None
    precision: str = "auto"
    recipe: str = DEFAULT_RECIPE

    def __post_init__(self):
        for name in ("hidden", "layers", "epochs", "batch_size", "checkpoint_every",
                     "eval_every"):
            check_int(name, getattr(self, name))
        check_int("keep_checkpoints", self.keep_checkpoints, minimum=0)
        check_int("seed", self.seed, minimum=None)
        check_float("learning_rate", self.learning_rate, positive=True)
        check_bool("keep_best", self.keep_best)
        check_bool("input_projection", self.input_projection)
        if self.backend is not None and self.backend not in BACKENDS:
            raise ParameterError(
                f"backend must be one of {', '.join(BACKENDS)} or None, got {self.backend!r}")
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("recipe", self.recipe, RECIPES)
        if isinstance(self.cell, str) and not self.cell.strip():
            raise ParameterError("cell must not be empty")

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """Names of the configuration fields, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed; unknown names raise :class:`ParameterError`.

        ``None`` values are ignored (so unset command-line options keep the current value),
        except for ``backend``, whose ``None`` means "the default".
        """
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            raise ParameterError(
                f"unknown training option(s) {', '.join(unknown)}; valid: {', '.join(self.fields())}")
        changes = {k: v for k, v in changes.items() if v is not None or k == "backend"}
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """A config from a dict of field values (e.g. a run's ``config.json``); extra keys of a
        run's config (corpus, counts) are ignored, unknown keys otherwise raise."""
        return cls().replace(**{k: v for k, v in values.items() if k in cls.fields()})

    def to_dict(self) -> dict:
        """The fields as JSON-ready values (a cell class or instance becomes its spec)."""
        out = {name: getattr(self, name) for name in self.fields()}
        out["cell"] = cell_spec(self.cell)
        out["learning_rate"] = float(self.learning_rate)
        return out

#: Keys of ``config.json`` that must match when a run folder is trained again (every
#: :class:`TrainConfig` field but :data:`RESUMABLE_KEYS`, and the corpus's).
COMPARED_KEYS = tuple(k for k in TrainConfig.fields() if k not in RESUMABLE_KEYS) + CORPUS_KEYS

#: Options added after runs were first written, with the value an older run had.
ADDED_DEFAULTS = {"precision": "auto", "recipe": DEFAULT_RECIPE}


def config_differences(old: dict, new: dict) -> list[str]:
    """What differs between a run's recorded configuration and a new one, in words.

    Parameters
    ----------
    old : dict
        A run's ``config.json`` (options it predates count as their :data:`ADDED_DEFAULTS`).
    new : dict
        The configuration asked for now.

    Returns
    -------
    list of str
        ``"<key>: <old> in the run, <new> now"`` for each of :data:`COMPARED_KEYS` that differs.
    """
    out = []
    for key in COMPARED_KEYS:
        before = old.get(key, ADDED_DEFAULTS.get(key))
        if before != new.get(key):
            out.append(f"{key}: {before!r} in the run, {new.get(key)!r} now")
    return out


def config_hash(resolved: dict) -> str:
    """SHA-256 of the :data:`COMPARED_KEYS` of a run's configuration (stamped into each
    checkpoint, so that a checkpoint of another run is refused)."""
    keys = sorted(k for k in resolved if k in COMPARED_KEYS)
    text = json.dumps({k: resolved[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cell_spec(cell) -> str | dict:
    """A JSON-ready description of a cell argument, from which :func:`cell_from_spec` rebuilds it.

    Parameters
    ----------
    cell : str, type or keras.layers.Layer

    Returns
    -------
    spec : str or dict
        A name unchanged; a class as ``"module:QualName"``; an instance as Keras's serialised
        form (``keras.saving.serialize_keras_object``).
    """
    if isinstance(cell, str):
        return cell.strip()
    if isinstance(cell, dict):  # already a spec (from a run's config.json)
        return json.loads(json.dumps(cell))
    if inspect.isclass(cell):
        return f"{cell.__module__}:{cell.__qualname__}"
    if hasattr(cell, "get_config"):
        import keras

        return json.loads(json.dumps(keras.saving.serialize_keras_object(cell)))
    raise ParameterError(f"invalid cell {cell!r}: give a name, a cell class or a cell instance")


def cell_from_spec(spec):
    """The ``cell=`` argument for :func:`gruvsynth.models.build_model` from a :func:`cell_spec`.

    Raises
    ------
    ParameterError
        A ``"module:Class"`` that cannot be imported.
    """
    if isinstance(spec, dict):
        import keras

        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, str) and ":" in spec:
        module, _, qualname = spec.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ParameterError(f"cannot import cell {spec!r}: {exc}") from None
        return obj
    return spec


def spec_module(spec) -> str | None:
    """The module of a ``"module:Class"`` cell spec, else None.

    Parameters
    ----------
    spec : str or dict
        A :func:`cell_spec`.

    Returns
    -------
    str or None
    """
    if isinstance(spec, str) and ":" in spec:
        return spec.partition(":")[0].strip() or None
    return None


def import_cell_modules(modules) -> list:
    """Import the modules that define (and register) the user's own cells.

    Loading a run never imports a module because the run's files name it; a run whose model
    uses a cell of your own loads once its module is imported, by this function (what
    ``--cell-module MODULE`` does) or by an ``import`` of your own.

    Parameters
    ----------
    modules : str or iterable of str
        Module names, e.g. ``"mypkg.cells"``.

    Returns
    -------
    list of module

    Raises
    ------
    ParameterError
        A module cannot be imported.
    """
    if isinstance(modules, str):
        modules = [modules]
    out = []
    for name in modules:
        try:
            out.append(importlib.import_module(name))
        except Exception as exc:  # ImportError, or anything the module raises on import
            raise ParameterError(f"cannot import cell module {name!r}: "
                                 f"{type(exc).__name__}: {exc}") from None
    return out


def cell_module_hint(module: str | None) -> dict:
    """The ``hint``/``cli_hint`` keywords of an error about a cell whose module is not imported.

    Parameters
    ----------
    module : str or None
        The module that registers the cell, if known.

    Returns
    -------
    dict
        ``{"hint": ..., "cli_hint": ...}`` for :class:`gruvsynth.errors.GruvError`.
    """
    name = module or "MODULE"
    what = "" if module else " (the module that registers the cell)"
    return {"hint": f"import {name}{what} before loading, or pass it to "
                    f"gruvsynth.training.import_cell_modules",
            "cli_hint": f"name it with --cell-module {name}{what}"}


def require_imported_cell(spec, *, where) -> None:
    """Refuse a cell spec read from a run's files whose module is not imported yet.

    gruvsynth never imports a module because a run folder names it (that would run code
    from whoever made the folder).  A ``"module:Class"`` spec from a run's ``config.json``
    is usable only once the user has imported the module (or named the cell themselves).

    Parameters
    ----------
    spec : str or dict
        The run's cell spec (:func:`cell_spec`).
    where : str or os.PathLike
        The run folder (named in the message).

    Raises
    ------
    RunError
        The spec names a module that is not imported.
    """
    module = spec_module(spec)
    if module is not None and module not in sys.modules:
        raise RunError(
            f"{where}: the run's cell {spec!r} is defined in module {module!r}, which gruvsynth "
            "does not import because a run folder names it",
            hint=f"import {module} first if you trust it",
            cli_hint=f"name the cell yourself with --cell {spec} if you trust that module")


def cell_label(spec) -> str:
    """A short lower-case name of a cell spec for folder names (``"lstm"``, ``"simplernncell"``).

    Parameters
    ----------
    spec : str or dict
        A :func:`cell_spec`.

    Returns
    -------
    str
    """
    if isinstance(spec, dict):
        name = spec.get("class_name", "cell")
    else:
        name = str(spec).rpartition(":")[2].rpartition(">")[2].rpartition(".")[2]
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).lower() or "cell"


def epoch_order(n_clips: int, *, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the training clips.

    It depends only on ``(seed, epoch)``, so a resumed run shuffles exactly as an
    uninterrupted one.

    Parameters
    ----------
    n_clips : int
        Number of training clips.
    seed : int
        The run's seed.
    epoch : int
        Epoch number (1-based).

    Returns
    -------
    order : np.ndarray [shape=(n_clips,), dtype=int64]
        A permutation of ``range(n_clips)``.
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 0x67727576])
    return rng.permutation(int(n_clips)).astype(np.int64)

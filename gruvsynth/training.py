"""Resumable training of a GRUV model on a prepared corpus, into a run folder.

:func:`train` streams shuffled batches of clips from a corpus folder
(:func:`gruvsynth.corpus.open_corpus`) through a model from :func:`gruvsynth.models.build_model`
and writes everything about the run into one folder:

``config.json``
    The resolved :class:`TrainConfig`, plus the corpus (absolute path, manifest hash, feature
    width ``features``, ``representation``, ``block``, ``clip_blocks``, clip counts).
``versions.json``
    gruvsynth, Keras, backend (name and version), Python, NumPy, h5py, platform, devices, for
    the session that started the run; ``sessions`` lists every session (start, resume).
``history.csv``, ``history.json``
    One row per completed epoch: ``epoch``, ``loss`` (mean train MSE over the epoch's batches,
    weighted by batch size, as Keras reports it), ``dev_loss`` (MSE over every dev clip, every
    ``eval_every`` epochs; empty/``null`` otherwise) and ``seconds`` (wall time of the epoch).
``checkpoints/epoch-NNNNNN.keras`` and ``checkpoints/state.json``
    Model and optimizer state every ``checkpoint_every`` epochs and at the last epoch (the
    newest ``keep_checkpoints`` are kept); ``state.json`` names the last one.
``checkpoints/best.keras``
    The model (and optimizer) of the epoch with the lowest dev loss so far (``keep_best``);
    ``state.json``'s ``best`` says which epoch and dev loss.  ``which="best"`` loads it.
``model.keras``
    The final model (model + optimizer state), written when training reaches ``epochs``.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so
a crash or a ``kill -9`` at any moment leaves the last good checkpoint and history intact.
Running :func:`train` again on the same run folder resumes from the last checkpoint: same
epoch count, optimizer state and shuffling (the order of epoch ``e`` depends only on
``(seed, e)``), so on a CPU the resumed history equals an uninterrupted run's.

Only :mod:`gruvsynth.backends` touches backend-specific APIs; Keras itself is imported only once
:func:`gruvsynth.backends.select_backend` has fixed the backend.

Loading a run folder never runs code it names: models load in Keras's safe mode with
gruvsynth's cells registered, and no module named in a run's files (``config.json``'s
``"module:Class"`` cell) is ever imported because of them.  A cell of the user's own loads
once the user has imported the module that registers it (:func:`import_cell_modules`, or
``--cell-module MODULE`` on the command line).  A run opened for generation or evaluation
must still have the corpus it was trained on (:attr:`Run.corpus` compares the manifest hash).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import dataclasses
import datetime as _dt
import functools
import hashlib
import importlib
import inspect
import io
import json
import logging
import math
import numbers
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gruvsynth.defaults import DEFAULT_RECIPE, RECIPES
from gruvsynth.errors import (
    CheckpointError,
    CorpusError,
    ParameterError,
    RunError,
    TrainingDivergedError,
)
from gruvsynth.fileio import writing

__all__ = [
    "TrainConfig",
    "Run",
    "train",
    "resume",
    "open_run",
    "load_model_file",
    "import_cell_modules",
    "require_imported_cell",
    "epoch_order",
    "format_summary",
    "time_steps",
    "RESUMABLE_KEYS",
]

log = logging.getLogger("gruvsynth.training")

#: File and folder names inside a run folder.
CONFIG_NAME = "config.json"
VERSIONS_NAME = "versions.json"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
CHECKPOINT_DIR = "checkpoints"
STATE_NAME = "state.json"
FINAL_NAME = "model.keras"
LOCK_NAME = ".lock"
#: The checkpoint of the epoch with the lowest dev loss, in ``checkpoints/``.
BEST_NAME = "best.keras"
#: Member added to every checkpoint's zip file: which run and epoch it belongs to.
STAMP_NAME = "gruvsynth-checkpoint.json"
RUN_FORMAT = "gruvsynth-run"
RUN_FORMAT_VERSION = 1

#: Config keys that may differ when a run folder is trained again: they change how long it
#: trains, how many checkpoints are kept, and which backend computes, not what is trained.
RESUMABLE_KEYS = ("epochs", "keep_checkpoints", "backend", "keep_best")
#: Keys of ``config.json`` that describe the corpus and must match on resume.
CORPUS_KEYS = ("corpus_hash", "features", "representation", "block", "clip_blocks")

HISTORY_FIELDS = ("epoch", "loss", "dev_loss", "seconds")
_CHECKPOINT_RE = re.compile(r"^epoch-(\d{6,})\.keras$")
_TMP_PREFIX = ".tmp-"
_RUN_FILES = {CONFIG_NAME, VERSIONS_NAME, HISTORY_JSON, HISTORY_CSV, CHECKPOINT_DIR, FINAL_NAME,
              LOCK_NAME}


# ---------------------------------------------------------------------------------------------
# configuration


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

    cell: object = "lstm"
    hidden: int = 2048
    layers: int = 1
    input_projection: bool = True
    epochs: int = 2000
    batch_size: int = 5
    learning_rate: float = 1e-3
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
            _check_int(name, getattr(self, name), 1)
        _check_int("keep_checkpoints", self.keep_checkpoints, 0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral):
            raise ParameterError(f"seed must be an integer, got {self.seed!r}")
        lr = self.learning_rate
        if (isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr)
                or lr <= 0):
            raise ParameterError(f"learning_rate must be a positive number, got {lr!r}")
        if not isinstance(self.keep_best, bool):
            raise ParameterError(f"keep_best must be true or false, got {self.keep_best!r}")
        if not isinstance(self.input_projection, bool):
            raise ParameterError(
                f"input_projection must be true or false, got {self.input_projection!r}")
        if self.backend is not None:
            from gruvsynth.backends import BACKENDS

            if self.backend not in BACKENDS:
                raise ParameterError(
                    f"backend must be one of {', '.join(BACKENDS)} or None, got {self.backend!r}")
        from gruvsynth.backends import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ParameterError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.recipe not in RECIPES:
            raise ParameterError(
                f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
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


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ParameterError(f"{name} must be {kind}, got {value!r}")
    return int(value)


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


def _spec_module(spec) -> str | None:
    """The module of a ``"module:Class"`` spec, else None."""
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


def _cell_module_hint(module: str | None) -> dict:
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
    module = _spec_module(spec)
    if module is not None and module not in sys.modules:
        raise RunError(
            f"{where}: the run's cell {spec!r} is defined in module {module!r}, which gruvsynth "
            "does not import because a run folder names it",
            hint=f"import {module} first if you trust it",
            cli_hint=f"name the cell yourself with --cell {spec} if you trust that module")


def _cell_label(spec) -> str:
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


# ---------------------------------------------------------------------------------------------
# small file helpers


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_path(path: Path, suffix: str = "") -> Path:
    return path.with_name(f"{_TMP_PREFIX}{path.name}-{os.getpid()}{suffix}")


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    tmp = _tmp_path(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


def _json_text(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable {what} ({exc})") from None


def _clean_float(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _history_text(rows: list[dict]) -> tuple[str, str]:
    """(json text, csv text) of history rows; non-finite or missing dev losses become null/empty."""
    clean = [{"epoch": int(r["epoch"]), "loss": _clean_float(r["loss"]),
              "dev_loss": _clean_float(r.get("dev_loss")),
              "seconds": _clean_float(r.get("seconds"))} for r in rows]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HISTORY_FIELDS)
    for r in clean:
        writer.writerow(["" if r[k] is None else repr(r[k]) for k in HISTORY_FIELDS])
    return _json_text(clean), buf.getvalue()


def _write_history(run_dir: Path, rows: list[dict]) -> None:
    text_json, text_csv = _history_text(rows)
    _atomic_write_text(run_dir / HISTORY_JSON, text_json)
    _atomic_write_text(run_dir / HISTORY_CSV, text_csv)


def _read_history(run_dir: Path) -> list[dict]:
    path = run_dir / HISTORY_JSON
    if not path.exists():
        return []
    rows = _read_json(path, "training history")
    if not isinstance(rows, list):
        raise RunError(f"{path}: not a training history (expected a list of epochs)")
    out = []
    for r in rows:
        out.append({
            "epoch": int(r["epoch"]),
            "loss": float("nan") if r.get("loss") is None else float(r["loss"]),
            "dev_loss": float("nan") if r.get("dev_loss") is None else float(r["dev_loss"]),
            "seconds": float("nan") if r.get("seconds") is None else float(r["seconds"]),
        })
    return out


def _checkpoint_name(epoch: int) -> str:
    return f"epoch-{int(epoch):06d}.keras"


def _checkpoint_epoch(path: Path) -> int | None:
    m = _CHECKPOINT_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def _list_checkpoints(run_dir: Path) -> list[Path]:
    folder = run_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(e, p) for p in folder.iterdir() if (e := _checkpoint_epoch(p)) is not None]
    return [p for _, p in sorted(found)]


def _clean_temporaries(run_dir: Path) -> None:
    """Remove temporary files a crashed session left (the caller holds the run's lock)."""
    for folder in (run_dir, run_dir / CHECKPOINT_DIR):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(_TMP_PREFIX) and p.is_file():
                    with contextlib.suppress(OSError):
                        p.unlink()


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    """Hold an exclusive lock on the run folder (released by the OS even after ``kill -9``)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        yield
        return
    f = open(run_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunError(f"{run_dir}: the run folder is being trained by another process") from None
        yield
    finally:
        f.close()


# ---------------------------------------------------------------------------------------------
# model files


def _import_cells() -> None:
    """Register gruvsynth's cells with Keras, so model files that use them load in safe mode."""
    import gruvsynth.cells  # noqa: F401


def _read_stamp(path: Path) -> dict | None:
    try:
        with zipfile.ZipFile(path) as z:
            if STAMP_NAME not in z.namelist():
                return None
            return json.loads(z.read(STAMP_NAME).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt model file ({exc})") from None


def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty model file (0 bytes)")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(
            f"{path}: truncated or corrupt model file, not a readable .keras archive ({exc})"
        ) from None
    if bad is not None:
        raise CheckpointError(f"{path}: corrupt model file (bad checksum in {bad})")
    if not {"config.json", "model.weights.h5"} <= names:
        raise CheckpointError(f"{path}: not a Keras model file (no config.json/model.weights.h5)")


def load_model_file(path, *, cell=None, compile: bool = True):
    """Load a ``.keras`` model file in Keras's safe mode, with gruvsynth's cells registered.

    No module is imported because of the file or the run: Keras's own and gruvsynth's cells
    load by their registered names, and a cell of the user's own loads only once the user has
    imported the module that registers it (:func:`import_cell_modules`).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` file (a checkpoint or a final model).
    cell : str or dict, optional
        The run's cell spec (:func:`cell_spec`), used only to say which module to import when
        the model's cell is not registered.
    compile : bool
        Restore the optimizer and its state (to train on).  ``False`` loads the weights only:
        half the memory at the paper's size (no RMSprop velocities), for generation and
        evaluation.

    Returns
    -------
    model : keras.Model
        With its optimizer state, when the file has one and ``compile`` is true.

    Raises
    ------
    CheckpointError
        The file is missing, empty, truncated, corrupt or not a Keras model, or its cell is
        not registered (the message says which module to import).
    """
    from gruvsynth.backends import select_backend

    path = Path(path)
    _check_model_file(path)
    select_backend(None)
    import keras

    _import_cells()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:  # Keras raises many types (ValueError, OSError, TypeError, ...)
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        found = re.search(r"Could not locate class '([^']+)'", text)
        if found:
            raise CheckpointError(
                f"{path}: the model's cell class {found[1]!r} is not registered (the run's "
                f"cell is {cell!r}; gruvsynth does not import a module because a run names it)",
                **_cell_module_hint(_spec_module(cell))) from None
        raise CheckpointError(f"{path}: cannot load the model ({reason[:300]})") from None


def _config_hash(resolved: dict) -> str:
    keys = sorted(k for k in resolved if k in _COMPARED_KEYS)
    text = json.dumps({k: resolved[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# runs


class Run:
    """A run folder written by :func:`train` (use :func:`open_run`).

    Attributes
    ----------
    path : pathlib.Path
        The run folder.
    config : dict
        The parsed ``config.json`` (all :class:`TrainConfig` fields, with ``cell`` as a spec,
        plus ``corpus``, ``corpus_hash``, ``features``, ``representation``, ``block``,
        ``clip_blocks``, ``train_clips``, ``dev_clips``).
    """

    def __init__(self, path, config: dict | None = None):
        self.path = Path(path)
        self.config = config if config is not None else _read_json(
            self.path / CONFIG_NAME, "run configuration")
        if not isinstance(self.config, dict) or self.config.get("format") != RUN_FORMAT:
            raise RunError(f"{self.path / CONFIG_NAME}: not a gruvsynth run configuration")

    def __repr__(self) -> str:
        h = self.history
        done = h[-1]["epoch"] if h else 0
        return (f"<Run {self.path}: {self.config.get('cell')} h{self.config.get('hidden')}, "
                f"{done}/{self.config.get('epochs')} epochs>")

    @property
    def history(self) -> list[dict]:
        """Completed epochs: dicts with ``epoch``, ``loss``, ``dev_loss`` (NaN where not
        evaluated) and ``seconds``; read from ``history.json`` on each access."""
        return _read_history(self.path)

    @property
    def state(self) -> dict:
        """``checkpoints/state.json``: ``epoch`` and ``checkpoint`` of the last checkpoint,
        ``final_epoch`` of ``model.keras`` (``{}`` before the first checkpoint)."""
        path = self.path / CHECKPOINT_DIR / STATE_NAME
        return _read_json(path, "checkpoint state") if path.exists() else {}

    @property
    def versions(self) -> dict:
        """The parsed ``versions.json``."""
        return _read_json(self.path / VERSIONS_NAME, "versions record")

    @functools.cached_property
    def corpus(self):
        """The run's corpus (:func:`gruvsynth.corpus.open_corpus` on ``config["corpus"]``),
        checked to be the corpus the run was trained on.

        Raises
        ------
        RunError
            The corpus's manifest hash is not the run's ``corpus_hash`` (it was prepared again,
            e.g. with ``--force`` and another split); the message names what differs.
        """
        from gruvsynth.corpus import open_corpus

        corpus = open_corpus(self.config["corpus"])
        expected = self.config.get("corpus_hash")
        if expected and corpus.manifest_hash != expected:
            diffs = _corpus_differences(self.config, corpus)
            corpus.close()
            raise RunError(
                f"{self.path}: the corpus {corpus.path} is not the one this run was trained on "
                f"({diffs}; manifest hash {corpus.manifest_hash[:12]} now, {expected[:12]} in "
                "the run): its losses and seeds would not mean what they say",
                hint="prepare the corpus again with the run's settings, or train a new run "
                     "on it")
        return corpus

    @property
    def completed_epochs(self) -> int:
        """The last epoch in the history (0 before the first epoch completes)."""
        h = self.history
        return h[-1]["epoch"] if h else 0

    @property
    def finished(self) -> bool:
        """Whether ``model.keras`` exists for the configured number of epochs."""
        return (self.path / FINAL_NAME).exists() and \
            self.state.get("final_epoch", -1) >= int(self.config["epochs"])

    def checkpoints(self) -> list[Path]:
        """Paths of the checkpoint files, oldest epoch first."""
        return _list_checkpoints(self.path)

    def model_path(self, which: str | os.PathLike = "final") -> Path:
        """The model file :meth:`load_model` would load (see there)."""
        if isinstance(which, str) and which == "final":
            path = self.path / FINAL_NAME
            if not path.exists():
                raise CheckpointError(
                    f"{path}: no final model yet (training has not finished); "
                    "use which='latest' for the last checkpoint")
            return path
        if isinstance(which, str) and which == "best":
            best = _read_best(self.path)
            if best is None:
                raise CheckpointError(
                    f"{self.path}: no best checkpoint (no dev loss was measured, or the run "
                    "was trained with keep_best off)")
            return self.path / CHECKPOINT_DIR / BEST_NAME
        if isinstance(which, str) and which == "latest":
            final = self.path / FINAL_NAME
            final_epoch = self.state.get("final_epoch") if final.exists() else None
            ckpts = self.checkpoints()
            if ckpts and (final_epoch is None or _checkpoint_epoch(ckpts[-1]) > final_epoch):
                return ckpts[-1]
            if final.exists():
                return final
            raise CheckpointError(f"{self.path}: no checkpoint or final model yet")
        path = Path(which)
        if not path.is_absolute() and not path.exists() and (self.path / path).exists():
            path = self.path / path
        return path

    def load_model(self, which: str | os.PathLike = "final", *, compile: bool = True):
        """Load a model of this run (safe mode on).

        Parameters
        ----------
        which : {"final", "latest", "best"} or path
            ``"final"``: ``model.keras``; ``"latest"``: the newest checkpoint, or the final
            model when it is at least as new; ``"best"``: the epoch with the lowest dev loss
            (:attr:`best`); a path (absolute, or relative to the run folder).
        compile : bool
            With the optimizer and its state (default); ``False``: the weights only, for
            generation and evaluation (half the memory at the paper's size).

        Returns
        -------
        model : keras.Model

        Raises
        ------
        CheckpointError
            The file is missing, truncated, corrupt or not a Keras model.
        """
        return load_model_file(self.model_path(which), cell=self.config.get("cell"),
                               compile=compile)

    @property
    def best(self) -> dict | None:
        """The best checkpoint's ``{"epoch", "dev_loss", "checkpoint"}``, or None."""
        return _read_best(self.path)

    def summary(self) -> dict:
        """Figures of the run so far.

        Returns
        -------
        dict
            ``epochs`` (completed), ``target_epochs``, ``final_loss``, ``best_dev_loss`` and
            ``best_dev_epoch`` (``None`` without dev losses), ``best_checkpoint_epoch`` (the
            epoch of ``checkpoints/best.keras``, or ``None``), ``mean_seconds`` per epoch.
        """
        h = self.history
        dev = [(r["dev_loss"], r["epoch"]) for r in h if math.isfinite(r["dev_loss"])]
        best = min(dev) if dev else (None, None)
        secs = [r["seconds"] for r in h if math.isfinite(r["seconds"])]
        return {
            "epochs": h[-1]["epoch"] if h else 0,
            "target_epochs": int(self.config["epochs"]),
            "final_loss": h[-1]["loss"] if h else None,
            "best_dev_loss": best[0],
            "best_dev_epoch": best[1],
            "best_checkpoint_epoch": (self.best or {}).get("epoch"),
            "mean_seconds": float(np.mean(secs)) if secs else None,
        }


def _corpus_differences(config: dict, corpus) -> str:
    """What differs between the corpus a run was trained on and ``corpus``, in words."""
    now = {"features": int(corpus.features), "representation": corpus.representation,
           "block": int(corpus.block), "clip_blocks": int(corpus.clip_blocks),
           "train_clips": len(corpus.clips("train")[0]), "dev_clips": len(corpus.clips("dev")[0])}
    diffs = [f"{key} {config[key]!r} in the run, {value!r} now" for key, value in now.items()
             if key in config and config[key] != value]
    return "; ".join(diffs) or "the same sizes, but other songs, another split or other statistics"


def open_run(run_dir) -> Run:
    """Open a run folder written by :func:`train`.

    Parameters
    ----------
    run_dir : str or os.PathLike

    Returns
    -------
    Run

    Raises
    ------
    RunError
        The folder or its ``config.json`` is missing or not a gruvsynth run.
    """
    path = Path(run_dir).expanduser()
    try:
        is_dir = path.is_dir()
    except PermissionError:
        raise RunError(f"{path}: cannot be read (permission denied)") from None
    if not is_dir:
        raise RunError(f"{path}: no such run folder")
    return Run(path)


def format_summary(run: Run) -> str:
    """A few human-readable lines about a run: epochs, losses, best dev loss, time per epoch."""
    s = run.summary()
    lines = [f"run folder: {run.path}",
             f"epochs: {s['epochs']} of {s['target_epochs']}"]
    if s["final_loss"] is not None:
        lines.append(f"final train loss: {s['final_loss']:.6g}")
    if s["best_dev_loss"] is not None:
        lines.append(f"best dev loss: {s['best_dev_loss']:.6g} at epoch {s['best_dev_epoch']}")
    elif run.config.get("dev_clips", 0) == 0:
        lines.append("dev loss: none (the corpus has no dev clips)")
    if s["mean_seconds"] is not None:
        lines.append(f"time per epoch: {s['mean_seconds']:.3g} s (mean)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# training


_COMPARED_KEYS = tuple(k for k in TrainConfig.fields() if k not in RESUMABLE_KEYS) + CORPUS_KEYS


def _resolve_run_dir(run_dir, spec, hidden: int) -> Path:
    if run_dir is not None:
        return Path(run_dir).expanduser().absolute()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs").absolute() / f"{stamp}-{_cell_label(spec)}-h{hidden}"


#: Options added after runs were first written, with the value an older run had.
_ADDED_DEFAULTS = {"precision": "auto", "recipe": DEFAULT_RECIPE}


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in _COMPARED_KEYS:
        before = old.get(key, _ADDED_DEFAULTS.get(key))
        if before != new.get(key):
            out.append(f"{key}: {before!r} in the run, {new.get(key)!r} now")
    return out


def _prepare_folder(run_dir: Path, resolved: dict) -> dict:
    """Check an existing run folder against ``resolved`` (or start a new one); return the
    config to record."""
    config_path = run_dir / CONFIG_NAME
    if config_path.exists():
        old = _read_json(config_path, "run configuration")
        if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
            raise RunError(f"{config_path}: not a gruvsynth run configuration")
        diffs = _differences(old, resolved)
        if diffs:
            raise RunError(
                f"{run_dir}: this run folder was trained with a different configuration "
                f"({'; '.join(diffs)}); use another folder (-o) or the run's own settings")
        record = dict(old)
        record["epochs"] = int(resolved["epochs"])
        record["keep_checkpoints"] = resolved["keep_checkpoints"]
        record["keep_best"] = resolved.get("keep_best", True)
        if old.get("backend") != resolved["backend"]:
            log.warning("%s: resuming on the %s backend (the run started on %s); its numbers "
                        "will not match an uninterrupted run bit for bit",
                        run_dir, resolved["backend"], old.get("backend"))
            record["backend"] = resolved["backend"]
        if old.get("corpus") != resolved["corpus"]:
            log.info("%s: the corpus moved to %s (same manifest hash)", run_dir, resolved["corpus"])
            record["corpus"] = resolved["corpus"]
        return record
    return dict(resolved)


def _check_foreign(run_dir: Path) -> None:
    """Refuse an existing folder that is neither empty nor a run folder (before writing to it)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: exists and is not a folder")
    if (run_dir / CONFIG_NAME).exists():
        return
    others = sorted(p.name for p in run_dir.iterdir()
                    if p.name not in _RUN_FILES and not p.name.startswith(_TMP_PREFIX))
    if others:
        raise RunError(
            f"{run_dir}: the folder exists and is not a gruvsynth run folder "
            f"(it holds {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}); "
            "choose a new or empty folder")


def _latest_state(run_dir: Path) -> tuple[int, Path | None]:
    """(epoch, checkpoint path) to resume from; (0, None) for a fresh start."""
    state_path = run_dir / CHECKPOINT_DIR / STATE_NAME
    if state_path.exists():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            epoch, name = int(state["epoch"]), state["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{state_path}: unreadable checkpoint state ({exc})") from None
        path = run_dir / CHECKPOINT_DIR / name
        if not path.exists():
            raise CheckpointError(f"{path}: the last checkpoint named by {state_path} is missing")
        return epoch, path
    ckpts = _list_checkpoints(run_dir)  # a crash between a checkpoint and its state.json
    if ckpts:
        return _checkpoint_epoch(ckpts[-1]), ckpts[-1]
    return 0, None


class _KerasSteps:
    """Training and evaluation steps through Keras's compiled ``train_on_batch``/``test_on_batch``.

    The training loop talks to the model only through :meth:`train_epoch` and
    :meth:`evaluate`, so a faster path (data resident on the device, several steps per
    compiled call, a distribution strategy) can replace this class without touching the loop.

    Models with Keras's LSTM or GRU layers (the ``"lstm"`` and ``"gru"`` cells) step through
    their fused twin (:func:`gruvsynth.models.fused_model`: the same variables, optimizer and
    function, with the recurrent input product hoisted out of the time loop, a hand-written
    backward pass through time and the whole step compiled with XLA; ``docs/performance.rst``);
    other cells through the model itself.
    """

    def __init__(self, model):
        from gruvsynth.models import fused_model

        self.model = model
        self.trainer = fused_model(model) or model

    def _scope(self):
        """Context the batches run in (a distribution strategy's scope in a subclass)."""
        return contextlib.nullcontext()

    def _batch_loss(self, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        """One batch through a train or test step; its mean loss."""
        step = self.trainer.train_on_batch if train else self.trainer.test_on_batch
        return float(step(x, y))

    def train_epoch(self, batches: Iterator[tuple[np.ndarray, np.ndarray]], *, bar=None):
        """Train on every batch; return (mean loss weighted by batch size, index of the first
        non-finite batch loss or None, that loss)."""
        total, count = 0.0, 0
        with self._scope():
            for i, (x, y) in enumerate(batches):
                loss = self._batch_loss(x, y, train=True)
                if not math.isfinite(loss):
                    return float("nan"), i, loss
                total += loss * len(x)
                count += len(x)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total / count:.4g}", refresh=False)
        return total / max(count, 1), None, None

    def evaluate(self, batches: Iterator[tuple[np.ndarray, np.ndarray]]) -> float:
        """Mean loss over every batch, weighted by batch size (= MSE over all clips)."""
        total, count = 0.0, 0
        with self._scope():
            for x, y in batches:
                total += self._batch_loss(x, y, train=False) * len(x)
                count += len(x)
        return total / count if count else float("nan")

    def weights_finite(self) -> bool:
        """Whether every weight is finite (checked before a checkpoint is written)."""
        return all(bool(np.isfinite(np.asarray(w)).all()) for w in self.model.get_weights())


def time_steps(config: TrainConfig | None = None, *, features: int, clip_blocks: int = 40,
               steps: int = 2, warmup: int = 1) -> dict:
    """Time the training and dev-loss steps :func:`train` would run, on random clips.

    The model is built and stepped exactly as :func:`train` does it (the configuration's
    precision, the fused twin where it applies, streamed numpy batches of ``batch_size``
    clips), on this process's device.  Nothing is written.

    Parameters
    ----------
    config : TrainConfig, optional
        What to train (cell, hidden, layers, batch_size, recipe, precision, ...).
    features : int
        Feature width ``D``.
    clip_blocks : int
        Blocks per clip ``T``.
    steps : int
        Timed training steps (and as many dev-loss batches), after ``warmup`` of each.
    warmup : int
        Untimed steps first (the first one traces and compiles).

    Returns
    -------
    dict
        ``params``; ``build_seconds`` (making the model); ``first_step_seconds`` and
        ``first_eval_seconds`` (the first training step and dev-loss batch: compilation
        included); ``step_seconds`` and ``eval_seconds`` (mean of the timed ones);
        ``precision``.
    """
    from gruvsynth.backends import precision_scope, select_backend
    from gruvsynth.models import build_model

    cfg = config if config is not None else TrainConfig()
    features = _check_int("features", features, 1)
    clip_blocks = _check_int("clip_blocks", clip_blocks, 1)
    steps = _check_int("steps", steps, 1)
    warmup = _check_int("warmup", warmup, 1)
    select_backend(cfg.backend)
    rng = np.random.default_rng(cfg.seed)
    x, y = (rng.standard_normal((cfg.batch_size, clip_blocks, features)).astype(np.float32)
            for _ in range(2))
    out = {}
    with precision_scope(cfg.precision) as precision:
        t0 = time.perf_counter()
        model = build_model(cell=cell_from_spec(cfg.cell), hidden=cfg.hidden,
                            features=features, layers=cfg.layers,
                            input_projection=cfg.input_projection,
                            learning_rate=float(cfg.learning_rate), seed=int(cfg.seed),
                            recipe=cfg.recipe)
        stepper = _KerasSteps(model)
        out.update(params=int(model.count_params()), build_seconds=time.perf_counter() - t0,
                   precision=precision)
        for name, train_, n in (("first_step_seconds", True, 1), ("warm", True, warmup - 1),
                                ("step_seconds", True, steps), ("first_eval_seconds", False, 1),
                                ("warm", False, warmup - 1), ("eval_seconds", False, steps)):
            t0 = time.perf_counter()
            for _ in range(n):
                stepper._batch_loss(x, y, train=train_)
            if n:
                out[name] = (time.perf_counter() - t0) / n
    out.pop("warm", None)
    return out


def _read_batch(corpus, split: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reader = getattr(corpus, "batch", None)
    if reader is not None:
        return reader(split, index)
    inputs, targets = corpus.clips(split)
    return np.asarray(inputs[index]), np.asarray(targets[index])


def _batches(corpus, split: str, order: np.ndarray, batch_size: int):
    """Batches of clips in ``order``, read from disk one batch ahead in a background thread."""
    from gruvsynth.resident import chunks as _chunks

    chunks = _chunks(order, batch_size)
    if not chunks:
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                               thread_name_prefix="gruvsynth-reader") as pool:
        pending = pool.submit(_read_batch, corpus, split, chunks[0])
        for j in range(len(chunks)):
            batch = pending.result()
            if j + 1 < len(chunks):
                pending = pool.submit(_read_batch, corpus, split, chunks[j + 1])
            yield batch


def _nonfinite_data(corpus, split: str, index: np.ndarray) -> str | None:
    """Which clips of a batch hold NaN or infinite values (inputs or targets), in words."""
    x, y = _read_batch(corpus, split, np.asarray(index))
    bad = ~(np.isfinite(x).all(axis=(1, 2)) & np.isfinite(y).all(axis=(1, 2)))
    if not bad.any():
        return None
    clips = sorted({int(i) for i in np.asarray(index)[bad]})
    return (f"the {split} clip{'s' if len(clips) > 1 else ''} "
            f"{', '.join(map(str, clips[:10]))}{', ...' if len(clips) > 10 else ''} hold NaN or "
            "infinite features")


def _save_checkpoint(model, run_dir: Path, epoch: int, stamp: dict, *,
                     name: str | None = None) -> Path:
    """Write ``checkpoints/epoch-NNNNNN.keras`` (or ``name``) atomically, with a stamp naming
    run and epoch."""
    folder = run_dir / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    path = folder / (name or _checkpoint_name(epoch))
    tmp = _tmp_path(path, ".keras")  # Keras insists on the .keras extension
    try:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(STAMP_NAME, json.dumps({**stamp, "epoch": int(epoch)}))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(folder)
    return path


def _install_final(checkpoint: Path, run_dir: Path) -> None:
    """Make ``model.keras`` the given checkpoint (a hard link where possible, else a copy)."""
    final = run_dir / FINAL_NAME
    tmp = _tmp_path(final, ".keras")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        try:
            os.link(checkpoint, tmp)
        except OSError:
            shutil.copyfile(checkpoint, tmp)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(run_dir)


def _prune(run_dir: Path, keep: int, current: Path) -> None:
    if keep <= 0:
        return
    ckpts = _list_checkpoints(run_dir)
    for p in ckpts[:-keep]:
        if p != current:
            with contextlib.suppress(OSError):
                p.unlink()


def _load_checkpoint(path: Path, resolved: dict):
    """Load a checkpoint to resume from, checking it belongs to this run."""
    _check_model_file(path)
    stamp = _read_stamp(path)
    if stamp is None:
        raise CheckpointError(f"{path}: not a checkpoint of a gruvsynth run (no {STAMP_NAME})")
    expected = _config_hash(resolved)
    if stamp.get("config_hash") != expected:
        raise CheckpointError(
            f"{path}: a checkpoint of another run or configuration (its config hash "
            f"{str(stamp.get('config_hash'))[:12]} is not this run's {expected[:12]})")
    model = load_model_file(path, cell=resolved.get("cell"))
    if getattr(model, "optimizer", None) is None:
        raise CheckpointError(f"{path}: the checkpoint has no optimizer state")
    return model, int(stamp["epoch"])


def _versions_record(run_dir: Path, start_epoch: int) -> dict:
    from gruvsynth.backends import versions

    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    current = versions()
    path = run_dir / VERSIONS_NAME
    record = None
    if path.exists():
        with contextlib.suppress(RunError):
            record = _read_json(path, "versions record")
    if not isinstance(record, dict):
        record = dict(current)
        record["sessions"] = []
    session = {"started": now, "start_epoch": start_epoch,
               **{k: current[k] for k in ("gruvsynth", "keras", "backend", "backend_version")}}
    record.setdefault("sessions", []).append(session)
    return record


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", disable=not enabled,
                dynamic_ncols=True, leave=True)


def train(corpus_dir, run_dir=None, *, config: TrainConfig | None = None, progress: bool = True,
          distribute=None, feed: str = "auto", steps_per_call: int | None = None,
          **overrides) -> Run:
    """Train a GRUV model on a prepared corpus, or resume an interrupted run.

    Parameters
    ----------
    corpus_dir : str or os.PathLike
        A corpus folder from :func:`gruvsynth.corpus.prepare_corpus`.
    run_dir : str or os.PathLike, optional
        The run folder.  Default: ``runs/<YYYYmmdd-HHMMSS>-<cell>-h<hidden>`` in the current
        directory.  An existing run folder with the same configuration is resumed from its
        last checkpoint (``epochs`` may be raised to train further); one with a different
        configuration is refused.
    config : TrainConfig, optional
        The configuration (default: the paper's, :class:`TrainConfig`).
    progress : bool
        Show progress bars (epochs, and batches within an epoch) and a summary on stderr.
    distribute : gruvsynth.distribute.DistributeConfig, str, dict or None
        Train data-parallel over several devices or processes (``"data-parallel"``, or a
        :class:`~gruvsynth.distribute.DistributeConfig`); ``None`` trains on one device.  Not
        part of the run's configuration: a run may resume with another setting.  On a
        process other than process 0 / the chief, nothing is written to ``run_dir`` and the
        returned run is that process's private copy (see :mod:`gruvsynth.distribute`).
    feed : {"auto", "stream", "resident"}
        How batches reach the model (:mod:`gruvsynth.resident`): ``"stream"`` reads each batch
        from the corpus file and hands it over as numpy arrays; ``"resident"`` (JAX only)
        copies the clips to the device once and runs several steps per compiled call;
        ``"auto"`` is resident on a JAX GPU when the clips fit in a quarter of its free
        memory, else streamed.  Not part of the run's configuration (the batches and the
        arithmetic are the same).
    steps_per_call : int, optional
        Training steps per compiled call with the resident feed (default
        :data:`gruvsynth.resident.DEFAULT_STEPS_PER_CALL`).
    **overrides
        Fields of :class:`TrainConfig` to change, e.g. ``hidden=64, epochs=10``.

    Returns
    -------
    Run
        The run folder, opened.

    Raises
    ------
    ParameterError
        An invalid or unknown option.
    CorpusError
        The corpus folder is missing or not a prepared corpus, or has no training clips.
    RunError
        The run folder holds a different configuration, another corpus, or is in use.
    CheckpointError
        The checkpoint to resume from is truncated, corrupt or from another run.
    TrainingDivergedError
        The loss became NaN or infinite (the last good checkpoint is kept).
    gruvsynth.backends.BackendError
        Keras is already imported with another backend than the one asked for.
    """
    from gruvsynth.backends import enable_determinism, seed_everything, select_backend
    from gruvsynth.corpus import open_corpus
    from gruvsynth.errors import CorpusError

    cfg = (config if config is not None else TrainConfig()).replace(**overrides)
    backend = select_backend(cfg.backend)
    from gruvsynth import distribute as _distribute

    dist = _distribute.start(distribute, backend)  # before Keras starts the backend's devices
    progress = progress and dist.is_chief
    import keras  # noqa: F401  (the backend is fixed from here on)

    from gruvsynth import resident

    if feed != "auto":  # refuse a feed that cannot run before anything is written
        resident.choose_feed(feed, backend=backend, distributed=dist.enabled, nbytes=0)
    if steps_per_call is not None and (isinstance(steps_per_call, bool)
                                       or not isinstance(steps_per_call, numbers.Integral)
                                       or steps_per_call < 1):
        raise ParameterError(f"steps_per_call must be a positive integer, got {steps_per_call!r}")

    corpus = open_corpus(corpus_dir)
    try:
        n_train = len(corpus.clips("train")[0])
        n_dev = len(corpus.clips("dev")[0])
        if n_train == 0:
            raise CorpusError(f"{corpus.path}: the corpus has no training clips")
        spec = cell_spec(cfg.cell)
        resolved = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION,
                    **cfg.to_dict(), "backend": backend,
                    "corpus": str(Path(corpus.path).resolve()),
                    "corpus_hash": corpus.manifest_hash, "features": int(corpus.features),
                    "representation": corpus.representation, "block": int(corpus.block),
                    "clip_blocks": int(corpus.clip_blocks), "train_clips": n_train,
                    "dev_clips": n_dev}
        path = _resolve_run_dir(run_dir, spec, cfg.hidden)
        with _distribute.worker_folder(dist, path) as path:  # non-chief: a private copy
            _check_foreign(path)
            if (path / CONFIG_NAME).exists():
                _prepare_folder(path, resolved)  # refuse a different configuration first
            with writing(path):
                path.mkdir(parents=True, exist_ok=True)
            with _run_lock(path):
                record = _prepare_folder(path, resolved)
                return _train_locked(path, record, cfg, corpus, progress=progress,
                                     seed_everything=seed_everything,
                                     enable_determinism=enable_determinism, dist=dist,
                                     feed=feed, steps_per_call=steps_per_call)
    finally:
        corpus.close()


def _train_locked(path: Path, record: dict, cfg: TrainConfig, corpus, *, progress: bool,
                  seed_everything, enable_determinism, dist=None, feed="auto",
                  steps_per_call=None) -> Run:
    from gruvsynth.backends import precision_scope

    with precision_scope(record.get("precision", "auto")) as precision:
        return _train_session(path, record, cfg, corpus, progress=progress,
                              seed_everything=seed_everything,
                              enable_determinism=enable_determinism, dist=dist, feed=feed,
                              steps_per_call=steps_per_call, precision=precision)


def _make_steps(model, corpus, record: dict, *, dist, feed: str, steps_per_call):
    """The steps object of a session and the feed it uses."""
    from gruvsynth import resident

    if dist is not None and dist.enabled:  # train() refused feed="resident" already
        return dist.steps(model), "stream"
    nbytes = resident.ResidentSteps.nbytes(record["train_clips"] + record["dev_clips"],
                                           record["clip_blocks"], record["features"])
    chosen = resident.choose_feed(feed, backend=record["backend"], distributed=False,
                                  nbytes=nbytes)
    if chosen == "stream":
        return _KerasSteps(model), chosen
    rows = {"train": corpus.rows("train")}
    if record["dev_clips"]:
        rows["dev"] = corpus.rows("dev")
    return resident.ResidentSteps(model, rows, steps_per_call=steps_per_call
                                  or resident.DEFAULT_STEPS_PER_CALL), chosen


def _train_session(path: Path, record: dict, cfg: TrainConfig, corpus, *, progress: bool,
                   seed_everything, enable_determinism, dist, feed, steps_per_call,
                   precision: str) -> Run:
    from gruvsynth.models import build_model
    from gruvsynth.resident import chunks

    _clean_temporaries(path)
    record.setdefault("created", _dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    _atomic_write_text(path / CONFIG_NAME, _json_text(record))
    (path / CHECKPOINT_DIR).mkdir(exist_ok=True)
    epochs = int(cfg.epochs)
    stamp = {"run": RUN_FORMAT, "config_hash": _config_hash(record)}

    enable_determinism()
    seed_everything(cfg.seed)
    start, ckpt = _latest_state(path)
    scope = dist.scope() if dist is not None else contextlib.nullcontext()
    with scope:  # a distribution strategy's variables are made inside its scope
        if ckpt is not None:
            model, start = _load_checkpoint(ckpt, record)
            log.info("%s: resuming after epoch %d from %s", path, start, ckpt.name)
        else:
            model = build_model(cell=cell_from_spec(cfg.cell), hidden=cfg.hidden,
                                features=record["features"], layers=cfg.layers,
                                input_projection=cfg.input_projection,
                                learning_rate=float(cfg.learning_rate), seed=int(cfg.seed),
                                recipe=record.get("recipe", DEFAULT_RECIPE))
    history = [r for r in _read_history(path) if r["epoch"] <= start]
    if [r["epoch"] for r in history] != list(range(1, start + 1)):
        raise RunError(f"{path / HISTORY_JSON}: the history does not cover epochs 1-{start} of "
                       f"the checkpoint {ckpt.name if ckpt else ''}; the run folder is damaged")
    _write_history(path, history)
    versions_record = _versions_record(path, start)
    if dist is not None:  # the session's distribution mode (not part of the configuration)
        versions_record["sessions"][-1]["distribute"] = dist.describe()
    _atomic_write_text(path / VERSIONS_NAME, _json_text(versions_record))
    run = Run(path, record)
    if start >= epochs:
        if not (path / FINAL_NAME).exists() and ckpt is not None:
            _install_final(ckpt, path)
            _write_state(path, start, ckpt, final_epoch=start)
        log.info("%s: already trained for %d epochs; nothing to do", path, start)
        return run

    n_train, n_dev = record["train_clips"], record["dev_clips"]
    if n_dev == 0:
        log.warning("%s: the corpus has no dev clips, so there is no dev loss", corpus.path)
    spread = getattr(corpus, "spread", None)
    if spread and spread.get("harmful"):
        from gruvsynth.corpus import describe_spread

        log.warning("%s: %s (prepare the corpus again with a larger std floor)", corpus.path,
                    describe_spread(spread, int(record["features"])))
    steps, chosen_feed = _make_steps(model, corpus, record, dist=dist, feed=feed,
                                     steps_per_call=steps_per_call)
    resident_feed = getattr(steps, "resident", False)
    versions_record["sessions"][-1].update(precision=precision, feed=chosen_feed)
    _atomic_write_text(path / VERSIONS_NAME, _json_text(versions_record))
    log.info("%s: precision %s, %s feed", path, precision, chosen_feed)
    n_batches = math.ceil(n_train / cfg.batch_size)
    last_ckpt, last_ckpt_epoch = ckpt, (start if ckpt is not None else None)
    best = _read_best(path)
    t_start = time.perf_counter()
    bar = _progress(epochs, start, path.name, progress)
    try:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            order = epoch_order(n_train, seed=cfg.seed, epoch=epoch)
            with _progress_batches(n_batches, epoch, progress and n_batches > 1) as inner:
                if resident_feed:
                    loss, bad, bad_loss = steps.train_indices(chunks(order, cfg.batch_size),
                                                              bar=inner)
                else:
                    loss, bad, bad_loss = steps.train_epoch(
                        _batches(corpus, "train", order, cfg.batch_size), bar=inner)
            if bad is not None:
                problem = _nonfinite_data(corpus, "train", chunks(order, cfg.batch_size)[bad])
                if problem:
                    raise CorpusError(
                        f"{corpus.path}: {problem}, so the loss became {bad_loss} in epoch "
                        f"{epoch} (batch {bad + 1} of {n_batches}); the data is at fault, not "
                        "the learning rate: prepare the corpus again")
                where = (f"{last_ckpt} (epoch {last_ckpt_epoch})" if last_ckpt is not None
                         else "none (no checkpoint was written yet)")
                raise TrainingDivergedError(
                    f"{path}: training diverged in epoch {epoch} (batch {bad + 1} of {n_batches}): "
                    f"the loss is {bad_loss}; last good checkpoint: {where}; try a lower "
                    f"learning rate (now {cfg.learning_rate:g})")
            dev = float("nan")
            if n_dev and epoch % cfg.eval_every == 0:
                if resident_feed:
                    dev = steps.evaluate_indices(chunks(np.arange(n_dev), cfg.batch_size))
                else:
                    dev = steps.evaluate(_batches(corpus, "dev", np.arange(n_dev),
                                                  cfg.batch_size))
            history.append({"epoch": epoch, "loss": loss, "dev_loss": dev,
                            "seconds": time.perf_counter() - t0})
            _write_history(path, history)
            if (record.get("keep_best", True) and math.isfinite(dev)
                    and (best is None or dev < best["dev_loss"]) and steps.weights_finite()):
                _save_checkpoint(model, path, epoch, stamp, name=BEST_NAME)
                best = {"epoch": int(epoch), "dev_loss": float(dev), "checkpoint": BEST_NAME}
                _write_best(path, best)
            if epoch % cfg.checkpoint_every == 0 or epoch == epochs:
                if not steps.weights_finite():
                    raise TrainingDivergedError(
                        f"{path}: training diverged in epoch {epoch}: the weights are no longer "
                        f"finite; last good checkpoint: "
                        f"{last_ckpt if last_ckpt is not None else 'none'}")
                last_ckpt = _save_checkpoint(model, path, epoch, stamp)
                last_ckpt_epoch = epoch
                _write_state(path, epoch, last_ckpt)
                _prune(path, cfg.keep_checkpoints, last_ckpt)
            bar.update(1)
            post = {"loss": f"{loss:.4g}"}
            if math.isfinite(dev):
                post["dev"] = f"{dev:.4g}"
            bar.set_postfix(post)
    finally:
        bar.close()
    _install_final(last_ckpt, path)
    _write_state(path, epochs, last_ckpt, final_epoch=epochs)
    log.debug("%s: %d epochs in %.1f s", path, epochs - start, time.perf_counter() - t_start)
    if progress:
        import sys

        print(format_summary(run), file=sys.stderr)
    return run


@contextlib.contextmanager
def _progress_batches(n_batches: int, epoch: int, enabled: bool):
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=n_batches, desc=f"epoch {epoch}", unit="batch", leave=False,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def _read_state(path: Path) -> dict:
    state_path = path / CHECKPOINT_DIR / STATE_NAME
    if state_path.exists():
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(state_path.read_text(encoding="utf-8"))
            if isinstance(state, dict):
                return state
    return {}


def _write_state(path: Path, epoch: int, checkpoint: Path, *, final_epoch: int | None = None):
    old = _read_state(path)
    state = {"epoch": int(epoch), "checkpoint": checkpoint.name,
             "final_epoch": final_epoch if final_epoch is not None else old.get("final_epoch")}
    if old.get("best"):
        state["best"] = old["best"]
    _atomic_write_text(path / CHECKPOINT_DIR / STATE_NAME, _json_text(state))


def _read_best(path: Path) -> dict | None:
    """The run's best checkpoint record, if its file is there.

    After an interruption the best may come from an epoch that is trained again; it stays
    (its dev loss was measured), and a later epoch replaces it only with a lower dev loss.
    """
    best = _read_state(path).get("best")
    if (isinstance(best, dict) and (path / CHECKPOINT_DIR / BEST_NAME).exists()
            and isinstance(best.get("dev_loss"), (int, float))):
        return best
    return None


def _write_best(path: Path, best: dict) -> None:
    state = _read_state(path)
    state["best"] = best
    _atomic_write_text(path / CHECKPOINT_DIR / STATE_NAME, _json_text(state))


def resume(run_dir, *, epochs: int | None = None, backend: str | None = None,
           progress: bool = True, feed: str = "auto", steps_per_call: int | None = None) -> Run:
    """Continue training a run folder with its own configuration (and corpus).

    Parameters
    ----------
    run_dir : str or os.PathLike
        A run folder written by :func:`train`.
    epochs : int, optional
        Train up to this many epochs in total (default: the run's own ``epochs``).
    backend : {"tensorflow", "jax", "torch"}, optional
        Continue on this backend.  Default: ``KERAS_BACKEND`` if set, else the run's own.
    progress : bool
        Show progress bars and a summary.
    feed, steps_per_call
        As :func:`train`.

    Returns
    -------
    Run

    Raises
    ------
    RunError
        The run's cell is ``"module:Class"`` and that module is not imported: import it first
        (see :func:`require_imported_cell`).
    """
    run = open_run(run_dir)
    require_imported_cell(run.config.get("cell"), where=run.path)
    cfg = TrainConfig.from_dict(run.config)
    backend = backend or os.environ.get("KERAS_BACKEND") or run.config.get("backend")
    cfg = cfg.replace(backend=backend)
    return train(run.config["corpus"], run.path, config=cfg, progress=progress, epochs=epochs,
                 feed=feed, steps_per_call=steps_per_call)


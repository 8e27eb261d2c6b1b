"""The run-folder format: what :func:`gruvsynth.train.loop.train` writes, and how it is read.

A run folder holds:

``config.json``
    The resolved :class:`~gruvsynth.train.config.TrainConfig`, plus the corpus (absolute path,
    manifest hash, feature width ``features``, ``representation``, ``block``,
    ``clip_blocks``, clip counts).
``versions.json``
    gruvsynth, Keras, backend (name and version), Python, NumPy, h5py, platform, devices, for
    the session that started the run; ``sessions`` lists every session (start, resume).
``history.csv``, ``history.json``
    One row per completed epoch: ``epoch``, ``loss`` (mean train MSE over the epoch's batches,
    weighted by batch size), ``dev_loss`` (MSE over every dev clip, every ``eval_every``
    epochs; empty/``null`` otherwise) and ``seconds`` (wall time of the epoch).
``checkpoints/epoch-NNNNNN.keras`` and ``checkpoints/state.json``
    Model and optimizer state every ``checkpoint_every`` epochs and at the last epoch (the
    newest ``keep_checkpoints`` are kept); ``state.json`` names the last one, the final
    model's epoch and the best checkpoint.
``checkpoints/best.keras``
    The model (and optimizer) of the epoch with the lowest dev loss so far.
``model.keras``
    The final model (model + optimizer state), written when training reaches ``epochs``.
``.lock``
    Held (``flock``) by the process training the folder.

:data:`RUN_FILES` lists these names; :func:`resume_files` lists what a process needs to resume
the run (what a data-parallel worker copies).  Every file is written atomically through
:mod:`gruvsynth.fileio` (a temporary file named ``.tmp-...`` beside it, then ``os.replace``),
and :func:`clean_temporaries` removes what a killed process left.

:func:`open_run` and :class:`Run` read a folder (generation and evaluation import this module
for that alone: it imports neither the training loop nor the steps, and Keras only to load a
model).  Models load in Keras's safe mode with gruvsynth's cells registered
(:func:`load_model_file`); no module named in a run's files is imported because of them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import logging
import math
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from gruvsynth.errors import CheckpointError, RunError
from gruvsynth.fileio import (
    TMP_PREFIX,
    atomic_path,
    read_json,
    write_csv_atomic,
    write_json_atomic,
)
from gruvsynth.train.config import cell_label, config_differences, config_hash
from gruvsynth.train.modelfiles import STAMP_NAME, check_model_file, load_model_file, read_stamp

__all__ = [
    "CONFIG_NAME",
    "VERSIONS_NAME",
    "HISTORY_JSON",
    "HISTORY_CSV",
    "CHECKPOINT_DIR",
    "STATE_NAME",
    "FINAL_NAME",
    "LOCK_NAME",
    "BEST_NAME",
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
    "HISTORY_FIELDS",
    "RUN_FILES",
    "RESUME_FILES",
    "Run",
    "open_run",
    "as_run",
    "format_summary",
    "corpus_differences",
    "resolve_run_dir",
    "check_foreign",
    "prepare_folder",
    "run_lock",
    "clean_temporaries",
    "resume_files",
    "versions_record",
    "read_history",
    "write_history",
    "checkpoint_name",
    "checkpoint_epoch",
    "list_checkpoints",
    "latest_state",
    "read_state",
    "write_state",
    "read_best",
    "write_best",
    "save_checkpoint",
    "install_final",
    "prune_checkpoints",
    "load_checkpoint",
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
RUN_FORMAT = "gruvsynth-run"
RUN_FORMAT_VERSION = 1

HISTORY_FIELDS = ("epoch", "loss", "dev_loss", "seconds")
#: The names at the top of a run folder (anything else makes a folder "not a run folder").
RUN_FILES = (CONFIG_NAME, VERSIONS_NAME, HISTORY_JSON, HISTORY_CSV, CHECKPOINT_DIR, FINAL_NAME,
             LOCK_NAME)
#: The top-level files a process needs to resume a run (with ``checkpoints/state.json`` and the
#: checkpoint it names: :func:`resume_files`).
RESUME_FILES = (CONFIG_NAME, VERSIONS_NAME, HISTORY_JSON, HISTORY_CSV)
_CHECKPOINT_RE = re.compile(r"^epoch-(\d{6,})\.keras$")


# ---------------------------------------------------------------------------------------------
# history


def _clean_float(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def write_history(run_dir: Path, rows: list[dict]) -> None:
    """Write ``history.json`` and ``history.csv`` (fsynced); non-finite or missing losses and
    times become ``null`` / empty cells.

    Parameters
    ----------
    run_dir : pathlib.Path
    rows : list of dict
        ``epoch``, ``loss``, ``dev_loss`` and ``seconds`` of each completed epoch.
    """
    clean = [{"epoch": int(r["epoch"]), "loss": _clean_float(r["loss"]),
              "dev_loss": _clean_float(r.get("dev_loss")),
              "seconds": _clean_float(r.get("seconds"))} for r in rows]
    write_json_atomic(run_dir / HISTORY_JSON, clean, fsync=True)
    write_csv_atomic(run_dir / HISTORY_CSV, clean, HISTORY_FIELDS, fsync=True)


def read_history(run_dir: Path) -> list[dict]:
    """The completed epochs of ``history.json`` (``[]`` before the first), with ``NaN`` where a
    value is ``null``.

    Raises
    ------
    RunError
        The file is unreadable or not a list of epochs.
    """
    path = run_dir / HISTORY_JSON
    if not path.exists():
        return []
    rows = read_json(path, "training history", error=RunError)
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


def checkpoint_name(epoch: int) -> str:
    """The file name of epoch ``epoch``'s checkpoint: ``epoch-NNNNNN.keras``."""
    return f"epoch-{int(epoch):06d}.keras"


def checkpoint_epoch(path: Path) -> int | None:
    """The epoch of a checkpoint file's name, or None if it is not one."""
    m = _CHECKPOINT_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoint files, oldest epoch first."""
    folder = run_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(e, p) for p in folder.iterdir() if (e := checkpoint_epoch(p)) is not None]
    return [p for _, p in sorted(found)]


def clean_temporaries(run_dir: Path) -> None:
    """Remove temporary files a crashed session left (the caller holds the run's lock)."""
    for folder in (run_dir, run_dir / CHECKPOINT_DIR):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(TMP_PREFIX) and p.is_file():
                    with contextlib.suppress(OSError):
                        p.unlink()


@contextlib.contextmanager
def run_lock(run_dir: Path):
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
        self.config = config if config is not None else read_json(
            self.path / CONFIG_NAME, "run configuration", error=RunError)
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
        return read_history(self.path)

    @property
    def state(self) -> dict:
        """``checkpoints/state.json``: ``epoch`` and ``checkpoint`` of the last checkpoint,
        ``final_epoch`` of ``model.keras`` (``{}`` before the first checkpoint)."""
        path = self.path / CHECKPOINT_DIR / STATE_NAME
        return read_json(path, "checkpoint state", error=RunError) if path.exists() else {}

    @property
    def versions(self) -> dict:
        """The parsed ``versions.json``."""
        return read_json(self.path / VERSIONS_NAME, "versions record", error=RunError)

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
            diffs = corpus_differences(self.config, corpus)
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
        return list_checkpoints(self.path)

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
            best = read_best(self.path)
            if best is None:
                raise CheckpointError(
                    f"{self.path}: no best checkpoint (no dev loss was measured, or the run "
                    "was trained with keep_best off)")
            return self.path / CHECKPOINT_DIR / BEST_NAME
        if isinstance(which, str) and which == "latest":
            final = self.path / FINAL_NAME
            final_epoch = self.state.get("final_epoch") if final.exists() else None
            ckpts = self.checkpoints()
            if ckpts and (final_epoch is None or checkpoint_epoch(ckpts[-1]) > final_epoch):
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
        return read_best(self.path)

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


def corpus_differences(config: dict, corpus) -> str:
    """What differs between the corpus a run was trained on (its ``config``) and ``corpus``,
    in words."""
    now = {"features": int(corpus.features), "representation": corpus.representation,
           "block": int(corpus.block), "clip_blocks": int(corpus.clip_blocks),
           "train_clips": len(corpus.clips("train")[0]), "dev_clips": len(corpus.clips("dev")[0])}
    diffs = [f"{key} {config[key]!r} in the run, {value!r} now" for key, value in now.items()
             if key in config and config[key] != value]
    return "; ".join(diffs) or "the same sizes, but other songs, another split or other statistics"


def as_run(run) -> Run:
    """``run`` itself, or the run folder it names opened (:func:`open_run`).

    Parameters
    ----------
    run : Run or str or os.PathLike

    Returns
    -------
    Run
    """
    if isinstance(run, (str, os.PathLike)):
        return open_run(run)
    return run


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
# starting and resuming a run folder


def resolve_run_dir(run_dir, spec, hidden: int) -> Path:
    """The absolute run folder: ``run_dir``, or ``runs/<YYYYmmdd-HHMMSS>-<cell>-h<hidden>`` in
    the current directory when it is None."""
    if run_dir is not None:
        return Path(run_dir).expanduser().absolute()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs").absolute() / f"{stamp}-{cell_label(spec)}-h{hidden}"


def prepare_folder(run_dir: Path, resolved: dict) -> dict:
    """Check an existing run folder against ``resolved`` (or start a new one); return the
    config to record.

    Raises
    ------
    RunError
        The folder's ``config.json`` is not a run's, or records a different configuration.
    """
    config_path = run_dir / CONFIG_NAME
    if config_path.exists():
        old = read_json(config_path, "run configuration", error=RunError)
        if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
            raise RunError(f"{config_path}: not a gruvsynth run configuration")
        diffs = config_differences(old, resolved)
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


def check_foreign(run_dir: Path) -> None:
    """Refuse an existing folder that is neither empty nor a run folder (before writing to it)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: exists and is not a folder")
    if (run_dir / CONFIG_NAME).exists():
        return
    others = sorted(p.name for p in run_dir.iterdir()
                    if p.name not in RUN_FILES and not p.name.startswith(TMP_PREFIX))
    if others:
        raise RunError(
            f"{run_dir}: the folder exists and is not a gruvsynth run folder "
            f"(it holds {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}); "
            "choose a new or empty folder")


def latest_state(run_dir: Path) -> tuple[int, Path | None]:
    """(epoch, checkpoint path) to resume from; (0, None) for a fresh start.

    Raises
    ------
    CheckpointError
        ``state.json`` is unreadable, or the checkpoint it names is missing.
    """
    state_path = run_dir / CHECKPOINT_DIR / STATE_NAME
    if state_path.exists():
        state = read_json(state_path, "checkpoint state", error=CheckpointError)
        try:
            epoch, name = int(state["epoch"]), state["checkpoint"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{state_path}: unreadable checkpoint state ({exc})") from None
        path = run_dir / CHECKPOINT_DIR / name
        if not path.exists():
            raise CheckpointError(f"{path}: the last checkpoint named by {state_path} is missing")
        return epoch, path
    ckpts = list_checkpoints(run_dir)  # a crash between a checkpoint and its state.json
    if ckpts:
        return checkpoint_epoch(ckpts[-1]), ckpts[-1]
    return 0, None


def resume_files(run_dir) -> list[str]:
    """The files a process needs to resume a run folder, as paths relative to it.

    :data:`RESUME_FILES` that exist, ``checkpoints/state.json`` and the checkpoint it names
    (what a data-parallel worker copies into its private folder); ``[]`` when the folder has no
    ``config.json`` yet.

    Parameters
    ----------
    run_dir : str or os.PathLike

    Returns
    -------
    list of str
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).exists():
        return []
    names = [name for name in RESUME_FILES if (run_dir / name).exists()]
    state = run_dir / CHECKPOINT_DIR / STATE_NAME
    if state.exists():
        names.append(f"{CHECKPOINT_DIR}/{STATE_NAME}")
        last = read_json(state, "checkpoint state", error=CheckpointError).get("checkpoint")
        if last and (run_dir / CHECKPOINT_DIR / last).exists():
            names.append(f"{CHECKPOINT_DIR}/{last}")
    return names


def versions_record(run_dir: Path, start_epoch: int) -> dict:
    """``versions.json`` as it is (or as it starts), with a new session starting at
    ``start_epoch`` appended to its ``sessions`` (not written)."""
    from gruvsynth.backends import versions

    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    current = versions()
    path = run_dir / VERSIONS_NAME
    record = None
    if path.exists():
        with contextlib.suppress(RunError):
            record = read_json(path, "versions record", error=RunError)
    if not isinstance(record, dict):
        record = dict(current)
        record["sessions"] = []
    session = {"started": now, "start_epoch": start_epoch,
               **{k: current[k] for k in ("gruvsynth", "keras", "backend", "backend_version")}}
    record.setdefault("sessions", []).append(session)
    return record


# ---------------------------------------------------------------------------------------------
# checkpoints and state


def save_checkpoint(model, run_dir: Path, epoch: int, stamp: dict, *,
                    name: str | None = None) -> Path:
    """Write ``checkpoints/epoch-NNNNNN.keras`` (or ``name``) atomically and fsynced, with a
    stamp (:data:`STAMP_NAME`) naming run and epoch.

    The temporary file is :func:`gruvsynth.fileio.atomic_path`'s (``.tmp-<name>-<random>.keras``:
    Keras insists on the ``.keras`` extension), removed on failure and by
    :func:`clean_temporaries` after a kill.

    Returns
    -------
    pathlib.Path
        The checkpoint.
    """
    path = run_dir / CHECKPOINT_DIR / (name or checkpoint_name(epoch))
    with atomic_path(path, fsync=True) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(STAMP_NAME, json.dumps({**stamp, "epoch": int(epoch)}))
    return path


def install_final(checkpoint: Path, run_dir: Path) -> None:
    """Make ``model.keras`` the given checkpoint (a hard link where possible, else a copy),
    atomically."""
    with atomic_path(run_dir / FINAL_NAME, fsync=True) as tmp:
        try:
            os.link(checkpoint, tmp)
        except OSError:
            shutil.copyfile(checkpoint, tmp)


def prune_checkpoints(run_dir: Path, keep: int, current: Path) -> None:
    """Delete all but the newest ``keep`` checkpoints (never ``current``; 0 keeps all)."""
    if keep <= 0:
        return
    ckpts = list_checkpoints(run_dir)
    for p in ckpts[:-keep]:
        if p != current:
            with contextlib.suppress(OSError):
                p.unlink()


def load_checkpoint(path: Path, resolved: dict):
    """Load a checkpoint to resume from, checking it belongs to this run.

    Returns
    -------
    model : keras.Model
        With its optimizer state.
    epoch : int
        The checkpoint's epoch (from its stamp).

    Raises
    ------
    CheckpointError
        The file is damaged, has no stamp or optimizer state, or is another run's.
    """
    check_model_file(path)
    stamp = read_stamp(path)
    if stamp is None:
        raise CheckpointError(f"{path}: not a checkpoint of a gruvsynth run (no {STAMP_NAME})")
    expected = config_hash(resolved)
    if stamp.get("config_hash") != expected:
        raise CheckpointError(
            f"{path}: a checkpoint of another run or configuration (its config hash "
            f"{str(stamp.get('config_hash'))[:12]} is not this run's {expected[:12]})")
    model = load_model_file(path, cell=resolved.get("cell"))
    if getattr(model, "optimizer", None) is None:
        raise CheckpointError(f"{path}: the checkpoint has no optimizer state")
    return model, int(stamp["epoch"])


def read_state(path: Path) -> dict:
    """``checkpoints/state.json`` of run folder ``path``; ``{}`` if missing or unreadable."""
    with contextlib.suppress(RunError):
        state = read_json(path / CHECKPOINT_DIR / STATE_NAME, "checkpoint state",
                          missing_ok=True, error=RunError)
        if isinstance(state, dict):
            return state
    return {}


def _write_state_file(path: Path, state: dict) -> None:
    write_json_atomic(path / CHECKPOINT_DIR / STATE_NAME, state, fsync=True)


def write_state(path: Path, epoch: int, checkpoint: Path, *,
                final_epoch: int | None = None) -> None:
    """Record the last checkpoint (and the final model's epoch) in ``state.json``, keeping
    its ``best`` record."""
    old = read_state(path)
    state = {"epoch": int(epoch), "checkpoint": checkpoint.name,
             "final_epoch": final_epoch if final_epoch is not None else old.get("final_epoch")}
    if old.get("best"):
        state["best"] = old["best"]
    _write_state_file(path, state)


def read_best(path: Path) -> dict | None:
    """The run's best checkpoint record, if its file is there.

    After an interruption the best may come from an epoch that is trained again; it stays
    (its dev loss was measured), and a later epoch replaces it only with a lower dev loss.
    """
    best = read_state(path).get("best")
    if (isinstance(best, dict) and (path / CHECKPOINT_DIR / BEST_NAME).exists()
            and isinstance(best.get("dev_loss"), (int, float))):
        return best
    return None


def write_best(path: Path, best: dict) -> None:
    """Record the best checkpoint (``{"epoch", "dev_loss", "checkpoint"}``) in ``state.json``."""
    state = read_state(path)
    state["best"] = best
    _write_state_file(path, state)

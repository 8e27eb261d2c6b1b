"""The training loop: :func:`train`, :func:`resume` and :func:`time_steps`.

:func:`train` streams shuffled batches of clips from a corpus folder
(:func:`gruvsynth.corpus.open_corpus`) through a model from :func:`gruvsynth.models.build_model`
and writes everything about the run into one run folder (its format:
:mod:`gruvsynth.train.runs`).  Every file is written atomically, so a crash or a ``kill -9`` at
any moment leaves the last good checkpoint and history intact.  Running :func:`train` again on
the same run folder resumes from the last checkpoint: same epoch count, optimizer state and
shuffling (the order of epoch ``e`` depends only on ``(seed, e)``), so on a CPU the resumed
history equals an uninterrupted run's.

The loop talks to the model only through a :class:`gruvsynth.train.steps.Steps` object: the
streamed :class:`~gruvsynth.train.steps.KerasSteps`, the data-parallel
:class:`~gruvsynth.train.distribute.DataParallelSteps` or the resident
:class:`~gruvsynth.train.resident.ResidentSteps`, all handed the same batches of clip indices.
Keras itself is imported only once :func:`gruvsynth.backends.select_backend` has fixed the
backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from gruvsynth.backends import enable_determinism, precision_scope, seed_everything, select_backend
from gruvsynth.checks import check_int
from gruvsynth.defaults import CLIP_BLOCKS, DEFAULT_RECIPE
from gruvsynth.errors import CorpusError, RunError, TrainingDivergedError
from gruvsynth.fileio import write_json_atomic, writing
from gruvsynth.train.config import (
    TrainConfig,
    cell_from_spec,
    config_hash,
    epoch_order,
    require_imported_cell,
)
from gruvsynth.train.distribute import Distributor, worker_folder
from gruvsynth.train.distribute import start as start_distribution
from gruvsynth.train.resident import (
    DEFAULT_STEPS_PER_CALL,
    ResidentSteps,
    check_steps_per_call,
    choose_feed,
)
from gruvsynth.train.runs import (
    BEST_NAME,
    CHECKPOINT_DIR,
    CONFIG_NAME,
    FINAL_NAME,
    HISTORY_JSON,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    VERSIONS_NAME,
    Run,
    check_foreign,
    clean_temporaries,
    format_summary,
    install_final,
    latest_state,
    load_checkpoint,
    open_run,
    prepare_folder,
    prune_checkpoints,
    read_best,
    read_history,
    resolve_run_dir,
    run_lock,
    save_checkpoint,
    versions_record,
    write_best,
    write_history,
    write_state,
)
from gruvsynth.train.steps import KerasSteps, chunks, read_batch

__all__ = ["train", "resume", "time_steps"]

log = logging.getLogger("gruvsynth.training")


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
        :class:`~gruvsynth.train.distribute.DistributeConfig`); ``None`` trains on one device.  Not
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
        :data:`gruvsynth.train.resident.DEFAULT_STEPS_PER_CALL`).
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
    cfg = (config if config is not None else TrainConfig()).replace(**overrides)
    backend = select_backend(cfg.backend)
    dist = start_distribution(distribute, backend)  # before Keras starts the backend's devices
    import keras  # noqa: F401  (the backend is fixed from here on)

    if feed != "auto":  # refuse a feed that cannot run before anything is written
        choose_feed(feed, backend=backend, distributed=dist.enabled, nbytes=0)
    options = _Options(dist=dist, progress=progress and dist.is_chief, feed=feed,
                       steps_per_call=check_steps_per_call(steps_per_call))
    from gruvsynth.corpus import open_corpus

    corpus = open_corpus(corpus_dir)
    try:
        resolved = _resolved_config(cfg, backend, corpus)
        path = resolve_run_dir(run_dir, resolved["cell"], cfg.hidden)
        with worker_folder(dist, path) as path:  # non-chief: a private copy
            return _train_folder(path, resolved, cfg, corpus, options)
    finally:
        corpus.close()


@dataclasses.dataclass(frozen=True)
class _Options:
    """How a session runs (not part of the run's configuration)."""

    dist: Distributor
    progress: bool
    feed: str
    steps_per_call: int | None


def _resolved_config(cfg: TrainConfig, backend: str, corpus) -> dict:
    """The run's ``config.json``: the configuration, the backend and the corpus."""
    n_train = len(corpus.clips("train")[0])
    n_dev = len(corpus.clips("dev")[0])
    if n_train == 0:
        raise CorpusError(f"{corpus.path}: the corpus has no training clips")
    return {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION,
            **cfg.to_dict(), "backend": backend,
            "corpus": str(Path(corpus.path).resolve()),
            "corpus_hash": corpus.manifest_hash, "features": int(corpus.features),
            "representation": corpus.representation, "block": int(corpus.block),
            "clip_blocks": int(corpus.clip_blocks), "train_clips": n_train,
            "dev_clips": n_dev}


def _train_folder(path: Path, resolved: dict, cfg: TrainConfig, corpus,
                  options: _Options) -> Run:
    """Check, create and lock the run folder, then train in it."""
    check_foreign(path)
    if (path / CONFIG_NAME).exists():
        prepare_folder(path, resolved)  # refuse a different configuration first
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    with run_lock(path):
        record = prepare_folder(path, resolved)
        with precision_scope(record.get("precision", "auto")) as precision:
            return _Session(path, record, cfg, corpus, options, precision).run()


class _Session:
    """One training session of a locked run folder: start or resume, the epochs, the end."""

    def __init__(self, path: Path, record: dict, cfg: TrainConfig, corpus, options: _Options,
                 precision: str):
        self.path, self.record, self.cfg, self.corpus = path, record, cfg, corpus
        self.options, self.precision = options, precision
        self.n_train, self.n_dev = record["train_clips"], record["dev_clips"]
        self.n_batches = math.ceil(self.n_train / cfg.batch_size)
        self.stamp = {"run": RUN_FORMAT, "config_hash": config_hash(record)}
        self.history: list[dict] = []
        self.versions: dict = {}
        self.best = None
        self.last_ckpt: Path | None = None
        self.last_ckpt_epoch: int | None = None

    def run(self) -> Run:
        """Train up to ``cfg.epochs``; the run, opened."""
        path, epochs, progress = self.path, int(self.cfg.epochs), self.options.progress
        start, ckpt, model = self._start()
        run = Run(path, self.record)
        if start >= epochs:
            if not (path / FINAL_NAME).exists() and ckpt is not None:
                install_final(ckpt, path)
                write_state(path, start, ckpt, final_epoch=start)
            log.info("%s: already trained for %d epochs; nothing to do", path, start)
            return run
        self._warn_about_corpus()
        steps = self._steps(model)
        self.last_ckpt, self.last_ckpt_epoch = ckpt, (start if ckpt is not None else None)
        self.best = read_best(path)
        t_start = time.perf_counter()
        bar = _progress(epochs, start, path.name, progress)
        try:
            for epoch in range(start + 1, epochs + 1):
                loss, dev = self._epoch(epoch, steps, model)
                bar.update(1)
                post = {"loss": f"{loss:.4g}"}
                if math.isfinite(dev):
                    post["dev"] = f"{dev:.4g}"
                bar.set_postfix(post)
        finally:
            bar.close()
        install_final(self.last_ckpt, path)
        write_state(path, epochs, self.last_ckpt, final_epoch=epochs)
        log.debug("%s: %d epochs in %.1f s", path, epochs - start, time.perf_counter() - t_start)
        if progress:
            print(format_summary(run), file=sys.stderr)
        return run

    def _start(self):
        """Record the config, load the last checkpoint (or build the model), trim the history
        to it and record the session; (start epoch, checkpoint or None, model)."""
        path, record = self.path, self.record
        clean_temporaries(path)
        record.setdefault("created", _dt.datetime.now().astimezone().isoformat(timespec="seconds"))
        write_json_atomic(path / CONFIG_NAME, record, fsync=True)
        (path / CHECKPOINT_DIR).mkdir(exist_ok=True)
        enable_determinism()
        seed_everything(self.cfg.seed)
        start, ckpt = latest_state(path)
        with self.options.dist.scope():  # a distribution strategy's variables are made inside
            if ckpt is not None:
                model, start = load_checkpoint(ckpt, record)
                log.info("%s: resuming after epoch %d from %s", path, start, ckpt.name)
            else:
                model = self._build_model()
        self.history = [r for r in read_history(path) if r["epoch"] <= start]
        if [r["epoch"] for r in self.history] != list(range(1, start + 1)):
            raise RunError(f"{path / HISTORY_JSON}: the history does not cover epochs 1-{start} "
                           f"of the checkpoint {ckpt.name if ckpt else ''}; the run folder is "
                           "damaged")
        write_history(path, self.history)
        self.versions = versions_record(path, start)
        # the session's distribution mode (not part of the configuration)
        self.versions["sessions"][-1]["distribute"] = self.options.dist.describe()
        write_json_atomic(path / VERSIONS_NAME, self.versions, fsync=True)
        return start, ckpt, model

    def _build_model(self):
        from gruvsynth.models import build_model

        cfg = self.cfg
        return build_model(cell=cell_from_spec(cfg.cell), hidden=cfg.hidden,
                           features=self.record["features"], layers=cfg.layers,
                           input_projection=cfg.input_projection,
                           learning_rate=float(cfg.learning_rate), seed=int(cfg.seed),
                           recipe=self.record.get("recipe", DEFAULT_RECIPE))

    def _warn_about_corpus(self) -> None:
        corpus = self.corpus
        if self.n_dev == 0:
            log.warning("%s: the corpus has no dev clips, so there is no dev loss", corpus.path)
        spread = getattr(corpus, "spread", None)
        if spread and spread.get("harmful"):
            from gruvsynth.corpus import describe_spread

            log.warning("%s: %s (prepare the corpus again with a larger std floor)", corpus.path,
                        describe_spread(spread, int(self.record["features"])))

    def _steps(self, model):
        """The session's steps (:class:`gruvsynth.train.steps.Steps`); records the feed."""
        record, options = self.record, self.options
        if options.dist.enabled:  # train() refused feed="resident" already
            steps, feed = options.dist.steps(model, self.corpus), "stream"
        else:
            nbytes = ResidentSteps.nbytes(self.n_train + self.n_dev, record["clip_blocks"],
                                          record["features"])
            feed = choose_feed(options.feed, backend=record["backend"], distributed=False,
                               nbytes=nbytes)
            if feed == "stream":
                steps = KerasSteps(model, self.corpus)
            else:
                rows = {"train": self.corpus.rows("train")}
                if self.n_dev:
                    rows["dev"] = self.corpus.rows("dev")
                steps = ResidentSteps(model, rows, steps_per_call=options.steps_per_call
                                      or DEFAULT_STEPS_PER_CALL)
        self.versions["sessions"][-1].update(precision=self.precision, feed=feed)
        write_json_atomic(self.path / VERSIONS_NAME, self.versions, fsync=True)
        log.info("%s: precision %s, %s feed", self.path, self.precision, feed)
        return steps

    def _epoch(self, epoch: int, steps, model) -> tuple[float, float]:
        """Train one epoch, measure the dev loss, write history and checkpoints."""
        cfg, path = self.cfg, self.path
        t0 = time.perf_counter()
        batches = chunks(epoch_order(self.n_train, seed=cfg.seed, epoch=epoch), cfg.batch_size)
        show = self.options.progress and self.n_batches > 1
        with _progress_batches(self.n_batches, epoch, show) as inner:
            loss, bad, bad_loss = steps.train_epoch(batches, bar=inner)
        if bad is not None:
            self._diverged(epoch, batches[bad], bad, bad_loss)
        dev = float("nan")
        if self.n_dev and epoch % cfg.eval_every == 0:
            dev = steps.evaluate(chunks(np.arange(self.n_dev), cfg.batch_size))
        self.history.append({"epoch": epoch, "loss": loss, "dev_loss": dev,
                             "seconds": time.perf_counter() - t0})
        write_history(path, self.history)
        if (self.record.get("keep_best", True) and math.isfinite(dev)
                and (self.best is None or dev < self.best["dev_loss"]) and steps.weights_finite()):
            save_checkpoint(model, path, epoch, self.stamp, name=BEST_NAME)
            self.best = {"epoch": int(epoch), "dev_loss": float(dev), "checkpoint": BEST_NAME}
            write_best(path, self.best)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
            self._checkpoint(epoch, steps, model)
        return loss, dev

    def _diverged(self, epoch: int, batch: np.ndarray, bad: int, bad_loss: float) -> None:
        """Raise the error of a non-finite batch loss: the data's fault, or divergence."""
        problem = _nonfinite_data(self.corpus, "train", batch)
        where = f"batch {bad + 1} of {self.n_batches}"
        if problem:
            raise CorpusError(
                f"{self.corpus.path}: {problem}, so the loss became {bad_loss} in epoch "
                f"{epoch} ({where}); the data is at fault, not the learning rate: prepare the "
                "corpus again")
        last = (f"{self.last_ckpt} (epoch {self.last_ckpt_epoch})" if self.last_ckpt is not None
                else "none (no checkpoint was written yet)")
        raise TrainingDivergedError(
            f"{self.path}: training diverged in epoch {epoch} ({where}): the loss is "
            f"{bad_loss}; last good checkpoint: {last}; try a lower learning rate (now "
            f"{self.cfg.learning_rate:g})")

    def _checkpoint(self, epoch: int, steps, model) -> None:
        if not steps.weights_finite():
            raise TrainingDivergedError(
                f"{self.path}: training diverged in epoch {epoch}: the weights are no longer "
                f"finite; last good checkpoint: "
                f"{self.last_ckpt if self.last_ckpt is not None else 'none'}")
        self.last_ckpt = save_checkpoint(model, self.path, epoch, self.stamp)
        self.last_ckpt_epoch = epoch
        write_state(self.path, epoch, self.last_ckpt)
        prune_checkpoints(self.path, self.cfg.keep_checkpoints, self.last_ckpt)


def _nonfinite_data(corpus, split: str, index: np.ndarray) -> str | None:
    """Which clips of a batch hold NaN or infinite values (inputs or targets), in words."""
    x, y = read_batch(corpus, split, np.asarray(index))
    bad = ~(np.isfinite(x).all(axis=(1, 2)) & np.isfinite(y).all(axis=(1, 2)))
    if not bad.any():
        return None
    clips = sorted({int(i) for i in np.asarray(index)[bad]})
    return (f"the {split} clip{'s' if len(clips) > 1 else ''} "
            f"{', '.join(map(str, clips[:10]))}{', ...' if len(clips) > 10 else ''} hold NaN or "
            "infinite features")


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="epoch", disable=not enabled,
                dynamic_ncols=True, leave=True)


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


def time_steps(config: TrainConfig | None = None, *, features: int,
               clip_blocks: int = CLIP_BLOCKS, steps: int = 2, warmup: int = 1) -> dict:
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
    from gruvsynth.models import build_model

    cfg = config if config is not None else TrainConfig()
    features = check_int("features", features)
    clip_blocks = check_int("clip_blocks", clip_blocks)
    steps = check_int("steps", steps)
    warmup = check_int("warmup", warmup)
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
        stepper = KerasSteps(model)
        out.update(params=int(model.count_params()), build_seconds=time.perf_counter() - t0,
                   precision=precision)
        for name, train_, n in (("first_step_seconds", True, 1), ("warm", True, warmup - 1),
                                ("step_seconds", True, steps), ("first_eval_seconds", False, 1),
                                ("warm", False, warmup - 1), ("eval_seconds", False, steps)):
            t0 = time.perf_counter()
            for _ in range(n):
                stepper.batch_loss(x, y, train=train_)
            if n:
                out[name] = (time.perf_counter() - t0) / n
    out.pop("warm", None)
    return out


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


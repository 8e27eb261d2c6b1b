"""Data-parallel training over several devices and machines, on Keras's own engines.

``gruvsynth train --distribute data-parallel`` (``train(..., distribute=...)``) replicates the
model on every device and splits each global batch between them; the gradients are averaged,
so one step is the same step as on one device with the same global batch:

JAX backend
    :class:`keras.distribution.DataParallel` over the visible devices (or the first
    ``devices`` of each process).  Several processes (machines) join through
    :func:`keras.distribution.initialize` (which calls ``jax.distributed.initialize``) with a
    coordinator address, a process count and this process's id, from options or from the
    environment variables ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` (or a cluster
    JAX detects itself, e.g. SLURM).
TensorFlow backend
    :class:`tf.distribute.MirroredStrategy` on one machine;
    :class:`tf.distribute.MultiWorkerMirroredStrategy` when ``TF_CONFIG`` names several
    workers.  The model is built (or loaded from a checkpoint) and compiled inside
    ``strategy.scope()``.

What keeps its meaning
    ``batch_size`` is the *global* batch (all devices, all processes); the learning rate is
    not rescaled; the loss of a batch is the mean over its clips.  A batch whose size is not a
    multiple of the number of replicas (the last batch of an epoch) is padded with copies of
    its first clip given sample weight 0, and the real clips weight ``padded / real``, so the
    weighted mean Keras computes is exactly the mean over the real clips.
Files
    Only process 0 (JAX) or the chief (TensorFlow) writes the run folder.  Every other process
    trains on a private copy of the run folder's last state (config, history, last
    checkpoint) in a temporary folder (``GRUVSYNTH_WORKER_DIR`` names one to keep), which is
    removed at the end.  For multi-machine runs the run folder must therefore be on a file
    system every machine sees, or a copy of it must be at the same path on each machine.
    The distribution mode is not part of a run's configuration: a run started on 2 devices
    resumes on 1 and vice versa; each session's mode is recorded in ``versions.json``.

Backend-specific code (JAX, TensorFlow) lives in :mod:`gruvsynth.backends.jax` and
:mod:`gruvsynth.backends.tensorflow` (``start_data_parallel`` and the engine it returns, with
``scope()`` and ``run_batch``); this module pads and weights the batches and decides which
process writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from gruvsynth.backends import jax as jax_backend
from gruvsynth.backends import tensorflow as tf_backend
from gruvsynth.checks import check_optional_int
from gruvsynth.errors import ParameterError
from gruvsynth.train.runs import resume_files
from gruvsynth.train.steps import KerasSteps

__all__ = ["MODES", "WORKER_DIR_ENV", "DistributeConfig", "Distributor", "DataParallelSteps",
           "pad_batch", "start", "local_steps", "worker_folder"]

#: Distribution modes: ``"none"`` (one device, Keras's default placement) and
#: ``"data-parallel"``.
MODES = ("none", "data-parallel")

#: Environment variable naming the folder where a non-chief process keeps its private copy
#: of the run (kept at the end when set; by default a temporary folder, removed).
WORKER_DIR_ENV = "GRUVSYNTH_WORKER_DIR"


@dataclasses.dataclass(frozen=True)
class DistributeConfig:
    """How to spread training over devices and processes.

    Parameters
    ----------
    mode : {"none", "data-parallel"}
        ``"none"``: one device.  ``"data-parallel"``: replicate the model on every device
        and split each global batch between them.
    devices : int or None
        Devices to use in each process (``None``: all visible accelerators, else all CPU
        devices).  On a CPU, asking for more devices than exist splits the CPU into that many
        logical devices (JAX: ``XLA_FLAGS=--xla_force_host_platform_device_count``, which
        must be set before JAX starts; TensorFlow: logical CPU devices).
    coordinator : str or None
        JAX, several processes: ``host:port`` of process 0 (or a comma-separated list of
        every process's address, the first being the coordinator).  Default:
        ``KERAS_DISTRIBUTION_JOB_ADDRESSES``.  TensorFlow reads ``TF_CONFIG`` instead.
    num_processes : int or None
        JAX: number of processes in the job.  Default: ``KERAS_DISTRIBUTION_NUM_PROCESSES``.
    process_id : int or None
        JAX: this process's index, 0 to ``num_processes - 1``; process 0 writes the run
        folder.  Default: ``KERAS_DISTRIBUTION_PROCESS_ID``.
    """

    mode: str = "none"
    devices: int | None = None
    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ParameterError(f"distribute must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name, low in (("devices", 1), ("num_processes", 1), ("process_id", 0)):
            check_optional_int(name, getattr(self, name), minimum=low)
        if self.mode == "none" and any(
                getattr(self, k) is not None
                for k in ("devices", "coordinator", "num_processes", "process_id")):
            raise ParameterError("devices/coordinator/num_processes/process_id need "
                                 "distribute='data-parallel'")
        if (self.process_id is not None and self.num_processes is not None
                and self.process_id >= self.num_processes):
            raise ParameterError(f"process_id {self.process_id} is not below num_processes "
                                 f"{self.num_processes}")

    @classmethod
    def coerce(cls, value) -> DistributeConfig:
        """A config from ``None`` (no distribution), a mode name, a dict or a config."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(mode=value)
        if isinstance(value, dict):
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
            if unknown:
                raise ParameterError(f"unknown distribute option(s) {', '.join(unknown)}")
            return cls(**value)
        raise ParameterError(f"invalid distribute setting {value!r}")


# ---------------------------------------------------------------------------------------------
# batches: pad to a multiple of the replica count, keep the mean over real clips


def pad_batch(x: np.ndarray, y: np.ndarray, replicas: int):
    """Pad a batch to a multiple of ``replicas`` with zero-weight copies of its first clip.

    Parameters
    ----------
    x, y : np.ndarray [shape=(n, T, D)]
        Inputs and targets of ``n >= 1`` clips.
    replicas : int
        Number of model replicas (devices in all processes).

    Returns
    -------
    x, y : np.ndarray [shape=(m, T, D)]
        ``m`` is ``n`` rounded up to a multiple of ``replicas``.
    weight : np.ndarray [shape=(m,), dtype=float32] or None
        ``m / n`` for the real clips and 0 for the padding (``None`` when ``m == n``), so
        that Keras's weighted mean over ``m`` clips equals the plain mean over the ``n``.
    """
    n = len(x)
    m = -(-n // replicas) * replicas
    if m == n:
        return x, y, None
    idx = np.concatenate([np.arange(n), np.zeros(m - n, dtype=np.int64)])
    w = np.zeros(m, dtype=np.float32)
    w[:n] = m / n
    return x[idx], y[idx], w


def local_steps(model, corpus=None) -> KerasSteps:
    """The single-device streamed steps (:class:`gruvsynth.train.steps.KerasSteps`) for
    ``model``, reading batches from ``corpus``."""
    return KerasSteps(model, corpus)


class DataParallelSteps(KerasSteps):
    """The streamed steps with each global batch split over replicas: :class:`KerasSteps`'s
    epoch and evaluation loops, with its hooks :meth:`scope` and :meth:`batch_loss` run on the
    model itself through the distributor."""

    def __init__(self, model, dist: Distributor, corpus=None):
        self.model = self.trainer = model
        self.corpus = corpus
        self.dist = dist

    def scope(self):
        """The distribution's scope."""
        return self.dist.scope()

    def batch_loss(self, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        """One global batch through the distributor (:meth:`Distributor.run_batch`)."""
        return self.dist.run_batch(self.model, x, y, train=train)


class Distributor:
    """One process's view of a distributed run: replicas, process index, scope, steps.

    Made by :func:`start`.  ``engine`` names the backend's engine; the engine itself
    (:mod:`gruvsynth.backends.jax` or :mod:`gruvsynth.backends.tensorflow`) makes the scope and
    runs the batches.
    """

    def __init__(self, config: DistributeConfig, backend: str, parallel=None):
        self.config = config
        self.backend = backend
        self.parallel = parallel
        self.replicas = parallel.replicas if parallel else 1
        self.process_index = parallel.process_index if parallel else 0
        self.process_count = parallel.process_count if parallel else 1
        self.engine = parallel.name if parallel else "none"
        self.device_names: list[str] = list(parallel.device_names) if parallel else []

    @property
    def enabled(self) -> bool:
        """Whether training is distributed (data-parallel)."""
        return self.config.mode != "none"

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder (process 0 / the chief)."""
        return self.process_index == 0

    def describe(self) -> dict:
        """What this session ran on, for ``versions.json``."""
        return {"mode": self.config.mode, "engine": self.engine, "replicas": self.replicas,
                "processes": self.process_count, "process_index": self.process_index,
                "devices": list(self.device_names)}

    def scope(self):
        """Context in which to build, load and train the model."""
        return self.parallel.scope() if self.parallel else contextlib.nullcontext()

    def steps(self, model, corpus=None) -> KerasSteps:
        """The steps object for the training loop (:class:`DataParallelSteps` when enabled)."""
        return DataParallelSteps(model, self, corpus) if self.enabled else \
            local_steps(model, corpus)

    def run_batch(self, model, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        """One global batch through ``model`` (train or eval step); its mean loss."""
        x, y, w = pad_batch(x, y, self.replicas)
        if w is None:
            w = np.ones(len(x), dtype=np.float32)  # same signature on every step: one trace
        # Keras weighs the per-time-step losses, shape (clips, steps): one weight per step.
        w = np.ascontiguousarray(np.broadcast_to(w[:, None], y.shape[:2]))
        return self.parallel.run_batch(model, x, y, w, train=train)


@contextlib.contextmanager
def worker_folder(dist: Distributor, run_dir):
    """The folder this process trains in: ``run_dir`` for the chief; for any other process a
    private copy of what it needs to resume the run (:func:`gruvsynth.train.runs.resume_files`:
    config, history, state and last checkpoint), so that it resumes exactly where the chief
    does without writing the real run folder.

    Parameters
    ----------
    dist : Distributor
    run_dir : pathlib.Path
        The real run folder.

    Yields
    ------
    path : pathlib.Path
    """
    run_dir = Path(run_dir)
    if dist.is_chief:
        yield run_dir
        return
    keep = os.environ.get(WORKER_DIR_ENV)
    if keep:
        scratch = Path(keep).expanduser().absolute() / f"process-{dist.process_index}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f"gruvsynth-process-{dist.process_index}-"))
    try:
        for name in resume_files(run_dir):
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / name, scratch / name)
        yield scratch
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def start(config, backend: str) -> Distributor:
    """Set up distribution for this process; call before Keras is imported.

    Parameters
    ----------
    config : DistributeConfig, str, dict or None
        See :class:`DistributeConfig`.
    backend : str
        The backend chosen by :func:`gruvsynth.backends.select_backend`.

    Returns
    -------
    Distributor
        Replica count, process index, ``scope()``, ``steps(model)``, ``is_chief``.

    Raises
    ------
    ParameterError
        Data-parallel training on the torch backend, or more devices than are visible.
    """
    config = DistributeConfig.coerce(config)
    if config.mode == "none":
        return Distributor(config, backend)
    if backend == "jax":
        parallel = jax_backend.start_data_parallel(
            devices=config.devices, coordinator=config.coordinator,
            num_processes=config.num_processes, process_id=config.process_id)
    elif backend == "tensorflow":
        parallel = tf_backend.start_data_parallel(devices=config.devices)
    else:
        raise ParameterError(
            f"--distribute data-parallel is supported on the jax and tensorflow backends, "
            f"not {backend}")
    return Distributor(config, backend, parallel)

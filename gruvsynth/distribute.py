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

Backend-specific code (JAX, TensorFlow) lives in this module's ``_jax_*`` and ``_tf_*``
functions and in :class:`_Distributor`, clearly marked, and nowhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import numbers
import os
import sys

import numpy as np

from gruvsynth.errors import ParameterError
from gruvsynth.training import _KerasSteps

__all__ = ["MODES", "DistributeConfig", "start", "local_steps"]

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
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)
                                  or v < low):
                raise ParameterError(f"{name} must be an integer >= {low}, got {v!r}")
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


def local_steps(model):
    """The single-device steps of :mod:`gruvsynth.training` (``_KerasSteps``) for ``model``."""
    return _KerasSteps(model)


class _Steps(_KerasSteps):
    """Train/eval steps with the global batch split over replicas: ``_KerasSteps``'s loop
    (:meth:`train_epoch`, :meth:`evaluate`, :meth:`weights_finite`) with each batch run on the
    model itself through the distributor, inside its scope."""

    def __init__(self, model, dist: _Distributor):
        self.model = self.trainer = model
        self.dist = dist

    def _scope(self):
        return self.dist.scope()

    def _batch_loss(self, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        return self.dist.run_batch(self.model, x, y, train=train)


# ---------------------------------------------------------------------------------------------
# the distributor (backend-specific code below, marked)


class _Distributor:
    """One process's view of a distributed run: replicas, process index, scope, steps."""

    def __init__(self, config: DistributeConfig, backend: str):
        self.config = config
        self.backend = backend
        self.replicas = 1
        self.process_index = 0
        self.process_count = 1
        self.engine = "none"
        self.device_names: list[str] = []
        self._distribution = None  # JAX: keras.distribution.DataParallel
        self._strategy = None  # TensorFlow: tf.distribute strategy

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
        if self._distribution is not None:
            return self._distribution.scope()
        if self._strategy is not None:
            return self._strategy.scope()
        return contextlib.nullcontext()

    def steps(self, model):
        """The train/eval steps object for the training loop."""
        return _Steps(model, self) if self.enabled else local_steps(model)

    # --- backend-specific: one batch -------------------------------------------------------
    def run_batch(self, model, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        """One global batch through ``model`` (train or eval step); its mean loss."""
        x, y, w = pad_batch(x, y, self.replicas)
        if w is None:
            w = np.ones(len(x), dtype=np.float32)  # same signature on every step: one trace
        # Keras weighs the per-time-step losses, shape (clips, steps): one weight per step.
        w = np.ascontiguousarray(np.broadcast_to(w[:, None], y.shape[:2]))
        if self.backend == "jax":
            # Every process feeds its own contiguous share of the global batch (JAX/Keras
            # assemble the global array with jax.make_array_from_process_local_data).
            share = len(x) // self.process_count
            sl = slice(self.process_index * share, (self.process_index + 1) * share)
            x, y, w = x[sl], y[sl], w[sl]
            fn = model.train_on_batch if train else model.test_on_batch
            return float(np.asarray(fn(x, y, sample_weight=w)))
        return _tf_run_batch(self._strategy, model, x, y, w, train=train)


@contextlib.contextmanager
def worker_folder(dist: _Distributor, run_dir):
    """The folder this process trains in: ``run_dir`` for the chief; for any other process a
    private copy of the run's last state (config, history, state and last checkpoint), so
    that it resumes exactly where the chief does without writing the real run folder.

    Parameters
    ----------
    dist : _Distributor
    run_dir : pathlib.Path
        The real run folder.

    Yields
    ------
    path : pathlib.Path
    """
    import json
    import shutil
    import tempfile
    from pathlib import Path

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
        if (run_dir / "config.json").exists():
            for name in ("config.json", "versions.json", "history.json", "history.csv"):
                if (run_dir / name).exists():
                    shutil.copyfile(run_dir / name, scratch / name)
            state = run_dir / "checkpoints" / "state.json"
            if state.exists():
                (scratch / "checkpoints").mkdir()
                shutil.copyfile(state, scratch / "checkpoints" / "state.json")
                name = json.loads(state.read_text(encoding="utf-8")).get("checkpoint")
                if name and (run_dir / "checkpoints" / name).exists():
                    shutil.copyfile(run_dir / "checkpoints" / name,
                                    scratch / "checkpoints" / name)
        yield scratch
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def start(config, backend: str) -> _Distributor:
    """Set up distribution for this process; call before Keras is imported.

    Parameters
    ----------
    config : DistributeConfig, str, dict or None
        See :class:`DistributeConfig`.
    backend : str
        The backend chosen by :func:`gruvsynth.backends.select_backend`.

    Returns
    -------
    _Distributor
        Replica count, process index, ``scope()``, ``steps(model)``, ``is_chief``.

    Raises
    ------
    ParameterError
        Data-parallel training on the torch backend, or more devices than are visible.
    """
    config = DistributeConfig.coerce(config)
    dist = _Distributor(config, backend)
    if not dist.enabled:
        return dist
    if backend == "jax":
        _jax_start(dist)
    elif backend == "tensorflow":
        _tf_start(dist)
    else:
        raise ParameterError(
            f"--distribute data-parallel is supported on the jax and tensorflow backends, "
            f"not {backend}")
    return dist


# --- JAX (keras.distribution) ----------------------------------------------------------------


def _jax_start(dist: _Distributor) -> None:
    cfg = dist.config
    if cfg.devices is not None and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            # Only the CPU platform is split; a GPU/TPU machine's accelerators are unaffected.
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_force_host_platform_device_count={cfg.devices}".strip())
    import keras

    env = os.environ
    addresses = cfg.coordinator or env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    nproc = cfg.num_processes or _env_int("KERAS_DISTRIBUTION_NUM_PROCESSES")
    pid = cfg.process_id if cfg.process_id is not None else _env_int(
        "KERAS_DISTRIBUTION_PROCESS_ID")
    if (nproc or 1) > 1:
        import jax

        if not jax.distributed.is_initialized():
            keras.distribution.initialize(addresses, nproc, pid)
    import jax

    dist.process_index, dist.process_count = jax.process_index(), jax.process_count()
    local = jax.local_devices()
    want = cfg.devices or len(local)
    if want > len(local):
        raise ParameterError(
            f"--devices {want} asked for, but this process sees only {len(local)} "
            f"{local[0].platform} device(s); on a CPU set XLA_FLAGS="
            f"--xla_force_host_platform_device_count={want} before JAX starts")
    by_process: dict[int, list] = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    chosen = [d for p in sorted(by_process) for d in by_process[p][:want]]
    dist.device_names = [f"{d.platform}:{d.id}" for d in chosen]
    dist.replicas = len(chosen)
    dist._distribution = keras.distribution.DataParallel(devices=dist.device_names)
    dist.engine = "keras.distribution.DataParallel"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ParameterError(f"${name} must be an integer, got {value!r}") from None


# --- TensorFlow (tf.distribute) --------------------------------------------------------------


def _tf_start(dist: _Distributor) -> None:
    import json

    import tensorflow as tf

    cfg = dist.config
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    workers = len(tf_config.get("cluster", {}).get("worker", [])) + \
        len(tf_config.get("cluster", {}).get("chief", []))
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and cfg.devices and cfg.devices > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * cfg.devices)
        except RuntimeError:  # devices already initialised in this process
            pass
    kind = "GPU" if gpus else "CPU"
    local = [d.name for d in tf.config.list_logical_devices(kind)]
    want = cfg.devices or len(local)
    if want > len(local):
        raise ParameterError(
            f"--devices {want} asked for, but TensorFlow sees only {len(local)} {kind} "
            "device(s) (logical CPU devices must be configured before TensorFlow starts)")
    if workers > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        dist.process_count = workers
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        has_chief = bool(tf_config.get("cluster", {}).get("chief"))
        chief = (task_type == "chief") or (not has_chief and task_type == "worker"
                                            and task_id == 0)
        dist.process_index = 0 if chief else (task_id + (1 if has_chief else 0))
        dist.engine = "tf.distribute.MultiWorkerMirroredStrategy"
    else:
        strategy = tf.distribute.MirroredStrategy(devices=local[:want])
        dist.engine = "tf.distribute.MirroredStrategy"
    dist._strategy = strategy
    dist.replicas = int(strategy.num_replicas_in_sync)
    dist.device_names = list(local[:want])


def _tf_run_batch(strategy, model, x, y, w, *, train: bool) -> float:
    """One global batch split across the strategy's replicas (a distributed dataset of one
    element), through Keras's own distributed train/test function."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(len(x), drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    ds = strategy.experimental_distribute_dataset(ds.with_options(options))
    if train:
        model._maybe_symbolic_build(data_batch=(x[:1], y[:1], w[:1]))
        model.make_train_function()
        fn = model.train_function
    else:
        model.make_test_function()
        fn = model.test_function
    model.reset_metrics()
    logs = fn(iter(ds))
    return float(np.asarray(logs["loss"]))

"""JAX's own APIs behind the functions the training steps call: data-parallel start-up and
batches (:mod:`gruvsynth.train.distribute`), and the resident feed's compiled steps and device
arrays (:mod:`gruvsynth.train.resident`).

JAX is imported inside the functions, so importing this module is cheap and never starts a
backend; call these only once :func:`gruvsynth.backends.select_backend` has chosen JAX.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from gruvsynth.errors import ParameterError

__all__ = [
    "DataParallel",
    "start_data_parallel",
    "env_int",
    "free_device_bytes",
    "device_array",
    "all_finite",
    "resident_step_functions",
]


def env_int(name: str) -> int | None:
    """The integer in environment variable ``name``, or ``None`` when it is unset or empty.

    Raises
    ------
    ParameterError
        The variable holds something other than an integer.
    """
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ParameterError(f"${name} must be an integer, got {value!r}") from None


class DataParallel:
    """:class:`keras.distribution.DataParallel` over this job's devices (see
    :func:`start_data_parallel`).

    Attributes
    ----------
    name : str
        The engine, for ``versions.json``.
    replicas, process_index, process_count : int
    device_names : list of str
    """

    name = "keras.distribution.DataParallel"

    def __init__(self, distribution, *, process_index: int, process_count: int,
                 device_names: list[str]):
        self.distribution = distribution
        self.process_index = process_index
        self.process_count = process_count
        self.device_names = device_names
        self.replicas = len(device_names)

    def scope(self):
        """Context in which to build, load and train the model."""
        return self.distribution.scope()

    def run_batch(self, model, x: np.ndarray, y: np.ndarray, w: np.ndarray, *,
                  train: bool) -> float:
        """One global batch (already padded and weighted) through a train or test step.

        Every process feeds its own contiguous share of the global batch (JAX/Keras assemble
        the global array with ``jax.make_array_from_process_local_data``).
        """
        share = len(x) // self.process_count
        sl = slice(self.process_index * share, (self.process_index + 1) * share)
        fn = model.train_on_batch if train else model.test_on_batch
        return float(np.asarray(fn(x[sl], y[sl], sample_weight=w[sl])))


def start_data_parallel(*, devices: int | None, coordinator: str | None,
                        num_processes: int | None, process_id: int | None) -> DataParallel:
    """Join the job's processes (if several) and choose each process's devices.

    Parameters
    ----------
    devices : int or None
        Devices per process (``None``: all local ones).  On a CPU a larger number splits the
        processor (``XLA_FLAGS=--xla_force_host_platform_device_count``, only before JAX
        starts).
    coordinator, num_processes, process_id
        As :class:`gruvsynth.train.distribute.DistributeConfig`; ``None`` reads
        ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
        ``KERAS_DISTRIBUTION_PROCESS_ID``.

    Returns
    -------
    DataParallel

    Raises
    ------
    ParameterError
        More devices asked for than this process sees.
    """
    if devices is not None and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            # Only the CPU platform is split; a GPU/TPU machine's accelerators are unaffected.
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_force_host_platform_device_count={devices}".strip())
    import keras

    addresses = coordinator or os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    nproc = num_processes or env_int("KERAS_DISTRIBUTION_NUM_PROCESSES")
    pid = process_id if process_id is not None else env_int("KERAS_DISTRIBUTION_PROCESS_ID")
    import jax

    if (nproc or 1) > 1 and not jax.distributed.is_initialized():
        keras.distribution.initialize(addresses, nproc, pid)
    local = jax.local_devices()
    want = devices or len(local)
    if want > len(local):
        raise ParameterError(
            f"--devices {want} asked for, but this process sees only {len(local)} "
            f"{local[0].platform} device(s); on a CPU set XLA_FLAGS="
            f"--xla_force_host_platform_device_count={want} before JAX starts")
    by_process: dict[int, list] = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    chosen = [d for p in sorted(by_process) for d in by_process[p][:want]]
    names = [f"{d.platform}:{d.id}" for d in chosen]
    return DataParallel(keras.distribution.DataParallel(devices=names),
                        process_index=jax.process_index(), process_count=jax.process_count(),
                        device_names=names)


def free_device_bytes() -> int | None:
    """Free memory of the default device in bytes, or ``None`` where it is not reported."""
    import jax

    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # not every device reports its memory
        return None
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def device_array(value):
    """``value`` as a float32 array on the default device."""
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(value, dtype=np.float32))


def all_finite(values) -> bool:
    """Whether every element of every array in ``values`` is finite (checked on the device)."""
    import jax.numpy as jnp

    return all(bool(jnp.isfinite(v).all()) for v in values)


def resident_step_functions(trainer):
    """Compiled training and evaluation steps over rows resident on the device.

    Each step gathers its batch (``rows[ids]``; inputs are blocks ``[0, T)``, targets
    ``[1, T + 1)``), computes the loss and gradients through the Keras model's stateless API
    (``compute_loss_and_updates``) and applies the model's own optimizer
    (``optimizer.stateless_apply``); ``jax.lax.scan`` runs several steps per call.

    Parameters
    ----------
    trainer : keras.Model
        A built, compiled model (or its fused twin) with a built optimizer.

    Returns
    -------
    train_many : callable
        ``(tv, ntv, ov, mv, rows, index) -> (tv, ntv, ov, losses)``: one step per row of
        ``index`` (shape ``(steps, batch)``), with the trainable, non-trainable, optimizer and
        metrics variables' values.
    eval_many : callable
        ``(tv, ntv, mv, rows, index) -> losses``.
    """
    import jax
    import jax.numpy as jnp

    optimizer = trainer.optimizer

    def loss_fn(tv, ntv, mv, ov, x, y):
        loss, aux = trainer.compute_loss_and_updates(
            tv, ntv, mv, x, y, None, training=True, optimizer_variables=ov)
        return loss, aux

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_many(tv, ntv, ov, mv, rows, index):
        def one(carry, ids):
            tv, ntv, ov = carry
            batch = jnp.take(rows, ids, axis=0)
            (_, aux), grads = grad_fn(tv, ntv, mv, ov, batch[:, :-1], batch[:, 1:])
            unscaled, _, ntv, _ = aux
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return (tv, ntv, ov), unscaled

        (tv, ntv, ov), losses = jax.lax.scan(one, (tv, ntv, ov), index)
        return tv, ntv, ov, losses

    def eval_many(tv, ntv, mv, rows, index):
        def one(_, ids):
            batch = jnp.take(rows, ids, axis=0)
            _, aux = trainer.compute_loss_and_updates(
                tv, ntv, mv, batch[:, :-1], batch[:, 1:], None, training=False)
            return None, aux[0]

        _, losses = jax.lax.scan(one, None, index)
        return losses

    return jax.jit(train_many), jax.jit(eval_many)

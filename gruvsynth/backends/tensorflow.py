"""TensorFlow's own APIs behind the functions the training steps call: data-parallel start-up
(``tf.distribute`` strategies, logical CPU devices) and one global batch split across the
replicas (:mod:`gruvsynth.train.distribute`).

TensorFlow is imported inside the functions, so importing this module is cheap and never
starts a backend; call these only once :func:`gruvsynth.backends.select_backend` has chosen
TensorFlow.
"""

from __future__ import annotations

import json
import os

import numpy as np

from gruvsynth.errors import ParameterError

__all__ = ["Mirrored", "start_data_parallel"]


class Mirrored:
    """A ``tf.distribute`` strategy over this job's devices (see :func:`start_data_parallel`).

    Attributes
    ----------
    name : str
        The engine (``"tf.distribute.MirroredStrategy"`` or
        ``"tf.distribute.MultiWorkerMirroredStrategy"``), for ``versions.json``.
    replicas, process_index, process_count : int
    device_names : list of str
    """

    def __init__(self, strategy, name: str, *, process_index: int, process_count: int,
                 device_names: list[str]):
        self.strategy = strategy
        self.name = name
        self.process_index = process_index
        self.process_count = process_count
        self.device_names = device_names
        self.replicas = int(strategy.num_replicas_in_sync)

    def scope(self):
        """Context in which to build, load and train the model."""
        return self.strategy.scope()

    def run_batch(self, model, x: np.ndarray, y: np.ndarray, w: np.ndarray, *,
                  train: bool) -> float:
        """One global batch split across the strategy's replicas (a distributed dataset of one
        element), through Keras's own distributed train/test function."""
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(len(x), drop_remainder=True)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA
        ds = self.strategy.experimental_distribute_dataset(ds.with_options(options))
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


def _local_devices(devices: int | None) -> tuple[str, list[str]]:
    """(kind, names) of the logical devices, splitting the CPU into ``devices`` if asked."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and devices and devices > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration()] * devices)
        except RuntimeError:  # devices already initialised in this process
            pass
    kind = "GPU" if gpus else "CPU"
    return kind, [d.name for d in tf.config.list_logical_devices(kind)]


def start_data_parallel(*, devices: int | None) -> Mirrored:
    """``MirroredStrategy`` over this machine's devices, or ``MultiWorkerMirroredStrategy``
    when ``TF_CONFIG`` names several workers.

    Parameters
    ----------
    devices : int or None
        Devices to use (``None``: all GPUs, else the CPU).  On a CPU a larger number splits it
        into that many logical devices (only before TensorFlow starts its devices).

    Returns
    -------
    Mirrored

    Raises
    ------
    ParameterError
        More devices asked for than TensorFlow sees.
    """
    import tensorflow as tf

    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = tf_config.get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    kind, local = _local_devices(devices)
    want = devices or len(local)
    if want > len(local):
        raise ParameterError(
            f"--devices {want} asked for, but TensorFlow sees only {len(local)} {kind} "
            "device(s) (logical CPU devices must be configured before TensorFlow starts)")
    if workers <= 1:
        return Mirrored(tf.distribute.MirroredStrategy(devices=local[:want]),
                        "tf.distribute.MirroredStrategy", process_index=0, process_count=1,
                        device_names=list(local[:want]))
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = bool(cluster.get("chief"))
    chief = (task_type == "chief") or (not has_chief and task_type == "worker" and task_id == 0)
    return Mirrored(strategy, "tf.distribute.MultiWorkerMirroredStrategy",
                    process_index=0 if chief else (task_id + (1 if has_chief else 0)),
                    process_count=workers, device_names=list(local[:want]))

"""Data-parallel training (the public path): the code lives in :mod:`gruvsynth.train.distribute`
(padding, the distributor, the data-parallel steps, the worker's private folder), its JAX and
TensorFlow parts in :mod:`gruvsynth.backends.jax` and :mod:`gruvsynth.backends.tensorflow`; this
module re-exports the public names, so ``from gruvsynth.distribute import DistributeConfig``
keeps working."""

from gruvsynth.train.distribute import (
    MODES,
    WORKER_DIR_ENV,
    DataParallelSteps,
    DistributeConfig,
    Distributor,
    local_steps,
    pad_batch,
    start,
    worker_folder,
)

__all__ = ["MODES", "WORKER_DIR_ENV", "DistributeConfig", "Distributor", "DataParallelSteps",
           "pad_batch", "start", "local_steps", "worker_folder"]

"""The resident feed: the corpus on the device, several training steps per compiled call (JAX).

The streamed feed (:class:`gruvsynth.train.steps.KerasSteps`) reads each batch from the HDF5
corpus as numpy arrays and hands it to ``train_on_batch``: on a GPU that is one host-to-device
copy (35 MB at the paper's size) and one Python round trip per step, which cost more than the
step itself (``docs/performance.rst``).  :class:`ResidentSteps` instead

* copies the split's clips to the device once, as rows of ``T + 1`` blocks (inputs are rows
  ``[0, T)``, targets ``[1, T + 1)``: the corpus's own next-block rule);
* runs ``steps_per_call`` training steps per call of one compiled function (``jax.jit`` of a
  ``jax.lax.scan`` over the steps' clip indices), each step gathering its batch on the device,
  computing the loss and gradients through the Keras model's stateless API
  (``compute_loss_and_updates``) and applying the model's own optimizer
  (``optimizer.stateless_apply``), all in :func:`gruvsynth.backends.jax.resident_step_functions`;
* writes the weights and optimizer state back to the Keras variables after each epoch, so
  checkpoints, evaluation and generation see them as usual.

The batches, their order and the arithmetic are those of the streamed loop, so a run's history
matches the streamed path's to float rounding (tested on the CPU).  The models with Keras's LSTM
or GRU layers step through their fused twin (:func:`gruvsynth.models.fused_model`).

The training loop uses it when the backend is JAX, the default device is a GPU and the clips fit
in a quarter of the device's free memory, or when asked (``feed="resident"``):
:func:`choose_feed`.  JAX's own API is called only through :mod:`gruvsynth.backends.jax`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gruvsynth.backends import jax as jax_backend
from gruvsynth.checks import check_int
from gruvsynth.errors import ParameterError
from gruvsynth.train.steps import EpochLoss, LossTotal, chunks

__all__ = ["ResidentSteps", "DEFAULT_STEPS_PER_CALL", "FEEDS", "MEMORY_SHARE", "choose_feed",
           "check_steps_per_call", "chunks"]

#: Training steps per compiled call (fewer host round trips; the progress bar moves by this).
DEFAULT_STEPS_PER_CALL = 20

#: Values of the ``feed`` option of :func:`gruvsynth.train.loop.train`.
FEEDS = ("auto", "stream", "resident")

#: ``feed="auto"`` keeps the clips resident if they take at most this share of free memory.
MEMORY_SHARE = 0.25


def check_steps_per_call(value) -> int | None:
    """The one check of the ``steps_per_call`` option (library and command line).

    Parameters
    ----------
    value : int or None
        ``None`` means the default (:data:`DEFAULT_STEPS_PER_CALL`).

    Returns
    -------
    int or None

    Raises
    ------
    ParameterError
        ``"steps_per_call must be a positive integer, got ..."``.
    """
    return None if value is None else check_int("steps_per_call", value)


def choose_feed(feed: str, *, backend: str, distributed: bool, nbytes: int) -> str:
    """``"stream"`` or ``"resident"`` for a training session.

    Parameters
    ----------
    feed : {"auto", "stream", "resident"}
        What was asked.  ``"auto"``: resident on a JAX GPU (or TPU) when the clips (``nbytes``,
        train and dev) take at most :data:`MEMORY_SHARE` of its free memory, else streamed.
    backend : str
        The Keras backend.
    distributed : bool
        Whether training is data-parallel (always streamed).
    nbytes : int
        Bytes the resident clips would take on the device.

    Returns
    -------
    feed : {"stream", "resident"}

    Raises
    ------
    ParameterError
        An unknown value, or ``"resident"`` where it cannot run (not JAX, or distributed).
    """
    if feed not in FEEDS:
        raise ParameterError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
    if feed == "stream":
        return "stream"
    if feed == "resident":
        if backend != "jax":
            raise ParameterError(f"feed 'resident' needs the JAX backend (this run uses "
                                 f"{backend})",
                                 hint="use feed='stream' or backend='jax'",
                                 cli_hint="use --feed stream or --backend jax")
        if distributed:
            raise ParameterError("feed 'resident' does not combine with data-parallel "
                                 "training; use feed 'stream'")
        return "resident"
    if backend != "jax" or distributed:
        return "stream"
    from gruvsynth.backends import accelerator

    if accelerator() != "gpu":
        return "stream"
    free = jax_backend.free_device_bytes()
    if free is None or nbytes > MEMORY_SHARE * free:
        return "stream"
    return "resident"


class ResidentSteps:
    """Train and evaluate steps over clips resident on the device (JAX backend), following
    :class:`gruvsynth.train.steps.Steps`: the loop's batches of clip indices gather their clips
    on the device.

    Parameters
    ----------
    model : keras.Model
        A compiled model (its optimizer is used and its variables updated).
    rows : dict of str to array-like
        ``{"train": rows, "dev": rows}``: each split's clips as rows of ``T + 1`` normalised
        blocks, shape ``(clips, T + 1, D)``, float32 (``Corpus.rows``); a split may be absent
        or empty.
    steps_per_call : int
        Training steps per compiled call.
    unroll : int or bool
        ``unroll`` of the fused twin's time loops (:func:`gruvsynth.models.fused_model`).
    """

    def __init__(self, model, rows: dict, *, steps_per_call: int = DEFAULT_STEPS_PER_CALL,
                 unroll=1):
        import keras

        from gruvsynth.models import fused_model

        if keras.backend.backend() != "jax":
            raise ParameterError("ResidentSteps needs the JAX backend")
        self.steps_per_call = check_steps_per_call(steps_per_call)
        self.model = model
        self.trainer = trainer = fused_model(model, unroll=unroll) or model
        if not trainer.optimizer.built:
            trainer.optimizer.build(trainer.trainable_variables)
        self._rows = {split: jax_backend.device_array(value) for split, value in rows.items()
                      if value is not None and len(value)}
        if not trainer.built:
            some = next(iter(self._rows.values()), None)
            trainer.build((None, None, some.shape[-1] if some is not None else None))
        self._train_many, self._eval_many = jax_backend.resident_step_functions(trainer)

    # --- state ------------------------------------------------------------------------------
    def _state(self):
        t = self.trainer
        return ([v.value for v in t.trainable_variables],
                [v.value for v in t.non_trainable_variables],
                [v.value for v in t.optimizer.variables],
                [v.value for v in t.metrics_variables])

    def _write_back(self, tv, ntv, ov) -> None:
        t = self.trainer
        for variables, values in ((t.trainable_variables, tv), (t.non_trainable_variables, ntv),
                                  (t.optimizer.variables, ov)):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def _groups(self, batches: Sequence[np.ndarray]):
        """Consecutive batches of one size, at most ``steps_per_call`` per group."""
        group: list[np.ndarray] = []
        for b in batches:
            if group and (len(b) != len(group[0]) or len(group) == self.steps_per_call):
                yield np.stack(group).astype(np.int32)
                group = []
            group.append(b)
        if group:
            yield np.stack(group).astype(np.int32)

    # --- the Steps protocol -----------------------------------------------------------------
    def train_epoch(self, batches: Sequence[np.ndarray], *, bar=None) -> EpochLoss:
        """See :meth:`gruvsynth.train.steps.Steps.train_epoch` (the bar advances by up to
        ``steps_per_call`` batches at a time)."""
        rows = self._rows["train"]
        tv, ntv, ov, mv = self._state()
        total = LossTotal()
        try:
            for index in self._groups(batches):
                tv, ntv, ov, losses = self._train_many(tv, ntv, ov, mv, rows, index)
                if not total.add(np.asarray(losses), index.shape[1]):
                    break
                total.show(bar, len(index))
        finally:
            self._write_back(tv, ntv, ov)
        return total.epoch()

    def evaluate(self, batches: Sequence[np.ndarray]) -> float:
        """See :meth:`gruvsynth.train.steps.Steps.evaluate`."""
        if "dev" not in self._rows or not batches:
            return float("nan")
        tv, ntv, _, mv = self._state()
        total = LossTotal()
        for index in self._groups(batches):
            losses = self._eval_many(tv, ntv, mv, self._rows["dev"], index)
            total.add(np.asarray(losses), index.shape[1], check=False)
        return total.mean()

    def weights_finite(self) -> bool:
        """Whether every weight is finite (checked on the device)."""
        return jax_backend.all_finite(v.value for v in self.model.weights)

    @staticmethod
    def nbytes(n_clips: int, clip_blocks: int, features: int) -> int:
        """Device bytes of ``n_clips`` resident clips."""
        return int(n_clips) * (int(clip_blocks) + 1) * int(features) * 4

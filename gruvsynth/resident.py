"""Training with the corpus resident on the device, several steps per compiled call (JAX).

The streamed training loop (:class:`gruvsynth.training._KerasSteps`) reads each batch from the
HDF5 corpus as numpy arrays and hands it to ``train_on_batch``: on a GPU that is one
host-to-device copy (35 MB at the paper's size) and one Python round trip per step, which cost
more than the step itself (``docs/performance.rst``).  :class:`ResidentSteps` instead

* copies the split's clips to the device once, as rows of ``T + 1`` blocks (inputs are rows
  ``[0, T)``, targets ``[1, T + 1)``: the corpus's own next-block rule);
* runs ``steps_per_call`` training steps per call of one compiled function (``jax.jit`` of a
  ``jax.lax.scan`` over the steps' clip indices), each step gathering its batch on the device,
  computing the loss and gradients through the Keras model's stateless API
  (``compute_loss_and_updates``) and applying the model's own optimizer
  (``optimizer.stateless_apply``);
* writes the weights and optimizer state back to the Keras variables after each epoch, so
  checkpoints, evaluation and generation see them as usual.

The batches, their order and the arithmetic are those of the streamed loop, so a run's history
matches the streamed path's to float rounding (tested on the CPU).  The models with Keras's LSTM
or GRU layers step through their fused twin (:func:`gruvsynth.models.fused_model`).

This module is JAX-specific (like the JAX parts of :mod:`gruvsynth.distribute`); the training
loop uses it when the backend is JAX, the default device is a GPU and the clips fit in a
quarter of the device's free memory, or when asked (``feed="resident"``).
"""

from __future__ import annotations

import numpy as np

from gruvsynth.errors import ParameterError

__all__ = ["ResidentSteps", "DEFAULT_STEPS_PER_CALL", "FEEDS", "choose_feed", "chunks"]

#: Training steps per compiled call (fewer host round trips; the progress bar moves by this).
DEFAULT_STEPS_PER_CALL = 20

#: Values of the ``feed`` option of :func:`gruvsynth.training.train`.
FEEDS = ("auto", "stream", "resident")

#: ``feed="auto"`` keeps the clips resident if they take at most this share of free memory.
MEMORY_SHARE = 0.25


def chunks(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The epoch's batches: ``order`` cut into ``batch_size`` pieces, each sorted (the
    streamed loop reads each batch's clips in file order)."""
    return [np.sort(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]


def _free_device_bytes() -> int | None:
    import jax

    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # not every device reports its memory
        return None
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


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
    free = _free_device_bytes()
    if free is None or nbytes > MEMORY_SHARE * free:
        return "stream"
    return "resident"


class ResidentSteps:
    """Train and evaluate steps over clips resident on the device (JAX backend).

    Same role as :class:`gruvsynth.training._KerasSteps`, but the training loop hands it the
    epoch's clip indices (:meth:`train_indices`, :meth:`evaluate_indices`) instead of
    batches.

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

    resident = True

    def __init__(self, model, rows: dict, *, steps_per_call: int = DEFAULT_STEPS_PER_CALL,
                 unroll=1):
        import jax
        import jax.numpy as jnp
        import keras

        from gruvsynth.models import fused_model

        if keras.backend.backend() != "jax":
            raise ParameterError("ResidentSteps needs the JAX backend")
        if isinstance(steps_per_call, bool) or not isinstance(steps_per_call, int) \
                or steps_per_call < 1:
            raise ParameterError(f"steps_per_call must be a positive integer, got "
                                 f"{steps_per_call!r}")
        self.model = model
        self.trainer = fused_model(model, unroll=unroll) or model
        self.steps_per_call = steps_per_call
        trainer = self.trainer
        optimizer = trainer.optimizer
        if not optimizer.built:
            optimizer.build(trainer.trainable_variables)
        self._rows = {}
        for split, value in rows.items():
            if value is not None and len(value):
                self._rows[split] = jnp.asarray(np.asarray(value, dtype=np.float32))
        self._jnp = jnp
        if not trainer.built:
            some = next(iter(self._rows.values()), None)
            width = some.shape[-1] if some is not None else None
            trainer.build((None, None, width))

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

        self._train_many = jax.jit(train_many)
        self._eval_many = jax.jit(eval_many)

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

    def _groups(self, batches: list[np.ndarray]):
        """Consecutive batches of one size, at most ``steps_per_call`` per group."""
        group: list[np.ndarray] = []
        for b in batches:
            if group and (len(b) != len(group[0]) or len(group) == self.steps_per_call):
                yield np.stack(group).astype(np.int32)
                group = []
            group.append(b)
        if group:
            yield np.stack(group).astype(np.int32)

    # --- the loop's interface ---------------------------------------------------------------
    def train_indices(self, batches: list[np.ndarray], *, bar=None):
        """Train on batches of clip indices (``chunks(order, batch_size)``); return (mean loss
        weighted by batch size, index of the first non-finite batch loss or None, that loss)."""
        rows = self._rows["train"]
        tv, ntv, ov, mv = self._state()
        total, count, done = 0.0, 0, 0
        try:
            for index in self._groups(batches):
                tv, ntv, ov, losses = self._train_many(tv, ntv, ov, mv, rows, index)
                losses = np.asarray(losses, dtype=np.float64)
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    return float("nan"), done + int(bad[0]), float(losses[bad[0]])
                total += float(losses @ np.full(len(losses), index.shape[1]))
                count += index.size
                done += len(index)
                if bar is not None:
                    bar.update(len(index))
                    bar.set_postfix(loss=f"{total / count:.4g}", refresh=False)
        finally:
            self._write_back(tv, ntv, ov)
        return total / max(count, 1), None, None

    def evaluate_indices(self, batches: list[np.ndarray]) -> float:
        """Mean loss over batches of dev clip indices, weighted by batch size."""
        if "dev" not in self._rows or not batches:
            return float("nan")
        tv, ntv, _, mv = self._state()
        total, count = 0.0, 0
        for index in self._groups(batches):
            losses = np.asarray(self._eval_many(tv, ntv, mv, self._rows["dev"], index),
                                dtype=np.float64)
            total += float(losses.sum()) * index.shape[1]
            count += index.size
        return total / count if count else float("nan")

    def weights_finite(self) -> bool:
        """Whether every weight is finite (checked on the device)."""
        jnp = self._jnp
        return all(bool(jnp.isfinite(v.value).all()) for v in self.model.weights)

    @staticmethod
    def nbytes(n_clips: int, clip_blocks: int, features: int) -> int:
        """Device bytes of ``n_clips`` resident clips."""
        return int(n_clips) * (int(clip_blocks) + 1) * int(features) * 4


"""The training steps: one protocol (:class:`Steps`) that every step implementation follows.

The loop (:mod:`gruvsynth.train.loop`) talks to the model only through a :class:`Steps`
object: it hands it each epoch's batches as arrays of clip indices (:func:`chunks` of the
epoch's order) and gets back the epoch's mean loss (an :class:`EpochLoss`), the dev loss, and
whether the weights are still finite.  Three implementations follow it:

:class:`KerasSteps`
    The streamed feed: each batch read from the corpus file (one batch ahead, in a background
    thread) and run through Keras's compiled ``train_on_batch``/``test_on_batch``.
:class:`gruvsynth.train.distribute.DataParallelSteps`
    The same, with each global batch split over replicas (it overrides the public hooks
    :meth:`KerasSteps.scope` and :meth:`KerasSteps.batch_loss`).
:class:`gruvsynth.train.resident.ResidentSteps`
    The clips resident on the device, several steps per compiled call (JAX).

:class:`LossTotal` is the one accumulation of batch losses (mean weighted by batch size, and
the first non-finite batch) that they share.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from gruvsynth.errors import ParameterError

__all__ = ["Steps", "EpochLoss", "LossTotal", "KerasSteps", "chunks", "read_batch", "prefetch"]


class EpochLoss(NamedTuple):
    """What one training epoch gives back (unpacks as ``loss, bad_batch, bad_loss``)."""

    #: Mean training loss over the epoch's batches, weighted by batch size (NaN if it stopped).
    loss: float
    #: Index of the first batch whose loss was not finite (training stopped there), or None.
    bad_batch: int | None = None
    #: That batch's loss, or None.
    bad_loss: float | None = None


@runtime_checkable
class Steps(Protocol):
    """What the training loop needs of a step implementation.

    Attributes
    ----------
    model : keras.Model
        The model trained (what checkpoints save).
    """

    model: object

    def train_epoch(self, batches: Sequence[np.ndarray], *, bar=None) -> EpochLoss:
        """Train on each batch of training-clip indices in turn, stopping at the first
        non-finite batch loss; ``bar`` (a tqdm bar, or None) advances by one per batch."""

    def evaluate(self, batches: Sequence[np.ndarray]) -> float:
        """Mean loss over batches of dev-clip indices, weighted by batch size (NaN for none)."""

    def weights_finite(self) -> bool:
        """Whether every weight is finite (checked before a checkpoint is written)."""


class LossTotal:
    """Batch losses summed as the loop reports them: the mean weighted by batch size (as Keras
    reports an epoch's loss), and where the first non-finite one was."""

    def __init__(self):
        self.total = 0.0
        self.count = 0
        self.batches = 0
        self.bad_batch: int | None = None
        self.bad_loss: float | None = None

    def add(self, losses, batch_size: int, *, check: bool = True) -> bool:
        """Add the losses of one or more batches of ``batch_size`` clips each.

        Parameters
        ----------
        losses : float or array-like of float
        batch_size : int
        check : bool
            Stop at a non-finite loss: record it and add nothing (training); ``False`` adds
            every loss (a dev loss that is NaN or infinite is reported as such).

        Returns
        -------
        bool
            False when ``check`` found a non-finite loss.
        """
        losses = np.atleast_1d(np.asarray(losses, dtype=np.float64))
        if check:
            bad = np.flatnonzero(~np.isfinite(losses))
            if bad.size:
                self.bad_batch = self.batches + int(bad[0])
                self.bad_loss = float(losses[bad[0]])
                return False
        self.total += float(losses @ np.full(len(losses), batch_size))
        self.count += len(losses) * int(batch_size)
        self.batches += len(losses)
        return True

    def mean(self) -> float:
        """The weighted mean so far (NaN before the first batch)."""
        return self.total / self.count if self.count else float("nan")

    def epoch(self) -> EpochLoss:
        """The epoch's result: NaN and the bad batch if one was found, else the mean."""
        if self.bad_batch is not None:
            return EpochLoss(float("nan"), self.bad_batch, self.bad_loss)
        return EpochLoss(self.total / max(self.count, 1))

    def show(self, bar, batches: int) -> None:
        """Advance a progress bar (or None) by ``batches`` and show the mean so far."""
        if bar is not None:
            bar.update(batches)
            bar.set_postfix(loss=f"{self.mean():.4g}", refresh=False)


def chunks(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """The epoch's batches: ``order`` cut into ``batch_size`` pieces, each sorted (the
    streamed loop reads each batch's clips in file order)."""
    return [np.sort(order[i:i + batch_size]) for i in range(0, len(order), batch_size)]


def read_batch(corpus, split: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of the clips ``index`` of a corpus split, as numpy arrays."""
    reader = getattr(corpus, "batch", None)
    if reader is not None:
        return reader(split, index)
    inputs, targets = corpus.clips(split)
    return np.asarray(inputs[index]), np.asarray(targets[index])


def prefetch(corpus, split: str, batches: Sequence[np.ndarray]
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The batches' arrays, read from disk one batch ahead in a background thread."""
    if not len(batches):
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                               thread_name_prefix="gruvsynth-reader") as pool:
        pending = pool.submit(read_batch, corpus, split, batches[0])
        for j in range(len(batches)):
            batch = pending.result()
            if j + 1 < len(batches):
                pending = pool.submit(read_batch, corpus, split, batches[j + 1])
            yield batch


class KerasSteps:
    """The streamed steps: Keras's compiled ``train_on_batch``/``test_on_batch`` on batches read
    from the corpus.

    Models with Keras's LSTM or GRU layers (the ``"lstm"`` and ``"gru"`` cells) step through
    their fused twin (:func:`gruvsynth.models.fused_model`: the same variables, optimizer and
    function, with the recurrent input product hoisted out of the time loop, a hand-written
    backward pass through time and the whole step compiled with XLA; ``docs/performance.rst``);
    other cells through the model itself.

    Parameters
    ----------
    model : keras.Model
        A compiled model.
    corpus : gruvsynth.corpus.Corpus, optional
        Where :meth:`train_epoch` and :meth:`evaluate` read their batches (the ``"train"`` and
        ``"dev"`` splits); not needed for :meth:`batch_loss` alone.

    Attributes
    ----------
    trainer : keras.Model
        What the batches run through: the fused twin, or the model itself.
    """

    def __init__(self, model, corpus=None):
        from gruvsynth.models import fused_model

        self.model = model
        self.trainer = fused_model(model) or model
        self.corpus = corpus

    def scope(self):
        """Context the batches run in (a hook: a distribution strategy's scope in
        :class:`~gruvsynth.train.distribute.DataParallelSteps`)."""
        return contextlib.nullcontext()

    def batch_loss(self, x: np.ndarray, y: np.ndarray, *, train: bool) -> float:
        """One batch through a train or test step; its mean loss (a hook, see :meth:`scope`).

        Parameters
        ----------
        x, y : np.ndarray [shape=(n, T, D)]
        train : bool
        """
        step = self.trainer.train_on_batch if train else self.trainer.test_on_batch
        return float(step(x, y))

    def _read(self, split: str, batches: Sequence[np.ndarray]):
        if self.corpus is None:
            raise ParameterError("these steps have no corpus to read batches from")
        return prefetch(self.corpus, split, batches)

    def train_epoch(self, batches: Sequence[np.ndarray], *, bar=None) -> EpochLoss:
        """See :meth:`Steps.train_epoch`."""
        total = LossTotal()
        with self.scope():
            for x, y in self._read("train", batches):
                if not total.add(self.batch_loss(x, y, train=True), len(x)):
                    break
                total.show(bar, 1)
        return total.epoch()

    def evaluate(self, batches: Sequence[np.ndarray]) -> float:
        """See :meth:`Steps.evaluate`."""
        total = LossTotal()
        with self.scope():
            for x, y in self._read("dev", batches):
                total.add(self.batch_loss(x, y, train=False), len(x), check=False)
        return total.mean()

    def weights_finite(self) -> bool:
        """See :meth:`Steps.weights_finite`."""
        return all(bool(np.isfinite(np.asarray(w)).all()) for w in self.model.get_weights())

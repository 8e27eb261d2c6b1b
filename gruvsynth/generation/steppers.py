"""Music generation from a seed: the paper's algorithm (§5), faithful O(n²) and stateful O(n).

The algorithm (paper §5 and ``gen_utils/sequence_generator.py`` of the authors' code)
-------------------------------------------------------------------------------------
A *seed* is ``seed_blocks`` consecutive normalised feature vectors ``S_0 … S_t``
(``t = seed_blocks - 1``).

1. **First pass.**  The model reads the whole seed and predicts the next block at every
   position, ``R_1 … R_{t+1}``.  *All* ``seed_blocks`` predictions are kept: they start the
   *generation sequence*.  ``R_1 … R_t`` are the model's one-step predictions of the seed's own
   blocks; ``R_{t+1}`` is the first block that follows the seed.
2. **Iteration.**  The last prediction is appended to the model's *input*
   (``S_0 … S_t, R_{t+1}, …``), the model predicts again, and only the new last prediction is
   appended to the generation sequence.  This is repeated ``iterations`` times.

So the output has exactly ``seed_blocks + iterations`` blocks.  The authors' loop
``for it in xrange(sequence_length)`` counts the first pass as ``it == 0``, so their
``sequence_length`` is our ``iterations + 1``; their default (one 40-block training clip as the
seed, ``max_seq_len = 10``) gives 40 + 9 = 49 blocks.  Block ``k`` of the output comes from the
first pass when ``k < seed_blocks`` and from iteration ``k - seed_blocks + 1`` otherwise.

Two implementations compute the same numbers (tested to a relative error below 1e-4 for every
cell):

``method="faithful"``
    As the original: every iteration re-feeds the whole, growing input sequence through the
    model (``model.predict_on_batch``).  Cost O(n²) in the output length.
``method="stateful"`` (default)
    Runs the seed through the model one block at a time, keeping every recurrent layer's state,
    then feeds one block per iteration.  Cost O(n).  The step is a small functional Keras model
    built from the trained model's own layers (shared weights: the input projection, each
    recurrent layer's *cell* called as ``cell(x_t, states)``, the output projection) and run with
    ``predict_on_batch``, which Keras compiles on every backend (``tf.function`` on TensorFlow,
    ``jax.jit`` on JAX).  Only position-wise layers (``Dense``, ``Dropout``, ``Activation``,
    normalisation, ``TimeDistributed`` of these) and forward ``keras.layers.RNN`` layers are
    supported; anything else raises :class:`~gruvsynth.errors.ParameterError`, and
    ``method="faithful"`` still works.

This module holds :func:`generate` and both implementations; it imports Keras.
:func:`gruvsynth.generation.generate_from_run` adds what a user needs around it.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from tqdm.auto import tqdm

from gruvsynth.checks import check_int
from gruvsynth.errors import ParameterError
from gruvsynth.generation.sizes import DEFAULT_METHOD, check_method
from gruvsynth.models import float32_model

__all__ = ["generate", "model_width"]

#: Layers the stateful step applies block by block (they act on the last axis only).
_POSITIONWISE = (
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.LayerNormalization,
    keras.layers.BatchNormalization,
    keras.layers.Identity,
)


def model_width(model) -> int:
    """The feature width ``D`` a sequence model reads and predicts.

    Raises
    ------
    ParameterError
        The model is not built, or its input and output widths differ.
    """
    try:
        d_in = model.input_shape[-1]
        d_out = model.output_shape[-1]
    except (AttributeError, ValueError) as exc:
        raise ParameterError(f"model {getattr(model, 'name', model)!r} is not built: {exc}") from exc
    if d_in is None or d_in != d_out:
        raise ParameterError(
            f"model {model.name!r} maps {d_in} features to {d_out}: generation feeds each "
            "prediction back as the next input, so they must be equal"
        )
    return int(d_in)


def _check_seed(seed, width: int) -> np.ndarray:
    seed = np.asarray(seed, dtype=np.float32)
    if seed.ndim not in (2, 3) or seed.shape[-1] != width or seed.shape[-2] < 1:
        raise ParameterError(
            f"seed must have shape (seed_blocks, {width}) or (n_seeds, seed_blocks, {width}), "
            f"got {seed.shape}"
        )
    if seed.ndim == 3 and seed.shape[0] < 1:
        raise ParameterError("seed has no sequences (n_seeds = 0)")
    if not np.all(np.isfinite(seed)):
        raise ParameterError("seed contains NaN or infinite values")
    return seed


def _faithful(model, seed: np.ndarray, iterations: int, bar) -> np.ndarray:
    """The original O(n²) loop for a batch of seeds (batch, seed_blocks, D)."""
    sequence = seed
    first = np.asarray(model.predict_on_batch(sequence), dtype=np.float32)
    out = [first]
    last = first[:, -1:, :]
    for _ in range(iterations):
        sequence = np.concatenate([sequence, last], axis=1)
        last = np.asarray(model.predict_on_batch(sequence), dtype=np.float32)[:, -1:, :]
        out.append(last)
        bar.update(1)
    return np.concatenate(out, axis=1)


class _StepModel(keras.Model):
    """One time step of a sequence model: ``[x_t, *states] -> [y_t, *new_states]``.

    Holds the sequence model's own layers (weights shared, nothing copied): position-wise layers
    are applied to the block, each recurrent layer's cell is called as ``cell(x_t, states)``.
    States travel flattened; ``plan`` records how each recurrent layer's slice is nested.
    """

    def __init__(self, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.step_layers = [layer for _, layer, _ in plan]

    def call(self, inputs):
        x, flat = inputs[0], list(inputs[1:])
        new_states = []
        for kind, layer, structure in self.plan:
            if kind == "rnn":
                n = len(keras.tree.flatten(structure))
                states = keras.tree.pack_sequence_as(structure, flat[:n])
                flat = flat[n:]
                x, new = layer.cell(x, states, training=False)
                if not keras.tree.is_nested(new):
                    new = [new]
                new_states += keras.tree.flatten(new)
            elif kind == "wrapped":
                x = layer.layer(x, training=False)
            else:
                x = layer(x, training=False)
        return [x, *new_states]


class _PrefixModel(keras.Model):
    """The whole seed at once: ``x (batch, T, D) -> [y (batch, T, D), *final_states]``.

    Position-wise layers run on the whole sequence (one matrix product per layer instead of
    one per block); each recurrent layer runs as ``keras.layers.RNN`` around the *same* cell
    object (shared weights) with ``return_state=True``, so its final states come out.
    """

    def __init__(self, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.step_layers = [layer for _, layer, _ in plan]

    def call(self, x):
        states = []
        for kind, layer, _ in self.plan:
            if kind == "rnn":
                x, *final = layer(x, training=False)
                states += keras.tree.flatten(final)
            else:
                x = layer(x, training=False)
        return [x, *states]


class _Stepper:
    """Runs the seed through :class:`_PrefixModel`, then blocks through :class:`_StepModel`.

    Both are run with ``predict_on_batch``, which the backend compiles once per input shape.
    """

    def __init__(self, model):
        self.width = model_width(model)
        plan, prefix = [], []
        self.layers = []
        for layer in model.layers:
            if isinstance(layer, keras.layers.RNN):
                if getattr(layer, "go_backwards", False):
                    raise ParameterError(
                        f"layer {layer.name!r} reads sequences backwards, so it cannot be run "
                        "block by block; use method='faithful'"
                    )
                # The RNN layer keeps state_size as a list (entries may nest, e.g. stacked
                # cells); its own loop passes the states to the cell in that structure.
                plan.append(("rnn", layer, list(layer.state_size)))
                twin = keras.layers.RNN(layer.cell, return_sequences=True, return_state=True,
                                        name=f"{layer.name}_with_state")
                prefix.append(("rnn", twin, None))
                self.layers.append(layer)
            elif isinstance(layer, _POSITIONWISE):
                plan.append(("layer", layer, None))
                prefix.append(("layer", layer, None))
            elif isinstance(layer, keras.layers.TimeDistributed) and isinstance(
                layer.layer, _POSITIONWISE
            ):
                plan.append(("wrapped", layer, None))
                prefix.append(("layer", layer, None))
            else:
                raise ParameterError(
                    f"stateful generation cannot step layer {layer.name!r} "
                    f"({type(layer).__name__}) one block at a time; use method='faithful'"
                )
        if not self.layers:
            raise ParameterError(f"model {model.name!r} has no recurrent layer")
        self.step_model = _StepModel(plan, name=f"{model.name}_step")
        self.prefix_model = _PrefixModel(prefix, name=f"{model.name}_prefix")

    def prefix(self, x: np.ndarray):
        """The seed pass: predictions at every seed position and the final states."""
        outputs = self.prefix_model.predict_on_batch(x)
        y = np.asarray(outputs[0], dtype=np.float32)
        return y, [np.asarray(s, dtype=np.float32) for s in outputs[1:]]

    def __call__(self, x: np.ndarray, states: list[np.ndarray]):
        """One block: ``x (batch, D)`` and the states -> the prediction and the new states."""
        outputs = self.step_model.predict_on_batch([x, *states])
        y = np.asarray(outputs[0], dtype=np.float32)
        return y, [np.asarray(s, dtype=np.float32) for s in outputs[1:]]


_STEPPERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stepper(model) -> _Stepper:
    """The model's stepper, built once per model (so its compiled step is reused)."""
    layers = tuple(id(layer) for layer in model.layers)
    cached = _STEPPERS.get(model)
    if cached is None or cached[0] != layers:
        cached = (layers, _Stepper(model))
        _STEPPERS[model] = cached
    return cached[1]


def _stateful(stepper: _Stepper, seed: np.ndarray, iterations: int, bar) -> np.ndarray:
    """The O(n) loop for a batch of seeds (batch, seed_blocks, D)."""
    first, states = stepper.prefix(seed)
    out = [first]
    y = first[:, -1, :]
    for _ in range(iterations):
        y, states = stepper(y, states)
        out.append(y[:, None, :])
        bar.update(1)
    return np.concatenate(out, axis=1)


def generate(
    model,
    seed: np.ndarray,
    *,
    iterations: int,
    method: str = DEFAULT_METHOD,
    batch: bool = False,
    progress: bool = True,
) -> np.ndarray:
    """Extend a seed with a trained model: the paper's generation algorithm (§5).

    Parameters
    ----------
    model : keras.Model
        A sequence model ``(batch, time, D) -> (batch, time, D)``, e.g. from
        :func:`gruvsynth.models.build_model` or a run's checkpoint.  It runs in float32
        whatever precision trained it (a ``bfloat16`` model is rebuilt in float32 with the
        same weights first, :func:`gruvsynth.models.float32_model`).
    seed : np.ndarray [shape=(seed_blocks, D) or (n_seeds, seed_blocks, D)]
        Normalised feature vectors (the model's input space).
    iterations : int
        Iterations after the first pass; each adds one block.
    method : {"stateful", "faithful"}
        ``"faithful"`` re-feeds the whole growing sequence every iteration (O(n²), as the
        authors' code); ``"stateful"`` carries the recurrent states and feeds one block per
        iteration (O(n)).  Both give the same blocks to within float32 rounding.
    batch : bool
        For several seeds: run them through the model together as one batch (faster; memory
        grows with ``n_seeds``) rather than one after another.
    progress : bool
        Show a progress bar over the iterations.

    Returns
    -------
    blocks : np.ndarray [shape=(seed_blocks + iterations, D) or (n_seeds, seed_blocks + iterations, D), dtype=float32]
        The generation sequence, normalised: the first pass's ``seed_blocks`` predictions, then
        one block per iteration (see the module docstring).

    Raises
    ------
    ParameterError
        For a seed of the wrong shape or with non-finite values, a negative ``iterations``, an
        unknown ``method``, a model whose input and output widths differ, or (stateful only) a
        layer that cannot be stepped one block at a time.

    Examples
    --------
    >>> model = build_model(hidden=8, features=16, compile=False)   # doctest: +SKIP
    >>> generate(model, np.zeros((4, 16)), iterations=3, progress=False).shape  # doctest: +SKIP
    (7, 16)
    """
    check_method(method)
    iterations = check_int("iterations", iterations, minimum=0)
    model = float32_model(model)
    width = model_width(model)
    seed = _check_seed(seed, width)
    single = seed.ndim == 2
    seeds = seed[None] if single else seed
    groups = [seeds] if (batch or single) else [s[None] for s in seeds]
    stepper = _stepper(model) if method == "stateful" else None
    out = []
    with tqdm(
        total=iterations * len(groups), disable=not progress, desc=f"generating ({method})",
        unit="block", leave=False,
    ) as bar:
        for group in groups:
            if stepper is not None:
                out.append(_stateful(stepper, group, iterations, bar))
            else:
                out.append(_faithful(model, group, iterations, bar))
    blocks = np.concatenate(out, axis=0)
    return blocks[0] if single else blocks

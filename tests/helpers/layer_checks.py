"""One reusable test for recurrent cells and layers (after keras-hub's ``run_layer_test``).

:func:`run_layer_test` puts a cell (or a ``keras.layers.RNN`` layer) through everything the rest
of gruvsynth relies on, on whatever Keras backend is active:

1. config round trip: ``from_config(get_config())`` gives an equal config;
2. symbolic call on a ``keras.Input`` with a free time axis, output shape;
3. weight count and parameter count;
4. eager call on random data, finite output of the right shape;
5. stepping the cell one time step at a time, ``h, states = layer.cell(x_t, states)`` from
   ``layer.get_initial_state(batch)``, reproduces the whole-sequence output (the stateful
   generation path);
6. one ``fit`` step with MSE and RMSprop: finite loss, weights change;
7. ``.keras`` save and load with ``safe_mode=True``: equal configs and equal outputs.

It is plain Python (no pytest), so ``tests/helpers/backend_check.py`` can run it in a
subprocess per backend.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from gruvsynth.cell_registry import cell_size


def _as_sequence_layer(obj) -> keras.layers.RNN:
    if isinstance(obj, keras.layers.RNN):
        if obj.return_sequences:
            return obj
        return type(obj).from_config({**obj.get_config(), "return_sequences": True})
    return keras.layers.RNN(obj, return_sequences=True)


def _plain(config: dict) -> dict:
    """A config with tuples as lists (as after a trip through JSON), for comparisons."""
    return json.loads(json.dumps(config))


def _check_stepping(layer, x: np.ndarray, sequence: np.ndarray, atol: float) -> None:
    """Step 5: one time step at a time through the cell, as stateful generation does."""
    batch, timesteps = x.shape[:2]
    states = layer.get_initial_state(batch)
    steps = []
    for t in range(timesteps):
        h, states = layer.cell(keras.ops.convert_to_tensor(x[:, t]), states)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        steps.append(keras.ops.convert_to_numpy(h))
    stepped = np.stack(steps, axis=1)
    error = float(np.max(np.abs(stepped - sequence)))
    assert error <= atol, f"stepping the cell differs from the layer by {error:.3g}"


def _check_fit_step(model, layer, x: np.ndarray, y: np.ndarray) -> float:
    """Step 6: one training step; returns its loss."""
    model.compile(loss="mse", optimizer=keras.optimizers.RMSprop(learning_rate=1e-2))
    before = [keras.ops.convert_to_numpy(w).copy() for w in layer.weights]
    history = model.fit(x, y, batch_size=x.shape[0], epochs=1, verbose=0, shuffle=False)
    loss = float(history.history["loss"][0])
    assert np.isfinite(loss), f"training loss {loss}"
    after = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "no weight changed"
    return loss


def _check_save_load(model, layer, x: np.ndarray, directory: str | Path | None) -> None:
    """Step 7: save and load (safe mode): the same cell class, config and outputs."""
    expected = keras.ops.convert_to_numpy(model(x))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(directory) if directory is not None else Path(scratch)
        path = folder / f"{layer.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    loaded_layer = loaded.get_layer(layer.name)
    assert type(loaded_layer.cell) is type(layer.cell), "loaded cell has another class"
    assert _plain(loaded_layer.get_config()) == _plain(layer.get_config()), "loaded config differs"
    reloaded = keras.ops.convert_to_numpy(loaded(x))
    np.testing.assert_allclose(reloaded, expected, rtol=0, atol=1e-6)


def run_layer_test(
    make: Callable[[], keras.layers.Layer],
    *,
    input_dim: int = 8,
    batch: int = 3,
    timesteps: int = 5,
    expected_num_weights: int | None = None,
    expected_num_params: int | None = None,
    directory: str | Path | None = None,
    seed: int = 0,
    atol: float = 1e-5,
) -> dict:
    """Check one cell or recurrent layer; raise ``AssertionError`` on the first failure.

    Parameters
    ----------
    make : callable
        Called with no arguments, returns a fresh RNN cell or ``keras.layers.RNN`` layer.
    input_dim : int
        Features per time step fed to the layer.
    batch, timesteps : int
        Shape of the random test data.
    expected_num_weights : int or None
        Expected ``len(layer.weights)`` once built (not checked when None).
    expected_num_params : int or None
        Expected ``layer.count_params()`` (not checked when None).
    directory : str or Path or None
        Where to write the ``.keras`` file; a temporary folder when None.
    seed : int
        Seed of the random data.
    atol : float
        Tolerance of the step-by-step comparison (save/load must match to 1e-6).

    Returns
    -------
    summary : dict
        ``units``, ``num_weights``, ``num_params``, ``loss`` (of the fit step).
    """
    rng = np.random.default_rng(seed)

    # 1. Config round trip.
    original = make()
    config = original.get_config()
    clone = type(original).from_config(config)
    assert clone.get_config() == config, f"{type(original).__name__}: config round trip differs"

    # 2. Symbolic call.
    layer = _as_sequence_layer(make())
    units = int(cell_size(layer.cell))
    inputs = keras.Input(shape=(None, input_dim))
    hidden = layer(inputs)
    assert tuple(hidden.shape) == (None, None, units), f"symbolic output shape {hidden.shape}"
    outputs = keras.layers.Dense(input_dim)(hidden)
    model = keras.Model(inputs, outputs)

    # 3. Weights.
    num_weights = len(layer.weights)
    num_params = layer.count_params()
    if expected_num_weights is not None:
        assert num_weights == expected_num_weights, f"{num_weights} weights"
    if expected_num_params is not None:
        assert num_params == expected_num_params, f"{num_params} parameters"
    assert len(layer.trainable_weights) == num_weights

    # 4. Eager call.
    x = rng.standard_normal((batch, timesteps, input_dim)).astype("float32")
    y = rng.standard_normal((batch, timesteps, input_dim)).astype("float32")
    sequence = keras.ops.convert_to_numpy(layer(x))
    assert sequence.shape == (batch, timesteps, units), f"eager output shape {sequence.shape}"
    assert np.all(np.isfinite(sequence)), "eager output is not finite"

    # 5. One time step at a time through the cell, as stateful generation does.
    _check_stepping(layer, x, sequence, atol)

    # 6. One training step.
    loss = _check_fit_step(model, layer, x, y)

    # 7. Save and load (safe mode).
    _check_save_load(model, layer, x, directory)

    return {"units": units, "num_weights": num_weights, "num_params": num_params, "loss": loss}

"""build_model and friends: structure, parameter counts, cells by name/class/instance, training,
saving, the fast per-time-step Dense, and the code of docs/cells.rst."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from gruvsynth.cells import (
    GatewiseGlorotUniform,
    GatewiseOrthogonal,
    Keras01GRUCell,
    Keras01LSTMCell,
    PaperGRUCell,
    PeepholeLSTMCell,
)
from gruvsynth.errors import ParameterError
from gruvsynth.models import (
    CELLS,
    build_model,
    describe,
    param_count,
    register_cell,
    rnn_layers,
)

FEATURES, HIDDEN, STEPS, BATCH = 12, 6, 5, 3
BUILTIN = ["lstm", "gru", "keras01_lstm", "keras01_gru", "peephole_lstm", "paper_gru"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cells.rst"


@keras.saving.register_keras_serializable(package="gruvsynth_tests")
class ElmanCell(keras.layers.Layer):
    """A user's cell, h = tanh(scale * (x W + h U)), without a get_initial_state of its own."""

    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scale = scale
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel", initializer="orthogonal"
        )

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        pre = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        h = ops.tanh(self.scale * pre)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


def _numpy(x):
    return ops.convert_to_numpy(x)


def _data(rng, features=FEATURES):
    x = rng.standard_normal((BATCH, STEPS, features)).astype("float32")
    return x, np.roll(x, -1, axis=1)


# --- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_layers_and_names(layers):
    model = build_model(hidden=HIDDEN, features=FEATURES, layers=layers, compile=False)
    names = [layer.name for layer in model.layers]
    rnn_names = [f"rnn_{i}" for i in range(1, layers + 1)]
    assert names == ["input_projection", *rnn_names, "output_projection"]
    assert [layer.name for layer in rnn_layers(model)] == rnn_names
    assert all(layer.return_sequences for layer in rnn_layers(model))
    assert model.input_shape == (None, None, FEATURES)
    assert model.output_shape == (None, None, FEATURES)
    assert model.get_layer("input_projection").units == HIDDEN


def test_without_input_projection():
    model = build_model(hidden=HIDDEN, features=FEATURES, input_projection=False, compile=False)
    assert [layer.name for layer in model.layers] == ["rnn_1", "output_projection"]
    assert rnn_layers(model)[0].cell.kernel.shape == (FEATURES, 4 * HIDDEN)
    assert describe(model)["input_projection"] is False


@pytest.mark.parametrize(
    "cell, layer_type, cell_type",
    [
        ("lstm", keras.layers.LSTM, keras.layers.LSTMCell),
        ("gru", keras.layers.GRU, keras.layers.GRUCell),
        ("peephole_lstm", keras.layers.RNN, PeepholeLSTMCell),
        ("paper_gru", keras.layers.RNN, PaperGRUCell),
        ("keras01_lstm", keras.layers.RNN, Keras01LSTMCell),
        ("keras01_gru", keras.layers.RNN, Keras01GRUCell),
    ],
)
def test_cell_names(cell, layer_type, cell_type):
    model = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, compile=False)
    layer = rnn_layers(model)[0]
    assert type(layer) is layer_type
    assert type(layer.cell) is cell_type
    if cell == "gru":
        assert layer.cell.reset_after


def test_variable_number_of_time_steps(rng):
    model = build_model(cell="paper_gru", hidden=HIDDEN, features=FEATURES, compile=False)
    for steps in (1, 4, 9):
        x = rng.standard_normal((2, steps, FEATURES)).astype("float32")
        assert tuple(model(x).shape) == (2, steps, FEATURES)


def test_compiled_with_mse_and_rmsprop():
    model = build_model(hidden=HIDDEN, features=FEATURES, learning_rate=0.02)
    assert model.loss == "mse"
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(_numpy(model.optimizer.learning_rate)) == pytest.approx(0.02)
    assert describe(model)["learning_rate"] == 0.02
    uncompiled = build_model(hidden=HIDDEN, features=FEATURES, compile=False)
    assert getattr(uncompiled, "optimizer", None) is None
    assert "learning_rate" not in describe(uncompiled)


@pytest.mark.parametrize("cell", ["lstm", "gru", "keras01_lstm", "keras01_gru"])
def test_keras01_recipe_sets_the_optimizer_and_initialisers(cell):
    today = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, seed=0)
    authors = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, seed=0, recipe="keras01")
    assert today.optimizer.epsilon == pytest.approx(1e-7)
    assert authors.optimizer.epsilon == pytest.approx(1e-6)
    assert authors.optimizer.rho == today.optimizer.rho == pytest.approx(0.9)
    cell_01 = rnn_layers(authors)[0].cell
    assert isinstance(cell_01.kernel_initializer, GatewiseGlorotUniform)
    assert isinstance(cell_01.recurrent_initializer, GatewiseOrthogonal)
    gates = 4 if "lstm" in cell else 3
    recurrent = _numpy(cell_01.recurrent_kernel)
    for g in range(gates):  # each gate's U is its own orthogonal matrix, gain 1.1
        block = recurrent[:, g * HIDDEN:(g + 1) * HIDDEN]
        np.testing.assert_allclose(block.T @ block, 1.21 * np.eye(HIDDEN), atol=1e-5)
    if gates == 4:  # Keras 0.1.0 started the forget bias at 0; Keras 3 and 0.1.2+ at 1
        bias = _numpy(cell_01.bias)
        np.testing.assert_array_equal(bias, np.zeros_like(bias))
        assert _numpy(rnn_layers(today)[0].cell.bias)[HIDDEN:2 * HIDDEN].tolist() == [1.0] * HIDDEN


def test_recipe_refusals():
    with pytest.raises(ParameterError, match="recipe must be one of"):
        build_model(hidden=HIDDEN, features=FEATURES, recipe="keras2")
    with pytest.raises(ParameterError, match="initialisers of the cells"):
        build_model(cell="peephole_lstm", hidden=HIDDEN, features=FEATURES, recipe="keras01")


def test_seed_makes_weights_reproducible():
    def weights(seed):
        model = build_model(cell="peephole_lstm", hidden=HIDDEN, features=FEATURES, seed=seed)
        return [_numpy(w) for w in model.weights]

    first, again, other = weights(3), weights(3), weights(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


# --- parameter counts -------------------------------------------------------------------------


@pytest.mark.parametrize("cell", BUILTIN)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("input_projection", [True, False])
def test_param_count_matches_keras(cell, layers, input_projection):
    kwargs = dict(cell=cell, hidden=5, features=7, layers=layers, input_projection=input_projection)
    assert build_model(**kwargs, compile=False).count_params() == param_count(**kwargs)


def test_param_count_at_paper_size():
    d, h = 22050, 2048
    projections = (d * h + h) + (h * d + d)
    assert param_count() == projections + 4 * (2 * h * h + h) == 123_903_522
    assert param_count(cell="gru") == projections + 3 * 2 * h * h + 6 * h
    assert param_count(cell="paper_gru", input_projection=False) == (
        3 * (d * h + h * h + h) + h * d + d
    )
    assert param_count(cell="keras01_lstm") == param_count()
    assert param_count(cell="keras01_gru") == projections + 3 * (2 * h * h + h)
    with pytest.raises(ParameterError, match="built-in"):
        param_count(cell="mine")


# --- cells given in other ways ----------------------------------------------------------------


@pytest.mark.parametrize("cell", [*BUILTIN, ElmanCell])
def test_train_save_load(cell, rng, tmp_path):
    """Every cell (and a user's class written above) builds, trains a step, saves and loads."""
    x, y = _data(rng)
    model = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, layers=2, seed=0)
    before = _numpy(model(x))
    loss = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
    after = _numpy(model(x))
    assert not np.allclose(before, after), "one RMSprop step changed nothing"
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_numpy(loaded(x)), after, rtol=0, atol=1e-6)
    assert describe(loaded) == describe(model)
    expected_name = cell if isinstance(cell, str) else "gruvsynth_tests>ElmanCell"
    assert describe(loaded)["cell"] == expected_name


def test_describe_rebuilds_a_user_cell_by_registered_name():
    model = build_model(cell=ElmanCell, hidden=HIDDEN, features=FEATURES, layers=2)
    config = describe(model)
    assert config == {
        "cell": "gruvsynth_tests>ElmanCell",
        "hidden": HIDDEN,
        "features": FEATURES,
        "layers": 2,
        "input_projection": True,
        "learning_rate": 0.001,
    }
    rebuilt = build_model(**config)
    assert describe(rebuilt) == config
    assert type(rnn_layers(rebuilt)[1].cell) is ElmanCell


def test_cell_instance(rng):
    cell = ElmanCell(HIDDEN, scale=0.5, name="my_elman")
    model = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, layers=3)
    cells = [layer.cell for layer in rnn_layers(model)]
    assert cells[0] is cell
    assert all(type(c) is ElmanCell and c.scale == 0.5 for c in cells)
    assert len({id(c) for c in cells}) == 3
    assert len({c.name for c in cells}) == 3
    assert cells[1].kernel is not cells[2].kernel
    x, y = _data(rng)
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_cell_instance_of_another_size():
    with pytest.raises(ParameterError, match="4 units but hidden=6"):
        build_model(cell=PaperGRUCell(4), hidden=HIDDEN, features=FEATURES)


def test_register_cell(rng):
    register_cell("elman_test", ElmanCell)
    try:
        model = build_model(cell="elman_test", hidden=HIDDEN, features=FEATURES)
        assert describe(model)["cell"] == "elman_test"
        with pytest.raises(ParameterError, match="already registered"):
            register_cell("elman_test", ElmanCell)
        register_cell("elman_test", PaperGRUCell, overwrite=True)
        assert type(rnn_layers(build_model(cell="elman_test", hidden=4, features=4))[0].cell) is (
            PaperGRUCell
        )
    finally:
        CELLS.pop("elman_test", None)
    with pytest.raises(ParameterError, match="already registered"):
        register_cell("lstm", ElmanCell, overwrite=True)
    with pytest.raises(ParameterError, match="callable"):
        register_cell("broken", 3)


def test_factory_returning_a_recurrent_layer(rng):
    """A factory may return a keras RNN layer; it is made to return sequences, named rnn_i."""
    register_cell("simple_test", keras.layers.SimpleRNN)
    try:
        model = build_model(cell="simple_test", hidden=HIDDEN, features=FEATURES, layers=2)
    finally:
        CELLS.pop("simple_test", None)
    layers = rnn_layers(model)
    assert [type(layer) for layer in layers] == [keras.layers.SimpleRNN] * 2
    assert [layer.name for layer in layers] == ["rnn_1", "rnn_2"]
    x, _ = _data(rng)
    assert tuple(model(x).shape) == x.shape


@pytest.mark.parametrize(
    "cell, message",
    [
        ("transformer", "unknown cell 'transformer': choose one of 'lstm', 'gru'"),
        ("LSTM", "unknown cell 'LSTM'"),
        ("nopackage>Nothing", "unknown cell"),
        (int, "not a keras.layers.Layer"),
        (3, "invalid cell 3"),
        (keras.layers.LSTM(HIDDEN), "not an RNN cell"),
        (keras.layers.Dense(HIDDEN), "not an RNN cell"),
        (keras.layers.Dense, "neither an RNN cell"),
        (lambda size: PaperGRUCell(size), "could not make a cell with <lambda>(units=6)"),
    ],
)
def test_invalid_cell(cell, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        build_model(cell=cell, hidden=HIDDEN, features=FEATURES, compile=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden": 0}, "hidden"),
        ({"features": -1}, "features"),
        ({"layers": 1.5}, "layers"),
        ({"layers": True}, "layers"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_invalid_sizes(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        build_model(**{"hidden": HIDDEN, "features": FEATURES, **kwargs})


def test_describe_needs_a_recurrent_layer():
    plain = keras.Sequential([keras.Input((None, 3)), keras.layers.Dense(2)])
    with pytest.raises(ParameterError, match="no recurrent layer"):
        describe(plain)


# --- the per-time-step Dense ------------------------------------------------------------------


def test_dense_equals_time_distributed_dense(rng):
    """A Dense on (batch, time, features) is the authors' TimeDistributed(Dense), numerically."""
    model = build_model(hidden=HIDDEN, features=FEATURES, compile=False)
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
    for name in ("input_projection", "output_projection"):
        dense = model.get_layer(name)
        inputs = x if name == "input_projection" else rng.standard_normal(
            (BATCH, STEPS, HIDDEN)
        ).astype("float32")
        # Fixed time axis: Keras's TimeDistributed loops over the steps in Python.
        distributed = keras.layers.TimeDistributed(keras.layers.Dense(dense.units))
        distributed(inputs)
        distributed.layer.set_weights(dense.get_weights())
        np.testing.assert_allclose(
            _numpy(dense(inputs)), _numpy(distributed(inputs)), rtol=0, atol=1e-6
        )
        # And a symbolic model with a free time axis (the vectorised path).
        free = keras.Input((None, inputs.shape[-1]))
        td_model = keras.Model(free, distributed(free))
        np.testing.assert_allclose(
            _numpy(dense(inputs)), _numpy(td_model(inputs)), rtol=0, atol=1e-6
        )


# --- docs/cells.rst ---------------------------------------------------------------------------


def _doc_blocks(text):
    """The ``.. code-block:: python`` blocks of a reST file, dedented."""
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text, re.M):
        lines = [line[3:] for line in match.group(1).splitlines()]
        blocks.append("\n".join(lines).strip() + "\n")
    return blocks


def _documented_outputs(code):
    """The ``# ...`` comment lines right after each ``print(...)``, joined per print."""
    outputs, current = [], None
    for line in code.splitlines():
        if line.startswith("print("):
            current = []
            outputs.append(current)
        elif current is not None and line.startswith("#"):
            current.append(line[1:].strip())
        else:
            current = None
    return [" ".join(parts) for parts in outputs]


@pytest.mark.slow
def test_docs_cells_code_runs(tmp_path, monkeypatch, capsys):
    """Every Python block of docs/cells.rst runs, in order, and prints what the page shows."""
    blocks = _doc_blocks(DOCS.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_cells"}
    try:
        for block in blocks:
            exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102
    finally:
        CELLS.pop("mgu", None)
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [line for b in blocks for line in _documented_outputs(b)]
    assert (tmp_path / "mgu.keras").is_file()
    assert namespace["summary"]["num_params"] == 180

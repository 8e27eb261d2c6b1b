"""The paper's cells against plain-numpy versions of its equations, and every cell through
:func:`helpers.layer_checks.run_layer_test` (on the default backend; ``test_backends.py`` runs
the same checks on every installed backend through ``helpers/backend_check.py``, which imports
this module)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers.layer_checks import run_layer_test
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

INPUT_DIM, UNITS, BATCH, STEPS = 5, 4, 3, 7


# --- a user's own cell, written here as a user would ------------------------------------------


@keras.saving.register_keras_serializable(package="gruvsynth_tests")
class LeakyCell(keras.layers.Layer):
    """A leaky-integrator RNN cell: ``h = (1 - leak) h_prev + leak tanh(x W + h_prev U + b)``."""

    def __init__(self, units, leak=0.5, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.leak = leak
        self.state_size = [units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="kernel", initializer="glorot_uniform"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), name="recurrent_kernel", initializer="orthogonal"
        )
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")

    def call(self, inputs, states, training=None):
        h_prev = states[0]
        candidate = ops.tanh(
            ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel) + self.bias
        )
        h = (1.0 - self.leak) * h_prev + self.leak * candidate
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "leak": self.leak}


# --- the paper's equations in numpy (float64), one time step at a time ------------------------


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def peephole_lstm_reference(x, p, *, output_peeks_at_new_memory=True):
    """Eq. 6–11 of the paper; ``x`` [shape=(batch, T, n)] → h [shape=(batch, T, units)]."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, p["Uc"].shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in range(steps):
        xt = x[:, t]
        c_tilde = np.tanh(xt @ p["Wc"] + h @ p["Uc"] + p["bc"])  # (9)
        f = sigmoid(xt @ p["Wf"] + h @ p["Uf"] + p["Vf"] * c + p["bf"])  # (10)
        i = sigmoid(xt @ p["Wi"] + h @ p["Ui"] + p["Vi"] * c + p["bi"])  # (11)
        c_new = f * c + i * c_tilde  # (8)
        seen = c_new if output_peeks_at_new_memory else c
        o = sigmoid(xt @ p["Wo"] + h @ p["Uo"] + p["Vo"] * seen + p["bo"])  # (7)
        h = o * np.tanh(c_new)  # (6)
        c = c_new
        outputs.append(h)
    return np.stack(outputs, axis=1)


def paper_gru_reference(x, p):
    """Eq. 2–5 of the paper; ``x`` [shape=(batch, T, n)] → h [shape=(batch, T, units)]."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, p["U"].shape[0]))
    outputs = []
    for t in range(steps):
        xt = x[:, t]
        z = sigmoid(xt @ p["Wz"] + h @ p["Uz"] + p["bz"])  # (3)
        r = sigmoid(xt @ p["Wr"] + h @ p["Ur"] + p["br"])  # (5)
        h_tilde = np.tanh(xt @ p["W"] + r * (h @ p["U"]) + p["b"])  # (4)
        h = (1.0 - z) * h + z * h_tilde  # (2)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def theano_hard_sigmoid_np(a, slope=0.2):
    """Theano's hard sigmoid (slope 0.2); ``slope=1/6`` is Keras 3's, the control."""
    return np.clip(slope * a + 0.5, 0.0, 1.0)


def keras01_lstm_reference(x, p, *, slope=0.2):
    """Keras 0.1's LSTM step (recurrent.py of Keras 0.1.0), in float64: hard-sigmoid gates,
    no peepholes, tanh cell input and output."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, p["Uc"].shape[0]))
    c = np.zeros_like(h)
    hs = lambda a: theano_hard_sigmoid_np(a, slope)  # noqa: E731
    outputs = []
    for t in range(steps):
        xt = x[:, t]
        i = hs(xt @ p["Wi"] + h @ p["Ui"] + p["bi"])
        f = hs(xt @ p["Wf"] + h @ p["Uf"] + p["bf"])
        c = f * c + i * np.tanh(xt @ p["Wc"] + h @ p["Uc"] + p["bc"])
        o = hs(xt @ p["Wo"] + h @ p["Uo"] + p["bo"])
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def keras01_gru_reference(x, p, *, candidate=None, slope=0.2):
    """Keras 0.1's GRU step, in float64: z, r hard sigmoids; ``h~ = sigmoid(x Wh + (r h) Uh +
    bh)`` (the reset gate before the product); ``h' = z h + (1 - z) h~``.  ``candidate=np.tanh``
    is the control."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, p["Uh"].shape[0]))
    hs = lambda a: theano_hard_sigmoid_np(a, slope)  # noqa: E731
    act = sigmoid if candidate is None else candidate
    outputs = []
    for t in range(steps):
        xt = x[:, t]
        z = hs(xt @ p["Wz"] + h @ p["Uz"] + p["bz"])
        r = hs(xt @ p["Wr"] + h @ p["Ur"] + p["br"])
        hh = act(xt @ p["Wh"] + (r * h) @ p["Uh"] + p["bh"])
        h = z * h + (1.0 - z) * hh
        outputs.append(h)
    return np.stack(outputs, axis=1)


def random_params(rng, names_in, names_rec, names_vec, *, n=INPUT_DIM, u=UNITS, use_bias=True):
    """Random weights: input matrices (n, u), recurrent (u, u), vectors (u,) ("b*" zero w/o bias)."""
    p = {k: 0.6 * rng.standard_normal((n, u)) for k in names_in}
    p |= {k: 0.6 * rng.standard_normal((u, u)) for k in names_rec}
    for k in names_vec:
        biased = use_bias or not k.startswith("b")
        p[k] = 0.6 * rng.standard_normal(u) if biased else np.zeros(u)
    return p


def _sequence(cell, x):
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer(x)  # build
    return layer


def _run(layer, x):
    return keras.ops.convert_to_numpy(layer(x)).astype(np.float64)


def peephole_error(seed=0, *, use_bias=True, output_peeks_at_new_memory=True):
    """Max |PeepholeLSTMCell − numpy eq. 6–11| over a random sequence of STEPS steps."""
    rng = np.random.default_rng(seed)
    p = random_params(
        rng,
        ["Wi", "Wf", "Wc", "Wo"],
        ["Ui", "Uf", "Uc", "Uo"],
        ["bi", "bf", "bc", "bo", "Vi", "Vf", "Vo"],
        use_bias=use_bias,
    )
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    cell = PeepholeLSTMCell(UNITS, use_bias=use_bias)
    layer = _sequence(cell, x)
    cell.kernel.assign(np.concatenate([p[k] for k in ("Wi", "Wf", "Wc", "Wo")], axis=1))
    cell.recurrent_kernel.assign(np.concatenate([p[k] for k in ("Ui", "Uf", "Uc", "Uo")], axis=1))
    if use_bias:
        cell.bias.assign(np.concatenate([p[k] for k in ("bi", "bf", "bc", "bo")]))
    cell.input_gate_peephole.assign(p["Vi"])
    cell.forget_gate_peephole.assign(p["Vf"])
    cell.output_gate_peephole.assign(p["Vo"])
    expected = peephole_lstm_reference(
        x.astype(np.float64), p, output_peeks_at_new_memory=output_peeks_at_new_memory
    )
    return float(np.max(np.abs(_run(layer, x) - expected)))


def paper_gru_error(seed=0, *, use_bias=True):
    """Max |PaperGRUCell − numpy eq. 2–5| over a random sequence of STEPS steps."""
    rng = np.random.default_rng(seed)
    p = random_params(rng, ["Wz", "Wr", "W"], ["Uz", "Ur", "U"], ["bz", "br", "b"], use_bias=use_bias)
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    cell = PaperGRUCell(UNITS, use_bias=use_bias)
    layer = _sequence(cell, x)
    cell.kernel.assign(np.concatenate([p["Wz"], p["Wr"], p["W"]], axis=1))
    cell.recurrent_kernel.assign(np.concatenate([p["Uz"], p["Ur"], p["U"]], axis=1))
    if use_bias:
        cell.bias.assign(np.concatenate([p["bz"], p["br"], p["b"]]))
    expected = paper_gru_reference(x.astype(np.float64), p)
    return float(np.max(np.abs(_run(layer, x) - expected)))


def keras01_lstm_error(seed=0, **variant):
    """Max |Keras01LSTMCell − numpy Keras 0.1 LSTM| (``variant``: the reference's control)."""
    rng = np.random.default_rng(seed)
    gates = ("i", "f", "c", "o")
    p = random_params(rng, [f"W{g}" for g in gates], [f"U{g}" for g in gates],
                      [f"b{g}" for g in gates])
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    cell = Keras01LSTMCell(UNITS)
    layer = _sequence(cell, x)
    cell.kernel.assign(np.concatenate([p[f"W{g}"] for g in gates], axis=1))
    cell.recurrent_kernel.assign(np.concatenate([p[f"U{g}"] for g in gates], axis=1))
    cell.bias.assign(np.concatenate([p[f"b{g}"] for g in gates]))
    expected = keras01_lstm_reference(x.astype(np.float64), p, **variant)
    return float(np.max(np.abs(_run(layer, x) - expected)))


def keras01_gru_error(seed=0, **variant):
    """Max |Keras01GRUCell − numpy Keras 0.1 GRU| (``variant``: the reference's control)."""
    rng = np.random.default_rng(seed)
    p = random_params(rng, ["Wz", "Wr", "Wh"], ["Uz", "Ur", "Uh"], ["bz", "br", "bh"])
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    cell = Keras01GRUCell(UNITS)
    layer = _sequence(cell, x)
    cell.kernel.assign(np.concatenate([p["Wz"], p["Wr"], p["Wh"]], axis=1))
    cell.recurrent_kernel.assign(np.concatenate([p["Uz"], p["Ur"], p["Uh"]], axis=1))
    cell.bias.assign(np.concatenate([p["bz"], p["br"], p["bh"]]))
    expected = keras01_gru_reference(x.astype(np.float64), p, **variant)
    return float(np.max(np.abs(_run(layer, x) - expected)))


def keras_gru_mapping_error(seed=0):
    """Max |keras GRU(reset_after=True) − PaperGRUCell| with the weights mapped (z ↔ 1 − z)."""
    rng = np.random.default_rng(seed)
    p = random_params(rng, ["Wz", "Wr", "W"], ["Uz", "Ur", "U"], ["bz", "br", "b"])
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    paper = _sequence(PaperGRUCell(UNITS), x)
    paper.cell.kernel.assign(np.concatenate([p["Wz"], p["Wr"], p["W"]], axis=1))
    paper.cell.recurrent_kernel.assign(np.concatenate([p["Uz"], p["Ur"], p["U"]], axis=1))
    paper.cell.bias.assign(np.concatenate([p["bz"], p["br"], p["b"]]))

    gru = keras.layers.GRU(UNITS, reset_after=True, return_sequences=True)
    gru(x)
    # Keras: h = z h_prev + (1 - z) h~, so its z is the paper's 1 - z = sigmoid(-(...)).
    gru.cell.kernel.assign(np.concatenate([-p["Wz"], p["Wr"], p["W"]], axis=1))
    gru.cell.recurrent_kernel.assign(np.concatenate([-p["Uz"], p["Ur"], p["U"]], axis=1))
    # Keras adds an input bias and a recurrent bias per gate; only their sum matters for z and
    # r, so split them at random, but the candidate's recurrent bias sits inside r * (U h + b_h)
    # where the paper has none: it must be zero.
    split_z, split_r = rng.standard_normal(UNITS), rng.standard_normal(UNITS)
    input_bias = np.concatenate([-p["bz"] - split_z, p["br"] - split_r, p["b"]])
    recurrent_bias = np.concatenate([split_z, split_r, np.zeros(UNITS)])
    gru.cell.bias.assign(np.stack([input_bias, recurrent_bias]))
    return float(np.max(np.abs(_run(gru, x) - _run(paper, x))))


# --- layer-test cases: (make, expected weights, expected parameters for input_dim n, units u) --

LAYER_CASES = {
    "lstm": (lambda: keras.layers.LSTM(6), 3, lambda n, u: 4 * (n * u + u * u + u)),
    "gru": (lambda: keras.layers.GRU(6), 3, lambda n, u: 3 * (n * u + u * u) + 6 * u),
    "peephole_lstm": (lambda: PeepholeLSTMCell(6), 6, lambda n, u: 4 * (n * u + u * u + u) + 3 * u),
    "paper_gru": (lambda: PaperGRUCell(6), 3, lambda n, u: 3 * (n * u + u * u + u)),
    "keras01_lstm": (lambda: Keras01LSTMCell(6), 3, lambda n, u: 4 * (n * u + u * u + u)),
    "keras01_gru": (lambda: Keras01GRUCell(6), 3, lambda n, u: 3 * (n * u + u * u + u)),
    "user_leaky": (lambda: LeakyCell(6, leak=0.3), 3, lambda n, u: n * u + u * u + u),
}


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_bias", [True, False])
def test_peephole_lstm_matches_paper_equations(use_bias):
    assert peephole_error(1, use_bias=use_bias) <= 1e-5


def test_peephole_output_gate_uses_new_memory():
    """The reference comparison can fail: peeking at c_{t-1} in eq. 7 is visibly different."""
    assert peephole_error(1, output_peeks_at_new_memory=False) > 1e-3


@pytest.mark.parametrize("use_bias", [True, False])
def test_paper_gru_matches_paper_equations(use_bias):
    assert paper_gru_error(2, use_bias=use_bias) <= 1e-5


def test_keras_gru_equals_paper_gru_with_mapped_weights():
    assert keras_gru_mapping_error(3) <= 1e-5


def test_keras_gru_differs_from_paper_gru_with_the_same_weights(rng):
    """Without the z ↔ 1 − z mapping the two conventions disagree."""
    x = rng.standard_normal((BATCH, STEPS, INPUT_DIM)).astype("float32")
    paper = _sequence(PaperGRUCell(UNITS), x)
    gru = keras.layers.GRU(UNITS, reset_after=True, return_sequences=True)
    gru(x)
    kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in paper.cell.weights)
    gru.cell.kernel.assign(kernel)
    gru.cell.recurrent_kernel.assign(recurrent)
    gru.cell.bias.assign(np.stack([bias, np.zeros_like(bias)]))
    assert np.max(np.abs(_run(gru, x) - _run(paper, x))) > 1e-2


def test_keras01_lstm_matches_keras01_equations():
    assert keras01_lstm_error(4) <= 1e-5


def test_keras01_lstm_gates_are_theano_hard_sigmoids():
    """The comparison can fail: Keras 3's hard sigmoid (slope 1/6) is visibly different."""
    assert keras01_lstm_error(4, slope=1 / 6) > 1e-3


def test_keras01_gru_matches_keras01_equations():
    assert keras01_gru_error(5) <= 1e-5


@pytest.mark.parametrize("variant", [{"candidate": np.tanh}, {"slope": 1 / 6}],
                         ids=["tanh-candidate", "slope-1/6"])
def test_keras01_gru_controls_differ(variant):
    """A tanh candidate (the paper's eq. 4) or Keras 3's gate slope gives other numbers."""
    assert keras01_gru_error(5, **variant) > 1e-3


def test_keras01_gru_state_stays_between_0_and_1(rng):
    """With a sigmoid candidate, h is a convex mix of values in (0, 1) from h_0 = 0."""
    x = 3.0 * rng.standard_normal((BATCH, 30, INPUT_DIM)).astype("float32")
    h = _run(_sequence(Keras01GRUCell(UNITS), x), x)
    assert h.min() >= 0.0 and h.max() <= 1.0
    h3 = _run(_sequence(keras.layers.GRUCell(UNITS), x), x)
    assert h3.min() < 0.0  # today's GRU (tanh candidate) goes negative


def test_keras01_weight_layouts():
    lstm, gru = Keras01LSTMCell(4), Keras01GRUCell(4)
    lstm.build((None, 3))
    gru.build((None, 3))
    assert [tuple(w.shape) for w in lstm.weights] == [(3, 16), (4, 16), (16,)]
    assert [tuple(w.shape) for w in gru.weights] == [(3, 12), (4, 12), (12,)]
    assert [w.name for w in gru.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert not gru.reset_after


def test_gatewise_initialisers_draw_each_gate_on_its_own():
    glorot = keras.ops.convert_to_numpy(GatewiseGlorotUniform(3, seed=1)((50, 3 * 20)))
    limit = np.sqrt(6 / (50 + 20))  # per gate; Keras 3's whole-matrix limit is sqrt(6 / 110)
    assert np.abs(glorot).max() <= limit and np.abs(glorot).max() > np.sqrt(6 / 110)
    assert not np.allclose(glorot[:, :20], glorot[:, 20:40])  # different draws per gate
    ortho = keras.ops.convert_to_numpy(GatewiseOrthogonal(4, seed=2)((10, 40)))
    for g in range(4):
        block = ortho[:, 10 * g: 10 * (g + 1)]
        np.testing.assert_allclose(block.T @ block, 1.21 * np.eye(10), atol=1e-5)
    again = keras.ops.convert_to_numpy(GatewiseOrthogonal(4, seed=2)((10, 40)))
    np.testing.assert_array_equal(ortho, again)


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layer_checks(name, tmp_path):
    make, n_weights, n_params = LAYER_CASES[name]
    summary = run_layer_test(
        make,
        input_dim=8,
        expected_num_weights=n_weights,
        expected_num_params=n_params(8, 6),
        directory=tmp_path,
    )
    assert summary["units"] == 6


def test_unit_forget_bias():
    cell = PeepholeLSTMCell(3)
    cell.build((None, 2))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(cell.bias), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    )
    cell = PeepholeLSTMCell(3, unit_forget_bias=False)
    cell.build((None, 2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(cell.bias), np.zeros(12))


@pytest.mark.parametrize("cls, n_weights", [(PeepholeLSTMCell, 5), (PaperGRUCell, 2)])
def test_no_bias_has_no_bias_weight(cls, n_weights):
    cell = cls(4, use_bias=False)
    cell.build((None, 3))
    assert cell.bias is None
    assert len(cell.weights) == n_weights


@pytest.mark.parametrize("cls", [PeepholeLSTMCell, PaperGRUCell])
def test_config_serialises_initializers_and_regularizers(cls):
    cell = cls(
        4,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=7),
        recurrent_regularizer=keras.regularizers.L2(1e-4),
        recurrent_activation="hard_sigmoid",
        name="custom",
    )
    config = keras.saving.serialize_keras_object(cell)
    assert config["registered_name"] == f"gruvsynth>{cls.__name__}"
    again = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert type(again) is cls
    assert again.get_config() == cell.get_config()
    assert again.get_config()["kernel_initializer"]["config"]["stddev"] == 0.3
    assert again.get_config()["recurrent_activation"] == "hard_sigmoid"


@pytest.mark.parametrize("cls", [PeepholeLSTMCell, PaperGRUCell])
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True])
def test_invalid_units(cls, units):
    with pytest.raises(ParameterError, match="units"):
        cls(units)


@pytest.mark.parametrize("cls, n_states", [(PeepholeLSTMCell, 2), (PaperGRUCell, 1)])
def test_initial_state_and_single_step(cls, n_states):
    cell = cls(4)
    states = cell.get_initial_state(batch_size=2)
    assert [tuple(s.shape) for s in states] == [(2, 4)] * n_states
    h, new_states = cell(np.ones((2, 3), "float32"), states)
    assert tuple(h.shape) == (2, 4)
    assert len(new_states) == n_states
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(new_states[0]), keras.ops.convert_to_numpy(h)
    )

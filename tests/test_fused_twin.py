"""The fused training step (gruvsynth.models.fused_model) and benchmarks/train_step.py.

The fused twin must compute the same function and the same gradients as the plain Keras
model: checked with SGD (where a step's weight change is the gradient itself, so any error
in the hand-written backward pass shows) and with the real optimizer (RMSprop) as a loss
trajectory.  The benchmark must run at ``--config tiny`` and write JSON with a ``ratio``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gruvsynth.cells import Keras01GRUCell
from gruvsynth.errors import ParameterError
from gruvsynth.models import FusedTwin, build_model, fused_model, param_count, supports_fused

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "train_step.py"
FEATURES, HIDDEN, BATCH, STEPS = 10, 6, 4, 7

# (cell, layers, input_projection)
SHAPES = [("lstm", 1, True), ("gru", 1, True), ("lstm", 2, False), ("gru", 2, False),
          ("keras01_lstm", 1, True), ("keras01_gru", 1, True), ("keras01_gru", 2, False)]


def _pair(cell, layers, input_projection, optimizer=None, jit_compile="auto"):
    """Two identical models (same seed); the second one trained through its fused twin."""
    kwargs = dict(cell=cell, hidden=HIDDEN, features=FEATURES, layers=layers,
                  input_projection=input_projection, seed=3)
    plain, other = build_model(**kwargs), build_model(**kwargs)
    if optimizer is not None:
        plain.compile(loss="mse", optimizer=optimizer())
        other.compile(loss="mse", optimizer=optimizer())
    twin = fused_model(other, jit_compile=jit_compile)
    assert isinstance(twin, FusedTwin)
    return plain, other, twin


def _data(rng, batch=BATCH, steps=STEPS):
    x = rng.standard_normal((batch, steps, FEATURES)).astype("float32")
    y = rng.standard_normal((batch, steps, FEATURES)).astype("float32")
    return x, y


@pytest.mark.slow
@pytest.mark.parametrize("cell, layers, input_projection", SHAPES)
def test_fused_twin_has_the_same_outputs_and_gradients(cell, layers, input_projection, rng):
    plain, other, twin = _pair(cell, layers, input_projection,
                               optimizer=lambda: keras.optimizers.SGD(learning_rate=0.5))
    x, y = _data(rng)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(twin(x)),
                               keras.ops.convert_to_numpy(plain(x)), rtol=1e-5, atol=1e-6)
    before = [w.copy() for w in plain.get_weights()]
    plain.train_on_batch(x, y)
    twin.train_on_batch(x, y)
    # With SGD a step moves each weight by -lr * gradient: the gradients must agree.
    for w0, a, b, var in zip(before, plain.get_weights(), other.get_weights(), plain.weights,
                             strict=True):
        step_plain, step_twin = a - w0, b - w0
        assert np.abs(step_plain).max() > 0, var.path
        # a step is read back as (w0 - lr g) - w0: each side rounds to the weights' float32
        # spacing, so two of those are noise, not a gradient error
        rounding = 2 * float(np.spacing(np.abs(w0).max().astype(np.float32)))
        np.testing.assert_allclose(step_twin, step_plain, rtol=1e-4,
                                   atol=max(1e-5 * np.abs(step_plain).max(), rounding),
                                   err_msg=var.path)


@pytest.mark.slow
@pytest.mark.parametrize("cell, layers, input_projection", SHAPES)
def test_fused_twin_follows_the_same_loss_trajectory(cell, layers, input_projection, rng):
    plain, other, twin = _pair(cell, layers, input_projection)
    batches = [_data(rng) for _ in range(3)] + [_data(rng, batch=3)]  # a short last batch
    start = float(plain.test_on_batch(*batches[0]))
    losses_plain, losses_twin = [], []
    for i in range(8):
        x, y = batches[i % len(batches)]
        losses_plain.append(float(plain.train_on_batch(x, y)))
        losses_twin.append(float(twin.train_on_batch(x, y)))
    np.testing.assert_allclose(losses_twin, losses_plain, rtol=1e-5)
    # the optimizer is the model's own: its state and step count are the model's
    assert twin.optimizer is other.optimizer
    assert int(other.optimizer.iterations) == 8
    for a, b in zip(plain.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    x, y = batches[0]
    end = float(plain.test_on_batch(x, y))
    assert end < start  # the models did learn: a twin that trained nothing would fail
    assert float(twin.test_on_batch(x, y)) == pytest.approx(end, rel=1e-5)


@pytest.mark.slow
def test_fused_twin_without_xla_and_with_another_sequence_length(rng):
    plain, other, twin = _pair("lstm", 1, True, jit_compile=False)
    assert twin.jit_compile is False
    for steps in (STEPS, 3):
        x, y = _data(rng, steps=steps)
        assert float(twin.train_on_batch(x, y)) == pytest.approx(
            float(plain.train_on_batch(x, y)), rel=1e-5)


@pytest.mark.slow
def test_xla_twin_is_deterministic_with_op_determinism(rng):
    from gruvsynth.backend import enable_determinism

    enable_determinism()  # what training does; Keras alone would then switch XLA off
    x, y = _data(rng)
    weights = []
    for _ in range(2):
        model = build_model(cell="gru", hidden=HIDDEN, features=FEATURES, seed=5)
        twin = fused_model(model)
        assert twin.jit_compile is (keras.backend.backend() != "torch")
        for _ in range(3):
            twin.train_on_batch(x, y)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_bfloat16_twin_reaches_the_float32_loss(cell="lstm"):
    """Under ``mixed_bfloat16`` the twin computes in bfloat16 (float32 weights, float32 loss);
    after 150 steps its loss is within 2 % of the float32 model's (the issue's criterion)."""
    t = np.linspace(0.0, 60.0, 41 * 8)
    song = np.stack([np.sin(t * 0.37 * (k + 1) + k) for k in range(FEATURES)], -1)
    x = np.stack([song[i:i + 40] for i in range(0, 160, 8)]).astype("float32")
    y = np.stack([song[i + 1:i + 41] for i in range(0, 160, 8)]).astype("float32")

    def final_loss(policy):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = build_model(cell=cell, hidden=16, features=FEATURES, seed=0)
            twin = fused_model(model)
            if policy != "float32":
                assert model.layers[1].compute_dtype == "bfloat16"
                assert keras.ops.convert_to_numpy(twin(x[:2])).dtype == np.float32
            for step in range(150):
                i = (5 * step) % len(x)
                twin.train_on_batch(x[i:i + 5], y[i:i + 5])
            return float(twin.test_on_batch(x, y))
        finally:
            keras.mixed_precision.set_global_policy("float32")

    full, half = final_loss("float32"), final_loss("mixed_bfloat16")
    assert half != full  # bfloat16 did change the arithmetic
    assert abs(half - full) / full < 0.02


@pytest.mark.parametrize("cell", ["peephole_lstm", "paper_gru"])
def test_other_cells_have_no_fused_path(cell):
    model = build_model(cell=cell, hidden=HIDDEN, features=FEATURES)
    assert not supports_fused(model)
    assert fused_model(model) is None
    with pytest.raises(ParameterError, match="no fused training path"):
        FusedTwin(model)


def test_layers_that_change_the_maths_have_no_fused_path():
    model = build_model(hidden=HIDDEN, features=FEATURES, compile=False)
    assert supports_fused(model) and fused_model(model) is None  # not compiled: no optimizer
    dropout = keras.Sequential([keras.Input((None, FEATURES)), keras.layers.Dense(HIDDEN),
                                keras.layers.LSTM(HIDDEN, return_sequences=True, dropout=0.1),
                                keras.layers.Dense(FEATURES)])
    relu = keras.Sequential([keras.Input((None, FEATURES)),
                             keras.layers.GRU(HIDDEN, return_sequences=True),
                             keras.layers.Dense(FEATURES, activation="relu")])
    old_gru = keras.Sequential([keras.Input((None, FEATURES)),
                                keras.layers.GRU(HIDDEN, return_sequences=True,
                                                 reset_after=False),
                                keras.layers.Dense(FEATURES)])
    tanh_candidate = keras.Sequential([
        keras.Input((None, FEATURES)),
        keras.layers.RNN(Keras01GRUCell(HIDDEN, activation="tanh"), return_sequences=True),
        keras.layers.Dense(FEATURES)])
    assert not any(supports_fused(m) for m in (dropout, relu, old_gru, tanh_candidate))


def test_training_steps_use_the_twin_for_lstm_and_the_model_otherwise():
    from gruvsynth.distribute import local_steps

    lstm = build_model(hidden=HIDDEN, features=FEATURES)
    peephole = build_model(cell="peephole_lstm", hidden=HIDDEN, features=FEATURES)
    assert isinstance(local_steps(lstm).trainer, FusedTwin)
    assert local_steps(peephole).trainer is peephole


@pytest.mark.slow
def test_reference_uses_keras_rmsprop_hyper_parameters():
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from torch_reference import make_step
        from torch_reference import param_count as torch_params
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    model, step = make_step(features=FEATURES, hidden=HIDDEN, cell="lstm")
    group = step.optimizer.param_groups[0]
    keras_rmsprop = keras.optimizers.RMSprop()
    assert group["alpha"] == pytest.approx(keras_rmsprop.rho)
    assert group["eps"] == pytest.approx(keras_rmsprop.epsilon)
    assert group["lr"] == pytest.approx(1e-3)
    assert group["momentum"] == 0 and not group["centered"]
    # same sizes as the Keras model, plus PyTorch's second LSTM bias (4 H)
    assert torch_params(model) == param_count(hidden=HIDDEN, features=FEATURES) + 4 * HIDDEN
    x = torch.zeros((2, 5, FEATURES))
    losses = [float(step(x, x)) for _ in range(3)]
    assert losses[-1] < losses[0]


@pytest.mark.slow
@pytest.mark.process
def test_benchmark_runs_at_tiny_size_and_writes_json(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "sub" / "tiny.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--config", "tiny", "--cell", "gru", "--steps", "1",
         "--rounds", "2", "--warmup", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ratio" in done.stdout and "tiny" in done.stdout
    report = json.loads(out.read_text())
    result = report["results"][0]
    project, reference = result["project"], result["reference"]
    assert report["ratio"] == pytest.approx(
        project["ms_per_step_min"] / reference["ms_per_step_min"])
    assert report["ratio"] > 0 and result["memory_ratio"] > 0
    assert (result["config"], result["cell"], result["features"], result["hidden"]) == (
        "tiny", "gru", 2050, 128)
    assert project["params"] == param_count(cell="gru", hidden=128, features=2050)
    assert reference["params"] == project["params"]  # GRU: the same biases in both
    assert "FusedTwin" in project["step"]
    for side in (project, reference):
        assert len(side["ms_per_step_rounds"]) == 2 and side["ms_per_step_min"] > 0
        assert side["rss_peak_mb"] >= side["rss_import_mb"] > 0
        assert np.isfinite(side["last_loss"])
    assert report["machine"]["cores"] >= 1 and len(result["load_average"]) == 2


def test_benchmark_refuses_bad_arguments(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--config", "huge"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "invalid choice: 'huge'" in done.stderr
    done = subprocess.run([sys.executable, str(BENCH), "--rounds", "0"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0 and "--rounds must be at least 1" in done.stderr
    done = subprocess.run([sys.executable, str(BENCH), "--jit-compile", "off"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode != 0 and "--jit-compile needs --path fused" in done.stderr


@pytest.mark.slow
@pytest.mark.process
def test_benchmark_check_loss_compares_with_float32(tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--config", "tiny", "--check-loss", "30", "--steps", "10",
         "--precision", "bfloat16", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "relative difference" in done.stdout
    check = json.loads(out.read_text())["check_loss"]
    runs = check["runs"]
    assert check["steps"] == 30 and set(runs) == {"float32", "bfloat16"}
    assert runs["bfloat16"]["policy"] == "mixed_bfloat16" and runs["float32"]["policy"] == "float32"
    full, half = runs["float32"]["losses_per_round"], runs["bfloat16"]["losses_per_round"]
    assert len(full) == 3 and full[-1] < full[0]  # learnable batches: the loss falls
    assert half[-1] != full[-1]
    assert check["relative_difference"] == pytest.approx(abs(half[-1] - full[-1]) / full[-1])
    assert check["relative_difference"] < 0.02


@pytest.mark.slow
@pytest.mark.process
def test_benchmark_times_the_resident_feed_on_jax(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    out = tmp_path / "jax.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--config", "tiny", "--backend", "jax", "--feed",
         "resident", "--steps", "4", "--steps-per-call", "2", "--rounds", "2", "--json",
         str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())["results"][0]
    project = result["project"]
    assert project["backend"] == "jax" and project["feed"] == "resident"
    assert "ResidentSteps via FusedTwin (2 steps per call" in project["step"]
    assert project["precision"] == "float32" and result["reference"]["precision"] == "float32"
    assert np.isfinite(project["last_loss"]) and project["steps_done"] == 4 + 2 * 4

"""The resident feed (gruvsynth.resident), the precision option, and their plumbing.

The resident feed needs JAX, so its training runs happen in one fresh JAX process
(tests/helpers/resident_check.py); everything else runs in the test process (TensorFlow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from gruvsynth.errors import ParameterError
from gruvsynth.resident import DEFAULT_STEPS_PER_CALL, FEEDS, choose_feed, chunks

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.fixture(scope="module")
def corpus(tiny_corpora):
    return tiny_corpora["tone"]


@pytest.mark.slow
@pytest.mark.process
def test_resident_feed_trains_exactly_like_the_streamed_one(corpus, tmp_path):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, str(HERE / "helpers" / "resident_check.py"),
                           str(corpus), str(tmp_path)], capture_output=True, text=True,
                          timeout=900, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"

    def losses(name):
        h = report[name]["history"]
        assert [r["epoch"] for r in h] == [1, 2, 3, 4]
        return np.array([[r["loss"], r["dev_loss"]] for r in h])

    for cell in ("lstm", "peephole_lstm"):
        stream, resident = report[f"{cell}-stream"], report[f"{cell}-resident"]
        assert (stream["feed"], resident["feed"]) == ("stream", "resident")
        assert stream["precision"] == resident["precision"] == "float32"  # auto on a CPU
        assert stream["config_precision"] == "auto"
        a, b = losses(f"{cell}-stream"), losses(f"{cell}-resident")
        assert np.isfinite(a).all() and a[-1, 0] < a[0, 0]  # it learned
        np.testing.assert_allclose(b, a, rtol=1e-6)
    # resumed after 2 epochs = 4 uninterrupted epochs
    np.testing.assert_allclose(losses("resumed"), losses("lstm-resident"), rtol=1e-6)
    bf16 = report["bf16"]
    assert (bf16["precision"], bf16["config_precision"], bf16["feed"]) == (
        "bfloat16", "bfloat16", "resident")
    assert (bf16["compute_dtype"], bf16["variable_dtype"]) == ("bfloat16", "float32")
    half, full = losses("bf16"), losses("lstm-resident")
    assert not np.array_equal(half, full)  # bfloat16 did change the arithmetic
    np.testing.assert_allclose(half, full, rtol=0.05)
    assert report["policy_after"] == "float32"  # the session's policy did not leak


def test_chunks_are_the_streamed_batches():
    order = np.array([7, 3, 9, 1, 0, 4, 8])
    got = chunks(order, 3)
    assert [c.tolist() for c in got] == [[3, 7, 9], [0, 1, 4], [8]]


def test_feed_choice():
    assert choose_feed("stream", backend="jax", distributed=False, nbytes=1) == "stream"
    assert choose_feed("resident", backend="jax", distributed=False, nbytes=10**15) == "resident"
    # auto on this CPU-only machine, or on another backend: streamed
    assert choose_feed("auto", backend=keras.backend.backend(), distributed=False,
                       nbytes=1) == "stream"
    assert choose_feed("auto", backend="jax", distributed=True, nbytes=1) == "stream"
    with pytest.raises(ParameterError, match="needs the JAX backend"):
        choose_feed("resident", backend="tensorflow", distributed=False, nbytes=1)
    with pytest.raises(ParameterError, match="data-parallel"):
        choose_feed("resident", backend="jax", distributed=True, nbytes=1)
    with pytest.raises(ParameterError, match="feed must be one of"):
        choose_feed("gpu", backend="jax", distributed=False, nbytes=1)
    assert FEEDS == ("auto", "stream", "resident")


def test_resident_feed_on_tensorflow_is_refused_before_training(tiny_corpora, tmp_path):
    from gruvsynth.training import train

    if keras.backend.backend() == "jax":
        pytest.skip("the test process runs JAX")
    corpus = tiny_corpora["mini"]
    with pytest.raises(ParameterError, match="feed 'resident' needs the JAX backend"):
        train(corpus, tmp_path / "run", hidden=4, epochs=1, progress=False, feed="resident")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_precision_option_is_checked_recorded_and_resolved(tiny_run):
    from gruvsynth.backend import resolve_precision
    from gruvsynth.training import TrainConfig, open_run

    with pytest.raises(ParameterError, match="precision must be one of"):
        TrainConfig(precision="float16")
    with pytest.raises(ParameterError, match="precision must be one of"):
        resolve_precision("half")
    assert resolve_precision("auto") == "float32"  # no GPU here
    assert resolve_precision("tf32") == "tf32"
    # tiny_run: train(mini corpus, run, hidden=4, epochs=1, progress=False), made once
    run = open_run(tiny_run.path)
    assert run.config["precision"] == "auto"
    session = run.versions["sessions"][-1]
    assert (session["precision"], session["feed"]) == ("float32", "stream")


def test_a_run_from_before_the_precision_option_still_compares_equal():
    from gruvsynth.train.config import config_differences as _differences

    old = {"cell": "lstm", "hidden": 8}  # no "precision": written before the option existed
    assert not any(d.startswith("precision") for d in _differences(old, {**old,
                                                                         "precision": "auto"}))
    diffs = _differences(old, {**old, "precision": "bfloat16"})
    assert any(d.startswith("precision: 'auto' in the run, 'bfloat16' now") for d in diffs)


def test_precision_scope_sets_and_restores_policy_and_tf32():
    from gruvsynth.backend import precision_scope

    assert keras.mixed_precision.global_policy().name == "float32"
    with precision_scope("bfloat16") as p:
        assert p == "bfloat16"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        before = tf.config.experimental.tensor_float_32_execution_enabled()
        with precision_scope("float32"):
            assert not tf.config.experimental.tensor_float_32_execution_enabled()
        with precision_scope("tf32"):
            assert tf.config.experimental.tensor_float_32_execution_enabled()
        assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def test_corpus_rows_are_inputs_plus_the_next_block(tiny_corpora):
    from gruvsynth.corpus import open_corpus

    with open_corpus(tiny_corpora["mini"]) as c:
        rows = c.rows("train")
        x, y = c.clips("train")
        assert rows.shape == (len(x), c.clip_blocks + 1, c.features)
        np.testing.assert_array_equal(rows[:, :-1], np.asarray(x))
        np.testing.assert_array_equal(rows[:, 1:], np.asarray(y))
        np.testing.assert_array_equal(c.rows("train", [2, 0]), rows[[2, 0]])


def test_train_command_options(tiny_corpora, tmp_path):
    from gruvsynth.commands.train import main as train_main

    corpus = tiny_corpora["mini"]
    done = subprocess.run([sys.executable, "-m", "gruvsynth.commands.train", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for option in ("--precision", "--feed", "--steps-per-call", "tf32", "resident"):
        assert option in done.stdout
    with pytest.raises(SystemExit) as exc:
        train_main([str(corpus), "-o", str(tmp_path / "x"), "--precision", "half"])
    assert exc.value.code == 2
    if keras.backend.backend() != "jax":
        assert train_main([str(corpus), "-o", str(tmp_path / "y"), "--feed", "resident",
                           "--hidden", "4", "--epochs", "1", "--quiet"]) == 1
    assert train_main([str(corpus), "-o", str(tmp_path / "z"), "--steps-per-call", "0",
                       "--hidden", "4", "--epochs", "1", "--quiet"]) == 1


def test_benchmark_and_package_agree_on_steps_per_call():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import train_step
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert train_step.DEFAULT_STEPS_PER_CALL == DEFAULT_STEPS_PER_CALL

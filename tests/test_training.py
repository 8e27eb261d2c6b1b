"""Training: the loss falls on a tone, run folders, resume, refusals, checkpoint errors, NaN stop.

All training here is real Keras training on tiny corpora prepared from synthesised tones
(:mod:`train_helpers`), in this process and on its Keras backend.  The subprocess tests (kill -9
and resume, every cell on every backend, the command line) are in ``test_train_cli.py``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import zipfile

import numpy as np
import pytest
from helpers.train_helpers import mini_corpus

from gruvsynth.errors import (
    CheckpointError,
    GruvError,
    ParameterError,
    RunError,
    TrainingDivergedError,
)
from gruvsynth.train.runs import resolve_run_dir
from gruvsynth.train.steps import KerasSteps
from gruvsynth.training import (
    RESUMABLE_KEYS,
    TrainConfig,
    epoch_order,
    open_run,
    resume,
    train,
)


@pytest.fixture(scope="module")
def corpora(tiny_corpora):
    """The session's tone and mini corpora (conftest.py), read-only: a test that changes one
    copies it."""
    return tiny_corpora


def losses(run, key="loss"):
    return np.array([r[key] for r in run.history])


# ---------------------------------------------------------------------------------------------
# configuration


def test_train_config_defaults_are_the_papers():
    c = TrainConfig()
    assert (c.cell, c.hidden, c.layers, c.input_projection) == ("lstm", 2048, 1, True)
    assert (c.epochs, c.batch_size, c.learning_rate) == (2000, 5, 1e-3)
    assert c.backend is None
    assert "epochs" in RESUMABLE_KEYS and "hidden" not in RESUMABLE_KEYS


@pytest.mark.parametrize("bad", [
    {"hidden": 0}, {"epochs": -1}, {"batch_size": 2.5}, {"layers": True},
    {"learning_rate": 0}, {"learning_rate": float("nan")}, {"seed": "x"},
    {"checkpoint_every": 0}, {"eval_every": 0}, {"keep_checkpoints": -1},
    {"backend": "theano"}, {"input_projection": "no"}, {"cell": " "},
])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        TrainConfig().replace(**bad)


def test_seed_and_switch_checks_keep_their_wording():
    import re

    from gruvsynth.checks import check_bool, check_int

    assert TrainConfig(seed=-3).seed == -3  # any integer is a seed
    assert check_int("n", -7, minimum=None) == -7 and check_bool("x", False) is False
    for bad, message in (({"seed": True}, "seed must be an integer, got True"),
                         ({"seed": 1.5}, "seed must be an integer, got 1.5"),
                         ({"keep_best": 1}, "keep_best must be true or false, got 1"),
                         ({"input_projection": "no"},
                          "input_projection must be true or false, got 'no'")):
        with pytest.raises(ParameterError, match=f"^{re.escape(message)}$"):
            TrainConfig().replace(**bad)


def test_train_config_unknown_option_and_round_trip():
    with pytest.raises(ParameterError, match="unknown training option.*hiden"):
        TrainConfig().replace(hiden=3)
    c = TrainConfig(cell="gru", hidden=7, learning_rate=0.01, input_projection=False)
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    assert TrainConfig().replace(hidden=None).hidden == 2048  # unset options keep the value


def test_epoch_order_depends_only_on_seed_and_epoch():
    a = epoch_order(57, seed=3, epoch=5)
    assert sorted(a.tolist()) == list(range(57))
    np.testing.assert_array_equal(a, epoch_order(57, seed=3, epoch=5))
    assert not np.array_equal(a, epoch_order(57, seed=3, epoch=6))
    assert not np.array_equal(a, epoch_order(57, seed=4, epoch=5))


# ---------------------------------------------------------------------------------------------
# training


@pytest.mark.slow
def test_loss_falls_on_a_tone_and_the_run_folder_is_complete(corpora, tmp_path):
    out = tmp_path / "run"
    run = train(corpora["tone"], out, hidden=16, epochs=30, checkpoint_every=10,
                keep_checkpoints=2, progress=False)
    h = run.history
    assert [r["epoch"] for r in h] == list(range(1, 31))
    assert h[-1]["loss"] < 0.2 * h[0]["loss"], (h[0]["loss"], h[-1]["loss"])
    assert all(math.isfinite(r["dev_loss"]) and r["seconds"] > 0 for r in h)

    # config.json: resolved config, absolute corpus path, manifest hash, D, representation
    cfg = json.loads((out / "config.json").read_text())
    corpus = run.corpus
    assert cfg["corpus"] == str(corpora["tone"].resolve())
    assert cfg["corpus_hash"] == corpus.manifest_hash
    assert (cfg["features"], cfg["block"], cfg["representation"]) == (64, 32, "fft")
    assert (cfg["hidden"], cfg["epochs"], cfg["cell"], cfg["batch_size"]) == (16, 30, "lstm", 5)
    assert cfg["train_clips"] == len(corpus.clips("train")[0]) == 57
    assert cfg["backend"] in ("tensorflow", "jax", "torch")
    versions = json.loads((out / "versions.json").read_text())
    assert {"gruvsynth", "keras", "backend", "backend_version", "python", "numpy"} <= set(versions)
    assert versions["backend"] == cfg["backend"]

    # history.csv says the same as history.json
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 31))
    np.testing.assert_allclose([float(r["loss"]) for r in rows], losses(run), rtol=1e-12)
    np.testing.assert_allclose([float(r["dev_loss"]) for r in rows], losses(run, "dev_loss"),
                               rtol=1e-12)

    # checkpoints: every 10 epochs, newest 2 kept; final model = last checkpoint
    assert [p.name for p in run.checkpoints()] == ["epoch-000020.keras", "epoch-000030.keras"]
    state = dict(run.state)
    best = state.pop("best")  # the lowest dev loss's checkpoint (checkpoints/best.keras)
    assert state == {"epoch": 30, "checkpoint": "epoch-000030.keras", "final_epoch": 30}
    assert best["epoch"] == int(np.argmin(losses(run, "dev_loss"))) + 1
    assert run.finished
    final = run.load_model("final")
    x = np.asarray(corpus.clips("dev")[0][:3])
    y = np.asarray(corpus.clips("dev")[1][:3])
    pred = np.asarray(final.predict_on_batch(x))
    np.testing.assert_array_equal(pred, np.asarray(run.load_model("latest").predict_on_batch(x)))
    assert int(np.asarray(final.optimizer.iterations)) == 30 * math.ceil(57 / 5)
    assert not np.array_equal(pred, np.asarray(
        run.load_model(run.checkpoints()[0]).predict_on_batch(x)))
    # the recorded dev loss is the model's MSE on the dev clips
    dev_inputs, dev_targets = corpus.clips("dev")
    full = np.asarray(final.predict_on_batch(np.asarray(dev_inputs)))
    mse = float(np.mean((full.astype(np.float64) - np.asarray(dev_targets)) ** 2))
    assert h[-1]["dev_loss"] == pytest.approx(mse, rel=1e-4)
    assert np.mean((pred - y) ** 2) < 1.0

    s = run.summary()
    best = min(h, key=lambda r: r["dev_loss"])
    assert (s["epochs"], s["best_dev_epoch"]) == (30, best["epoch"])
    assert s["best_dev_loss"] == pytest.approx(best["dev_loss"])

    # the same call again: nothing to do; more epochs: continues from the final checkpoint
    again = train(corpora["tone"], out, hidden=16, epochs=30, checkpoint_every=10,
                  keep_checkpoints=2, progress=False)
    assert again.history == h
    more = train(corpora["tone"], out, hidden=16, epochs=32, checkpoint_every=10,
                 keep_checkpoints=2, progress=False)
    assert [r["epoch"] for r in more.history] == list(range(1, 33))
    assert more.history[:30] == h
    assert more.state["final_epoch"] == 32 and more.config["epochs"] == 32
    assert int(np.asarray(more.load_model().optimizer.iterations)) == 32 * math.ceil(57 / 5)


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(corpora, tmp_path, monkeypatch):
    """An interruption mid-epoch, resumed, gives the uninterrupted history (1e-6)."""
    kw = dict(hidden=8, epochs=6, checkpoint_every=3, progress=False)
    ref = train(corpora["tone"], tmp_path / "ref", **kw)

    real = KerasSteps.train_epoch
    calls = {"n": 0}

    def interrupted(self, batches, *, bar=None):
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 6 of the second run, after epochs 4-5 passed the checkpoint
            raise _Interrupt
        return real(self, batches, bar=bar)

    monkeypatch.setattr(KerasSteps, "train_epoch", interrupted)
    with pytest.raises(_Interrupt):
        train(corpora["tone"], tmp_path / "cut", **kw)
    cut = open_run(tmp_path / "cut")
    assert [r["epoch"] for r in cut.history] == [1, 2, 3, 4, 5]
    assert cut.state["epoch"] == 3 and not (tmp_path / "cut" / "model.keras").exists()
    monkeypatch.setattr(KerasSteps, "train_epoch", real)

    resumed = train(corpora["tone"], tmp_path / "cut", **kw)
    assert [r["epoch"] for r in resumed.history] == list(range(1, 7))
    np.testing.assert_allclose(losses(resumed), losses(ref), rtol=1e-6)
    np.testing.assert_allclose(losses(resumed, "dev_loss"), losses(ref, "dev_loss"), rtol=1e-6)
    assert len(resumed.versions["sessions"]) == 2
    assert resumed.versions["sessions"][1]["start_epoch"] == 3
    # the best checkpoint survives the interruption: same epoch and dev loss as uninterrupted
    assert resumed.best["epoch"] == ref.best["epoch"]
    assert resumed.best["dev_loss"] == pytest.approx(ref.best["dev_loss"], rel=1e-6)


@pytest.mark.slow
def test_the_best_checkpoint_is_the_epoch_with_the_lowest_dev_loss(corpora, tmp_path):
    """mini: one song to train, another tone to judge; at this rate the dev loss wanders."""
    from gruvsynth.evaluation import split_loss

    run = train(corpora["mini"], tmp_path / "run", hidden=8, epochs=11, batch_size=5,
                learning_rate=0.01, checkpoint_every=4, progress=False)
    dev = losses(run, "dev_loss")
    best = run.best
    assert best["epoch"] == int(np.argmin(dev)) + 1
    assert best["dev_loss"] == pytest.approx(dev.min(), rel=1e-6)
    assert run.summary()["best_checkpoint_epoch"] == best["epoch"]
    assert run.model_path("best") == tmp_path / "run" / "checkpoints" / "best.keras"
    model = run.load_model("best")
    with run.corpus as corpus:
        assert split_loss(model, corpus, "dev") == pytest.approx(best["dev_loss"], rel=1e-4)
        if best["epoch"] != 11:  # the dev loss rose after its lowest point
            final = split_loss(run.load_model("final"), corpus, "dev")
            assert final > best["dev_loss"]
    # not a periodic checkpoint: never pruned, never resumed from
    assert all(p.name.startswith("epoch-") for p in run.checkpoints())
    # without keep_best there is none, and asking for it is a clear error
    off = train(corpora["mini"], tmp_path / "off", hidden=8, epochs=2, batch_size=5,
                keep_best=False, progress=False)
    assert off.best is None and not (tmp_path / "off" / "checkpoints" / "best.keras").exists()
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        off.load_model("best")


@pytest.mark.slow
def test_a_different_configuration_is_refused(corpora, tmp_path):
    out = tmp_path / "run"
    train(corpora["mini"], out, hidden=8, epochs=1, progress=False)
    with pytest.raises(RunError) as err:
        train(corpora["mini"], out, hidden=12, learning_rate=0.01, epochs=1, progress=False)
    msg = str(err.value)
    assert str(out) in msg and "hidden: 8" in msg and "learning_rate" in msg
    assert "epochs" not in msg and "\n" not in msg
    with pytest.raises(RunError, match="corpus_hash"):
        train(corpora["tone"], out, hidden=8, epochs=1, progress=False)
    # more epochs are not a different configuration
    run = train(corpora["mini"], out, hidden=8, epochs=2, progress=False)
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert json.loads((out / "config.json").read_text())["hidden"] == 8


def test_a_folder_that_is_not_a_run_is_refused(corpora, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not a gruvsynth run folder.*notes.txt"):
        train(corpora["mini"], tmp_path, hidden=8, epochs=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(RunError, match="no such run folder"):
        open_run(tmp_path / "missing")
    with pytest.raises(RunError, match="config.json"):
        open_run(tmp_path)


@pytest.mark.slow
def test_damaged_and_foreign_checkpoints_give_checkpoint_errors(corpora, tmp_path):
    out = tmp_path / "run"
    run = train(corpora["mini"], out, hidden=8, epochs=2, checkpoint_every=1, progress=False)
    last = out / "checkpoints" / "epoch-000002.keras"
    good = last.read_bytes()

    # truncated (as by a full disk or a copy cut short)
    (out / "model.keras").unlink()
    last.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="epoch-000002.keras.*truncated or corrupt"):
        train(corpora["mini"], out, hidden=8, epochs=3, checkpoint_every=1, progress=False)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        run.load_model("latest")
    with pytest.raises(CheckpointError, match="no final model yet"):
        run.load_model("final")

    # a zip that is not a Keras model, an empty file, a missing file
    with zipfile.ZipFile(last, "w") as z:
        z.writestr("hello.txt", "not a model")
    with pytest.raises(CheckpointError, match="not a Keras model file"):
        run.load_model("latest")
    last.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        run.load_model(last)
    with pytest.raises(CheckpointError, match="no such model file"):
        run.load_model(tmp_path / "nothing.keras")

    # a valid checkpoint of another run (other hidden size) put in its place
    other = train(corpora["mini"], tmp_path / "other", hidden=6, epochs=1, progress=False)
    shutil.copyfile(other.checkpoints()[-1], last)
    with pytest.raises(CheckpointError, match="another run"):
        train(corpora["mini"], out, hidden=8, epochs=3, checkpoint_every=1, progress=False)

    # the good file back: training resumes
    last.write_bytes(good)
    resumed = train(corpora["mini"], out, hidden=8, epochs=3, checkpoint_every=1,
                    progress=False)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert issubclass(CheckpointError, GruvError)


@pytest.mark.slow
def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(corpora, tmp_path):
    out = tmp_path / "run"
    # one batch per epoch; RMSprop's first step with this rate throws the weights to ~1e30,
    # so epoch 2's loss overflows
    with pytest.raises(TrainingDivergedError) as err:
        train(corpora["mini"], out, hidden=8, epochs=5, checkpoint_every=1,
              learning_rate=1e30, progress=False)
    msg = str(err.value)
    assert "epoch 2" in msg and "epoch-000001.keras" in msg and "learning rate" in msg
    run = open_run(out)
    assert [r["epoch"] for r in run.history] == [1]
    assert math.isfinite(run.history[0]["loss"])
    assert [p.name for p in run.checkpoints()] == ["epoch-000001.keras"]
    model = run.load_model("latest")
    assert all(np.isfinite(np.asarray(w)).all() for w in model.get_weights())
    assert not (out / "model.keras").exists()


def test_a_corpus_without_dev_clips_trains_without_dev_loss(tmp_path, caplog):
    corpus = mini_corpus(tmp_path, dev_fraction=0.0, name="nodev")
    with caplog.at_level(logging.WARNING, logger="gruvsynth"):
        run = train(corpus, tmp_path / "run", hidden=8, epochs=2, progress=False)
    assert "no dev clips" in caplog.text
    assert all(math.isnan(r["dev_loss"]) for r in run.history)
    assert [r["dev_loss"] for r in json.loads((run.path / "history.json").read_text())] == \
        [None, None]
    assert run.summary()["best_dev_loss"] is None


def test_a_cell_class_of_ones_own_is_recorded_and_resumed(corpora, tmp_path):
    import keras

    out = tmp_path / "run"
    run = train(corpora["mini"], out, cell=keras.layers.SimpleRNNCell, hidden=6, epochs=1,
                progress=False)
    spec = run.config["cell"]
    assert spec == f"{keras.layers.SimpleRNNCell.__module__}:SimpleRNNCell"
    assert resolve_run_dir(None, spec, 6).name.endswith("-simplernncell-h6")
    again = resume(out, epochs=2, progress=False)  # the class is imported from the spec
    assert [r["epoch"] for r in again.history] == [1, 2]
    assert type(again.load_model().get_layer("rnn_1").cell).__name__ == "SimpleRNNCell"


@pytest.mark.slow
def test_eval_every(corpora, tmp_path):
    run = train(corpora["mini"], tmp_path / "run", hidden=8, epochs=4, eval_every=2,
                progress=False)
    dev = losses(run, "dev_loss")
    assert np.isnan(dev[[0, 2]]).all() and np.isfinite(dev[[1, 3]]).all()


def test_backend_cannot_change_once_keras_is_imported():
    import keras

    from gruvsynth.backend import BackendError, select_backend, versions

    current = keras.backend.backend()
    assert select_backend(None) == current
    assert select_backend(current) == current
    other = next(b for b in ("tensorflow", "jax", "torch") if b != current)
    with pytest.raises(BackendError, match=f"already imported with the '{current}'"):
        select_backend(other)
    with pytest.raises(ParameterError, match="unknown Keras backend"):
        select_backend("theano")
    v = versions()
    assert v["backend"] == current and v["keras"] == keras.__version__


# ---------------------------------------------------------------------------------------------
# hostile and unlucky data (issue 13)


def test_nan_features_are_blamed_on_the_data_not_the_learning_rate(corpora, tmp_path):
    import h5py

    from gruvsynth.corpus import CHECK_ROWS
    from gruvsynth.errors import CorpusError

    corpus = tmp_path / "corpus"
    shutil.copytree(corpora["tone"], corpus)
    with h5py.File(corpus / "corpus.h5", "r+") as h5:
        rows = h5["features"].shape[0]
        sampled = set(np.linspace(0, rows - 1, min(rows, CHECK_ROWS)).round().astype(int))
        train_song = list(h5["songs/split"].asstr()[()]).index("train")
        start = int(h5["songs/offset"][train_song])
        row = next(r for r in range(start + 1, rows) if r not in sampled)  # not checked at open
        h5["features"][row, 3] = np.nan
    with pytest.raises(CorpusError, match="hold NaN or infinite features") as excinfo:
        train(corpus, tmp_path / "run", hidden=8, epochs=1, progress=False)
    assert "not the learning rate" in str(excinfo.value)
    assert "try a lower learning rate" not in str(excinfo.value)


@pytest.mark.slow
def test_train_warns_before_the_first_epoch_about_features_without_spread(tmp_path, caplog):
    from helpers.synth import tone, write_wav

    from gruvsynth.corpus import prepare_corpus

    music = tmp_path / "tones"
    music.mkdir()
    for i, amp in enumerate((0.5, 0.5, 0.3, 0.5, 0.4)):  # one tone, 4 periods per block
        write_wav(music / f"t{i}.wav", tone(400.0, 0.3, amp=amp))
    prepare_corpus(music, tmp_path / "c", block=441, clip_blocks=4, progress=False).close()
    logger = logging.getLogger("gruvsynth")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="gruvsynth"):
            run = train(tmp_path / "c", tmp_path / "run", hidden=4, epochs=1, progress=False)
    finally:
        logger.setLevel(level)
    warned = [r for r in caplog.records if "spread below" in r.getMessage()]
    assert warned and warned[0].levelno == logging.WARNING
    assert "larger std floor" in warned[0].getMessage()
    assert run.history[0]["dev_loss"] > 100 * max(run.history[0]["loss"], 1e-6)

"""``gruvsynth train`` on the command line: help, TOML config, kill -9 and resume, backends.

The kill and backend tests run the real command in fresh Python processes (the backend is
fixed when Keras is first imported, and a SIGKILL must hit a real process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gruvsynth.commands import train as train_cmd

TESTS = Path(__file__).parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
ENV.pop("KERAS_BACKEND", None)


@pytest.fixture(scope="module")
def corpora(tiny_corpora):
    """The session's tone and mini corpora (conftest.py), read-only."""
    return tiny_corpora


def test_help_documents_every_option_with_default_and_paper_value(capsys):
    with pytest.raises(SystemExit) as exit_:
        train_cmd.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("CORPUS_DIR", "-o RUN_DIR", "--cell", "--hidden", "--layers",
                   "--no-input-projection", "--epochs", "--batch-size", "--lr", "--seed",
                   "--checkpoint-every", "--eval-every", "--keep-checkpoints", "--backend",
                   "--config", "--quiet"):
        assert option in text, option
    for phrase in ("default: 2048; paper: 2048", "default: 2000; paper: 2000",
                   "default: 5; paper's code: 5", "default: 0.001", "default: lstm",
                   "default: 1; paper: 1", "default: 10", "else tensorflow",
                   "peephole_lstm", "paper_gru"):
        assert phrase in text, phrase


def test_importing_the_command_does_not_import_keras():
    code = ("import sys, gruvsynth, gruvsynth.cli, gruvsynth.commands.train, "
            "gruvsynth.training, gruvsynth.backend; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=ENV, check=True).stdout
    assert out.strip() == "[]"


def test_read_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('title = "x"\n[train]\nhidden = 8\nlr = 0.5\nno_input_projection = true\n'
                    'out = "runs/a"\n[prepare]\nblock = 3\n')
    fields, other = train_cmd.read_config_file(path)
    assert fields == {"hidden": 8, "learning_rate": 0.5, "input_projection": False}
    assert other == {"out": "runs/a"}
    path.write_text("hidden = 8\nhiden = 9\n")
    with pytest.raises(train_cmd.ParameterError, match="unknown option.*hiden"):
        train_cmd.read_config_file(path)
    path.write_text("hidden = \n")
    with pytest.raises(train_cmd.ParameterError, match="not valid TOML"):
        train_cmd.read_config_file(path)


@pytest.mark.slow
def test_toml_config_with_command_line_override(corpora, tmp_path, capsys):
    toml = tmp_path / "gru.toml"
    toml.write_text('cell = "gru"\nhidden = 8\nepochs = 5\nlr = 0.01\nbatch_size = 5\n'
                    "checkpoint_every = 1\nno_input_projection = true\n")
    out = tmp_path / "run"
    status = train_cmd.main([str(corpora["mini"]), "-o", str(out), "--config", str(toml),
                       "--epochs", "2", "--quiet"])
    assert status == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["cell"], config["hidden"], config["learning_rate"]) == ("gru", 8, 0.01)
    assert config["epochs"] == 2  # the command line wins
    assert config["input_projection"] is False
    from gruvsynth.training import open_run

    run = open_run(out)
    assert [layer.name for layer in run.load_model().layers] == ["rnn_1", "output_projection"]
    assert capsys.readouterr().err == ""  # --quiet

    # -o alone resumes with the run's own settings and corpus; --epochs extends it
    assert train_cmd.main(["-o", str(out), "--epochs", "3", "--quiet"]) == 0
    assert [r["epoch"] for r in open_run(out).history] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["cell"] == "gru"

    # an option that differs is refused, in one line naming it
    assert train_cmd.main(["-o", str(out), "--hidden", "9", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "hidden: 8 in the run, 9 now" in err and err.count("\n") == 1

    bad = tmp_path / "bad.toml"
    bad.write_text("hidden = 8\nlearning_rat = 1\n")
    assert train_cmd.main([str(corpora["mini"]), "--config", str(bad), "-q"]) == 1
    assert "learning_rat" in capsys.readouterr().err
    assert train_cmd.main(["--quiet"]) == 1
    assert "give CORPUS_DIR" in capsys.readouterr().err


def test_backend_option_conflicting_with_imported_keras(corpora, tmp_path, capsys):
    import keras

    other = next(b for b in ("tensorflow", "jax", "torch") if b != keras.backend.backend())
    status = train_cmd.main([str(corpora["mini"]), "-o", str(tmp_path / "r"),
                       "--backend", other, "--hidden", "4", "--epochs", "1", "-q"])
    assert status == 1
    assert "already imported" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------
# kill -9 and resume


def _command(corpus: Path, out: Path) -> list[str]:
    return [str(corpus), "-o", str(out), "--hidden", "8", "--epochs", "10",
            "--checkpoint-every", "2", "--backend", "tensorflow", "--quiet"]


def _python(*args) -> list[str]:
    return [sys.executable, *map(str, args)]


def _state_epoch(out: Path) -> int:
    try:
        return json.loads((out / "checkpoints" / "state.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _history(out: Path) -> np.ndarray:
    rows = json.loads((out / "history.json").read_text())
    return np.array([[r["epoch"], r["loss"], r["dev_loss"]] for r in rows], dtype=float)


@pytest.mark.slow
@pytest.mark.process
def test_resume_after_kill_9_matches_an_uninterrupted_run(corpora, tmp_path):
    corpus = corpora["tone"]
    ref_dir, killed_dir, mid_save_dir = tmp_path / "ref", tmp_path / "killed", tmp_path / "mid"
    module = ["-m", "gruvsynth.commands.train"]

    # the uninterrupted reference runs while the other is killed
    # (output goes to files: a full pipe would stall a chatty process)
    ref_log, victim_log = open(tmp_path / "ref.log", "w+"), open(tmp_path / "victim.log", "w+")
    ref = subprocess.Popen(_python(*module, *_command(corpus, ref_dir)), env=ENV, cwd=tmp_path,
                           stdout=ref_log, stderr=subprocess.STDOUT)
    victim = subprocess.Popen(_python(*module, *_command(corpus, killed_dir)), env=ENV,
                              cwd=tmp_path, stdout=victim_log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while _state_epoch(killed_dir) < 4 and victim.poll() is None:
        assert time.monotonic() < deadline, "the training process never reached epoch 4"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL, (tmp_path / "victim.log").read_text()
    assert not (killed_dir / "model.keras").exists()
    done_at_kill = _history(killed_dir)[-1, 0]
    assert 4 <= done_at_kill < 10

    # a process killed inside a checkpoint save: the temporary file is written, not renamed
    cut = subprocess.run(_python(TESTS / "helpers" / "kill_during_save.py", "epoch-000006.keras",
                                 *_command(corpus, mid_save_dir)),
                         env=ENV, cwd=tmp_path, capture_output=True)
    assert cut.returncode == -signal.SIGKILL, cut.stderr.decode()
    leftovers = [p.name for p in (mid_save_dir / "checkpoints").iterdir()]
    assert any(name.startswith(".tmp-epoch-000006") for name in leftovers), leftovers
    assert "epoch-000006.keras" not in leftovers and _state_epoch(mid_save_dir) == 4
    assert _history(mid_save_dir)[-1, 0] == 6  # rows after the last checkpoint, to be dropped

    assert ref.wait(timeout=300) == 0, (tmp_path / "ref.log").read_text()
    ref_log.close()
    victim_log.close()
    for out in (killed_dir, mid_save_dir):  # the same command again resumes
        again = subprocess.run(_python(*module, *_command(corpus, out)), env=ENV, cwd=tmp_path,
                               capture_output=True)
        assert again.returncode == 0, again.stderr.decode()
        assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".tmp-")]

    expected = _history(ref_dir)
    assert expected[:, 0].tolist() == list(range(1, 11))
    assert expected[-1, 1] < expected[0, 1]
    for out in (killed_dir, mid_save_dir):
        got = _history(out)
        assert got[:, 0].tolist() == list(range(1, 11))
        np.testing.assert_allclose(got[:, 1:], expected[:, 1:], rtol=1e-6, atol=0)
        versions = json.loads((out / "versions.json").read_text())
        assert [s["start_epoch"] for s in versions["sessions"]][0] == 0
        assert len(versions["sessions"]) == 2


# ---------------------------------------------------------------------------------------------
# every cell on every installed backend


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
@pytest.mark.process
def test_every_cell_trains_saves_and_loads_on_every_backend(backend, corpora, tmp_path):
    if not _installed(backend):
        pytest.skip(f"{backend} is not installed")
    proc = subprocess.run(
        _python(TESTS / "helpers" / "train_backend_check.py", backend, corpora["mini"], tmp_path),
        env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["cell"]: r for r in map(json.loads, proc.stdout.strip().splitlines())}
    classes = {"lstm": "LSTMCell", "gru": "GRUCell", "keras01_lstm": "Keras01LSTMCell",
               "keras01_gru": "Keras01GRUCell", "peephole_lstm": "PeepholeLSTMCell",
               "paper_gru": "PaperGRUCell"}
    assert set(results) == set(classes), proc.stderr[-3000:]
    for cell, r in results.items():
        assert r["status"] == 0, (cell, proc.stderr[-3000:])
        assert r["keras_backend"] == r["config_backend"] == r["versions_backend"] == backend
        assert [h["epoch"] for h in r["history"]] == [1, 2]
        assert all(np.isfinite([h["loss"], h["dev_loss"]]).all() for h in r["history"])
        assert r["final_equals_latest"] and r["epoch2_differs_from_1"]
        assert r["cell_class"] == classes[cell]
        assert r["optimizer_iterations"] == 2  # one batch of 5 clips per epoch
        # --recipe keras01 (the authors' cells here): Keras 0.1's RMSprop epsilon
        keras01 = cell.startswith("keras01")
        assert r["recipe"] == ("keras01" if keras01 else "keras3")
        assert r["epsilon"] == pytest.approx(1e-6 if keras01 else 1e-7)

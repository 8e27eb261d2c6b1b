"""Hostile input (issue 13, items 1-3): a run folder runs no code, ffmpeg reads only the named
file, and the results page links nothing outside its folder.

Each test plants a payload that would leave a marker file if it ran (a module that writes it
when imported) or checks what was actually read, with the real ffmpeg, real Keras run folders
and the real ``gruvsynth`` command in a subprocess where the issue's probe used one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.synth import tone, write_wav

from gruvsynth import report
from gruvsynth.audio import inspect_file, load, probe
from gruvsynth.errors import CheckpointError, GruvError, RunError

GRUVSYNTH = shutil.which("gruvsynth") or str(Path(sys.executable).parent / "gruvsynth")


def _payload(folder: Path, module: str, marker: Path, *, cell: bool = False) -> None:
    """A module that creates ``marker`` when imported (and, with ``cell``, registers a cell)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
    if cell:
        text += (
            "import keras\n\n\n"
            f"@keras.saving.register_keras_serializable(package={module + '_pkg'!r})\n"
            "class Cell(keras.layers.SimpleRNNCell):\n"
            "    pass\n")
    (folder / f"{module}.py").write_text(text)


def _env(pythonpath: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _errors(stderr: str) -> list[str]:
    """gruvsynth's own error lines (TensorFlow's start-up notes left out)."""
    return [line for line in stderr.splitlines() if line.startswith("gruvsynth ")]


@pytest.fixture(scope="module")
def trained(tiny_run):
    """A finished run folder with the built-in LSTM cell (the session's, read-only: the tests
    work on copies)."""
    return tiny_run


def _forged(trained, tmp_path: Path, cell: str) -> Path:
    """A copy of the run whose config.json names ``cell`` (the model inside is still an LSTM)."""
    run = tmp_path / "shared-run"
    shutil.copytree(trained.path, run)
    config = json.loads((run / "config.json").read_text())
    config["cell"] = cell
    (run / "config.json").write_text(json.dumps(config))
    return run


# --------------------------------------------------------------------------------------------
# 1. a run folder can run code


def test_loading_a_run_never_imports_the_module_its_config_names(trained, tmp_path,
                                                                  monkeypatch):
    from gruvsynth.evaluation import evaluate_run
    from gruvsynth.training import load_model_file, open_run, resume

    marker = tmp_path / "PWNED"
    _payload(tmp_path / "payload", "gruv_payload_one", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "payload"))  # importable, as with PYTHONPATH=.
    run = open_run(_forged(trained, tmp_path, "gruv_payload_one:Cell"))
    model = run.load_model()
    assert model.count_params() > 0
    load_model_file(run.model_path("latest"), cell=run.config["cell"])
    evaluate_run(run, generate=False, out_dir=tmp_path / "eval", progress=False)
    with pytest.raises(RunError, match="does not import") as excinfo:
        resume(run.path, epochs=2, progress=False)
    assert "import gruv_payload_one first" in str(excinfo.value)
    assert not marker.exists() and "gruv_payload_one" not in sys.modules


@pytest.mark.process
def test_generate_from_a_shared_run_folder_runs_no_code(trained, tmp_path):
    """The issue's probe: the payload module beside the run, PYTHONPATH=., gruvsynth generate."""
    marker = tmp_path / "PWNED"
    _payload(tmp_path, "gruv_payload_two", marker)
    run = _forged(trained, tmp_path, "gruv_payload_two:Cell")
    done = subprocess.run(
        [GRUVSYNTH, "generate", str(run), "-o", str(tmp_path / "out.wav"), "--seed-blocks",
         "2", "--iterations", "1", "-q"], cwd=tmp_path, env=_env(Path(".")),
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.wav").is_file() and not marker.exists()
    done = subprocess.run([GRUVSYNTH, "train", "-o", str(run), "--epochs", "2", "-q"],
                          cwd=tmp_path, env=_env(Path(".")), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and not marker.exists()
    assert "--cell gruv_payload_two:Cell" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.process
def test_a_cell_of_ones_own_loads_only_when_its_module_is_named(tiny_corpora, tmp_path,
                                                                 monkeypatch):
    from gruvsynth.training import train

    marker = tmp_path / "imported"
    _payload(tmp_path / "mine", "gruv_user_cells", marker, cell=True)
    monkeypatch.syspath_prepend(str(tmp_path / "mine"))
    run = train(tiny_corpora["mini"], tmp_path / "run", cell="gruv_user_cells:Cell", hidden=4,
                epochs=1, progress=False)  # named by the user: imported
    assert marker.exists()
    marker.unlink()
    args = [GRUVSYNTH, "generate", str(run.path), "-o", str(tmp_path / "out.wav"),
            "--seed-blocks", "2", "--iterations", "1", "-q"]
    env = _env(tmp_path / "mine")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and not marker.exists()
    [err] = _errors(done.stderr)
    assert "not registered" in err and "--cell-module gruv_user_cells" in err
    assert "Traceback" not in done.stderr
    done = subprocess.run([*args, "--cell-module", "gruv_user_cells"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert marker.exists() and (tmp_path / "out.wav").is_file()


def test_the_api_error_for_an_unregistered_cell_speaks_python(tmp_path):
    from gruvsynth.training import import_cell_modules, load_model_file

    with pytest.raises(GruvError, match="cannot import cell module 'no_such_cells_here'"):
        import_cell_modules(["no_such_cells_here"])
    with pytest.raises(CheckpointError, match="no such model file"):
        load_model_file(tmp_path / "none.keras", cell="x:Y")


# --------------------------------------------------------------------------------------------
# 2. ffmpeg reads something other than the named file


@pytest.mark.parametrize("name", ["concat:ok.wav", "-rf.wav", "Intro:Remix.wav"])
def test_ffmpeg_reads_exactly_the_named_file(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "ok.wav", tone(440.0, 1.0))
    write_wav(tmp_path / name, tone(660.0, 0.5))  # its own content: another tone, shorter
    r = inspect_file(name)  # a relative name, as typed on a command line
    assert r.ok and r.duration == pytest.approx(0.5), r.status
    x = load(name)
    assert x.shape == (22050,)
    peak = np.argmax(np.abs(np.fft.rfft(x))) * 44100 / x.size
    assert peak == pytest.approx(660.0, abs=2.0)
    assert probe(name).duration == pytest.approx(0.5)


def test_inspect_command_with_hostile_names(tmp_path):
    write_wav(tmp_path / "ok.wav", tone(440.0, 1.0))
    for name in ("concat:ok.wav", "-rf.wav", "Intro:Remix.wav"):
        write_wav(tmp_path / name, tone(660.0, 0.5))
    done = subprocess.run([GRUVSYNTH, "inspect", "--", "concat:ok.wav", "-rf.wav",
                           "Intro:Remix.wav"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = done.stdout.splitlines()[1:-1]
    assert len(rows) == 3 and all(" 0.50 " in row and row.endswith("OK") for row in rows)


# --------------------------------------------------------------------------------------------
# 3. the page links whatever a results file says


def _results_with_link(out: Path, link: str) -> None:
    (out / "samples").mkdir(parents=True)
    (out / "samples" / "samples.json").write_text(json.dumps({"samples": [
        {"corpus": "wesnoth", "cell": "lstm", "wav": link, "seed_wav": "samples/seed.wav"}]}))


@pytest.mark.parametrize("link", [
    "javascript:alert(5)", "data:text/html,<script>alert(1)</script>", "/etc/hostname",
    "../../../../etc/hostname", "samples/../../outside.wav", "http://example.org/x.wav",
    "//example.org/x.wav", "C:\\Windows\\x.wav"])
def test_the_page_refuses_links_that_leave_the_results_folder(tmp_path, link):
    out = tmp_path / "results"
    _results_with_link(out, link)
    with pytest.raises(GruvError, match="refusing to link") as excinfo:
        report.build_report(out)
    assert "samples[0].wav" in str(excinfo.value)
    assert not (out / report.PAGE).exists()


def test_the_page_refuses_a_symlink_out_of_the_folder(tmp_path):
    out = tmp_path / "results"
    _results_with_link(out, "samples/escape.wav")
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (out / "samples" / "escape.wav").symlink_to(tmp_path / "secret.wav")
    with pytest.raises(GruvError, match="outside the results folder"):
        report.build_report(out)


def test_relative_links_inside_the_folder_are_kept_and_encoded(tmp_path):
    out = tmp_path / "results"
    _results_with_link(out, "samples/a #1?.wav")
    page = report.build_report(out)["page"].read_text()
    assert 'src="samples/a%20%231%3F.wav"' in page and 'src="samples/seed.wav"' in page

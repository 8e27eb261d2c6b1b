"""`gruvsynth generate`: files written, lengths, several seeds, options and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from helpers.synth import tone, write_wav

from gruvsynth.commands import generate as generate_cmd
from gruvsynth.corpus import prepare_corpus

BLOCK, T = 256, 8


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from gruvsynth.training import train

    root = tmp_path_factory.mktemp("gen_cli")
    music = root / "music"
    music.mkdir()
    for i in range(3):
        write_wav(music / f"s{i}.wav", tone(300.0 + 100 * i, (3 * T + 1) * BLOCK / 44100))
    prepare_corpus(music, root / "corpus", block=BLOCK, clip_blocks=T, dev_fraction=0.34,
                   progress=False).close()
    return train(root / "corpus", root / "run", hidden=8, epochs=2, batch_size=4, seed=0,
                 checkpoint_every=1, progress=False)


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        generate_cmd.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--method", "--seed-from", "--seed-index", "--seed", "--seed-blocks",
                   "--iterations", "--seconds", "--times", "--n-seeds", "--checkpoint",
                   "--quiet", "faithful", "stateful"):
        assert option in text


def test_generate_writes_wav_seed_and_json(run, tmp_path, capsys):
    out = tmp_path / "song.wav"
    rc = generate_cmd.main([str(run.path), "-o", str(out), "--seed-index", "2",
                            "--seed-blocks", "5", "--iterations", "7"])
    assert rc == 0
    sr, data = scipy.io.wavfile.read(out)
    assert sr == 44100 and data.dtype == np.int16 and data.shape == ((5 + 7) * BLOCK,)
    assert scipy.io.wavfile.read(tmp_path / "song.seed.wav")[1].shape == (5 * BLOCK,)
    info = json.loads((tmp_path / "song.json").read_text())
    assert info["method"] == "stateful" and info["iterations"] == 7
    assert info["seed"]["source"] == "dev" and info["seed_index"] == 2
    assert info["output"]["samples"] == 12 * BLOCK
    assert "song.wav" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_several_seeds_faithful_from_a_checkpoint(run, tmp_path):
    out = tmp_path / "batch.wav"
    rc = generate_cmd.main([str(run.path), "-o", str(out), "--n-seeds", "2", "--seed", "3",
                            "--seed-from", "train", "--seed-blocks", "4", "--times", "2",
                            "--method", "faithful", "--checkpoint", "latest", "--quiet"])
    assert rc == 0
    for k in (1, 2):
        assert scipy.io.wavfile.read(tmp_path / f"batch-{k}.wav")[1].shape == (8 * BLOCK,)
        info = json.loads((tmp_path / f"batch-{k}.json").read_text())
        assert info["method"] == "faithful" and info["seed_from"] == "train"
        assert info["checkpoint"] == "latest" and info["random_seed"] == 3


def test_seed_from_a_file(run, tmp_path):
    seed = write_wav(tmp_path / "mine.wav", tone(440.0, 10 * BLOCK / 44100))
    rc = generate_cmd.main([str(run.path), "-o", str(tmp_path / "f.wav"), "--seed-from",
                            str(seed), "--seed-blocks", "6", "--seconds", "0.1", "--quiet"])
    assert rc == 0
    info = json.loads((tmp_path / "f.json").read_text())
    assert info["seed"]["song"] == "mine.wav" and info["output_blocks"] == 18  # ceil(17.2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed-index", "999", "--seed-blocks", "4"], "seed index 999 is out of range"),
        (["--seed-blocks", "500"], "no dev song is at least 500 blocks long (the longest has 25)"),
        (["--seed-from", "missing.wav"], "missing.wav"),
        (["--checkpoint", "nope.keras"], "nope.keras"),
        (["--seconds", "0.001", "--seed-blocks", "4"], "shorter than the seed"),
    ],
)
def test_errors_are_one_line(run, tmp_path, capsys, args, message):
    rc = generate_cmd.main([str(run.path), "-o", str(tmp_path / "x.wav"), "--quiet", *args])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "x.wav").exists()


def test_bad_arguments(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        generate_cmd.main([str(run.path), "-o", str(tmp_path / "x.wav"), "--iterations", "3",
                           "--times", "2"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        generate_cmd.main([str(run.path), "-o", str(tmp_path / "x.wav"), "--times", "0.5"])
    rc = generate_cmd.main([str(tmp_path / "no_run"), "-o", str(tmp_path / "x.wav")])
    assert rc == 1 and "no such run folder" in capsys.readouterr().err
    rc = generate_cmd.main([str(run.path), "-o", str(tmp_path / "new" / "x.wav"),
                            "--iterations", "2", "--seed-blocks", "4", "--quiet"])
    assert rc == 0 and (tmp_path / "new" / "x.wav").is_file()  # the folder is created
    rc = generate_cmd.main([str(run.path), "-o", str(tmp_path / "x.mp3")])
    assert rc == 1 and ".wav" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# hostile and unlucky input (issue 13)


def test_outputs_beyond_the_bound_are_refused_unless_forced(run, tmp_path, capsys,
                                                            monkeypatch):
    from gruvsynth import generation
    from gruvsynth.errors import ParameterError

    rc = generate_cmd.main([str(run.path), "-o", str(tmp_path / "x.wav"), "--iterations",
                            "10000000000000"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err
    assert "years of audio" in err and "more than the limit of 4 GiB" in err
    assert "--force" in err and "force=True" not in err
    assert not (tmp_path / "x.wav").exists()
    with pytest.raises(ParameterError, match="pass force=True"):
        generation.generate_from_run(run, iterations=10**13, progress=False)
    # the bound is what is checked: lower it, and --force lets the output through
    monkeypatch.setattr(generation.sizes, "MAX_GENERATION_BYTES", 1000)
    args = [str(run.path), "-o", str(tmp_path / "y.wav"), "--seed-blocks", "4", "--quiet"]
    assert generate_cmd.main(args) == 1
    assert "more than the limit" in capsys.readouterr().err
    assert generate_cmd.main([*args, "--force"]) == 0 and (tmp_path / "y.wav").is_file()


def _copy_of_run_and_corpus(run, tmp_path):
    """A copy of the run whose config points at a copy of its corpus (the same manifest)."""
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(run.config["corpus"], corpus)
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    config = json.loads((copy / "config.json").read_text())
    config["corpus"] = str(corpus)
    (copy / "config.json").write_text(json.dumps(config))
    return copy, corpus


def test_a_corpus_prepared_again_is_not_silently_used(run, tmp_path, capsys):
    copy, corpus = _copy_of_run_and_corpus(run, tmp_path)
    out = tmp_path / "a.wav"
    assert generate_cmd.main([str(copy), "-o", str(out), "--seed-blocks", "4", "-q"]) == 0
    music = Path(run.config["corpus"]).parent / "music"
    prepare_corpus(music, corpus, block=BLOCK, clip_blocks=T, dev_fraction=0.67,
                   overwrite=True, progress=False).close()
    assert generate_cmd.main([str(copy), "-o", str(tmp_path / "b.wav"), "--seed-blocks", "4",
                              "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "not the one this run was trained on" in err and "\n" not in err
    assert "dev_clips 3 in the run, 6 now" in err and "train_clips 6 in the run, 3 now" in err
    assert not (tmp_path / "b.wav").exists()


def test_an_unwritable_output_is_refused_before_the_work(run, capsys):
    for target in ("/proc/gruvsynth-test/x.wav", "/sys/x.wav"):
        rc = generate_cmd.main([str(run.path), "-o", target, "--seed-blocks", "4", "-q"])
        err = capsys.readouterr().err.strip()
        assert rc == 1 and "cannot write here" in err and "\n" not in err


@pytest.mark.process
def test_an_unreadable_seed_file_is_a_one_line_error(run, tmp_path, unprivileged):
    import os
    import shutil
    import subprocess
    import sys

    locked = tmp_path / "locked"
    locked.mkdir()
    write_wav(locked / "mine.wav", tone(440.0, 10 * BLOCK / 44100))
    locked.chmod(0)
    exe = shutil.which("gruvsynth") or str(Path(sys.executable).parent / "gruvsynth")
    try:
        done = subprocess.run(
            [*unprivileged, exe, "generate", str(run.path), "-o", str(tmp_path / "x.wav"),
             "--seed-from", str(locked / "mine.wav"), "--seed-blocks", "4", "-q"],
            capture_output=True, text=True, timeout=300,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    finally:
        locked.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [err] = [line for line in done.stderr.splitlines() if line.startswith("gruvsynth ")]
    assert "mine.wav: cannot be read (permission denied)" in err

"""``gruvsynth prepare``: the command line, the atomic write, and the real ``wesnoth`` corpus."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.synth import chord, noise, tone, write_wav

from gruvsynth.commands.prepare import main
from gruvsynth.corpus import open_corpus, prepare_corpus
from gruvsynth.errors import CorpusError
from gruvsynth.sources import corpus_info

SMALL = ["--block", "441", "--clip-blocks", "5"]


def make_songs(folder: Path, n: int, seconds: float = 0.8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    makers = (lambda i: tone(200.0 + 50 * i, seconds), lambda i: noise(seconds, seed=i),
              lambda i: chord((150.0 + i, 300.0, 420.0), seconds))
    return [write_wav(folder / f"s{i:02d}.wav", makers[i % 3](i)) for i in range(n)]


def test_help_documents_every_option_with_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--audio-dir", "--out", "--songs", "--max-seconds", "--representation",
                   "--block", "--clip-blocks", "--dev-fraction", "--split-seed", "--stats-from",
                   "--sr", "--cache-dir", "--force", "--quiet"):
        assert option in text, option
    for default in ("default: 11025 = 0.25 s", "default: 40 = 10 s", "default: 0.2",
                    "default: fft", "default: 44100", "default: train", "wesnoth", "warzone2100"):
        assert default in text, default
    assert text.count("paper") >= 6


def test_cli_prepares_a_folder_and_prints_a_summary(tmp_path, capsys):
    make_songs(tmp_path / "music", 4)
    out = tmp_path / "corpus"
    code = main(["--audio-dir", str(tmp_path / "music"), "-o", str(out), *SMALL,
                 "--dev-fraction", "0.25", "--split-seed", "3", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open_corpus(out) as corpus:
        assert corpus.songs() == ["s00.wav", "s01.wav", "s02.wav", "s03.wav"]
        assert (len(corpus.songs("train")), len(corpus.songs("dev"))) == (3, 1)
        params = corpus.manifest["parameters"]
        assert params["split_seed"] == 3 and params["block"] == 441
        n_train = corpus.manifest["counts"]["train_clips"]
    assert "3 train, 1 dev" in captured.out
    assert f"{n_train} train" in captured.out and "D = 882" in captured.out
    assert "skipped" in captured.out and "on disk" in captured.out

    # an existing corpus is refused with a one-line error, replaced with --force
    assert main([str(tmp_path / "music"), "-o", str(out), *SMALL, "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "already exists" in err and "--force" in err and "\n" not in err
    assert main([str(tmp_path / "music"), "-o", str(out), *SMALL, "-q", "--force",
                 "--representation", "rfft", "--songs", "2", "--max-seconds", "0.5",
                 "--stats-from", "all"]) == 0
    with open_corpus(out) as corpus:
        assert corpus.features == 2 * (441 // 2 + 1) and corpus.songs() == ["s00.wav", "s01.wav"]
        assert corpus.manifest["parameters"]["max_seconds"] == 0.5
        assert corpus.manifest["stats_from"] == "all"


def test_cli_reports_skipped_files_and_errors(tmp_path, capsys):
    music = tmp_path / "music"
    make_songs(music, 2)
    (music / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert main(["--audio-dir", str(music), "-o", str(tmp_path / "c"), *SMALL, "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 of 3 files" in out and "broken.wav" in out

    assert main(["-o", str(tmp_path / "d"), "-q"]) == 1  # no source
    assert "no source" in capsys.readouterr().err
    assert main(["nonexistent", "-o", str(tmp_path / "d"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "nonexistent: no such file or folder" in err and "wesnoth" in err
    with pytest.raises(SystemExit):
        main(["wesnoth", "-o", str(tmp_path / "d"), "--representation", "dct"])
    with pytest.raises(SystemExit):
        main(["wesnoth", "-o", str(tmp_path / "d"), "--dev-fraction", "1"])
    assert not (tmp_path / "d").exists()


def test_killed_prepare_leaves_no_corpus(tmp_path):
    """SIGKILL a real ``gruvsynth prepare`` midway: no corpus; the next prepare cleans up."""
    music = tmp_path / "music"
    make_songs(music, 12, seconds=3.0)
    out = tmp_path / "corpus"
    script = "import sys; from gruvsynth.commands.prepare import main; sys.exit(main(sys.argv[1:]))"
    args = [str(music), "-o", str(out), "--block", "2205", "--clip-blocks", "10"]
    with open(tmp_path / "log.txt", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=log, stderr=log)
    partial = tmp_path / f".corpus.partial-{proc.pid}"
    deadline = time.monotonic() + 120
    try:
        # wait until it is midway: the partial file holds more than two songs' features
        while time.monotonic() < deadline and proc.poll() is None:
            data = partial / "corpus.h5"
            if data.exists() and data.stat().st_size > 2 * 51 * 4410 * 4:
                break
            time.sleep(0.005)
        assert proc.poll() is None, (tmp_path / "log.txt").read_text()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert partial.is_dir() and not (partial / "manifest.json").exists()
    with pytest.raises(CorpusError):
        open_corpus(partial)
    # the next prepare removes the leftover and writes the corpus
    corpus = prepare_corpus(music, out, block=2205, clip_blocks=10, songs=2, progress=False)
    corpus.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "log.txt", "music"]


@pytest.mark.slow
def test_real_wesnoth_corpus_two_songs(tmp_path, capsys):
    """End to end on the real music: ``gruvsynth prepare wesnoth --songs 2 --max-seconds 30``."""
    out = tmp_path / "wesnoth"
    code = main(["wesnoth", "-o", str(out), "--songs", "2", "--max-seconds", "30",
                 "--cache-dir", str(tmp_path / "cache"), "-q"])
    assert code == 0, capsys.readouterr().err
    info = corpus_info("wesnoth")
    with open_corpus(out) as corpus:
        m = corpus.manifest
        assert m["source"] == {"kind": "builtin", "name": "wesnoth",
                               "package": info["package"], "version": info["version"]}
        assert corpus.songs() == [t["file"] for t in info["tracks"][:2]]
        assert (len(corpus.songs("train")), len(corpus.songs("dev"))) == (1, 1)
        for song, track in zip(m["songs"], info["tracks"], strict=False):
            assert song["sha256"] == track["sha256"]
            # the seconds decoded: only the first 30 s of each track
            assert song["seconds"] == pytest.approx(min(30.0, track["seconds"]), abs=0.01)
            # 30 s = 120 blocks of 0.25 s -> (120 - 1) // 40 = 2 clips
            assert song["n_blocks"] == 120 and song["n_clips"] == 2
        assert corpus.features == 22050
        x, y = corpus.clips("train")
        assert x.shape == (2, 40, 22050)
        batch = np.asarray(x)
        assert np.isfinite(batch).all() and batch.std() > 0.1
        np.testing.assert_array_equal(np.asarray(y)[:, :-1], batch[:, 1:])
        # music has energy in the low bins: the mean magnitude falls with frequency
        raw = corpus.denormalise(batch[0])
        mag = np.hypot(raw[:, :11025], raw[:, 11025:])
        assert mag[:, 20:1000].mean() > 10 * mag[:, 5000:5500].mean()
    assert not (tmp_path / "cache").exists()  # the installed package was used as is
    assert json.loads((out / "manifest.json").read_text())["counts"]["files"] == 20


# --------------------------------------------------------------------------------------------
# hostile and unlucky input (issue 13)

SCRIPT = "import sys; from gruvsynth.commands.prepare import main; sys.exit(main(sys.argv[1:]))"


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gruvsynth ")]


def test_unreadable_inputs_are_one_line_errors_or_named_warnings(tmp_path, unprivileged):
    music = tmp_path / "music"
    make_songs(music, 2)
    locked = music / "locked"
    make_songs(locked, 1)
    locked.chmod(0)
    try:
        run = [*unprivileged, sys.executable, "-c", SCRIPT]
        done = subprocess.run([*run, str(locked / "s00.wav"), "-o", str(tmp_path / "a"),
                               *SMALL], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        [err] = _errors(done.stderr)
        assert "s00.wav: cannot be read (permission denied)" in err
        done = subprocess.run([*run, str(locked), "-o", str(tmp_path / "b"), *SMALL],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        [err] = _errors(done.stderr)
        assert "cannot be read (permission denied)" in err
        # a folder with an unreadable sub-folder: the rest is used, the sub-folder named
        done = subprocess.run([*run, str(music), "-o", str(tmp_path / "c"), *SMALL],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "leaving out" in done.stderr and "locked: folder cannot be read" in done.stderr
    finally:
        locked.chmod(0o755)
    with open_corpus(tmp_path / "c") as corpus:
        assert corpus.songs() == ["s00.wav", "s01.wav"]


def test_unwritable_outputs_are_one_line_errors(tmp_path, capsys, unprivileged):
    make_songs(tmp_path / "music", 2)
    for out in ("/proc/gruvsynth-test/c", "/sys/gruvsynth-test"):
        assert main([str(tmp_path / "music"), "-o", out, *SMALL, "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert "cannot write here" in err and "\n" not in err, err
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        done = subprocess.run([*unprivileged, sys.executable, "-c", SCRIPT,
                               str(tmp_path / "music"), "-o", str(readonly / "c"), *SMALL],
                              capture_output=True, text=True, timeout=120)
    finally:
        readonly.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    [err] = _errors(done.stderr)
    assert "cannot write here (Permission denied)" in err
    assert list(readonly.iterdir()) == []


def test_a_closed_pipe_ends_prepare_quietly(tmp_path):
    """``gruvsynth prepare ... | head -1``: the reader is gone before prepare prints."""
    make_songs(tmp_path / "music", 2)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "music"), "-o",
                             str(tmp_path / "c"), *SMALL], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # as head does once it has its line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert "BrokenPipeError" not in err and "Traceback" not in err and "Exception" not in err
    open_corpus(tmp_path / "c").close()  # the corpus itself was written


def test_huge_blocks_and_std_floor_on_the_command_line(tmp_path, capsys):
    make_songs(tmp_path / "music", 3)
    assert main([str(tmp_path / "music"), "-o", str(tmp_path / "c"), "--block", "1000000000",
                 "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "4 GiB" in err and "\n" not in err
    assert main([str(tmp_path / "music"), "-o", str(tmp_path / "c"), *SMALL, "--max-seconds",
                 "0.01"]) == 1
    assert "--max-seconds" in capsys.readouterr().err  # the command's words, not the API's
    assert main([str(tmp_path / "music"), "-o", str(tmp_path / "c"), *SMALL,
                 "--std-floor", "1e-3"]) == 0
    out = capsys.readouterr().out
    assert "spread" in out and "std floor 0.001" in out
    with open_corpus(tmp_path / "c") as corpus:
        assert corpus.manifest["parameters"]["std_floor"] == 1e-3
    tones = tmp_path / "tones"
    tones.mkdir()
    for i, amp in enumerate((0.5, 0.5, 0.3, 0.5, 0.4)):
        write_wav(tones / f"t{i}.wav", tone(400.0, 1.0, amp=amp))
    assert main([str(tones), "-o", str(tmp_path / "t"), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "the dev loss will be far above the train loss" in out and "--std-floor" in out

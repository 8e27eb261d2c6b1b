"""Tests of gruvsynth.audio.inspect_file and the ``gruvsynth inspect`` command."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from helpers.synth import encode, tone, write_wav

from gruvsynth.audio import inspect_file
from gruvsynth.commands import inspect as inspect_cmd

SR = 44100


@pytest.fixture(autouse=True)
def _restore_logging():
    """main() configures the "gruvsynth" logger; put it back so other tests see the default."""
    logger = logging.getLogger("gruvsynth")
    saved = logger.handlers[:], logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def _folder(tmp_path) -> Path:
    """Two good files and three bad ones."""
    d = tmp_path / "music"
    d.mkdir()
    write_wav(d / "good.wav", tone(440.0, 1.0))
    encode(d / "good.wav", d / "good.flac")
    write_wav(d / "silent.wav", np.zeros(SR))
    (d / "text.mp3").write_text("not audio at all\n" * 10)
    data = (d / "good.wav").read_bytes()
    (d / "cut.wav").write_bytes(data[: len(data) // 2])
    return d


def test_inspect_file_good_wav(tmp_path):
    x = np.concatenate([np.zeros(SR // 2, np.float32), tone(440.0, 1.5, amp=0.5)])
    both = np.stack([x, 0.5 * x], axis=1)
    path = write_wav(tmp_path / "a.wav", both, sr=SR, dtype="int24")
    r = inspect_file(path)
    assert r.ok and r.status == "OK" and r.error is None
    assert (r.format, r.codec, r.sample_rate, r.bit_depth, r.channels) == (
        "wav", "pcm_s24le", SR, 24, 2)
    assert r.duration == pytest.approx(2.0)
    assert r.peak == pytest.approx(0.5, abs=1e-6)
    assert r.silence == pytest.approx(2 / 8)  # the first two of eight 0.25 s blocks
    assert r.clipped == 0.0


def test_inspect_file_measures_clipping(tmp_path):
    x = tone(440.0, 1.0, amp=1.6)  # the writer clips it to full scale
    path = write_wav(tmp_path / "hot.wav", x)
    ints = scipy.io.wavfile.read(path)[1]
    expected = np.count_nonzero(np.abs(ints / 32768.0) >= 0.999) / ints.size
    r = inspect_file(path)
    assert r.ok
    assert 0.3 < expected < 0.7
    assert r.clipped == pytest.approx(expected)
    assert r.peak == np.max(np.abs(ints / 32768.0))


def test_inspect_file_clipping_of_8_bit_files(tmp_path):
    path = write_wav(tmp_path / "hot8.wav", tone(440.0, 1.0, amp=1.6), dtype="uint8")
    r = inspect_file(path)
    assert r.bit_depth == 8
    assert 0.3 < r.clipped < 0.7  # full scale of 8-bit is 127/128 < 0.999


def test_inspect_file_keeps_the_files_rate_unless_asked(tmp_path):
    path = encode(write_wav(tmp_path / "s.wav", tone(440.0, 1.0)), tmp_path / "s.opus")
    assert inspect_file(path).sample_rate == 48000
    r = inspect_file(path, sr=22050)
    assert r.ok and r.duration == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("silent.wav", "SilentAudioError", "silent"),
        ("text.mp3", "NotAudioError", "not an audio file"),
        ("cut.wav", "CorruptAudioError", "corrupt"),
        ("missing.wav", "MissingFileError", "no such file"),
    ],
)
def test_inspect_file_reports_problems_without_raising(tmp_path, name, error, words):
    r = inspect_file(_folder(tmp_path) / name)
    assert not r.ok
    assert r.error == error
    assert words in r.status and "\n" not in r.status
    row = r.as_dict()
    assert row["status"] == r.status and isinstance(row["path"], str)
    json.dumps(row, allow_nan=False)


def test_inspect_file_of_nan_wav_reports_finite_numbers(tmp_path):
    x = tone(440.0, 0.5).astype(np.float64)
    x[10] = np.nan
    r = inspect_file(write_wav(tmp_path / "nan.wav", x, dtype="float32"))
    assert r.error == "NonFiniteAudioError"
    assert r.peak == pytest.approx(0.5, abs=1e-6)
    json.dumps(r.as_dict(), allow_nan=False)


def test_main_prints_a_table_and_fails_on_problems(tmp_path, capsys):
    d = _folder(tmp_path)
    out_json = tmp_path / "report" / "inspect.json"
    assert inspect_cmd.main([str(d), str(tmp_path / "gone.wav"), "--json", str(out_json)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["file", "format", "rate", "bits", "ch", "seconds", "peak",
                              "silence", "clipped", "status"]
    rows = {Path(line.split()[0]).name: line for line in out[1:-1]}
    assert set(rows) == {"cut.wav", "good.flac", "good.wav", "silent.wav", "text.mp3", "gone.wav"}
    assert rows["good.wav"].split()[1:5] == ["wav", "44100", "16", "1"]
    assert rows["good.wav"].endswith("OK") and rows["good.flac"].endswith("OK")
    assert "silent" in rows["silent.wav"] and "not an audio file" in rows["text.mp3"]
    assert "corrupt" in rows["cut.wav"] and "no such file" in rows["gone.wav"]
    assert out[-1] == "6 files, 2 OK, 4 with problems"
    report = json.loads(out_json.read_text())
    assert report["summary"] == {"files": 6, "ok": 2, "problems": 4}
    assert len(report["files"]) == 6
    assert list(out_json.parent.iterdir()) == [out_json]  # no temporary file left


def test_main_exits_0_when_all_files_are_ok(tmp_path, capsys):
    d = tmp_path / "ok"
    d.mkdir()
    write_wav(d / "a.wav", tone(440.0, 0.5))
    (d / "sub").mkdir()
    write_wav(d / "sub" / "b.wav", tone(220.0, 0.5))
    assert inspect_cmd.main([str(d)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 files, 2 OK, 0 with problems"
    assert inspect_cmd.main([str(d), "--no-recursive"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 files, 1 OK, 0 with problems"


def test_main_shows_progress_for_many_files_unless_quiet(tmp_path, capsys):
    for k in range(inspect_cmd.PROGRESS_MIN_FILES):
        write_wav(tmp_path / f"{k}.wav", tone(200.0 + 50 * k, 0.1))
    assert inspect_cmd.main([str(tmp_path)]) == 0
    assert "inspecting" in capsys.readouterr().err
    assert inspect_cmd.main([str(tmp_path), "--quiet"]) == 0
    assert "inspecting" not in capsys.readouterr().err


def test_main_with_no_audio_files_is_an_error(tmp_path, capsys):
    (tmp_path / "readme.txt").write_text("hi")
    assert inspect_cmd.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no audio files found" in err and len(err.strip().splitlines()) == 1


def test_help_documents_columns_and_exit_status(capsys):
    with pytest.raises(SystemExit) as excinfo:
        inspect_cmd.main(["--help"])
    assert excinfo.value.code == 0
    text = capsys.readouterr().out
    for words in ["--json", "--sr", "--no-recursive", "exit status", "silence", "clipped",
                  "2**-15", "0.999"]:
        assert words in text


def test_console_command(tmp_path):
    exe = shutil.which("gruvsynth") or str(Path(sys.executable).parent / "gruvsynth")
    good = write_wav(tmp_path / "good.wav", tone(440.0, 0.5))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    proc = subprocess.run([exe, "inspect", str(good), str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[-1] == "2 files, 1 OK, 1 with problems"
    assert "empty file" in proc.stdout


# --------------------------------------------------------------------------------------------
# hostile and unlucky input (issue 13)


def _gruvsynth() -> str:
    return shutil.which("gruvsynth") or str(Path(sys.executable).parent / "gruvsynth")


def test_a_fifo_is_not_an_empty_file(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    r = inspect_file(fifo)  # returns at once: the pipe is never opened
    assert r.error == "NotAudioError" and "named pipe (FIFO)" in r.status
    assert "empty" not in r.status


def test_a_newline_in_a_name_keeps_the_row_whole(tmp_path, capsys):
    write_wav(tmp_path / "two\nlines.wav", tone(440.0, 0.5))
    write_wav(tmp_path / "esc\x1b[31m.wav", tone(440.0, 0.5))
    out_json = tmp_path / "r.json"
    assert inspect_cmd.main([str(tmp_path), "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[-1] == "2 files, 2 OK, 0 with problems"
    assert "two\\nlines.wav" in lines[2] and lines[2].endswith("OK")
    assert "esc\\x1b[31m.wav" in lines[1] and "\x1b" not in "".join(lines)
    names = {Path(f["path"]).name for f in json.loads(out_json.read_text())["files"]}
    assert names == {"two\nlines.wav", "esc\x1b[31m.wav"}  # the JSON keeps the real names


def test_unreadable_files_and_folders_are_rows_not_tracebacks(tmp_path, unprivileged):
    music = tmp_path / "music"
    music.mkdir()
    write_wav(music / "good.wav", tone(440.0, 0.5))
    locked = music / "locked"
    locked.mkdir()
    write_wav(locked / "a.wav", tone(440.0, 0.5))
    only = tmp_path / "only"
    only.mkdir()
    (only / "locked").mkdir()
    unreadable = tmp_path / "unreadable.wav"
    write_wav(unreadable, tone(440.0, 0.5))
    for p in (locked, only / "locked", unreadable):
        p.chmod(0)
    try:
        def inspect(*paths):
            return subprocess.run([*unprivileged, _gruvsynth(), "inspect", *map(str, paths)],
                                  capture_output=True, text=True, timeout=120)

        done = inspect(locked / "a.wav", unreadable)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        rows = done.stdout.splitlines()
        assert all("cannot be read (permission denied)" in row for row in rows[1:3]), rows
        done = inspect(music)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "good.wav" in done.stdout and "folder cannot be read (permission denied)" in \
            done.stdout and done.stdout.splitlines()[-1] == "2 files, 1 OK, 1 with problems"
        done = inspect(only)  # not "no audio files found": the permission problem is named
        assert done.returncode == 1 and "no audio files found" not in done.stderr
        assert "locked" in done.stdout and "permission denied" in done.stdout
    finally:
        for p in (locked, only / "locked", unreadable):
            p.chmod(0o755)


def test_an_unwritable_json_is_refused_before_the_work(tmp_path, capsys):
    write_wav(tmp_path / "a.wav", tone(440.0, 0.5))
    for target in ("/proc/gruvsynth-test/r.json", "/sys/r.json"):
        assert inspect_cmd.main([str(tmp_path / "a.wav"), "--json", target]) == 1
        captured = capsys.readouterr()
        assert "cannot write here" in captured.err and captured.out == ""

"""Noise-likeness (gruvsynth.noise): the measure on known signals, the four calibration anchors
on excerpts of both built-in corpora, the "too quiet" outcome, and `gruvsynth evaluate --audio`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal
from helpers.synth import SR, chord, tone, write_wav

from gruvsynth import noise
from gruvsynth.commands import evaluate as evaluate_cmd
from gruvsynth.corpus import prepare_corpus
from gruvsynth.errors import ParameterError
from gruvsynth.features import to_audio

# --------------------------------------------------------------------------- the measure


def test_noise_of_any_colour_and_level_is_near_zero_and_tones_are_far(rng):
    white = rng.standard_normal(10 * SR)
    red = scipy.signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal(10 * SR))  # -6 dB/oct
    for x in (white, 0.001 * white, red):
        assert noise.noise_distance(x) < 0.02
    # the score is a ratio of powers: the level does not count
    assert noise.noise_distance(1e-4 * white) == pytest.approx(noise.noise_distance(white))
    assert noise.noise_distance(chord(seconds=10.0)) > 1.0
    assert noise.noise_distance(tone(440.0, 5.0)) > 1.0
    steady = noise.synthetic_chord(10.0, rms=0.2)
    assert noise.rms_dbfs(steady) == pytest.approx(20 * math.log10(0.2), abs=0.01)
    assert noise.noise_distance(steady) > 1.0
    # noise switched on and off every 0.25 s is not stationary noise
    gated = white * (np.arange(white.size) // 11025 % 2)
    assert noise.noise_distance(gated) > 0.3


def test_noise_distance_refuses_audio_too_short_and_is_nan_for_silence():
    with pytest.raises(ParameterError, match="too short"):
        noise.noise_distance(np.ones(SR))
    assert math.isnan(noise.noise_distance(np.zeros(2 * SR)))
    assert noise.rms_dbfs(np.zeros(10)) == float("-inf")
    with pytest.raises(ParameterError, match="one-dimensional"):
        noise.noise_distance(np.zeros((2, SR)))


# --------------------------------------------------------------------------- calibration


@pytest.fixture(scope="module", params=["wesnoth", "warzone2100"])
def builtin(request, tmp_path_factory):
    """An excerpt of a built-in corpus (3 songs x 25 s: 2 train, 1 dev song = 2 dev clips)."""
    out = tmp_path_factory.mktemp(request.param) / "corpus"
    corpus = prepare_corpus(request.param, out, songs=3, max_seconds=25, start_seconds=30,
                            representation="rfft", progress=False)
    yield corpus, noise.calibrate(corpus, seed=0)
    corpus.close()


def test_the_four_anchors_are_separated_on_each_builtin_corpus(builtin):
    corpus, cal = builtin
    shown = noise.format_calibration(cal)
    a = cal["anchors"]
    assert cal["separated"], shown
    assert a["music"]["verdict"] == a["chord"]["verdict"] == noise.NOT_NOISE_LIKE, shown
    assert a["corpus_noise"]["verdict"] == a["white_noise"]["verdict"] == noise.NOISE_LIKE, shown
    # the threshold is the geometric mean of the music and the higher noise anchor
    high = max(a["corpus_noise"]["score"], a["white_noise"]["score"])
    assert cal["threshold"] == pytest.approx(math.sqrt(a["music"]["score"] * high))
    # measured here: margins of x5.7-x6.5 (music and corpus-shaped noise); ask for x2
    assert min(cal["margins"].values()) > 2.0, shown
    assert a["music"]["clips"] == 2 and a["music"]["noise_like_clips"] == 0
    # reported anchors: phase-randomised music and near-silence, "too quiet to judge"
    assert a["phase_randomised"]["score"] is not None
    assert a["near_silence"]["verdict"] == noise.TOO_QUIET
    assert a["near_silence"]["noise_like"] is None
    assert a["near_silence"]["rms_dbfs"] == pytest.approx(noise.SILENCE_ANCHOR_DBFS, abs=0.5)
    json.dumps(cal, allow_nan=False)
    # fresh draws (another seed) get the anchors' verdicts
    rng = np.random.default_rng(99)
    shaped = noise.corpus_shaped_noise(corpus.mean, corpus.std, 40, representation="rfft",
                                       block=corpus.block, rng=rng)
    assert noise.noise_verdict(shaped, cal)["noise_like"] is True
    music = to_audio(corpus.denormalise(corpus.clips("dev")[0][0]), representation="rfft")
    assert noise.noise_verdict(music, cal)["noise_like"] is False


def test_too_quiet_to_judge_is_a_third_outcome_with_its_loudness(builtin):
    corpus, cal = builtin
    music = to_audio(corpus.denormalise(corpus.clips("dev")[0][1]), representation="rfft")
    loud = noise.noise_verdict(music, cal)
    scale = 10 ** ((noise.QUIET_DBFS - 10 - loud["rms_dbfs"]) / 20)
    quiet = noise.noise_verdict(scale * music, cal)
    assert quiet["verdict"] == noise.TOO_QUIET and quiet["noise_like"] is None
    assert quiet["rms_dbfs"] == pytest.approx(noise.QUIET_DBFS - 10, abs=1e-6)
    assert quiet["noise_distance"] == pytest.approx(loud["noise_distance"], rel=1e-6)
    short = noise.noise_verdict(music[: SR], cal)
    assert short["verdict"] == noise.TOO_SHORT and short["noise_like"] is None
    # a calibration that does not separate its anchors judges nothing
    broken = {**cal, "separated": False}
    assert noise.noise_verdict(music, broken)["verdict"] == noise.UNCALIBRATED
    assert noise.is_noise_like(0.0, broken) is None


# --------------------------------------------------------------------------- evaluate --audio


def test_evaluate_audio_prints_and_writes_every_files_verdict(builtin, tmp_path, capsys):
    corpus, cal = builtin
    rng = np.random.default_rng(5)
    dev = to_audio(corpus.denormalise(corpus.clips("dev")[0][0]), representation="rfft")
    files = {
        "music.wav": dev,
        "white.wav": 0.1 * rng.standard_normal(10 * SR),
        "chord.wav": chord(seconds=10.0, amp=0.4),
        "quiet.wav": 10 ** (-70 / 20) * rng.standard_normal(10 * SR),
    }
    paths = [write_wav(tmp_path / name, np.clip(x, -1, 1)) for name, x in files.items()]
    out = tmp_path / "verdicts.json"
    rc = evaluate_cmd.main(["--audio", *map(str, paths), "--corpus", str(corpus.path),
                            "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "noise-likeness" in text and "threshold" in text and "too quiet to judge" in text
    rows = json.loads(out.read_text())
    assert [r["file"] for r in rows] == [str(p) for p in paths]
    got = {r["file"].rsplit("/", 1)[1]: r for r in rows}
    assert got["music.wav"]["noise_like"] is False
    assert got["white.wav"]["noise_like"] is True
    assert got["chord.wav"]["noise_like"] is False
    assert got["quiet.wav"]["noise_like"] is None
    assert got["quiet.wav"]["verdict"] == "too quiet to judge"
    assert got["quiet.wav"]["rms_dbfs"] == pytest.approx(-70, abs=0.5)
    for r in rows:
        assert {"file", "noise_like", "verdict", "flatness", "noise_distance",
                "noise_threshold", "shape_distance_db", "log_spectral_distance_db",
                "outside_band", "rms", "rms_dbfs", "seconds"} <= set(r)
    assert got["white.wav"]["flatness"] > 0.9 > got["chord.wav"]["flatness"]
    # the dev music's own spectrum is much nearer the dev set's than noise's or a chord's
    assert got["music.wav"]["shape_distance_db"] < 3.0
    assert got["music.wav"]["shape_distance_db"] * 5 < min(got["white.wav"]["shape_distance_db"],
                                                           got["chord.wav"]["shape_distance_db"])


def test_evaluate_audio_refuses_bad_input_with_one_line(builtin, tmp_path, capsys):
    corpus, _ = builtin
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n")
    good = write_wav(tmp_path / "tone.wav", tone(440.0, 3.0))
    cases = [
        (["--audio", str(good), str(bad), "--corpus", str(corpus.path)], "notes.wav"),
        (["--audio", str(tmp_path / "missing.wav"), "--corpus", str(corpus.path)],
         "missing.wav"),
        (["--audio", str(good)], "--corpus"),
        (["--audio", str(good), "--corpus", str(tmp_path / "nope")], "nope"),
        ([str(tmp_path), "--audio", str(good), "--corpus", str(corpus.path)], "not both"),
        ([], "RUN_DIR"),
    ]
    for argv, needle in cases:
        assert evaluate_cmd.main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, (argv, err)

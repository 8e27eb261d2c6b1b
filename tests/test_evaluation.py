"""Evaluation: metrics on known signals, loop detection, novelty, the dev pass (loss and
Figure 3) against direct computations, and evaluate_run / `gruvsynth evaluate` on a real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers.synth import chord, noise, tone, write_wav

from gruvsynth.commands import evaluate as evaluate_cmd
from gruvsynth.corpus import prepare_corpus
from gruvsynth.errors import ParameterError
from gruvsynth.evaluation import (
    audio_metrics,
    baseline_losses,
    best_baseline,
    clipped_share,
    detect_loop,
    dev_pass,
    energy_outside_band,
    evaluate_run,
    format_table,
    load_figure3,
    log_spectral_distance,
    mean_spectrum,
    nearest_distances,
    novelty,
    rms,
    save_figure3,
    skill,
    spectral_flatness,
    split_loss,
)
from gruvsynth.features import bin_frequencies, magnitudes, to_features

SR = 44100
BLOCK, T = 256, 8


# --------------------------------------------------------------------------- audio metrics


def test_spectral_flatness_of_noise_tone_and_silence(rng):
    assert spectral_flatness(rng.standard_normal(SR)) > 0.9
    assert spectral_flatness(noise(1.0)) > 0.9
    assert spectral_flatness(tone(440.0, 1.0)) < 1e-3
    assert spectral_flatness(chord(seconds=1.0)) < 1e-3
    # noise is flatter than a tone drowned in a little noise, which is flatter than the tone
    mixed = tone(440.0, 1.0) + noise(1.0, amp=0.05)
    assert spectral_flatness(tone(440.0, 1.0)) < spectral_flatness(mixed) < spectral_flatness(
        noise(1.0))
    assert math.isnan(spectral_flatness(np.zeros(SR)))
    # a silent frame is skipped, not counted as flat
    half = np.concatenate([np.zeros(11025), tone(440.0, 11025 / SR)])
    assert spectral_flatness(half) < 1e-3


def test_spectral_flatness_of_magnitudes():
    white = magnitudes(to_features(noise(2.0), block=2048))
    sine = magnitudes(to_features(tone(440.0, 2.0), block=2048))
    # a single periodogram of white noise: exponential power per bin, flatness exp(-gamma)
    assert spectral_flatness(white) == pytest.approx(math.exp(-0.5772), abs=0.03)
    assert spectral_flatness(sine) < 0.01
    assert spectral_flatness(np.ones((3, 100))) == pytest.approx(1.0)


def test_energy_outside_band():
    assert energy_outside_band(tone(5000.0, 1.0)) < 1e-3
    assert energy_outside_band(tone(1000.0, 1.0)) > 0.999
    assert energy_outside_band(tone(1000.0, 1.0), band=(500, 1500)) < 1e-3
    # half the power inside: equal-amplitude tones inside and outside
    both = tone(5000.0, 1.0, amp=0.3) + tone(9000.0, 1.0, amp=0.3)
    assert energy_outside_band(both) == pytest.approx(0.5, abs=0.01)
    # white noise: about the share of the spectrum outside 4-7 kHz
    assert energy_outside_band(noise(2.0)) == pytest.approx(1 - 3000 / 22050, abs=0.02)
    # magnitudes with their bin frequencies
    freqs = bin_frequencies(2048)
    mags = magnitudes(to_features(tone(5000.0, 1.0), block=2048))
    assert energy_outside_band(mags, freqs=freqs) < 0.05
    assert math.isnan(energy_outside_band(np.zeros(100)))
    with pytest.raises(ParameterError, match="band"):
        energy_outside_band(tone(440.0, 0.1), band=(7000, 4000))


def test_log_spectral_distance():
    audio = tone(440.0, 2.0) + noise(2.0, amp=0.01)
    reference = mean_spectrum(audio, block=11025)
    assert reference.shape == (11025 // 2 + 1,)
    assert log_spectral_distance(audio, reference) == pytest.approx(0.0, abs=1e-6)
    # half the amplitude is 20 log10(2) = 6.02 dB away in every bin
    assert log_spectral_distance(0.5 * audio, reference) == pytest.approx(6.0206, abs=1e-3)
    assert log_spectral_distance(noise(2.0), reference) > 20
    with pytest.raises(ParameterError, match="bins"):
        log_spectral_distance(audio, reference, block=1024)


def test_level_matched_spectral_distance_ignores_the_level_and_sees_the_shape():
    audio = tone(440.0, 2.0) + noise(2.0, amp=0.01)
    reference = mean_spectrum(audio, block=11025)
    for gain in (1.0, 0.5, 1e-3, 8.0):
        assert log_spectral_distance(gain * audio, reference, match_level=True) == \
            pytest.approx(0.0, abs=1e-3)  # float32 spectra
    other = tone(440.0, 2.0) + noise(2.0, amp=0.05)  # more noise: another shape
    shape = log_spectral_distance(other, reference, match_level=True)
    assert shape > 5
    assert log_spectral_distance(0.01 * other, reference, match_level=True) == \
        pytest.approx(shape, rel=1e-4)
    assert math.isnan(log_spectral_distance(np.zeros(SR), reference, match_level=True))
    metrics = audio_metrics(0.25 * audio, reference=reference)
    assert metrics["log_spectral_distance_db"] == pytest.approx(12.04, abs=0.01)
    assert metrics["shape_distance_db"] == pytest.approx(0.0, abs=1e-3)


def test_rms_and_clipped_share():
    assert rms(tone(441.0, 1.0, amp=0.5)) == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)
    x = np.zeros(1000)
    x[:30] = 1.5
    x[30:40] = -1.2
    x[40:50] = 1.0  # full scale itself is not clipped
    assert clipped_share(x) == pytest.approx(0.04)
    with pytest.raises(ParameterError, match="NaN"):
        rms(np.array([0.0, np.nan]))


# --------------------------------------------------------------------------- loops


def _random_blocks(rng, n, d=64):
    return [rng.standard_normal(d) for _ in range(n)]


def test_a_constructed_loop_is_found_where_it_starts(rng):
    seed_blocks = 40
    start, period = 57, 3
    seq = _random_blocks(rng, start)
    pattern = _random_blocks(rng, period)
    seq += [pattern[k % period] + 0.01 * rng.standard_normal(64) for k in range(30)]
    loop = detect_loop(np.array(seq), seed_blocks=seed_blocks)
    assert loop["looped"] and loop["start"] == start and loop["period"] == period
    assert loop["iteration"] == start - seed_blocks + 1 == 18
    assert loop["loop_free_blocks"] == start
    assert loop["loop_free_times"] == pytest.approx(start / seed_blocks)


def test_stuck_output_is_a_period_one_loop(rng):
    seq = _random_blocks(rng, 45) + [np.full(64, 2.0)] * 20
    loop = detect_loop(np.array(seq), seed_blocks=40)
    assert loop["looped"] and loop["period"] == 1 and loop["start"] == 45
    assert loop["iteration"] == 6


def test_drift_and_escaped_loops_are_not_loops(rng):
    # a slow drift: every block is very close to the previous one, but it keeps moving
    v = rng.standard_normal(64)
    drift = []
    for _ in range(120):
        v = v + 0.08 * np.linalg.norm(v) / 8 * rng.standard_normal(64)
        drift.append(v.copy())
    drift = np.array(drift)
    unit = drift / np.linalg.norm(drift, axis=1, keepdims=True)
    assert np.min(np.sum(unit[1:] * unit[:-1], axis=1)) > 0.99  # neighbours look identical
    loop = detect_loop(drift, seed_blocks=40)
    assert not loop["looped"] and loop["start"] is None
    assert loop["loop_free_times"] == pytest.approx(120 / 40)
    # a loop the model escapes from is not a loop "to the end"
    pattern = _random_blocks(rng, 2)
    seq = _random_blocks(rng, 20) + [pattern[k % 2] for k in range(20)] + _random_blocks(rng, 10)
    assert not detect_loop(np.array(seq), seed_blocks=10)["looped"]
    # too few repeats at the very end are not evidence of a loop
    seq = _random_blocks(rng, 50) + [np.ones(64)] * 5
    assert not detect_loop(np.array(seq), seed_blocks=10, min_blocks=8)["looped"]
    assert detect_loop(np.array(seq), seed_blocks=10, min_blocks=3)["start"] == 50


# --------------------------------------------------------------------------- novelty


def test_a_copied_training_block_is_a_near_copy(rng):
    training = [rng.standard_normal((300, 40)).astype(np.float32),
                rng.standard_normal((57, 40)).astype(np.float32)]
    copied = training[1][13] + 0.001 * rng.standard_normal(40)
    fresh = rng.standard_normal((4, 40))
    generated = np.vstack([fresh, copied[None]]).astype(np.float32)
    result = novelty(generated, training, chunk=64)
    assert result["relative"][4] < 0.05 and np.all(result["relative"][:4] > 0.5)
    assert result["near_copy_share"] == pytest.approx(1 / 5)
    assert result["n_blocks"] == 5
    # exact distances, whatever the chunking
    dist, norm = nearest_distances(generated, training, chunk=7)
    every = np.vstack(training).astype(np.float64)
    d_all = np.linalg.norm(generated[:, None, :] - every[None], axis=2)
    np.testing.assert_allclose(dist, d_all.min(axis=1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(norm, np.linalg.norm(every[d_all.argmin(axis=1)], axis=1),
                               rtol=1e-5)
    with pytest.raises(ParameterError, match="no training blocks"):
        nearest_distances(generated, [])


# --------------------------------------------------------------------------- dev pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_corpus")
    music = root / "music"
    music.mkdir()
    for i, f in enumerate([330.0, 523.0, 700.0, 1200.0]):
        seconds = (3 * T + 1) * BLOCK / SR
        write_wav(music / f"song{i}.wav", tone(f, seconds, amp=0.3) + noise(seconds, amp=0.02,
                                                                             seed=i))
    c = prepare_corpus(music, root / "corpus", block=BLOCK, clip_blocks=T, dev_fraction=0.5,
                       progress=False)
    yield c
    c.close()


def test_dev_pass_matches_direct_computation(corpus, tmp_path):
    from gruvsynth.models import build_model

    model = build_model(hidden=16, features=corpus.features, seed=2)
    data = dev_pass(model, corpus, batch_size=2, progress=False)
    x, y = (np.asarray(a) for a in corpus.clips("dev"))
    assert data["n_clips"] == x.shape[0] == 6
    p = np.asarray(model.predict(x, verbose=0))
    assert data["loss"] == pytest.approx(float(np.mean((p - y) ** 2)), rel=1e-5)
    assert data["loss"] == pytest.approx(float(model.evaluate(x, y, verbose=0)), rel=1e-4)
    bins = BLOCK // 2 + 1
    assert data["true_spectrogram"].shape == data["pred_spectrogram"].shape == (T, bins)
    np.testing.assert_allclose(
        data["true_spectrogram"], magnitudes(corpus.denormalise(y)).mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(
        data["pred_spectrogram"], magnitudes(corpus.denormalise(p)).mean(axis=0), rtol=1e-3,
        atol=1e-3)
    np.testing.assert_allclose(data["true_spectrum"], data["true_spectrogram"].mean(axis=0))
    np.testing.assert_allclose(data["frequencies"], bin_frequencies(BLOCK))
    assert data["block_times"][0] == pytest.approx(BLOCK / SR)
    # the dev songs are tones in light noise: tonal, not flat
    assert data["reference"]["spectral_flatness"] < 0.2

    path = save_figure3(tmp_path / "fig3.npz", data, cell="lstm")
    back = load_figure3(path)
    np.testing.assert_array_equal(back["pred_spectrogram"], data["pred_spectrogram"])
    assert back["cell"] == "lstm" and back["n_clips"] == 6
    assert not list(tmp_path.glob(".*tmp*"))


# --------------------------------------------------------------------------- baselines


@pytest.fixture(scope="module")
def alternating(tmp_path_factory):
    """Songs that alternate two fixed random blocks A, B, A, B, ...: in normalised space each
    feature is +1 or -1 and flips sign every block, so the baselines are known exactly."""
    root = tmp_path_factory.mktemp("alternating")
    songs = root / "songs"
    songs.mkdir()
    rng = np.random.default_rng(7)
    a, b = rng.uniform(-0.5, 0.5, 64), rng.uniform(-0.5, 0.5, 64)
    for i in range(4):
        write_wav(songs / f"s{i}.wav", np.concatenate([a if k % 2 == 0 else b
                                                       for k in range(40 + 8 * i)]))
    c = prepare_corpus(songs, root / "corpus", block=64, clip_blocks=8, dev_fraction=0.25,
                       progress=False)
    yield c
    c.close()


def test_baselines_in_closed_form(alternating):
    """mean predictor: E[y²] = 1; persistence: E[(y - x)²] = E[(2y)²] = 4; linear: a = -1
    fits exactly, 0.  The imaginary parts of the DC and Nyquist bins are always 0 (std floor,
    normalised 0) and count as zeros in every mean."""
    constant = int(np.sum(np.asarray(alternating.std) < 1e-6))
    assert constant == 2  # imag(DC), imag(Nyquist) of the full FFT
    share = (alternating.features - constant) / alternating.features
    got = baseline_losses(alternating)
    for split in ("train", "dev"):
        assert got[split]["mean"] == pytest.approx(share, rel=1e-5)
        assert got[split]["persistence"] == pytest.approx(4 * share, rel=1e-5)
        assert got[split]["linear"] == pytest.approx(0.0, abs=1e-6)
    assert got["linear_scale"]["median"] == pytest.approx(-1.0, abs=1e-6)
    assert best_baseline(got["dev"]) == ("linear", pytest.approx(0.0, abs=1e-6))
    assert skill(0.5, 1.0) == pytest.approx(0.5) and skill(None, 1.0) is None
    assert skill(1.2, 1.0) == pytest.approx(-0.2) and skill(1.0, 0.0) is None


def test_baselines_equal_a_direct_computation_over_the_clips(corpus):
    """Exactly the blocks and positions of the model's loss: every clip, every position."""
    got = baseline_losses(corpus)
    xt, yt = (np.asarray(v, dtype=np.float64) for v in corpus.clips("train"))
    xx = (xt * xt).sum(axis=(0, 1))
    a = np.divide((xt * yt).sum(axis=(0, 1)), xx, out=np.zeros_like(xx), where=xx > 0)
    for split in ("train", "dev"):
        x, y = (np.asarray(v, dtype=np.float64) for v in corpus.clips(split))
        assert got[split]["mean"] == pytest.approx(np.mean(y ** 2), rel=1e-9)
        assert got[split]["persistence"] == pytest.approx(np.mean((y - x) ** 2), rel=1e-9)
        assert got[split]["linear"] == pytest.approx(np.mean((y - a * x) ** 2), rel=1e-9)
    with pytest.raises(ParameterError, match="splits"):
        baseline_losses(corpus, splits=("test",))


def test_split_loss_is_the_models_mse(corpus):
    from gruvsynth.models import build_model

    model = build_model(hidden=8, features=corpus.features, seed=1)
    x, y = (np.asarray(v) for v in corpus.clips("train"))
    p = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    assert split_loss(model, corpus, "train", batch_size=3) == pytest.approx(
        float(np.mean((p - y) ** 2)), rel=1e-5)


# --------------------------------------------------------------------------- whole run


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus):
    from gruvsynth.training import train

    root = tmp_path_factory.mktemp("eval_run")
    return train(corpus.path, root / "run", hidden=8, epochs=2, batch_size=4, seed=0,
                 progress=False)


@pytest.mark.slow
def test_evaluate_run_writes_json_and_figure3(run, tmp_path):
    results = evaluate_run(run, generate={"n_seeds": 2, "seed_blocks": 6, "iterations": 12},
                           json_path=tmp_path / "e.json", progress=False)
    on_disk = json.loads((tmp_path / "e.json").read_text())
    assert on_disk["dev_loss"] == pytest.approx(results["dev_loss"])
    assert results["dev_loss"] > 0 and results["n_dev_clips"] == 6
    assert (run.path / "evaluation" / "fig3.npz").is_file()
    gen = results["generated"]
    assert len(gen["samples"]) == 2 and gen["settings"]["iterations"] == 12
    for sample in gen["samples"]:
        assert 0 <= sample["spectral_flatness"] <= 1
        assert 0 <= sample["outside_band"] <= 1
        assert sample["loop"]["n_blocks"] == 18
        assert sample["novelty"]["n_blocks"] == 18 - 6 + 1
    assert set(gen["mean"]) >= {"spectral_flatness", "loop_free_times", "near_copy_share",
                                "shape_distance_db", "noise_distance", "noise_like"}
    # this corpus's clips (8 blocks of 256 samples) are too short for the noise measure:
    # no threshold, and no sample is judged
    assert results["noise_calibration"]["threshold"] is None
    assert "shorter than" in results["noise_calibration"]["reason"]
    assert {s["noise_verdict"] for s in gen["samples"]} == {"too short to judge"}
    table = format_table(results)
    assert "dev loss" in table and "spectral flatness" in table and "near-copy" in table


@pytest.mark.slow
def test_evaluate_command(run, tmp_path, capsys):
    out = tmp_path / "out"
    rc = evaluate_cmd.main([str(run.path), "--out-dir", str(out), "--no-generate"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "dev loss (MSE)" in text
    data = json.loads((out / "evaluation.json").read_text())
    assert data["generated"] is None and data["dev_loss"] > 0
    assert (out / "fig3.npz").is_file()
    # the model's losses beside the trivial predictors', with the skill against the best
    assert "persist." in text and "skill" in text
    for split in ("train", "dev"):
        assert set(data["baselines"][split]) == {"mean", "persistence", "linear"}
        best = min(data["baselines"][split].values())
        loss = data["train_loss"] if split == "train" else data["dev_loss"]
        assert data["skill"][split] == pytest.approx(1 - loss / best)
    rc = evaluate_cmd.main([str(tmp_path / "nothing"), "--quiet"])
    assert rc == 1
    assert "no such run folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- hostile input


def test_evaluate_refuses_a_corpus_prepared_again(run, tmp_path, capsys):
    """After ``prepare --force`` with another split the dev loss would be over other clips."""
    import shutil

    from gruvsynth.errors import RunError
    from gruvsynth.training import open_run

    corpus = tmp_path / "corpus"
    shutil.copytree(run.config["corpus"], corpus)
    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    config = json.loads((copy / "config.json").read_text())
    config["corpus"] = str(corpus)
    (copy / "config.json").write_text(json.dumps(config))
    music = Path(run.config["corpus"]).parent / "music"
    prepare_corpus(music, corpus, block=BLOCK, clip_blocks=T, dev_fraction=0.25,
                   overwrite=True, progress=False).close()
    with pytest.raises(RunError, match="not the one this run was trained on") as excinfo:
        evaluate_run(open_run(copy), generate=False, out_dir=tmp_path / "e", progress=False)
    assert f"dev_clips {run.config['dev_clips']} in the run" in str(excinfo.value)
    assert evaluate_cmd.main([str(copy), "--no-generate", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "dev_clips" in err and "\n" not in err
    assert not (tmp_path / "e").exists()


def test_evaluate_refuses_unwritable_outputs_before_the_work(run, tmp_path, capsys):
    for args in (["--out-dir", "/proc/gruvsynth-test"], ["--json", "/sys/e.json"],
                 ["--out-dir", str(tmp_path / "ok"), "--json", "/proc/gruvsynth-test/e.json"]):
        assert evaluate_cmd.main([str(run.path), "--no-generate", "-q", *args]) == 1
        err = capsys.readouterr().err.strip()
        assert "cannot write here" in err and "\n" not in err
    assert not (tmp_path / "ok" / "fig3.npz").exists()

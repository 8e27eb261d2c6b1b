"""Generation: the paper's algorithm and its output-length convention, faithful == stateful for
every cell, length options, seed windows inside the data, user-file seeds, and an end-to-end
tone: train on a sine, generate, the generated audio's FFT peak is at the sine's frequency."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import scipy.io.wavfile
from helpers.synth import tone, write_wav
from keras import ops

from gruvsynth.corpus import prepare_corpus
from gruvsynth.errors import GruvError, ParameterError
from gruvsynth.features import to_features
from gruvsynth.generation import (
    DEFAULT_TIMES,
    file_seed,
    generate,
    generate_from_run,
    output_length,
    output_paths,
    pick_windows,
    resolve_iterations,
    seed_windows,
)
from gruvsynth.models import build_model

FEATURES, HIDDEN = 12, 8
BUILTIN = ["lstm", "gru", "peephole_lstm", "paper_gru"]
BLOCK, T = 256, 8


@keras.saving.register_keras_serializable(package="gruvsynth_generation_tests")
class LeakyMemoryCell(keras.layers.Layer):
    """A user's cell with two states and no get_initial_state of its own:
    m' = 0.8 m + 0.2 (x W), h' = tanh(m' + h U)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                initializer="orthogonal",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        h, m = states
        m = 0.8 * m + 0.2 * ops.matmul(inputs, self.kernel)
        h = ops.tanh(m + ops.matmul(h, self.recurrent_kernel))
        return h, [h, m]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def original_loop(model, seed: np.ndarray, iterations: int) -> np.ndarray:
    """The authors' ``generate_from_seed`` (gen_utils/sequence_generator.py), transcribed:
    ``sequence_length = iterations + 1`` passes, the first keeps every prediction."""
    seed_seq = seed[None].copy()
    output = []
    for it in range(iterations + 1):
        new = np.asarray(model.predict_on_batch(seed_seq))
        if it == 0:
            output.extend(new[0][i].copy() for i in range(new.shape[1]))
        else:
            output.append(new[0][new.shape[1] - 1].copy())
        last = new[0][new.shape[1] - 1].reshape(1, 1, -1)
        seed_seq = np.concatenate((seed_seq, last), axis=1)
    return np.array(output)


def rel_err(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


# --------------------------------------------------------------------------- the algorithm


def test_output_follows_the_authors_convention(rng):
    model = build_model(hidden=HIDDEN, features=FEATURES, compile=False, seed=3)
    seed = rng.standard_normal((5, FEATURES)).astype(np.float32)
    expected = original_loop(model, seed, 4)
    assert expected.shape == (5 + 4, FEATURES)
    for method in ("faithful", "stateful"):
        out = generate(model, seed, iterations=4, method=method, progress=False)
        assert out.shape == (output_length(5, 4), FEATURES) == (9, FEATURES)
        assert rel_err(out, expected) < 1e-5
    # the first seed_blocks blocks are the first pass's predictions over the seed
    first = np.asarray(model.predict_on_batch(seed[None]))[0]
    out = generate(model, seed, iterations=4, progress=False)
    np.testing.assert_allclose(out[:5], first, rtol=1e-5, atol=1e-6)
    # iteration 1 reads the seed plus the first pass's last prediction
    again = np.asarray(model.predict_on_batch(np.concatenate([seed, first[-1:]])[None]))[0]
    np.testing.assert_allclose(out[5], again[-1], rtol=1e-5, atol=1e-6)
    # zero iterations: the first pass only
    assert generate(model, seed, iterations=0, progress=False).shape == (5, FEATURES)


def _model_for(cell, layers, input_projection):
    if cell == "user":
        cell = LeakyMemoryCell
    return build_model(cell=cell, hidden=HIDDEN, features=FEATURES, layers=layers,
                       input_projection=input_projection, compile=False, seed=7)


@pytest.mark.parametrize("input_projection", [True, False], ids=["proj", "noproj"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", [*BUILTIN, "user"])
def test_faithful_equals_stateful(cell, layers, input_projection, rng):
    model = _model_for(cell, layers, input_projection)
    seed = rng.standard_normal((2, 6, FEATURES)).astype(np.float32)
    faithful = generate(model, seed, iterations=10, method="faithful", batch=True,
                        progress=False)
    stateful = generate(model, seed, iterations=10, method="stateful", batch=True,
                        progress=False)
    assert faithful.shape == stateful.shape == (2, 16, FEATURES)
    assert np.all(np.isfinite(stateful))
    assert rel_err(stateful, faithful) < 1e-4
    # the generated part really depends on the fed-back blocks (not a constant)
    assert np.std(stateful[:, 6:]) > 1e-3


def test_batch_equals_one_by_one_and_2d_seed(rng):
    model = build_model(cell="gru", hidden=HIDDEN, features=FEATURES, compile=False, seed=1)
    seeds = rng.standard_normal((3, 4, FEATURES)).astype(np.float32)
    together = generate(model, seeds, iterations=5, batch=True, progress=False)
    apart = generate(model, seeds, iterations=5, batch=False, progress=False)
    single = generate(model, seeds[1], iterations=5, progress=False)
    assert together.shape == apart.shape == (3, 9, FEATURES)
    assert single.shape == (9, FEATURES)
    assert rel_err(together, apart) < 1e-5
    assert rel_err(single, together[1]) < 1e-5


def test_generate_rejects_bad_input(rng):
    model = build_model(hidden=HIDDEN, features=FEATURES, compile=False, seed=1)
    seed = rng.standard_normal((4, FEATURES)).astype(np.float32)
    with pytest.raises(ParameterError, match="seed must have shape"):
        generate(model, seed[:, :5], iterations=1, progress=False)
    with pytest.raises(ParameterError, match="iterations"):
        generate(model, seed, iterations=-1, progress=False)
    with pytest.raises(ParameterError, match="unknown method"):
        generate(model, seed, iterations=1, method="fast", progress=False)
    bad = seed.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        generate(model, bad, iterations=1, progress=False)


def test_stateful_refuses_a_layer_it_cannot_step(rng):
    model = keras.Sequential([
        keras.Input((None, FEATURES)),
        keras.layers.Conv1D(HIDDEN, 3, padding="causal"),
        keras.layers.LSTM(HIDDEN, return_sequences=True),
        keras.layers.Dense(FEATURES),
    ])
    seed = rng.standard_normal((4, FEATURES)).astype(np.float32)
    with pytest.raises(ParameterError, match="Conv1D.*faithful"):
        generate(model, seed, iterations=2, method="stateful", progress=False)
    assert generate(model, seed, iterations=2, method="faithful", progress=False).shape == (
        6, FEATURES)


# --------------------------------------------------------------------------- length


def test_resolve_iterations():
    assert resolve_iterations(seed_blocks=40) == round(DEFAULT_TIMES * 40) - 40 == 80
    assert resolve_iterations(seed_blocks=40, iterations=7) == 7
    assert resolve_iterations(seed_blocks=40, times=4) == 120
    assert resolve_iterations(seed_blocks=40, times=1) == 0
    # 30 s of 0.25 s blocks = 120 blocks in all; 10.1 s rounds up to 41 blocks
    assert resolve_iterations(seed_blocks=40, seconds=30.0, block=11025, sr=44100) == 80
    assert resolve_iterations(seed_blocks=40, seconds=10.1, block=11025, sr=44100) == 1
    with pytest.raises(ParameterError, match="only one"):
        resolve_iterations(seed_blocks=40, iterations=3, times=2)
    with pytest.raises(ParameterError, match="shorter than the seed"):
        resolve_iterations(seed_blocks=40, seconds=5.0, block=11025, sr=44100)
    with pytest.raises(ParameterError, match="times"):
        resolve_iterations(seed_blocks=40, times=0.5)
    with pytest.raises(ParameterError, match="iterations"):
        resolve_iterations(seed_blocks=40, iterations=-2)



@pytest.mark.parametrize("kwargs, message", [
    ({"seconds": 0}, "seconds must be a positive number, got 0"),
    ({"seconds": float("nan")}, "seconds must be a positive number, got nan"),
    ({"seconds": True}, "seconds must be a positive number, got True"),
    ({"times": 0.5}, "times must be a number >= 1, got 0.5"),
    ({"times": "3"}, "times must be a number >= 1, got '3'"),
    ({"times": float("inf")}, "times must be a number >= 1, got inf"),
])
def test_length_checks_keep_their_wording(kwargs, message):
    # the checks come from gruvsynth.checks; the messages are the ones users have seen
    with pytest.raises(ParameterError) as caught:
        resolve_iterations(seed_blocks=40, block=11025, sr=44100, **kwargs)
    assert str(caught.value).splitlines()[0] == message
    # a whole number of seconds is still written as given in the next check's message
    with pytest.raises(ParameterError, match=r"^seconds=5 is shorter than the seed \(10 s\)"):
        resolve_iterations(seed_blocks=40, seconds=5, block=11025, sr=44100)

def test_output_paths():
    one = output_paths("out/song.wav", 1)[0]
    assert [one["wav"].name, one["seed_wav"].name, one["json"].name] == [
        "song.wav", "song.seed.wav", "song.json"]
    many = output_paths("out/song.wav", 3)
    assert [p["wav"].name for p in many] == ["song-1.wav", "song-2.wav", "song-3.wav"]
    assert many[1]["seed_wav"].name == "song-2.seed.wav"
    assert output_paths("out/song", 1)[0]["wav"].name == "song.wav"
    with pytest.raises(ParameterError, match=".wav"):
        output_paths("out/song.mp3", 1)


# --------------------------------------------------------------------------- seeds


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four songs of different lengths (5, 3, 2 and 4 clips of 8 blocks of 256 samples)."""
    root = tmp_path_factory.mktemp("gen_corpus")
    music = root / "music"
    music.mkdir()
    for i, clips in enumerate([5, 3, 2, 4]):
        seconds = (clips * T + 1) * BLOCK / 44100
        write_wav(music / f"song{i}.wav", tone(220.0 * (i + 1), seconds, amp=0.3))
    c = prepare_corpus(music, root / "corpus", block=BLOCK, clip_blocks=T, dev_fraction=0.5,
                       progress=False)
    yield c
    c.close()


def test_seed_windows_stay_inside_songs(corpus):
    for split in ("train", "dev"):
        windows = seed_windows(corpus, split, seed_blocks=T)
        total = sum(n for _, n in windows)
        assert total > 0
        for name, n in windows:
            assert n == corpus.song_blocks(name).shape[0] - T + 1
        # the last window of the split ends exactly at its song's last block
        (last,) = pick_windows(corpus, split, seed_blocks=T, seed_index=total - 1)
        song = corpus.song_blocks(last.song)
        assert last.start == song.shape[0] - T
        np.testing.assert_array_equal(last.blocks, song[-T:])
        with pytest.raises(ParameterError, match="out of range"):
            pick_windows(corpus, split, seed_blocks=T, seed_index=total)
        # random windows are real slices of their songs
        for s in pick_windows(corpus, split, seed_blocks=T, n_seeds=20, seed=1):
            song = corpus.song_blocks(s.song)
            assert 0 <= s.start <= song.shape[0] - T
            np.testing.assert_array_equal(s.blocks, song[s.start: s.start + T])
    # the index runs over the songs in corpus order
    windows = seed_windows(corpus, "train", seed_blocks=T)
    (second,) = pick_windows(corpus, "train", seed_blocks=T, seed_index=windows[0][1])
    assert (second.song, second.start) == (windows[1][0], 0)


def test_seed_choice_is_reproducible_and_checked(corpus):
    a = pick_windows(corpus, "dev", seed_blocks=4, n_seeds=3, seed=5)
    b = pick_windows(corpus, "dev", seed_blocks=4, n_seeds=3, seed=5)
    assert [(s.song, s.start) for s in a] == [(s.song, s.start) for s in b]
    assert len({(s.song, s.start) for s in a}) == 3  # distinct windows
    with pytest.raises(ParameterError, match="no dev song is at least 1000 blocks"):
        pick_windows(corpus, "dev", seed_blocks=1000)
    with pytest.raises(ParameterError, match="one seed index per seed"):
        pick_windows(corpus, "dev", seed_blocks=4, n_seeds=2, seed_index=0)
    with pytest.raises(ParameterError, match="split"):
        seed_windows(corpus, "test", seed_blocks=4)


def test_the_seed_split_check_keeps_its_wording(corpus):
    with pytest.raises(ParameterError) as caught:
        seed_windows(corpus, "test", seed_blocks=4)
    assert str(caught.value).splitlines()[0] == "seed split must be one of dev, train, got 'test'"


def test_file_seed_is_prepared_like_the_corpus(corpus, tmp_path):
    audio = tone(330.0, 20 * BLOCK / 44100 + 0.001, amp=0.4)
    path = write_wav(tmp_path / "mine.wav", audio)
    (first,) = file_seed(path, corpus, seed_blocks=6)
    decoded = scipy.io.wavfile.read(path)[1].astype(np.float32) / 32768
    expected = corpus.normalise(to_features(decoded[: 20 * BLOCK], block=BLOCK))
    assert first.start == 0 and first.song == "mine.wav"
    np.testing.assert_allclose(first.blocks, expected[:6], rtol=1e-4, atol=1e-3)
    (late,) = file_seed(path, corpus, seed_blocks=6, seed_index=14)  # the last whole window
    np.testing.assert_allclose(late.blocks, expected[14:20], rtol=1e-4, atol=1e-3)
    with pytest.raises(ParameterError, match="out of range"):
        file_seed(path, corpus, seed_blocks=6, seed_index=15)
    with pytest.raises(ParameterError, match="mine.wav: only 20 whole block"):
        file_seed(path, corpus, seed_blocks=21)
    with pytest.raises(GruvError, match="missing.wav"):
        file_seed(tmp_path / "missing.wav", corpus, seed_blocks=4)


# --------------------------------------------------------------------------- end to end

TONE = 440.0  # not a multiple of 44100 / 256 Hz: each block's phase differs, so the model must
# learn the rotation from block to block (a model that outputs the mean block is nearly silent)


@pytest.fixture(scope="module")
def tone_run(tmp_path_factory):
    from gruvsynth.training import train

    root = tmp_path_factory.mktemp("tone_run")
    music = root / "music"
    music.mkdir()
    for i in range(3):
        t = np.arange(4 * 44100) / 44100
        write_wav(music / f"tone{i}.wav", (0.5 * np.sin(2 * np.pi * TONE * t + i)))
    prepare_corpus(music, root / "corpus", block=BLOCK, clip_blocks=16, dev_fraction=0.34,
                   progress=False).close()
    run = train(root / "corpus", root / "run", hidden=32, epochs=30, batch_size=4, seed=0,
                checkpoint_every=1000, progress=False)
    return run


def _peak_hz(audio: np.ndarray, sr: int = 44100) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / sr)[np.argmax(spectrum)])


@pytest.mark.slow
def test_trained_tone_is_generated_at_its_frequency(tone_run, tmp_path):
    result = generate_from_run(tone_run, seed_from="dev", seed=0, seed_blocks=16, times=3,
                               progress=False)
    assert result.blocks.shape == (1, 48, 2 * BLOCK)
    assert result.settings["iterations"] == 32
    new = result.audio[0][16 * BLOCK:]  # the blocks after the seed, generated freely
    resolution = 44100 / new.size
    assert abs(_peak_hz(new) - TONE) <= 2 * resolution
    assert 0.2 < np.sqrt(np.mean(new**2)) < 0.6  # a tone of amplitude 0.5 has RMS 0.354

    written = result.save(tmp_path / "tone.wav")
    sr, data = scipy.io.wavfile.read(tmp_path / "tone.wav")
    assert sr == 44100 and data.dtype == np.int16 and data.shape == (48 * BLOCK,)
    _, seed_data = scipy.io.wavfile.read(tmp_path / "tone.seed.wav")
    assert seed_data.shape == (16 * BLOCK,)
    info = json.loads((tmp_path / "tone.json").read_text())
    assert info["iterations"] == 32 and info["output_blocks"] == 48
    assert info["seed"]["source"] == "dev" and info["output"]["clipped_samples"] == 0
    assert info["method"] == "stateful" and written[0]["clipped"] == 0


@pytest.mark.slow
def test_generation_from_a_user_file_and_several_seeds(tone_run, tmp_path):
    path = write_wav(tmp_path / "seed.wav", tone(TONE, 0.2, amp=0.5))
    result = generate_from_run(tone_run, seed_from=path, seed_blocks=16, iterations=20,
                               method="faithful", progress=False)
    assert result.seeds[0].source == str(path)
    new = result.audio[0][16 * BLOCK:]
    assert abs(_peak_hz(new) - TONE) <= 2 * 44100 / new.size

    many = generate_from_run(tone_run, seed_from="train", n_seeds=2, seed_index=[0, 5],
                             seed_blocks=16, seconds=0.3, progress=False)
    assert many.blocks.shape[0] == 2 and many.settings["output_blocks"] == 52  # ceil(51.7)
    assert [s.start for s in many.seeds] == [0, 5]
    many.save(tmp_path / "many.wav")
    for k in (1, 2):
        assert (tmp_path / f"many-{k}.wav").is_file()
        assert (tmp_path / f"many-{k}.seed.wav").is_file()
        assert json.loads((tmp_path / f"many-{k}.json").read_text())["seed"]["start_block"] == \
            [0, 5][k - 1]
    assert not (tmp_path / "many.wav").exists()


# --------------------------------------------------------------------------- bfloat16 models


@pytest.mark.parametrize("cell", ["lstm", "keras01_gru"])
def test_float32_model_rebuilds_a_bfloat16_model_with_the_same_weights(cell, rng):
    from gruvsynth.backend import precision_scope
    from gruvsynth.models import float32_model

    with precision_scope("bfloat16"):
        half = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, seed=0)
    assert half.layers[1].compute_dtype == "bfloat16"
    full = float32_model(half)
    assert full is not half
    for layer in full.layers:
        assert layer.compute_dtype == "float32", layer.name
        cell_ = getattr(layer, "cell", None)
        assert cell_ is None or cell_.compute_dtype == "float32"
    for a, b in zip(half.get_weights(), full.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((2, 5, FEATURES)).astype(np.float32)
    out = np.asarray(full.predict_on_batch(x))
    assert out.dtype == np.float32
    # the same function, computed in float32 rather than bfloat16
    with precision_scope("float32"):
        reference = build_model(cell=cell, hidden=HIDDEN, features=FEATURES, seed=0)
    reference.set_weights(half.get_weights())
    np.testing.assert_allclose(out, np.asarray(reference.predict_on_batch(x)), rtol=1e-5,
                               atol=1e-6)
    assert float32_model(full) is full  # already float32: itself


@pytest.mark.slow
def test_a_bfloat16_trained_model_generates_and_evaluates_in_float32(tiny_corpora, tmp_path):
    """Generating from a model trained with precision="bfloat16" runs in float32 (on a GPU
    Keras's LSTM routes float32 sequences through cuDNN, which rejects bfloat16 outputs)."""
    from gruvsynth.evaluation import evaluate_run
    from gruvsynth.models import float32_model
    from gruvsynth.training import train

    corpus = tiny_corpora["mini"]
    run = train(corpus, tmp_path / "run", hidden=8, epochs=2, batch_size=5, seed=0,
                precision="bfloat16", progress=False)
    trained = run.load_model()
    assert trained.layers[1].compute_dtype == "bfloat16"  # the file keeps the training policy
    assert trained.optimizer is not None
    assert getattr(run.load_model(compile=False), "optimizer", None) is None  # weights only
    result = generate_from_run(run, seed_from="dev", seed=0, seed_blocks=4, iterations=6,
                               progress=False)
    assert result.blocks.dtype == np.float32 and np.isfinite(result.blocks).all()
    # the same numbers as generating with the float32 rebuild by hand
    seed = np.stack([s.blocks for s in result.seeds])
    by_hand = generate(float32_model(trained), seed, iterations=6, progress=False)
    np.testing.assert_allclose(result.blocks, by_hand, rtol=1e-6, atol=1e-7)
    faithful = generate(trained, seed, iterations=6, method="faithful", progress=False)
    np.testing.assert_allclose(faithful, by_hand, rtol=1e-4, atol=1e-5)
    ev = evaluate_run(run, generate=result, out_dir=tmp_path / "eval", progress=False)
    assert np.isfinite(ev["dev_loss"])


def test_release_memory_collects_only_for_models_worth_it():
    import gc

    from gruvsynth import generation

    model = build_model(hidden=HIDDEN, features=FEATURES, compile=False, seed=1)
    assert generation.model_bytes(model) == 4 * model.count_params()  # float32 weights
    full = []

    def seen(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(info)

    was_enabled = gc.isenabled()
    gc.disable()  # no collection of Python's own accord during the test
    gc.callbacks.append(seen)
    try:
        generation.release_memory(generation.model_bytes(model))
        assert full == []  # a tiny model: left to Python's collector
        generation.release_memory(generation.COLLECT_ABOVE_BYTES)
        assert len(full) == 1
        generation.release_memory()
        assert len(full) == 2
    finally:
        gc.callbacks.remove(seen)
        if was_enabled:
            gc.enable()

"""Blocks ⇄ FFT features: shapes, round trips, and the paper's layout."""

import numpy as np
import pytest
import scipy.fft

from gruvsynth import features
from gruvsynth.errors import ParameterError


@pytest.mark.parametrize("representation", ["fft", "rfft"])
@pytest.mark.parametrize("n_samples", [11025 * 3, 11025 * 3 + 17, 5000])
def test_round_trip_within_1e5(rng, representation, n_samples):
    audio = rng.uniform(-1, 1, n_samples).astype(np.float32)
    x = features.to_features(audio, representation=representation)
    back = features.to_audio(x, representation=representation)
    assert x.dtype == np.float32 and back.dtype == np.float32
    assert back.shape[0] == x.shape[0] * 11025 >= n_samples
    assert np.max(np.abs(back[:n_samples] - audio)) < 1e-5
    assert np.all(np.abs(back[n_samples:]) < 1e-5)  # the zero padding comes back as zeros


def test_widths_of_the_paper():
    assert features.feature_size() == 22050
    assert features.feature_size(11025, "rfft") == 11026
    assert features.block_size(22050) == 11025
    assert features.block_size(11026, "rfft") == 11025
    assert features.block_size(11026, "rfft", odd=False) == 11024


def test_fft_layout_is_real_then_imaginary(rng):
    audio = rng.standard_normal(2 * 64).astype(np.float32)
    x = features.to_features(audio, block=64)
    assert x.shape == (2, 128)
    ref = scipy.fft.fft(audio.reshape(2, 64).astype(np.float64), axis=1)
    np.testing.assert_allclose(x[:, :64], ref.real, atol=1e-4)
    np.testing.assert_allclose(x[:, 64:], ref.imag, atol=1e-4)


def test_last_block_zero_padded():
    audio = np.ones(100, dtype=np.float32)
    blocks = features.to_blocks(audio, block=64)
    assert blocks.shape == (2, 64)
    assert np.all(blocks[1, 36:] == 0) and np.all(blocks[1, :36] == 1)


def test_inverse_takes_real_part_of_non_hermitian_vector(rng):
    x = rng.standard_normal((3, 2 * 32)).astype(np.float32)  # a "prediction": not Hermitian
    y = features.to_audio(x)
    ref = scipy.fft.ifft(x[:, :32] + 1j * x[:, 32:], axis=1).real.reshape(-1)
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_rfft_even_block_needs_block_argument(rng):
    audio = rng.uniform(-1, 1, 4 * 64).astype(np.float32)
    x = features.to_features(audio, block=64, representation="rfft")
    back = features.to_audio(x, representation="rfft", block=64)
    np.testing.assert_allclose(back, audio, atol=1e-5)
    with pytest.raises(ParameterError):
        features.to_audio(x, representation="rfft", block=63 + 4)


def test_magnitudes_and_frequencies_find_a_tone():
    sr, block = 44100, 11025
    t = np.arange(block) / sr
    audio = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    for rep in ("fft", "rfft"):
        mag = features.magnitudes(features.to_features(audio, representation=rep), representation=rep)
        freqs = features.bin_frequencies(block, sr=sr)
        assert mag.shape == (1, block // 2 + 1) == (1, freqs.size)
        assert freqs[np.argmax(mag[0])] == pytest.approx(1000.0, abs=sr / block)


@pytest.mark.parametrize("bad", [dict(representation="dct"), dict(block=1), dict(block=2.5)])
def test_bad_parameters_raise_parameter_error(bad):
    with pytest.raises(ParameterError):
        features.to_features(np.zeros(10, dtype=np.float32), **bad)


def test_stereo_input_is_rejected():
    with pytest.raises(ParameterError, match="mono"):
        features.to_features(np.zeros((10, 2), dtype=np.float32))

"""Tests of gruvsynth.audio: decoding every encoding ffmpeg reads, the bad-input errors, save."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from helpers.synth import encode, ffmpeg, tone, write_wav
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gruvsynth import audio
from gruvsynth.audio import (
    AUDIO_EXTENSIONS,
    NoUsableAudioError,
    list_audio_files,
    load,
    load_many,
    probe,
    save,
)
from gruvsynth.errors import (
    CorruptAudioError,
    DecoderNotFoundError,
    EmptyAudioError,
    EmptyFileError,
    GruvError,
    MissingFileError,
    NonFiniteAudioError,
    NotAudioError,
    ParameterError,
    SilentAudioError,
)

SR = 44100


@pytest.fixture
def audio_log(caplog):
    """caplog, attached to gruvsynth.audio's logger itself (the CLI stops propagation)."""
    logger = logging.getLogger("gruvsynth.audio")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="gruvsynth.audio")
    yield caplog
    logger.removeHandler(caplog.handler)


def peak_frequency(x: np.ndarray, sr: int = SR) -> float:
    """Frequency (Hz) of the largest bin of the Hann-windowed spectrum."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * sr / x.size)


def faded_tone(freq=440.0, seconds=2.0, *, sr=SR, amp=0.5, fade=0.05):
    """A tone with linear fades, so that lossy codecs see no click at either end."""
    x = tone(freq, seconds, sr=sr, amp=amp)
    ramp = np.minimum(1.0, np.minimum(np.arange(x.size), np.arange(x.size)[::-1]) / (fade * sr))
    return (x * ramp).astype(np.float32)


def assert_one_line_error(excinfo, path):
    msg = str(excinfo.value)
    assert msg.startswith(f"{path}: "), msg
    assert "\n" not in msg
    assert len(msg) > len(f"{path}: ") + 3


def int16_of(path) -> np.ndarray:
    _, data = scipy.io.wavfile.read(path)
    return data


# ----------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [("uint8", 8), ("int16", 16), ("int24", 24), ("int32", 32), ("float32", 32), ("float64", 64)],
)
def test_wav_bit_depths_decode_to_the_signal(tmp_path, dtype, bits):
    x = tone(440.0, 0.5, amp=0.8)
    path = write_wav(tmp_path / f"{dtype}.wav", x, dtype=dtype)
    y = load(path)
    assert y.dtype == np.float32 and y.shape == x.shape
    # within 1.5 steps of the file's resolution (the writer scales integers by 2**(b-1) - 1,
    # ffmpeg by 2**(b-1)); a 32-bit file read as 16-bit (the original code's bug) is noise
    step = 2.0 ** (1 - bits) if dtype.startswith(("int", "uint")) else 0.0
    assert np.max(np.abs(y - x)) <= max(1.5 * step, 1e-7)
    assert probe(path).bit_depth == bits


def test_mono_int16_is_exactly_int_over_32768(tmp_path):
    path = write_wav(tmp_path / "m.wav", tone(330.0, 0.3))
    np.testing.assert_array_equal(load(path), (int16_of(path) / 32768.0).astype(np.float32))


def test_stereo_is_the_exact_mean_of_the_channels(tmp_path):
    both = np.stack([tone(440.0, 0.5, amp=0.6), tone(660.0, 0.5, amp=0.3)], axis=1)
    path = write_wav(tmp_path / "st.wav", both)
    expected = np.mean(int16_of(path) / 32768.0, axis=1).astype(np.float32)
    np.testing.assert_array_equal(load(path), expected)


def test_stereo_opposite_channels_cancel_to_silence(tmp_path):
    x = tone(440.0, 0.5)
    path = write_wav(tmp_path / "phase.wav", np.stack([x, -x], axis=1))
    with pytest.raises(SilentAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_six_channels_are_averaged_exactly(tmp_path):
    chans = np.stack([tone(110.0 * (k + 1), 0.3, amp=0.1 * (k + 1)) for k in range(6)], axis=1)
    path = write_wav(tmp_path / "six.wav", chans)
    assert probe(path).channels == 6
    expected = np.mean(int16_of(path) / 32768.0, axis=1).astype(np.float32)
    np.testing.assert_array_equal(load(path), expected)


@pytest.mark.parametrize("rate", [8000, 22050, 48000, 96000])
def test_input_rates_are_resampled_to_44100(tmp_path, rate):
    path = write_wav(tmp_path / f"r{rate}.wav", tone(1000.0, 1.0, sr=rate, amp=0.5), sr=rate)
    y = load(path)
    assert y.size == SR  # one second at 44.1 kHz
    assert peak_frequency(y) == pytest.approx(1000.0, abs=1.0)
    rms = np.sqrt(np.mean(y[2000:-2000].astype(np.float64) ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_sr_none_keeps_the_files_rate(tmp_path):
    path = write_wav(tmp_path / "r.wav", tone(1000.0, 0.5, sr=22050), sr=22050)
    assert load(path, sr=None).size == 11025
    assert load(path, sr=16000).size == 8000


@pytest.mark.parametrize(
    ("ext", "codec_args", "padding"),
    [
        ("mp3", (), 2048),
        ("ogg", ("-c:a", "libvorbis"), 2048),
        ("opus", ("-c:a", "libopus"), 2048),
        ("flac", (), 0),
        ("m4a", ("-c:a", "aac"), 2048),
    ],
)
def test_compressed_formats_decode_to_length_and_frequency(tmp_path, ext, codec_args, padding):
    src = write_wav(tmp_path / "src.wav", faded_tone(440.0, 2.0))
    path = encode(src, tmp_path / f"tone.{ext}", *codec_args)
    y = load(path)
    assert y.dtype == np.float32
    assert abs(y.size - 2 * SR) <= padding
    assert peak_frequency(y) == pytest.approx(440.0, abs=1.0)
    if ext == "flac":  # lossless
        np.testing.assert_array_equal(y, load(src))


def test_probe_describes_the_container(tmp_path):
    both = np.stack([tone(440.0, 1.0, sr=48000)] * 2, axis=1)
    path = write_wav(tmp_path / "p.wav", both, sr=48000, dtype="int24")
    info = probe(path)
    assert (info.format, info.codec, info.sample_rate, info.channels, info.bit_depth) == (
        "wav", "pcm_s24le", 48000, 2, 24)
    assert info.duration == pytest.approx(1.0)
    mp3 = probe(encode(path, tmp_path / "p.mp3"))
    assert (mp3.format, mp3.codec, mp3.bit_depth) == ("mp3", "mp3", None)


def test_streamed_wav_with_unknown_size_is_fine(tmp_path):
    # ffmpeg writing a WAV to a pipe leaves the sizes at 0xFFFFFFFF; the file is complete
    src = write_wav(tmp_path / "src.wav", tone(440.0, 0.5))
    out = tmp_path / "streamed.wav"
    out.write_bytes(_ffmpeg_stdout("-i", src, "-f", "wav", "-"))
    assert out.read_bytes()[4:8] == b"\xff\xff\xff\xff"  # RIFF size unknown
    np.testing.assert_array_equal(load(out), load(src))


def _ffmpeg_stdout(*args) -> bytes:
    import subprocess

    cmd = ["ffmpeg", "-nostdin", "-v", "error", *map(str, args)]
    return subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout


# ----------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(MissingFileError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)
    assert isinstance(excinfo.value, FileNotFoundError)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyFileError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_zero_length_audio(tmp_path):
    path = tmp_path / "zero.wav"
    scipy.io.wavfile.write(path, SR, np.zeros(0, np.int16))  # a header, no frames
    with pytest.raises(EmptyAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_truncated_wav(tmp_path):
    src = write_wav(tmp_path / "full.wav", tone(440.0, 1.0))
    path = tmp_path / "cut.wav"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 1])  # the data chunk says twice as much
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_truncated_wav_inside_its_header(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes(write_wav(tmp_path / "full.wav", tone()).read_bytes()[:30])
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)
    assert "WAV" in str(excinfo.value)


def test_truncated_wav_loads_when_not_strict(tmp_path, audio_log):
    src = write_wav(tmp_path / "full.wav", tone(440.0, 1.0))
    path = tmp_path / "cut.wav"
    path.write_bytes(src.read_bytes()[: 44 + 2 * 22050])
    y = load(path, strict=False)
    np.testing.assert_array_equal(y, load(src)[:22050])
    assert any(str(path) in r.getMessage() and "corrupt" in r.getMessage()
               for r in audio_log.records)


def test_truncated_flac(tmp_path):
    src = encode(write_wav(tmp_path / "s.wav", faded_tone()), tmp_path / "full.flac")
    path = tmp_path / "cut.flac"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_truncated_mp3(tmp_path):
    src = encode(write_wav(tmp_path / "s.wav", faded_tone()), tmp_path / "full.mp3")
    path = tmp_path / "cut.mp3"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def _vorbis(tmp_path) -> Path:
    return encode(write_wav(tmp_path / "s.wav", faded_tone()), tmp_path / "good.ogg",
                  "-c:a", "libvorbis")


def test_corrupt_ogg_headers(tmp_path):
    data = bytearray(_vorbis(tmp_path).read_bytes())
    assert data[:4] == b"OggS"
    data[100:400] = b"\xff" * 300  # inside the comment/setup header pages
    path = tmp_path / "badheaders.ogg"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)
    assert "Ogg" in str(excinfo.value)


def test_corrupt_ogg_first_page(tmp_path):
    data = bytearray(_vorbis(tmp_path).read_bytes())
    data[40:80] = bytes(40)  # the identification header page and the next page's start
    path = tmp_path / "badfirstpage.ogg"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_corrupt_ogg_audio_pages(tmp_path):
    data = bytearray(_vorbis(tmp_path).read_bytes())
    k = 2 * len(data) // 3
    data[k:k + 200] = bytes(range(200))  # CRC mismatch in the middle of the stream
    path = tmp_path / "badpages.ogg"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)
    assert "CRC" in str(excinfo.value)


def test_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are not the samples you are looking for\n" * 20)
    with pytest.raises(NotAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_picture_has_no_audio_stream(tmp_path):
    path = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=32x32", "-frames:v", "1", path)
    with pytest.raises(NotAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)
    assert "no audio stream" in str(excinfo.value)


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(NotAudioError) as excinfo:
        load(tmp_path)
    assert_one_line_error(excinfo, tmp_path)


def test_all_silent(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros(SR))
    with pytest.raises(SilentAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_one_lsb_of_dither_is_not_silent(tmp_path, rng):
    path = write_wav(tmp_path / "dither.wav", rng.choice([-1, 0, 1], SR) / 32767.0)
    assert np.max(np.abs(load(path))) == pytest.approx(2.0**-15)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_non_finite_samples_in_float_wav(tmp_path, bad, dtype):
    x = tone(440.0, 0.5).astype(np.float64)
    x[1234] = bad
    path = write_wav(tmp_path / "nonfinite.wav", x, dtype=dtype)
    with pytest.raises(NonFiniteAudioError) as excinfo:
        load(path)
    assert_one_line_error(excinfo, path)


def test_float_wav_beyond_full_scale_is_clipped_with_a_warning(tmp_path, audio_log):
    x = tone(440.0, 0.5, amp=1.5)
    path = write_wav(tmp_path / "hot.wav", x, dtype="float32")
    y = load(path)
    assert y.max() == 1.0 and y.min() == -1.0
    n_over = int(np.count_nonzero(np.abs(x) > 1.0))
    assert any(f"clipped {n_over} samples" in r.getMessage() for r in audio_log.records)


def test_decoder_not_found(tmp_path, monkeypatch):
    path = write_wav(tmp_path / "t.wav", tone())
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DecoderNotFoundError, match="ffmpeg"):
        load(path)


@pytest.mark.parametrize("sr", [0, -44100, 44100.5, "44100", True])
def test_load_rejects_bad_sample_rates(tmp_path, sr):
    path = write_wav(tmp_path / "t.wav", tone())
    with pytest.raises(ParameterError):
        load(path, sr=sr)


# ----------------------------------------------------------------------------- random bytes


@pytest.fixture(scope="module")
def real_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    wav = write_wav(folder / "src.wav", faded_tone(440.0, 0.5))
    ogg = encode(wav, folder / "src.ogg", "-c:a", "libvorbis")
    return {"wav": wav.read_bytes(), "ogg": ogg.read_bytes()}


def _load_bytes(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        try:
            y = load(path)
        except GruvError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path))
            return
        assert y.dtype == np.float32 and y.ndim == 1 and y.size > 0
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".ogg", ".mp3", ".bin"]))
def test_random_bytes_load_or_raise_a_package_error(data, suffix):
    _load_bytes(data, suffix)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["wav", "ogg"]),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=64)),
                   max_size=6),
    keep=st.floats(0, 1),
)
def test_mangled_real_files_load_or_raise_a_package_error(real_files, kind, edits, keep):
    data = bytearray(real_files[kind])
    for where, junk in edits:
        i = int(where * len(data))
        data[i:i + len(junk)] = junk
    _load_bytes(bytes(data[: max(0, round(keep * len(data)))]), f".{kind}")


# ----------------------------------------------------------------------------- save


def test_save_round_trip(tmp_path):
    x = tone(440.0, 0.5)
    path = tmp_path / "out.wav"
    assert save(path, x) == 0
    ints = int16_of(path)
    assert ints.dtype == np.int16
    np.testing.assert_array_equal(ints, np.round(x.astype(np.float64) * 32767).astype(np.int16))
    assert np.max(np.abs(load(path) - x)) < 1e-4


def test_save_clips_instead_of_wrapping(tmp_path, audio_log):
    x = tone(440.0, 0.5, amp=2.0)
    n_over = int(np.count_nonzero(np.abs(x) > 1.0))
    path = tmp_path / "loud.wav"
    assert save(path, x) == n_over > 0
    ints = int16_of(path)
    assert ints.max() == 32767 and ints.min() == -32767
    # no wrap-around: every sample keeps its sign, and the loud ones sit at full scale
    assert np.all(np.sign(ints) == np.sign(np.round(x * 32767)))
    assert np.all(np.abs(ints[np.abs(x) > 1.0]) == 32767)
    assert any(f"clipped {n_over}" in r.getMessage() and str(path) in r.getMessage()
               for r in audio_log.records)


def test_save_writes_the_sample_rate_and_creates_folders(tmp_path):
    path = tmp_path / "a" / "b" / "out.wav"
    save(path, tone(440.0, 0.1, sr=22050), sr=22050)
    assert scipy.io.wavfile.read(path)[0] == 22050


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.wav"
    save(path, tone(440.0, 0.2))
    before = path.read_bytes()

    def write_half_then_fail(fh, rate, data):
        fh.write(b"RIFF" + bytes(100))
        raise OSError("disk full")

    monkeypatch.setattr(scipy.io.wavfile, "write", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save(path, tone(660.0, 0.2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 2)), np.array([0.1, np.nan]), np.array([np.inf]), np.arange(10),
     np.float32(0.5)],
    ids=["2-D", "nan", "inf", "integers", "scalar"],
)
def test_save_rejects_bad_arrays(tmp_path, bad):
    path = tmp_path / "out.wav"
    with pytest.raises(ParameterError):
        save(path, bad)
    assert not path.exists()


# ----------------------------------------------------------------------------- listing, many


def _tree(tmp_path):
    (tmp_path / "sub" / ".hidden").mkdir(parents=True)
    for name in ["a.wav", "B.MP3", "sub/c.flac", "notes.txt", ".x.wav", "._d.mp3",
                 "sub/.hidden/e.wav"]:
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_audio_extensions_are_lower_case_and_complete():
    assert all(e == e.lower() and e.startswith(".") for e in AUDIO_EXTENSIONS)
    for e in [".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".aif", ".aiff"]:
        assert e in AUDIO_EXTENSIONS


def test_list_audio_files(tmp_path):
    root = _tree(tmp_path)
    assert list_audio_files([root]) == [root / "B.MP3", root / "a.wav", root / "sub" / "c.flac"]
    assert list_audio_files(root, recursive=False) == [root / "B.MP3", root / "a.wav"]
    # a file given explicitly is kept whatever its extension; duplicates collapse
    assert list_audio_files([root / "notes.txt", root / "a.wav", root]) == [
        root / "B.MP3", root / "a.wav", root / "notes.txt", root / "sub" / "c.flac"]
    with pytest.raises(MissingFileError) as excinfo:
        list_audio_files([root, root / "missing"])
    assert_one_line_error(excinfo, root / "missing")


def test_load_many_skips_bad_files_and_counts_them(tmp_path, audio_log):
    write_wav(tmp_path / "1.wav", tone(440.0, 0.2))
    write_wav(tmp_path / "2.wav", tone(660.0, 0.2, sr=22050), sr=22050)
    (tmp_path / "3.wav").write_text("not audio")
    got = list(load_many(tmp_path, progress=False))
    assert [p.name for p, _ in got] == ["1.wav", "2.wav"]
    assert all(x.size == round(0.2 * SR) for _, x in got)
    messages = [r.getMessage() for r in audio_log.records]
    assert any("skipping" in m and "3.wav" in m and "not an audio file" in m for m in messages)
    assert "skipped 1 of 3 files" in messages


def test_load_many_fails_when_nothing_is_usable(tmp_path):
    (tmp_path / "a.wav").write_text("not audio")
    write_wav(tmp_path / "b.wav", np.zeros(100))
    with pytest.raises(NoUsableAudioError, match="no usable audio in"):
        list(load_many(tmp_path, progress=False))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoUsableAudioError, match="no audio files"):
        list(load_many(empty, progress=False))


def test_errors_raised_here_are_gruv_errors():
    assert issubclass(NoUsableAudioError, GruvError)
    assert audio.SILENCE_THRESHOLD == 2.0**-15


def test_offset_and_duration_decode_only_that_part(tmp_path):
    sr = 44100
    x = np.concatenate([tone(440.0, 1.0), tone(1000.0, 1.0), tone(2000.0, 1.0)])
    path = write_wav(tmp_path / "three.wav", x, dtype="float32")
    part = load(path, offset=1.0, duration=1.0)
    assert part.shape == (sr,)
    np.testing.assert_allclose(part, x[sr:2 * sr], atol=1e-6)  # sample-accurate seek
    assert load(path, offset=2.5).shape == (sr // 2,)
    ogg = encode(path, tmp_path / "three.ogg")
    part = load(ogg, offset=1.0, duration=1.0)
    spectrum = np.abs(np.fft.rfft(part))
    assert abs(np.argmax(spectrum) * sr / part.size - 1000.0) < 2.0


def test_offset_past_the_end_is_a_clear_error(tmp_path):
    path = write_wav(tmp_path / "short.wav", tone(440.0, 1.0))
    with pytest.raises(EmptyAudioError, match="no audio after 5 s") as excinfo:
        load(path, offset=5.0)
    assert_one_line_error(excinfo, path)
    with pytest.raises(ParameterError):
        load(path, offset=-1.0)
    with pytest.raises(ParameterError):
        load(path, duration=0.0)

"""Synthesised audio for tests: tones, chords, noise, and files written in many encodings.

Nothing here is a stand-in for the code under test: files are written with scipy (WAV) or
encoded by the real ffmpeg, and decoded by gruvsynth the way a user's files are.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import scipy.io.wavfile

SR = 44100


def tone(freq: float = 440.0, seconds: float = 1.0, *, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A sine tone, float32 in [-amp, amp]."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chord(freqs=(220.0, 277.18, 329.63), seconds: float = 1.0, *, sr: int = SR, amp: float = 0.5):
    """A sum of sines scaled to peak ``amp``."""
    x = sum(tone(f, seconds, sr=sr, amp=1.0) for f in freqs)
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def noise(seconds: float = 1.0, *, sr: int = SR, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    """Uniform white noise."""
    return np.random.default_rng(seed).uniform(-amp, amp, int(seconds * sr)).astype(np.float32)


def write_wav(path, audio: np.ndarray, *, sr: int = SR, dtype: str = "int16") -> Path:
    """Write ``audio`` (float in [-1, 1], shape (n,) or (n, channels)) as a WAV file.

    ``dtype`` is one of ``uint8``, ``int16``, ``int32``, ``float32``, ``float64`` (scipy's
    encodings) or ``int24`` (written by ffmpeg from a float32 WAV).
    """
    path = Path(path)
    audio = np.asarray(audio, dtype=np.float64)
    if dtype == "int24":
        tmp = path.with_suffix(".f32.wav")
        write_wav(tmp, audio, sr=sr, dtype="float32")
        ffmpeg("-i", tmp, "-c:a", "pcm_s24le", path)
        tmp.unlink()
        return path
    if dtype == "uint8":
        data = np.clip(np.round(audio * 127 + 128), 0, 255).astype(np.uint8)
    elif dtype == "int16":
        data = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    elif dtype == "int32":
        data = np.clip(np.round(audio * 2147483647), -2147483648, 2147483647).astype(np.int32)
    elif dtype in ("float32", "float64"):
        data = audio.astype(dtype)
    else:
        raise ValueError(dtype)
    scipy.io.wavfile.write(path, sr, data)
    return path


def ffmpeg(*args) -> None:
    """Run ffmpeg quietly with ``args``; raises ``CalledProcessError`` on failure."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *[str(a) for a in args]]
    subprocess.run(cmd, check=True, capture_output=True)


def encode(src, dst, *codec_args) -> Path:
    """Encode ``src`` into ``dst`` with ffmpeg (format from the extension unless given)."""
    ffmpeg("-i", src, *codec_args, dst)
    return Path(dst)

"""Decode audio files to mono float32 and write 16-bit WAV files, with checks for bad input.

Everything ffmpeg reads can be loaded: WAV of any bit depth (8/16/24/32-bit integer, 32/64-bit
float), MP3, Ogg Vorbis, Opus, FLAC, M4A/AAC, AIFF, ... with any channel count and sample rate.

This package re-exports its public names, so ``from gruvsynth.audio import ...`` keeps
working; they live in :mod:`gruvsynth.audio.files` (finding audio files, checking a path),
:mod:`gruvsynth.audio.ffmpeg` (running ffprobe and ffmpeg: :func:`probe`, how :func:`load`
decodes, what ffmpeg may read), :mod:`gruvsynth.audio.loading` (:func:`load`,
:func:`load_many` and how bad input is detected), :mod:`gruvsynth.audio.writing`
(:func:`save`) and :mod:`gruvsynth.audio.inspection` (:func:`inspect_file`).
"""

from gruvsynth.audio.ffmpeg import (
    CLIP_THRESHOLD,
    FFMPEG_PROTOCOLS,
    FFMPEG_TIMEOUT,
    AudioInfo,
    probe,
)
from gruvsynth.audio.files import (
    AUDIO_EXTENSIONS,
    ffmpeg_input,
    list_audio_files,
    scan_audio_files,
)
from gruvsynth.audio.inspection import SILENCE_BLOCK_SECONDS, FileReport, inspect_file
from gruvsynth.audio.loading import (
    CLIP_WARN_SHARE,
    SILENCE_THRESHOLD,
    SR,
    NoUsableAudioError,
    load,
    load_many,
)
from gruvsynth.audio.writing import save

__all__ = [
    "AUDIO_EXTENSIONS",
    "SR",
    "SILENCE_THRESHOLD",
    "CLIP_THRESHOLD",
    "SILENCE_BLOCK_SECONDS",
    "FFMPEG_TIMEOUT",
    "AudioInfo",
    "FileReport",
    "NoUsableAudioError",
    "FFMPEG_PROTOCOLS",
    "ffmpeg_input",
    "list_audio_files",
    "scan_audio_files",
    "probe",
    "load",
    "load_many",
    "save",
    "inspect_file",
    "CLIP_WARN_SHARE",
]

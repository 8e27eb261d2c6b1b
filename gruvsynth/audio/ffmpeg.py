"""Running ffprobe and ffmpeg: :func:`probe` (a container's description) and :func:`decode`
(one ffmpeg process, float32 samples mixed to mono), with ffmpeg's log read for problems.

How :func:`load` decodes
------------------------
1. One ``ffmpeg`` process decodes the first audio stream to little-endian float32 samples
   (``pcm_f32le``) with **all** its channels, resampled by ffmpeg's own resampler (``-ar``)
   when the file's rate differs from the one asked for.  The samples come through a pipe
   inside a WAV header, which gives the channel count and rate of exactly what follows (no
   separate ffprobe call, no chance of the two disagreeing).  The bit depth is never assumed:
   ffmpeg's decoder scales every integer format to [-1, 1) (the original GRUV code read
   32-bit WAVs as 16-bit and trained on noise).
2. numpy reads the pipe in chunks and averages the channels to mono (an exact mean, computed
   in float64 and rounded once to float32).

What ffmpeg may read
--------------------
A path is checked first (it exists, is a regular file, not empty, readable), then handed to
ffmpeg/ffprobe as ``file:`` followed by its absolute path, with ``-protocol_whitelist file``:
a name is never taken as an option (``-rf.wav``), as another protocol (``concat:a.wav``,
``http://...``) or as a protocol that does not exist (``Intro:Remix.wav``), and the file can
make ffmpeg open no network address.  ffmpeg writes to its standard output (``pipe:1``) only.
A file that is itself a list of other files (an ffconcat script, an HLS playlist) can still
make ffmpeg read those local files; see ``docs/security.rst``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from gruvsynth.audio.files import check_file, ffmpeg_input
from gruvsynth.errors import (
    AudioError,
    CorruptAudioError,
    DecoderNotFoundError,
    NotAudioError,
)

__all__ = ["CLIP_THRESHOLD", "FFMPEG_TIMEOUT", "FFMPEG_PROTOCOLS", "AudioInfo", "Decoded",
           "probe", "decode", "summary"]

#: A sample with ``|x| >= CLIP_THRESHOLD`` of full scale counts as clipped in :func:`inspect_file`.
CLIP_THRESHOLD = 0.999

#: Longest time (seconds) ffprobe or ffmpeg may take on one file before it is stopped.
FFMPEG_TIMEOUT = 600.0

#: The only protocols ffmpeg and ffprobe may use to read input (``-protocol_whitelist``).
FFMPEG_PROTOCOLS = "file"

_CHUNK_FRAMES = 1 << 16

# First bytes of audio containers: a file that starts like this but cannot be opened is corrupt,
# not "not audio".  (offset, bytes, name)
_SIGNATURES = (
    (0, b"RIFF", "WAV"), (0, b"RF64", "WAV"), (0, b"BW64", "WAV"), (0, b"riff", "Wave64"),
    (0, b"OggS", "Ogg"), (0, b"fLaC", "FLAC"), (0, b"ID3", "MP3"), (4, b"ftyp", "MP4/M4A"),
    (0, b"FORM", "AIFF"), (0, b"caff", "CAF"), (0, b".snd", "AU"), (0, b"\x1aE\xdf\xa3", "Matroska"),
    (0, b"MAC ", "APE"), (0, b"wvpk", "WavPack"), (0, b"0&\xb2u", "ASF/WMA"),
)

_LINE = re.compile(r"^(?:\[(?P<ctx>[^\]@]+?) @ 0x[0-9a-fA-F]+\] )?\[(?P<level>[a-z]+)\] (?P<msg>.*)$")
_BAD_LEVELS = {"error", "fatal", "panic"}
_SUSPICIOUS = re.compile(r"corrupt|truncat|invalid|damaged|incomplete|do not match|error", re.I)
_STREAMED_WAV = "Ignoring maximum wav data size"
_CORRUPT_PACKET = re.compile(r"packet corrupt|corrupt input packet", re.I)


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What ffprobe says about a file's first audio stream.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    format : str
        Container, e.g. ``"wav"``, ``"ogg"``, ``"mp3"``, ``"flac"``, ``"m4a"`` (ffprobe's
        format name; for a demuxer with several names, the one matching the file's extension).
    codec : str
        Codec, e.g. ``"pcm_s24le"``, ``"vorbis"``, ``"aac"``.
    sample_rate : int
        Samples per second per channel.
    channels : int
        Number of channels.
    bit_depth : int or None
        Bits per sample of PCM and lossless codecs (from ffprobe's ``bits_per_raw_sample``,
        ``bits_per_sample`` or, for PCM, ``sample_fmt``); None for lossy codecs, which have none.
    duration : float or None
        Duration in seconds according to the container, None where it does not say.
    """

    path: Path
    format: str
    codec: str
    sample_rate: int
    channels: int
    bit_depth: int | None
    duration: float | None



@dataclasses.dataclass
class Decoded:
    """What :func:`decode` got from ffmpeg: the mono mix and what the log and the samples said."""

    mono: np.ndarray  # float32 (n,), not clipped
    sample_rate: int
    returncode: int
    problems: list[str]
    peak: float  # over all channels' finite samples
    n_clipped: int  # channel samples at or beyond the clip threshold
    n_channel_samples: int



def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DecoderNotFoundError(
            f"{name} not found on PATH: install ffmpeg (e.g. 'sudo apt-get install ffmpeg')"
        )
    return exe



def _signature(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None
    for offset, magic, name in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return name
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "MPEG audio"
    return None


def _messages(stderr: str, path: Path) -> tuple[list[str], list[str]]:
    """Split ffmpeg's ``level``-tagged log into (problems, all messages), one line each."""
    lines = stderr.splitlines()
    streamed_wav = any(_STREAMED_WAV in line for line in lines)
    prefixes = (f"{ffmpeg_input(path)}: ", f"{os.fspath(path)}: ")
    problems, everything = [], []
    for line in lines:
        m = _LINE.match(line.strip())
        if m is None:
            continue
        level, msg, ctx = m["level"], m["msg"].strip(), m["ctx"]
        for prefix in prefixes:
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
                break
        text = f"{ctx}: {msg}" if ctx else msg
        everything.append(text)
        if _STREAMED_WAV in msg or (streamed_wav and _CORRUPT_PACKET.search(msg)):
            continue
        if level in _BAD_LEVELS or (level == "warning" and _SUSPICIOUS.search(msg)):
            problems.append(text)
    return problems, everything


def summary(messages: list[str]) -> str:
    """The first of ffmpeg's messages, and how many more there are."""
    if not messages:
        return "no message"
    first = messages[0]
    return first if len(messages) == 1 else f"{first} (and {len(messages) - 1} more)"


def _short_format(format_name: str, path: Path) -> str:
    names = format_name.split(",")
    ext = path.suffix.lower().lstrip(".")
    return ext if ext in names else names[0]


def _int_or_none(value) -> int | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def _float_or_none(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None


def _bit_depth(stream: dict) -> int | None:
    codec = stream.get("codec_name", "")
    for key in ("bits_per_raw_sample", "bits_per_sample"):
        bits = _int_or_none(stream.get(key))
        if bits:
            return bits
    if codec.startswith("pcm_"):
        fmt = stream.get("sample_fmt", "").rstrip("p")
        return {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}.get(fmt)
    return None



def probe(path) -> AudioInfo:
    """Read a file's container information with ffprobe.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file.

    Returns
    -------
    info : AudioInfo
        Format, codec, rate, channels, bit depth and duration of the first audio stream.

    Raises
    ------
    MissingFileError, EmptyFileError, NotAudioError, CorruptAudioError
        See the module's rules.
    DecoderNotFoundError
        ffprobe is not installed.
    """
    path = Path(path)
    check_file(path)
    cmd = [
        _tool("ffprobe"), "-v", "level+error", "-protocol_whitelist", FFMPEG_PROTOCOLS,
        "-show_entries",
        "format=format_name,duration:stream=codec_type,codec_name,sample_rate,channels,"
        "bits_per_sample,bits_per_raw_sample,sample_fmt,duration",
        "-of", "json", "-i", ffmpeg_input(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=FFMPEG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CorruptAudioError(path, f"ffprobe did not finish within {FFMPEG_TIMEOUT:g} s") from None
    problems, everything = _messages(proc.stderr.decode("utf-8", "replace"), path)
    if proc.returncode != 0:
        raise _open_error(path, "ffprobe", proc.returncode, problems, everything)
    try:
        data = json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise CorruptAudioError(path, "ffprobe's description of the file is unreadable") from None
    streams = data.get("streams") or []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        kinds = sorted({s.get("codec_type", "unknown") for s in streams})
        found = f" (it holds {', '.join(kinds)} only)" if kinds else ""
        raise NotAudioError(path, f"no audio stream{found}")
    s = audio[0]
    rate, channels = _int_or_none(s.get("sample_rate")), _int_or_none(s.get("channels"))
    if rate is None or channels is None:
        raise CorruptAudioError(path, "the audio stream has no valid sample rate or channel count")
    fmt = data.get("format") or {}
    return AudioInfo(
        path=path,
        format=_short_format(fmt.get("format_name", "unknown"), path),
        codec=s.get("codec_name", "unknown"),
        sample_rate=rate,
        channels=channels,
        bit_depth=_bit_depth(s),
        duration=_float_or_none(s.get("duration")) or _float_or_none(fmt.get("duration")),
    )


def _open_error(path: Path, tool: str, returncode: int, problems: list[str],
                everything: list[str]) -> AudioError:
    """The error for a file that ffprobe/ffmpeg could not open, or that has no audio stream."""
    if any("matches no streams" in m for m in everything):
        return NotAudioError(path, "no audio stream")
    why = summary(problems or everything or [f"{tool} exit status {returncode}"])
    kind = _signature(path)
    if kind:
        return CorruptAudioError(path, f"cannot be read as {kind}, truncated or corrupt ({tool}: {why})")
    return NotAudioError(path, f"not an audio file ({tool}: {why})")


def _read_exact(stream, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        more = stream.read(n - len(buf))
        if not more:
            break
        buf += more
    return buf


def _read_wav_header(stream) -> tuple[int, int] | None:
    """(channels, sample rate) from the float32 WAV header ffmpeg writes; None if cut short."""
    if _read_exact(stream, 12)[8:12] != b"WAVE":
        return None
    channels = rate = None
    while True:
        head = _read_exact(stream, 8)
        if len(head) < 8:
            return None
        cid, size = head[:4], int.from_bytes(head[4:], "little")
        if cid == b"data":
            return (channels, rate) if channels and rate else None
        body = _read_exact(stream, size + size % 2)
        if cid == b"fmt " and len(body) >= 8:
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")


def _read_mono(stream, ch: int, clip_threshold: float
               ) -> tuple[list[np.ndarray], float, int, int]:
    """Read ``ch``-channel float32 frames to the end of ``stream``: the mono chunks, the peak
    over every channel's finite samples, the samples at or beyond ``clip_threshold``, and the
    channel samples read."""
    chunks: list[np.ndarray] = []
    peak, n_clipped, n_total = 0.0, 0, 0
    frame_bytes = 4 * ch
    rest = b""
    while True:
        buf = stream.read(_CHUNK_FRAMES * frame_bytes)
        if not buf:
            break
        buf = rest + buf
        usable = len(buf) - len(buf) % frame_bytes
        rest = buf[usable:]
        frames = np.frombuffer(buf[:usable], dtype="<f4").reshape(-1, ch)
        a = np.abs(frames)
        finite = np.isfinite(a)
        if finite.all():
            peak = max(peak, float(a.max()))
        elif finite.any():
            peak = max(peak, float(a[finite].max()))
        n_clipped += int(np.count_nonzero(a >= clip_threshold))
        n_total += a.size
        if ch == 1:
            chunks.append(frames[:, 0])
        else:  # the mean over channels, summed in float64 in channel order
            total = frames[:, 0].astype(np.float64)
            for c in range(1, ch):
                total += frames[:, c]
            total /= ch
            chunks.append(total.astype(np.float32))
    return chunks, peak, n_clipped, n_total


def decode(path: Path, *, sr: int | None, clip_threshold: float = CLIP_THRESHOLD,
            offset: float = 0.0, duration: float | None = None) -> Decoded:
    """Run ffmpeg once and mix to mono; raises only when nothing could be opened.

    Raises
    ------
    NotAudioError, CorruptAudioError
        ffmpeg could not open the file, or did not finish in time.

    ffmpeg writes a float32 WAV to its stdout (``-f wav -c:a pcm_f32le``): its header gives
    the channel count and rate of what follows, so no separate ffprobe call is needed.
    """
    cmd = [
        _tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "level+warning",
        *(["-ss", repr(float(offset))] if offset else []),
        "-protocol_whitelist", FFMPEG_PROTOCOLS, "-i", ffmpeg_input(path),
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        *([] if duration is None else ["-t", repr(float(duration))]),
        *([] if sr is None else ["-ar", str(sr)]),
        "-c:a", "pcm_f32le", "-f", "wav", "-fflags", "+bitexact", "pipe:1",
    ]
    chunks: list[np.ndarray] = []
    peak, n_clipped, n_total = 0.0, 0, 0
    header = None
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(FFMPEG_TIMEOUT, _kill)
        timer.start()
        try:
            header = _read_wav_header(proc.stdout)
            if header is not None:
                chunks, peak, n_clipped, n_total = _read_mono(proc.stdout, header[0],
                                                              clip_threshold)
            else:
                proc.stdout.read()
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            proc.stdout.close()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if timed_out.is_set():
        raise CorruptAudioError(path, f"ffmpeg did not finish within {FFMPEG_TIMEOUT:g} s")
    problems, everything = _messages(stderr, path)
    if header is None:
        raise _open_error(path, "ffmpeg", returncode, problems, everything)
    if returncode != 0 and not problems:
        problems = everything[-1:] or [f"ffmpeg exit status {returncode}"]
    mono = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return Decoded(mono, header[1], returncode, problems, peak, n_clipped, n_total)

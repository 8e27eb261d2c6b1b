"""Decode audio files to mono float32 and write 16-bit WAV files, with checks for bad input.

Everything ffmpeg reads can be loaded: WAV of any bit depth (8/16/24/32-bit integer, 32/64-bit
float), MP3, Ogg Vorbis, Opus, FLAC, M4A/AAC, AIFF, ... with any channel count and sample rate.

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

:func:`probe` (ffprobe) gives the container's description: format, codec, bit depth, ...

How bad input is detected
-------------------------
Each rule raises a :class:`gruvsynth.errors.AudioError` subclass whose message is one line,
``"<path>: <reason>"``:

* the path does not exist: :class:`~gruvsynth.errors.MissingFileError`;
* the file has 0 bytes: :class:`~gruvsynth.errors.EmptyFileError`;
* ffmpeg cannot open the file, and its first bytes are not the signature of an audio
  container (RIFF/WAVE, Ogg, fLaC, ID3/MPEG sync, MP4 ``ftyp``, AIFF, ...), or it opens but
  holds no audio stream (a picture, a video without sound, a folder):
  :class:`~gruvsynth.errors.NotAudioError`;
* ffmpeg cannot open a file that *does* start with an audio signature (a WAV cut inside
  its header, an Ogg file with broken header pages, an M4A without its ``moov`` atom), or
  ``ffmpeg`` exits with an error, or logs a message at level *error* or worse (``CRC
  mismatch!``, ``Header missing``, ``invalid residual``, ...), or a *warning* naming corrupt,
  invalid or truncated data (a WAV whose data chunk is longer than the file logs ``Packet
  corrupt``; an MP3 whose Xing header disagrees with the file size logs ``filesize and
  duration do not match``): :class:`~gruvsynth.errors.CorruptAudioError`.  A WAV written as a
  stream (data size ``0xFFFFFFFF``) always ends with a short packet, so the ``corrupt
  packet`` warning is ignored for it.  With ``strict=False`` these decoder complaints are
  logged as a warning instead, as long as samples came out;
* the decoder produced no samples (a WAV header with no frames):
  :class:`~gruvsynth.errors.EmptyAudioError`;
* a sample is NaN or infinite (possible in float WAV files):
  :class:`~gruvsynth.errors.NonFiniteAudioError`;
* the mono signal's peak is below one 16-bit step, :data:`SILENCE_THRESHOLD` = 2**-15
  (a 16-bit file of all zeros; dithered silence at +-1 LSB counts as sound):
  :class:`~gruvsynth.errors.SilentAudioError`.

Samples of float files (or lossy decoders' overshoot) outside [-1, 1] are clipped to
[-1, 1], since :func:`load` promises [-1, 1], and their number is logged: as a warning when
more than :data:`CLIP_WARN_SHARE` (0.1 %) of the samples were clipped, else at INFO level
(lossy decoders routinely overshoot by a few samples on loud masters).

ffmpeg and ffprobe run with ``-nostdin`` and a time limit (:data:`FFMPEG_TIMEOUT`).

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
import logging
import math
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gruvsynth.errors import (
    AudioError,
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
    UnreadableFileError,
)
from gruvsynth.fileio import atomic_path

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
]

log = logging.getLogger("gruvsynth.audio")

#: The sample rate gruvsynth works at (the paper's 44.1 kHz).
SR = 44100

#: File name extensions (lower case) taken as audio when a folder is searched.
AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".w64", ".rf64", ".bwf",
    ".mp3", ".mp2",
    ".ogg", ".oga", ".opus", ".spx",
    ".flac",
    ".m4a", ".m4b", ".mp4a", ".aac", ".alac",
    ".aif", ".aiff", ".aifc",
    ".caf", ".au", ".snd",
    ".wma", ".mka", ".ac3", ".eac3", ".dts",
    ".ape", ".wv", ".tta", ".mpc", ".amr",
)

#: A signal whose peak is below one 16-bit step is silent.
SILENCE_THRESHOLD = 2.0**-15

#: Share of clipped samples above which :func:`load` logs a warning rather than an INFO note.
CLIP_WARN_SHARE = 1e-3

#: A sample with ``|x| >= CLIP_THRESHOLD`` of full scale counts as clipped in :func:`inspect_file`.
CLIP_THRESHOLD = 0.999

#: Length of the blocks whose share is reported as "silence" by :func:`inspect_file`.
SILENCE_BLOCK_SECONDS = 0.25

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


class NoUsableAudioError(GruvError):
    """A folder (or list of files) holds no audio file that could be loaded."""


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
class FileReport:
    """One row of ``gruvsynth inspect``: what a file holds and whether it is usable.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    format, codec : str or None
        As in :class:`AudioInfo`; None where the file could not be probed.
    sample_rate, channels, bit_depth : int or None
        As in :class:`AudioInfo`.
    duration : float or None
        Seconds of decoded audio (the container's figure when decoding failed).
    peak : float or None
        Largest ``|x|`` over every channel's finite samples, full scale 1.0.
    silence : float or None
        Share of the mono signal's 0.25 s blocks (:data:`SILENCE_BLOCK_SECONDS`; the last,
        shorter block counts as one) whose peak is below :data:`SILENCE_THRESHOLD` (2**-15).
    clipped : float or None
        Share of all channels' samples with ``|x| >= 0.999`` of full scale
        (:data:`CLIP_THRESHOLD`; for files of fewer than 11 bits, the largest positive code,
        ``1 - 2**(1 - bits)``, also counts, since such files cannot reach 0.999).
    status : str
        ``"OK"``, or the problem (the reason part of the error :func:`load` would raise).
    error : str or None
        Name of that error's class, e.g. ``"CorruptAudioError"``; None when OK.
    """

    path: Path
    format: str | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    duration: float | None = None
    peak: float | None = None
    silence: float | None = None
    clipped: float | None = None
    status: str = "OK"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file can be loaded."""
        return self.error is None

    def as_dict(self) -> dict:
        """The report as a JSON-ready dict (path as a string, non-finite numbers as None)."""
        out = dataclasses.asdict(self)
        out["path"] = os.fspath(self.path)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


@dataclasses.dataclass
class _Decoded:
    mono: np.ndarray  # float32 (n,), not clipped
    sample_rate: int
    returncode: int
    problems: list[str]
    peak: float  # over all channels' finite samples
    n_clipped: int  # channel samples at or beyond the clip threshold
    n_channel_samples: int


# --------------------------------------------------------------------------------------------
# files and tools


def _unreadable(path: Path, what: str = "cannot be read") -> UnreadableFileError:
    return UnreadableFileError(path, f"{what} (permission denied)")


def _walk(folder: Path, recursive: bool, found: set, problems: list) -> None:
    """Add the audio files under ``folder`` to ``found``; unreadable folders to ``problems``."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        problems.append(_unreadable(folder, "folder cannot be read"))
        return
    except OSError as exc:
        problems.append(UnreadableFileError(folder, f"folder cannot be read ({exc.strerror})"))
        return
    for entry in entries:
        if entry.name.startswith("."):  # hidden files and folders (macOS's ._song.mp3, .git)
            continue
        path = folder / entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    _walk(path, recursive, found, problems)
            elif Path(entry.name).suffix.lower() in AUDIO_EXTENSIONS and entry.is_file():
                found.add(path)
        except OSError:
            problems.append(_unreadable(path))


def scan_audio_files(paths, *, recursive: bool = True) -> tuple[list[Path], list[AudioError]]:
    """The audio files among ``paths``, and the paths that could not be looked at.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders, as for :func:`list_audio_files`.
    recursive : bool
        Search sub-folders too.

    Returns
    -------
    files : list of pathlib.Path
        Sorted, without duplicates.
    problems : list of AudioError
        A :class:`~gruvsynth.errors.MissingFileError` for each path that does not exist and
        an :class:`~gruvsynth.errors.UnreadableFileError` for each path, or folder met in the
        search, that cannot be read (permission denied), in the order met.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    problems: list[AudioError] = []
    for p in map(Path, paths):
        try:
            mode = p.stat().st_mode
        except PermissionError:
            problems.append(_unreadable(p))
            continue
        except (FileNotFoundError, NotADirectoryError):
            problems.append(MissingFileError(p, "no such file or folder"))
            continue
        except OSError as exc:
            problems.append(UnreadableFileError(p, f"cannot be read ({exc.strerror})"))
            continue
        if stat.S_ISDIR(mode):
            _walk(p, recursive, found, problems)
        else:
            found.add(p)
    return sorted(found), problems


def list_audio_files(paths, *, recursive: bool = True) -> list[Path]:
    """The audio files among ``paths``, files and folders, sorted.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders.  A path given explicitly as a file is kept whatever its extension;
        in folders only files whose extension (any case) is in :data:`AUDIO_EXTENSIONS` are
        taken, skipping hidden files and folders (names starting with ``"."``, such as macOS's
        ``._song.mp3`` resource files).
    recursive : bool
        Search sub-folders too.

    Returns
    -------
    files : list of pathlib.Path
        Sorted, without duplicates.  A sub-folder that cannot be read is left out with a
        warning naming it (:func:`scan_audio_files` returns such problems instead).

    Raises
    ------
    MissingFileError
        A path does not exist.
    UnreadableFileError
        A path given cannot be read (permission denied).
    """
    files, problems = scan_audio_files(paths, recursive=recursive)
    given = {Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)}
    for problem in problems:
        if Path(problem.path) in given:
            raise problem
        log.warning("leaving out %s", problem)
    return files


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise DecoderNotFoundError(
            f"{name} not found on PATH: install ffmpeg (e.g. 'sudo apt-get install ffmpeg')"
        )
    return exe


def _check_file(path: Path) -> None:
    """Raise the error for a path that is not a readable, non-empty regular file."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise MissingFileError(path, "no such file") from None
    except PermissionError:
        raise _unreadable(path) from None
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotAudioError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a special file")
        raise NotAudioError(path, f"is {kind}, not a regular file")
    if st.st_size == 0:
        raise EmptyFileError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise _unreadable(path)


def ffmpeg_input(path) -> str:
    """The name ffmpeg/ffprobe are given for a local file: ``file:`` and its absolute path.

    So a name is never read as an option (``-rf.wav``) or as another protocol
    (``concat:a.wav``, ``Intro:Remix.wav``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
    """
    return "file:" + os.path.abspath(os.fspath(path))


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


def _summary(messages: list[str]) -> str:
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


# --------------------------------------------------------------------------------------------
# probe and decode


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
    _check_file(path)
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
    why = _summary(problems or everything or [f"{tool} exit status {returncode}"])
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


def _decode(path: Path, *, sr: int | None, clip_threshold: float = CLIP_THRESHOLD,
            offset: float = 0.0, duration: float | None = None) -> _Decoded:
    """Run ffmpeg once and mix to mono; raises only when nothing could be opened.

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
                ch = header[0]
                frame_bytes = 4 * ch
                rest = b""
                while True:
                    buf = proc.stdout.read(_CHUNK_FRAMES * frame_bytes)
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
    return _Decoded(mono, header[1], returncode, problems, peak, n_clipped, n_total)


def _check_decoded(path: Path, dec: _Decoded, *, strict: bool) -> None:
    """Raise the error for a decoded signal that is not usable (see the module's rules)."""
    x = dec.mono
    if dec.returncode != 0 or dec.problems:
        reason = f"decoder errors, truncated or corrupt ({_summary(dec.problems)})"
        if strict or x.size == 0:
            raise CorruptAudioError(path, reason)
        log.warning("%s: %s; using the %d samples decoded", path, reason, x.size)
    if x.size == 0:
        raise EmptyAudioError(path, "zero-length audio (no samples)")
    finite = np.isfinite(x)
    if not finite.all():
        n_nan = int(np.count_nonzero(np.isnan(x)))
        n_inf = x.size - int(np.count_nonzero(finite)) - n_nan
        raise NonFiniteAudioError(path, f"{n_nan} NaN and {n_inf} infinite samples")
    peak = float(np.max(np.abs(x)))
    if peak < SILENCE_THRESHOLD:
        raise SilentAudioError(
            path, f"all silent (peak of the mono mix {peak:.3g} is below one 16-bit step, 2**-15)"
        )


def _check_sr(sr) -> None:
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ParameterError(f"sample rate must be a positive integer or None, not {sr!r}")


def load(path, *, sr: int | None = SR, strict: bool = True, offset: float = 0.0,
         duration: float | None = None) -> np.ndarray:
    """Decode an audio file to mono float32 in [-1, 1] at sample rate ``sr``.

    Parameters
    ----------
    path : str or os.PathLike
        Any file ffmpeg reads (see the module docstring).
    sr : int or None
        Sample rate of the result; ffmpeg resamples when the file's differs.  None keeps the
        file's own rate.
    strict : bool
        True: any decoder error or warning about corrupt data raises
        :class:`~gruvsynth.errors.CorruptAudioError`.  False: such complaints are logged and
        the samples decoded are used, if there are any.
    offset : float
        Start this many seconds into the file (ffmpeg seeks, sample-accurately for audio).
    duration : float, optional
        Decode at most this many seconds (default: to the end).  Only the part asked for
        is decoded, so a minute of a long song costs a minute's decoding.

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        The mean of all channels, clipped to [-1, 1] (a warning logs how many samples were
        clipped).

    Raises
    ------
    MissingFileError, EmptyFileError, NotAudioError, CorruptAudioError, EmptyAudioError,
    NonFiniteAudioError, SilentAudioError
        The file is unusable; the message is ``"<path>: <reason>"``.
    DecoderNotFoundError
        ffmpeg/ffprobe are not installed.
    ParameterError
        ``sr`` is not a positive integer, ``offset`` is negative or ``duration`` is not
        positive.
    """
    _check_sr(sr)
    if not (isinstance(offset, (int, float)) and math.isfinite(offset) and offset >= 0):
        raise ParameterError(f"offset must be a number of seconds >= 0, got {offset!r}")
    if duration is not None and not (isinstance(duration, (int, float))
                                     and math.isfinite(duration) and duration > 0):
        raise ParameterError(f"duration must be a positive number of seconds, got {duration!r}")
    path = Path(path)
    _check_file(path)
    dec = _decode(path, sr=sr, offset=offset, duration=duration)
    try:
        _check_decoded(path, dec, strict=strict)
    except EmptyAudioError:
        if offset:
            raise EmptyAudioError(path, f"no audio after {offset:g} s (the file is shorter)") from None
        raise
    x = dec.mono
    over = int(np.count_nonzero(np.abs(x) > 1.0))
    if over:
        # Lossy decoders overshoot full scale by a few samples on loud masters: that is
        # normal and logged at INFO; more than CLIP_WARN_SHARE of the samples is a warning.
        level = logging.WARNING if over > CLIP_WARN_SHARE * x.size else logging.INFO
        log.log(level, "%s: clipped %d samples outside [-1, 1] (peak %.4g)", path, over,
                float(np.max(np.abs(x))))
        np.clip(x, -1.0, 1.0, out=x)
    return x


def load_many(paths, *, sr: int | None = SR, strict: bool = True,
              progress: bool = True) -> Iterator[tuple[Path, np.ndarray]]:
    """Load every audio file in ``paths``, skipping bad ones with a warning.

    Parameters
    ----------
    paths : str, os.PathLike or iterable of them
        Files and folders, as for :func:`list_audio_files`.
    sr : int or None
        Sample rate, as for :func:`load`.
    strict : bool
        As for :func:`load`.
    progress : bool
        Show a progress bar (tqdm, one step per file).

    Yields
    ------
    path : pathlib.Path
        A file that loaded.
    audio : np.ndarray [shape=(n,), dtype=float32]
        Its samples, as :func:`load` returns them.

    Raises
    ------
    NoUsableAudioError
        No file loaded (or there was none).  A bad file is otherwise skipped with a warning
        ``"skipping <path>: <reason>"``, and the end logs ``"skipped K of N files"``.
    MissingFileError
        A path does not exist.
    """
    from tqdm.auto import tqdm

    _check_sr(sr)
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files = list_audio_files(paths)
    where = ", ".join(map(os.fspath, paths))
    if not files:
        raise NoUsableAudioError(f"no usable audio in {where}: no audio files found")
    skipped = 0
    for f in tqdm(files, desc="loading audio", unit="file", disable=not progress, leave=False):
        try:
            audio = load(f, sr=sr, strict=strict)
        except AudioError as exc:
            skipped += 1
            log.warning("skipping %s", exc)
            continue
        yield f, audio
    if skipped:
        log.warning("skipped %d of %d files", skipped, len(files))
    else:
        log.info("skipped 0 of %d files", len(files))
    if skipped == len(files):
        raise NoUsableAudioError(
            f"no usable audio in {where}: all {len(files)} files were skipped"
        )


# --------------------------------------------------------------------------------------------
# write


def save(path, audio: np.ndarray, *, sr: int = SR) -> int:
    """Write mono audio as a 16-bit PCM WAV file, atomically.

    Samples outside [-1, 1] are clipped (never wrapped around, as the original GRUV code did),
    then scaled by 32767 and rounded, so full scale is +-32767.  The file is written under a
    temporary name in the same folder and renamed into place, so ``path`` is never left
    half-written.  Missing parent folders are created.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (overwritten if it exists).
    audio : np.ndarray [shape=(n,)]
        Floating-point samples, full scale 1.0.
    sr : int
        Sample rate written in the header.

    Returns
    -------
    n_clipped : int
        Number of samples outside [-1, 1]; a warning is logged when it is not 0.

    Raises
    ------
    ParameterError
        ``audio`` is not a 1-D floating-point array, has NaN/infinite values, or ``sr`` is not
        a positive integer.
    """
    import scipy.io.wavfile

    if sr is None:
        raise ParameterError("sample rate must be a positive integer, not None")
    _check_sr(sr)
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ParameterError(f"audio must be 1-D (mono), not of shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ParameterError(f"audio must be floating point with full scale 1.0, not {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ParameterError(f"audio has {int(np.count_nonzero(~np.isfinite(x)))} NaN/infinite samples")
    path = Path(path)
    n_clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    if n_clipped:
        log.warning("%s: clipped %d of %d samples outside [-1, 1]", path, n_clipped, x.size)
    data = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        scipy.io.wavfile.write(fh, int(sr), data)
    return n_clipped


# --------------------------------------------------------------------------------------------
# inspect


def inspect_file(path, *, sr: int | None = None) -> FileReport:
    """Describe one file and say whether :func:`load` can use it; never raises for a bad file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    sr : int or None
        Decode at this rate; None (default) keeps the file's own rate, so that peak and
        clipping are those of the file, not of a resampler.

    Returns
    -------
    report : FileReport
        Format, rate, bit depth, channels, duration, peak, share of silence, share of clipped
        samples, and ``status``: ``"OK"`` or the problem (the reason :func:`load` would give).
        Fields that could not be measured are None.

    Raises
    ------
    DecoderNotFoundError
        ffmpeg/ffprobe are not installed (a problem with the machine, not the file).
    ParameterError
        ``sr`` is not a positive integer or None.
    """
    _check_sr(sr)
    path = Path(path)
    report = FileReport(path=path)
    try:
        info = probe(path)
        report.format, report.codec = info.format, info.codec
        report.sample_rate, report.channels = info.sample_rate, info.channels
        report.bit_depth, report.duration = info.bit_depth, info.duration
        threshold = CLIP_THRESHOLD
        if info.bit_depth and info.bit_depth < 11:
            threshold = min(threshold, 1.0 - 2.0 ** (1 - info.bit_depth))
        dec = _decode(path, sr=sr, clip_threshold=threshold)
        x = dec.mono
        if x.size:
            report.duration = x.size / dec.sample_rate
            report.peak = dec.peak
            report.clipped = dec.n_clipped / dec.n_channel_samples
            block = max(1, round(SILENCE_BLOCK_SECONDS * dec.sample_rate))
            block_peaks = np.maximum.reduceat(np.abs(x), np.arange(0, x.size, block))
            report.silence = float(np.count_nonzero(block_peaks < SILENCE_THRESHOLD)) / block_peaks.size
        _check_decoded(path, dec, strict=True)
    except AudioError as exc:
        report.status, report.error = exc.reason, type(exc).__name__
    return report

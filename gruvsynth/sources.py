"""The built-in corpora: locate, fetch and verify their music.

The paper trained on 20 David Bowie songs and 20 Madeon songs, which cannot be shipped.
gruvsynth stands them in with two free game soundtracks packaged by Debian, pinned track by
track (file, duration, sha256, package version) in ``gruvsynth/data/corpora.json``:

``wesnoth``
    20 orchestral tracks of 3–7 minutes from ``wesnoth-1.16-music`` (for the varied,
    recorded Bowie set).
``warzone2100``
    20 synthesized/electronic tracks from ``warzone2100-music`` (for the digitally produced
    Madeon set): the package's 19 distinct tracks of 3–9 minutes plus ``track20``
    (9.75 minutes), the nearest one above the range, to make 20.

Where the music is looked for, in order (:func:`fetch_corpus`):

1. the installed Debian package (``/<root>/<file>``), used as is;
2. the cache folder: ``cache_dir`` if given, else ``$GRUVSYNTH_CACHE``, else
   ``$XDG_CACHE_HOME/gruvsynth``, else ``~/.cache/gruvsynth``; the package is unpacked under
   ``<cache>/<package>/``;
3. ``apt-get download <package>`` into the cache and ``dpkg-deb -x`` into
   ``<cache>/<package>/`` (no root needed).  The unpacking goes to a temporary folder that
   is renamed into place, so an interrupted fetch never leaves a half-unpacked cache.

Every track is checked against its pinned sha256 before it is returned.  When none of the
three works, :class:`~gruvsynth.errors.FetchError` says exactly what to run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from gruvsynth.errors import FetchError, ParameterError

__all__ = [
    "BUILTIN_CORPORA",
    "corpus_info",
    "default_cache_dir",
    "fetch_corpus",
    "sha256_file",
]

log = logging.getLogger("gruvsynth.sources")

#: Environment variable that overrides the default cache folder.
CACHE_ENV = "GRUVSYNTH_CACHE"


@lru_cache(maxsize=1)
def _manifest() -> dict:
    text = resources.files("gruvsynth").joinpath("data/corpora.json").read_text(encoding="utf-8")
    return json.loads(text)


#: Names of the built-in corpora, in the order of ``corpora.json``.
BUILTIN_CORPORA: tuple[str, ...] = tuple(_manifest()["corpora"])


def corpus_info(name: str) -> dict:
    """Pinned description of a built-in corpus.

    Parameters
    ----------
    name : str
        One of :data:`BUILTIN_CORPORA`.

    Returns
    -------
    dict
        A copy of the corpus's entry in ``corpora.json`` with ``"name"`` added: ``package``,
        ``version``, ``root`` (folder of the files, relative to ``/``), ``description``,
        ``license``, ``selection`` and ``tracks`` (list of ``{"file", "seconds", "sha256"}``
        in manifest order; ``file`` is relative to ``root``).

    Raises
    ------
    ParameterError
        If ``name`` is not a built-in corpus.
    """
    corpora = _manifest()["corpora"]
    if name not in corpora:
        raise ParameterError(
            f"unknown corpus {name!r}; built-in corpora are {', '.join(BUILTIN_CORPORA)}"
        )
    info = copy.deepcopy(corpora[name])
    info["name"] = name
    return info


def default_cache_dir() -> Path:
    """The cache folder used when none is given.

    Returns
    -------
    pathlib.Path
        ``$GRUVSYNTH_CACHE`` if set, else ``$XDG_CACHE_HOME/gruvsynth``, else
        ``~/.cache/gruvsynth``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gruvsynth"


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as lowercase hex.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    chunk : int
        Bytes read at a time.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _paths(root: Path, info: dict) -> list[Path]:
    return [root / track["file"] for track in info["tracks"]]


def _verify(paths: list[Path], info: dict) -> None:
    for path, track in zip(paths, info["tracks"], strict=True):
        try:
            digest = sha256_file(path)
        except OSError as exc:
            raise FetchError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if digest != track["sha256"]:
            raise FetchError(
                f"{path}: sha256 mismatch (expected {track['sha256']}, got {digest}); "
                f"the file is not the pinned copy from {info['package']} {info['version']}: "
                "delete it (or its cache folder) and fetch again"
            )


def _fix_command(info: dict, cache: Path) -> str:
    package = info["package"]
    dest = shlex.quote(str(cache / package))
    return (
        f"install it with `sudo apt-get install {package}`, or without root: "
        f"`mkdir -p {dest} && cd {shlex.quote(str(cache))} && apt-get download {package} "
        f"&& dpkg-deb -x {package}_*.deb {dest}`"
    )


def _download(info: dict, cache: Path, *, progress: bool) -> Path:
    """``apt-get download`` + ``dpkg-deb -x`` into ``cache/<package>``, atomically."""
    package = info["package"]
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise FetchError(
            f"{info['name']}: music not installed, not in the cache {cache}, and "
            f"{' and '.join(missing)} not found to download it; {_fix_command(info, cache)}"
        )
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{package}.partial-", dir=cache))
    except OSError as exc:
        raise FetchError(f"{cache}: cannot create the cache folder ({exc.strerror or exc})") from None
    target = cache / package
    try:
        if progress:
            log.info("downloading %s with apt-get into %s", package, cache)
        # the pinned version first; if the archive has moved on, the current one (whose
        # files are then checked against the pinned sha256s like any other copy)
        for spec in (f"{package}={info['version']}", package):
            result = subprocess.run(
                ["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True
            )
            if result.returncode == 0:
                break
        debs = sorted(tmp.glob(f"{package}_*.deb"))
        if result.returncode != 0 or not debs:
            reason = (result.stderr.strip().splitlines() or ["no .deb file"])[-1]
            raise FetchError(
                f"{info['name']}: music not installed and `apt-get download {package}` failed "
                f"({reason}); {_fix_command(info, cache)}"
            )
        if progress:
            log.info("unpacking %s", debs[0].name)
        unpacked = tmp / "root"
        result = subprocess.run(
            ["dpkg-deb", "-x", str(debs[0]), str(unpacked)], capture_output=True, text=True
        )
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise FetchError(f"{debs[0]}: `dpkg-deb -x` failed ({reason}); {_fix_command(info, cache)}")
        if target.exists():  # an incomplete or stale copy: replace it
            shutil.rmtree(target)
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def fetch_corpus(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    use_installed: bool = True,
) -> list[Path]:
    """Paths of a built-in corpus's 20 tracks, downloading them if needed, all verified.

    Parameters
    ----------
    name : str
        One of :data:`BUILTIN_CORPORA` (``"wesnoth"`` or ``"warzone2100"``).
    cache_dir : str or os.PathLike, optional
        Cache folder; default :func:`default_cache_dir`.
    progress : bool
        Log what is downloaded and unpacked.
    use_installed : bool
        Use the installed Debian package's files when present (default).  ``False`` looks only
        in the cache (and downloads there), e.g. to test or refresh the cache.

    Returns
    -------
    list of pathlib.Path
        The tracks in manifest order, each checked against its pinned sha256.

    Raises
    ------
    ParameterError
        Unknown corpus name.
    FetchError
        The music is neither installed nor cached and cannot be downloaded (the message
        says what to run), or a file does not match its pinned sha256 (the message names it).
    """
    info = corpus_info(name)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    installed = _paths(Path("/") / info["root"], info)
    if use_installed and all(p.is_file() for p in installed):
        log.debug("%s: using the installed package %s", name, info["package"])
        _verify(installed, info)
        return installed
    cached = _paths(cache / info["package"] / info["root"], info)
    if not all(p.is_file() for p in cached):
        _download(info, cache, progress=progress)
        missing = [p for p in cached if not p.is_file()]
        if missing:
            raise FetchError(
                f"{missing[0]}: not in the downloaded {info['package']} (the archive may hold "
                f"another version than the pinned {info['version']}); {_fix_command(info, cache)}"
            )
    _verify(cached, info)
    return cached

"""Built-in corpora: the pinned manifest, the installed package, the cache, apt-get download."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from gruvsynth.errors import FetchError, ParameterError
from gruvsynth.sources import (
    BUILTIN_CORPORA,
    corpus_info,
    default_cache_dir,
    fetch_corpus,
    sha256_file,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _installed(name: str) -> list[Path]:
    info = corpus_info(name)
    return [Path("/") / info["root"] / t["file"] for t in info["tracks"]]


def _fake_cache(cache: Path, name: str) -> list[Path]:
    """A cache folder laid out like an unpacked .deb, its files linked to the installed ones."""
    info = corpus_info(name)
    paths = []
    for src, track in zip(_installed(name), info["tracks"], strict=True):
        dst = cache / info["package"] / info["root"] / track["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
        paths.append(dst)
    return paths


def test_builtin_corpora_are_pinned():
    assert BUILTIN_CORPORA == ("wesnoth", "warzone2100")
    for name in BUILTIN_CORPORA:
        info = corpus_info(name)
        assert info["name"] == name
        assert info["package"] and info["version"] and info["root"]
        files = [t["file"] for t in info["tracks"]]
        assert len(files) == 20 and len(set(files)) == 20
        for t in info["tracks"]:
            assert HEX64.match(t["sha256"]), t
    wesnoth = corpus_info("wesnoth")
    assert all(180 <= t["seconds"] <= 420 for t in wesnoth["tracks"])
    warzone = corpus_info("warzone2100")
    files = [t["file"] for t in warzone["tracks"]]
    assert not any("enhanced" in f for f in files)  # never track3 and its remake
    long = [t for t in warzone["tracks"] if not 180 <= t["seconds"] <= 540]
    assert [Path(t["file"]).stem for t in long] == ["track20"]  # the documented 20th track
    assert "track20" in warzone["selection"]


def test_corpus_info_is_a_copy_and_rejects_unknown_names():
    info = corpus_info("wesnoth")
    info["tracks"].clear()
    assert len(corpus_info("wesnoth")["tracks"]) == 20
    with pytest.raises(ParameterError, match="bowie.*wesnoth"):
        corpus_info("bowie")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GRUVSYNTH_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GRUVSYNTH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "gruvsynth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "gruvsynth"


def test_installed_package_is_used_as_is(tmp_path):
    paths = fetch_corpus("warzone2100", cache_dir=tmp_path / "cache", progress=False)
    assert paths == _installed("warzone2100")
    assert not (tmp_path / "cache").exists()  # nothing downloaded or copied


def test_cache_is_used_and_verified(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    expected = _fake_cache(cache, "warzone2100")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no apt-get: the cache must suffice
    assert fetch_corpus("warzone2100", cache_dir=cache, use_installed=False,
                        progress=False) == expected
    monkeypatch.setenv("GRUVSYNTH_CACHE", str(cache))  # the environment variable is honoured
    assert fetch_corpus("warzone2100", use_installed=False, progress=False) == expected

    # a modified copy in the cache: the error names the file
    victim = expected[3]
    data = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(FetchError, match=re.escape(str(victim)) + ".*sha256 mismatch") as err:
        fetch_corpus("warzone2100", cache_dir=cache, use_installed=False, progress=False)
    assert "\n" not in str(err.value)


def test_error_says_what_to_run_when_nothing_works(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no apt-get, no dpkg-deb
    with pytest.raises(FetchError) as err:
        fetch_corpus("wesnoth", cache_dir=tmp_path / "cache", use_installed=False,
                     progress=False)
    message = str(err.value)
    assert "\n" not in message
    assert "sudo apt-get install wesnoth-1.16-music" in message
    assert "apt-get download wesnoth-1.16-music" in message and "dpkg-deb -x" in message
    assert str(tmp_path / "cache") in message


@pytest.mark.slow
def test_download_into_cache_with_apt_get(tmp_path, monkeypatch):
    """The real fallback: apt-get download + dpkg-deb -x, no root needed (85 MB .deb)."""
    cache = tmp_path / "cache"
    paths = fetch_corpus("warzone2100", cache_dir=cache, use_installed=False, progress=False)
    info = corpus_info("warzone2100")
    root = cache / info["package"] / info["root"]
    assert paths == [root / t["file"] for t in info["tracks"]]
    assert all(p.is_file() and not p.is_symlink() for p in paths)
    assert sha256_file(paths[0]) == info["tracks"][0]["sha256"]
    # only the unpacked package is left: no .deb, no temporary folder
    assert sorted(os.listdir(cache)) == [info["package"]]
    # a second fetch uses the cache without downloading
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert fetch_corpus("warzone2100", cache_dir=cache, use_installed=False,
                        progress=False) == paths
    # an incomplete cache (a file missing) is downloaded again, not half-used
    monkeypatch.undo()
    paths[5].unlink()
    shutil.rmtree(root / "albums" / "original_soundtrack")
    again = fetch_corpus("warzone2100", cache_dir=cache, use_installed=False, progress=False)
    assert again == paths and all(p.is_file() for p in again)

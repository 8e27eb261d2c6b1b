"""Corpus preparation and reading: split, clips, targets, statistics, on-disk format, errors."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io.wavfile
from helpers.synth import chord, noise, tone, write_wav

from gruvsynth.corpus import (
    RunningMoments,
    clip_count,
    next_block_targets,
    open_corpus,
    prepare_corpus,
    split_songs,
)
from gruvsynth.errors import CorpusError, GruvError, ParameterError

# small blocks and clips so that a second of audio gives many clips
BLOCK = 441  # 10 ms
T = 5  # 50 ms clips
SMALL = {"block": BLOCK, "clip_blocks": T, "progress": False}


@pytest.fixture
def warnings_log():
    """Records of gruvsynth's loggers (attached directly: the CLI turns propagation off)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.WARNING)
    logger = logging.getLogger("gruvsynth")
    level = logger.level  # a CLI test run earlier with --quiet may have raised it
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def make_songs(folder: Path, n: int = 6) -> list[Path]:
    """``n`` WAV songs of different lengths and contents, sorted by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        seconds = 0.6 + 0.13 * i
        if i % 3 == 0:
            x = tone(220.0 * (i + 1), seconds)
        elif i % 3 == 1:
            x = chord((200.0 + 10 * i, 300.0, 450.0), seconds)
        else:
            x = noise(seconds, seed=i)
        paths.append(write_wav(folder / f"song{i:02d}.wav", x))
    return paths


def raw_features(path: Path, *, block=BLOCK, max_seconds=None, representation="fft",
                 start_seconds=0.0):
    """Independent reference: scipy reads the int16 WAV, numpy's FFT per block."""
    sr, data = scipy.io.wavfile.read(path)
    x = data.astype(np.float64) / 32768.0
    x = x[int(round(start_seconds * sr)):]
    if max_seconds is not None:
        x = x[: int(round(max_seconds * sr))]
    n_blocks = -(-len(x) // block)
    padded = np.zeros(n_blocks * block)
    padded[: len(x)] = x
    blocks = padded.reshape(n_blocks, block)
    spec = np.fft.fft(blocks, axis=1) if representation == "fft" else np.fft.rfft(blocks, axis=1)
    return np.concatenate([spec.real, spec.imag], axis=1)


def clips_of(features: np.ndarray, t: int = T) -> np.ndarray:
    k = (len(features) - 1) // t
    return features[: k * t].reshape(k, t, -1)


def target_clips_of(features: np.ndarray, t: int = T) -> np.ndarray:
    k = (len(features) - 1) // t
    return features[1: k * t + 1].reshape(k, t, -1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One corpus of 6 synthesised songs shared by the read-only tests."""
    root = tmp_path_factory.mktemp("prepared")
    paths = make_songs(root / "music", 6)
    corpus = prepare_corpus(root / "music", root / "corpus", **SMALL)
    yield corpus, paths
    corpus.close()


# --------------------------------------------------------------------------------------------
# the rules on their own


def test_split_is_deterministic_disjoint_and_seedable():
    names = [f"s{i:02d}" for i in range(20)]
    a = split_songs(names, dev_fraction=0.2, seed=0)
    assert a == split_songs(names, dev_fraction=0.2, seed=0)
    assert (len(a["train"]), len(a["dev"])) == (16, 4)
    assert not set(a["train"]) & set(a["dev"])
    assert sorted(a["train"] + a["dev"]) == names
    assert a["train"] == sorted(a["train"]) and a["dev"] == sorted(a["dev"])  # corpus order
    b = split_songs(names, dev_fraction=0.2, seed=1)
    assert b["dev"] != a["dev"]


@pytest.mark.parametrize(
    ("n", "fraction", "n_dev"),
    [(1, 0.2, 0), (2, 0.2, 1), (3, 0.2, 1), (5, 0.2, 1), (8, 0.2, 2), (10, 0.25, 3),
     (10, 0.5, 5), (4, 0.9, 3), (7, 0.0, 0)],
)
def test_split_sizes(n, fraction, n_dev):
    split = split_songs([str(i) for i in range(n)], dev_fraction=fraction, seed=3)
    assert len(split["dev"]) == n_dev and len(split["train"]) == n - n_dev


def test_split_rejects_bad_parameters():
    with pytest.raises(ParameterError):
        split_songs(["a", "b"], dev_fraction=1.0)
    with pytest.raises(ParameterError):
        split_songs(["a", "a"])


def test_clip_count_follows_the_authors_strict_rule():
    # clips start at 0, T, ... while start + T < n_blocks
    assert [clip_count(n, 40) for n in (0, 1, 40, 41, 80, 81, 120)] == [0, 0, 0, 1, 1, 2, 2]


def test_next_block_targets_zero_after_the_last_block(rng):
    x = rng.normal(size=(7, 6)).astype(np.float32)
    y = next_block_targets(x)
    np.testing.assert_array_equal(y[:-1], x[1:])
    np.testing.assert_array_equal(y[-1], 0.0)


def test_running_moments_match_numpy(rng):
    x = rng.normal(3.0, 2.0, size=(301, 9)).astype(np.float32)
    whole = RunningMoments(9)
    parts = [RunningMoments(9) for _ in range(3)]
    for part, rows in zip(parts, np.array_split(x, [17, 150]), strict=True):
        for chunk in np.array_split(rows, 4):
            part.add(chunk)
    for part in parts:
        whole.merge(part)
    assert whole.n == 301
    np.testing.assert_allclose(whole.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(whole.std(), x.astype(np.float64).std(0), rtol=1e-10)
    const = RunningMoments(2)
    const.add(np.ones((5, 2), np.float32))
    np.testing.assert_array_equal(const.std(), 1e-8)  # clamped


# --------------------------------------------------------------------------------------------
# the prepared corpus


def test_round_trip_clips_are_the_songs_features_normalised(prepared):
    corpus, paths = prepared
    m = corpus.manifest
    assert corpus.features == 2 * BLOCK and corpus.block == BLOCK and corpus.clip_blocks == T
    assert corpus.representation == "fft" and corpus.sr == 44100
    assert corpus.mean.shape == corpus.std.shape == (2 * BLOCK,)
    assert corpus.mean.dtype == corpus.std.dtype == np.float32
    names = [p.name for p in paths]
    assert corpus.songs() == names
    assert sorted(corpus.songs("train") + corpus.songs("dev")) == names
    assert len(corpus.songs("dev")) == 1  # round(6 * 0.2) = 1
    assert m["split"] == {"train": corpus.songs("train"), "dev": corpus.songs("dev")}
    by_name = dict(zip(names, paths, strict=True))
    for split in ("train", "dev"):
        inputs, targets = corpus.clips(split)
        raw = [raw_features(by_name[n]) for n in corpus.songs(split)]
        want_x = np.concatenate([clips_of(f) for f in raw])
        want_y = np.concatenate([target_clips_of(f) for f in raw])
        assert inputs.shape == targets.shape == want_x.shape == (len(inputs), T, 2 * BLOCK)
        assert inputs.dtype == np.float32 and len(inputs) == m["counts"][f"{split}_clips"]
        x = np.asarray(inputs)
        y = np.asarray(targets)
        assert x.dtype == y.dtype == np.float32
        scale = np.abs(want_x).max()
        np.testing.assert_allclose(x * corpus.std + corpus.mean, want_x, atol=2e-4 * scale)
        np.testing.assert_allclose(y * corpus.std + corpus.mean, want_y, atol=2e-4 * scale)
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])  # targets = inputs shifted by one
        np.testing.assert_allclose(x, (want_x - corpus.mean) / corpus.std, rtol=1e-3, atol=1e-3)


def test_clips_index_like_arrays(prepared):
    corpus, _ = prepared
    inputs, targets = corpus.clips("train")
    full = np.asarray(inputs)
    full_y = np.asarray(targets)
    n = len(inputs)
    np.testing.assert_array_equal(inputs[2], full[2])
    np.testing.assert_array_equal(inputs[-1], full[-1])
    np.testing.assert_array_equal(inputs[3:9:2], full[3:9:2])
    idx = np.array([7, 1, 7, n - 1, 0])  # unsorted, with a repeat
    np.testing.assert_array_equal(inputs[idx], full[idx])
    np.testing.assert_array_equal(targets[[4, 2]], full_y[[4, 2]])
    mask = np.zeros(n, bool)
    mask[[0, 5]] = True
    np.testing.assert_array_equal(inputs[mask], full[mask])
    np.testing.assert_array_equal(inputs[[1, 2], 0], full[[1, 2], 0])
    np.testing.assert_array_equal(inputs[1, -1, :4], full[1, -1, :4])
    assert inputs[np.array([], dtype=int)].shape == (0, T, 2 * BLOCK)
    bx, by = corpus.batch("train", [6, 0, 6])
    np.testing.assert_array_equal(bx, full[[6, 0, 6]])
    np.testing.assert_array_equal(by, full_y[[6, 0, 6]])
    with pytest.raises(IndexError):
        inputs[n]
    with pytest.raises(IndexError):
        inputs[[0, -n - 1]]
    with pytest.raises(ParameterError):
        corpus.clips("test")


def test_song_blocks_and_normalisation(prepared):
    corpus, paths = prepared
    name = corpus.songs("dev")[0]
    blocks = corpus.song_blocks(name)
    raw = raw_features(next(p for p in paths if p.name == name))
    k = clip_count(len(raw), T)
    assert blocks.shape == (k * T + 1, 2 * BLOCK) and blocks.dtype == np.float32
    scale = np.abs(raw).max()
    np.testing.assert_allclose(corpus.denormalise(blocks), raw[: k * T + 1], atol=2e-4 * scale)
    np.testing.assert_allclose(corpus.normalise(corpus.denormalise(blocks)), blocks,
                               rtol=1e-4, atol=1e-3)
    with pytest.raises(ParameterError):
        corpus.song_blocks("nope.wav")


def test_statistics_come_from_training_clips_only(prepared):
    corpus, paths = prepared
    by_name = {p.name: p for p in paths}
    train = np.concatenate([clips_of(raw_features(by_name[n])).reshape(-1, 2 * BLOCK)
                            for n in corpus.songs("train")])
    np.testing.assert_allclose(corpus.mean, train.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(corpus.std, np.maximum(train.std(0), 1e-8), rtol=1e-4, atol=1e-4)
    everything = np.concatenate([clips_of(raw_features(p)).reshape(-1, 2 * BLOCK) for p in paths])
    assert not np.allclose(corpus.mean, everything.mean(0), rtol=1e-3, atol=1e-3)
    assert corpus.manifest["stats_from"] == "train"
    assert corpus.manifest["counts"]["stats_blocks"] == len(train)
    # the imaginary parts of bin 0 are exactly zero: std clamped, not divided by zero
    assert corpus.std[BLOCK] == np.float32(1e-8)
    assert np.isfinite(np.asarray(corpus.clips("train")[0][:3])).all()


def test_stats_from_all_restores_the_original(tmp_path):
    paths = make_songs(tmp_path / "music", 4)
    corpus = prepare_corpus(tmp_path / "music", tmp_path / "c", stats_from="all", **SMALL)
    everything = np.concatenate([clips_of(raw_features(p)).reshape(-1, 2 * BLOCK) for p in paths])
    np.testing.assert_allclose(corpus.mean, everything.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(corpus.std, np.maximum(everything.std(0), 1e-8),
                               rtol=1e-4, atol=1e-4)
    assert corpus.manifest["parameters"]["stats_from"] == "all"
    corpus.close()


def test_on_disk_format_and_manifest(prepared):
    corpus, paths = prepared
    m = corpus.manifest
    raw = (corpus.path / "manifest.json").read_bytes()
    assert corpus.manifest_hash == hashlib.sha256(raw).hexdigest()
    assert json.loads(raw) == m
    assert m["format"] == "gruvsynth-corpus" and m["format_version"] == 1
    assert m["features"] == 2 * BLOCK and m["gruvsynth_version"]
    assert m["parameters"] == {"representation": "fft", "block": BLOCK, "clip_blocks": T,
                               "dev_fraction": 0.2, "split_seed": 0, "stats_from": "train",
                               "sr": 44100, "songs": None, "max_seconds": None,
                               "start_seconds": 0.0, "std_floor": 1e-8}
    for song, path in zip(m["songs"], paths, strict=True):
        assert song["path"] == str(path.resolve())
        assert song["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.name for p in corpus.path.iterdir()) == ["corpus.h5", "manifest.json"]
    with h5py.File(corpus.path / "corpus.h5", "r") as h5:
        feats = h5["features"]
        assert feats.dtype == np.float32 and feats.compression is None
        # stored once: each song's clip blocks plus the one block after, nothing more
        want_rows = [clip_count(len(raw_features(p)), T) * T + 1 for p in paths]
        assert feats.shape == (sum(want_rows), 2 * BLOCK)
        assert list(h5["songs/n_rows"][()]) == want_rows
        assert list(h5["songs/offset"][()]) == list(np.cumsum([0] + want_rows[:-1]))
        assert list(h5["songs/name"].asstr()[()]) == [p.name for p in paths]
        assert list(h5["songs/split"].asstr()[()]) == [
            "dev" if p.name in m["split"]["dev"] else "train" for p in paths]
        # raw, not normalised
        first = raw_features(paths[0])[: want_rows[0]]
        np.testing.assert_allclose(feats[: want_rows[0]], first, atol=2e-4 * np.abs(first).max())


def test_last_target_is_the_real_next_block(tmp_path):
    """A song of exactly k*T + 1 blocks: its last clip's last target is its last block."""
    music = tmp_path / "music"
    music.mkdir()
    for name, n_blocks in (("a.wav", 3 * T + 1), ("b.wav", 3 * T)):
        write_wav(music / name, noise(n_blocks * BLOCK / 44100, seed=n_blocks))
    corpus = prepare_corpus(music, tmp_path / "c", dev_fraction=0.0, **SMALL)
    counts = {s["name"]: s["n_clips"] for s in corpus.manifest["songs"]}
    assert counts == {"a.wav": 3, "b.wav": 2}  # b: the strict rule drops the incomplete end
    x, y = corpus.clips("train")
    last = raw_features(music / "a.wav")[-1]
    np.testing.assert_allclose(corpus.denormalise(y[2])[-1], last, atol=2e-4 * np.abs(last).max())
    assert np.abs(corpus.denormalise(np.asarray(y))).max(axis=-1).min() > 0  # no zero targets
    assert corpus.songs("dev") == [] and len(corpus.clips("dev")[0]) == 0
    corpus.close()


def test_rfft_and_max_seconds_and_songs(tmp_path):
    paths = make_songs(tmp_path / "music", 5)
    corpus = prepare_corpus(tmp_path / "music", tmp_path / "c", representation="rfft",
                            songs=3, max_seconds=0.5, **SMALL)
    d = 2 * (BLOCK // 2 + 1)
    assert corpus.features == d and corpus.mean.shape == (d,)
    assert corpus.songs() == [p.name for p in paths[:3]]  # the first 3, before the split
    assert corpus.manifest["counts"]["files"] == 5
    for song in corpus.manifest["songs"]:
        assert song["n_blocks"] == -(-int(0.5 * 44100) // BLOCK)
    x = np.concatenate([np.asarray(corpus.clips(s)[0]) for s in ("train", "dev")])
    order = corpus.songs("train") + corpus.songs("dev")
    want = np.concatenate([
        clips_of(raw_features(tmp_path / "music" / n, max_seconds=0.5, representation="rfft"))
        for n in order])
    np.testing.assert_allclose(corpus.denormalise(x), want, atol=2e-4 * np.abs(want).max())
    corpus.close()


def test_start_seconds_skips_intros_and_too_short_songs(tmp_path, warnings_log):
    paths = make_songs(tmp_path / "music", 5)  # 0.60 ... 1.12 s long
    corpus = prepare_corpus(tmp_path / "music", tmp_path / "c", start_seconds=0.3,
                            max_seconds=0.25, **SMALL)
    assert corpus.manifest["parameters"]["start_seconds"] == 0.3
    x = np.concatenate([np.asarray(corpus.clips(s)[0]) for s in ("train", "dev")])
    order = corpus.songs("train") + corpus.songs("dev")
    want = np.concatenate([
        clips_of(raw_features(tmp_path / "music" / n, start_seconds=0.3, max_seconds=0.25))
        for n in order])
    np.testing.assert_allclose(corpus.denormalise(x), want, atol=2e-4 * np.abs(want).max())
    corpus.close()
    # songs shorter than the start are skipped by name, with the reason
    corpus = prepare_corpus(paths, tmp_path / "c2", start_seconds=0.9, **SMALL)
    assert corpus.songs() == [p.name for p in paths[3:]]
    assert any("no audio after 0.9 s" in r.getMessage() and "song00" in r.getMessage()
               for r in warnings_log)
    corpus.close()


def test_refuses_to_overwrite_unless_asked(tmp_path):
    make_songs(tmp_path / "music", 3)
    out = tmp_path / "c"
    prepare_corpus(tmp_path / "music", out, **SMALL).close()
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(CorpusError, match="already exists"):
        prepare_corpus(tmp_path / "music", out, **SMALL)
    assert (out / "manifest.json").read_bytes() == before
    corpus = prepare_corpus(tmp_path / "music", out, overwrite=True, split_seed=5, **SMALL)
    assert corpus.manifest["parameters"]["split_seed"] == 5
    corpus.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "music"]  # nothing left behind
    # a folder that is not a corpus is never replaced, even with overwrite
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(CorpusError, match="not a gruvsynth corpus"):
        prepare_corpus(tmp_path / "music", precious, overwrite=True, **SMALL)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_bad_and_short_files_are_skipped_with_a_warning(tmp_path, warnings_log):
    music = tmp_path / "music"
    make_songs(music, 3)
    (music / "empty.wav").write_bytes(b"")
    (music / "text.wav").write_text("this is not audio\n" * 50)
    write_wav(music / "short.wav", tone(440.0, (T * BLOCK - 10) / 44100))
    corpus = prepare_corpus(music, tmp_path / "c", **SMALL)
    skipped = {Path(s["path"]).name: s["reason"] for s in corpus.manifest["skipped"]}
    assert set(skipped) == {"empty.wav", "text.wav", "short.wav"}
    assert "too short" in skipped["short.wav"]
    assert corpus.songs() == ["song00.wav", "song01.wav", "song02.wav"]
    assert corpus.manifest["counts"]["skipped"] == 3
    messages = [r.getMessage() for r in warnings_log]
    for name in skipped:
        assert any(name in msg for msg in messages), (name, messages)
    assert any("skipped 3 of 6" in msg for msg in messages)
    corpus.close()


def test_nothing_usable_is_a_clear_error(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    (music / "a.wav").write_bytes(b"RIFF....garbage")
    write_wav(music / "b.wav", tone(440.0, 0.01))
    with pytest.raises(GruvError, match="no usable song"):
        prepare_corpus(music, tmp_path / "c", **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music"]  # no corpus, no partial
    with pytest.raises(CorpusError, match="no such file"):
        prepare_corpus(tmp_path / "nowhere", tmp_path / "c", **SMALL)


def test_bad_parameters(tmp_path):
    make_songs(tmp_path / "music", 2)
    for kwargs in ({"representation": "dct"}, {"block": 1}, {"clip_blocks": 0},
                   {"dev_fraction": 1.0}, {"stats_from": "dev"}, {"songs": 0},
                   {"max_seconds": -1.0}):
        with pytest.raises(ParameterError):
            prepare_corpus(tmp_path / "music", tmp_path / "c", **{**SMALL, **kwargs})
    assert not (tmp_path / "c").exists()


def test_open_corpus_errors(prepared, tmp_path):
    corpus, _ = prepared
    with pytest.raises(CorpusError, match="no such corpus"):
        open_corpus(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        open_corpus(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no manifest.json"):
        open_corpus(tmp_path / "empty")

    def copy(name):
        dst = tmp_path / name
        shutil.copytree(corpus.path, dst)
        return dst

    bad = copy("badjson")
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(CorpusError, match="corrupt manifest"):
        open_corpus(bad)
    foreign = copy("foreign")
    (foreign / "manifest.json").write_text('{"name": "something else"}')
    with pytest.raises(CorpusError, match="not a gruvsynth corpus"):
        open_corpus(foreign)
    old = copy("old")
    m = json.loads((old / "manifest.json").read_text())
    m["format_version"] = 0
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CorpusError, match="format version 0"):
        open_corpus(old)
    nodata = copy("nodata")
    (nodata / "corpus.h5").unlink()
    with pytest.raises(CorpusError, match="no corpus.h5"):
        open_corpus(nodata)
    broken = copy("broken")
    (broken / "corpus.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(CorpusError, match="corrupt"):
        open_corpus(broken)
    truncated = copy("truncated")
    data = (truncated / "corpus.h5").read_bytes()
    (truncated / "corpus.h5").write_bytes(data[: len(data) // 3])
    with pytest.raises(CorpusError):
        open_corpus(truncated)
    partial = copy(".c.partial-12345")
    with pytest.raises(CorpusError, match="unfinished"):
        open_corpus(partial)
    # a good copy opens, and closing makes reads fail clearly
    with open_corpus(copy("good")) as good:
        assert good.manifest_hash == corpus.manifest_hash
        x, _ = good.clips("train")
    with pytest.raises(CorpusError, match="closed"):
        x[0]


# --------------------------------------------------------------------------------------------
# hostile and unlucky input (issue 13)


def _during_prepare(monkeypatch, action):
    """Run ``action()`` once while a prepare is running: when it starts decoding its first song
    (after the output was checked, before the corpus is installed)."""
    import gruvsynth.corpus.build as corpus_module

    real, done = corpus_module.load, []

    def load_after_action(*args, **kwargs):
        if not done:
            done.append(True)
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus_module, "load", load_after_action)
    return done


def test_a_folder_made_at_out_during_prepare_is_never_deleted(tmp_path, monkeypatch):
    make_songs(tmp_path / "music", 2)
    out = tmp_path / "c"

    def users_folder():
        out.mkdir()
        (out / "thesis.txt").write_text("years of work")

    ran = _during_prepare(monkeypatch, users_folder)
    with pytest.raises(CorpusError, match="appeared there while this prepare was running"):
        prepare_corpus(tmp_path / "music", out, **SMALL)
    assert ran and (out / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "music"]  # nothing else left
    # with overwrite it is not a corpus, so it is still not replaced
    shutil.rmtree(out)
    ran.clear()
    with pytest.raises(CorpusError, match="not a gruvsynth corpus"):
        prepare_corpus(tmp_path / "music", out, overwrite=True, **SMALL)
    assert (out / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "music"]


def test_a_corpus_made_at_out_during_prepare_is_kept_unless_forced(tmp_path, monkeypatch):
    make_songs(tmp_path / "music", 3)
    other = tmp_path / "other"
    prepare_corpus(tmp_path / "music", other, split_seed=7, **SMALL).close()
    out = tmp_path / "c"
    ran = _during_prepare(monkeypatch, lambda: shutil.copytree(other, out))
    with pytest.raises(CorpusError, match="left as it is"):
        prepare_corpus(tmp_path / "music", out, **SMALL)
    assert ran
    assert (out / "manifest.json").read_bytes() == (other / "manifest.json").read_bytes()
    # --force asks for the corpus there to be replaced: it is, being a corpus
    shutil.rmtree(out)
    ran.clear()
    with prepare_corpus(tmp_path / "music", out, overwrite=True, **SMALL) as corpus:
        assert ran and corpus.manifest["parameters"]["split_seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "music", "other"]


def test_a_second_prepare_into_the_same_folder_is_refused(tmp_path, monkeypatch):
    import subprocess
    import sys

    make_songs(tmp_path / "music", 2)
    out = tmp_path / "c"
    script = ("import sys; from gruvsynth.commands.prepare import main; "
              "sys.exit(main(sys.argv[1:]))")
    second = {}

    def run_second_prepare():
        second["done"] = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "music"), "-o", str(out), "--block",
             str(BLOCK), "--clip-blocks", str(T), "-q"], capture_output=True, text=True,
            timeout=120)

    _during_prepare(monkeypatch, run_second_prepare)
    prepare_corpus(tmp_path / "music", out, **SMALL).close()
    done = second["done"]
    assert done.returncode == 1
    assert "another gruvsynth prepare (pid" in done.stderr and "Traceback" not in done.stderr
    with open_corpus(out) as corpus:
        assert corpus.songs() == ["song00.wav", "song01.wav"]


def test_the_already_exists_message_speaks_to_its_reader(tmp_path):
    make_songs(tmp_path / "music", 2)
    prepare_corpus(tmp_path / "music", tmp_path / "c", **SMALL).close()
    with pytest.raises(CorpusError) as excinfo:
        prepare_corpus(tmp_path / "music", tmp_path / "c", **SMALL)
    assert "overwrite=True" in str(excinfo.value) and "--force" not in str(excinfo.value)
    assert "--force" in excinfo.value.cli_message()
    assert "overwrite" not in excinfo.value.cli_message()


def test_sizes_the_format_or_the_audio_cannot_hold_are_refused(tmp_path):
    make_songs(tmp_path / "music", 2)
    with pytest.raises(ParameterError, match="at most 4 GiB per chunk"):
        prepare_corpus(tmp_path / "music", tmp_path / "c", block=1_000_000_000, progress=False)
    with pytest.raises(ParameterError, match="no song could give one clip"):
        prepare_corpus(tmp_path / "music", tmp_path / "c", max_seconds=0.05, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music"]


@pytest.fixture
def edited(prepared, tmp_path):
    """A copy of the shared corpus and a function that edits one dataset of its HDF5 file."""
    corpus, _ = prepared
    dst = tmp_path / "edited"
    shutil.copytree(corpus.path, dst)

    def edit(key, change):
        with h5py.File(dst / "corpus.h5", "r+") as h5:
            data = h5[key][()]
            new = change(data)
            del h5[key]
            h5.create_dataset(key, data=new)
        return dst

    return edit


@pytest.mark.parametrize(("key", "change", "message"), [
    ("songs/offset", lambda a: a + np.arange(len(a)), "starts at row"),
    ("songs/n_rows", lambda a: np.concatenate([a[:1] + T, a[1:]]), "rows for"),
    ("songs/split", lambda a: np.array([b"test"] + list(a[1:]), dtype=object), "neither"),
    ("std", lambda a: a[:-3], "'std' has shape"),
    ("mean", lambda a: np.where(np.arange(a.size) == 5, np.nan, a), "'mean' has 1 NaN"),
    ("std", lambda a: np.where(np.arange(a.size) == 5, 0.0, a), "values <= 0"),
    ("features", lambda a: np.where(np.arange(a.shape[0])[:, None] == 0, np.inf, a),
     "feature row 0 has"),
])
def test_a_corpus_edited_inside_its_file_is_refused_when_opened(edited, key, change, message):
    path = edited(key, change)
    with pytest.raises(CorpusError, match=message) as excinfo:
        open_corpus(path)
    assert "\n" not in str(excinfo.value) and "prepare it again" in str(excinfo.value)


def _pure_tones(folder: Path, amps) -> Path:
    """Songs of one 400 Hz tone (4 whole periods per 441-sample block), each its own level:
    every block of a song is the same, so the features have (almost) no spread."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, amp in enumerate(amps):
        write_wav(folder / f"tone{i}.wav", tone(400.0, 1.0, amp=amp))
    return folder


def test_features_without_spread_are_reported_with_what_they_do(tmp_path, warnings_log):
    music = _pure_tones(tmp_path / "tones", (0.5, 0.5, 0.3, 0.5, 0.4))
    with prepare_corpus(music, tmp_path / "c", **SMALL) as corpus:
        spread = corpus.spread
        assert spread["std_floor"] == 1e-8 and spread["harmful"]
        assert spread["low_features"] > 0.4 * corpus.features
        assert spread["mean_predictor_dev_loss"] > 100  # instead of about 1
        assert spread["zero_features"] >= 1  # the imaginary part of the DC bin: harmless
    messages = [r.getMessage() for r in warnings_log]
    assert any("spread below 1e-06" in m and "dev loss" in m and "larger std floor" in m
               for m in messages), messages
    # a safer floor, on request; the faithful default stays
    with prepare_corpus(music, tmp_path / "safer", std_floor=1e-3, **SMALL) as corpus:
        assert corpus.spread["std_floor"] == 1e-3 and not corpus.spread["harmful"]
        assert corpus.std.min() >= np.float32(1e-3)
        assert corpus.manifest["parameters"]["std_floor"] == 1e-3
        assert corpus.spread["mean_predictor_dev_loss"] < 1
    with pytest.raises(ParameterError, match="std_floor"):
        prepare_corpus(music, tmp_path / "bad", std_floor=0.0, **SMALL)


def test_music_has_no_harmful_low_spread_features(prepared):
    corpus, _ = prepared
    assert corpus.spread["low_features"] == 0 and not corpus.spread["harmful"]

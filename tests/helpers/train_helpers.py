"""Tiny prepared corpora for the training tests (synthesised tones, decoded by gruvsynth).

Small on purpose: 8 kHz audio, blocks of 16–32 samples (feature width D = 32–64), clips of
4–8 blocks, so a training epoch takes a fraction of a second on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

from .synth import tone, write_wav

SR = 8000


def tone_corpus(root: Path) -> Path:
    """Four songs of the same 440 Hz tone (a learnable signal): 57 train / 21 dev clips, 8 x 64.

    The tone's period does not divide the block, so consecutive blocks' spectra rotate in
    phase: the next block is a fixed function of the current one, which a small LSTM learns.
    """
    from gruvsynth.corpus import prepare_corpus

    songs = Path(root) / "tone-songs"
    songs.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        write_wav(songs / f"song{i}.wav", tone(440.0, 0.5 + 0.1 * i, sr=SR), sr=SR)
    out = Path(root) / "tone-corpus"
    prepare_corpus(songs, out, block=32, clip_blocks=8, sr=SR, dev_fraction=0.25,
                   progress=False).close()
    return out


def mini_corpus(root: Path, *, dev_fraction: float = 0.5, name: str = "mini") -> Path:
    """Two short songs: 5 train clips and 5 dev clips of 4 blocks x 32 features (one batch).

    With ``dev_fraction=0`` both songs are training songs and there is no dev split.
    """
    from gruvsynth.corpus import prepare_corpus

    songs = Path(root) / f"{name}-songs"
    songs.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        write_wav(songs / f"song{i}.wav", tone(440.0 + 50 * i, 22 * 16 / SR, sr=SR), sr=SR)
    out = Path(root) / f"{name}-corpus"
    prepare_corpus(songs, out, block=16, clip_blocks=4, sr=SR, dev_fraction=dev_fraction,
                   progress=False).close()
    return out

"""Any audio files against a corpus: :func:`evaluate_audio` gives every audio metric and the
noise-likeness verdict of each file (``gruvsynth evaluate --audio FILE... --corpus DIR``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

from gruvsynth import noise
from gruvsynth.audio import load
from gruvsynth.corpus import Corpus, open_corpus
from gruvsynth.errors import ParameterError
from gruvsynth.evaluation.dev import dev_reference
from gruvsynth.evaluation.metrics import BAND, audio_metrics
from gruvsynth.fileio import check_writable_folder, json_ready, write_json_atomic

__all__ = ["evaluate_audio"]


def evaluate_audio(
    files: Iterable,
    corpus,
    *,
    json_path=None,
    seed: int = 0,
    band: tuple[float, float] = BAND,
) -> dict:
    """Every audio metric of audio files against a corpus, with the noise-likeness verdict.

    Each file is decoded with :func:`gruvsynth.audio.load` at the corpus's sample rate (a bad
    file raises its one-line :class:`~gruvsynth.errors.AudioError` before any work).  The
    corpus gives the reference spectrum (every dev block) and the noise calibration
    (:func:`gruvsynth.noise.calibrate`, seeded by ``seed``).

    Parameters
    ----------
    files : iterable of str or os.PathLike
        Audio files (anything ffmpeg reads).
    corpus : gruvsynth.corpus.Corpus or str or os.PathLike
        An open corpus or its folder.
    json_path : str or os.PathLike, optional
        Write the per-file results there as a JSON list.
    seed : int
        Seed of the calibration's anchors.
    band : (float, float)
        Band of the outside-band energy (Hz).

    Returns
    -------
    results : dict
        ``files``: one JSON-ready dict per file with ``file``, ``seconds``, ``noise_like``
        (True, False, or None with ``verdict`` ``"too quiet to judge"``, ``"too short to
        judge"`` or not calibrated), ``verdict``, ``noise_distance``, ``noise_threshold``,
        ``rms_dbfs``, ``flatness`` (:func:`spectral_flatness`), ``outside_band``,
        ``log_spectral_distance_db``, ``shape_distance_db``, ``rms``, ``clipped_share``,
        ``corpus``; ``dev_audio`` (the dev clips' metrics, averaged, with the music anchor's
        ``noise_distance``); ``calibration``; ``json`` (the path written, or None).
    """
    files = [Path(f) for f in files]
    if not files:
        raise ParameterError("no audio files to evaluate")
    if json_path is not None:
        check_writable_folder(Path(json_path).parent)
    opened = not isinstance(corpus, Corpus)
    corpus = open_corpus(corpus) if opened else corpus
    try:
        sr, block = int(corpus.sr), int(corpus.block)
        decoded = [(path, load(path, sr=sr)) for path in files]
        calibration = noise.calibrate(corpus, seed=seed)
        reference = dev_reference(corpus, band=band)
        corpus_path = os.fspath(corpus.path)
    finally:
        if opened:
            corpus.close()
    rows = []
    for path, audio in decoded:
        m = audio_metrics(audio, sr=sr, band=band, reference=reference["spectrum"], block=block,
                          calibration=calibration)
        rows.append(json_ready({
            "file": os.fspath(path), "seconds": audio.size / sr, "noise_like": m["noise_like"],
            "verdict": m["noise_verdict"], "noise_distance": m["noise_distance"],
            "noise_threshold": calibration["threshold"], "rms_dbfs": m["rms_dbfs"],
            "flatness": m["spectral_flatness"], "outside_band": m["outside_band"],
            "log_spectral_distance_db": m["log_spectral_distance_db"],
            "shape_distance_db": m["shape_distance_db"], "rms": m["rms"],
            "clipped_share": m["clipped_share"], "corpus": corpus_path}))
    if json_path is not None:
        write_json_atomic(json_path, rows)
    music = calibration["anchors"]["music"]["score"]
    level = reference["metrics"]["rms"]
    dev = {"flatness": reference["metrics"]["spectral_flatness"], "noise_distance": music,
           "rms_dbfs": 20 * math.log10(level) if level > 0 else None,
           **{k: v for k, v in reference["metrics"].items() if k != "spectral_flatness"}}
    return {"files": rows, "dev_audio": json_ready(dev), "calibration": json_ready(calibration),
            "json": None if json_path is None else os.fspath(json_path)}

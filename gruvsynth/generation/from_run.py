"""From a run folder to audio files: :func:`generate_from_run` and its
:class:`GenerationResult`.

:func:`generate_from_run` adds what a user needs around
:func:`gruvsynth.generation.generate`: seeds chosen inside the data (dev or training songs, or
the user's own audio file, :mod:`gruvsynth.generation.seeds`), the length given as
iterations, seconds or a multiple of the seed (:mod:`gruvsynth.generation.sizes`),
de-normalisation, the inverse FFT, and WAV/JSON output (:meth:`GenerationResult.save`).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gruvsynth import defaults
from gruvsynth import features as feats
from gruvsynth.checks import check_int
from gruvsynth.errors import CheckpointError, GruvError, ParameterError
from gruvsynth.fileio import check_writable_folder, write_json_atomic
from gruvsynth.generation.seeds import Seed, file_seed, pick_windows
from gruvsynth.generation.sizes import (
    DEFAULT_METHOD,
    DEFAULT_SEED_BLOCKS,
    SEED_SPLITS,
    check_generation_size,
    check_method,
    output_length,
    resolve_iterations,
)
from gruvsynth.generation.steppers import generate, model_width
from gruvsynth.models import float32_model
from gruvsynth.train.runs import as_run

__all__ = ["output_paths", "GenerationResult", "COLLECT_ABOVE_BYTES", "model_bytes",
           "release_memory", "as_run", "generate_from_run"]


def output_paths(path, n_seeds: int) -> list[dict]:
    """Where :meth:`GenerationResult.save` writes each seed's files.

    Parameters
    ----------
    path : str or os.PathLike
        ``OUT.wav`` (a missing ``.wav`` suffix is added).
    n_seeds : int

    Returns
    -------
    paths : list of dict
        Per seed: ``wav`` (``OUT.wav``, or ``OUT-1.wav``, ``OUT-2.wav`` … for several seeds),
        ``seed_wav`` (``OUT.seed.wav`` / ``OUT-1.seed.wav``) and ``json`` (``OUT.json`` /
        ``OUT-1.json``), as ``pathlib.Path``.
    """
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".wav")
    elif path.suffix.lower() != ".wav":
        raise ParameterError(f"{path}: the output must be a .wav file")
    stem = path.with_suffix("")
    stems = [stem] if n_seeds == 1 else [
        stem.with_name(f"{stem.name}-{i}") for i in range(1, n_seeds + 1)
    ]
    return [
        {"wav": s.with_name(s.name + ".wav"), "seed_wav": s.with_name(s.name + ".seed.wav"),
         "json": s.with_name(s.name + ".json")}
        for s in stems
    ]


@dataclass
class GenerationResult:
    """What :func:`generate_from_run` made, one row per seed.

    Attributes
    ----------
    blocks : np.ndarray [shape=(n_seeds, seed_blocks + iterations, D), dtype=float32]
        The generation sequences, normalised (the model's space).
    features : np.ndarray [shape=(n_seeds, seed_blocks + iterations, D), dtype=float32]
        The same, de-normalised with the corpus's statistics.
    audio : np.ndarray [shape=(n_seeds, (seed_blocks + iterations) * N), dtype=float32]
        The waveforms (real part of the inverse FFT of each block, concatenated), not clipped.
    seeds : list of Seed
        The seeds (normalised blocks and origin).
    seed_audio : np.ndarray [shape=(n_seeds, seed_blocks * N), dtype=float32]
        Each seed's own audio, for comparison.
    settings : dict
        Everything needed to repeat the generation (JSON-ready).
    sr : int
        Sample rate in Hz.
    """

    blocks: np.ndarray
    features: np.ndarray
    audio: np.ndarray
    seeds: list
    seed_audio: np.ndarray
    settings: dict = field(default_factory=dict)
    sr: int = defaults.SR

    def save(self, path) -> list[dict]:
        """Write each seed's WAV, its seed's WAV and a JSON of settings.

        Files are ``OUT.wav``, ``OUT.seed.wav`` and ``OUT.json`` for one seed, and
        ``OUT-1.wav``, ``OUT-1.seed.wav``, ``OUT-1.json``, ``OUT-2.wav`` … for several (see
        :func:`output_paths`).  WAVs are 16-bit at ``sr``, clipped to [-1, 1]
        (:func:`gruvsynth.audio.save`, atomic); the JSON has the settings, the seed's origin and
        the number of clipped samples.

        Parameters
        ----------
        path : str or os.PathLike
            ``OUT.wav``.

        Returns
        -------
        written : list of dict
            Per seed: the paths (``wav``, ``seed_wav``, ``json``) and ``clipped`` (samples).
        """
        from gruvsynth import audio as audio_io

        paths = output_paths(path, len(self.seeds))
        check_writable_folder(paths[0]["wav"].parent)
        written = []
        for i, p in enumerate(paths):
            clipped = int(audio_io.save(p["wav"], self.audio[i], sr=self.sr))
            seed_clipped = int(audio_io.save(p["seed_wav"], self.seed_audio[i], sr=self.sr))
            n = int(self.audio[i].shape[0])
            info = {
                **self.settings,
                "seed": self.seeds[i].describe(),
                "output": {
                    "wav": p["wav"].name,
                    "seed_wav": p["seed_wav"].name,
                    "samples": n,
                    "seconds": n / self.sr,
                    "clipped_samples": clipped,
                    "clipped_share": clipped / max(n, 1),
                    "seed_clipped_samples": seed_clipped,
                },
            }
            write_json_atomic(p["json"], info)
            written.append({**p, "clipped": clipped})
        return written


#: Models lighter than this are left to Python's own collector by :func:`release_memory`.
COLLECT_ABOVE_BYTES = 64 * 2**20


def model_bytes(model) -> int:
    """Bytes held by a Keras model's weights (every variable, trainable or not)."""
    return int(sum(np.prod(v.shape, dtype=np.int64) * np.dtype(v.dtype).itemsize
                   for v in model.weights))


def release_memory(nbytes: int | None = None) -> None:
    """Free the memory of models that are no longer used, now.

    A Keras model sits in reference cycles, so dropping the last reference does not free its
    weights (1 GB at the paper's size) until Python's cyclic garbage collector runs, which it
    schedules by object counts, not bytes: a stage loading one model after another (Figure 3:
    two loads for each of eight runs) held several at once, 10.8 GB measured for four.

    A full collection costs about 0.5 s in a process that has Keras and TensorFlow loaded
    (460,000 objects to walk, measured on the 2-core test machine), whatever it frees.

    Parameters
    ----------
    nbytes : int, optional
        Bytes of the models just dropped (:func:`model_bytes`).  Below
        :data:`COLLECT_ABOVE_BYTES` nothing is done: weights that small cannot add up to
        much before Python's collector runs of its own accord.  None: collect always.
    """
    import gc

    if nbytes is None or nbytes >= COLLECT_ABOVE_BYTES:
        gc.collect()


def generate_from_run(
    run,
    *,
    seed_from: str | os.PathLike = defaults.DEFAULT_SEED_FROM,
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    iterations: int | None = None,
    seconds: float | None = None,
    times: float | None = None,
    n_seeds: int = 1,
    method: str = DEFAULT_METHOD,
    which: str = defaults.DEFAULT_CHECKPOINT,
    progress: bool = True,
    force: bool = False,
) -> GenerationResult:
    """Generate music with a trained run's model, from seeds in its corpus or a user's file.

    Parameters
    ----------
    run : gruvsynth.training.Run or str or os.PathLike
        The run (or its folder).
    seed_from : {"dev", "train"} or str or os.PathLike
        Take seeds from the corpus's dev or training songs, or from an audio file (prepared with
        the run's statistics, see :func:`file_seed`).
    seed_index : int or sequence of int, optional
        Which window(s): see :func:`seed_windows` (corpus) or :func:`file_seed` (file).
    seed : int, optional
        Seed of the random window choice (when ``seed_index`` is not given).
    seed_blocks : int
        Seed length in blocks (default 40 = one 10 s clip).
    iterations, seconds, times
        The length; at most one (see :func:`resolve_iterations`); default ``times=3``.
    n_seeds : int
        Number of seeds, generated together as one batch.
    method : {"stateful", "faithful"}
        See :func:`generate`.
    which : str
        Checkpoint: ``"final"``, ``"latest"`` or a path (``Run.load_model``).
    progress : bool
        Show progress bars.
    force : bool
        Generate even when the arrays would exceed :data:`MAX_GENERATION_BYTES`.

    Returns
    -------
    GenerationResult
        Call :meth:`GenerationResult.save` to write the WAV and JSON files.

    Raises
    ------
    ParameterError
        For bad settings, seeds that do not fit in the data, or a generation larger than
        :data:`MAX_GENERATION_BYTES` without ``force``.
    gruvsynth.errors.GruvError
        For a missing or broken run, corpus or audio file.
    """
    check_method(method)
    seed_blocks = check_int("seed_blocks", seed_blocks)
    n_seeds = check_int("n_seeds", n_seeds)
    run = as_run(run)
    model_path = getattr(run, "model_path", None)
    if callable(model_path):  # a missing checkpoint is reported before any work
        path = Path(model_path(which))
        if not path.is_file():
            raise CheckpointError(f"{path}: no such model file")
    corpus = run.corpus
    block, sr = int(corpus.block), int(corpus.sr)
    n_iter = resolve_iterations(seed_blocks=seed_blocks, iterations=iterations, seconds=seconds,
                                times=times, block=block, sr=sr)
    check_generation_size(n_seeds=n_seeds, output_blocks=output_length(seed_blocks, n_iter),
                          features=int(corpus.features), block=block, sr=sr, force=force)
    seeds, source = _seeds(corpus, seed_from, seed_blocks=seed_blocks, n_seeds=n_seeds,
                           seed_index=seed_index, seed=seed)
    # the weights only (no optimizer state), in float32 whatever trained them
    model = float32_model(run.load_model(which, compile=False))
    seed_array = np.stack([s.blocks for s in seeds])
    if seed_array.shape[-1] != model_width(model):
        raise GruvError(
            f"{run.path}: the model reads {model_width(model)} features but the corpus has "
            f"{seed_array.shape[-1]}"
        )
    blocks = generate(model, seed_array, iterations=n_iter, method=method, batch=True,
                      progress=progress)
    features, audio, seed_audio = _to_audio(corpus, blocks, seeds)
    settings = _settings(run, corpus, method=method, which=which, source=source,
                         seed_index=seed_index, seed=seed, seed_blocks=seed_blocks,
                         n_iter=n_iter, n_seeds=n_seeds)
    nbytes = model_bytes(model)
    del model
    release_memory(nbytes)
    return GenerationResult(blocks=blocks, features=features, audio=audio, seeds=seeds,
                            seed_audio=seed_audio, settings=settings, sr=sr)


def _seeds(corpus, seed_from, **kwargs) -> tuple[list[Seed], str]:
    """The seeds from a split of the corpus or from an audio file, and where they are from."""
    if isinstance(seed_from, str) and seed_from in SEED_SPLITS:
        return pick_windows(corpus, seed_from, **kwargs), seed_from
    return file_seed(seed_from, corpus, **kwargs), os.fspath(seed_from)


def _to_audio(corpus, blocks: np.ndarray, seeds: list[Seed]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The generated blocks de-normalised, their audio and the seeds' audio."""
    block, representation = int(corpus.block), corpus.representation
    features = np.asarray(corpus.denormalise(blocks), dtype=np.float32)
    audio = np.stack([
        feats.to_audio(f, representation=representation, block=block) for f in features
    ])
    seed_audio = np.stack([
        feats.to_audio(np.asarray(corpus.denormalise(s.blocks), dtype=np.float32),
                       representation=representation, block=block)
        for s in seeds
    ])
    return features, audio, seed_audio


def _settings(run, corpus, *, method, which, source, seed_index, seed, seed_blocks, n_iter,
              n_seeds) -> dict:
    """Everything needed to repeat a generation (JSON-ready)."""
    block, sr = int(corpus.block), int(corpus.sr)
    config = getattr(run, "config", {}) or {}
    return {
        "run": os.fspath(run.path),
        "checkpoint": os.fspath(which),
        "cell": config.get("cell"),
        "hidden": config.get("hidden"),
        "method": method,
        "seed_from": source,
        "seed_index": None if seed_index is None else int(seed_index)
        if isinstance(seed_index, numbers.Integral) else [int(i) for i in seed_index],
        "random_seed": seed,
        "seed_blocks": seed_blocks,
        "iterations": n_iter,
        "output_blocks": output_length(seed_blocks, n_iter),
        "times": output_length(seed_blocks, n_iter) / seed_blocks,
        "n_seeds": n_seeds,
        "block": block,
        "sr": sr,
        "representation": corpus.representation,
        "convention": "first pass keeps all seed_blocks predictions, then one block per "
        "iteration: output_blocks = seed_blocks + iterations",
    }

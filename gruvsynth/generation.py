"""Music generation from a seed: the paper's algorithm (§5), faithful O(n²) and stateful O(n).

The algorithm (paper §5 and ``gen_utils/sequence_generator.py`` of the authors' code)
-------------------------------------------------------------------------------------
A *seed* is ``seed_blocks`` consecutive normalised feature vectors ``S_0 … S_t``
(``t = seed_blocks - 1``).

1. **First pass.**  The model reads the whole seed and predicts the next block at every
   position, ``R_1 … R_{t+1}``.  *All* ``seed_blocks`` predictions are kept: they start the
   *generation sequence*.  ``R_1 … R_t`` are the model's one-step predictions of the seed's own
   blocks; ``R_{t+1}`` is the first block that follows the seed.
2. **Iteration.**  The last prediction is appended to the model's *input*
   (``S_0 … S_t, R_{t+1}, …``), the model predicts again, and only the new last prediction is
   appended to the generation sequence.  This is repeated ``iterations`` times.

So the output has exactly ``seed_blocks + iterations`` blocks.  The authors' loop
``for it in xrange(sequence_length)`` counts the first pass as ``it == 0``, so their
``sequence_length`` is our ``iterations + 1``; their default (one 40-block training clip as the
seed, ``max_seq_len = 10``) gives 40 + 9 = 49 blocks.  Block ``k`` of the output comes from the
first pass when ``k < seed_blocks`` and from iteration ``k - seed_blocks + 1`` otherwise.

Two implementations compute the same numbers (tested to a relative error below 1e-4 for every
cell):

``method="faithful"``
    As the original: every iteration re-feeds the whole, growing input sequence through the
    model (``model.predict_on_batch``).  Cost O(n²) in the output length.
``method="stateful"`` (default)
    Runs the seed through the model one block at a time, keeping every recurrent layer's state,
    then feeds one block per iteration.  Cost O(n).  The step is a small functional Keras model
    built from the trained model's own layers (shared weights: the input projection, each
    recurrent layer's *cell* called as ``cell(x_t, states)``, the output projection) and run with
    ``predict_on_batch``, which Keras compiles on every backend (``tf.function`` on TensorFlow,
    ``jax.jit`` on JAX).  Only position-wise layers (``Dense``, ``Dropout``, ``Activation``,
    normalisation, ``TimeDistributed`` of these) and forward ``keras.layers.RNN`` layers are
    supported; anything else raises :class:`~gruvsynth.errors.ParameterError`, and
    ``method="faithful"`` still works.

:func:`generate_from_run` adds what a user needs around :func:`generate`: seeds chosen inside
the data (dev or training songs, or the user's own audio file), the length given as
iterations, seconds or a multiple of the seed, de-normalisation, the inverse FFT, and WAV/JSON
output (:meth:`GenerationResult.save`).
"""

from __future__ import annotations

import math
import numbers
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from gruvsynth import features as feats
from gruvsynth.errors import CheckpointError, GruvError, ParameterError
from gruvsynth.fileio import check_writable_folder, write_json_atomic
from gruvsynth.models import float32_model

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "DEFAULT_SEED_BLOCKS",
    "DEFAULT_TIMES",
    "SEED_SPLITS",
    "generate",
    "output_length",
    "resolve_iterations",
    "seed_windows",
    "pick_windows",
    "file_seed",
    "Seed",
    "GenerationResult",
    "generate_from_run",
    "output_paths",
    "MAX_GENERATION_BYTES",
    "generation_bytes",
    "check_generation_size",
    "release_memory",
]

#: The two implementations of the generation algorithm.
METHODS = ("faithful", "stateful")
#: The default implementation (O(n), same numbers as the faithful one).
DEFAULT_METHOD = "stateful"
#: Seed length in blocks: one 10 s training clip (40 blocks of 0.25 s), as in the authors' code.
DEFAULT_SEED_BLOCKS = 40
#: Default length of the generation sequence, as a multiple of the seed: the paper found
#: "a sequence that is roughly three times larger than the initial seed sequence" best.
DEFAULT_TIMES = 3.0
#: Corpus splits a seed can be taken from.
SEED_SPLITS = ("dev", "train")
#: Largest generation :func:`generate_from_run` starts without ``force=True``: the bytes of the
#: arrays it keeps (:func:`generation_bytes`).  4 GiB is about 80 minutes of audio for one
#: seed at the paper's sizes (D = 22,050, N = 11,025).
MAX_GENERATION_BYTES = 4 * 2**30

#: Layers the stateful step applies block by block (they act on the last axis only).
_POSITIONWISE = (
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.LayerNormalization,
    keras.layers.BatchNormalization,
    keras.layers.Identity,
)


# --------------------------------------------------------------------------------------------
# The algorithm
# --------------------------------------------------------------------------------------------


def output_length(seed_blocks: int, iterations: int) -> int:
    """Number of blocks :func:`generate` returns: ``seed_blocks + iterations``.

    Parameters
    ----------
    seed_blocks : int
        Blocks in the seed (all of the first pass's predictions are kept).
    iterations : int
        Iterations after the first pass (one new block each).

    Returns
    -------
    int
    """
    return int(seed_blocks) + int(iterations)


def _check_int(value, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ParameterError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _model_width(model) -> int:
    try:
        d_in = model.input_shape[-1]
        d_out = model.output_shape[-1]
    except (AttributeError, ValueError) as exc:
        raise ParameterError(f"model {getattr(model, 'name', model)!r} is not built: {exc}") from exc
    if d_in is None or d_in != d_out:
        raise ParameterError(
            f"model {model.name!r} maps {d_in} features to {d_out}: generation feeds each "
            "prediction back as the next input, so they must be equal"
        )
    return int(d_in)


def _check_seed(seed, width: int) -> np.ndarray:
    seed = np.asarray(seed, dtype=np.float32)
    if seed.ndim not in (2, 3) or seed.shape[-1] != width or seed.shape[-2] < 1:
        raise ParameterError(
            f"seed must have shape (seed_blocks, {width}) or (n_seeds, seed_blocks, {width}), "
            f"got {seed.shape}"
        )
    if seed.ndim == 3 and seed.shape[0] < 1:
        raise ParameterError("seed has no sequences (n_seeds = 0)")
    if not np.all(np.isfinite(seed)):
        raise ParameterError("seed contains NaN or infinite values")
    return seed


def _faithful(model, seed: np.ndarray, iterations: int, bar) -> np.ndarray:
    """The original O(n²) loop for a batch of seeds (batch, seed_blocks, D)."""
    sequence = seed
    first = np.asarray(model.predict_on_batch(sequence), dtype=np.float32)
    out = [first]
    last = first[:, -1:, :]
    for _ in range(iterations):
        sequence = np.concatenate([sequence, last], axis=1)
        last = np.asarray(model.predict_on_batch(sequence), dtype=np.float32)[:, -1:, :]
        out.append(last)
        bar.update(1)
    return np.concatenate(out, axis=1)


class _StepModel(keras.Model):
    """One time step of a sequence model: ``[x_t, *states] -> [y_t, *new_states]``.

    Holds the sequence model's own layers (weights shared, nothing copied): position-wise layers
    are applied to the block, each recurrent layer's cell is called as ``cell(x_t, states)``.
    States travel flattened; ``plan`` records how each recurrent layer's slice is nested.
    """

    def __init__(self, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.step_layers = [layer for _, layer, _ in plan]

    def call(self, inputs):
        x, flat = inputs[0], list(inputs[1:])
        new_states = []
        for kind, layer, structure in self.plan:
            if kind == "rnn":
                n = len(keras.tree.flatten(structure))
                states = keras.tree.pack_sequence_as(structure, flat[:n])
                flat = flat[n:]
                x, new = layer.cell(x, states, training=False)
                if not keras.tree.is_nested(new):
                    new = [new]
                new_states += keras.tree.flatten(new)
            elif kind == "wrapped":
                x = layer.layer(x, training=False)
            else:
                x = layer(x, training=False)
        return [x, *new_states]


class _PrefixModel(keras.Model):
    """The whole seed at once: ``x (batch, T, D) -> [y (batch, T, D), *final_states]``.

    Position-wise layers run on the whole sequence (one matrix product per layer instead of
    one per block); each recurrent layer runs as ``keras.layers.RNN`` around the *same* cell
    object (shared weights) with ``return_state=True``, so its final states come out.
    """

    def __init__(self, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = plan
        self.step_layers = [layer for _, layer, _ in plan]

    def call(self, x):
        states = []
        for kind, layer, _ in self.plan:
            if kind == "rnn":
                x, *final = layer(x, training=False)
                states += keras.tree.flatten(final)
            else:
                x = layer(x, training=False)
        return [x, *states]


class _Stepper:
    """Runs the seed through :class:`_PrefixModel`, then blocks through :class:`_StepModel`.

    Both are run with ``predict_on_batch``, which the backend compiles once per input shape.
    """

    def __init__(self, model):
        self.width = _model_width(model)
        plan, prefix = [], []
        self.layers = []
        for layer in model.layers:
            if isinstance(layer, keras.layers.RNN):
                if getattr(layer, "go_backwards", False):
                    raise ParameterError(
                        f"layer {layer.name!r} reads sequences backwards, so it cannot be run "
                        "block by block; use method='faithful'"
                    )
                # The RNN layer keeps state_size as a list (entries may nest, e.g. stacked
                # cells); its own loop passes the states to the cell in that structure.
                plan.append(("rnn", layer, list(layer.state_size)))
                twin = keras.layers.RNN(layer.cell, return_sequences=True, return_state=True,
                                        name=f"{layer.name}_with_state")
                prefix.append(("rnn", twin, None))
                self.layers.append(layer)
            elif isinstance(layer, _POSITIONWISE):
                plan.append(("layer", layer, None))
                prefix.append(("layer", layer, None))
            elif isinstance(layer, keras.layers.TimeDistributed) and isinstance(
                layer.layer, _POSITIONWISE
            ):
                plan.append(("wrapped", layer, None))
                prefix.append(("layer", layer, None))
            else:
                raise ParameterError(
                    f"stateful generation cannot step layer {layer.name!r} "
                    f"({type(layer).__name__}) one block at a time; use method='faithful'"
                )
        if not self.layers:
            raise ParameterError(f"model {model.name!r} has no recurrent layer")
        self.step_model = _StepModel(plan, name=f"{model.name}_step")
        self.prefix_model = _PrefixModel(prefix, name=f"{model.name}_prefix")

    def prefix(self, x: np.ndarray):
        """The seed pass: predictions at every seed position and the final states."""
        outputs = self.prefix_model.predict_on_batch(x)
        y = np.asarray(outputs[0], dtype=np.float32)
        return y, [np.asarray(s, dtype=np.float32) for s in outputs[1:]]

    def __call__(self, x: np.ndarray, states: list[np.ndarray]):
        """One block: ``x (batch, D)`` and the states -> the prediction and the new states."""
        outputs = self.step_model.predict_on_batch([x, *states])
        y = np.asarray(outputs[0], dtype=np.float32)
        return y, [np.asarray(s, dtype=np.float32) for s in outputs[1:]]


_STEPPERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stepper(model) -> _Stepper:
    """The model's stepper, built once per model (so its compiled step is reused)."""
    layers = tuple(id(layer) for layer in model.layers)
    cached = _STEPPERS.get(model)
    if cached is None or cached[0] != layers:
        cached = (layers, _Stepper(model))
        _STEPPERS[model] = cached
    return cached[1]


def _stateful(stepper: _Stepper, seed: np.ndarray, iterations: int, bar) -> np.ndarray:
    """The O(n) loop for a batch of seeds (batch, seed_blocks, D)."""
    first, states = stepper.prefix(seed)
    out = [first]
    y = first[:, -1, :]
    for _ in range(iterations):
        y, states = stepper(y, states)
        out.append(y[:, None, :])
        bar.update(1)
    return np.concatenate(out, axis=1)


def generate(
    model,
    seed: np.ndarray,
    *,
    iterations: int,
    method: str = DEFAULT_METHOD,
    batch: bool = False,
    progress: bool = True,
) -> np.ndarray:
    """Extend a seed with a trained model: the paper's generation algorithm (§5).

    Parameters
    ----------
    model : keras.Model
        A sequence model ``(batch, time, D) -> (batch, time, D)``, e.g. from
        :func:`gruvsynth.models.build_model` or a run's checkpoint.  It runs in float32
        whatever precision trained it (a ``bfloat16`` model is rebuilt in float32 with the
        same weights first, :func:`gruvsynth.models.float32_model`).
    seed : np.ndarray [shape=(seed_blocks, D) or (n_seeds, seed_blocks, D)]
        Normalised feature vectors (the model's input space).
    iterations : int
        Iterations after the first pass; each adds one block.
    method : {"stateful", "faithful"}
        ``"faithful"`` re-feeds the whole growing sequence every iteration (O(n²), as the
        authors' code); ``"stateful"`` carries the recurrent states and feeds one block per
        iteration (O(n)).  Both give the same blocks to within float32 rounding.
    batch : bool
        For several seeds: run them through the model together as one batch (faster; memory
        grows with ``n_seeds``) rather than one after another.
    progress : bool
        Show a progress bar over the iterations.

    Returns
    -------
    blocks : np.ndarray [shape=(seed_blocks + iterations, D) or (n_seeds, seed_blocks + iterations, D), dtype=float32]
        The generation sequence, normalised: the first pass's ``seed_blocks`` predictions, then
        one block per iteration (see the module docstring).

    Raises
    ------
    ParameterError
        For a seed of the wrong shape or with non-finite values, a negative ``iterations``, an
        unknown ``method``, a model whose input and output widths differ, or (stateful only) a
        layer that cannot be stepped one block at a time.

    Examples
    --------
    >>> model = build_model(hidden=8, features=16, compile=False)   # doctest: +SKIP
    >>> generate(model, np.zeros((4, 16)), iterations=3, progress=False).shape  # doctest: +SKIP
    (7, 16)
    """
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    iterations = _check_int(iterations, "iterations", minimum=0)
    model = float32_model(model)
    width = _model_width(model)
    seed = _check_seed(seed, width)
    single = seed.ndim == 2
    seeds = seed[None] if single else seed
    groups = [seeds] if (batch or single) else [s[None] for s in seeds]
    stepper = _stepper(model) if method == "stateful" else None
    out = []
    with tqdm(
        total=iterations * len(groups), disable=not progress, desc=f"generating ({method})",
        unit="block", leave=False,
    ) as bar:
        for group in groups:
            if stepper is not None:
                out.append(_stateful(stepper, group, iterations, bar))
            else:
                out.append(_faithful(model, group, iterations, bar))
    blocks = np.concatenate(out, axis=0)
    return blocks[0] if single else blocks


# --------------------------------------------------------------------------------------------
# Length and seeds
# --------------------------------------------------------------------------------------------


def resolve_iterations(
    *,
    seed_blocks: int,
    iterations: int | None = None,
    seconds: float | None = None,
    times: float | None = None,
    block: int = feats.BLOCK,
    sr: int = 44100,
) -> int:
    """Turn one of the three ways of giving the length into a number of iterations.

    All three describe the whole generation sequence (the output), which is
    ``seed_blocks + iterations`` blocks long.

    Parameters
    ----------
    seed_blocks : int
        Blocks in the seed.
    iterations : int, optional
        Iterations after the first pass (``>= 0``).
    seconds : float, optional
        Length of the output audio in seconds, rounded up to whole blocks; must be at least the
        seed's length (the first pass already gives ``seed_blocks`` blocks).
    times : float, optional
        Length of the output as a multiple of the seed (``>= 1``): ``iterations =
        round(times * seed_blocks) - seed_blocks``.  The paper found about 3 best.
        When none of the three is given, ``times = DEFAULT_TIMES`` (3).
    block : int
        Samples per block (for ``seconds``).
    sr : int
        Sample rate in Hz (for ``seconds``).

    Returns
    -------
    iterations : int

    Raises
    ------
    ParameterError
        If more than one is given, or a value is out of range.
    """
    seed_blocks = _check_int(seed_blocks, "seed_blocks", minimum=1)
    given = [name for name, v in (("iterations", iterations), ("seconds", seconds),
                                  ("times", times)) if v is not None]
    if len(given) > 1:
        raise ParameterError(f"give only one of iterations, seconds and times, not {given}")
    if iterations is not None:
        return _check_int(iterations, "iterations", minimum=0)
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not (
            math.isfinite(seconds) and seconds > 0
        ):
            raise ParameterError(f"seconds must be a positive number, got {seconds!r}")
        total = math.ceil(round(seconds * sr / block, 9))
        if total < seed_blocks:
            raise ParameterError(
                f"seconds={seconds} is shorter than the seed ({seed_blocks * block / sr:g} s): "
                f"the generation sequence starts with the first pass's {seed_blocks} blocks"
            )
        return total - seed_blocks
    if times is None:
        times = DEFAULT_TIMES
    if isinstance(times, bool) or not isinstance(times, numbers.Real) or not (
        math.isfinite(times) and times >= 1
    ):
        raise ParameterError(f"times must be a number >= 1, got {times!r}")
    return int(round(times * seed_blocks)) - seed_blocks


def generation_bytes(n_seeds: int, output_blocks: int, features: int, block: int) -> int:
    """Bytes of the arrays a generation keeps in memory (what :data:`MAX_GENERATION_BYTES` bounds).

    Parameters
    ----------
    n_seeds, output_blocks, features, block : int
        Seeds, blocks per output, feature width ``D`` and samples per block ``N``.

    Returns
    -------
    int
        ``n_seeds * output_blocks * (2 * 4 * D + 4 * N)``: the normalised and the
        de-normalised blocks, and the audio, all float32 (the WAV files on disk take
        ``2 * N`` bytes per block more).
    """
    return int(n_seeds) * int(output_blocks) * (8 * int(features) + 4 * int(block))


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def _human_seconds(s: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600),
                       ("minutes", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.3g} s"


def check_generation_size(*, n_seeds: int, output_blocks: int, features: int, block: int,
                          sr: int, force: bool = False) -> int:
    """Refuse a generation whose arrays would exceed :data:`MAX_GENERATION_BYTES`.

    Parameters
    ----------
    n_seeds, output_blocks, features, block : int
        As for :func:`generation_bytes`.
    sr : int
        Sample rate (for the length in words).
    force : bool
        Allow it anyway.

    Returns
    -------
    int
        The bytes (:func:`generation_bytes`).

    Raises
    ------
    ParameterError
        The generation is too large and ``force`` is false.
    """
    size = generation_bytes(n_seeds, output_blocks, features, block)
    if size > MAX_GENERATION_BYTES and not force:
        seconds = output_blocks * block / sr
        raise ParameterError(
            f"{output_blocks} blocks per output ({_human_seconds(seconds)} of audio) x "
            f"{n_seeds} seed(s) need about {_human_bytes(size)} of memory, more than the limit "
            f"of {_human_bytes(MAX_GENERATION_BYTES)} (gruvsynth.generation."
            "MAX_GENERATION_BYTES)",
            hint="ask for a shorter output, or pass force=True to generate it anyway",
            cli_hint="ask for a shorter output (--iterations, --seconds, --times), or use "
                     "--force to generate it anyway")
    return size


@dataclass
class Seed:
    """One seed window and where it came from.

    Attributes
    ----------
    blocks : np.ndarray [shape=(seed_blocks, D), dtype=float32]
        Normalised feature vectors.
    source : str
        ``"dev"``, ``"train"`` or the audio file's path.
    song : str
        The song's name in the corpus, or the file's name.
    start : int
        Index of the window's first block within the song or file.
    """

    blocks: np.ndarray
    source: str
    song: str
    start: int

    def describe(self) -> dict:
        """The seed's origin as JSON-ready data (no arrays)."""
        return {"source": self.source, "song": self.song, "start_block": int(self.start),
                "blocks": int(self.blocks.shape[0])}


def _song_names(corpus, split: str) -> list[str]:
    songs = corpus.songs(split)
    return [s if isinstance(s, str) else getattr(s, "name", str(s)) for s in songs]


def _song_length(corpus, name: str) -> int:
    """Stored blocks of one song, without reading them (from the manifest when possible)."""
    lengths = getattr(corpus, "song_length", None)
    if callable(lengths):
        return int(lengths(name))
    for song in (getattr(corpus, "manifest", None) or {}).get("songs", []):
        if isinstance(song, dict) and song.get("name") == name and "n_rows" in song:
            return int(song["n_rows"])
    return int(corpus.song_blocks(name).shape[0])


def seed_windows(corpus, split: str, *, seed_blocks: int) -> list[tuple[str, int]]:
    """Every song of a split with the number of seed windows that fit inside it.

    A window is ``seed_blocks`` consecutive blocks of one song; a song of ``n`` blocks holds
    ``n - seed_blocks + 1`` of them (``0`` if it is shorter).  The windows of all songs, in the
    corpus's song order and by start block within a song, are numbered ``0, 1, …``; that number
    is the ``seed_index``.

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    split : {"dev", "train"}
    seed_blocks : int

    Returns
    -------
    windows : list of (str, int)
        ``(song name, number of windows)`` per song.
    """
    if split not in SEED_SPLITS:
        raise ParameterError(f"seed split must be one of {', '.join(SEED_SPLITS)}, got {split!r}")
    seed_blocks = _check_int(seed_blocks, "seed_blocks", minimum=1)
    return [
        (name, max(0, _song_length(corpus, name) - seed_blocks + 1))
        for name in _song_names(corpus, split)
    ]


def _indices(seed_index, n_seeds: int, total: int, rng_seed, what: str) -> list[int]:
    """Window numbers: the given ones (checked) or ``n_seeds`` distinct random ones."""
    if seed_index is not None:
        index = [seed_index] if isinstance(seed_index, numbers.Integral) else list(seed_index)
        if len(index) != n_seeds:
            raise ParameterError(
                f"give one seed index per seed: n_seeds={n_seeds} but {len(index)} index(es)"
            )
        for i in index:
            if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < total:
                raise ParameterError(
                    f"seed index {i!r} is out of range: {what} has {total} seed window(s), "
                    f"numbered 0 to {total - 1}"
                )
        return [int(i) for i in index]
    rng = np.random.default_rng(rng_seed)
    return [int(i) for i in rng.choice(total, size=n_seeds, replace=n_seeds > total)]


def pick_windows(
    corpus,
    split: str,
    *,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    n_seeds: int = 1,
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
) -> list[Seed]:
    """Choose seed windows inside a corpus's songs (never past a song's end).

    Parameters
    ----------
    corpus : gruvsynth.corpus.Corpus
    split : {"dev", "train"}
        Which songs.
    seed_blocks : int
        Window length in blocks.
    n_seeds : int
        How many windows.
    seed_index : int or sequence of int, optional
        Window numbers (see :func:`seed_windows`), one per seed: deterministic choice.
    seed : int, optional
        Seed of the random choice when ``seed_index`` is not given (distinct windows while there
        are enough).

    Returns
    -------
    seeds : list of Seed

    Raises
    ------
    ParameterError
        If no song of the split holds a window of ``seed_blocks`` blocks, or an index is out of
        range.
    """
    n_seeds = _check_int(n_seeds, "n_seeds", minimum=1)
    windows = seed_windows(corpus, split, seed_blocks=seed_blocks)
    total = sum(n for _, n in windows)
    if total == 0:
        longest = max((_song_length(corpus, name) for name, _ in windows), default=0)
        raise ParameterError(
            f"no {split} song is at least {seed_blocks} blocks long (the longest has {longest}); "
            "use a smaller seed_blocks"
        )
    chosen = []
    for index in _indices(seed_index, n_seeds, total, seed, f"the {split} split"):
        rest = index
        for name, n in windows:
            if rest < n:
                song = np.asarray(corpus.song_blocks(name)[rest: rest + seed_blocks],
                                  dtype=np.float32)
                chosen.append(Seed(song, split, name, rest))
                break
            rest -= n
    return chosen


def file_seed(
    path,
    corpus,
    *,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    n_seeds: int = 1,
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
) -> list[Seed]:
    """Seed windows from a user's audio file, prepared like the corpus.

    The file is decoded with :func:`gruvsynth.audio.load` at the corpus's sample rate, cut into
    the corpus's blocks (a last, incomplete block is dropped) and features
    (:func:`gruvsynth.features.to_features`), and normalised with the corpus's training-set
    statistics.  Window ``k`` starts at block ``k``.  Without ``seed_index`` and ``seed`` the
    first window (the start of the file) is used for every seed; with ``seed`` windows are
    random.

    Parameters
    ----------
    path : str or os.PathLike
        The audio file (any format ffmpeg decodes).
    corpus : gruvsynth.corpus.Corpus
        Gives the block size, representation, sample rate and statistics.
    seed_blocks, n_seeds, seed_index, seed
        As for :func:`pick_windows`.

    Returns
    -------
    seeds : list of Seed

    Raises
    ------
    gruvsynth.errors.AudioError
        If the file cannot be decoded.
    ParameterError
        If the file is shorter than ``seed_blocks`` blocks.
    """
    from gruvsynth import audio as audio_io

    seed_blocks = _check_int(seed_blocks, "seed_blocks", minimum=1)
    n_seeds = _check_int(n_seeds, "n_seeds", minimum=1)
    block, sr = int(corpus.block), int(corpus.sr)
    samples = audio_io.load(path, sr=sr)
    n_full = samples.shape[0] // block
    if n_full < seed_blocks:
        raise ParameterError(
            f"{os.fspath(path)}: only {n_full} whole block(s) ({samples.shape[0] / sr:.2f} s); "
            f"a seed of {seed_blocks} blocks needs {seed_blocks * block / sr:g} s "
            "(use a longer file or a smaller seed_blocks)"
        )
    x = feats.to_features(samples[: n_full * block], block=block,
                          representation=corpus.representation)
    x = np.asarray(corpus.normalise(x), dtype=np.float32)
    total = n_full - seed_blocks + 1
    if seed_index is None and seed is None:
        index = [0] * n_seeds
    else:
        index = _indices(seed_index, n_seeds, total, seed, os.fspath(path))
    name = Path(path).name
    return [Seed(x[i: i + seed_blocks], os.fspath(path), name, i) for i in index]


# --------------------------------------------------------------------------------------------
# From a run folder to audio files
# --------------------------------------------------------------------------------------------


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
    sr: int = 44100

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


def release_memory() -> None:
    """Free the memory of models that are no longer used, now.

    A Keras model sits in reference cycles, so dropping the last reference does not free its
    weights (1 GB at the paper's size) until Python's cyclic garbage collector runs, which it
    schedules by object counts, not bytes: a stage loading one model after another (Figure 3:
    two loads for each of eight runs) held several at once, 10.8 GB measured for four.
    """
    import gc

    gc.collect()


def _open(run):
    if isinstance(run, (str, os.PathLike)):
        from gruvsynth.training import open_run

        return open_run(run)
    return run


def generate_from_run(
    run,
    *,
    seed_from: str | os.PathLike = "dev",
    seed_index: int | Sequence[int] | None = None,
    seed: int | None = None,
    seed_blocks: int = DEFAULT_SEED_BLOCKS,
    iterations: int | None = None,
    seconds: float | None = None,
    times: float | None = None,
    n_seeds: int = 1,
    method: str = DEFAULT_METHOD,
    which: str = "final",
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
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    seed_blocks = _check_int(seed_blocks, "seed_blocks", minimum=1)
    n_seeds = _check_int(n_seeds, "n_seeds", minimum=1)
    run = _open(run)
    model_path = getattr(run, "model_path", None)
    if callable(model_path):  # a missing checkpoint is reported before any work
        path = Path(model_path(which))
        if not path.is_file():
            raise CheckpointError(f"{path}: no such model file")
    corpus = run.corpus
    block, sr, representation = int(corpus.block), int(corpus.sr), corpus.representation
    n_iter = resolve_iterations(seed_blocks=seed_blocks, iterations=iterations, seconds=seconds,
                                times=times, block=block, sr=sr)
    check_generation_size(n_seeds=n_seeds, output_blocks=output_length(seed_blocks, n_iter),
                          features=int(corpus.features), block=block, sr=sr, force=force)
    if isinstance(seed_from, str) and seed_from in SEED_SPLITS:
        seeds = pick_windows(corpus, seed_from, seed_blocks=seed_blocks, n_seeds=n_seeds,
                             seed_index=seed_index, seed=seed)
        source = seed_from
    else:
        seeds = file_seed(seed_from, corpus, seed_blocks=seed_blocks, n_seeds=n_seeds,
                          seed_index=seed_index, seed=seed)
        source = os.fspath(seed_from)
    # the weights only (no optimizer state), in float32 whatever trained them
    model = float32_model(run.load_model(which, compile=False))
    seed_array = np.stack([s.blocks for s in seeds])
    if seed_array.shape[-1] != _model_width(model):
        raise GruvError(
            f"{run.path}: the model reads {_model_width(model)} features but the corpus has "
            f"{seed_array.shape[-1]}"
        )
    blocks = generate(model, seed_array, iterations=n_iter, method=method, batch=True,
                      progress=progress)
    features = np.asarray(corpus.denormalise(blocks), dtype=np.float32)
    audio = np.stack([
        feats.to_audio(f, representation=representation, block=block) for f in features
    ])
    seed_audio = np.stack([
        feats.to_audio(np.asarray(corpus.denormalise(s.blocks), dtype=np.float32),
                       representation=representation, block=block)
        for s in seeds
    ])
    config = getattr(run, "config", {}) or {}
    settings = {
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
        "representation": representation,
        "convention": "first pass keeps all seed_blocks predictions, then one block per "
        "iteration: output_blocks = seed_blocks + iterations",
    }
    del model
    release_memory()
    return GenerationResult(blocks=blocks, features=features, audio=audio, seeds=seeds,
                            seed_audio=seed_audio, settings=settings, sr=sr)

"""How long a generation is and how much memory it needs, checked before any work.

The length is given as iterations, seconds or a multiple of the seed
(:func:`resolve_iterations`); the output has :func:`output_length` blocks.  A generation
whose arrays would exceed :data:`MAX_GENERATION_BYTES` is refused unless forced
(:func:`check_generation_size`).  Keras-free.
"""

from __future__ import annotations

import math

from gruvsynth import defaults
from gruvsynth.checks import check_float, check_int
from gruvsynth.errors import ParameterError

__all__ = [
    "METHODS",
    "DEFAULT_METHOD",
    "DEFAULT_SEED_BLOCKS",
    "DEFAULT_TIMES",
    "SEED_SPLITS",
    "MAX_GENERATION_BYTES",
    "check_method",
    "output_length",
    "resolve_iterations",
    "generation_bytes",
    "check_generation_size",
]

#: The two implementations of the generation algorithm.
METHODS = defaults.GENERATION_METHODS
#: The default implementation (O(n), same numbers as the faithful one).
DEFAULT_METHOD = defaults.DEFAULT_METHOD
#: Seed length in blocks: one 10 s training clip (40 blocks of 0.25 s), as in the authors' code.
DEFAULT_SEED_BLOCKS = defaults.DEFAULT_SEED_BLOCKS
#: Default length of the generation sequence, as a multiple of the seed: the paper found
#: "a sequence that is roughly three times larger than the initial seed sequence" best.
DEFAULT_TIMES = defaults.DEFAULT_TIMES
#: Corpus splits a seed can be taken from.
SEED_SPLITS = defaults.SEED_SPLITS
#: Largest generation :func:`generate_from_run` starts without ``force=True``: the bytes of the
#: arrays it keeps (:func:`generation_bytes`).  4 GiB is about 80 minutes of audio for one
#: seed at the paper's sizes (D = 22,050, N = 11,025).
MAX_GENERATION_BYTES = 4 * 2**30


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`.

    Raises
    ------
    ParameterError
        An unknown method.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


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


def resolve_iterations(
    *,
    seed_blocks: int,
    iterations: int | None = None,
    seconds: float | None = None,
    times: float | None = None,
    block: int = defaults.BLOCK,
    sr: int = defaults.SR,
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
    seed_blocks = check_int("seed_blocks", seed_blocks)
    given = [name for name, v in (("iterations", iterations), ("seconds", seconds),
                                  ("times", times)) if v is not None]
    if len(given) > 1:
        raise ParameterError(f"give only one of iterations, seconds and times, not {given}")
    if iterations is not None:
        return check_int("iterations", iterations, minimum=0)
    if seconds is not None:
        check_float("seconds", seconds, positive=True)
        total = math.ceil(round(seconds * sr / block, 9))
        if total < seed_blocks:
            raise ParameterError(
                f"seconds={seconds} is shorter than the seed ({seed_blocks * block / sr:g} s): "
                f"the generation sequence starts with the first pass's {seed_blocks} blocks"
            )
        return total - seed_blocks
    if times is None:
        times = DEFAULT_TIMES
    check_float("times", times, minimum=1)
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

"""Music generation from a seed: the paper's algorithm (§5), faithful O(n²) and stateful O(n).

This package re-exports its public names, so ``from gruvsynth.generation import ...`` keeps
working; they live in :mod:`gruvsynth.generation.steppers` (:func:`generate`, the algorithm
and both implementations; the only part that imports Keras), :mod:`gruvsynth.generation.seeds`
(:class:`Seed`, :func:`pick_windows`, :func:`file_seed`), :mod:`gruvsynth.generation.sizes`
(the length and the memory bound: :func:`resolve_iterations`,
:func:`check_generation_size`) and :mod:`gruvsynth.generation.from_run`
(:func:`generate_from_run`, :class:`GenerationResult`).  The defaults come from
:mod:`gruvsynth.defaults`.
"""

from gruvsynth.generation.from_run import (
    COLLECT_ABOVE_BYTES,
    GenerationResult,
    as_run,
    generate_from_run,
    model_bytes,
    output_paths,
    release_memory,
)
from gruvsynth.generation.seeds import Seed, file_seed, pick_windows, seed_windows
from gruvsynth.generation.sizes import (
    DEFAULT_METHOD,
    DEFAULT_SEED_BLOCKS,
    DEFAULT_TIMES,
    MAX_GENERATION_BYTES,
    METHODS,
    SEED_SPLITS,
    check_generation_size,
    generation_bytes,
    output_length,
    resolve_iterations,
)
from gruvsynth.generation.steppers import generate

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
    "COLLECT_ABOVE_BYTES",
    "model_bytes",
    "as_run",
]

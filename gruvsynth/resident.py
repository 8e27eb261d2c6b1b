"""The resident feed (the public path): the code lives in :mod:`gruvsynth.train.resident`
(:class:`ResidentSteps`, :func:`choose_feed`, the ``steps_per_call`` check), its JAX parts in
:mod:`gruvsynth.backends.jax`, and :func:`chunks` in :mod:`gruvsynth.train.steps`; this module
re-exports the public names, so ``from gruvsynth.resident import ResidentSteps`` keeps
working."""

from gruvsynth.train.resident import (
    DEFAULT_STEPS_PER_CALL,
    FEEDS,
    MEMORY_SHARE,
    ResidentSteps,
    check_steps_per_call,
    choose_feed,
)
from gruvsynth.train.steps import chunks

__all__ = ["ResidentSteps", "DEFAULT_STEPS_PER_CALL", "FEEDS", "MEMORY_SHARE", "choose_feed",
           "check_steps_per_call", "chunks"]

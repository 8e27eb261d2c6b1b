"""Training, one module per concept; data flows ``config → runs → steps → loop``.

:mod:`~gruvsynth.train.config`
    :class:`~gruvsynth.train.config.TrainConfig`, cell specs, the per-epoch shuffling, the key
    tuples that say what may change on resume.
:mod:`~gruvsynth.train.modelfiles`
    ``.keras`` files: checks, checkpoint stamps, loading in safe mode.
:mod:`~gruvsynth.train.runs`
    The run-folder format: :class:`~gruvsynth.train.runs.Run`,
    :func:`~gruvsynth.train.runs.open_run`, history, checkpoints, state, the lock (what
    generation and evaluation import to read a run; no loop, no steps).
:mod:`~gruvsynth.train.steps`
    The step protocol :class:`~gruvsynth.train.steps.Steps` and the streamed
    :class:`~gruvsynth.train.steps.KerasSteps`.
:mod:`~gruvsynth.train.resident`, :mod:`~gruvsynth.train.distribute`
    The resident (JAX) and data-parallel steps; their backend-specific parts are in
    :mod:`gruvsynth.backends.jax` and :mod:`gruvsynth.backends.tensorflow`.
:mod:`~gruvsynth.train.loop`
    :func:`~gruvsynth.train.loop.train`, :func:`~gruvsynth.train.loop.resume`,
    :func:`~gruvsynth.train.loop.time_steps`.

Users import from :mod:`gruvsynth.training`, which re-exports the public names.  This package
imports nothing itself, so ``import gruvsynth.train.runs`` loads only what reading a run needs.
"""

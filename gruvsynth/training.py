"""Resumable training of a GRUV model on a prepared corpus, into a run folder (the public path).

The code lives in the subpackage :mod:`gruvsynth.train`, one module per concept, data flowing
one way: :mod:`gruvsynth.train.config` (:class:`TrainConfig`, cell specs, :func:`epoch_order`)
→ :mod:`gruvsynth.train.runs` (the run-folder format: :class:`Run`, :func:`open_run`,
checkpoints, history; :mod:`gruvsynth.train.modelfiles` loads ``.keras`` files) →
:mod:`gruvsynth.train.steps` (the step protocol and the streamed steps; the resident and
data-parallel steps in :mod:`gruvsynth.train.resident` and :mod:`gruvsynth.train.distribute`)
→ :mod:`gruvsynth.train.loop` (:func:`train`, :func:`resume`, :func:`time_steps`).  This module
re-exports their public names, so ``from gruvsynth.training import train, TrainConfig`` keeps
working.
"""

from gruvsynth.train.config import (
    CORPUS_KEYS,
    RESUMABLE_KEYS,
    TrainConfig,
    cell_from_spec,
    cell_spec,
    epoch_order,
    import_cell_modules,
    require_imported_cell,
)
from gruvsynth.train.loop import resume, time_steps, train
from gruvsynth.train.modelfiles import STAMP_NAME, load_model_file
from gruvsynth.train.runs import (
    BEST_NAME,
    CHECKPOINT_DIR,
    CONFIG_NAME,
    FINAL_NAME,
    HISTORY_CSV,
    HISTORY_FIELDS,
    HISTORY_JSON,
    LOCK_NAME,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    STATE_NAME,
    VERSIONS_NAME,
    Run,
    format_summary,
    open_run,
)

__all__ = [
    "TrainConfig",
    "Run",
    "train",
    "resume",
    "open_run",
    "load_model_file",
    "import_cell_modules",
    "require_imported_cell",
    "epoch_order",
    "format_summary",
    "time_steps",
    "RESUMABLE_KEYS",
    "CORPUS_KEYS",
    "cell_spec",
    "cell_from_spec",
    "CONFIG_NAME",
    "VERSIONS_NAME",
    "HISTORY_JSON",
    "HISTORY_CSV",
    "HISTORY_FIELDS",
    "CHECKPOINT_DIR",
    "STATE_NAME",
    "FINAL_NAME",
    "LOCK_NAME",
    "BEST_NAME",
    "STAMP_NAME",
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
]
